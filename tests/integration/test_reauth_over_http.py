"""The whole re-authentication over real HTTP: moto server and the Dwolla sandbox on 127.0.0.1
(its bank pages and its Plaid Link stand-in included), the two functions' handlers in process."""

import json
import uuid

import pytest
import requests

from local.provision import drain_events, put_platform_event, subscribe_to_requests
from reauth.security import read_binding
from tests.support.apigw import LambdaContext, scheduled_event
from tests.support.constants import CALLBACK_URL, PUBLIC_BASE_URL, RETURN_URL
from tests.support.flow import Browser, bank_url, header, location, plaid_config

DONE_URL = f"{PUBLIC_BASE_URL}/reauth/done"


def _kinds(published) -> list[str]:
    """Detail types, once per event (the relay delivers at least once: dedupe on eventId)."""
    seen, kinds = set(), []
    for event in published():
        event_id = event["detail"].get("eventId")
        if event_id is None or event_id not in seen:
            seen.add(event_id)
            kinds.append(event["detail-type"])
    return kinds


def plaid_link(dwolla, token: str) -> dict:
    """What Plaid Link does in its iframe (the sandbox's stand-in, over HTTP): finish the
    session behind the Link token, and what the Plaid page's script then reports: its
    onSuccess, or its onExit mapped to the provider error."""
    answer = requests.post(
        f"{dwolla.base_url}/_plaid/link/finish",
        json={"token": token},
        headers={"Origin": dwolla.base_url},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    outcome = answer.json()["outcome"]
    if outcome == "success":
        return {"outcome": "success"}
    return {"outcome": "error", "error": outcome}


def test_mx_open_the_link_click_bank_callback_status(api, browser, dwolla, functions, published):
    exchange = dwolla.seed_exchange("mx")
    status, request, _ = api.create(
        exchange["id"], {"returnUrl": RETURN_URL}, {"Idempotency-Key": "it-1"}
    )
    assert status == 201
    assert request["startUrl"].startswith(f"{PUBLIC_BASE_URL}/reauth/link/{request['id']}?key=")

    opened = browser.get(request["startUrl"])
    assert opened["statusCode"] == 200 and "Continue to your bank" in opened["body"]
    # Opening the link changes nothing: the browser gets its binding token, naming no request.
    assert read_binding(browser.cookies).request_ids == ()
    clicked = browser.click_start(request["startUrl"])
    assert "Taking you to your bank" in clicked["body"]
    assert read_binding([header(clicked, "set-cookie")]).request_ids == (request["id"],)
    back = browser.visit_bank(bank_url(clicked))
    assert back == f"{CALLBACK_URL}?exchange={exchange['id']}"
    landed = browser.get(back)

    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={request['id']}"
    body = api.session(request["id"])[1]
    assert body["status"] == "reauthorized"
    assert [a["state"] for a in body["attempts"]] == ["reauthorized"]
    assert body["verification"]["result"] == "confirmed"
    assert body["fundingSourceId"] == exchange["fundingSourceId"]  # found through Dwolla
    assert api.status(exchange["id"])[1]["status"] == "reauthorized"
    assert dwolla.exchange(exchange["id"])["status"] == "active"
    assert _kinds(published) == ["Reauth Session Created", "Exchange Reauthorized"]


@pytest.mark.parametrize(
    ("provider_outcome", "reason", "recoverable"),
    [
        ("USER_CANCELLED", "USER_CANCELLED", "true"),
        ("TEMPORARY_ERROR", "TEMPORARY_ERROR", "true"),
        # The browser's ?error= is only its word (any page can link the callback): recoverable.
        ("AUTHENTICATION_ERROR", "AUTHENTICATION_ERROR", "true"),
    ],
)
def test_a_failed_bank_login_then_try_again_ends_reauthorized(
    api, browser, dwolla, published, provider_outcome, reason, recoverable
):
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"])  # no return URL: the service's own result page
    clicked = browser.click_start(request["startUrl"])

    back = browser.visit_bank(bank_url(clicked), outcome=provider_outcome)
    assert back == f"{CALLBACK_URL}?error={provider_outcome}"
    landed = browser.get(back)

    assert location(landed) == (
        f"{DONE_URL}?status=attempt_failed&session={request['id']}"
        f"&reason={reason}&recoverable={recoverable}"
    )
    result = browser.get(location(landed))
    assert result["statusCode"] == 200 and "Try again" in result["body"]
    assert api.session(request["id"])[1]["status"] == "pending"

    again = browser.try_again(f"{PUBLIC_BASE_URL}/reauth/link/{request['id']}")
    assert bank_url(again) != bank_url(clicked)  # a fresh Dwolla session: the first is spent
    done = browser.get(browser.visit_bank(bank_url(again)))

    assert location(done) == f"{DONE_URL}?status=reauthorized&session={request['id']}"
    assert "connected again" in browser.get(location(done))["body"]
    body = api.session(request["id"])[1]
    assert [(a["state"], a["reason"]) for a in body["attempts"]] == [
        ("failed", reason),
        ("reauthorized", None),
    ]
    assert _kinds(published) == [
        "Reauth Session Created",
        "Reauth Attempt Failed",
        "Exchange Reauthorized",
    ]


def test_plaid_through_the_same_link(api, browser, dwolla, published):
    exchange = dwolla.seed_exchange("plaid")
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})

    page = browser.click_start(request["startUrl"])
    config = plaid_config(page)
    assert config["token"] == request["handoff"]["token"]
    reported = browser.report_plaid(page, plaid_link(dwolla, config["token"]))

    assert json.loads(reported["body"]) == {
        "location": f"{RETURN_URL}?status=reauthorized&session={request['id']}"
    }
    assert api.session(request["id"])[1]["status"] == "reauthorized"
    assert _kinds(published) == ["Reauth Session Created", "Exchange Reauthorized"]


def test_plaid_cancelled_then_try_again(api, browser, dwolla, published):
    exchange = dwolla.seed_exchange("plaid", providerOutcome="USER_CANCELLED")
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    page = browser.click_start(request["startUrl"])

    reported = browser.report_plaid(page, plaid_link(dwolla, plaid_config(page)["token"]))

    assert json.loads(reported["body"])["location"] == (
        f"{RETURN_URL}?status=attempt_failed&session={request['id']}"
        "&reason=USER_CANCELLED&recoverable=true"
    )
    again = browser.try_again(f"{PUBLIC_BASE_URL}/reauth/link/{request['id']}")
    token = plaid_config(again)["token"]
    assert token != plaid_config(page)["token"]
    dwolla.complete_exchange_session(token)  # this time the customer logs in
    done = browser.report_plaid(again, {"outcome": "success"})
    assert "status=reauthorized" in json.loads(done["body"])["location"]
    assert _kinds(published) == [
        "Reauth Session Created",
        "Reauth Attempt Failed",
        "Exchange Reauthorized",
    ]


def test_the_platform_completes_a_plaid_link_it_ran_itself(api, dwolla, published):
    exchange = dwolla.seed_exchange("plaid")
    _, request, _ = api.create(exchange["id"])
    dwolla.complete_exchange_session(request["handoff"]["token"])

    status, body, _ = api.complete(request["id"], {})

    assert (status, body["status"]) == (200, "reauthorized")
    assert _kinds(published) == ["Reauth Session Created", "Exchange Reauthorized"]


def test_the_link_outlives_its_first_dwolla_session(api, browser, dwolla, clock, published):
    """Dwolla's exchange session lasts 30 minutes; the link lasts the request's deadline. A
    click after the first session ended gets a fresh one."""
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"])
    clock.advance(minutes=45)

    clicked = browser.click_start(request["startUrl"])

    assert bank_url(clicked) != request["handoff"]["url"]
    landed = browser.get(browser.visit_bank(bank_url(clicked)))
    assert "status=reauthorized" in location(landed)
    body = api.session(request["id"])[1]
    assert [a["state"] for a in body["attempts"]] == ["expired", "reauthorized"]
    assert len([s for s in dwolla.exchange_sessions() if s["exchangeId"] == exchange["id"]]) == 2


def test_two_browsers_two_requests_and_a_scanner(api, dwolla, functions, published):
    """A scanner opens both links first; each customer's click and bank still work."""
    made = []
    for _ in range(2):
        exchange = dwolla.seed_exchange("mx")
        made.append(api.create(exchange["id"], {"returnUrl": RETURN_URL})[1])
    scanner = Browser(functions.callback)
    for request in made:
        assert scanner.get(request["startUrl"])["statusCode"] == 200
        assert scanner.call("HEAD", request["startUrl"])["statusCode"] == 200

    for request in made:
        customer = Browser(functions.callback)
        clicked = customer.click_start(request["startUrl"])
        assert bank_url(clicked) == request["handoff"]["url"]  # the scanner spent nothing
        landed = customer.get(customer.visit_bank(bank_url(clicked)))
        assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={request['id']}"
    assert _kinds(published).count("Exchange Reauthorized") == 2


def test_dwolla_down_at_the_claim_then_the_schedule_finishes_it(
    api, browser, dwolla, functions, clock, published
):
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    back = browser.visit_bank(bank_url(browser.click_start(request["startUrl"])))
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=20, status=503)

    landed = browser.get(back)

    assert location(landed) == f"{RETURN_URL}?status=verifying&session={request['id']}"
    assert api.session(request["id"])[1]["status"] == "verifying"
    dwolla.clear_faults()
    clock.advance(minutes=5)
    swept = functions.api.handler(scheduled_event(), LambdaContext())

    assert swept["verified"] == 1
    assert api.session(request["id"])[1]["status"] == "reauthorized"
    assert _kinds(published) == ["Reauth Session Created", "Exchange Reauthorized"]


@pytest.fixture
def inbox(functions):
    """Put a platform event on the bus; receive it as ApiFunction's rule delivers it."""
    session, resources = functions.session, functions.resources
    queue_url = subscribe_to_requests(session, resources, f"{resources.table_name}-inbox")

    def put_and_receive(detail_type: str, detail: dict, source: str = "platform.payments"):
        put_platform_event(session, resources, detail_type, detail, source)
        return drain_events(session, queue_url)

    return put_and_receive


def test_platform_event_on_the_bus_creates_a_request(
    functions, api, browser, dwolla, inbox, published
):
    exchange = dwolla.seed_exchange("mx")

    delivered = inbox("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    assert len(delivered) == 1
    results = [functions.api.handler(e, LambdaContext()) for e in delivered * 2]  # a redelivery

    assert results[0]["sessionId"] == results[1]["sessionId"]
    assert api.session(results[0]["sessionId"])[1]["status"] == "pending"
    created = [e for e in published() if e["detail-type"] == "Reauth Session Created"]
    assert len({e["detail"]["eventId"] for e in created}) == 1
    # The announcement is the event-made request's only copy of its link: it works.
    clicked = browser.click_start(created[0]["detail"]["startUrl"])
    assert clicked["statusCode"] == 200 and bank_url(clicked)


def test_dwolla_update_credentials_on_the_bus_creates_a_request(functions, api, dwolla, inbox):
    exchange = dwolla.seed_exchange("mx", fundingSourceId=str(uuid.uuid4()))
    balance = dwolla.balance_error(exchange["fundingSourceId"])
    assert balance["code"] == "UpdateCredentials"

    delivered = inbox("Dwolla UpdateCredentials", balance)
    result = functions.api.handler(delivered[0], LambdaContext())

    assert api.session(result["sessionId"])[1]["exchangeId"] == exchange["id"]


def test_the_service_does_not_consume_its_own_events(inbox):
    assert (
        inbox("Exchange Reauth Requested", {"exchangeId": str(uuid.uuid4())}, "dwolla-reauth") == []
    )


# ---- the funding source belongs to the exchange ---------------------------------------------
def test_another_exchanges_funding_source_on_the_bus_is_refused_before_dwolla_makes_anything(
    functions, api, dwolla, inbox, published
):
    customer = str(uuid.uuid4())
    broken = dwolla.seed_exchange("mx", customerId=customer)
    working = dwolla.seed_exchange("mx", customerId=customer, reauthRequired=False)
    copied = {**dwolla.balance_error(broken["fundingSourceId"])}
    copied["fundingSourceId"] = working["fundingSourceId"]  # a field from the wrong event

    delivered = inbox("Dwolla UpdateCredentials", copied)
    result = functions.api.handler(delivered[0], LambdaContext())

    assert result == {"refused": "FundingSourceNotOfExchange"}
    assert dwolla.exchange_sessions() == []
    assert api.status(broken["id"])[0] == 404
    assert _kinds(published) == []


def test_a_funding_source_dwolla_could_not_vouch_for_ends_rejected_never_reauthorized(
    api, browser, dwolla, published
):
    customer = str(uuid.uuid4())
    broken = dwolla.seed_exchange("mx", customerId=customer)
    bank = dwolla.seed_bank_funding_source(customer)  # the customer's other bank: it works
    dwolla.inject_fault(f"/funding-sources/{bank['id']}", method="GET", times=20, status=503)
    status, request, _ = api.create(broken["id"], {"fundingSourceId": bank["id"]})
    assert status == 201
    dwolla.clear_faults()

    clicked = browser.click_start(request["startUrl"])
    landed = browser.get(browser.visit_bank(bank_url(clicked), "AUTHENTICATION_ERROR"))
    assert "status=attempt_failed" in location(landed)  # a provider error: nothing asked
    # "Try again" needs a fresh Dwolla session: first, is the exchange repaired elsewhere? The
    # funding source is checked before its balance counts: the customer's other bank is not
    # the exchange's, and its working balance proves nothing.
    again = browser.try_again(request["startUrl"].split("?")[0])

    assert again["statusCode"] == 410  # the closed page
    body = api.session(request["id"])[1]
    assert (body["status"], body["verification"]["result"]) == ("rejected", "not_of_exchange")
    assert body["reauthorizedAt"] is None
    assert api.status(broken["id"])[1]["pendingSessionId"] is None
    assert dwolla.balance_error(broken["fundingSourceId"])["code"] == "UpdateCredentials"
    assert _kinds(published) == [
        "Reauth Session Created",
        "Reauth Attempt Failed",
        "Reauth Session Rejected",
    ]


def test_a_link_sent_before_the_link_secret_is_rotated_still_reauthorizes(
    api, browser, dwolla, functions
):
    """The rotation in docs/operations.md, on moto server: put-secret-value on LinkSecret
    mid-flow. The link the customer already has still starts and finishes; a new container
    mints the next link."""
    from tests.support.aws import rotate_link_secret
    from tests.support.functions import new_container

    exchange = dwolla.seed_exchange("mx")
    status, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    assert status == 201
    rotate_link_secret(functions.session, functions.resources)
    new_container()

    clicked = browser.click_start(request["startUrl"])
    assert "Taking you to your bank" in clicked["body"]
    back = browser.visit_bank(bank_url(clicked))
    assert location(browser.get(back)).startswith(f"{RETURN_URL}?status=reauthorized")
    assert api.session(request["id"])[1]["startUrl"] is None  # closed: no link any more

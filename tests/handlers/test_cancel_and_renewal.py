"""The platform calls a request off, and no link is a dead end (issue 17, items 5 and 6).

- `POST /reauth-sessions/{id}/cancel` ends an open request `cancelled`: one event, the exchange
  freed, the link closed; again, the same answer; a request closed otherwise is a 409; a success
  the customer already made at the bank still counts.
- An expired or cancelled link offers "Send me a new link": the platform is told (one event per
  request per 24 h); when the deployment allows it and a contact was given, the service starts
  a new request for the exchange (once per 24 h per exchange) from the contact it kept, and
  forgets that contact once used (or once the request is reauthorized after all).
"""

from __future__ import annotations

import html
import json

import pytest

from local.provision import subscribe_to_requests
from tests.support.apigw import LambdaContext, scheduled_event
from tests.support.constants import RETURN_URL
from tests.support.flow import bank_url, location, renew_form
from tests.support.functions import new_container, serve
from tests.support.table import table_items

EMAIL = "ada@example.test"
PHONE = "+15555550123"


def _contact():
    from reauth.model import Contact

    return Contact(email=EMAIL, phone=PHONE, first_name="Ada", locale="en", time_zone=None)


def _create_with_contact(exchange_id: str) -> dict:
    """A request made with a contact on file (the API's `contact` is issue 17's item 1)."""
    from reauth import runtime

    created = runtime.service().creating.create(
        exchange_id, return_url=RETURN_URL, contact=_contact()
    )
    return {"id": created.request.id, "startUrl": created.start_url, "exchangeId": exchange_id}


def _text(page: dict) -> str:
    return html.unescape(page["body"])


def _renewal_items(functions) -> list[dict]:
    return [i for i in table_items(functions) if i["pk"]["S"].startswith("RENEWAL#")]


def _no_contact_in(events: list[dict]) -> None:
    text = json.dumps(events)
    assert EMAIL not in text and PHONE not in text and '"contact"' not in text


@pytest.fixture
def self_service(monkeypatch, functions, clock):
    """The deployment allows self-service renewal (AllowSelfServiceRenewal=true)."""
    monkeypatch.setenv("ALLOW_SELF_SERVICE_RENEWAL", "true")
    new_container()
    serve(clock=clock.now)


# ---- cancel ---------------------------------------------------------------------------------
def test_cancelling_a_pending_request_ends_it_cancelled_frees_the_exchange_and_says_so_once(
    api, dwolla, browser, published
):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    published()

    status, body, _ = api.cancel(session["id"])

    assert (status, body["status"], body["startUrl"]) == (200, "cancelled", None)
    [event] = published()
    assert event["detail-type"] == "Reauth Request Cancelled"
    detail = event["detail"]
    assert (detail["sessionId"], detail["exchangeId"], detail["sequence"]) == (
        session["id"],
        exchange["id"],
        2,
    )
    assert detail["cancelledAt"].endswith("Z")
    assert api.status(exchange["id"])[1]["pendingSessionId"] is None
    page = browser.get(session["startUrl"])
    assert page["statusCode"] == 410
    assert "This request was cancelled" in _text(page)
    renew_form(page)  # and it offers "Send me a new link"
    assert "Continue to your bank" not in _text(page)


def test_cancelling_twice_answers_the_same_and_says_it_once(api, dwolla, published):
    _, session, _ = api.create(dwolla.seed_exchange("mx")["id"])
    published()

    first = api.cancel(session["id"])
    second = api.cancel(session["id"])

    assert (first[0], second[0]) == (200, 200)
    assert first[1] == second[1]
    assert [e["detail-type"] for e in published()] == ["Reauth Request Cancelled"]


def test_the_exchange_takes_a_new_request_after_a_cancel(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    _, old, _ = api.create(exchange["id"])
    api.cancel(old["id"])

    status, newer, _ = api.create(exchange["id"])

    assert status == 201
    assert api.session(old["id"])[1]["status"] == "cancelled"  # not superseded: it was closed
    assert api.status(exchange["id"])[1]["pendingSessionId"] == newer["id"]


def test_a_request_closed_otherwise_cannot_be_cancelled(api, dwolla, clock, published):
    token = dwolla.seed_exchange("plaid")
    _, done, _ = api.create(token["id"])
    dwolla.complete_exchange_session(done["handoff"]["token"])
    assert api.complete(done["id"], {})[1]["status"] == "reauthorized"
    _, late, _ = api.create(dwolla.seed_exchange("mx")["id"])
    clock.advance(days=7, minutes=1)  # past its deadline: it reads as expired
    published()

    for session_id, status in ((done["id"], "reauthorized"), (late["id"], "expired")):
        answer = api.cancel(session_id)
        assert (answer[0], answer[1]["code"]) == (409, "SessionNotPending")
        assert api.session(session_id)[1]["status"] == status
    assert published() == []


def test_cancel_answers_404_for_an_unknown_request_and_400_for_a_malformed_id(api):
    unknown = api.cancel("00000000-0000-4000-8000-000000000001")
    malformed = api.cancel("not-a-uuid")

    assert (unknown[0], unknown[1]["code"]) == (404, "SessionNotFound")
    assert (malformed[0], malformed[1]["code"]) == (400, "InvalidSessionId")


def test_a_success_at_the_bank_still_counts_after_a_cancel(api, dwolla, browser, published):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    started = browser.click_start(session["startUrl"])
    back = browser.visit_bank(bank_url(started))  # she logged in at the bank ...
    assert api.cancel(session["id"])[0] == 200  # ... as the platform called it off
    published()

    landed = browser.get(back)

    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={session['id']}"
    assert api.session(session["id"])[1]["status"] == "reauthorized"
    assert api.status(exchange["id"])[1]["status"] == "reauthorized"
    [event] = published()
    assert (event["detail-type"], event["detail"]["sequence"]) == ("Exchange Reauthorized", 3)


def test_a_claim_waiting_for_dwolla_survives_a_cancel(api, dwolla, browser, clock):
    _, session, _ = api.create(dwolla.seed_exchange("mx")["id"], {"returnUrl": RETURN_URL})
    back = browser.visit_bank(bank_url(browser.click_start(session["startUrl"])))
    dwolla.inject_fault(path="/funding-sources/*/balance", method="GET", status=503, times=50)
    assert "status=verifying" in location(browser.get(back))

    assert api.cancel(session["id"])[1]["status"] == "cancelled"

    dwolla.clear_faults()
    clock.advance(minutes=2)
    assert api.session(session["id"])[1]["status"] == "reauthorized"


def test_a_late_return_to_a_cancelled_request_lands_on_the_cancelled_page(
    api, dwolla, browser, functions
):
    from tests.support.apigw import rest_event

    answer = functions.callback.handler(
        rest_event("GET", "/reauth/done", query={"status": ["cancelled"]}), LambdaContext()
    )

    assert answer["statusCode"] == 200
    assert "This request was cancelled" in _text(answer)


# ---- "Send me a new link" -------------------------------------------------------------------
def test_send_me_a_new_link_tells_the_platform_at_most_once_a_day(
    api, dwolla, browser, clock, published
):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    api.cancel(session["id"])
    page = browser.get(session["startUrl"])
    published()

    told = browser.ask_for_new_link(page)

    assert told["statusCode"] == 200
    assert "We've told Acme Pay you'd like a new link" in _text(told)
    assert "on its way" not in _text(told)
    [event] = published()
    assert event["detail-type"] == "Reauth Link Requested"
    assert (event["detail"]["sessionId"], event["detail"]["exchangeId"]) == (
        session["id"],
        exchange["id"],
    )
    assert event["detail"]["selfService"] is False
    again = browser.ask_for_new_link(page)
    assert "You already asked for a new link today" in _text(again)
    clock.advance(hours=23)
    browser.ask_for_new_link(page)
    assert published() == []
    clock.advance(hours=2)
    browser.ask_for_new_link(page)
    assert [e["detail-type"] for e in published()] == ["Reauth Link Requested"]
    assert api.session(session["id"])[1]["status"] == "cancelled"  # nothing else moved


def test_an_expired_link_offers_a_new_one_too(api, dwolla, browser, clock, published):
    _, session, _ = api.create(dwolla.seed_exchange("mx")["id"])
    clock.advance(days=7, minutes=1)
    page = browser.get(session["startUrl"])
    assert page["statusCode"] == 410
    assert "This link has expired" in _text(page)
    published()

    assert browser.ask_for_new_link(page)["statusCode"] == 200

    assert [e["detail-type"] for e in published()] == ["Reauth Link Requested"]


def test_a_forged_absent_or_cross_site_key_is_refused_and_tells_nobody(
    api, dwolla, browser, published
):
    _, session, _ = api.create(dwolla.seed_exchange("mx")["id"])
    api.cancel(session["id"])
    page = browser.get(session["startUrl"])
    published()

    forged = browser.ask_for_new_link(page, key="A" * 43)
    absent = browser.ask_for_new_link(page, key="")
    cross_site = browser.ask_for_new_link(
        page, headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    )

    assert [a["statusCode"] for a in (forged, absent, cross_site)] == [400, 400, 400]
    assert published() == []


def test_an_open_link_answers_its_own_page_and_tells_nobody(api, dwolla, browser, published):
    _, session, _ = api.create(dwolla.seed_exchange("mx")["id"])
    published()
    link, key = session["startUrl"].split("?key=", 1)

    answer = browser.call(
        "POST",
        f"{link}/renew",
        body=f"key={key}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert answer["statusCode"] == 200
    assert "Continue to your bank" in _text(answer)
    assert published() == []


def test_without_self_service_no_contact_is_kept_and_only_the_platform_is_told(
    api, dwolla, browser, functions, published
):
    session = _create_with_contact(dwolla.seed_exchange("mx")["id"])
    api.cancel(session["id"])
    assert _renewal_items(functions) == []
    published()

    browser.ask_for_new_link(browser.get(session["startUrl"]))

    [event] = published()
    assert event["detail"]["selfService"] is False
    _no_contact_in([event])


def test_self_service_starts_one_new_request_for_the_exchange_and_forgets_the_contact(
    api, dwolla, browser, functions, published, self_service
):
    exchange = dwolla.seed_exchange("mx")
    session = _create_with_contact(exchange["id"])
    api.cancel(session["id"])
    [kept] = _renewal_items(functions)
    assert kept["contact"]["M"]["email"]["S"] == EMAIL
    renewals = subscribe_to_requests(
        functions.session, functions.resources, "renewals", "LinkRequested"
    )
    published()

    told = browser.ask_for_new_link(browser.get(session["startUrl"]))

    assert "A new link is on its way to you" in _text(told)
    [event] = published()
    assert (event["detail-type"], event["detail"]["selfService"]) == (
        "Reauth Link Requested",
        True,
    )
    # The template's rule routes it to ApiFunction; as Lambda would get it:
    sqs = functions.session.client("sqs")
    [message] = sqs.receive_message(QueueUrl=renewals, MaxNumberOfMessages=10)["Messages"]
    delivered = json.loads(message["Body"])
    renewed = functions.api.handler(delivered, LambdaContext())
    again = functions.api.handler(delivered, LambdaContext())  # a redelivery

    new_id = renewed["sessionId"]
    assert new_id and new_id != session["id"]
    assert again["sessionId"] in (None, new_id)
    body = api.session(new_id)[1]
    assert (body["exchangeId"], body["status"], body["returnUrl"]) == (
        exchange["id"],
        "pending",
        RETURN_URL,
    )
    assert api.status(exchange["id"])[1]["pendingSessionId"] == new_id
    from reauth import runtime

    assert runtime.service().ctx.repo.get_request(new_id).contact == _contact()
    assert _renewal_items(functions) == []  # used: forgotten
    created = published()
    assert [(e["detail-type"], e["detail"]["trigger"]) for e in created] == [
        ("Reauth Session Created", "renewal")
    ]
    _no_contact_in([event, *created])


def test_self_service_renews_an_exchange_at_most_once_a_day(
    api, dwolla, browser, functions, clock, published, self_service
):
    exchange = dwolla.seed_exchange("mx")
    first = _create_with_contact(exchange["id"])
    api.cancel(first["id"])
    published()
    browser.ask_for_new_link(browser.get(first["startUrl"]))
    [event] = published()
    renewed = functions.api.handler(event, LambdaContext())["sessionId"]
    second = {"id": renewed, "startUrl": api.session(renewed)[1]["startUrl"]}
    api.cancel(second["id"])
    page = browser.get(second["startUrl"])
    published()

    told = browser.ask_for_new_link(page)

    assert "on its way" not in _text(told)
    [event] = published()
    assert event["detail"]["selfService"] is False  # the exchange was renewed today
    assert functions.api.handler(event, LambdaContext())["sessionId"] is None
    clock.advance(hours=25)
    browser.ask_for_new_link(page)
    [event] = published()
    assert event["detail"]["selfService"] is True
    third = functions.api.handler(event, LambdaContext())["sessionId"]
    assert third not in (None, first["id"], second["id"])


def test_a_renewal_never_supersedes_a_request_the_platform_made_meanwhile(
    api, dwolla, browser, functions, published, self_service
):
    exchange = dwolla.seed_exchange("mx")
    session = _create_with_contact(exchange["id"])
    api.cancel(session["id"])
    browser.ask_for_new_link(browser.get(session["startUrl"]))
    [asked] = [e for e in published() if e["detail-type"] == "Reauth Link Requested"]
    _, newer, _ = api.create(exchange["id"])  # the platform, before the renewal ran

    assert functions.api.handler(asked, LambdaContext())["sessionId"] is None

    assert api.status(exchange["id"])[1]["pendingSessionId"] == newer["id"]
    assert _renewal_items(functions) == []


def test_a_kept_contact_is_forgotten_when_the_request_is_reauthorized_after_all(
    api, dwolla, browser, functions, published, self_service
):
    session = _create_with_contact(dwolla.seed_exchange("mx")["id"])
    back = browser.visit_bank(bank_url(browser.click_start(session["startUrl"])))
    api.cancel(session["id"])
    assert len(_renewal_items(functions)) == 1

    browser.get(back)  # the success at the bank counts

    assert api.session(session["id"])[1]["status"] == "reauthorized"
    assert _renewal_items(functions) == []
    published()
    page = browser.get(session["startUrl"])
    assert "Send me a new link" not in _text(page)  # "already done"


def test_the_sweep_keeps_an_expiring_requests_contact_for_a_renewal(
    api, dwolla, browser, functions, clock, published, self_service
):
    session = _create_with_contact(dwolla.seed_exchange("mx")["id"])
    clock.advance(days=7, minutes=1)

    assert functions.api.handler(scheduled_event(), LambdaContext())["expired"] == 1

    [kept] = _renewal_items(functions)
    assert kept["requestId"]["S"] == session["id"]
    published()
    browser.ask_for_new_link(browser.get(session["startUrl"]))
    [event] = published()
    assert event["detail"]["selfService"] is True

"""The funding source belongs to the exchange: its balance check is the proof of a repair, so one
the platform names (API body, "Exchange Reauth Requested", Dwolla's UpdateCredentials error) is
used only when Dwolla links it to the exchange. Refused at create when Dwolla answers; checked
before it proves anything when Dwolla could not answer then, and the request ends `rejected`."""

import uuid

import pytest

from tests.support.apigw import LambdaContext, eventbridge_event, scheduled_event
from tests.support.flow import bank_url, location

REFUSED = {"code": "FundingSourceNotOfExchange"}


def _broken_and_working(dwolla, customer: str | None = None) -> tuple[dict, dict]:
    """An exchange needing re-authentication, and another one of the same customer that works
    (the customer's other bank: its balance check answers)."""
    customer = customer or str(uuid.uuid4())
    broken = dwolla.seed_exchange("mx", customerId=customer)
    working = dwolla.seed_exchange("mx", customerId=customer, reauthRequired=False)
    return broken, working


def _source_reads(dwolla, source: str) -> int:
    return sum(1 for r in dwolla.requests() if r["path"] == f"/funding-sources/{source}")


def _dwolla_cannot_say_whose(dwolla, source: str) -> None:
    dwolla.inject_fault(f"/funding-sources/{source}", method="GET", times=20, status=503)


def _at_the_bank_and_back(browser, session: dict) -> dict:
    started = browser.click_start(session["startUrl"])
    return browser.get(browser.visit_bank(bank_url(started)))


# ---- at create: Dwolla answers ------------------------------------------------------------------
@pytest.mark.parametrize(
    "whose",
    [
        "the-customers-other-exchange",
        "the-customers-bank-added-by-numbers",
        "another-customers-exchange",
        "unknown-to-dwolla",
    ],
)
def test_a_funding_source_dwolla_does_not_link_to_the_exchange_is_refused(
    api, dwolla, published, whose
):
    broken, working = _broken_and_working(dwolla)
    source = {
        "the-customers-other-exchange": working["fundingSourceId"],
        "the-customers-bank-added-by-numbers": dwolla.seed_bank_funding_source(
            broken["customerId"]
        )["id"],
        "another-customers-exchange": dwolla.seed_exchange("mx")["fundingSourceId"],
        "unknown-to-dwolla": str(uuid.uuid4()),
    }[whose]

    status, body, _ = api.create(broken["id"], {"fundingSourceId": source})

    assert (status, body["code"]) == (400, REFUSED["code"])
    assert dwolla.exchange_sessions() == []  # checked before a Dwolla session is made
    assert published() == []
    assert api.status(broken["id"])[0] == 404  # nothing stored


def test_the_exchanges_own_funding_source_for_another_customer_is_refused(api, dwolla):
    broken = dwolla.seed_exchange("mx")

    status, body, _ = api.create(
        broken["id"],
        {"fundingSourceId": broken["fundingSourceId"], "customerId": str(uuid.uuid4())},
    )

    assert (status, body["code"]) == (400, REFUSED["code"])
    assert dwolla.exchange_sessions() == []


def test_the_exchanges_own_funding_source_costs_one_read_and_is_never_asked_again(
    api, dwolla, browser
):
    broken = dwolla.seed_exchange("mx")
    source = broken["fundingSourceId"]
    dwolla.clear_requests()

    status, session, _ = api.create(
        broken["id"], {"fundingSourceId": source, "customerId": broken["customerId"]}
    )
    _at_the_bank_and_back(browser, session)

    assert status == 201
    assert api.session(session["id"])[1]["status"] == "reauthorized"
    assert _source_reads(dwolla, source) == 1


def test_without_a_funding_source_create_reads_none(api, dwolla):
    broken = dwolla.seed_exchange("mx")
    dwolla.clear_requests()

    assert api.create(broken["id"])[0] == 201
    assert [r for r in dwolla.requests() if r["path"].startswith("/funding-sources/")] == []


@pytest.mark.parametrize("detail_type", ["Exchange Reauth Requested", "Dwolla UpdateCredentials"])
def test_both_eventbridge_inputs_refuse_another_exchanges_funding_source(
    functions, dwolla, published, detail_type
):
    broken, working = _broken_and_working(dwolla)
    detail: dict = {"fundingSourceId": working["fundingSourceId"]}
    if detail_type == "Exchange Reauth Requested":
        detail["exchangeId"] = broken["id"]
    else:
        detail.update(dwolla.balance_error(broken["fundingSourceId"]))

    result = functions.api.handler(eventbridge_event(detail_type, detail), LambdaContext())

    assert result == {"refused": REFUSED["code"]}
    assert dwolla.exchange_sessions() == []
    assert published() == []


# ---- Dwolla could not answer at create: checked before it proves anything ---------------------
def test_an_unverified_funding_source_of_another_exchange_never_proves_the_repair(
    api, dwolla, browser, published
):
    broken, working = _broken_and_working(dwolla)
    source = working["fundingSourceId"]
    _dwolla_cannot_say_whose(dwolla, source)

    status, session, _ = api.create(broken["id"], {"fundingSourceId": source})
    assert status == 201  # accepted: Dwolla could not say
    dwolla.clear_faults()
    published()
    dwolla.clear_requests()

    landed = _at_the_bank_and_back(browser, session)

    # The claim counts for nothing: the request is closed, and the customer is told so.
    assert landed["statusCode"] == 303 and "status=rejected" in location(landed)
    body = api.session(session["id"])[1]
    assert (body["status"], body["startUrl"]) == ("rejected", None)
    assert body["verification"]["result"] == "not_of_exchange"
    assert body["reauthorizedAt"] is None
    assert [r for r in dwolla.requests() if r["path"].endswith("/balance")] == []
    record = api.status(broken["id"])[1]
    assert (record["status"], record["pendingSessionId"]) == ("reauth_required", None)
    [event] = published()
    assert event["detail-type"] == "Reauth Session Rejected"
    detail = event["detail"]
    assert (detail["sessionId"], detail["exchangeId"]) == (session["id"], broken["id"])
    assert (detail["reason"], detail["fundingSourceId"]) == (REFUSED["code"], source)
    assert detail["sequence"] == 2 and detail["rejectedAt"]
    page = browser.get(session["startUrl"])
    assert page["statusCode"] == 410  # the link shows the "closed" page


def test_a_platforms_completion_on_another_exchanges_funding_source_is_refused(api, dwolla):
    customer = str(uuid.uuid4())
    broken = dwolla.seed_exchange("plaid", customerId=customer)
    working = dwolla.seed_exchange("plaid", customerId=customer, reauthRequired=False)
    _dwolla_cannot_say_whose(dwolla, working["fundingSourceId"])
    _, session, _ = api.create(broken["id"], {"fundingSourceId": working["fundingSourceId"]})
    dwolla.clear_faults()

    status, body, _ = api.complete(session["id"], {})

    assert (status, body["code"]) == (409, "SessionNotPending")
    assert api.session(session["id"])[1]["status"] == "rejected"


def test_an_unverified_funding_source_that_is_the_exchanges_is_checked_once_then_proves(
    api, dwolla, browser, published
):
    broken = dwolla.seed_exchange("mx")
    source = broken["fundingSourceId"]
    _dwolla_cannot_say_whose(dwolla, source)
    _, session, _ = api.create(broken["id"], {"fundingSourceId": source})
    dwolla.clear_faults()
    dwolla.clear_requests()

    _at_the_bank_and_back(browser, session)
    api.session(session["id"])

    assert api.session(session["id"])[1]["status"] == "reauthorized"
    assert _source_reads(dwolla, source) == 1  # remembered once Dwolla vouched for it
    assert "Exchange Reauthorized" in {e["detail-type"] for e in published()}


def test_a_read_checking_for_a_repair_elsewhere_rejects_instead(api, dwolla, clock):
    broken, working = _broken_and_working(dwolla)
    _dwolla_cannot_say_whose(dwolla, working["fundingSourceId"])
    _, session, _ = api.create(broken["id"], {"fundingSourceId": working["fundingSourceId"]})
    dwolla.clear_faults()
    clock.advance(minutes=16)  # a pending request's read checks for a repair made elsewhere

    body = api.session(session["id"])[1]

    assert body["status"] == "rejected"


def test_the_sweep_rejects_instead_of_trusting_or_expiring(
    functions, api, dwolla, browser, clock, published
):
    broken, working = _broken_and_working(dwolla)
    _dwolla_cannot_say_whose(dwolla, working["fundingSourceId"])
    _, session, _ = api.create(broken["id"], {"fundingSourceId": working["fundingSourceId"]})
    dwolla.clear_faults()
    browser.click_start(session["startUrl"])  # the customer went to the bank, never came back
    published()
    clock.advance(days=7, minutes=1)

    functions.api.handler(scheduled_event(), LambdaContext())

    assert api.session(session["id"])[1]["status"] == "rejected"
    assert [e["detail-type"] for e in published()] == ["Reauth Session Rejected"]

"""Right in any order (issue 15): events are numbered, a success Dwolla confirms is never
thrown away, an answer about an older state never moves a request backwards, and a slow or
down Dwolla starves nothing.

Races are made deterministic at the one place every use case waits between its read and its
write: the call to Dwolla's balance check. `while_at_dwolla` runs another actor there."""

import json
import re

from tests.support.apigw import LambdaContext, scheduled_event
from tests.support.constants import RETURN_URL, WEBHOOK_SECRET
from tests.support.flow import bank_url, location
from tests.support.functions import serve
from tests.support.interleaving import while_at_dwolla
from tests.support.webhooks import webhook_event

MILLISECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _begin(api, dwolla, browser, partner="mx", clock=None):
    """A request, and the customer's click on its link (with `clock`: ten minutes before the
    request's deadline, seven days after it was made)."""
    exchange = dwolla.seed_exchange(partner)
    _, session, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    if clock is not None:
        clock.advance(days=7, minutes=-10)
    started = browser.click_start(session["startUrl"])
    return exchange, session, started


def _sweep(functions) -> dict:
    return functions.api.handler(scheduled_event(), LambdaContext())


def _balance_checks(dwolla) -> int:
    return sum(
        1
        for r in dwolla.requests()
        if r["method"] == "GET" and r["path"].startswith("/funding-sources/")
    )


# ---- order is data ------------------------------------------------------------------------------
def test_every_event_carries_its_requests_sequence_and_a_millisecond_time(
    api, dwolla, browser, published
):
    exchange, session, started = _begin(api, dwolla, browser)
    browser.get(browser.visit_bank(bank_url(started), "USER_CANCELLED"))  # attempt 1 fails
    again = browser.try_again(session["startUrl"].split("?")[0])
    browser.get(browser.visit_bank(bank_url(again)))  # attempt 2 succeeds

    events = published()

    mine = [e for e in events if e["detail"].get("sessionId") == session["id"]]
    assert [e["detail-type"] for e in sorted(mine, key=lambda e: e["detail"]["sequence"])] == [
        "Reauth Session Created",
        "Reauth Attempt Failed",
        "Exchange Reauthorized",
    ]
    assert sorted(e["detail"]["sequence"] for e in mine) == [1, 2, 3]
    assert all(MILLISECONDS.match(e["detail"]["occurredAt"]) for e in mine)
    assert len({e["detail"]["eventId"] for e in mine}) == 3


def test_exchange_level_news_is_numbered_per_exchange(dwolla, functions, published):
    exchange = dwolla.seed_exchange("mx")
    published()
    for _ in range(2):
        news = dwolla.require_reauth(exchange["id"])["event"]
        body = {
            "id": news["id"],
            "topic": news["topic"],
            "created": news["created"],
            "_links": {
                "resource": {"href": f"https://api.dwolla.com/exchanges/{exchange['id']}"},
                "customer": {"href": f"https://api.dwolla.com/customers/{exchange['customerId']}"},
            },
        }
        delivery = webhook_event(json.dumps(body), WEBHOOK_SECRET, None, topic=news["topic"])
        assert functions.callback.handler(delivery, LambdaContext())["statusCode"] == 200

    required = [e for e in published() if e["detail-type"] == "Exchange Reauth Required"]
    assert sorted(e["detail"]["sequence"] for e in required) == [1, 2]


# ---- a success Dwolla can confirm is never thrown away ----------------------------------------
def test_a_success_at_the_bank_counts_after_a_newer_request_superseded_it(
    api, dwolla, browser, published
):
    exchange, old, started = _begin(api, dwolla, browser)
    back = browser.visit_bank(bank_url(started))  # the customer logs in at the bank ...
    _, newer, _ = api.create(exchange["id"])  # ... while the platform asks again
    published()

    landed = browser.get(back)

    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={old['id']}"
    assert api.session(old["id"])[1]["status"] == "reauthorized"
    assert api.session(newer["id"])[1]["status"] == "reauthorized_elsewhere"
    record = api.status(exchange["id"])[1]
    assert (record["status"], record["pendingSessionId"]) == ("reauthorized", None)
    [event] = published()
    assert event["detail-type"] == "Exchange Reauthorized"
    assert (event["detail"]["sessionId"], event["detail"]["endedSessionId"]) == (
        old["id"],
        newer["id"],
    )


def test_a_success_at_the_bank_counts_after_the_sweeper_expired_the_request(
    api, dwolla, browser, functions, clock, published
):
    exchange, session, started = _begin(api, dwolla, browser, clock=clock)
    clock.advance(minutes=11)
    assert _sweep(functions)["expired"] == 1  # Dwolla: not repaired yet (she is at the bank)
    back = browser.visit_bank(bank_url(started))  # ... and then she finishes
    published()

    landed = browser.get(back)

    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={session['id']}"
    body = api.session(session["id"])[1]
    assert body["status"] == "reauthorized"
    assert api.status(exchange["id"])[1]["status"] == "reauthorized"
    [event] = published()
    assert event["detail-type"] == "Exchange Reauthorized"
    assert event["detail"]["sequence"] == 3  # created 1, expired 2, reauthorized 3


def test_a_success_at_the_bank_counts_after_the_deadline_passed(api, dwolla, browser, clock):
    _, session, started = _begin(api, dwolla, browser, clock=clock)
    back = browser.visit_bank(bank_url(started))
    clock.advance(minutes=11)  # past the deadline, no sweep yet

    landed = browser.get(back)

    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={session['id']}"


def test_the_sweeper_asks_dwolla_before_expiring_a_request_that_went_to_the_bank(
    api, dwolla, browser, functions, clock, published
):
    exchange, session, started = _begin(api, dwolla, browser, clock=clock)
    browser.visit_bank(bank_url(started))  # logged in at the bank, never came back
    clock.advance(minutes=11)
    published()

    assert _sweep(functions)["expired"] == 0

    body = api.session(session["id"])[1]
    assert body["status"] == "reauthorized"
    assert body["attempts"][-1]["state"] == "reauthorized"
    assert [e["detail-type"] for e in published()] == ["Exchange Reauthorized"]


def test_a_request_never_taken_to_the_bank_expires_without_asking_dwolla(
    api, dwolla, functions, clock, published
):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    clock.advance(days=7, seconds=1)
    dwolla.clear_requests()

    assert _sweep(functions)["expired"] == 1

    assert _balance_checks(dwolla) == 0
    assert api.session(session["id"])[1]["status"] == "expired"


def test_a_late_claim_dwolla_cannot_answer_waits_and_is_finished_later(
    api, dwolla, browser, functions, clock, published
):
    exchange, old, started = _begin(api, dwolla, browser)
    back = browser.visit_bank(bank_url(started))
    _, newer, _ = api.create(exchange["id"])
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=50, status=503)

    landed = browser.get(back)

    assert location(landed) == f"{RETURN_URL}?status=verifying&session={old['id']}"
    assert api.session(old["id"])[1]["status"] == "superseded"
    dwolla.clear_faults()
    clock.advance(minutes=2)
    published()

    _sweep(functions)

    assert api.session(old["id"])[1]["status"] == "reauthorized"
    assert api.session(newer["id"])[1]["status"] == "reauthorized_elsewhere"
    assert [e["detail-type"] for e in published()] == ["Exchange Reauthorized"]


# ---- no write moves a request backwards ---------------------------------------------------------
def test_a_repair_check_started_before_a_claim_never_undoes_verifying(
    api, dwolla, browser, clock, monkeypatch
):
    exchange, session, started = _begin(api, dwolla, browser)
    back = browser.visit_bank(bank_url(started))
    clock.advance(minutes=16)  # a platform read now checks for a repair made elsewhere

    def the_customer_comes_back_while_dwolla_is_down():
        dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=50, status=503)
        browser.get(back)  # her claim: Dwolla cannot answer, the request is verifying

    # The repair check read "pending" and heard "not repaired" before her claim.
    while_at_dwolla(monkeypatch, False, the_customer_comes_back_while_dwolla_is_down)
    api.session(session["id"])

    body = api.session(session["id"])[1]
    assert body["status"] == "verifying"  # not pending: her claim still waits for Dwolla
    assert body["verification"]["nextCheckAt"] is not None
    dwolla.clear_faults()
    clock.advance(minutes=2)
    assert api.session(session["id"])[1]["status"] == "reauthorized"


def test_a_confirmation_lands_though_another_writer_numbered_an_event_first(
    api, dwolla, browser, monkeypatch, published
):
    _, session, started = _begin(api, dwolla, browser)
    back = browser.visit_bank(bank_url(started))
    published()

    def the_attempt_is_ended_meanwhile():  # e.g. a stale ?error= from another tab
        from reauth import runtime
        from reauth.model import Reporter

        service = runtime.service()
        request = service.ctx.repo.get_request(session["id"])
        service.verifying.end_attempt(
            request, request.current_attempt_id, "TEMPORARY_ERROR", Reporter.PLATFORM
        )

    while_at_dwolla(monkeypatch, True, the_attempt_is_ended_meanwhile)
    landed = browser.get(back)

    assert "status=reauthorized" in location(landed)
    assert api.session(session["id"])[1]["status"] == "reauthorized"
    by_sequence = sorted(published(), key=lambda e: e["detail"]["sequence"])
    assert [(e["detail"]["sequence"], e["detail-type"]) for e in by_sequence] == [
        (2, "Reauth Attempt Failed"),
        (3, "Exchange Reauthorized"),
    ]


# ---- a slow or down Dwolla starves nothing -----------------------------------------------------
def test_a_down_dwolla_does_not_starve_expiry(api, dwolla, browser, functions, clock):
    waiting = []
    for _ in range(6):  # claims waiting for Dwolla
        exchange, session, started = _begin(api, dwolla, browser)
        dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=1000, status=503)
        browser.get(browser.visit_bank(bank_url(started)))
        dwolla.clear_faults()
        waiting.append(session)
    overdue = [api.create(dwolla.seed_exchange("mx")["id"])[1] for _ in range(3)]
    clock.advance(days=7, seconds=1)
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=1000, status=503)
    dwolla.clear_requests()
    serve(clock=clock.now)

    swept = _sweep(functions)

    assert swept["expired"] == 3
    assert all(api.session(s["id"])[1]["status"] == "expired" for s in overdue)
    checks = {r["path"] for r in dwolla.requests() if r["path"].startswith("/funding-sources/")}
    assert len(checks) <= 3  # Dwolla answered nothing thrice: the rest waits for the next run


def test_platform_reads_during_a_dwolla_outage_ask_dwolla_once_per_period(api, dwolla, clock):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    clock.advance(minutes=16)
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=1000, status=503)
    dwolla.clear_requests()

    api.session(session["id"])
    after_one = _balance_checks(dwolla)
    for _ in range(3):
        api.session(session["id"])

    assert after_one >= 1
    assert _balance_checks(dwolla) == after_one


def test_clicks_during_a_dwolla_outage_do_not_each_ask_for_a_repair(api, dwolla, browser, clock):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    clock.advance(minutes=31)  # the first Dwolla session is spent: a click makes a new one
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=1000, status=503)
    dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=1000, status=503)
    dwolla.clear_requests()

    browser.click_start(session["startUrl"])
    after_one = _balance_checks(dwolla)
    for _ in range(3):
        browser.click_start(session["startUrl"])

    assert after_one >= 1
    assert _balance_checks(dwolla) == after_one


def test_a_request_that_keeps_changing_under_the_sweep_is_left_to_the_next_run(
    api, dwolla, browser, functions, clock, monkeypatch
):
    from reauth import runtime

    overdue = api.create(dwolla.seed_exchange("mx")["id"])[1]
    _, contended, started = _begin(api, dwolla, browser, clock=clock)
    browser.visit_bank(bank_url(started))
    clock.advance(minutes=11)
    repo = runtime.service().ctx.repo
    monkeypatch.setattr(repo, "mark_reauthorized", lambda *_a, **_k: False)  # always lost

    swept = _sweep(functions)

    assert swept["expired"] == 1  # the other request's expiry went on
    assert api.session(overdue["id"])[1]["status"] == "expired"
    monkeypatch.undo()
    _sweep(functions)  # the next run: Dwolla confirms, and the write lands
    assert api.session(contended["id"])[1]["status"] == "reauthorized"

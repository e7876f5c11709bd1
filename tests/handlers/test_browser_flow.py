"""The customer's side: the link → the start page → its button → the bank → Dwolla's redirect to
/reauth/callback → the return URL. What real customers do: open the link late, after a scanner,
cancel and try again, two re-authentications in two tabs."""

import json
import uuid

import pytest

from reauth.security import read_binding
from tests.support.apigw import query_of
from tests.support.constants import CALLBACK_URL, RETURN_URL
from tests.support.flow import Browser, bank_url, header, location, plaid_config
from tests.support.table import table_items

DONE_URL = "https://reauth.example.test/v1/reauth/done"


def _create(api, dwolla, partner="mx", **body):
    exchange = dwolla.seed_exchange(partner)
    _, session, _ = api.create(exchange["id"], body or None)
    return exchange, session


def _begin(api, dwolla, browser, partner="mx", **body):
    exchange, session = _create(api, dwolla, partner, **body)
    started = browser.click_start(session["startUrl"])
    return exchange, session, started


def _log_in(browser, started, outcome=None) -> dict:
    """At the bank, then back at the service's callback."""
    return browser.get(browser.visit_bank(bank_url(started), outcome))


def test_opening_the_link_shows_a_start_page_and_changes_nothing(api, dwolla, browser, published):
    _, session = _create(api, dwolla)
    published()

    page = browser.get(session["startUrl"])
    head = browser.call("HEAD", session["startUrl"])

    assert page["statusCode"] == head["statusCode"] == 200
    assert '<form method="post"' in page["body"]
    # The browser gets its binding token (no request in it); nothing is stored, nothing starts.
    assert read_binding(browser.cookies).request_ids == ()
    assert read_binding(browser.cookies).token is not None
    assert header(head, "set-cookie") is None  # it had a token already: the same one stays
    assert api.session(session["id"])[1]["attempts"][0]["startedAt"] is None
    assert published() == []
    assert "nonce-" in header(page, "content-security-policy")


def test_the_button_binds_the_browser_and_sends_it_to_the_bank(api, dwolla, browser):
    _, session, started = _begin(api, dwolla, browser)

    assert started["statusCode"] == 200
    assert bank_url(started) == session["handoff"]["url"]
    cookie = header(started, "set-cookie")
    assert read_binding([cookie.split(";", 1)[0]]).request_ids == (session["id"],)
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/v1/reauth/"):
        assert attribute in cookie
    attempt = api.session(session["id"])[1]["attempts"][0]
    assert attempt["startedAt"] is not None and attempt["state"] == "open"


@pytest.mark.parametrize("partner", ["mx", "plaid"])
def test_the_request_a_click_answers_with_is_the_one_stored(api, dwolla, functions, partner):
    """A start answers from its read and its own write, not from a read back: the answer must
    be what the table holds, field for field."""
    from reauth import runtime, web
    from reauth.journey import Browser as Visitor
    from reauth.journey import Started

    _, session = _create(api, dwolla, partner)
    key = query_of(session["startUrl"])["key"][0]
    service = runtime.service()
    visitor = Visitor(cookies=[], origin=Browser.ORIGIN, fetch_site="same-origin")

    started = service.journey.start(session["id"], key, visitor)

    assert isinstance(started, Started)
    answered, attempt = started.request, started.attempt
    stored = service.ctx.repo.get_request(session["id"])
    assert answered == stored
    assert attempt == stored.current_attempt
    now = service.now()
    assert web.public_request(answered, now, None) == web.public_request(stored, now, None)
    [item] = [i for i in table_items(functions) if i["pk"]["S"] == f"REQUEST#{session['id']}"]
    written = item["attempts"]["M"][attempt.id]["M"]
    assert item["currentAttemptId"]["S"] == attempt.id
    assert float(item["updatedAt"]["N"]) == answered.updated_at.timestamp()
    assert float(written["startedAt"]["N"]) == attempt.started_at.timestamp()
    assert written["bindingHash"]["S"] == attempt.binding_hash
    assert item["status"]["S"] == answered.status.value == "pending"
    assert set(item["attempts"]["M"]) == {a.id for a in answered.attempts}


def test_successful_reauthentication_end_to_end(api, dwolla, browser, published):
    exchange, session, started = _begin(api, dwolla, browser, returnUrl=RETURN_URL)
    published()

    back = browser.visit_bank(bank_url(started))
    assert back.startswith(CALLBACK_URL)
    assert query_of(back) == {"exchange": [exchange["id"]]}
    landed = browser.get(back)

    assert landed["statusCode"] == 303
    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={session['id']}"
    body = api.session(session["id"])[1]
    assert (body["status"], body["verification"]["result"]) == ("reauthorized", "confirmed")
    assert body["fundingSourceId"] == exchange["fundingSourceId"]  # found through Dwolla
    _, record, _ = api.status(exchange["id"])
    assert record["status"] == "reauthorized"
    assert record["lastSessionId"] == session["id"]
    assert record["pendingSessionId"] is None
    events = published()
    assert [e["detail-type"] for e in events] == ["Exchange Reauthorized"]
    assert events[0]["detail"]["exchangeId"] == exchange["id"]


def test_reloading_the_callback_gives_the_same_answer_and_no_second_event(
    api, dwolla, browser, published
):
    _, _, started = _begin(api, dwolla, browser, returnUrl=RETURN_URL)
    back = browser.visit_bank(bank_url(started))
    first = browser.get(back)
    published()

    again = browser.get(back)

    assert again["statusCode"] == 303
    assert location(again) == location(first)
    assert published() == []


def test_a_forged_success_with_no_bank_visit_never_reauthorizes(api, dwolla, browser, published):
    exchange, session, _ = _begin(api, dwolla, browser)
    published()
    dwolla.clear_requests()

    landed = browser.get(f"{CALLBACK_URL}?exchange={exchange['id']}")

    assert location(landed).startswith(f"{DONE_URL}?status=attempt_failed")
    assert query_of(location(landed))["reason"] == ["NOT_REPAIRED"]
    body = api.session(session["id"])[1]
    assert body["status"] == "pending"
    assert body["attempts"][0]["state"] == "unverified"
    assert [e["detail-type"] for e in published()] == ["Reauth Attempt Failed"]
    assert dwolla.balance_error(exchange["fundingSourceId"])["code"] == "UpdateCredentials"
    writes = [r for r in dwolla.requests() if r["method"] != "GET" and r["path"] != "/token"]
    assert writes == []  # what the forgery cost: reads


def test_cancel_then_try_again_with_the_same_link(api, dwolla, browser, published):
    exchange, session, started = _begin(api, dwolla, browser)
    published()

    landed = _log_in(browser, started, "USER_CANCELLED")

    assert location(landed).startswith(f"{DONE_URL}?status=attempt_failed")
    assert query_of(location(landed))["recoverable"] == ["true"]
    body = api.session(session["id"])[1]
    assert (body["status"], body["attempts"][0]["reason"]) == ("pending", "USER_CANCELLED")
    [event] = published()
    assert (event["detail-type"], event["detail"]["reason"]) == (
        "Reauth Attempt Failed",
        "USER_CANCELLED",
    )

    again = browser.click_start(session["startUrl"])
    landed = _log_in(browser, again, "success")

    assert location(landed).startswith(f"{DONE_URL}?status=reauthorized")
    body = api.session(session["id"])[1]
    assert [a["state"] for a in body["attempts"]] == ["failed", "reauthorized"]
    assert len(dwolla.exchange_sessions()) == 2


def test_try_again_from_the_result_page_needs_only_the_bound_browser(api, dwolla, browser):
    _, session, started = _begin(api, dwolla, browser)
    landed = _log_in(browser, started, "TEMPORARY_ERROR")
    page = browser.get(location(landed))
    assert page["statusCode"] == 200 and "Try again" in page["body"]

    retried = browser.try_again(f"https://reauth.example.test/v1/reauth/link/{session['id']}")

    assert retried["statusCode"] == 200 and bank_url(retried) != bank_url(started)
    stranger = type(browser)(browser.module)
    refused = stranger.try_again(f"https://reauth.example.test/v1/reauth/link/{session['id']}")
    assert refused["statusCode"] == 400


def test_a_link_opened_after_its_first_dwolla_session_expired_still_works(
    api, dwolla, browser, clock
):
    _, session = _create(api, dwolla)
    clock.advance(hours=20)  # the email was read the next morning

    started = browser.click_start(session["startUrl"])
    landed = _log_in(browser, started)

    assert location(landed).startswith(f"{DONE_URL}?status=reauthorized")
    body = api.session(session["id"])[1]
    assert [a["state"] for a in body["attempts"]] == ["expired", "reauthorized"]


def test_a_scanner_fetching_the_link_changes_nothing_and_the_click_still_works(
    api, dwolla, browser
):
    _, session = _create(api, dwolla)
    scanner = type(browser)(browser.module)
    for method in ("GET", "HEAD", "GET"):
        assert scanner.call(method, session["startUrl"])["statusCode"] == 200
    assert api.session(session["id"])[1]["attempts"][0]["startedAt"] is None

    started = browser.click_start(session["startUrl"])

    assert location(_log_in(browser, started)).startswith(f"{DONE_URL}?status=reauthorized")
    assert len(dwolla.exchange_sessions()) == 1  # the scanner cost not even a Dwolla session


def test_a_forged_cross_site_cancel_then_the_real_login_reauthorizes(api, dwolla, browser):
    exchange, session, started = _begin(api, dwolla, browser)
    bank_answer = browser.visit_bank(bank_url(started))  # the customer is at the bank...

    forged = browser.get(f"{CALLBACK_URL}?error=USER_CANCELLED")  # ...a hostile page navigates
    assert query_of(location(forged))["reason"] == ["USER_CANCELLED"]
    landed = browser.get(bank_answer)  # the bank sends the customer back

    assert location(landed).startswith(f"{DONE_URL}?status=reauthorized")
    assert api.session(session["id"])[1]["status"] == "reauthorized"


def test_two_tabs_two_reauthentications_both_work(api, dwolla, browser):
    first_exchange, first = _create(api, dwolla)
    second_exchange, second = _create(api, dwolla)
    first_started = browser.click_start(first["startUrl"])
    second_started = browser.click_start(second["startUrl"])
    assert len(browser.cookies) == 1  # one binding cookie names both requests
    assert set(read_binding(browser.cookies).request_ids) == {first["id"], second["id"]}

    second_back = browser.get(browser.visit_bank(bank_url(second_started)))
    first_back = browser.get(browser.visit_bank(bank_url(first_started)))

    assert query_of(location(first_back))["session"] == [first["id"]]
    assert query_of(location(second_back))["session"] == [second["id"]]
    assert api.session(first["id"])[1]["status"] == "reauthorized"
    assert api.session(second["id"])[1]["status"] == "reauthorized"


def test_dwolla_unable_to_confirm_makes_it_verifying_and_a_later_read_finishes_it(
    api, dwolla, browser, clock, published
):
    exchange, session, started = _begin(api, dwolla, browser, returnUrl=RETURN_URL)
    back = browser.visit_bank(bank_url(started))
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=50, status=503)
    published()

    landed = browser.get(back)

    assert location(landed) == f"{RETURN_URL}?status=verifying&session={session['id']}"
    body = api.session(session["id"])[1]
    assert (body["status"], body["verification"]["result"]) == ("verifying", "unavailable")
    assert published() == []
    dwolla.clear_faults()
    clock.advance(minutes=2)

    body = api.session(session["id"])[1]

    assert (body["status"], body["verification"]["result"]) == ("reauthorized", "confirmed")
    assert [e["detail-type"] for e in published()] == ["Exchange Reauthorized"]


def test_plaid_through_the_start_link(api, dwolla, browser, published):
    exchange, session, page = _begin(api, dwolla, browser, partner="plaid")

    assert page["statusCode"] == 200
    config = plaid_config(page)
    assert config["token"] == session["handoff"]["token"]
    assert config["completeUrl"].endswith(f"/reauth/link/{session['id']}/complete")
    assert "script-src 'nonce-" in header(page, "content-security-policy")
    dwolla.complete_exchange_session(config["token"])  # Plaid Link ran; the bank said yes
    published()

    answer = browser.report_plaid(page, {"outcome": "success"})

    assert answer["statusCode"] == 200
    expected = f"{DONE_URL}?status=reauthorized&session={session['id']}"
    assert json.loads(answer["body"]) == {"location": expected}
    assert [e["detail-type"] for e in published()] == ["Exchange Reauthorized"]


def test_plaid_report_without_the_csrf_token_or_cookie_changes_nothing(api, dwolla, browser):
    _, session, page = _begin(api, dwolla, browser, partner="plaid")

    assert browser.report_plaid(page, {"outcome": "success"}, csrf="x" * 43)["statusCode"] == 400
    stranger = type(browser)(browser.module)
    assert (
        stranger.report_plaid(page, {"outcome": "error", "error": "USER_CANCELLED"})["statusCode"]
        == 400
    )
    assert api.session(session["id"])[1]["attempts"][0]["state"] == "open"


def test_a_cross_site_click_is_refused(api, dwolla, browser):
    _, session = _create(api, dwolla)
    answer = browser.call(
        "POST",
        session["startUrl"].split("?")[0],
        body="key=" + query_of(session["startUrl"])["key"][0],
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "https://evil.example",
            "Sec-Fetch-Site": "cross-site",
        },
    )
    assert answer["statusCode"] == 400
    assert browser.cookies == []
    assert api.session(session["id"])[1]["attempts"][0]["startedAt"] is None


def test_built_in_result_page_shows_the_outcome(browser):
    page = browser.get(f"{DONE_URL}?status=reauthorized&session={uuid.uuid4()}")
    assert page["statusCode"] == 200
    assert '<html lang="en">' in page["body"]


def test_callback_without_the_binding_cookie_changes_nothing(api, dwolla, browser, published):
    _, session, started = _begin(api, dwolla, browser)
    back = browser.visit_bank(bank_url(started))
    published()
    browser.jar.clear()

    answer = browser.get(back)

    assert answer["statusCode"] == 400
    assert api.session(session["id"])[1]["status"] == "pending"
    assert published() == []


def test_callback_for_another_exchange_changes_nothing(api, dwolla, browser):
    _, session, started = _begin(api, dwolla, browser)
    browser.visit_bank(bank_url(started))

    answer = browser.get(f"{CALLBACK_URL}?exchange={uuid.uuid4()}")

    assert answer["statusCode"] == 400
    assert api.session(session["id"])[1]["status"] == "pending"


def test_wrong_link_key_changes_nothing(api, dwolla, browser):
    _, session = _create(api, dwolla)
    wrong = session["startUrl"].split("key=")[0] + "key=" + "A" * 43

    assert browser.get(wrong)["statusCode"] == 400
    assert browser.click_start(wrong)["statusCode"] == 400
    assert browser.cookies == []
    assert browser.click_start(session["startUrl"])["statusCode"] == 200


def test_a_finished_request_shows_done_and_a_superseded_one_is_closed(api, dwolla, browser):
    exchange, session, started = _begin(api, dwolla, browser)
    _log_in(browser, started)
    assert "already renewed" in browser.get(session["startUrl"])["body"]

    _, old = _create(api, dwolla)
    api.create(old["exchangeId"])  # a newer request supersedes it
    closed = browser.click_start(old["startUrl"])
    assert closed["statusCode"] == 410


def test_a_connection_repaired_in_another_app_ends_the_request_without_the_customer(
    api, dwolla, browser, clock, published
):
    exchange, session = _create(api, dwolla)
    dwolla.complete_exchange_session(session["attempts"][0]["id"])  # fixed elsewhere
    published()
    clock.advance(minutes=31)  # the first attempt is spent; a click would make a new one

    page = browser.click_start(session["startUrl"])

    assert page["statusCode"] == 200 and "already renewed" in page["body"]
    body = api.session(session["id"])[1]
    assert body["status"] == "reauthorized_elsewhere" and body["startUrl"] is None
    [event] = published()
    assert (event["detail-type"], event["detail"]["via"]) == ("Exchange Reauthorized", "elsewhere")
    assert len(dwolla.exchange_sessions()) == 1  # no Dwolla session made for nothing


def test_the_platform_reading_a_pending_request_learns_of_a_repair_elsewhere(
    api, dwolla, clock, published
):
    _, session = _create(api, dwolla)
    assert api.session(session["id"])[1]["status"] == "pending"  # checked at most every 15 min
    dwolla.complete_exchange_session(session["attempts"][0]["id"])
    published()
    clock.advance(minutes=16)

    body = api.session(session["id"])[1]

    assert body["status"] == "reauthorized_elsewhere"
    assert [e["detail"]["via"] for e in published()] == ["elsewhere"]

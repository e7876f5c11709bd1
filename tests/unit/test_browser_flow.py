"""The customer's side: start link → bank → Dwolla's redirect to /reauth/callback → return URL."""

import uuid

from tests.conftest import CALLBACK_URL, RETURN_URL
from tests.support.apigw import query_of
from tests.support.flow import header, location


def _begin(api, dwolla, browser, partner="mx", **body):
    exchange = dwolla.seed_exchange(partner)
    _, session, _ = api.create(exchange["id"], body or None)
    started = browser.get(session["startUrl"])
    return exchange, session, started


def test_start_binds_the_browser_with_a_strict_cookie_and_sends_it_to_the_bank(
    api, dwolla, browser
):
    _, session, started = _begin(api, dwolla, browser)

    assert started["statusCode"] == 302
    assert location(started) == session["handoff"]["url"]
    cookie = header(started, "set-cookie")
    assert cookie.startswith(f"reauth_binding={session['id']}.")
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/v1/reauth/callback"):
        assert attribute in cookie


def test_successful_reauthentication_end_to_end(api, dwolla, browser, published):
    exchange, session, started = _begin(api, dwolla, browser, returnUrl=RETURN_URL)
    published()  # drop "Reauth Session Created"

    back = browser.visit_bank(location(started))
    assert back.startswith(CALLBACK_URL)
    assert query_of(back) == {"exchange": [exchange["id"]]}
    landed = browser.get(back)

    assert landed["statusCode"] == 302
    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={session['id']}"
    assert api.session(session["id"])[1]["status"] == "reauthorized"
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
    _, session, started = _begin(api, dwolla, browser, returnUrl=RETURN_URL)
    back = browser.visit_bank(location(started))
    first = browser.get(back)
    published()

    again = browser.get(back)

    assert again["statusCode"] == 302
    assert location(again) == location(first)
    assert published() == []


def test_cancelled_attempt_marks_the_session_failed_with_the_reason(
    api, dwolla, browser, published
):
    _, session, started = _begin(api, dwolla, browser)
    published()

    back = browser.visit_bank(location(started), outcome="USER_CANCELLED")
    landed = browser.get(back)

    assert location(landed).startswith("https://reauth.example.test/v1/reauth/done?status=failed")
    _, body, _ = api.session(session["id"])
    assert (body["status"], body["failureReason"]) == ("failed", "USER_CANCELLED")
    events = published()
    assert [e["detail-type"] for e in events] == ["Reauth Session Failed"]
    assert events[0]["detail"]["reason"] == "USER_CANCELLED"


def test_built_in_return_page_shows_the_outcome(browser):
    page = browser.get("https://reauth.example.test/v1/reauth/done?status=reauthorized&session=x")
    assert page["statusCode"] == 200
    assert "working again" in page["body"]


def test_callback_without_the_binding_cookie_changes_nothing(api, dwolla, browser, published):
    exchange, session, started = _begin(api, dwolla, browser)
    back = browser.visit_bank(location(started))
    published()
    browser.cookies = []

    answer = browser.get(back)

    assert answer["statusCode"] == 400
    assert api.session(session["id"])[1]["status"] == "pending"
    assert published() == []


def test_callback_for_another_exchange_changes_nothing(api, dwolla, browser):
    _, session, started = _begin(api, dwolla, browser)
    browser.visit_bank(location(started))

    answer = browser.get(f"{CALLBACK_URL}?exchange={uuid.uuid4()}")

    assert answer["statusCode"] == 400
    assert api.session(session["id"])[1]["status"] == "pending"


def test_start_link_works_once(api, dwolla, browser):
    _, session, started = _begin(api, dwolla, browser)
    assert started["statusCode"] == 302
    assert browser.get(session["startUrl"])["statusCode"] == 400


def test_wrong_start_key_changes_nothing(api, dwolla, browser):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    wrong = session["startUrl"].split("key=")[0] + "key=" + "A" * 43

    assert browser.get(wrong)["statusCode"] == 400
    assert browser.cookies == []
    assert browser.get(session["startUrl"])["statusCode"] == 302


def test_exchange_not_active_at_dwolla_fails_the_session(api, dwolla, browser, published):
    exchange = dwolla.seed_exchange("mx", status="deactivated", providerOutcome="USER_CANCELLED")
    _, session, _ = api.create(exchange["id"])
    browser.get(session["startUrl"])
    published()

    # The bank page was never completed, yet a callback claims success: Dwolla says otherwise.
    landed = browser.get(f"{CALLBACK_URL}?exchange={exchange['id']}")

    assert landed["statusCode"] == 302
    _, body, _ = api.session(session["id"])
    assert (body["status"], body["failureReason"]) == ("failed", "EXCHANGE_NOT_ACTIVE")


def test_dwolla_outage_at_the_callback_shows_a_retry_page_and_a_reload_then_works(
    api, dwolla, browser
):
    exchange, session, started = _begin(api, dwolla, browser)
    back = browser.visit_bank(location(started))
    dwolla.inject_fault("/exchanges/*", method="GET", times=10, status=503)

    answer = browser.get(back)

    assert answer["statusCode"] == 503
    assert "reload" in answer["body"] and answer["body"].startswith("<!doctype html>")
    assert api.session(session["id"])[1]["status"] == "pending"
    dwolla.clear_faults()
    assert location(browser.get(back)).startswith("https://reauth.example.test/v1/reauth/done")

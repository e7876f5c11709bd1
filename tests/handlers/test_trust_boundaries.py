"""Issue 16's trust boundaries in the browser: a customer's browser holds any number of
bindings (requests and tabs), the callback's `?error=` is only the browser's word, and one
rendering of the start button starts at most one attempt. Through CallbackFunction's handler,
moto and the Dwolla sandbox; the same journeys run in Chromium in tests/e2e."""

from __future__ import annotations

from reauth.security import read_binding
from tests.support.apigw import query_of
from tests.support.constants import CALLBACK_URL
from tests.support.flow import bank_url, location, plaid_config

DONE_URL = "https://reauth.example.test/v1/reauth/done"


def _request(api, dwolla, partner="mx"):
    exchange = dwolla.seed_exchange(partner)
    _, made, _ = api.create(exchange["id"])
    return made


def _status(api, request) -> str:
    return api.session(request["id"])[1]["status"]


def _back_from_the_bank(browser, started, outcome=None) -> dict:
    return browser.get(browser.visit_bank(bank_url(started), outcome))


# ---- any number of requests and tabs per browser ----------------------------------------------
def test_ten_requests_then_two_tabs_on_each_of_two_requests_all_succeed(api, dwolla, browser):
    """A customer with ten re-authentications in a day (it was 4 before the fifth was locked
    out), then two tabs on each of two more (a bank and Plaid): every one succeeds, and the
    cookie header stays one bounded cookie."""
    for _ in range(10):
        request = _request(api, dwolla)
        landed = _back_from_the_bank(browser, browser.click_start(request["startUrl"]))
        assert query_of(location(landed))["status"] == ["reauthorized"]
        assert _status(api, request) == "reauthorized"
    assert len(browser.cookies) == 1 and len(browser.cookies[0]) < 700

    # Two tabs on a bank's request: each opened the link, each clicked.
    bank = _request(api, dwolla)
    first_render, second_render = browser.open_start(bank["startUrl"]), None
    second_render = browser.open_start(bank["startUrl"])
    first = browser.click_start(bank["startUrl"], first_render)
    second = browser.click_start(bank["startUrl"], second_render)
    assert bank_url(first) != bank_url(second)  # two attempts, both bound to this browser
    # The ten ended requests were dropped from the cookie: only the live one is named.
    assert read_binding(browser.cookies).request_ids == (bank["id"],)
    landed = _back_from_the_bank(browser, first)  # the first tab's login counts
    assert query_of(location(landed))["status"] == ["reauthorized"]
    stale = _back_from_the_bank(browser, second)  # the second tab: the same result, not refused
    assert stale["statusCode"] == 303
    assert query_of(location(stale))["status"] == ["reauthorized"]

    # Two tabs on a Plaid request: the first tab's Link succeeds after the second started.
    plaid = _request(api, dwolla, "plaid")
    renders = [browser.open_start(plaid["startUrl"]) for _ in range(2)]
    pages = [browser.click_start(plaid["startUrl"], render) for render in renders]
    tokens = [plaid_config(page)["token"] for page in pages]
    assert tokens[0] != tokens[1]
    dwolla.complete_exchange_session(tokens[0])
    reported = browser.report_plaid(pages[0], {"outcome": "success"})
    assert reported["statusCode"] == 200
    assert "status=reauthorized" in reported["body"]
    later = browser.report_plaid(pages[1], {"outcome": "success"})  # the other tab, later
    assert later["statusCode"] == 200 and "status=reauthorized" in later["body"]
    assert _status(api, plaid) == "reauthorized"


def test_either_tab_of_a_plaid_request_may_finish_it(api, dwolla, browser):
    """The second tab's success counts as well as the first's (each reports its own attempt)."""
    plaid = _request(api, dwolla, "plaid")
    pages = [browser.click_start(plaid["startUrl"], browser.open_start(plaid["startUrl"]))]
    pages.append(browser.click_start(plaid["startUrl"], browser.open_start(plaid["startUrl"])))
    dwolla.complete_exchange_session(plaid_config(pages[1])["token"])
    # The first tab gave up meanwhile: its report ends its own attempt, not the second's.
    browser.report_plaid(pages[0], {"outcome": "error", "error": "USER_CANCELLED"})

    reported = browser.report_plaid(pages[1], {"outcome": "success"})

    assert "status=reauthorized" in reported["body"]
    states = [a["state"] for a in api.session(plaid["id"])[1]["attempts"]]
    assert states == ["failed", "reauthorized"]


# ---- ?error= is only the browser's word ---------------------------------------------------------
def test_a_cross_site_error_is_recoverable_and_says_who_reported_it(
    api, dwolla, browser, published
):
    """Any page can navigate the customer's browser to `/reauth/callback?error=...` (the Lax
    cookie rides along): it may end the attempt at the bank, never "failed for good"."""
    request = _request(api, dwolla)
    started = browser.click_start(request["startUrl"])
    at_the_bank = browser.visit_bank(bank_url(started))
    published()

    forged = browser.get(f"{CALLBACK_URL}?error=AUTHENTICATION_ERROR")

    assert query_of(location(forged))["recoverable"] == ["true"]
    [event] = published()
    assert event["detail-type"] == "Reauth Attempt Failed"
    assert (event["detail"]["reportedBy"], event["detail"]["recoverable"]) == ("redirect", True)
    attempt = api.session(request["id"])[1]["attempts"][0]
    assert (attempt["recoverable"], attempt["reportedBy"]) == (True, "redirect")
    # The real return from the bank still counts.
    assert query_of(location(browser.get(at_the_bank)))["status"] == ["reauthorized"]


def test_an_error_the_plaid_page_or_the_platform_reports_may_be_for_good(
    api, dwolla, browser, published
):
    plaid = _request(api, dwolla, "plaid")
    page = browser.click_start(plaid["startUrl"])
    published()

    reported = browser.report_plaid(page, {"outcome": "error", "error": "AUTHENTICATION_ERROR"})

    assert "recoverable=false" in reported["body"]
    [event] = published()
    assert (event["detail"]["reportedBy"], event["detail"]["recoverable"]) == ("plaid-page", False)

    platform = _request(api, dwolla, "plaid")
    api.complete(platform["id"], {"error": "AUTHENTICATION_ERROR"})
    [event] = published()[-1:]
    assert (event["detail"]["reportedBy"], event["detail"]["recoverable"]) == ("platform", False)


def test_a_cross_site_error_cannot_end_another_requests_attempt(api, dwolla, browser, published):
    """The browser is at Plaid for one request and has another's bank attempt bound: a forged
    `?error=` ends neither the Plaid attempt (it never comes back through the callback) nor a
    bank attempt that is not at the bank any more."""
    bank = _request(api, dwolla)
    started = browser.click_start(bank["startUrl"])
    assert "reauthorized" in location(_back_from_the_bank(browser, started))  # done with it
    plaid = _request(api, dwolla, "plaid")
    page = browser.click_start(plaid["startUrl"])
    published()

    forged = browser.get(f"{CALLBACK_URL}?error=USER_CANCELLED")

    assert forged["statusCode"] in (303, 400)
    assert published() == []
    assert api.session(plaid["id"])[1]["attempts"][0]["state"] == "open"
    dwolla.complete_exchange_session(plaid_config(page)["token"])
    reported = browser.report_plaid(page, {"outcome": "success"})
    assert "status=reauthorized" in reported["body"]


def test_an_error_for_bank_visits_of_two_requests_ends_neither(api, dwolla, browser, published):
    first, second = _request(api, dwolla), _request(api, dwolla)
    started = [browser.click_start(r["startUrl"]) for r in (first, second)]
    published()

    forged = browser.get(f"{CALLBACK_URL}?error=TEMPORARY_ERROR")

    assert forged["statusCode"] == 400  # whose would it be? nobody's
    assert published() == []
    for request, answer in zip((first, second), started, strict=True):
        assert "reauthorized" in location(_back_from_the_bank(browser, answer))
        assert _status(api, request) == "reauthorized"


# ---- one rendering, one attempt ------------------------------------------------------------
def test_one_rendering_submitted_again_and_again_starts_one_attempt(api, dwolla, browser):
    """A double (or quadruple) submit, the back button and submit again: the same attempt, the
    same bank page; no second Dwolla session."""
    request = _request(api, dwolla)
    failed = browser.click_start(request["startUrl"])
    _back_from_the_bank(browser, failed, "USER_CANCELLED")  # the next attempt needs a session
    sessions = len(dwolla.exchange_sessions())
    render = browser.open_start(request["startUrl"])

    answers = [browser.click_start(request["startUrl"], render) for _ in range(4)]

    assert len({bank_url(answer) for answer in answers}) == 1
    assert len(dwolla.exchange_sessions()) == sessions + 1
    assert len(api.session(request["id"])[1]["attempts"]) == 2
    # A fresh rendering (a reload) may start another one: it is another click.
    another = browser.click_start(request["startUrl"], browser.open_start(request["startUrl"]))
    assert bank_url(another) != bank_url(answers[0])


def test_a_rendering_whose_attempt_ended_gets_a_fresh_button(api, dwolla, browser):
    request = _request(api, dwolla)
    render = browser.open_start(request["startUrl"])
    started = browser.click_start(request["startUrl"], render)
    _back_from_the_bank(browser, started, "USER_CANCELLED")

    again = browser.click_start(request["startUrl"], render)  # the old page's button

    assert again["statusCode"] == 200 and 'name="render"' in again["body"]
    assert "Continue to your bank" in again["body"]
    assert len(api.session(request["id"])[1]["attempts"]) == 1  # nothing started

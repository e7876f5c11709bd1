"""Where the browser's word is trusted, and how far (issue 16), in a real browser: Debian's
Chromium at a phone's size against both functions under `sam local start-api` (the e2e `stack`).

- One browser, any number of requests: one bounded `reauth_binding` cookie, ten requests in
  turn all succeed, and two tabs on one request (MX or Plaid) each get their own attempt: both
  finish on a clear result page, never the refusal page.
- `?error=` at the callback is the browser's word (any site can link it): it ends only the
  attempt at the bank, always recoverably (`reportedBy: "redirect"`), and never a Plaid attempt.
- One rendering of the start button starts at most one attempt (one Dwolla session), however
  often it is submitted.

The tabs, the bank's held navigation and the platform helpers are the journey tests' own
(tests/e2e/test_journey_in_browser.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.e2e import test_journey_in_browser as journey
from tests.e2e.test_journey_in_browser import (
    CREATED,
    FAILED,
    PLATFORM,
    REAUTHORIZED,
    RESULT_URL,
    START_BUTTON,
    TIMEOUT_MS,
    Tab,
    attempt_states,
    bank_link,
    create,
    events_once_quiet,
    go_to_bank,
    kinds,
    open_start_page,
    result_url,
)
from tests.support.browser import mobile_context

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Route

# The journey tests' fixtures: the browser, the phone, another site, time passing for an attempt.
chromium, phone = journey.chromium, journey.phone
other_site, age_attempt = journey.other_site, journey.age_attempt

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean")]

CONNECTED = "Your bank is connected again"
REFUSED = "This link can't be used"
COOKIE_LIMIT = 700  # characters of the binding cookie's value


def binding_cookies(context: BrowserContext) -> list[dict]:
    return [c for c in context.cookies() if c["name"].startswith("reauth_")]


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def exchange_sessions(dwolla, exchange_id: str) -> list[dict]:
    return [s for s in dwolla.exchange_sessions() if s["exchangeId"] == exchange_id]


# --- Plaid Link, held ---------------------------------------------------------------------------


def hold_plaid_link(tab: Tab) -> list[Route]:
    """Hold the stand-in bank's finish call in this tab (Link stays open until released)."""
    finishing: list[Route] = []
    tab.page.route(
        lambda url: url.endswith("/_plaid/link/finish"), lambda route: finishing.append(route)
    )
    return finishing


def open_plaid_link(tab: Tab, request: dict, finishing: list[Route]) -> None:
    """Open the link, click its button: Plaid Link opens over the page and its bank is about to
    finish (held)."""
    open_start_page(tab, request["startUrl"])
    assert tab.click(START_BUTTON).status == 200
    assert tab.heading == "Log in to your bank"
    tab.page.locator("iframe").wait_for()
    while not finishing:  # the stand-in bank finishes ~300 ms after it loads
        tab.page.wait_for_timeout(50)
    assert tab.page.frame_locator("iframe").locator("h1").inner_text() == "Sandbox bank"


def finish_plaid_link(tab: Tab, finishing: list[Route]) -> None:
    """Let the held bank finish; the Plaid page reports it and goes where it is told."""
    finishing.pop().continue_()
    tab.page.wait_for_url(RESULT_URL)
    tab.page.wait_for_load_state()


# --- one browser, many requests and tabs ----------------------------------------------------


def test_ten_requests_then_two_tabs_on_one_request_all_succeed(
    stack,
    api,
    phone,
    dwolla,
    published,
):
    tab = Tab.open(phone, stack)
    for _ in range(10):  # ten requests in a day, one after the other, in one browser
        request = create(api, stack, dwolla.seed_exchange("mx")["id"])
        go_to_bank(tab, request)
        tab.leave_bank()
        assert tab.page.url == result_url(stack, request["id"])
        assert tab.heading == CONNECTED
        assert api.session(request["id"]).json()["status"] == "reauthorized"
    [cookie] = binding_cookies(phone)
    assert cookie["name"] == "reauth_binding" and len(cookie["value"]) < COOKIE_LIMIT

    # One MX request in two tabs: each tab its own attempt, its own Dwolla session.
    request = create(api, stack, dwolla.seed_exchange("mx")["id"])
    one, two = Tab.open(phone, stack), Tab.open(phone, stack)
    go_to_bank(one, request)
    go_to_bank(two, request)
    seen = api.session(request["id"]).json()
    assert len(seen["attempts"]) == 2 and all(a["startedAt"] for a in seen["attempts"])
    first, second = seen["attempts"]
    assert first["id"] in bank_link(one) and second["id"] in bank_link(two)
    one.leave_bank()
    assert one.page.url == result_url(stack, request["id"])
    assert one.heading == CONNECTED
    two.leave_bank()  # the other tab's login, finished later: the same result, not a refusal
    assert two.page.url == result_url(stack, request["id"])
    assert two.heading == CONNECTED
    assert api.session(request["id"]).json()["status"] == "reauthorized"

    # One Plaid request in two tabs: both open Link; the first to finish wins.
    request = create(api, stack, dwolla.seed_exchange("plaid")["id"])
    assert request["handoff"]["type"] == "token"
    one, two = Tab.open(phone, stack), Tab.open(phone, stack)
    held_one, held_two = hold_plaid_link(one), hold_plaid_link(two)
    open_plaid_link(one, request, held_one)
    open_plaid_link(two, request, held_two)
    seen = api.session(request["id"]).json()
    assert len(seen["attempts"]) == 2 and all(a["startedAt"] for a in seen["attempts"])
    finish_plaid_link(one, held_one)
    assert one.page.url == result_url(stack, request["id"])
    assert one.heading == CONNECTED
    finish_plaid_link(two, held_two)  # a stale tab: its report lands on the result, clearly
    assert two.page.url == result_url(stack, request["id"])
    assert two.heading == CONNECTED
    seen = api.session(request["id"]).json()
    assert seen["status"] == "reauthorized"
    assert seen["attempts"][0]["state"] == "reauthorized"

    [cookie] = binding_cookies(phone)
    assert cookie["name"] == "reauth_binding" and len(cookie["value"]) < COOKIE_LIMIT
    events = events_once_quiet(published, *[CREATED] * 12, *[REAUTHORIZED] * 12)
    assert sorted(kinds(events)) == sorted([CREATED] * 12 + [REAUTHORIZED] * 12)
    for each in (tab, one, two):
        each.check()


# --- ?error= is the browser's word ----------------------------------------------------------


def test_cross_site_error_ends_only_the_attempt_at_the_bank_recoverably(
    stack,
    api,
    phone,
    dwolla,
    published,
    other_site,
):
    exchange = dwolla.seed_exchange("mx")["id"]
    request = create(api, stack, exchange)
    tab = Tab.open(phone, stack)
    go_to_bank(tab, request)  # the customer is at the bank, logging in

    # Another site, in a second tab, sends the browser to a forged "wrong password".
    forged = f"{stack.callback_url}?error=AUTHENTICATION_ERROR"
    other = Tab.open(phone, stack)
    other.page.goto(f"{other_site}/go?{urlencode({'to': forged})}")
    other.page.wait_for_url(RESULT_URL)
    assert query(other.page.url) == {
        "status": "attempt_failed",
        "session": request["id"],
        "reason": "AUTHENTICATION_ERROR",
        "recoverable": "true",  # the browser's word never says "for good"
    }
    assert other.heading == "Your bank wasn't reconnected"
    [attempt] = api.session(request["id"]).json()["attempts"]
    assert (attempt["state"], attempt["reason"], attempt["recoverable"]) == (
        "failed",
        "AUTHENTICATION_ERROR",
        True,
    )
    events = events_once_quiet(published, CREATED, FAILED)
    assert kinds(events) == [CREATED, FAILED]
    failed = events[1]["detail"]
    assert (failed["reason"], failed["recoverable"], failed["reportedBy"]) == (
        "AUTHENTICATION_ERROR",
        True,
        "redirect",
    )

    tab.leave_bank()  # the real login, and the bank's redirect back
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == CONNECTED
    assert api.session(request["id"]).json()["status"] == "reauthorized"
    assert kinds(events_once_quiet(published, CREATED, FAILED, REAUTHORIZED)) == [
        CREATED,
        FAILED,
        REAUTHORIZED,
    ]
    tab.check()
    other.check()


def test_error_at_the_callback_never_ends_a_plaid_attempt(
    stack,
    api,
    phone,
    dwolla,
    published,
):
    request = create(api, stack, dwolla.seed_exchange("plaid")["id"])
    tab = Tab.open(phone, stack)
    finishing = hold_plaid_link(tab)
    open_plaid_link(tab, request, finishing)  # Link open; no redirect attempt at any bank

    other = Tab.open(phone, stack)
    other.goto(f"{stack.callback_url}?error=USER_CANCELLED", status=400)
    assert other.heading == REFUSED
    assert f"Please start again from {PLATFORM}." in other.text
    assert attempt_states(api, request["id"]) == ["open"]

    finish_plaid_link(tab, finishing)
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == CONNECTED
    assert api.session(request["id"]).json()["status"] == "reauthorized"
    assert attempt_states(api, request["id"]) == ["reauthorized"]
    assert kinds(events_once_quiet(published, CREATED, REAUTHORIZED)) == [CREATED, REAUTHORIZED]
    tab.check()
    other.check()


# --- one rendering, one attempt -------------------------------------------------------------


@pytest.fixture
def scripted_phone(chromium) -> Iterator[BrowserContext]:
    """The phone, letting the test's own script fetch from the page (its CSP's connect-src
    would stop it): the page's form, posted by the page itself, as many times as wanted."""
    context = mobile_context(chromium, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


# The page's own form, submitted four times at once (a double tap, a resubmit), as same-origin
# fetches from the page (its cookie, Origin and Sec-Fetch-Site): each answer's status and text.
SUBMIT_FOUR_TIMES = """async () => {
  const form = document.querySelector("form");
  const body = () => new URLSearchParams(new FormData(form));
  const answers = await Promise.all([0, 1, 2, 3].map(() => fetch(form.action, {
    method: "POST", body: body(), credentials: "same-origin", redirect: "manual"
  })));
  return Promise.all(answers.map(async (a) => ({status: a.status, text: await a.text()})));
}"""


@pytest.mark.parametrize("first_session", ["unused", "expired"])
def test_one_start_page_submitted_five_times_starts_one_attempt(
    stack, api, scripted_phone, dwolla, published, age_attempt, first_session
):
    exchange = dwolla.seed_exchange("mx")["id"]
    request = create(api, stack, exchange)
    if first_session == "expired":  # the click must make a fresh Dwolla session: just one
        age_attempt(request["id"], request["attempts"][0]["id"])
    before = len(exchange_sessions(dwolla, exchange))
    tab = Tab.open(scripted_phone, stack)
    open_start_page(tab, request["startUrl"])

    answers = tab.page.evaluate(SUBMIT_FOUR_TIMES)
    assert [a["status"] for a in answers] == [200] * 4
    handed = {m for a in answers for m in re.findall(r"/_provider/([0-9a-f-]{36})", a["text"])}
    assert len(handed) == 1, handed  # every submission was handed the same bank session
    answer = tab.click(START_BUTTON)  # and the customer's own tap, the fifth
    assert answer.status == 200
    tab.at_bank()
    assert tab.heading == "Taking you to your bank…"
    assert urlsplit(bank_link(tab)).path.rsplit("/", 1)[1] in handed

    sessions = exchange_sessions(dwolla, exchange)
    assert before == 1  # the API's request made the first one
    assert len(sessions) == before + (first_session == "expired")
    started = [a for a in api.session(request["id"]).json()["attempts"] if a["startedAt"]]
    assert [a["state"] for a in started] == ["open"]
    assert started[0]["id"] in handed

    tab.leave_bank()
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == CONNECTED
    expected = ["reauthorized"] if first_session == "unused" else ["expired", "reauthorized"]
    assert attempt_states(api, request["id"]) == expected
    assert len(exchange_sessions(dwolla, exchange)) == len(sessions)
    assert kinds(events_once_quiet(published, CREATED, REAUTHORIZED)) == [CREATED, REAUTHORIZED]
    tab.check()

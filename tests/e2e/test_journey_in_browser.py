"""The customer's journey in a real browser: Debian's Chromium at a phone's size, against both
functions under `sam local start-api` (the e2e `stack`: moto server and the Dwolla sandbox).

Each test makes its request through the platform API, then acts only as a customer's browser
would: open the start link, click the page's button, let the bank do its thing (the sandbox's
MX page, which redirects back at once, or its Plaid Link stand-in, which finishes by itself) and
land on the result. It checks what the customer sees (heading, text, no CSP violation, no console
error but the ones a 4xx page logs) and what the platform sees (the request, its attempts, the
events published). Screenshots of the real pages go to docs/screenshots/journey-*.png.

To keep the customer on the way to the bank (a screenshot of the page that sends them there,
another tab acting meanwhile), each tab stops the "Taking you to your bank" page's automatic
navigation (aborted, as a slow phone that never got there: the page stays); the customer then
taps the page's own Continue link. That navigation reaches the sandbox's real bank page, and its
redirect back is not intercepted (Playwright does not route requests that follow a redirect), so
the callback and the result page are the browser's own. (A navigation held pending instead of
aborted blocks Playwright's reading of the page.)
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from local.stack import EXCHANGES, FUNDING_SOURCES
from tests.support.browser import (
    PageWatch,
    chromium_unavailable,
    launch_chromium,
    mobile_context,
    new_page,
    screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Response, Route

MX = EXCHANGES["mx"]
PLAID = EXCHANGES["plaid"]
PLATFORM = "Acme Pay"  # local.provision's PLATFORM_DISPLAY_NAME
TIMEOUT_MS = 60_000  # a cold `sam local` container takes a few seconds
START_BUTTON = "Continue to your bank"
RESULT_URL = re.compile(r"/reauth/done\?")

CREATED, FAILED, REAUTHORIZED = (
    "Reauth Session Created",
    "Reauth Attempt Failed",
    "Exchange Reauthorized",
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean")]


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, one per module (skips naming Chromium without it)."""
    why = chromium_unavailable()
    if why:
        pytest.skip(why)
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def phone(chromium) -> Iterator[BrowserContext]:
    """The customer's phone: a fresh context per test."""
    context = mobile_context(chromium)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


@dataclass
class Tab:
    """One tab of the customer's browser, watched. The to-bank page's automatic navigation to
    the bank is stopped; the customer taps Continue when the test says so."""

    page: Page
    seen: PageWatch
    sandbox_url: str
    holding: bool = True
    held: list[str] = field(default_factory=list)  # the bank URLs the page tried to open
    expected_errors: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, context: BrowserContext, stack) -> Tab:
        page, seen = new_page(context)
        tab = cls(page, seen, stack.sandbox_url)
        bank = f"{stack.sandbox_url}/_provider/"
        page.route(lambda url: url.startswith(bank), tab._to_bank)
        return tab

    def _to_bank(self, route: Route) -> None:
        if self.holding:
            self.held.append(route.request.url)
            route.abort("aborted")  # a cancelled navigation: the page stays as it is
        else:
            route.continue_()

    # ---- what the customer does ----
    def goto(self, url: str, status: int = 200) -> Response:
        self.held.clear()
        response = self.page.goto(url)
        assert response is not None and response.status == status, (url, response)
        if status >= 400:  # Chromium logs an error answer as a console error
            self.expected_errors.append(f"the server responded with a status of {status}")
        return response

    def click(self, name: str) -> Response:
        """Click the page's button; the answer to the form POST it sends."""
        self.held.clear()
        with self.page.expect_response(lambda r: r.request.method == "POST") as answer:
            self.page.get_by_role("button", name=name).click()
        response = answer.value
        self.page.wait_for_url(lambda url: url == response.url)  # the answer's page, loaded
        return response

    def at_bank(self) -> None:
        """Wait until the to-bank page has tried to open the bank (and stayed)."""
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not self.held:
            assert time.monotonic() < deadline, "the page never went to the bank"
            self.page.wait_for_timeout(50)

    def leave_bank(self) -> None:
        """The customer taps Continue and logs in at the bank: the sandbox's page answers with
        its redirect back, and the browser follows it to the callback and the result page."""
        self.at_bank()
        link = self.page.get_by_role("link", name="Continue")
        assert link.get_attribute("href") == self.held[-1]  # where the page had tried to go
        self.holding = False
        try:
            link.click()
            self.page.wait_for_url(RESULT_URL)
            self.page.wait_for_load_state()
        finally:
            self.holding = True
            self.held.clear()

    # ---- what the customer sees ----
    @property
    def heading(self) -> str:
        return self.page.locator("h1").inner_text()

    @property
    def text(self) -> str:
        return self.page.locator("main").inner_text()

    def check(self) -> None:
        """No CSP violation, no page error, no console error but the expected ones; the page is
        one of the service's (or the bank's, for a held tab)."""
        self.seen.assert_clean(ignore=tuple(self.expected_errors))
        if self.page.url.startswith(self.sandbox_url):
            return
        assert self.page.evaluate("document.documentElement.lang") == "en"
        assert self.page.title().endswith(f" · {PLATFORM}")
        assert self.page.locator("h1").count() == 1

    def shot(self, name: str) -> None:
        screenshot(self.page, f"journey-{name}")


# --- the platform ---------------------------------------------------------------------------


def create(api, stack, exchange_id: str, **body) -> dict:
    created = api.create(exchange_id, {"returnUrl": stack.return_url, **body})
    assert created.status_code == 201, created.text
    return created.json()


def attempt_states(api, request_id: str) -> list[str]:
    return [a["state"] for a in api.session(request_id).json()["attempts"]]


def kinds(events: list[dict]) -> list[str]:
    return [e["detail-type"] for e in events]


def events_once_quiet(published, *expected: str, timeout: float = 15, quiet: float = 1.0):
    """The events published so far, once `expected` (kinds, repeats counted) are all in and
    then nothing more came for `quiet` seconds (the outbox relay delivers them a moment
    after the request that made them)."""
    deadline = time.monotonic() + timeout
    seen = published()
    while not Counter(expected) <= Counter(kinds(seen)) and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = published()
    while True:
        time.sleep(quiet)
        more = published()
        if len(more) == len(seen):
            return more
        seen = more


def assert_events(published, *expected: str) -> list[dict]:
    """Exactly these events were published, in this order."""
    events = events_once_quiet(published, *expected)
    assert kinds(events) == list(expected)
    return events


def result_url(stack, request_id: str, status: str = "reauthorized") -> str:
    return f"{stack.return_url}?status={status}&session={request_id}"


def open_start_page(tab: Tab, start_url: str) -> None:
    tab.goto(start_url)
    assert tab.heading == "Reconnect your bank"
    assert tab.page.get_by_role("button", name=START_BUTTON).is_visible()


def go_to_bank(tab: Tab, request: dict) -> Response:
    """Open the link and click its button; the tab stops on the "Taking you to your bank" page
    (its way to the bank held)."""
    open_start_page(tab, request["startUrl"])
    answer = tab.click(START_BUTTON)
    assert answer.status == 200
    tab.at_bank()
    assert tab.heading == "Taking you to your bank…"
    return answer


def bank_link(tab: Tab) -> str:
    return tab.page.get_by_role("link", name="Continue").get_attribute("href")


# --- the journeys ---------------------------------------------------------------------------


def test_mx_customer_reauthorizes_through_the_bank(stack, api, phone, dwolla, published):
    request = create(api, stack, MX)
    tab = Tab.open(phone, stack)

    open_start_page(tab, request["startUrl"])
    assert "sign in on your bank's page" in tab.text
    # Opening the link changes nothing: the browser gets its binding token, naming no request.
    [cookie] = phone.cookies()
    assert cookie["name"] == "reauth_binding" and "." not in cookie["value"]
    tab.shot("start-mx")

    answer = tab.click(START_BUTTON)
    assert answer.status == 200
    tab.at_bank()
    assert tab.heading == "Taking you to your bank…"
    assert bank_link(tab) == request["handoff"]["url"]  # the Dwolla session's own bank page
    tab.shot("to-bank")
    [cookie] = phone.cookies()
    assert cookie["name"] == "reauth_binding"
    assert cookie["value"].endswith("." + request["id"].replace("-", ""))
    assert (cookie["path"], cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (
        "/reauth/",
        True,
        True,
        "Lax",
    )
    assert api.session(request["id"]).json()["attempts"][0]["startedAt"]

    tab.leave_bank()
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == "Your bank is connected again"
    assert f"Your bank connection for {PLATFORM} is working again" in tab.text
    tab.shot("result-reauthorized")

    seen = api.session(request["id"]).json()
    assert (seen["status"], seen["verification"]["result"]) == ("reauthorized", "confirmed")
    assert [a["state"] for a in seen["attempts"]] == ["reauthorized"]
    assert dwolla.exchange(MX)["reauthRequired"] is False
    events = assert_events(published, CREATED, REAUTHORIZED)
    assert events[1]["detail"]["sessionId"] == request["id"]

    # The link again, and the bank's redirect back again (a reload): "already done" and the
    # same result, and nobody is told twice.
    tab.goto(request["startUrl"])
    assert tab.heading == "Already done"
    assert tab.page.get_by_role("button").count() == 0
    back = tab.page.get_by_role("link", name=f"Back to {PLATFORM}")
    assert back.get_attribute("href") == stack.return_url  # the request's returnUrl, as given
    tab.shot("already-done")
    tab.goto(f"{stack.callback_url}?exchange={MX}")
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == "Your bank is connected again"
    assert kinds(events_once_quiet(published)) == [CREATED, REAUTHORIZED]
    tab.check()


def test_plaid_customer_reauthorizes_in_the_stand_in_link(stack, api, phone, published):
    request = create(api, stack, PLAID)
    assert request["handoff"]["type"] == "token"
    tab = Tab.open(phone, stack)
    finishing: list[Route] = []  # the stand-in bank's finish call, held for a screenshot
    tab.page.route(
        lambda url: url.endswith("/_plaid/link/finish"), lambda route: finishing.append(route)
    )

    open_start_page(tab, request["startUrl"])
    assert "secure Plaid window" in tab.text
    tab.shot("start-plaid")

    answer = tab.click(START_BUTTON)
    assert answer.status == 200
    assert tab.heading == "Log in to your bank"
    link = tab.page.locator("iframe")
    link.wait_for()  # Link's window over the page
    assert link.get_attribute("src").startswith(f"{stack.sandbox_url}/_plaid/link?token=")
    assert "link-sandbox-" in link.get_attribute("src")
    deadline = time.monotonic() + 30
    while not finishing:
        assert time.monotonic() < deadline, "the stand-in Link never finished"
        tab.page.wait_for_timeout(50)
    bank = tab.page.frame_locator("iframe")
    assert bank.locator("h1").inner_text() == "Sandbox bank"
    tab.shot("plaid-link-open")
    finishing[0].continue_()

    tab.page.wait_for_url(RESULT_URL)  # the page reported onSuccess and went where told
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == "Your bank is connected again"
    assert tab.page.locator("iframe").count() == 0

    seen = api.session(request["id"]).json()
    assert seen["status"] == "reauthorized"
    assert [a["state"] for a in seen["attempts"]] == ["reauthorized"]
    assert_events(published, CREATED, REAUTHORIZED)
    tab.check()


def test_plaid_oauth_bank_customer_leaves_and_comes_back_to_link(
    stack, api, phone, dwolla, published
):
    """An OAuth bank: Link takes the whole page to the bank's site; the bank sends the browser
    to PLAID_REDIRECT_URL, whose page re-opens Link on the same attempt, which then finishes."""
    exchange = dwolla.seed_exchange("plaid", plaidBank="oauth")
    request = create(api, stack, exchange["id"])
    tab = Tab.open(phone, stack)

    open_start_page(tab, request["startUrl"])
    tab.click(START_BUTTON)
    tab.page.wait_for_url(lambda url: url.startswith(f"{stack.sandbox_url}/_plaid/oauth-bank?"))
    assert tab.heading == "Sandbox OAuth bank"
    tab.shot("plaid-oauth-bank")
    tab.page.keyboard.press("Tab")  # the bank's one link, by keyboard
    with tab.page.expect_navigation(url=lambda url: url.startswith(stack.plaid_redirect_url)):
        tab.page.keyboard.press("Enter")

    tab.page.wait_for_url(RESULT_URL)  # Link re-opened with receivedRedirectUri and finished
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == "Your bank is connected again"

    seen = api.session(request["id"]).json()
    assert seen["status"] == "reauthorized"
    assert [a["state"] for a in seen["attempts"]] == ["reauthorized"]  # one Dwolla session
    assert [s["redirectUrl"] for s in dwolla.exchange_sessions()] == [stack.plaid_redirect_url]
    assert_events(published, CREATED, REAUTHORIZED)
    tab.check()


def test_cancelled_at_the_bank_then_try_again_succeeds(stack, api, phone, dwolla, published):
    exchange = dwolla.seed_exchange("mx", providerOutcome="USER_CANCELLED")
    request = create(api, stack, exchange["id"])
    tab = Tab.open(phone, stack)

    go_to_bank(tab, request)
    tab.leave_bank()  # the customer closes the bank's login
    assert tab.page.url.startswith(
        f"{stack.return_url}?status=attempt_failed&session={request['id']}"
        "&reason=USER_CANCELLED&recoverable=true"
    )
    assert tab.heading == "Your bank wasn't reconnected"
    assert "You closed your bank's login before finishing. Please try again." in tab.text
    tab.shot("result-cancelled")
    seen = api.session(request["id"]).json()
    assert seen["status"] == "pending"
    assert [(a["state"], a["reason"], a["recoverable"]) for a in seen["attempts"]] == [
        ("failed", "USER_CANCELLED", True)
    ]
    events = assert_events(published, CREATED, FAILED)
    assert (events[1]["detail"]["reason"], events[1]["detail"]["recoverable"]) == (
        "USER_CANCELLED",
        True,
    )

    # This time the customer logs in.
    same = {k: exchange[k] for k in ("id", "fundingSourceId", "customerId")}
    dwolla.seed_exchange("mx", **same, providerOutcome="success")
    answer = tab.click("Try again")  # no key: the binding cookie says which request
    assert answer.status == 200
    tab.at_bank()
    assert tab.heading == "Taking you to your bank…"
    second = api.session(request["id"]).json()["attempts"][1]
    assert bank_link(tab) != request["handoff"]["url"]  # a fresh Dwolla session
    assert second["id"] in bank_link(tab)
    tab.leave_bank()
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == "Your bank is connected again"

    assert api.session(request["id"]).json()["status"] == "reauthorized"
    assert attempt_states(api, request["id"]) == ["failed", "reauthorized"]
    assert_events(published, CREATED, FAILED, REAUTHORIZED)
    tab.check()


@pytest.fixture
def age_attempt(stack, aws):
    """Let time pass for one attempt: its Dwolla session's end `seconds` ago."""
    client = aws.client("dynamodb")

    def age(request_id: str, attempt_id: str, seconds: float = 60) -> None:
        client.update_item(
            TableName=stack.resources["table_name"],
            Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
            UpdateExpression="SET attempts.#a.expiresAt = :past",
            ConditionExpression="attribute_exists(attempts.#a)",
            ExpressionAttributeNames={"#a": attempt_id},
            ExpressionAttributeValues={":past": {"N": str(time.time() - seconds)}},
        )

    return age


def test_link_opened_after_its_first_session_expired_starts_a_fresh_one(
    stack, api, phone, dwolla, published, table, age_attempt
):
    request = create(api, stack, MX)
    first = request["attempts"][0]
    age_attempt(request["id"], first["id"])  # the customer opens the link the next day
    assert attempt_states(api, request["id"]) == ["expired"]
    tab = Tab.open(phone, stack)

    go_to_bank(tab, request)
    seen = api.session(request["id"]).json()
    assert [a["id"] for a in seen["attempts"]][:1] == [first["id"]]
    [_, second] = seen["attempts"]
    assert bank_link(tab) == seen["handoff"]["url"] != request["handoff"]["url"]
    assert second["id"] in bank_link(tab) and second["startedAt"]
    tab.leave_bank()
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == "Your bank is connected again"

    seen = api.session(request["id"]).json()
    assert seen["status"] == "reauthorized"
    assert [a["state"] for a in seen["attempts"]] == ["expired", "reauthorized"]
    assert seen["attempts"][0]["startedAt"] is None  # the expired session was never used
    used = {s["id"]: s["used"] for s in dwolla.exchange_sessions()}
    assert (used[first["id"]], used[second["id"]]) == (False, True)
    assert_events(published, CREATED, REAUTHORIZED)
    item = table(f"REQUEST#{request['id']}", "REQUEST")
    assert item["currentAttemptId"]["S"] == second["id"]
    tab.check()


def test_scanner_fetching_the_link_changes_nothing(
    stack, api, chromium, phone, dwolla, published, table
):
    request = create(api, stack, MX)
    start_url, request_id = request["startUrl"], request["id"]
    action_url = start_url.split("?", 1)[0]

    # A mail scanner's browser: opens the link and whatever it points to, never clicks.
    scanner = chromium.new_context()
    scanner.set_default_timeout(TIMEOUT_MS)
    try:
        page, seen = new_page(scanner)
        assert page.goto(start_url).status == 200
        assert page.locator("h1").inner_text() == "Reconnect your bank"
        targets = page.eval_on_selector_all(
            "a[href], form[action], link[href]",
            "els => els.map(e => e.href || e.action).filter(u => u.startsWith('http'))",
        )
        assert targets == [action_url]  # the button's form: a scanner may GET it anyway
        for target in targets:
            assert page.goto(target).status == 400  # no key: the one refusal page
        assert page.locator("h1").inner_text() == "This link can't be used"
        seen.assert_clean(ignore=("the server responded with a status of 400",))
        # Its binding token only: it names no request, and nothing was stored for it.
        assert [(c["name"], "." in c["value"]) for c in scanner.cookies()] == [
            ("reauth_binding", False)
        ]
    finally:
        scanner.close()

    # Plain HTTP: a HEAD, a GET following redirects, the form's URL.
    for method, url in (("HEAD", start_url), ("GET", start_url), ("GET", action_url)):
        answer = requests.request(method, url, allow_redirects=True, timeout=60)
        assert answer.status_code == (200 if url == start_url else 400), (method, url)
        assert not answer.history
        cookie = answer.headers.get("Set-Cookie", "")
        assert cookie == "" or (url == start_url and cookie.split(";")[0].count(".") == 0)

    seen = api.session(request_id).json()
    assert seen["status"] == "pending"
    [attempt] = seen["attempts"]
    assert (attempt["state"], attempt["startedAt"]) == ("open", None)
    stored = table(f"REQUEST#{request_id}", "REQUEST")["attempts"]["M"][attempt["id"]]["M"]
    assert not {"startedAt", "bindingHash"} & set(stored)
    assert [s["used"] for s in dwolla.exchange_sessions() if s["id"] == attempt["id"]] == [False]
    assert_events(published, CREATED)

    # The customer's click still works, on the very attempt the API made.
    tab = Tab.open(phone, stack)
    go_to_bank(tab, request)
    assert bank_link(tab) == request["handoff"]["url"]
    tab.leave_bank()
    assert tab.heading == "Your bank is connected again"
    assert [a["id"] for a in api.session(request_id).json()["attempts"]] == [attempt["id"]]
    assert attempt_states(api, request_id) == ["reauthorized"]
    assert_events(published, CREATED, REAUTHORIZED)
    tab.check()


def test_forged_success_without_a_bank_visit_is_not_reauthorized(
    stack, api, phone, dwolla, published
):
    request = create(api, stack, MX)
    tab = Tab.open(phone, stack)
    go_to_bank(tab, request)  # bound, but the bank never sees this customer

    tab.goto(f"{stack.callback_url}?exchange={MX}")  # typed in by hand
    assert tab.page.url.startswith(
        f"{stack.return_url}?status=attempt_failed&session={request['id']}&reason=NOT_REPAIRED"
    )
    assert tab.heading == "Your bank didn't confirm the login"
    assert "didn't confirm that you logged in. Please try again." in tab.text
    assert tab.page.get_by_role("button", name="Try again").is_visible()
    tab.shot("result-unverified")

    seen = api.session(request["id"]).json()
    assert (seen["status"], seen["verification"]["result"]) == ("pending", "not_repaired")
    assert [(a["state"], a["reason"], a["recoverable"]) for a in seen["attempts"]] == [
        ("unverified", "NOT_REPAIRED", True)
    ]
    assert dwolla.balance_error(FUNDING_SOURCES["mx"])["code"] == "UpdateCredentials"
    assert dwolla.exchange(MX)["reauthRequired"] is True
    events = assert_events(published, CREATED, FAILED)
    assert events[1]["detail"]["reason"] == "NOT_REPAIRED"

    # Trying again, through the bank this time, works.
    assert tab.click("Try again").status == 200
    tab.leave_bank()
    assert tab.page.url == result_url(stack, request["id"])
    assert attempt_states(api, request["id"]) == ["unverified", "reauthorized"]
    assert_events(published, CREATED, FAILED, REAUTHORIZED)
    tab.check()


@pytest.fixture
def other_site():
    """A page on another site (http://localhost:<port>, not 127.0.0.1) that sends its visitor
    to the URL given in its query: /go?to=<url>, by meta refresh and by a link."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            target = parse_qs(urlsplit(self.path).query).get("to", [""])[0]
            quoted = target.replace("&", "&amp;").replace('"', "&quot;")
            body = (
                '<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta http-equiv="refresh" content="0;url={quoted}">'
                '<link rel="icon" href="data:,"><title>Win a prize</title></head>'
                f'<body><a href="{quoted}">Claim your prize</a></body></html>'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_forged_cross_site_cancel_does_not_stop_the_real_login(
    stack, api, phone, published, other_site
):
    request = create(api, stack, MX)
    tab = Tab.open(phone, stack)
    go_to_bank(tab, request)  # the customer is at the bank, logging in

    # Meanwhile another site, open in a second tab, sends the browser to a forged cancel.
    forged = f"{stack.callback_url}?error=USER_CANCELLED"
    other = Tab.open(phone, stack)
    other.page.goto(f"{other_site}/go?{urlencode({'to': forged})}")
    other.page.wait_for_url(RESULT_URL)
    assert other.heading == "Your bank wasn't reconnected"
    assert [(a["state"], a["reason"]) for a in api.session(request["id"]).json()["attempts"]] == [
        ("failed", "USER_CANCELLED")
    ]

    tab.leave_bank()  # the real login, and the bank's redirect back
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == "Your bank is connected again"
    seen = api.session(request["id"]).json()
    assert seen["status"] == "reauthorized"
    assert [a["state"] for a in seen["attempts"]] == ["reauthorized"]
    assert_events(published, CREATED, FAILED, REAUTHORIZED)
    tab.check()
    other.check()


def test_two_tabs_two_exchanges_finished_in_the_opposite_order(
    stack, api, phone, dwolla, published
):
    second_exchange = dwolla.seed_exchange("mx")["id"]
    first = create(api, stack, MX)
    second = create(api, stack, second_exchange)
    tab_one, tab_two = Tab.open(phone, stack), Tab.open(phone, stack)

    go_to_bank(tab_one, first)
    go_to_bank(tab_two, second)
    [cookie] = [c for c in phone.cookies() if c["name"].startswith("reauth_")]  # one, bounded
    assert cookie["value"].split(".")[1:] == [r["id"].replace("-", "") for r in (second, first)]

    tab_two.leave_bank()
    assert tab_two.page.url == result_url(stack, second["id"])
    assert tab_two.heading == "Your bank is connected again"
    assert api.session(first["id"]).json()["status"] == "pending"

    tab_one.leave_bank()
    assert tab_one.page.url == result_url(stack, first["id"])
    assert tab_one.heading == "Your bank is connected again"

    for request in (first, second):
        assert attempt_states(api, request["id"]) == ["reauthorized"]
        assert api.session(request["id"]).json()["status"] == "reauthorized"
    events = events_once_quiet(published, CREATED, CREATED, REAUTHORIZED, REAUTHORIZED)
    assert sorted(kinds(events)) == sorted([CREATED, CREATED, REAUTHORIZED, REAUTHORIZED])
    reauthorized = [e["detail"] for e in events if e["detail-type"] == REAUTHORIZED]
    assert sorted((d["sessionId"], d["exchangeId"]) for d in reauthorized) == sorted(
        [(second["id"], second_exchange), (first["id"], MX)]
    )
    tab_one.check()
    tab_two.check()


def test_superseded_link_is_closed_and_a_wrong_key_refused(stack, api, phone, published):
    old = create(api, stack, MX)
    new = create(api, stack, MX)  # the platform asked again: the old link is done for
    tab = Tab.open(phone, stack)

    tab.goto(old["startUrl"], status=410)
    assert tab.heading == "This link has expired"
    assert f"Please ask {PLATFORM} for a new link." in tab.text
    assert tab.page.get_by_role("button").count() == 0
    tab.shot("closed")

    key = new["startUrl"].split("key=", 1)[1]
    wrong = new["startUrl"].replace(key, key[::-1])
    tab.goto(wrong, status=400)
    assert tab.heading == "This link can't be used"
    assert f"Please start again from {PLATFORM}." in tab.text
    tab.shot("refused")

    assert api.session(old["id"]).json()["status"] == "superseded"
    assert api.session(new["id"]).json()["attempts"][0]["startedAt"] is None
    assert phone.cookies() == []
    assert_events(published, CREATED, CREATED)
    tab.check()

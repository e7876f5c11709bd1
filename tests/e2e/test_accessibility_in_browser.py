"""Accessibility, measured: axe-core in a real Chromium on every page the customer can meet.

1. Every page of reauth.pages (one table, PAGES, below), in every language the service speaks,
   at 320 px (the narrowest phone WCAG's reflow criterion names) and 1280 px wide: axe-core
   (WCAG 2.0/2.1 A and AA, and best practices) reports no violation. Each page is served by the
   throwaway server of test_pages_in_browser.py with the CSP header the service sends, and axe
   is evaluated into it without loosening that CSP (tests/support/axe.py says how). The same
   pages at a phone's size are saved as docs/screenshots/<page>.png (English) and
   <page>.es.png (Spanish).
2. Keyboard only, through the real stack (SAM CLI in Docker, the Dwolla sandbox): a redirect
   (MX) customer (cancelled once, then Try again) and a Plaid customer (in Spanish) go from the
   start link to the result with Tab, Enter and Space alone (no mouse, no element.click(): a
   pointer event on the page fails the test), and axe checks each of the service's pages met
   on the way. The sandbox's bank pages stand in for the partner and are not checked by axe;
   they ask nothing of the customer (the MX page redirects back at once, the Plaid Link stand-in
   finishes by itself), so a keyboard user gets through them as anyone else.

To add a page (a new variant another change brings), add one line to PAGES: a name and a
function of (site, locale) giving the `Page`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from reauth import pages
from reauth.pages import Page
from reauth.words import LANGUAGES
from tests.e2e.test_journey_in_browser import (  # noqa: F401 (the `chromium` fixture)
    PLAID,
    RESULT_URL,
    TIMEOUT_MS,
    Tab,
    attempt_states,
    chromium,
    create,
    result_url,
)
from tests.e2e.test_pages_in_browser import (  # noqa: F401 (the `site` fixture)
    CSRF,
    KEY,
    LINK,
    PLATFORM,
    RENDER,
    TOKEN,
    Site,
    site,
)
from tests.support.axe import assert_accessible, axe_unavailable, axe_violations, describe
from tests.support.browser import focus_indicator, mobile_context, new_page, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Route

Factory = Callable[[Site, str], Page]


def _result(outcome: str, reason: str | None = None, *, retry=False, back=False) -> Factory:
    return lambda served, locale: pages.result_page(
        platform=PLATFORM,
        outcome=outcome,
        reason=reason,
        retry_action=LINK if retry else None,
        return_url=f"{served.base}/app/settings?tab=bank" if back else None,
        locale=locale,
    )


def _start(handoff: str) -> Factory:
    return lambda served, locale: pages.start_page(
        platform=PLATFORM, action_url=LINK, key=KEY, render=RENDER, handoff=handoff, locale=locale
    )


def _plaid(received_redirect_uri: str | None = None) -> Factory:
    return lambda served, locale: pages.plaid_page(
        platform=PLATFORM,
        script_url=f"{served.base}/static/link-initialize.js?mode=idle",
        token=TOKEN,
        complete_url=f"{LINK}/complete",
        csrf=CSRF,
        received_redirect_uri=received_redirect_uri,
        locale=locale,
    )


def _error(kind: str) -> Factory:
    return lambda served, locale: pages.error_page(platform=PLATFORM, kind=kind, locale=locale)


def _closed(reason: str) -> Factory:
    return lambda served, locale: pages.closed_link_page(
        platform=PLATFORM, reason=reason, renew_action=f"{LINK}/renew", key=KEY, locale=locale
    )


def _requested(*, self_service: bool, already: bool = False) -> Factory:
    return lambda served, locale: pages.link_requested_page(
        platform=PLATFORM, self_service=self_service, already=already, locale=locale
    )


# Every page a customer can meet: name (its screenshot's name) → how to make it.
PAGES: dict[str, Factory] = {
    "start-redirect": _start("redirect"),
    "start-plaid": _start("token"),
    # opened inside an app's browser (Android: the intent link too)
    "start-in-app-android": lambda served, locale: pages.start_page(
        platform=PLATFORM,
        action_url=LINK,
        key=KEY,
        render=RENDER,
        handoff="redirect",
        in_app_link=f"https://pay.acme.example{LINK}?key={KEY}",  # the same in every screenshot
        android=True,
        locale=locale,
    ),
    # its refresh goes to /bank/authorize, which the site answers 204: the page stays
    "to-bank": lambda served, locale: pages.to_bank_page(
        platform=PLATFORM, bank_url=f"{served.base}/bank/authorize?exchange=e1", locale=locale
    ),
    # Link "open" (the stand-in opens nothing): the status line and "Open again" showing
    "plaid": _plaid(),
    # back from an OAuth bank: Link re-opened with receivedRedirectUri (same markup and words)
    "plaid-oauth-return": _plaid(
        received_redirect_uri="https://pay.acme.example/reauth/plaid-oauth?oauth_state_id=s1"
    ),
    "result-reauthorized": _result("reauthorized", back=True),
    "result-reauthorized-elsewhere": _result("reauthorized_elsewhere", back=True),
    "result-already-done": _result("already_done", back=True),
    # following the request (its first check waits 3 s: axe sees "Checking with your bank…")
    "result-verifying": lambda served, locale: pages.result_page(
        platform=PLATFORM,
        outcome="verifying",
        status_url=f"{LINK}/status",
        check_url="/verifying",
        locale=locale,
    ),
    "result-unverified": _result("unverified", retry=True, back=True),
    "result-failed-user-cancelled": _result("failed", "USER_CANCELLED", retry=True),
    "result-failed-temporary-error": _result("failed", "TEMPORARY_ERROR", retry=True, back=True),
    "result-failed-authentication-error": _result("failed", "AUTHENTICATION_ERROR", back=True),
    "result-closed": _result("closed"),
    "result-cancelled": _result("cancelled"),
    **{f"error-{kind.replace('_', '-')}": _error(kind) for kind in pages.ERROR_KINDS},
    "closed-expired": _closed("expired"),
    "closed-cancelled": _closed("cancelled"),
    "link-requested": _requested(self_service=False),
    "link-requested-self-service": _requested(self_service=True),
    "link-requested-already": _requested(self_service=True, already=True),
}

# Error pages (4xx, 503) are logged by Chromium as a console error: expected.
ERROR_STATUS = "Failed to load resource: the server responded with a status of "
WIDTHS = {320: {"width": 320, "height": 640}, 1280: {"width": 1280, "height": 800}}
# (width, colour scheme). The dark scheme passes too (checked once: 0 violations at 320 px);
# add (320, "dark") here to check it every run (~10 s more).
LOOKS = [(320, "light"), (1280, "light")]


@pytest.fixture(scope="module")
def axe_ready() -> None:
    why = axe_unavailable()
    if why:
        pytest.skip(why)


def _context(chromium, width: int, scheme: str = "light") -> BrowserContext:  # noqa: F811
    if width == 1280:
        return chromium.new_context(viewport=WIDTHS[width], color_scheme=scheme)
    return mobile_context(chromium, viewport=WIDTHS[width], color_scheme=scheme)


def _serve(served: Site) -> Iterator[tuple[str, str, str]]:
    """(name, locale, path) of every page in every language, each served by `served`."""
    served.routes[("GET", "/bank/authorize")] = lambda _: (204, {}, b"")
    for name, make in PAGES.items():
        for locale in LANGUAGES:
            path = f"/{locale}/{name}"
            served.page(path, make(served, locale))
            yield name, locale, path


# --- 1. every page, every language, narrow and wide ------------------------------------------


@pytest.mark.usefixtures("axe_ready")
@pytest.mark.parametrize(("width", "scheme"), LOOKS, ids=[f"{w}px-{s}" for w, s in LOOKS])
def test_every_page_in_every_language_has_no_axe_violation(chromium, site, width, scheme):  # noqa: F811
    context = _context(chromium, width, scheme)
    started = time.monotonic()
    found: dict[tuple[str, str], list] = {}
    try:
        page, seen = new_page(context)
        for name, locale, path in _serve(site):
            page.goto(site.base + path)
            assert page.evaluate("document.documentElement.lang") == locale
            found[(name, locale)] = axe_violations(page)
        seen.assert_clean(ignore=(ERROR_STATUS,))
    finally:
        context.close()
    took = time.monotonic() - started
    print(f"\naxe at {width} px, {scheme}: {len(found)} pages in {took:.1f} s")
    for (name, locale), violations in found.items():
        print(f"  {name:36} {locale}  {len(violations)} violation(s)")
    failures = {where: v for where, v in found.items() if v}
    assert not failures, "\n".join(
        f"--- {name} ({locale}, {width} px, {scheme})\n{describe(v)}"
        for (name, locale), v in failures.items()
    )


@pytest.mark.usefixtures("axe_ready")
def test_the_checker_sees_what_a_careless_page_gets_wrong(chromium, site):  # noqa: F811
    """The check above can fail: the start page with its `lang` gone, its button emptied and an
    image without `alt` gets those three rules from axe, under the same CSP."""
    real = _start("redirect")(site, "en")
    broken = (
        real.html.replace('<html lang="en">', "<html>")
        .replace("Continue to your bank</button>", "</button>")
        .replace("<h1>", '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="9"><h1>')
    )
    site.page("/careless", Page(real.status, broken, real.csp))
    context = _context(chromium, 320, "light")
    try:
        page, _ = new_page(context)
        page.goto(site.base + "/careless")
        rules = {violation.rule for violation in axe_violations(page)}
    finally:
        context.close()
    assert {"html-has-lang", "button-name", "image-alt"} <= rules


def test_every_page_in_every_language_at_a_phones_size(chromium, site):  # noqa: F811
    """The screenshots: docs/screenshots/<page>.png in English, <page>.<lang>.png otherwise;
    each fits the phone's width (no sideways scrolling)."""
    context = mobile_context(chromium)
    try:
        page, seen = new_page(context)
        for name, locale, path in _serve(site):
            page.goto(site.base + path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
                name,
                locale,
            )
            screenshot(page, name if locale == "en" else f"{name}.{locale}")
        seen.assert_clean(ignore=(ERROR_STATUS,))
    finally:
        context.close()


# --- 2. keyboard only, through the real stack ------------------------------------------------


def _keyboard_tab(context: BrowserContext, stack) -> Tab:
    """A journey tab (its way to the bank held until the customer acts) that must never be
    clicked: any mouse use fails the test."""
    tab = Tab.open(context, stack)
    tab.page.add_init_script(_NO_POINTER)
    return tab


# Any pointer event reaching the page means a click (a keyboard's Enter/Space on a button gives
# a `click` with detail 0 but no pointerdown/mousedown): recorded, and checked by `no_pointer`.
_NO_POINTER = """
window.__pointer = [];
for (const kind of ["pointerdown", "mousedown", "touchstart"]) {
  window.addEventListener(kind, (e) => window.__pointer.push(kind), true);
}
"""


def no_pointer(tab: Tab) -> None:
    assert tab.page.evaluate("window.__pointer") == []


def tab_to(tab: Tab, name: str, *, limit: int = 8) -> None:
    """Press Tab (from the top of the page) until `name` has the focus, which must show."""
    page = tab.page
    page.evaluate("document.activeElement && document.activeElement.blur()")
    passed: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        ring = focus_indicator(page)
        text = " ".join(ring["text"].split())
        if text == name:
            assert ring["focusVisible"], ring
            assert ring["outlineStyle"] not in ("none", "hidden") and ring["outlineWidth"] >= 2
            return
        passed.append(text)
    pytest.fail(f"Tab never reached {name!r} (reached {passed})")


def press_and_land(tab: Tab, key: str, url: re.Pattern[str] | str) -> None:
    """Press `key` on the focused control and wait for the page it leads to."""
    tab.page.keyboard.press(key)
    tab.page.wait_for_url(url)
    tab.page.wait_for_load_state()


def service_page_is_accessible(tab: Tab, where: str) -> None:
    tab.seen.assert_clean(ignore=tuple(tab.expected_errors))
    assert_accessible(tab.page, where)


def through_the_bank_by_keyboard(tab: Tab, go: str) -> None:
    """On the "Taking you to your bank" page (its automatic navigation held): axe, then Tab to
    Continue and Enter; the sandbox's bank page sends the browser back to the result page."""
    tab.at_bank()
    service_page_is_accessible(tab, "the to-bank page")
    tab_to(tab, go)
    tab.holding = False
    try:
        press_and_land(tab, "Enter", RESULT_URL)
    finally:
        tab.holding = True
        tab.held.clear()


@pytest.fixture
def keyboard_phone(chromium) -> Iterator[BrowserContext]:  # noqa: F811
    context = mobile_context(chromium, has_touch=False)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.mark.e2e
@pytest.mark.usefixtures("clean", "axe_ready")
def test_mx_customer_finishes_by_keyboard_alone_after_a_cancelled_try(
    stack, api, keyboard_phone, dwolla
):
    exchange = dwolla.seed_exchange("mx", providerOutcome="USER_CANCELLED")
    request = create(api, stack, exchange["id"])
    tab = _keyboard_tab(keyboard_phone, stack)

    tab.goto(request["startUrl"])  # the link, opened from the customer's mail or messages
    service_page_is_accessible(tab, "the start page")
    tab_to(tab, "Continue to your bank")
    tab.page.keyboard.press("Enter")
    through_the_bank_by_keyboard(tab, "Continue")
    assert tab.heading == "Your bank wasn't reconnected"  # closed the bank's login
    service_page_is_accessible(tab, "the result page (cancelled)")

    same = {k: exchange[k] for k in ("id", "fundingSourceId", "customerId")}
    dwolla.seed_exchange("mx", **same, providerOutcome="success")
    tab_to(tab, "Try again")
    tab.page.keyboard.press("Space")
    through_the_bank_by_keyboard(tab, "Continue")
    assert tab.page.url == result_url(stack, request["id"])
    assert tab.heading == "Your bank is connected again"
    service_page_is_accessible(tab, "the result page (reauthorized)")
    assert attempt_states(api, request["id"]) == ["failed", "reauthorized"]
    no_pointer(tab)


@pytest.mark.e2e
@pytest.mark.usefixtures("clean", "axe_ready")
def test_plaid_customer_finishes_by_keyboard_alone_in_spanish(stack, api, chromium):  # noqa: F811
    request = create(api, stack, PLAID)
    context = mobile_context(chromium, has_touch=False, locale="es-MX")  # Accept-Language: es
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        tab = _keyboard_tab(context, stack)
        finishing: list[Route] = []  # the stand-in's finish call, held while axe runs
        tab.page.route(
            lambda url: url.endswith("/_plaid/link/finish"), lambda r: finishing.append(r)
        )

        tab.goto(request["startUrl"])
        assert tab.page.evaluate("document.documentElement.lang") == "es"
        service_page_is_accessible(tab, "the start page (es)")
        tab_to(tab, "Continuar a tu banco")
        tab.page.keyboard.press("Space")
        tab.page.locator("iframe").wait_for()  # Plaid Link over the page
        deadline = time.monotonic() + 30
        while not finishing:
            assert time.monotonic() < deadline, "the stand-in Link never finished"
            tab.page.wait_for_timeout(50)
        assert tab.heading == "Inicia sesión en tu banco"
        service_page_is_accessible(tab, "the Plaid page (es), Link open")
        finishing[0].continue_()  # Link reports success; the page goes where it is told
        tab.page.wait_for_url(RESULT_URL)
        tab.page.wait_for_load_state()
        assert tab.page.url == result_url(stack, request["id"])
        assert tab.heading == "Tu banco está conectado de nuevo"
        service_page_is_accessible(tab, "the result page (es)")
        assert api.session(request["id"]).json()["status"] == "reauthorized"
        no_pointer(tab)
    finally:
        context.close()

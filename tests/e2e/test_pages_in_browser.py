"""The customer-facing pages (reauth.pages) in a real Chromium, at a phone's size.

Each page is served from a throwaway http.server on 127.0.0.1 with its own CSP header (as the
service sends it) and opened in Debian's Chromium through Playwright. Every page must run without
a CSP violation or console error, load nothing from elsewhere, fit a phone's width, reach every
control by keyboard with a visible focus ring, and keep text at WCAG AA contrast (4.5:1) in the
light and dark schemes. Screenshots of states only these tests reach (focus, dark, a long name,
a wide screen, the Plaid page's failures, the verifying page's two states) land in
docs/screenshots/; each page in each language is test_accessibility_in_browser's to take.

The Plaid page runs against a stand-in link-initialize.js (same API as Plaid's) served by the
throwaway server, which also answers the page's report with `{"location": "/done"}`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from reauth import pages
from reauth.pages import Page
from tests.support.browser import (
    PageWatch,
    contrast_ratio,
    focus_indicator,
    mobile_context,
    new_page,
    parse_colour,
    screenshot,
    text_contrast,
)
from tests.support.browser_fixtures import browser, phone  # noqa: F401

PLATFORM = "Acme Pay"
LINK = "/v1/reauth/link/0b7e2f52-5d0c-4c4e-9a39-0d6f8d8f1c11"
KEY = "Zk3p0y1Qm9S8bQ2lKc4rV7wXyA1dE5fG6hJ8kL0nM2o"
RENDER = "Yq7wT2mZ9xK4bN1cV6sD3fG8hJ0kL5pR2tU7vW9xA1c"
CSRF = "q7W-9zX_2vB4nM6kL8jH0gF1dS3aP5oI7uY9tR1eW3q"
TOKEN = "link-sandbox-7c1f</script><b>x</b>&amp;"
AA = 4.5
FOCUSABLE = "a[href]:visible, button:visible, input:not([type=hidden]):visible"

# Plaid's Link API, scripted: ?mode= says how "Link" ends once opened.
FAKE_LINK_JS = """
(function () {
  var mode = new URL(document.currentScript.src).searchParams.get("mode") || "success";
  window.Plaid = {
    create: function (cfg) {
      window.__plaid = {token: cfg.token, opened: 0};
      return {
        open: function () {
          window.__plaid.opened += 1;
          if (mode === "success") { cfg.onSuccess("public-x", {}); }
          if (mode === "cancel") { cfg.onExit(null, {status: "requires_credentials"}); }
          if (mode === "item") {
            cfg.onExit({error_type: "ITEM_ERROR", error_code: "INVALID_CREDENTIALS"}, {});
          }
          if (mode === "api") {
            cfg.onExit({error_type: "API_ERROR", error_code: "INTERNAL_SERVER_ERROR"}, {});
          }
        },
        exit: function () {},
        destroy: function () {}
      };
    }
  };
})();
"""


# --- the throwaway server ---------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Site:
    """Routes (method, path without query) → a function of the request giving an answer."""

    base: str = ""
    routes: dict[tuple[str, str], Callable[[Seen], Answer]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)

    def page(self, path: str, page: Page, method: str = "GET", headers=None) -> str:
        self.routes[(method, path)] = lambda _: html_answer(page, headers)
        return self.base + path

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and urlsplit(r.path).path == path]


def html_answer(page: Page, headers: dict | None = None) -> Answer:
    return (
        page.status,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": page.csp,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        },
        page.html.encode(),
    )


def json_answer(status: int, body: dict) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.fixture
def site():
    the_site = Site()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Seen(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            the_site.requests.append(request)
            route = the_site.routes.get((self.command, urlsplit(self.path).path))
            status, headers, body = route(request) if route else (404, {}, b"not found")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status not in (204, 304):
                self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    the_site.base = f"http://127.0.0.1:{server.server_port}"
    the_site.routes[("GET", "/static/link-initialize.js")] = lambda _: (
        200,
        {"Content-Type": "text/javascript; charset=utf-8"},
        FAKE_LINK_JS.encode(),
    )
    the_site.page("/done", pages.result_page(platform=PLATFORM, outcome="reauthorized"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield the_site
    server.shutdown()
    server.server_close()


# --- a tab and what it must satisfy -----------------------------------------------------------


@dataclass
class Tab:
    page: object
    seen: PageWatch
    site: Site
    requested: list[str]
    expected_errors: list[str] = field(default_factory=list)

    def open(self, path: str, status: int = 200):
        response = self.page.goto(self.site.base + path)
        assert response.status == status
        if status >= 400:  # Chromium logs an error answer as a console error
            self.expect_error(f"the server responded with a status of {status}")
        return response

    def expect_error(self, text: str) -> None:
        """A console error that is part of the test (`text` is a part of it)."""
        self.expected_errors.append(text)

    def check(self) -> None:
        """Everything every page must satisfy, as rendered now."""
        page = self.page
        self.seen.assert_clean(ignore=tuple(self.expected_errors))
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.title().endswith(" · " + PLATFORM)
        assert page.locator("main").count() == 1
        assert page.locator("h1").count() == 1
        # nothing from elsewhere
        outside = [u for u in self.requested if not u.startswith((self.site.base, "data:"))]
        assert not outside, outside
        # a phone's width: no sideways scrolling
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # contrast of the text, and of the buttons' labels
        for locator in [page.locator("h1"), *page.locator("main p:visible").all()]:
            ratio = text_contrast(locator)
            assert ratio >= AA, f"{locator.inner_text()!r}: {ratio:.2f}"
        for button in page.locator(".button:visible").all():
            ratio = text_contrast(button)
            assert ratio >= AA, f"{button.inner_text()!r}: {ratio:.2f}"
            box = button.bounding_box()
            assert box["height"] >= 44
            assert box["width"] >= 44
        self.check_keyboard()

    def check_keyboard(self) -> None:
        """Tab reaches every control in order, each with a visible focus ring (3:1 against
        the card)."""
        page = self.page
        expected = [" ".join(t.split()) for t in page.locator(FOCUSABLE).all_inner_texts()]
        card = parse_colour(
            page.locator(".card").evaluate("e => getComputedStyle(e).backgroundColor")
        )
        page.evaluate("document.activeElement && document.activeElement.blur()")
        reached = []
        for _ in expected:
            page.keyboard.press("Tab")
            ring = focus_indicator(page)
            reached.append(" ".join(ring["text"].split()))
            assert ring["focusVisible"], ring
            assert ring["outlineStyle"] not in ("none", "hidden"), ring
            assert ring["outlineWidth"] >= 2, ring
            assert contrast_ratio(parse_colour(ring["outlineColor"]), card) >= 3, ring
        assert reached == expected
        page.evaluate("document.activeElement && document.activeElement.blur()")


def open_tab(context, site: Site) -> Tab:
    page, seen = new_page(context)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    return Tab(page, seen, site, requested)


@pytest.fixture
def tab(phone, site) -> Tab:  # noqa: F811
    return open_tab(phone, site)


def plaid_page(site: Site, mode: str, script: str = "/static/link-initialize.js") -> Page:
    return pages.plaid_page(
        platform=PLATFORM,
        script_url=f"{site.base}{script}?mode={mode}",
        token=TOKEN,
        complete_url=f"{LINK}/complete",
        csrf=CSRF,
    )


# --- the start page and the redirect hand-off -------------------------------------------------


def test_start_page_posts_its_key_and_the_to_bank_page_takes_the_browser_to_the_bank(tab, site):
    site.page(
        LINK,
        pages.start_page(
            platform=PLATFORM, action_url=LINK, key=KEY, render=RENDER, handoff="redirect"
        ),
    )
    bank = f"{site.base}/bank/authorize?exchange=e1&state=a%2Fb&lang=en"
    site.page(LINK, pages.to_bank_page(platform=PLATFORM, bank_url=bank), method="POST")
    site.routes[("GET", "/bank/authorize")] = lambda _: (204, {}, b"")  # the page stays

    tab.open(f"{LINK}?key={KEY}")
    tab.check()
    assert tab.page.locator("main p:visible").nth(1).inner_text() == (
        f"{PLATFORM} needs you to log in to your bank again to keep your account connected. "
        "You'll sign in on your bank's page. It takes about a minute."
    )
    tab.page.get_by_role("button", name="Continue to your bank").focus()  # after keyboard use
    assert focus_indicator(tab.page)["focusVisible"]
    screenshot(tab.page, "start-redirect-focused")

    with tab.page.expect_request(lambda r: "/bank/authorize" in r.url) as to_bank:
        tab.page.get_by_role("button", name="Continue to your bank").click()
    assert to_bank.value.url == bank  # the refresh URL survived its escaping intact
    (post,) = site.seen("POST", LINK)
    assert parse_qs(post.body.decode()) == {"key": [KEY], "render": [RENDER]}
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert post.headers["origin"] == site.base
    assert post.headers.get("sec-fetch-site") == "same-origin"

    tab.page.wait_for_load_state()
    assert tab.page.locator("h1").inner_text() == "Taking you to your bank…"
    assert tab.page.get_by_role("link", name="Continue").get_attribute("href") == bank
    tab.check()


def test_start_page_for_a_plaid_partner(tab, site):
    site.page(
        LINK,
        pages.start_page(
            platform=PLATFORM, action_url=LINK, key=KEY, render=RENDER, handoff="token"
        ),
    )
    tab.open(LINK)
    tab.check()
    assert "in a secure Plaid window" in tab.page.locator("main p").nth(1).inner_text()


# --- the start page inside another app (reauth.inapp) -------------------------------------------


def in_app_start(site: Site, *, locale: str | None = None, android: bool = False) -> Page:
    return pages.start_page(
        platform=PLATFORM,
        action_url=LINK,
        key=KEY,
        render=RENDER,
        handoff="redirect",
        locale=locale,
        in_app_link=f"{site.base}{LINK}?key={KEY}",
        android=android,
    )


def test_inside_an_app_copy_link_copies_the_link_and_continuing_posts_the_key(browser, site):  # noqa: F811
    context = mobile_context(browser, permissions=["clipboard-read", "clipboard-write"])
    try:
        site.page(LINK, in_app_start(site))
        site.page(LINK, pages.to_bank_page(platform=PLATFORM, bank_url=f"{site.base}/bank"),
                  method="POST")  # fmt: skip
        site.routes[("GET", "/bank")] = lambda _: (204, {}, b"")  # the page stays
        tab = open_tab(context, site)
        tab.open(f"{LINK}?key={KEY}")
        tab.check()
        assert tab.page.locator("h1").inner_text() == "Open this page in your browser"
        assert not tab.page.locator("a[href^='intent:']").count()  # not an Android phone

        tab.page.get_by_role("button", name="Copy link").click()
        expect_status = "Link copied. Now open your browser and paste it into the address bar."
        tab.page.get_by_role("status").filter(has_text=expect_status).wait_for()
        assert tab.page.evaluate("navigator.clipboard.readText()") == f"{site.base}{LINK}?key={KEY}"
        tab.seen.assert_clean()

        tab.page.keyboard.press("Tab")  # from the copy button to "Continue here anyway"
        with tab.page.expect_request(lambda r: r.url == f"{site.base}/bank"):
            tab.page.keyboard.press("Enter")
        (post,) = site.seen("POST", LINK)
        assert parse_qs(post.body.decode()) == {"key": [KEY], "render": [RENDER]}
        assert post.headers.get("sec-fetch-site") == "same-origin"
    finally:
        context.close()


def test_inside_an_app_on_android_in_spanish_without_a_clipboard_api_the_link_is_selected(
    tab, site
):
    site.page(LINK, in_app_start(site, locale="es", android=True))
    tab.page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    tab.open(LINK)
    tab.seen.assert_clean()
    assert tab.page.evaluate("document.documentElement.lang") == "es"
    intent = tab.page.get_by_role("link", name="Abrir en mi navegador").get_attribute("href")
    assert intent == (
        f"intent://{site.base.split('://')[1]}{LINK}?key={KEY}"
        "#Intent;scheme=http;action=android.intent.action.VIEW;end"
    )
    assert tab.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.check_keyboard()

    tab.page.get_by_role("button", name="Copiar enlace").click()
    said = tab.page.get_by_role("status").inner_text()
    assert said in (
        "Enlace copiado. Ahora abre tu navegador y pégalo en la barra de direcciones.",
        "El enlace está seleccionado. Cópialo y pégalo en tu navegador.",
    )
    selected = "[document.activeElement.id, document.activeElement.selectionEnd]"
    assert tab.page.evaluate(selected) == ["page-link", len(f"{site.base}{LINK}?key={KEY}")]
    tab.seen.assert_clean()


# --- the Plaid page ---------------------------------------------------------------------------


def test_plaid_page_reports_success_with_its_csrf_header_and_goes_where_it_is_told(tab, site):
    cookie = "reauth_0b7e2f525d0c4c4e9a390d6f8d8f1c11=a1.t0k3n"
    site.page(
        "/plaid",
        plaid_page(site, "success"),
        headers={"Set-Cookie": f"{cookie}; Path=/; HttpOnly; Secure; SameSite=Lax"},
    )
    site.routes[("POST", f"{LINK}/complete")] = lambda _: json_answer(200, {"location": "/done"})

    tab.open("/plaid")
    tab.page.wait_for_url(f"{site.base}/done")
    (report,) = site.seen("POST", f"{LINK}/complete")
    assert json.loads(report.body) == {"outcome": "success"}
    assert report.headers["x-reauth-csrf"] == CSRF
    assert report.headers["content-type"] == "application/json"
    assert report.headers["origin"] == site.base
    assert report.headers["cookie"] == cookie  # credentials: same-origin, Secure on 127.0.0.1
    assert tab.page.locator("h1").inner_text() == "Your bank is connected again"
    tab.check()
    # it replaced the Plaid page in the history (about:blank, then /plaid → /done): Back does
    # not land on the Plaid page again
    assert tab.page.evaluate("history.length") == 2


@pytest.mark.parametrize(
    ("mode", "error"),
    [("cancel", "USER_CANCELLED"), ("item", "AUTHENTICATION_ERROR"), ("api", "TEMPORARY_ERROR")],
)
def test_plaid_page_reports_how_link_was_exited(tab, site, mode, error):
    site.page("/plaid", plaid_page(site, mode))
    site.page(
        "/failed",
        pages.result_page(platform=PLATFORM, outcome="failed", reason=error, retry_action=LINK),
    )
    site.routes[("POST", f"{LINK}/complete")] = lambda _: json_answer(200, {"location": "/failed"})

    tab.open("/plaid")
    tab.page.wait_for_url(f"{site.base}/failed")
    (report,) = site.seen("POST", f"{LINK}/complete")
    assert json.loads(report.body) == {"outcome": "error", "error": error}
    assert report.headers["x-reauth-csrf"] == CSRF
    tab.check()


def test_plaid_page_while_link_is_open_offers_to_open_it_again(tab, site):
    site.page("/plaid", plaid_page(site, "idle"))
    tab.open("/plaid")
    status = tab.page.locator("#status")
    assert status.inner_text() == (
        "The secure window is open. If you don't see it, tap the button below."
    )
    assert status.get_attribute("aria-live") == "polite"
    assert tab.page.evaluate("window.__plaid") == {"token": TOKEN, "opened": 1}
    tab.check()
    tab.page.get_by_role("button", name="Open the secure window again").click()
    assert tab.page.evaluate("window.__plaid.opened") == 2
    assert not site.seen("POST", f"{LINK}/complete")


def test_plaid_page_when_the_report_fails_says_so_and_can_send_it_again(tab, site):
    site.page("/plaid", plaid_page(site, "success"))
    answers = iter([(503, {"Content-Type": "text/plain"}, b"busy")])
    site.routes[("POST", f"{LINK}/complete")] = lambda _: next(
        answers, json_answer(200, {"location": "/done"})
    )

    tab.open("/plaid")
    retry = tab.page.get_by_role("button", name="Try again")
    retry.wait_for()
    assert "We couldn't reach our service to finish." in tab.page.locator("#status").inner_text()
    assert "reload this page" in tab.page.locator("#status").inner_text()
    assert not tab.page.get_by_role("button", name="Open the secure window again").is_visible()
    tab.expect_error("the server responded with a status of 503")  # the report's answer
    tab.check()
    screenshot(tab.page, "plaid-report-failed")

    retry.click()
    tab.page.wait_for_url(f"{site.base}/done")
    bodies = [json.loads(r.body) for r in site.seen("POST", f"{LINK}/complete")]
    assert bodies == [{"outcome": "success"}, {"outcome": "success"}]


def test_plaid_page_without_plaids_script_says_to_reload(tab, site):
    site.page("/plaid", plaid_page(site, "success", script="/static/missing.js"))
    tab.open("/plaid")
    status = tab.page.locator("#status")
    assert status.inner_text() == (
        "The secure window couldn't be loaded. Check your connection, then reload this page."
    )
    tab.expect_error("the server responded with a status of 404")  # the missing script
    tab.check()
    screenshot(tab.page, "plaid-script-failed")
    assert not site.seen("POST", f"{LINK}/complete")


# --- results and errors -----------------------------------------------------------------------

RESULTS = {
    "reauthorized": {"outcome": "reauthorized", "back": True},
    "already-done": {"outcome": "already_done", "back": True},
    "verifying": {"outcome": "verifying"},
    "reauthorized-elsewhere": {"outcome": "reauthorized_elsewhere", "back": True},
    "closed": {"outcome": "closed"},
    "unverified": {"outcome": "unverified", "retry": True, "back": True},
    "failed-user-cancelled": {"outcome": "failed", "reason": "USER_CANCELLED", "retry": True},
    "failed-temporary-error": {
        "outcome": "failed",
        "reason": "TEMPORARY_ERROR",
        "retry": True,
        "back": True,
    },
    "failed-authentication-error": {
        "outcome": "failed",
        "reason": "AUTHENTICATION_ERROR",
        "back": True,
    },
}


def result(site: Site, name: str, platform: str = PLATFORM) -> Page:
    case = RESULTS[name]
    return pages.result_page(
        platform=platform,
        outcome=case["outcome"],
        reason=case.get("reason"),
        retry_action=LINK if case.get("retry") else None,
        return_url=f"{site.base}/app/settings?tab=bank" if case.get("back") else None,
    )


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_result_pages(tab, site, name):
    site.page("/result", result(site, name))
    tab.open("/result")
    tab.check()
    case = RESULTS[name]
    assert tab.page.get_by_role("button", name="Try again").count() == int(bool(case.get("retry")))
    back = tab.page.get_by_role("link", name=f"Back to {PLATFORM}")
    assert back.count() == int(bool(case.get("back")))
    if case.get("reason"):
        text = tab.page.locator("main p").nth(1).inner_text()
        assert text.startswith(pages.PROVIDER_MESSAGES[case["reason"]])


def test_try_again_posts_nothing_but_itself(tab, site):
    site.page("/result", result(site, "unverified"))
    site.page(LINK, pages.error_page(platform=PLATFORM, kind="refused"), method="POST")
    tab.open("/result")
    tab.page.get_by_role("button", name="Try again").click()
    tab.page.wait_for_load_state()
    (post,) = site.seen("POST", LINK)
    assert post.body == b""
    assert post.headers["origin"] == site.base


@pytest.mark.parametrize("kind", sorted(pages.ERROR_KINDS))
def test_error_pages(tab, site, kind):
    site.page("/error", pages.error_page(platform=PLATFORM, kind=kind))
    tab.open("/error", status=pages.ERROR_KINDS[kind])
    tab.check()
    assert not tab.page.locator("a, button, form").count()


# --- the same pages in the dark scheme, and a hostile platform name ---------------------------


def every_page(site: Site, platform: str = PLATFORM) -> dict[str, Page]:
    found = {
        "start-redirect": pages.start_page(
            platform=platform, action_url=LINK, key=KEY, render=RENDER, handoff="redirect"
        ),
        "start-plaid": pages.start_page(
            platform=platform, action_url=LINK, key=KEY, render=RENDER, handoff="token"
        ),
        "start-in-app": pages.start_page(
            platform=platform,
            action_url=LINK,
            key=KEY,
            render=RENDER,
            handoff="redirect",
            in_app_link=f"{site.base}{LINK}?key={KEY}",
            android=True,
        ),
        "plaid": pages.plaid_page(
            platform=platform,
            script_url=f"{site.base}/static/link-initialize.js?mode=idle",
            token=TOKEN,
            complete_url=f"{LINK}/complete",
            csrf=CSRF,
        ),
    }
    for name in RESULTS:
        found[f"result-{name}"] = result(site, name, platform)
    for kind in pages.ERROR_KINDS:
        found[f"error-{kind}"] = pages.error_page(platform=platform, kind=kind)
    return found


def test_every_page_in_the_dark_scheme(browser, site):  # noqa: F811
    context = mobile_context(browser, color_scheme="dark")
    try:
        for name, page in every_page(site).items():
            site.page(f"/{name}", page)
            tab = open_tab(context, site)
            tab.open(f"/{name}", status=page.status)
            assert tab.page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
            tab.check()
            if name == "start-redirect":
                screenshot(tab.page, "start-redirect-dark")
            tab.page.close()
    finally:
        context.close()


def test_a_hostile_long_platform_name_is_text_and_still_fits(browser, site):  # noqa: F811
    hostile = "<img src=x onerror=alert(1)>Pay&Co" + "W" * 26  # 60 characters, no break
    assert len(hostile) == 60
    context = mobile_context(browser)
    try:
        for name, page in every_page(site, hostile).items():
            site.page(f"/{name}", page)
            tab = open_tab(context, site)
            tab.open(f"/{name}", status=page.status)
            assert tab.page.locator(".platform").inner_text() == hostile
            assert not tab.page.locator("img").count()
            tab.seen.assert_clean(ignore=tuple(tab.expected_errors))
            assert tab.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            if name == "start-redirect":
                screenshot(tab.page, "start-redirect-long-name")
            tab.page.close()
    finally:
        context.close()


def test_on_a_wide_screen_the_page_is_a_card(browser, site):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        site.page(
            LINK,
            pages.start_page(
                platform=PLATFORM, action_url=LINK, key=KEY, render=RENDER, handoff="redirect"
            ),
        )
        tab = open_tab(context, site)
        tab.open(LINK)
        tab.check()
        width = tab.page.locator(".card").bounding_box()["width"]
        assert 400 < width <= 480  # a readable column, not the whole screen
        screenshot(tab.page, "start-redirect-wide")
    finally:
        context.close()


# --- the verifying page, which finishes by itself ---------------------------------------------

STATUS = f"{LINK}/status"
CHECKING = {"en": "Checking with your bank…", "es": "Confirmando con tu banco…"}
LONGER = {
    "en": "This is taking longer than usual. You don't need to do anything else: we'll let "
    f"{PLATFORM} know as soon as your bank confirms. You can close this window, or check again "
    "in a few minutes.",
    "es": "Esto está tardando más de lo normal. No tienes que hacer nada más: le avisaremos a "
    f"{PLATFORM} en cuanto tu banco lo confirme. Puedes cerrar esta ventana o volver a revisar "
    "en unos minutos.",
}


def following(site: Site, locale: str = "en") -> str:
    """The verifying page, following the request (its status route on the site)."""
    page = pages.result_page(
        platform=PLATFORM,
        outcome="verifying",
        locale=locale,
        status_url=STATUS,
        check_url="/verifying",
    )
    return site.page("/verifying", page)


def test_the_verifying_page_checks_on_its_own_then_goes_where_it_is_told(tab, site):
    following(site)
    answers = iter([json_answer(200, {"status": "verifying"})])
    ended = json_answer(200, {"status": "reauthorized", "location": "/done"})
    site.routes[("GET", STATUS)] = lambda _: next(answers, ended)
    tab.page.clock.install()  # the page's timers run when the test says

    tab.open("/verifying")
    status = tab.page.get_by_role("status")
    assert status.inner_text() == CHECKING["en"]
    assert not tab.page.get_by_role("link", name="Check again").is_visible()
    tab.check()
    screenshot(tab.page, "result-verifying-checking")
    assert not site.seen("GET", STATUS)  # the first check waits a moment
    with tab.page.expect_response(lambda r: r.url.endswith(STATUS)):
        tab.page.clock.fast_forward(pages.POLL_FIRST_MS)
    assert tab.page.url == f"{site.base}/verifying"  # still verifying: it waits longer
    tab.page.clock.fast_forward(pages.POLL_FIRST_MS)  # not yet (the wait grew)
    assert len(site.seen("GET", STATUS)) == 1
    tab.page.clock.fast_forward(pages.POLL_FIRST_MS // 2)

    tab.page.wait_for_url(f"{site.base}/done")
    polls = site.seen("GET", STATUS)
    assert len(polls) == 2
    assert polls[0].headers.get("sec-fetch-site") == "same-origin"
    assert tab.page.locator("h1").inner_text() == "Your bank is connected again"
    tab.check()  # no CSP violation on the way
    assert tab.page.evaluate("history.length") == 2  # replaced: Back skips the verifying page


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_verifying_page_says_when_it_takes_longer_than_usual(tab, site, locale):
    following(site, locale)
    site.routes[("GET", STATUS)] = lambda _: json_answer(200, {"status": "verifying"})
    tab.page.clock.install()
    tab.open("/verifying")
    suffix = "" if locale == "en" else f"-{locale}"
    if locale != "en":
        assert tab.page.get_by_role("status").inner_text() == CHECKING[locale]
        screenshot(tab.page, f"result-verifying-checking{suffix}")

    status = tab.page.get_by_role("status")
    for _ in range(2 * pages.POLL_LIMIT_MS // pages.POLL_MAX_MS):  # each check: "verifying"
        if "problem" in (status.get_attribute("class") or ""):
            break
        tab.page.clock.fast_forward(pages.POLL_MAX_MS)
        tab.page.wait_for_timeout(25)  # the check's answer arrives (real time)
    polls = len(site.seen("GET", STATUS))

    assert status.inner_text() == LONGER[locale]
    check = tab.page.locator("#check a")
    assert check.is_visible()
    assert check.get_attribute("href") == "/verifying"
    # It kept checking until the limit (the waits grow to POLL_MAX_MS), and then stopped.
    assert polls >= pages.POLL_LIMIT_MS // pages.POLL_MAX_MS - 3
    tab.page.clock.fast_forward(10 * pages.POLL_MAX_MS)
    tab.page.wait_for_timeout(25)
    assert len(site.seen("GET", STATUS)) == polls
    tab.seen.assert_clean()
    if locale == "en":
        tab.check()
    screenshot(tab.page, f"result-verifying-longer{suffix}")


def test_the_verifying_page_of_another_browser_stops_at_once_and_offers_to_check_again(tab, site):
    following(site)
    refused = {"code": "NotBound", "message": "…", "requestId": None}
    site.routes[("GET", STATUS)] = lambda _: json_answer(400, refused)
    tab.page.clock.install()
    tab.open("/verifying")

    with tab.page.expect_response(lambda r: r.url.endswith(STATUS)):
        tab.page.clock.fast_forward(pages.POLL_FIRST_MS)
    tab.page.get_by_role("link", name="Check again").wait_for()
    tab.page.clock.fast_forward(10 * pages.POLL_MAX_MS)

    assert len(site.seen("GET", STATUS)) == 1
    assert not tab.page.locator("#status").is_visible()
    tab.expect_error("the server responded with a status of 400")
    tab.check()

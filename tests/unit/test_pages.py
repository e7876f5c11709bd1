"""The customer-facing pages (reauth.pages), as documents: structure, CSP, escaping, wording."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from reauth import pages
from reauth.pages import PROVIDER_MESSAGES, Page, csp_for

PLAID_JS = "https://cdn.plaid.com/link/v2/stable/link-initialize.js"
BANK_URL = "https://bank.example.test/oauth/authorize?client=abc&state=x%20y"
RETURN_URL = "https://app.example.test/settings/bank?tab=1&x=2"
HOSTILE_NAME = "<script>alert(1)</script> & \"Acme\" 'Pay' <img src=x onerror=alert(2)>"
BASE_CSP = (
    "default-src 'none'; style-src 'nonce-{n}'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
VOID = {"meta", "link", "input", "br", "img", "hr", "source", "wbr"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.text = ""


class Doc(HTMLParser):
    """The page as a browser's tokenizer sees it: elements (with their text) in order."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.stack: list[Element] = []
        self.decl: list[str] = []
        self.feed(markup)
        self.close()

    def handle_decl(self, decl: str) -> None:
        self.decl.append(decl)

    def handle_starttag(self, tag, attrs) -> None:
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs) -> None:
        self.elements.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag) -> None:
        while self.stack:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data) -> None:
        for element in self.stack:
            element.text += data

    def all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]

    def one(self, tag: str, **attrs: str) -> Element:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}> elements"
        return found[0]

    def paragraphs(self) -> list[str]:
        return [" ".join(e.text.split()) for e in self.all("p")]


LANGS = ("en", "es")  # every page in every language the catalogue has (reauth.words)


def start(handoff="redirect", **kw) -> Page:
    args = {"platform": "Acme", "action_url": "/v1/reauth/link/r1", "key": "k-1", "render": "r-1"}
    return pages.start_page(**{**args, "handoff": handoff, **kw})


def plaid(**kw) -> Page:
    args = {
        "platform": "Acme",
        "script_url": PLAID_JS,
        "token": "link-sandbox-123",
        "complete_url": "/v1/reauth/link/r1/complete",
        "csrf": "csrf-abc",
    }
    return pages.plaid_page(**{**args, **kw})


def every_page(platform: str = "Acme", locale: str | None = None) -> dict[str, Page]:
    found = {
        "start-redirect": start(platform=platform, locale=locale),
        "start-token": start("token", platform=platform, locale=locale),
        "to-bank": pages.to_bank_page(platform=platform, bank_url=BANK_URL, locale=locale),
        "plaid": plaid(platform=platform, locale=locale),
    }
    for outcome in pages.OUTCOMES:
        found[f"result-{outcome}"] = pages.result_page(
            platform=platform,
            outcome=outcome,
            reason="USER_CANCELLED",
            retry_action="/v1/reauth/link/r1",
            return_url=RETURN_URL,
            locale=locale,
        )
    for kind in pages.ERROR_KINDS:
        found[f"error-{kind}"] = pages.error_page(platform=platform, kind=kind, locale=locale)
    for reason in pages.RENEWABLE:
        found[f"closed-{reason}"] = pages.closed_link_page(
            platform=platform,
            reason=reason,
            renew_action="/v1/reauth/link/r1/renew",
            key="k-1",
            locale=locale,
        )
    for self_service in (False, True):
        found[f"link-requested-{self_service}"] = pages.link_requested_page(
            platform=platform, self_service=self_service, locale=locale
        )
    return found


def nonce_of(page: Page) -> str:
    match = re.search(r"style-src 'nonce-([^']+)'", page.csp)
    assert match, page.csp
    return match[1]


# --- every page -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(every_page()))
def test_every_page_is_one_small_accessible_document(name, lang):
    page = every_page(locale=lang)[name]
    assert page.html.startswith(f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">')
    doc = Doc(page.html)
    assert doc.decl == ["doctype html"]
    assert doc.one("html").attrs["lang"] == lang
    assert doc.one("meta", name="viewport").attrs["content"] == (
        "width=device-width, initial-scale=1"
    )
    assert doc.one("title").text.endswith(" · Acme")
    # not "no-referrer": under it Chromium sends `Origin: null` on the page's own POSTs
    assert doc.one("meta", name="referrer").attrs["content"] == "same-origin"
    doc.one("main")
    h1 = doc.one("h1")
    assert h1.text.strip()
    assert doc.one("p", **{"class": "platform"}).text == "Acme"  # the platform, as text
    doc.one("style")
    # nothing styled or scripted inline outside the nonce'd blocks
    for element in doc.elements:
        assert "style" not in element.attrs, element.tag
        assert not [a for a in element.attrs if a.startswith("on")], element.tag


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(every_page()))
def test_the_csp_nonce_is_the_one_in_the_markup_and_fresh_each_time(name, lang):
    page = every_page(locale=lang)[name]
    nonce = nonce_of(page)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", nonce)  # secrets.token_urlsafe(16)
    doc = Doc(page.html)
    assert doc.one("style").attrs["nonce"] == nonce
    for script in doc.all("script"):
        if script.attrs.get("type") != "application/json":
            assert script.attrs["nonce"] == nonce
    assert page.csp.startswith(BASE_CSP.format(n=nonce))
    if name != "plaid":
        assert page.csp == BASE_CSP.format(n=nonce)
        assert not doc.all("script")
    assert nonce_of(every_page(locale=lang)[name]) != nonce


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(every_page()))
def test_no_page_loads_anything_from_elsewhere(name, lang):
    page = every_page(locale=lang)[name]
    doc = Doc(page.html)
    sources = [e.attrs["src"] for e in doc.elements if "src" in e.attrs]
    assert sources == ([PLAID_JS] if name == "plaid" else [])
    assert [e.attrs for e in doc.all("link")] == [{"rel": "icon", "href": "data:,"}]
    for tag in ("img", "iframe", "object", "embed", "base", "video", "audio"):
        assert not doc.all(tag)
    style = doc.one("style").text
    assert "url(" not in style
    assert "@import" not in style
    assert "@font-face" not in style
    # the navigations it offers are the service's own paths, the bank, or the return URL
    targets = [e.attrs[a] for e in doc.elements for a in ("href", "action") if a in e.attrs]
    for target in targets:
        assert target in ("data:,", BANK_URL, RETURN_URL) or target.startswith("/v1/reauth/")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(every_page()))
def test_a_hostile_platform_name_is_shown_as_text(name, lang):
    page = every_page(HOSTILE_NAME, lang)[name]
    assert "<script>alert" not in page.html
    assert "<img" not in page.html
    doc = Doc(page.html)
    assert doc.one("p", **{"class": "platform"}).text == HOSTILE_NAME
    assert doc.one("title").text.endswith(" · " + HOSTILE_NAME)
    assert not doc.all("img")
    assert len(doc.all("script")) == (3 if name == "plaid" else 0)


def test_platform_names_are_tidied_and_default_to_your_app():
    doc = Doc(start(platform="  Acme \n  Pay ").html)
    assert doc.one("p", **{"class": "platform"}).text == "Acme Pay"
    doc = Doc(start(platform="").html)
    assert doc.one("p", **{"class": "platform"}).text == "your app"
    assert doc.paragraphs()[1].startswith("Your app needs you to log in to your bank again")
    doc = Doc(pages.error_page(platform="", kind="closed").html)
    assert doc.paragraphs()[1] == "Please ask your app for a new link."
    doc = Doc(start(platform="", locale="es-MX").html)
    assert doc.one("p", **{"class": "platform"}).text == "tu app"
    assert doc.paragraphs()[1].startswith("Tu app necesita que vuelvas a iniciar sesión")


# --- URLs -------------------------------------------------------------------------------------


def test_urls_are_escaped_in_attributes_and_survive_intact():
    action = '/v1/reauth/link/r1?a=1&b="><script>x</script>'
    page = start(action_url=action, key='k"><b>')
    assert '"><script>' not in page.html
    doc = Doc(page.html)
    assert doc.one("form").attrs["action"] == action
    assert doc.one("input", name="key").attrs == {
        "type": "hidden",
        "name": "key",
        "value": 'k"><b>',
    }

    bank = 'https://bank.example.test/a?x=1&y="2"&z=<3>'
    page = pages.to_bank_page(platform="Acme", bank_url=bank)
    assert 'y="2"' not in page.html
    assert "<3>" not in page.html
    doc = Doc(page.html)
    assert doc.one("meta", **{"http-equiv": "refresh"}).attrs["content"] == f"0;url={bank}"
    assert doc.one("a").attrs["href"] == bank


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,hi",
        "//evil.example.test/x",
        "/\\evil.example.test",
        "relative/path",
        "/has space",
        "/new\nline",
        "https://",
        "",
    ],
)
def test_unsafe_urls_are_refused(url):
    with pytest.raises(ValueError):
        start(action_url=url)
    with pytest.raises(ValueError):
        pages.to_bank_page(platform="Acme", bank_url=url)
    with pytest.raises(ValueError):
        pages.result_page(platform="Acme", outcome="failed", retry_action=url)
    with pytest.raises(ValueError):
        pages.result_page(platform="Acme", outcome="reauthorized", return_url=url)
    with pytest.raises(ValueError):
        plaid(script_url=url)
    with pytest.raises(ValueError):
        plaid(complete_url=url)


@pytest.mark.parametrize("url", ["/v1/reauth/link/r1", "https://reauth.example.test/x"])
def test_paths_are_fine_where_a_path_is_expected_but_not_for_the_bank(url):
    start(action_url=url)
    if url.startswith("/"):
        with pytest.raises(ValueError):
            pages.to_bank_page(platform="Acme", bank_url=url)


# --- the start page ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handoff", "where"),
    [
        ("redirect", "You'll sign in on your bank's page."),
        ("token", "You'll sign in to your bank in a secure Plaid window."),
    ],
)
def test_start_page_says_what_happens_and_offers_one_button(handoff, where):
    page = start(handoff)
    assert page.status == 200
    doc = Doc(page.html)
    assert doc.one("h1").text == "Reconnect your bank"
    assert doc.paragraphs()[1] == (
        "Acme needs you to log in to your bank again to keep your account connected. "
        f"{where} It takes about a minute."
    )
    form = doc.one("form")
    assert form.attrs["method"] == "post"
    assert form.attrs["action"] == "/v1/reauth/link/r1"
    assert doc.one("input", name="key").attrs == {"type": "hidden", "name": "key", "value": "k-1"}
    # The rendering's id: however often this button is submitted, one attempt.
    assert doc.one("input", name="render").attrs == {
        "type": "hidden",
        "name": "render",
        "value": "r-1",
    }
    assert doc.one("button").text == "Continue to your bank"
    assert doc.one("button").attrs["type"] == "submit"
    assert not doc.all("a")


def test_start_page_refuses_an_unknown_handoff():
    with pytest.raises(ValueError):
        start("popup")


# --- the bank hand-offs -----------------------------------------------------------------------


def test_to_bank_page_refreshes_to_the_bank_and_offers_a_link():
    page = pages.to_bank_page(platform="Acme", bank_url=BANK_URL)
    assert page.status == 200
    doc = Doc(page.html)
    assert doc.one("h1").text == "Taking you to your bank…"
    assert doc.one("meta", **{"http-equiv": "refresh"}).attrs["content"] == f"0;url={BANK_URL}"
    link = doc.one("a")
    assert (link.attrs["href"], link.text) == (BANK_URL, "Continue")
    assert not doc.all("form")


def test_plaid_page_loads_the_script_with_its_origin_in_the_csp():
    page = plaid(script_url="https://user:pw@cdn.plaid.test:8443/link/v2/stable/init.js")
    nonce = nonce_of(page)
    origin = "https://cdn.plaid.test:8443"
    assert page.status == 200
    assert page.csp == BASE_CSP.format(n=nonce) + (
        f"; script-src 'nonce-{nonce}' {origin}; frame-src {origin}; connect-src 'self' {origin}"
    )
    doc = Doc(page.html)
    loader, inline = [s for s in doc.all("script") if s.attrs.get("type") != "application/json"]
    assert loader.attrs["src"] == "https://user:pw@cdn.plaid.test:8443/link/v2/stable/init.js"
    assert loader.text == ""
    assert "Plaid.create(" in inline.text
    assert ".open()" in inline.text
    status = doc.one("p", id="status")
    assert (status.attrs["role"], status.attrs["aria-live"]) == ("status", "polite")
    assert doc.one("button", id="reopen").text == "Open the secure window again"


def test_plaid_page_script_reports_each_ending_as_the_design_says():
    script = Doc(plaid().html).all("script")[-1].text
    assert 'credentials: "same-origin"' in script
    assert '"X-Reauth-CSRF": config.csrf' in script
    assert '"Content-Type": "application/json"' in script
    assert 'report({outcome: "success"})' in script
    assert '"USER_CANCELLED"' in script
    assert 'err.error_type === "ITEM_ERROR" ? "AUTHENTICATION_ERROR" : "TEMPORARY_ERROR"' in script
    assert "window.location.replace(" in script


@pytest.mark.parametrize(
    "token",
    [
        "</script><script>alert(1)</script>",
        "</SCRIPT ><script>alert(1)",
        "<!--<script>",
        "a&b>c<d'e\"f",
        "line\u2028sep\u2029para",
        "\\u003c/script>",
    ],
)
def test_the_json_config_cannot_break_out_of_its_script_element(token):
    csrf = "</script><img src=x onerror=alert(1)>"
    page = plaid(token=token, csrf=csrf, complete_url="/v1/reauth/link/r1/complete?a=1&b=<2>")
    doc = Doc(page.html)
    scripts = doc.all("script")
    assert len(scripts) == 3
    assert not doc.all("img")
    block = doc.one("script", id="reauth-config")
    assert block.attrs["type"] == "application/json"
    assert not set(block.text) & {"<", ">", "&", "\u2028", "\u2029"}
    config = json.loads(block.text)
    assert config.pop("words").keys() == {
        "finishing",
        "unreachable",
        "notLoaded",
        "open",
        "notOpened",
    }
    assert config == {
        "token": token,
        "completeUrl": "/v1/reauth/link/r1/complete?a=1&b=<2>",
        "csrf": csrf,
    }
    assert page.html.lower().count("</script") == 3


# --- results ----------------------------------------------------------------------------------

OUTCOME_TEXT = {
    "reauthorized": (
        "Your bank is connected again",
        "Your bank connection for Acme is working again. You can close this window.",
    ),
    "already_done": (
        "Already done",
        "Your bank connection for Acme was already renewed. There's nothing more to do: you "
        "can close this window.",
    ),
    "reauthorized_elsewhere": (
        "Your bank is already connected",
        "Your bank connection for Acme is already working again, so there's nothing more to do. "
        "You can close this window and go back to Acme.",
    ),
    "closed": (
        "This link has expired",
        "Your bank login couldn't be confirmed before this link expired. If Acme still asks you "
        "to reconnect your bank, please ask them for a new link.",
    ),
    "verifying": (
        "Almost done",
        "We're confirming your login with your bank. You can close this window: we'll let Acme "
        "know when it's done.",
    ),
    "unverified": (
        "Your bank didn't confirm the login",
        "Your bank didn't confirm that you logged in. Please try again.",
    ),
}


@pytest.mark.parametrize("outcome", sorted(OUTCOME_TEXT))
def test_each_outcome_says_what_happened(outcome):
    page = pages.result_page(platform="Acme", outcome=outcome)
    assert page.status == 200
    doc = Doc(page.html)
    title, text = OUTCOME_TEXT[outcome]
    assert doc.one("h1").text == title
    assert doc.paragraphs()[1].startswith(text)
    assert not doc.all("form")
    assert not doc.all("a")


@pytest.mark.parametrize(("reason", "message"), sorted(PROVIDER_MESSAGES.items()))
def test_a_failure_shows_the_reasons_customer_message(reason, message):
    doc = Doc(
        pages.result_page(
            platform="Acme", outcome="failed", reason=reason, retry_action="/v1/reauth/link/r1"
        ).html
    )
    assert doc.one("h1").text == "Your bank wasn't reconnected"
    assert doc.paragraphs()[1] == f"{message} Please try again."
    doc = Doc(pages.result_page(platform="Acme", outcome="failed", reason=reason).html)
    assert doc.paragraphs()[1] == f"{message} To try again, start over from Acme."


def test_provider_messages_cover_the_three_reasons():
    assert set(PROVIDER_MESSAGES) == {"USER_CANCELLED", "TEMPORARY_ERROR", "AUTHENTICATION_ERROR"}
    assert PROVIDER_MESSAGES["USER_CANCELLED"] == "You closed your bank's login before finishing."
    assert PROVIDER_MESSAGES["TEMPORARY_ERROR"] == "Your bank couldn't be reached just now."
    assert PROVIDER_MESSAGES["AUTHENTICATION_ERROR"] == "Your bank couldn't verify your login."


@pytest.mark.parametrize("reason", [None, "", "<b>SOMETHING_ELSE</b>", "usercancelled"])
def test_an_unknown_reason_gets_a_generic_message_and_is_not_echoed(reason):
    page = pages.result_page(platform="Acme", outcome="failed", reason=reason)
    assert Doc(page.html).paragraphs()[1].startswith(pages.GENERIC_FAILURE)
    if reason:
        assert reason not in page.html
        assert "SOMETHING_ELSE" not in page.html


def test_try_again_is_a_bare_post_and_back_is_a_link():
    page = pages.result_page(
        platform="Acme",
        outcome="unverified",
        retry_action="/v1/reauth/link/r1",
        return_url=RETURN_URL,
    )
    doc = Doc(page.html)
    form = doc.one("form")
    assert form.attrs == {"method": "post", "action": "/v1/reauth/link/r1"}
    assert not doc.all("input")
    assert doc.one("button").text == "Try again"
    back = doc.one("a")
    assert (back.attrs["href"], back.text) == (RETURN_URL, "Back to Acme")
    assert back.attrs["class"] == "button secondary"  # the retry is the main action

    doc = Doc(
        pages.result_page(platform="Acme", outcome="reauthorized", return_url=RETURN_URL).html
    )
    assert doc.one("a").attrs["class"] == "button"
    assert not doc.all("form")


def test_an_unknown_outcome_is_a_programming_error():
    with pytest.raises(ValueError):
        pages.result_page(platform="Acme", outcome="success")


# --- errors -----------------------------------------------------------------------------------

ERRORS = {
    "refused": (400, "This link can't be used", "Please start again from Acme."),
    "closed": (410, "This link has expired", "Please ask Acme for a new link."),
    "unavailable": (
        503,
        "Temporarily unavailable",
        "We couldn't finish this step just now. Please reload this page in a moment.",
    ),
    "too_many_attempts": (
        429,
        "Too many attempts",
        "This link has been tried too many times, so it can't be used again. To reconnect your "
        "bank, please ask Acme for a new link.",
    ),
}


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_each_error_kind_has_its_status_and_says_little(kind):
    page = pages.error_page(platform="Acme", kind=kind)
    status, title, text = ERRORS[kind]
    assert page.status == status
    doc = Doc(page.html)
    assert doc.one("h1").text == title
    assert doc.paragraphs() == ["Acme", text]
    assert not doc.all("form")
    assert not doc.all("a")


@pytest.mark.parametrize(
    ("reason", "title"),
    [("expired", "This link has expired"), ("cancelled", "This request was cancelled")],
)
def test_an_expired_or_cancelled_link_offers_a_new_one_as_a_bare_form(reason, title):
    page = pages.closed_link_page(
        platform="Acme", reason=reason, renew_action="/v1/reauth/link/r1/renew", key="k-1"
    )
    doc = Doc(page.html)
    assert page.status == 410
    assert doc.one("h1").text == title
    assert "we'll tell Acme" in doc.paragraphs()[1]
    form = doc.one("form")
    assert (form.attrs["method"], form.attrs["action"]) == ("post", "/v1/reauth/link/r1/renew")
    assert [(i.attrs["name"], i.attrs["value"]) for i in doc.all("input")] == [("key", "k-1")]
    assert doc.one("button").text == "Send me a new link"
    assert not doc.all("script")


def test_only_expired_and_cancelled_links_offer_a_new_one():
    with pytest.raises(ValueError):
        pages.closed_link_page(platform="Acme", reason="superseded", renew_action="/r", key="k")


@pytest.mark.parametrize(
    ("self_service", "already", "says"),
    [
        (False, False, "We've told Acme you'd like a new link to reconnect your bank."),
        (True, False, "A new link is on its way to you."),
        (False, True, "You already asked for a new link today, and we told Acme."),
    ],
)
def test_asking_for_a_new_link_says_the_platform_was_told(self_service, already, says):
    page = pages.link_requested_page(platform="Acme", self_service=self_service, already=already)
    doc = Doc(page.html)
    assert page.status == 200
    assert says in doc.paragraphs()[1]
    assert ("on its way" in doc.paragraphs()[1]) is self_service
    assert not doc.all("form")


def test_an_unknown_error_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        pages.error_page(platform="Acme", kind="<b>nope</b>")


# --- csp_for ----------------------------------------------------------------------------------


def test_csp_for_builds_the_policy_and_refuses_to_be_injected():
    assert csp_for("abcdefghijklmnop") == BASE_CSP.format(n="abcdefghijklmnop")
    assert csp_for("abcdefghijklmnop", "http://127.0.0.1:8080").endswith(
        "; script-src 'nonce-abcdefghijklmnop' http://127.0.0.1:8080"
        "; frame-src http://127.0.0.1:8080; connect-src 'self' http://127.0.0.1:8080"
    )
    for nonce in ("short", "abcdefghijklmnop'; script-src *", "abcdefghijklmnop ponmlkjihgfedcba"):
        with pytest.raises(ValueError):
            csp_for(nonce)
    for origin in (
        "https://cdn.plaid.com; script-src *",
        "https://cdn.plaid.com/path",
        "*",
        "'unsafe-inline'",
        "javascript:",
    ):
        with pytest.raises(ValueError):
            csp_for("abcdefghijklmnop", origin)


# --- languages --------------------------------------------------------------------------------


def test_every_page_speaks_the_locales_language_and_an_unknown_one_reads_english():
    english, spanish = every_page(locale="en-US"), every_page(locale="es-419")
    unknown = every_page(locale="fr-FR")
    for name in english:
        en, es = Doc(english[name].html), Doc(spanish[name].html)
        assert (en.one("html").attrs["lang"], es.one("html").attrs["lang"]) == ("en", "es")
        assert en.one("h1").text != es.one("h1").text, name
        assert en.paragraphs()[1:] != es.paragraphs()[1:], name
        assert [b.text for b in en.all("button")] != [b.text for b in es.all("button")] or (
            not en.all("button")
        ), name
        assert Doc(unknown[name].html).one("h1").text == en.one("h1").text


def test_the_spanish_start_page_says_what_happens():
    doc = Doc(start("token", locale="es").html)
    assert doc.one("h1").text == "Vuelve a conectar tu banco"
    assert doc.paragraphs()[1] == (
        "Acme necesita que vuelvas a iniciar sesión en tu banco para que tu cuenta siga "
        "conectada. Lo harás en una ventana segura de Plaid. Solo toma un minuto."
    )
    assert doc.one("button").text == "Continuar a tu banco"


def test_spanish_results_errors_and_new_links():
    doc = Doc(
        pages.result_page(
            platform="Acme",
            outcome="failed",
            reason="TEMPORARY_ERROR",
            locale="es",
            return_url=RETURN_URL,
        ).html
    )
    assert doc.one("h1").text == "No se pudo volver a conectar tu banco"
    assert doc.paragraphs()[1] == (
        "No pudimos comunicarnos con tu banco en este momento. Para intentarlo de nuevo, "
        "vuelve a empezar desde Acme."
    )
    assert doc.one("a").text == "Volver a Acme"
    doc = Doc(pages.error_page(platform="Acme", kind="closed", locale="es").html)
    assert doc.paragraphs()[1] == "Pídele a Acme un enlace nuevo."
    doc = Doc(
        pages.closed_link_page(
            platform="", reason="cancelled", renew_action="/r", key="k", locale="es"
        ).html
    )
    assert doc.paragraphs()[1].startswith("Tu app canceló esta solicitud")
    assert doc.one("button").text == "Envíame un enlace nuevo"


def test_the_plaid_pages_script_says_its_words_in_the_pages_language():
    doc = Doc(plaid(locale="es").html)
    config = json.loads(doc.one("script", id="reauth-config").text)
    assert config["words"]["finishing"] == "Terminando…"
    assert config["words"]["open"].startswith("La ventana segura está abierta")
    script = doc.all("script")[-1].text
    assert "secure window" not in script  # no English left in the script itself
    assert doc.one("button", id="reopen").text == "Abrir otra vez la ventana segura"

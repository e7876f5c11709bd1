"""The customer's language, through the handlers: the request's `locale` (top-level, else the
contact's), else the browser's Accept-Language, else the deployment's DEFAULT_LOCALE; the
pages say `<html lang>` and the messages speak it too (words.py, words_es.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest

from reauth.words import CATALOGUE
from tests.support.apigw import query_of
from tests.support.constants import PUBLIC_BASE_URL
from tests.support.flow import bank_url, location
from tests.support.functions import new_container, serve

ES, EN = CATALOGUE["es"], CATALOGUE["en"]
SPANISH_BROWSER = {"Accept-Language": "es-US,es;q=0.9,en;q=0.8"}
ENGLISH_BROWSER = {"Accept-Language": "en-US,en;q=0.9"}
SENDER = "no-reply@acme.example"
ACCOUNT, REGION = "123456789012", "us-east-1"


def _lang(answer: dict) -> str:
    return re.search(r'<html lang="([^"]+)"', answer["body"]).group(1)


def _title(answer: dict) -> str:
    return unescape(re.search(r"<h1>(.*?)</h1>", answer["body"]).group(1))


def _open(browser, url: str, headers: dict | None = None) -> dict:
    return browser.call("GET", url, headers=headers)


def _click(browser, start_url: str, headers: dict) -> dict:
    """The start button, from a browser that sends `headers` too."""
    key = query_of(start_url)["key"][0]
    form = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    return browser.call("POST", start_url.split("?", 1)[0], body=f"key={key}", headers=form)


def test_the_requests_locale_speaks_spanish_on_every_page_whatever_the_browser(
    api, dwolla, browser
):
    exchange = dwolla.seed_exchange("mx")
    status, session, _ = api.create(exchange["id"], {"locale": "es-MX"})
    assert status == 201

    start = _open(browser, session["startUrl"], ENGLISH_BROWSER)
    assert (start["statusCode"], _lang(start), _title(start)) == (200, "es", ES["start.title"])
    assert ES["start.button"] in unescape(start["body"])
    to_bank = _click(browser, session["startUrl"], ENGLISH_BROWSER)
    assert (_lang(to_bank), _title(to_bank)) == ("es", ES["to_bank.title"])

    landed = browser.get(browser.visit_bank(bank_url(to_bank)))
    done = location(landed)
    assert done.startswith(f"{PUBLIC_BASE_URL}/reauth/done?") and "&lang=es" in done
    result = _open(browser, done, ENGLISH_BROWSER)  # the landing's lang, not the browser's
    assert result["statusCode"] == 200 and _lang(result) == "es"


def test_a_contacts_locale_is_the_requests_language(api, dwolla, browser):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"], {"contact": {"email": "a@example.com",
                                                            "locale": "es_US"}})  # fmt: skip
    assert _lang(_open(browser, session["startUrl"])) == "es"


def test_without_a_request_locale_the_browsers_language_is_spoken(api, dwolla, browser):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"], {"locale": "fr-FR"})  # a language we lack

    spanish = _open(browser, session["startUrl"], SPANISH_BROWSER)
    assert (_lang(spanish), _title(spanish)) == ("es", ES["start.title"])
    english = _open(browser, session["startUrl"], ENGLISH_BROWSER)
    assert (_lang(english), _title(english)) == ("en", EN["start.title"])
    plaid = _click(browser, session["startUrl"], SPANISH_BROWSER)
    assert (_lang(plaid), _title(plaid)) == ("es", ES["plaid.title"])
    assert _lang(_open(browser, session["startUrl"])) == "en"  # no header: the default


def test_a_refusal_speaks_the_browsers_language(browser):
    answer = _open(browser, f"{PUBLIC_BASE_URL}/reauth/done?status=pwned", SPANISH_BROWSER)

    assert answer["statusCode"] == 400
    assert (_lang(answer), _title(answer)) == ("es", ES["error.refused.title"])


def test_a_landing_page_takes_only_a_language_it_has(browser):
    url = f"{PUBLIC_BASE_URL}/reauth/done?status=reauthorized"
    assert _lang(_open(browser, url + "&lang=es")) == "es"
    assert _lang(_open(browser, url + "&lang=xx", SPANISH_BROWSER)) == "es"
    page = _open(browser, url + "&lang=%3Cscript%3E")
    assert (page["statusCode"], _lang(page)) == (200, "en")
    assert "script&gt;" not in page["body"] and "<script" not in page["body"]


@pytest.mark.parametrize("locale", ["not a tag", "e", 5, ["es"], "es-<b>"])
def test_a_malformed_locale_is_refused_before_anything_happens(api, dwolla, locale):
    exchange = dwolla.seed_exchange("mx")

    status, body, _ = api.create(exchange["id"], {"locale": locale})

    assert (status, body["code"]) == (400, "InvalidLocale")
    assert api.status(exchange["id"])[0] == 404  # nothing was made


def test_the_deployments_default_locale(api, dwolla, browser, monkeypatch):
    monkeypatch.setenv("DEFAULT_LOCALE", "es")
    new_container()
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])

    assert _lang(_open(browser, session["startUrl"])) == "es"
    assert _lang(_open(browser, session["startUrl"], ENGLISH_BROWSER)) == "en"


def test_the_messages_speak_the_requests_language(functions, api, dwolla, monkeypatch):
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    functions.session.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    monkeypatch.setenv("EMAIL_SENDER", SENDER)
    monkeypatch.setenv("SMS_ENABLED", "true")
    new_container()
    serve(clock=lambda: datetime(2026, 3, 10, 14, 0, tzinfo=UTC))
    exchange = dwolla.seed_exchange("mx")
    contact = {"email": "ana@example.com", "phone": "+12125550123", "firstName": "Ana",
               "timeZone": "America/New_York"}  # fmt: skip

    status, session, _ = api.create(exchange["id"], {"locale": "es-MX", "contact": contact})

    assert status == 201
    [email] = ses_backends[ACCOUNT][REGION].sent_messages
    assert email.subject == "Acme Pay: vuelve a conectar tu cuenta bancaria"
    assert "Hola, Ana:" in email.body and "martes 17 de marzo de 2026" in email.body
    [(_, text)] = sns_backends[ACCOUNT][REGION].sms_messages.values()
    # The test's long link leaves room for the shortest form only (no deadline).
    assert text == f"Acme Pay: reconecta tu banco: {session['startUrl']}"

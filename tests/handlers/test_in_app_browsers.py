"""The link opened inside another app (Instagram, Facebook, a webview: reauth.inapp): the start
page leads with opening the link in the phone's browser (the link the service built, a "Copy
link" button, on Android an intent link) and keeps the start button as "Continue here anyway",
which starts exactly as before. An ordinary browser sees today's page."""

from __future__ import annotations

import re
from html import unescape

from reauth.words import CATALOGUE
from tests.support.flow import bank_url, header, render_of

EN, ES = CATALOGUE["en"], CATALOGUE["es"]
INSTAGRAM_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone15,2; iOS 17_5; en_US; en-US; scale=3.00)"
)
FACEBOOK_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 "
    "[FB_IAB/FB4A;FBAV/468.0.0.55.105;]"
)
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
SPANISH = {"Accept-Language": "es-US,es;q=0.9"}


def _title(answer: dict) -> str:
    return unescape(re.search(r"<h1>(.*?)</h1>", answer["body"]).group(1))


def _link_field(answer: dict) -> str:
    return unescape(re.search(r'id="page-link"[^>]* value="([^"]+)"', answer["body"]).group(1))


def test_inside_instagram_the_page_offers_the_link_to_copy_and_continuing_still_starts(
    api, dwolla, browser
):
    _, session, _ = api.create(dwolla.seed_exchange("mx")["id"])
    start_url = session["startUrl"]

    page = browser.call("GET", start_url, headers={"User-Agent": INSTAGRAM_IOS})
    body = unescape(page["body"])
    assert (page["statusCode"], _title(page)) == (200, EN["inapp.title"])
    assert EN["inapp.how"] in body and EN["inapp.copy"] in body
    assert _link_field(page) == start_url  # the customer's own link, as the service built it
    assert "intent://" not in body  # not on iOS
    csp = header(page, "Content-Security-Policy")
    assert "script-src 'nonce-" in csp and "connect-src 'self'" in csp
    # "Continue here anyway" is the start button: same form, same key, this rendering's id
    assert EN["inapp.continue"] in body and EN["start.button"] not in body
    to_bank = browser.click_start(start_url, render_of(page))
    assert to_bank["statusCode"] == 200 and bank_url(to_bank)
    assert _title(to_bank) == EN["to_bank.title"]


def test_inside_facebook_on_android_in_spanish_an_intent_opens_the_default_browser(
    api, dwolla, browser
):
    _, session, _ = api.create(dwolla.seed_exchange("plaid")["id"])
    start_url = session["startUrl"]

    page = browser.call("GET", start_url, headers={"User-Agent": FACEBOOK_ANDROID, **SPANISH})
    body = unescape(page["body"])
    assert _title(page) == ES["inapp.title"]
    assert ES["inapp.continue"] in body and ES["inapp.copy"] in body
    intent = re.search(r'href="(intent://[^"]+)"', page["body"])[1]
    assert unescape(intent) == (
        "intent://" + start_url.split("://", 1)[1]
        + "#Intent;scheme=https;action=android.intent.action.VIEW;end"
    )  # fmt: skip
    assert ES["inapp.open_browser"] in body


def test_an_ordinary_browser_sees_the_start_page_as_before(api, dwolla, browser):
    _, session, _ = api.create(dwolla.seed_exchange("mx")["id"])

    for headers, words in (({"User-Agent": SAFARI}, EN), ({**SPANISH}, ES)):
        page = browser.call("GET", session["startUrl"], headers=headers)
        assert _title(page) == words["start.title"]
        assert words["start.button"] in unescape(page["body"])
        assert "page-link" not in page["body"] and "<script" not in page["body"]
        assert "script-src" not in header(page, "Content-Security-Policy")

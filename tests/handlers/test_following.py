"""The verifying page finishes by itself: its script polls `GET /reauth/link/{id}/status`, which
answers the bound browser only, reads the request and nothing else (no Dwolla call: a poll must
not add load on Dwolla), and once the request has ended says where the browser goes."""

from __future__ import annotations

import json
import re
import uuid

from reauth.security import BrowserBinding, binding_cookie, new_secret
from tests.support.constants import PUBLIC_BASE_URL
from tests.support.flow import Browser, bank_url, header, location

DONE_URL = f"{PUBLIC_BASE_URL}/reauth/done"


def _verifying(api, dwolla, browser) -> tuple[dict, str]:
    """The customer logs in at the bank and comes back while Dwolla cannot answer the balance
    check: the request is verifying; (the request, the verifying page's URL)."""
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    back = browser.visit_bank(bank_url(browser.click_start(session["startUrl"])))
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=50, status=503)
    landed = location(browser.get(back))
    assert landed == f"{DONE_URL}?status=verifying&session={session['id']}"
    return session, landed


def _follow_config(page: dict) -> dict:
    """The verifying page's configuration block (its script's)."""
    found = re.search(
        r'<script type="application/json" id="reauth-follow">(.*?)</script>', page["body"]
    )
    assert found, page["body"][:500]
    return json.loads(found[1])


def _poll(browser, session_id: str, **kwargs) -> tuple[int, dict, dict]:
    answer = browser.call("GET", f"{PUBLIC_BASE_URL}/reauth/link/{session_id}/status", **kwargs)
    return answer["statusCode"], json.loads(answer["body"]), answer


def test_the_verifying_page_follows_the_request_without_asking_dwolla_until_it_ends(
    api, dwolla, browser, clock
):
    session, landed = _verifying(api, dwolla, browser)
    page = browser.get(landed)
    config = _follow_config(page)  # the page's JSON config block
    assert config["statusUrl"] == f"{PUBLIC_BASE_URL}/reauth/link/{session['id']}/status"
    check_again = f"{landed}&lang=en"  # this page, in the language it was shown in
    assert f'href="{check_again.replace("&", "&amp;")}"' in page["body"]
    assert "script-src 'nonce-" in header(page, "content-security-policy")
    link = browser.get(session["startUrl"])  # the link, opened again: the same page
    assert _follow_config(link)["statusUrl"] == config["statusUrl"]
    assert f'href="{check_again.replace("&", "&amp;")}"' in link["body"]  # no key on it
    dwolla.clear_faults()
    clock.advance(minutes=2)  # the next check is due: the poll still does not make it
    dwolla.clear_requests()

    status, body, answer = _poll(browser, session["id"])

    assert (status, body) == (200, {"status": "verifying"})
    assert header(answer, "cache-control") == "no-store"
    assert dwolla.requests() == []
    assert api.session(session["id"])[1]["status"] == "reauthorized"  # a read checks again

    status, body, _ = _poll(browser, session["id"])

    final = f"{DONE_URL}?status=reauthorized&session={session['id']}"
    assert (status, body) == (200, {"status": "reauthorized", "location": final})
    # The page loaded again ("Check again", no JavaScript) goes on too.
    assert location(browser.get(check_again)) == final


def test_only_the_bound_browser_may_follow_and_a_refusal_says_nothing(api, dwolla, browser):
    session, landed = _verifying(api, dwolla, browser)
    stranger = Browser(browser.module)
    stranger.get(session["startUrl"])  # opened the link: a token, bound to nothing
    forger = Browser(browser.module)  # a cookie naming the request, with its own token
    forged = binding_cookie(BrowserBinding(new_secret(), (session["id"],)), "/", 60)
    forger.jar["reauth_binding"] = forged.split(";")[0].split("=", 1)[1]
    unknown = str(uuid.uuid4())
    dwolla.clear_requests()

    refusals = [
        _poll(Browser(browser.module), session["id"]),
        _poll(stranger, session["id"]),
        _poll(forger, session["id"]),
        _poll(browser, unknown),
        _poll(browser, "not-a-uuid"),
        _poll(browser, session["id"], headers={"Sec-Fetch-Site": "cross-site"}),
    ]

    for status, body, answer in refusals:
        assert status == 400
        assert (body["code"], body["message"]) == (
            "NotBound",
            "Only the browser that started this re-authentication can follow it.",
        )
        assert header(answer, "cache-control") == "no-store"
    assert dwolla.requests() == []
    # Another browser on the verifying page gets the page (which follows nothing for it).
    assert stranger.get(landed)["statusCode"] == 200
    assert _poll(browser, session["id"])[:2] == (200, {"status": "verifying"})

"""The re-authentication, end to end: both functions under `sam local start-api` in Docker, moto
server and the Dwolla sandbox on the Docker bridge, and a test browser over real HTTP."""

from __future__ import annotations

import html
import json
import re
import secrets
import time
import uuid

import pytest

from local.stack import EXCHANGES
from tests.e2e.clients import Browser

MX = EXCHANGES["mx"]
PLAID = EXCHANGES["plaid"]
REFUSAL_TITLE = "This link can&#x27;t be used"

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean")]


def _key() -> str:
    return f"e2e-{uuid.uuid4()}"


def assert_error(answer, status: int, code: str) -> None:
    """The documented error shape: {"code", "message", "requestId"} with the code's status."""
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"code", "message", "requestId"}
    assert body["code"] == code
    assert body["message"]


def mine(events: list[dict], session: dict) -> list[dict]:
    """This test's events (the relay may still be delivering an earlier test's)."""
    return [e for e in events if e["detail"].get("sessionId") == session["id"]]


def mine_once_in(published, session: dict, expect: str, timeout: float = 30.0) -> list[dict]:
    """This test's events, once this request's `expect` is among them (an earlier test's event
    of the same kind, still on its way, does not count)."""
    deadline = time.monotonic() + timeout
    while True:
        events = mine(published(timeout=1), session)
        if any(e["detail-type"] == expect for e in events) or time.monotonic() > deadline:
            return events


def assert_refused(answer) -> None:
    """The one generic page a refused browser request gets."""
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    assert REFUSAL_TITLE in answer.text
    assert "Set-Cookie" not in answer.headers


def click_start(browser, stack, start_url: str):
    """The start page's button, as a browser sends it: a same-origin form POST of the key."""
    action, _, query = start_url.partition("?")
    return browser.post(
        action,
        data=dict([query.split("=", 1)]),
        headers={"Origin": stack.api_url, "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
        timeout=60,
    )


def bank_url_of(page) -> str:
    match = re.search(r'http-equiv="refresh" content="0;\s*url=([^"]+)"', page.text)
    assert match, page.text[:500]
    return html.unescape(match.group(1))


def test_customer_reauthorizes_in_the_browser(stack, api, browser, dwolla, published, table):
    created = api.create(MX, {"returnUrl": stack.return_url}, key=_key())
    assert created.status_code == 201, created.text
    session = created.json()
    assert (session["exchangeId"], session["status"]) == (MX, "pending")
    assert session["handoff"]["type"] == "redirect"
    assert created.headers["Location"] == f"{stack.api_url}/reauth-sessions/{session['id']}"
    assert session["startUrl"].startswith(f"{stack.api_url}/reauth/link/{session['id']}?key=")

    opened = browser.get(session["startUrl"])  # the start page: nothing changes yet
    assert opened.status_code == 200 and "<form" in opened.text
    # The browser's binding token, naming no request (nothing is stored for it).
    assert opened.headers["Set-Cookie"].split(";")[0].count(".") == 0
    assert "nonce-" in opened.headers["Content-Security-Policy"]

    started = click_start(browser, stack, session["startUrl"])
    assert started.status_code == 200, started.text
    assert bank_url_of(started) == session["handoff"]["url"]
    cookie = started.headers["Set-Cookie"]
    assert cookie.startswith("reauth_binding=")  # the browser's one binding cookie
    assert cookie.split(";")[0].endswith("." + session["id"].replace("-", ""))
    for attribute in ("Path=/reauth/", "HttpOnly", "Secure", "SameSite=Lax"):
        assert attribute in cookie

    at_bank = browser.get(bank_url_of(started))  # the sandbox's bank page (302 back)
    assert at_bank.status_code == 302, at_bank.text
    assert at_bank.headers["Location"] == f"{stack.callback_url}?exchange={MX}"
    assert not at_bank.request.headers.get("Cookie")  # the binding stays with our host

    back = browser.get(at_bank.headers["Location"])
    assert back.request.headers["Cookie"].startswith("reauth_")
    assert back.status_code == 303, back.text
    done_url = f"{stack.return_url}?status=reauthorized&session={session['id']}"
    assert back.headers["Location"] == done_url

    landed = browser.get(back.headers["Location"])
    assert landed.status_code == 200
    assert "is working again" in landed.text

    answer = api.session(session["id"]).json()
    assert (answer["status"], answer["verification"]["result"]) == ("reauthorized", "confirmed")
    record = api.status(MX).json()
    assert (record["status"], record["lastSessionId"]) == ("reauthorized", session["id"])
    assert record["pendingSessionId"] is None
    assert dwolla.exchange(MX)["status"] == "active"

    events = mine_once_in(published, session, "Exchange Reauthorized")
    assert [e["detail-type"] for e in events] == ["Reauth Session Created", "Exchange Reauthorized"]
    assert all(e["source"] == "dwolla-reauth" for e in events)
    reauthorized = events[1]["detail"]
    assert (reauthorized["sessionId"], reauthorized["exchangeId"]) == (session["id"], MX)

    item = table(f"REQUEST#{session['id']}", "REQUEST")
    assert item["status"]["S"] == "reauthorized"
    assert "gsi1pk" not in item  # out of the deadline index
    [attempt] = item["attempts"]["M"].values()
    assert {"bindingHash", "startedAt", "outcome"} <= set(attempt["M"])
    token = cookie.split(";", 1)[0].split(".", 1)[1]
    link_key = session["startUrl"].split("key=", 1)[1]
    assert token not in json.dumps(item) and link_key not in json.dumps(item)  # nothing stored
    exchange = table(f"EXCHANGE#{MX}", "EXCHANGE")
    assert exchange["status"]["S"] == "reauthorized"
    assert exchange["lastRequestId"]["S"] == session["id"]
    assert "pendingRequestId" not in exchange

    # A reload of the callback answers the same and tells nobody twice.
    again = browser.get(at_bank.headers["Location"])
    assert (again.status_code, again.headers["Location"]) == (303, done_url)
    assert [e["detail-type"] for e in mine(published(timeout=1), session)] == [
        "Reauth Session Created",
        "Exchange Reauthorized",
    ]


def test_forged_callback_without_the_binding_cookie_changes_nothing(
    stack, api, browser, published, table
):
    session = api.create(MX, {"returnUrl": stack.return_url}, key=_key()).json()
    started = click_start(browser, stack, session["startUrl"])  # the customer's browser is bound
    bank_page = bank_url_of(started)
    callback = f"{stack.callback_url}?exchange={MX}"

    attacker = Browser()
    assert_refused(attacker.get(callback))
    attempt = session["attempts"][0]["id"]
    named = session["id"].replace("-", "")
    for forged in (
        f"reauth_binding={secrets.token_urlsafe(32)}.{named}",  # a token of its own, naming it
        f"reauth_{named}={attempt}.{secrets.token_urlsafe(32)}",  # the retired per-request form
    ):
        assert_refused(attacker.get(callback, headers={"Cookie": forged}))

    assert api.session(session["id"]).json()["status"] == "pending"
    assert table(f"REQUEST#{session['id']}", "REQUEST")["status"]["S"] == "pending"
    assert api.status(MX).json()["pendingSessionId"] == session["id"]
    assert "Exchange Reauthorized" not in [
        e["detail-type"] for e in mine(published(timeout=1), session)
    ]

    # The refusals did not burn the request: the real customer still gets through.
    back = browser.get(browser.get(bank_page).headers["Location"])
    assert back.headers["Location"].startswith(f"{stack.return_url}?status=reauthorized")


def test_unknown_exchange_is_404_exchange_not_found(api):
    assert_error(api.create(str(uuid.uuid4()), key=_key()), 404, "ExchangeNotFound")


def test_missing_open_banking_scope_is_502_dwolla_scope_missing(api, dwolla):
    dwolla.set_open_banking_scope(False)
    assert_error(api.create(MX, key=_key()), 502, "DwollaScopeMissing")


def test_dwolla_outage_is_503_and_the_same_key_succeeds_later(api, dwolla):
    dwolla.clear_requests()
    dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=20, status=503)
    key = _key()

    assert_error(api.create(MX, key=key), 503, "DwollaUnavailable")
    posts = [
        r
        for r in dwolla.requests()
        if r["method"] == "POST" and r["path"].endswith("/exchange-sessions")
    ]
    assert len(posts) >= 2  # retried inside the invocation, with one Idempotency-Key
    assert len({r["idempotencyKey"] for r in posts}) == 1

    dwolla.clear_faults()
    later = api.create(MX, key=key)
    assert later.status_code == 201, later.text


def test_token_session_is_completed_by_the_platform(api, dwolla, published):
    created = api.create(PLAID, key=_key())
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["handoff"]["type"] == "token"
    assert session["handoff"]["token"].startswith("link-sandbox-")
    assert session["startUrl"]  # the service's own Plaid page; this platform runs Link itself

    dwolla.complete_exchange_session(session["handoff"]["token"])  # Link ran, the bank said yes
    completed = api.complete(session["id"], {})

    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "reauthorized"
    assert api.status(PLAID).json()["status"] == "reauthorized"
    events = mine_once_in(published, session, "Exchange Reauthorized")
    assert [e["detail-type"] for e in events] == ["Reauth Session Created", "Exchange Reauthorized"]
    repeated = api.complete(session["id"], {})  # the platform retries: same answer
    assert (repeated.status_code, repeated.json()["status"]) == (200, "reauthorized")


def test_redirect_session_cannot_be_completed_by_the_platform(api):
    session = api.create(MX, key=_key()).json()
    assert_error(api.complete(session["id"], {}), 409, "HandoffNotToken")

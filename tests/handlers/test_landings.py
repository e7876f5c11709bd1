"""Where the customer lands: every `status` the service puts on a return URL (or on its own
`/reauth/done`) is a page that tells the customer what happened, and the cap on attempts says
that it is for good.

The landing's status is the request's (`reauthorized`, `reauthorized_elsewhere`, `verifying`,
`expired`, `superseded`, `rejected`, `cancelled`, `pending`), or `attempt_failed` when the bound
attempt ended with a reason: the browser journey's landing, after Dwolla's redirect or the Plaid
page's report."""

from __future__ import annotations

import json
import re
import uuid
from html import unescape

import pytest

from reauth.model import NOT_REPAIRED, PROVIDER_ERRORS, RequestStatus
from reauth.repository import MAX_ATTEMPTS
from tests.support.apigw import query_of
from tests.support.constants import PUBLIC_BASE_URL
from tests.support.flow import bank_url, header, location, plaid_config

DONE_URL = f"{PUBLIC_BASE_URL}/reauth/done"
STRICT_CSP = re.compile(
    r"default-src 'none'; style-src 'nonce-[A-Za-z0-9_-]{16,}'; img-src 'self' data:; "
    r"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SESSION = str(uuid.UUID(int=7))
TRY_AGAIN = f'action="{PUBLIC_BASE_URL}/reauth/link/{SESSION}"'

# (status on the landing, extra query) → (title, words the customer reads, offers "Try again")
ELSEWHERE = (
    "Your bank is already connected",
    "Your bank connection for Acme Pay is already working again, so there's nothing more to "
    "do. You can close this window and go back to Acme Pay.",
    False,
)
CLOSED = (
    "This link has expired",
    "Your bank login couldn't be confirmed before this link expired. If Acme Pay still asks "
    "you to reconnect your bank, please ask them for a new link.",
    False,
)
LANDINGS: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[str, str, bool]] = {
    ("reauthorized", ()): (
        "Your bank is connected again",
        "Your bank connection for Acme Pay is working again. You can close this window.",
        False,
    ),
    ("reauthorized_elsewhere", ()): ELSEWHERE,
    ("verifying", ()): (
        "Almost done",
        "We're confirming your login with your bank. You can close this window: we'll let Acme "
        "Pay know when it's done.",
        False,
    ),
    ("expired", ()): CLOSED,
    ("superseded", ()): CLOSED,
    ("rejected", ()): CLOSED,
    ("cancelled", ()): (
        "This request was cancelled",
        "Acme Pay cancelled this request to reconnect your bank, so this link no longer works. "
        "If Acme Pay still asks you to reconnect your bank, please ask them for a new link.",
        False,
    ),
    # The request is open and its attempt's end is not on record (a write lost to a concurrent
    # one): nothing is confirmed, the customer can try again.
    ("pending", ()): (
        "Your bank wasn't reconnected",
        "Something went wrong while connecting to your bank. Please try again.",
        True,
    ),
    **{
        ("attempt_failed", (("reason", reason), ("recoverable", "true"))): (
            "Your bank wasn't reconnected",
            {
                "USER_CANCELLED": "You closed your bank's login before finishing.",
                "TEMPORARY_ERROR": "Your bank couldn't be reached just now.",
                "AUTHENTICATION_ERROR": "Your bank couldn't verify your login.",
            }[reason]
            + " Please try again.",
            True,
        )
        for reason in PROVIDER_ERRORS
    },
    ("attempt_failed", (("reason", NOT_REPAIRED), ("recoverable", "true"))): (
        "Your bank didn't confirm the login",
        "Your bank didn't confirm that you logged in. Please try again.",
        True,
    ),
}


def _done(browser, status: str, extra=(), session: str | None = SESSION) -> dict:
    query = {"status": status, **({"session": session} if session else {}), **dict(extra)}
    url = DONE_URL + "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return browser.get(url)


def _title(answer: dict) -> str:
    return unescape(re.search(r"<h1>(.*?)</h1>", answer["body"]).group(1))


def _words(answer: dict) -> str:
    """The page's message: the paragraph after the heading."""
    return unescape(re.search(r"</h1><p>(.*?)</p>", answer["body"]).group(1))


def test_every_request_status_lands_on_a_page(browser):
    """The landing carries the request's status: each one (a new status too) must have its
    page, and its case in LANDINGS."""
    covered = {status for status, _ in LANDINGS}
    assert covered == {s.value for s in RequestStatus} | {"attempt_failed"}
    reasons = {dict(extra)["reason"] for status, extra in LANDINGS if status == "attempt_failed"}
    assert reasons == {*PROVIDER_ERRORS, NOT_REPAIRED}
    paged = [status.value for status in RequestStatus]
    answers = {status: _done(browser, status)["statusCode"] for status in paged}
    assert answers == {status: 200 for status in paged}


@pytest.mark.parametrize(
    ("status", "extra"),
    [pytest.param(s, e) for s, e in sorted(LANDINGS)],
    ids=[f"{s}-{dict(e).get('reason', '')}" for s, e in sorted(LANDINGS)],
)
def test_every_landing_status_is_a_page_that_says_what_happened(browser, status, extra):
    title, words, retry = LANDINGS[(status, extra)]

    answer = _done(browser, status, extra)

    assert answer["statusCode"] == 200
    assert header(answer, "content-type").startswith("text/html")
    csp = header(answer, "content-security-policy")
    if status == "verifying":  # it checks on its own: its nonce'd script, calling the service
        nonce = re.search(r"style-src 'nonce-([^']+)'", csp)[1]
        assert csp.endswith(f"; script-src 'nonce-{nonce}'; connect-src 'self'")
        assert STRICT_CSP.fullmatch(csp.split("; script-src")[0])
    else:
        assert STRICT_CSP.fullmatch(csp)
        assert "<script" not in answer["body"]
    assert header(answer, "cache-control") == "no-store"
    assert (_title(answer), _words(answer)) == (title, words)
    assert (TRY_AGAIN in answer["body"]) is retry
    assert "can't be used" not in answer["body"]


@pytest.mark.parametrize(
    "query",
    [
        {"status": "pwned"},
        {"status": "REAUTHORIZED"},
        {"status": "reauthorized_somewhere"},
        {"status": ""},
        {"status": "pending"},  # no session to try again with
        {"status": "pending", "session": "not-a-uuid"},
        {"status": "attempt_failed", "session": SESSION},  # no reason
        {"status": "attempt_failed", "session": SESSION, "reason": "SOMETHING_ELSE"},
    ],
)
def test_an_unknown_or_incomplete_landing_is_still_refused(browser, query):
    url = DONE_URL + "?" + "&".join(f"{k}={v}" for k, v in query.items())

    answer = browser.get(url)

    assert answer["statusCode"] == 400
    assert "This link can&#x27;t be used" in answer["body"]


# ---- the landing the journey makes when the exchange was repaired meanwhile -----------------


def _at_the_bank_while_the_platform_notices_the_repair(api, dwolla, browser, clock):
    """The customer logs in at the bank; before the bank's redirect comes back, the platform
    reads the request (more than 15 minutes after the last check), and the service, seeing the
    balance check work again, ends it `reauthorized_elsewhere`."""
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    started = browser.click_start(session["startUrl"])
    back = browser.visit_bank(bank_url(started))  # Dwolla's redirect, not yet followed
    clock.advance(minutes=16)
    assert api.session(session["id"])[1]["status"] == "reauthorized_elsewhere"
    return session, back


def test_a_repair_noticed_while_the_customer_was_at_the_bank_lands_on_a_page_saying_so(
    api, dwolla, browser, clock
):
    session, back = _at_the_bank_while_the_platform_notices_the_repair(api, dwolla, browser, clock)

    landed = browser.get(back)

    assert location(landed) == f"{DONE_URL}?status=reauthorized_elsewhere&session={session['id']}"
    page = browser.get(location(landed))
    assert page["statusCode"] == 200
    assert (_title(page), _words(page)) == ELSEWHERE[:2]
    # The link, opened again, says there is nothing more to do (and offers no button).
    link = browser.get(session["startUrl"])
    assert link["statusCode"] == 200 and "<form" not in link["body"]
    assert (_title(link), _words(link)) == (
        "Already done",
        "Your bank connection for Acme Pay was already renewed. There's nothing more to do: "
        "you can close this window.",
    )


def test_the_plaid_page_is_sent_to_the_elsewhere_page_too(api, dwolla, browser, clock):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"])
    page = browser.click_start(session["startUrl"])
    dwolla.complete_exchange_session(plaid_config(page)["token"])  # Link ran; the bank said yes
    clock.advance(minutes=16)
    assert api.session(session["id"])[1]["status"] == "reauthorized_elsewhere"

    answer = browser.report_plaid(page, {"outcome": "success"})

    target = json.loads(answer["body"])["location"]
    assert query_of(target) == {"status": ["reauthorized_elsewhere"], "session": [session["id"]]}
    assert _title(browser.get(target)) == ELSEWHERE[0]


# ---- the cap on attempts is for good ---------------------------------------------------------

TOO_MANY = (
    "Too many attempts",
    "This link has been tried too many times, so it can't be used again. To reconnect your "
    "bank, please ask Acme Pay for a new link.",
)


def test_the_start_after_the_last_allowed_attempt_says_the_link_cannot_start_again(
    api, dwolla, browser, clock
):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    for _ in range(MAX_ATTEMPTS):  # the first click uses the API's attempt, each next one adds one
        assert 'http-equiv="refresh"' in browser.click_start(session["startUrl"])["body"]
    assert len(api.session(session["id"])[1]["attempts"]) == MAX_ATTEMPTS

    refused = browser.click_start(session["startUrl"])

    assert refused["statusCode"] == 429
    assert (_title(refused), _words(refused)) == TOO_MANY
    assert "wait" not in refused["body"].lower()
    # Waiting does not help: hours later (the request still open) the answer is the same.
    clock.advance(hours=6)
    assert api.session(session["id"])[1]["status"] == "pending"
    later = browser.click_start(session["startUrl"])
    assert later["statusCode"] == 429 and (_title(later), _words(later)) == TOO_MANY
    assert len(api.session(session["id"])[1]["attempts"]) == MAX_ATTEMPTS

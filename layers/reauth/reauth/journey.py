"""The customer's journey in the browser: the link, the button, the bank, and back.

    GET  link?key=…     the start page; changes nothing (scanners and prefetchers fetch it)
    POST link  key=…    the button: start an attempt (reuse the unstarted one, else a fresh Dwolla
                        session), bind this browser to it, go to the bank (MX) or Plaid Link
    GET  callback       Dwolla's redirect back: `?exchange=` is a claim Dwolla must confirm,
                        `?error=` ends the bound attempt (never the request)
    POST link/complete  Plaid Link's onSuccess / onExit, reported by the Plaid page

Everything a browser sends is checked before any I/O; a refusal (BrowserRejected) changes
nothing and explains nothing (one generic page).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .context import Context
from .creating import new_attempt
from .ids import normalize_uuid
from .model import PROVIDER_ERRORS, Attempt, ReauthRequest, RequestStatus
from .repository import MAX_ATTEMPTS
from .security import (
    binding_cookie,
    csrf_matches,
    csrf_token,
    digest,
    is_well_formed_secret,
    matches,
    new_secret,
    read_binding_cookies,
    same_origin,
)
from .urls import with_query
from .verifying import REPAIR_CHECK_ON_CLICK, RepairedMeanwhile, RequestClosed, Verifying

MAX_QUERY_VALUE = 256
REUSE_MARGIN_SECONDS = 120  # an unstarted attempt closer than this to its end is not reused
BIND_TRIES = 3  # concurrent clicks on one link: re-read and decide again
COOKIE_MAX_AGE = 24 * 3600  # the binding outlives the attempt: "try again" uses it


class BrowserRejected(Exception):
    """A browser request that must change nothing and learn nothing (a generic 400 page).
    The reason is for the log only."""


@dataclass(frozen=True)
class Browser:
    """What the HTTP edge read off a browser's request."""

    cookies: list[str]
    origin: str | None = None
    fetch_site: str | None = None


@dataclass(frozen=True)
class StartPage:
    """What opening the link shows: "start" (the button), "done", "verifying" or "closed"; a
    click may also get "too_many_attempts" or "busy" (lost to concurrent clicks: reload)."""

    kind: str
    request: ReauthRequest | None = None


@dataclass(frozen=True)
class Started:
    request: ReauthRequest
    attempt: Attempt
    set_cookie: str
    csrf: str


@dataclass(frozen=True)
class Landing:
    """Where the browser goes after the bank: the platform's return URL or the result page."""

    location: str


class BrowserJourney:
    def __init__(self, ctx: Context, verifying: Verifying) -> None:
        self._ctx = ctx
        self._verifying = verifying

    # ---- the link ----------------------------------------------------------------------------
    def open_link(self, request_id: str, key: str | None) -> StartPage:
        """GET/HEAD of the start link: read only."""
        ctx = self._ctx
        request_id = self._checked_link(request_id, key)
        request = ctx.repo.get_request(request_id)
        if request is None:
            raise BrowserRejected("no such request")
        return StartPage(self._page_kind(request), request)

    def start(self, request_id: str, key: str | None, browser: Browser) -> StartPage | Started:
        """The start button: bind this browser to an attempt and hand it to the bank."""
        ctx = self._ctx
        if not same_origin(browser.origin, browser.fetch_site, ctx.links.base_url()):
            raise BrowserRejected("cross-origin start")
        request_id = _uuid(request_id)
        if key is not None:
            self._checked_link(request_id, key)
        elif request_id not in self._bound_requests(browser.cookies):
            raise BrowserRejected("no link key and no binding for this request")
        for _ in range(BIND_TRIES):
            request = ctx.repo.get_request(request_id)
            if request is None:
                raise BrowserRejected("no such request")
            if not request.startable(ctx.now()):
                return StartPage(self._page_kind(request), request)
            started = self._bind(request)
            if started is not None:
                return started
        # The request kept changing under concurrent clicks: this one is asked to reload.
        return StartPage("busy", request)

    def _bind(self, request: ReauthRequest) -> Started | StartPage | None:
        ctx = self._ctx
        now = ctx.now()
        token = new_secret()
        current = request.current_attempt
        if current.reusable(now, REUSE_MARGIN_SECONDS):
            bound = ctx.repo.start_attempt(request, digest(token), now)
        elif self._verifying.repaired_elsewhere(request, REPAIR_CHECK_ON_CLICK) is not None:
            return StartPage("done", request)  # fixed in another app meanwhile: nothing to do
        elif len(request.attempts) >= MAX_ATTEMPTS:
            return StartPage("too_many_attempts", request)  # for good: a new request is needed
        else:
            number = len(request.attempts) + 1
            attempt = new_attempt(ctx, request.exchange_id, f"reauth-{request.id}-{number}", now)
            attempt = _started(attempt, now, digest(token))
            bound = ctx.repo.add_attempt(request.id, attempt, len(request.attempts), now)
        if bound is None:
            return None
        attempt = bound.current_attempt
        max_age = min(COOKIE_MAX_AGE, int((bound.expires_at - now).total_seconds()))
        cookie = binding_cookie(bound.id, attempt.id, token, ctx.links.cookie_path(), max_age)
        return Started(bound, attempt, cookie, csrf_token(token))

    # ---- coming back -------------------------------------------------------------------------
    def callback(self, browser: Browser, query: dict[str, list[str]]) -> Landing:
        """Dwolla's redirect back: honoured only for a browser bound to one of the request's
        attempts; a success is Dwolla's to confirm."""
        kind, value = _callback_outcome(query)
        bound = self._bound(browser.cookies)
        if kind == "exchange":
            bound = [b for b in bound if b[0].exchange_id == normalize_uuid(value)]
        if not bound:
            raise BrowserRejected("no binding cookie for this callback")
        request, attempt = max(bound, key=lambda b: b[1].started_at or b[1].created_at)
        return Landing(self._settle(request, attempt.id, None if kind == "exchange" else value))

    def complete(
        self, request_id: str, browser: Browser, csrf: str | None, body: object
    ) -> Landing:
        """The Plaid page reports Link's end: {"outcome": "success"} or
        {"outcome": "error", "error": <provider error>}."""
        ctx = self._ctx
        if not same_origin(browser.origin, browser.fetch_site, ctx.links.base_url()):
            raise BrowserRejected("cross-origin completion")
        request_id = _uuid(request_id)
        error = _completion_error(body)
        binding = read_binding_cookies(browser.cookies).get(request_id)
        if binding is None or not csrf_matches(binding[1], csrf):
            raise BrowserRejected("no binding or CSRF token for this request")
        request = ctx.repo.get_request(request_id)
        attempt = request.attempt(binding[0]) if request else None
        if request is None or attempt is None or not matches(binding[1], attempt.binding_hash):
            raise BrowserRejected("binding does not match the request")
        return Landing(self._settle(request, attempt.id, error))

    def _settle(self, request: ReauthRequest, attempt_id: str, error: str | None) -> str:
        try:
            if error is None:
                request = self._verifying.claim_success(request, attempt_id)
            else:
                request = self._verifying.end_attempt(request, attempt_id, error)
        except RepairedMeanwhile as repaired:  # the exchange works: nothing more to do
            return self._landing(repaired.request, attempt_id, "reauthorized_elsewhere")
        except RequestClosed:
            raise BrowserRejected("request closed") from None
        return self._landing(request, attempt_id)

    def _landing(self, request: ReauthRequest, attempt_id: str, status: str = "") -> str:
        status = status or ("verifying" if request.claim_pending else request.status.value)
        params = {"status": status, "session": request.id}
        attempt = request.attempt(attempt_id)
        if request.status is RequestStatus.PENDING and attempt and attempt.outcome:
            recoverable = attempt.recoverable
            params = {
                "status": "attempt_failed",
                "session": request.id,
                "reason": attempt.reason or "",
                "recoverable": "true" if recoverable else "false",
            }
        return with_query(request.return_url or self._ctx.links.done_url(), params)

    # ---- helpers -----------------------------------------------------------------------------
    def _checked_link(self, request_id: str, key: str | None) -> str:
        request_id = _uuid(request_id)
        if not key or not is_well_formed_secret(key):
            raise BrowserRejected("malformed link key")
        if not self._ctx.links.key_matches(request_id, key):
            raise BrowserRejected("wrong link key")
        return request_id

    def _bound_requests(self, cookies: list[str]) -> set[str]:
        return {request.id for request, _ in self._bound(cookies)}

    def _bound(self, cookies: list[str]) -> list[tuple[ReauthRequest, Attempt]]:
        """The requests this browser holds a valid binding for, with the bound attempt."""
        found = []
        for request_id, (attempt_id, token) in read_binding_cookies(cookies).items():
            request = self._ctx.repo.get_request(request_id)
            attempt = request.attempt(attempt_id) if request else None
            if request and attempt and matches(token, attempt.binding_hash):
                found.append((request, attempt))
        return found

    def _page_kind(self, request: ReauthRequest) -> str:
        if request.is_reauthorized():
            return "done"
        if request.status is RequestStatus.VERIFYING or request.claim_pending:
            return "verifying"
        now = self._ctx.now()
        if not request.startable(now):
            return "closed"
        spent = not request.current_attempt.reusable(now, REUSE_MARGIN_SECONDS)
        return "too_many_attempts" if spent and len(request.attempts) >= MAX_ATTEMPTS else "start"


def _started(attempt: Attempt, now: datetime, binding_hash: str) -> Attempt:
    return replace(attempt, started_at=now, binding_hash=binding_hash)


def _uuid(value: str) -> str:
    normalized = normalize_uuid(value)
    if normalized is None:
        raise BrowserRejected("malformed request id")
    return normalized


def _callback_outcome(query: dict[str, list[str]]) -> tuple[str, str]:
    """('exchange', id) or ('error', CODE) from Dwolla's redirect query, or BrowserRejected."""
    exchange, error = query.get("exchange"), query.get("error")
    if exchange is not None and error is None:
        kind, values = "exchange", exchange
    elif error is not None and exchange is None:
        kind, values = "error", error
    else:
        raise BrowserRejected("need exactly one of exchange / error")
    if len(values) != 1 or len(values[0]) > MAX_QUERY_VALUE:
        raise BrowserRejected("malformed query")
    value = values[0]
    if kind == "exchange":
        if normalize_uuid(value) is None:
            raise BrowserRejected("exchange is not a UUID")
        return "exchange", value
    if value not in PROVIDER_ERRORS:
        raise BrowserRejected("unknown error value")
    return "error", value


def _completion_error(body: object) -> str | None:
    if not isinstance(body, dict):
        raise BrowserRejected("completion body is not an object")
    if body == {"outcome": "success"}:
        return None
    if (
        set(body) == {"outcome", "error"}
        and body["outcome"] == "error"
        and isinstance(body["error"], str)
        and body["error"] in PROVIDER_ERRORS
    ):
        return body["error"]
    raise BrowserRejected("malformed completion")

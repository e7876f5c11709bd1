"""The customer's journey in the browser: the link, the button, the bank, and back.

    GET  link?key=…     the start page; changes nothing of the flow (scanners and prefetchers
                        fetch it); its first showing is noted (`openedAt`, timeline.py)
    POST link  key=…    the button: start an attempt (reuse the unstarted one, else a fresh Dwolla
         render=…       session), bind this browser to it, go to the bank (MX) or Plaid Link;
                        one rendering of the button starts at most one attempt
    GET  callback       Dwolla's redirect back: `?exchange=` is a claim Dwolla must confirm,
                        `?error=` (the browser's word) ends the one attempt at the bank, if any
    POST link/complete  Plaid Link's onSuccess / onExit, reported by the Plaid page (its CSRF
                        token names the attempt: two tabs each report their own)
    GET  plaid-oauth    Plaid's return from an OAuth bank (`?oauth_state_id=`): the bound
                        browser's Plaid page again, same token and attempt; changes nothing
    GET  link/status    the verifying page's poll: still verifying, or where the browser goes
                        (read-only, one GetItem, no Dwolla call)

Everything a browser sends is checked before any I/O; a refusal (BrowserRejected) changes
nothing and explains nothing (one generic page).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .context import Context
from .creating import new_attempt
from .ids import normalize_uuid
from .model import (
    PROVIDER_ERRORS,
    RENEWABLE_STATUSES,
    Attempt,
    HandoffType,
    ReauthRequest,
    Reporter,
    RequestStatus,
)
from .repository import MAX_ATTEMPTS
from .security import (
    BrowserBinding,
    binding_cookie,
    csrf_attempt,
    csrf_token,
    digest,
    is_well_formed_secret,
    matches,
    new_secret,
    read_binding,
    same_origin,
)
from .urls import with_query
from .verifying import REPAIR_CHECK_ON_CLICK, RepairedMeanwhile, RequestClosed, Verifying
from .words import language

MAX_QUERY_VALUE = 256
REUSE_MARGIN_SECONDS = 120  # an unstarted attempt closer than this to its end is not reused
BIND_TRIES = 3  # concurrent clicks on one link: re-read and decide again
COOKIE_MAX_AGE = 24 * 3600  # the binding outlives the attempt: "try again" uses it
AT_THE_BANK = timedelta(hours=1)  # a started attempt this recent may be at the bank still
_OAUTH_STATE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")  # Plaid's are UUIDs
logger = logging.getLogger(__name__)


class BrowserRejected(Exception):
    """A browser request that must change nothing and learn nothing (a generic 400 page).
    The reason is for the log only."""


@dataclass(frozen=True)
class Browser:
    """What the HTTP edge read off a browser's request."""

    cookies: list[str]
    origin: str | None = None
    fetch_site: str | None = None
    prefetch: bool = False  # the browser says it only prefetches (Sec-Purpose / Purpose)


@dataclass(frozen=True)
class StartPage:
    """What opening the link shows: "start" (the button), "done", "verifying", "expired" or
    "cancelled" (both offer "Send me a new link", renewal.py) or "closed" (superseded,
    rejected); a click may also get "too_many_attempts" or "busy" (lost to concurrent clicks:
    reload)."""

    kind: str
    request: ReauthRequest | None = None
    set_cookie: str | None = None  # a browser's first opening: its binding token
    first_opened: bool = False  # this showing was the link's first (`openedAt` recorded)


@dataclass(frozen=True)
class Started:
    request: ReauthRequest
    attempt: Attempt
    set_cookie: str
    csrf: str


@dataclass(frozen=True)
class PlaidReturn:
    """Back from an OAuth bank: the Plaid page again, for the attempt still at Plaid."""

    request: ReauthRequest
    attempt: Attempt
    csrf: str
    received_redirect_uri: str  # the configured return with the validated oauth_state_id


@dataclass(frozen=True)
class Landing:
    """Where the browser goes after the bank: the platform's return URL or the result page."""

    location: str


@dataclass(frozen=True)
class Followed:
    """How a request a browser follows stands: "verifying" (no location yet), or the status
    its landing carries and the landing itself (where the browser goes now)."""

    status: str
    location: str | None = None


class BrowserJourney:
    def __init__(self, ctx: Context, verifying: Verifying) -> None:
        self._ctx = ctx
        self._verifying = verifying

    # ---- the link ----------------------------------------------------------------------------
    def open_link(
        self, request_id: str, key: str | None, browser: Browser, *, head: bool = False
    ) -> StartPage:
        """GET/HEAD of the start link: changes nothing of the flow. A browser without a binding
        token gets one in a cookie (nothing is stored), so concurrent clicks of its first button
        share it. The first GET that shows the start button is noted as the link's opening
        (not a HEAD, nor a browser's declared prefetch); a failure to note it never fails the
        page."""
        ctx = self._ctx
        request_id = self._checked_link(request_id, key)
        request = ctx.repo.get_request(request_id)
        if request is None:
            raise BrowserRejected("no such request")
        kind = self._page_kind(request)
        cookie = None
        if kind == "start" and read_binding(browser.cookies).token is None:
            cookie = self._cookie(BrowserBinding(new_secret()))
        first = kind == "start" and not head and not browser.prefetch and self._opened(request)
        return StartPage(kind, request, cookie, first_opened=first)

    def _opened(self, request: ReauthRequest) -> bool:
        """Note the request's first opening; True when this one was it."""
        if request.opened_at is not None:
            return False
        try:
            return self._ctx.repo.record_opened(request.id, self._ctx.now())
        except Exception:  # telemetry: the page is shown whatever the table says
            logger.warning("the link's opening was not recorded", exc_info=True)
            return False

    def start(
        self, request_id: str, key: str | None, browser: Browser, render: str | None = None
    ) -> StartPage | Started:
        """The start button: bind this browser to an attempt and hand it to the bank. `render`
        names the page's rendering: submitted again, it gets the attempt it started."""
        ctx = self._ctx
        if not same_origin(browser.origin, browser.fetch_site, ctx.links.base_url()):
            raise BrowserRejected("cross-origin start")
        request_id = _uuid(request_id)
        if render is not None and not is_well_formed_secret(render):
            raise BrowserRejected("malformed render id")
        binding = read_binding(browser.cookies)
        bound = self._bound(binding)
        if key is not None:
            self._checked_link(request_id, key)
        elif request_id not in {request.id for request, _ in bound}:
            raise BrowserRejected("no link key and no binding for this request")
        binding = binding.with_request(request_id, _still_useful(bound, ctx.now()))
        if binding.token is None:
            binding = replace(binding, token=new_secret())
        for _ in range(BIND_TRIES):
            request = ctx.repo.get_request(request_id)
            if request is None:
                raise BrowserRejected("no such request")
            if not request.startable(ctx.now()):
                return StartPage(self._page_kind(request), request)
            started = self._bind(request, binding, render)
            if started is not None:
                return started
        # The request kept changing under concurrent clicks: this one is asked to reload.
        return StartPage("busy", request)

    def _bind(
        self, request: ReauthRequest, binding: BrowserBinding, render: str | None
    ) -> Started | StartPage | None:
        ctx = self._ctx
        now = ctx.now()
        token_hash, render_hash = digest(binding.token or ""), digest(render) if render else None
        earlier = next((a for a in request.attempts if a.render_hash == render_hash), None)
        if render_hash and earlier is not None:  # this rendering was submitted before
            if _handed_again(request, earlier, token_hash, now):
                return self._started(request, earlier, binding)
            return StartPage("start", request)  # that attempt is over: a fresh button
        current = request.current_attempt
        if current.reusable(now, REUSE_MARGIN_SECONDS):
            bound = ctx.repo.start_attempt(request, token_hash, now, render_hash)
        elif self._verifying.repaired_elsewhere(request, REPAIR_CHECK_ON_CLICK) is not None:
            return StartPage("done", request)  # fixed in another app meanwhile: nothing to do
        elif (ended := self._ended_by_the_check(request)) is not None:
            return ended  # e.g. rejected: its funding source was not the exchange's
        elif len(request.attempts) >= MAX_ATTEMPTS:
            return StartPage("too_many_attempts", request)  # for good: a new request is needed
        else:
            number = len(request.attempts) + 1
            attempt = new_attempt(
                ctx,
                request.exchange_id,
                f"reauth-{request.id}-{number}",
                now,
                request.handoff_type,
            )
            attempt = replace(
                attempt, started_at=now, binding_hash=token_hash, render_hash=render_hash
            )
            bound = ctx.repo.add_attempt(request.id, attempt, len(request.attempts), now)
        if bound is None:
            return None
        return self._started(bound, bound.current_attempt, binding)

    def _ended_by_the_check(self, request: ReauthRequest) -> StartPage | None:
        """The page to show when the repair check just made ended the request (then no Dwolla
        session is made for it); None when it can still start."""
        fresh = self._ctx.repo.get_request(request.id)
        if fresh is not None and fresh.startable(self._ctx.now()):
            return None
        return StartPage(self._page_kind(fresh) if fresh else "closed", fresh or request)

    def _started(
        self, request: ReauthRequest, attempt: Attempt, binding: BrowserBinding
    ) -> Started:
        csrf = csrf_token(binding.token or "", attempt.id)
        return Started(request, attempt, self._cookie(binding), csrf)

    def _cookie(self, binding: BrowserBinding) -> str:
        return binding_cookie(binding, self._ctx.links.cookie_path(), COOKIE_MAX_AGE)

    # ---- coming back -------------------------------------------------------------------------
    def callback(self, browser: Browser, query: dict[str, list[str]]) -> Landing:
        """Dwolla's redirect back: honoured only for a browser bound to one of the request's
        attempts. A success is Dwolla's to confirm; an `?error=` is the browser's word (any page
        can link it): it ends only the one attempt this browser has at the bank, recoverably."""
        kind, value = _callback_outcome(query)
        bound = self._bound(read_binding(browser.cookies))
        if kind == "exchange":
            mine = [b for b in bound if b[0].exchange_id == normalize_uuid(value)]
            if not mine:
                raise BrowserRejected("no binding cookie for this callback")
            request, attempt = _latest(mine)
            return Landing(self._settle(request, attempt.id, None, Reporter.REDIRECT))
        now = self._ctx.now()
        at_bank = [b for b in bound if _at_the_bank(b[0], b[1], now)]
        if len({request.id for request, _ in at_bank}) > 1:
            raise BrowserRejected("an ?error= for bank visits of several requests")
        if at_bank:
            request, attempt = _latest(at_bank)
            return Landing(self._settle(request, attempt.id, value, Reporter.REDIRECT))
        ended = [b for b in bound if b[1].handoff_type is HandoffType.REDIRECT and b[1].outcome]
        if not ended:
            raise BrowserRejected("no attempt at the bank for this ?error=")
        request, attempt = _latest(ended)  # a reload of the callback: the same answer
        return Landing(self._landing(request, attempt.id))

    def plaid_return(self, browser: Browser, query: dict[str, list[str]]) -> PlaidReturn | Landing:
        """Plaid sends the browser back from an OAuth bank to PLAID_REDIRECT_URL with
        `?oauth_state_id=`: Link must be opened again with the same token and that URI. Only for
        this browser's Plaid attempt still at Plaid (bound, not ended, its request open, its
        token alive); a tab whose attempt is over lands on its result. Changes nothing."""
        redirect = self._ctx.links.plaid_redirect_url
        if not redirect:
            raise BrowserRejected("no Plaid OAuth return configured")
        values = query.get("oauth_state_id") or []
        if len(values) != 1 or not _OAUTH_STATE_ID_RE.fullmatch(values[0]):
            raise BrowserRejected("malformed oauth_state_id")
        binding = read_binding(browser.cookies)
        bound = [b for b in self._bound(binding) if b[1].handoff_type is HandoffType.TOKEN]
        now = self._ctx.now()
        at_plaid = [b for b in bound if _at_plaid(b[0], b[1], now)]
        if not at_plaid:
            if not bound:
                raise BrowserRejected("no Plaid attempt for this OAuth return")
            request, attempt = _latest(bound)  # a stale tab, a late return: its result
            return Landing(self._landing(request, attempt.id))
        request, attempt = _latest(at_plaid)
        received = with_query(redirect, {"oauth_state_id": values[0]})
        return PlaidReturn(request, attempt, csrf_token(binding.token or "", attempt.id), received)

    def complete(
        self, request_id: str, browser: Browser, csrf: str | None, body: object
    ) -> Landing:
        """The Plaid page reports Link's end: {"outcome": "success"} or
        {"outcome": "error", "error": <provider error>}; its CSRF token names its attempt."""
        ctx = self._ctx
        if not same_origin(browser.origin, browser.fetch_site, ctx.links.base_url()):
            raise BrowserRejected("cross-origin completion")
        request_id = _uuid(request_id)
        error = _completion_error(body)
        token = read_binding(browser.cookies).token
        attempt_id = csrf_attempt(token, csrf) if token else None
        if attempt_id is None:
            raise BrowserRejected("no binding or CSRF token for this request")
        request = ctx.repo.get_request(request_id)
        attempt = request.attempt(attempt_id) if request else None
        if request is None or attempt is None or not matches(token, attempt.binding_hash):
            raise BrowserRejected("binding does not match the request")
        return Landing(self._settle(request, attempt.id, error, Reporter.PLAID_PAGE))

    def _settle(
        self, request: ReauthRequest, attempt_id: str, error: str | None, reporter: Reporter
    ) -> str:
        try:
            if error is None:
                request = self._verifying.claim_success(request, attempt_id)
            else:
                request = self._verifying.end_attempt(request, attempt_id, error, reporter)
        except RepairedMeanwhile as repaired:  # the exchange works: nothing more to do
            return self._landing(repaired.request, attempt_id, "reauthorized_elsewhere")
        except RequestClosed as closed:  # a stale tab, a late return: a clear "closed" page
            over = closed.request  # superseded, expired, or pending past its deadline
            return self._landing(over, attempt_id, "expired" if over.is_open() else "")
        return self._landing(request, attempt_id)

    # ---- following a verifying request -------------------------------------------------------
    def follow(self, request_id: str, browser: Browser) -> Followed:
        """The verifying page's poll: honoured only for a browser bound to one of the request's
        attempts (its cookie names the request, an attempt holds its token's digest). Reads
        the one request (one GetItem), changes nothing and asks no one: a poll never adds load
        on Dwolla (a waiting claim is checked by the schedule, and by the platform's reads)."""
        if not same_origin(browser.origin, browser.fetch_site, self._ctx.links.base_url()):
            raise BrowserRejected("cross-origin status")
        request_id = _uuid(request_id)
        binding = read_binding(browser.cookies)
        token = binding.token
        if token is None or request_id not in binding.request_ids:
            raise BrowserRejected("no binding for this request")
        request = self._ctx.repo.get_request(request_id)
        if request is None:
            raise BrowserRejected("no such request")
        mine = [(request, a) for a in request.attempts if matches(token, a.binding_hash)]
        if not mine:
            raise BrowserRejected("binding does not match the request")
        if self._page_kind(request) == "verifying":
            return Followed("verifying")
        params = self._landing_params(request, _latest(mine)[1].id)
        return Followed(params["status"], self._landing_url(request, params))

    def _landing(self, request: ReauthRequest, attempt_id: str, status: str = "") -> str:
        return self._landing_url(request, self._landing_params(request, attempt_id, status))

    def _landing_params(
        self, request: ReauthRequest, attempt_id: str, status: str = ""
    ) -> dict[str, str]:
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
        return params

    def _landing_url(self, request: ReauthRequest, params: dict[str, str]) -> str:
        if request.return_url:
            return with_query(request.return_url, params)
        # The service's own result page speaks the request's language (it reads no request).
        if lang := language(request.locale):
            params["lang"] = lang
        return with_query(self._ctx.links.done_url(), params)

    # ---- helpers -----------------------------------------------------------------------------
    def _checked_link(self, request_id: str, key: str | None) -> str:
        return checked_link(self._ctx, request_id, key)

    def _bound(self, binding: BrowserBinding) -> list[tuple[ReauthRequest, Attempt]]:
        """The attempts this browser started, with their requests: the requests its cookie names
        (one BatchGetItem), the attempts holding its token's digest."""
        token = binding.token
        if token is None or not binding.request_ids:
            return []
        requests = self._ctx.repo.get_requests(binding.request_ids)
        return [
            (request, attempt)
            for request in requests.values()
            for attempt in request.attempts
            if matches(token, attempt.binding_hash)
        ]

    def _page_kind(self, request: ReauthRequest) -> str:
        if request.is_reauthorized():
            return "done"
        if request.status is RequestStatus.VERIFYING or request.claim_pending:
            return "verifying"
        now = self._ctx.now()
        if not request.startable(now):
            status = request.effective_status(now)
            return status.value if status in RENEWABLE_STATUSES else "closed"
        spent = not request.current_attempt.reusable(now, REUSE_MARGIN_SECONDS)
        return "too_many_attempts" if spent and len(request.attempts) >= MAX_ATTEMPTS else "start"


def checked_link(ctx: Context, request_id: str, key: str | None) -> str:
    """The request id a link names, when `key` is its key (checked before any I/O but the
    link secret's); else BrowserRejected."""
    request_id = _uuid(request_id)
    if not key or not is_well_formed_secret(key):
        raise BrowserRejected("malformed link key")
    if not ctx.links.key_matches(request_id, key):
        raise BrowserRejected("wrong link key")
    return request_id


def _latest(bound: list[tuple[ReauthRequest, Attempt]]) -> tuple[ReauthRequest, Attempt]:
    return max(bound, key=lambda b: b[1].started_at or b[1].created_at)


def _at_the_bank(request: ReauthRequest, attempt: Attempt, now: datetime) -> bool:
    """A redirect attempt the browser may be coming back from its bank visit to finish."""
    return _handed_off(request, attempt, HandoffType.REDIRECT, now)


def _at_plaid(request: ReauthRequest, attempt: Attempt, now: datetime) -> bool:
    """A Plaid attempt the browser may be coming back from an OAuth bank to finish: its link
    token alive too."""
    return (
        _handed_off(request, attempt, HandoffType.TOKEN, now)
        and bool(attempt.handoff_token)
        and now < attempt.expires_at
    )


def _handed_off(request: ReauthRequest, attempt: Attempt, kind: HandoffType, now: datetime) -> bool:
    """An attempt of this kind, of an open request, started lately (AT_THE_BANK) and not ended."""
    started = attempt.started_at
    return (
        request.is_open()
        and attempt.handoff_type is kind
        and attempt.outcome is None
        and started is not None
        and now - started <= AT_THE_BANK
    )


def _handed_again(request: ReauthRequest, attempt: Attempt, token_hash: str, now: datetime) -> bool:
    """May a repeated submission of the rendering that started `attempt` get it again? Only
    while it is the current one, not ended, this browser's, and far enough from its end."""
    return (
        attempt.id == request.current_attempt_id
        and attempt.outcome is None
        and attempt.binding_hash == token_hash
        and (attempt.expires_at - now).total_seconds() > REUSE_MARGIN_SECONDS
    )


def _still_useful(bound: list[tuple[ReauthRequest, Attempt]], now: datetime) -> set[str]:
    """The bound requests whose binding may still matter: open, waiting for Dwolla, or closed
    while this browser may be at the bank (a late success). The rest are dropped."""
    return {
        request.id
        for request, attempt in bound
        if request.is_open()
        or request.claim_pending
        or (
            not request.is_reauthorized()
            and now - (attempt.started_at or attempt.created_at) <= AT_THE_BANK
        )
    }


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

"""The use cases: what the two functions do, in the vocabulary of the flow.

The service sees adapters (Dwolla, the session repository, the event publisher, the secrets) and
plain dataclasses; it never reads the environment, builds HTTP responses or imports boto3.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from . import events
from .dwolla import DwollaClient, DwollaError
from .errors import ErrorCode, ServiceError, from_dwolla
from .model import (
    EXCHANGE_NOT_ACTIVE,
    PROVIDER_ERRORS,
    HandoffType,
    ReauthSession,
    SessionStatus,
    iso,
    utcnow,
)
from .repository import ConcurrentChange, SessionRepository, StartRefused
from .security import (
    binding_cookie,
    digest,
    is_allowed_return_url,
    is_well_formed_secret,
    matches,
    new_secret,
    normalize_uuid,
    path_of,
    read_binding_cookie,
    valid_idempotency_key,
    with_query,
)

logger = logging.getLogger(__name__)

# How long an event-made session's creator may take to announce it before a redelivered event
# takes over (well over the function's 28 s timeout; Lambda redelivers after a minute or more).
ANNOUNCE_LEASE = timedelta(seconds=60)
CREATE_ATTEMPTS = 5  # optimistic retries when concurrent creates race for one exchange
MAX_QUERY_VALUE = 256
_ABOUT_HREF_RE = re.compile(
    r"^https?://[^/]+/exchanges/(?P<id>[0-9a-fA-F-]{36})/exchange-sessions/?$"
)
_LINK_ID_RE = {
    "resource": re.compile(r"/exchanges/(?P<id>[0-9a-fA-F-]{36})/?$"),
    "customer": re.compile(r"/customers/(?P<id>[0-9a-fA-F-]{36})/?$"),
}
WEBHOOK_REAUTH_TOPIC = "customer_exchange_reauth_required"


class BrowserRejected(Exception):
    """A browser request that must change nothing and learn nothing (a generic 400 page).
    The reason is for the log only."""


@dataclass(frozen=True)
class Links:
    """The service's own public URLs. The base URL is resolved lazily (it may need an SSM read)."""

    base_url: Callable[[], str]
    callback_override: str = ""

    def callback_url(self) -> str:
        return self.callback_override or f"{self.base_url()}/reauth/callback"

    def start_url(self, session_id: str, key: str) -> str:
        return with_query(f"{self.base_url()}/reauth-sessions/{session_id}/start", {"key": key})

    def done_url(self) -> str:
        return f"{self.base_url()}/reauth/done"


@dataclass(frozen=True)
class Created:
    session: ReauthSession
    start_url: str | None
    replayed: bool


@dataclass(frozen=True)
class BrowserRedirect:
    location: str
    set_cookie: str | None = None


class ReauthService:
    def __init__(
        self,
        *,
        repository: SessionRepository,
        dwolla: DwollaClient,
        publisher: events.EventPublisher,
        links: Links,
        return_url_allowlist: tuple[str, ...],
        session_ttl: timedelta,
        webhook_secret: Callable[[], str] | None = None,
        sweep_batch_size: int = 100,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._repo = repository
        self._dwolla = dwolla
        self._publisher = publisher
        self._links = links
        self._allowlist = return_url_allowlist
        self._ttl = session_ttl
        self._webhook_secret = webhook_secret
        self._sweep_batch_size = sweep_batch_size
        self._clock = clock

    # ---- create ------------------------------------------------------------------------------
    def create_reauth_session(
        self,
        exchange_id: str,
        *,
        customer_id: object = None,
        return_url: object = None,
        idempotency_key: str | None = None,
        trigger: str = "api",
    ) -> Created:
        """Ask Dwolla for a re-authentication exchange session and record it as the exchange's
        one pending session. A repeated idempotency key returns the session it made."""
        exchange_id = _uuid_or(exchange_id, ErrorCode.INVALID_EXCHANGE_ID)
        if customer_id is not None:
            customer_id = _uuid_or(customer_id, ErrorCode.INVALID_CUSTOMER_ID)
        if return_url is not None and not is_allowed_return_url(return_url, self._allowlist):
            raise ServiceError(ErrorCode.RETURN_URL_NOT_ALLOWED)
        if idempotency_key is not None and not valid_idempotency_key(idempotency_key):
            raise ServiceError(ErrorCode.INVALID_IDEMPOTENCY_KEY)

        fingerprint = digest(json.dumps([exchange_id, customer_id, return_url]))
        key_hash = digest(f"{exchange_id}\n{idempotency_key}") if idempotency_key else None
        if key_hash:
            earlier = self._repo.get_idempotency(key_hash)
            if earlier is not None:
                if not hmac.compare_digest(earlier.fingerprint, fingerprint):
                    raise ServiceError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
                return self._replay(earlier.session_id, trigger)
        # The same key reaches Dwolla on every attempt, here and in a retry after a crash.
        dwolla_key = f"reauth-{key_hash[:48]}" if key_hash else f"reauth-{uuid.uuid4()}"
        callback_url = self._links.callback_url()
        try:
            session_id = self._dwolla.create_reauth_exchange_session(
                exchange_id, callback_url, dwolla_key
            )
            handoff = self._dwolla.get_exchange_session(session_id)
        except DwollaError as exc:
            raise _dwolla_failure(exc) from None

        now = self._clock()
        start_key = new_secret() if handoff.type == HandoffType.REDIRECT else None
        session = ReauthSession(
            id=session_id,
            exchange_id=exchange_id,
            customer_id=customer_id,
            status=SessionStatus.PENDING,
            handoff_type=HandoffType(handoff.type),
            handoff_url=handoff.url,
            handoff_token=handoff.token,
            return_url=return_url,
            created_at=now,
            expires_at=now + self._ttl,
            updated_at=now,
            start_key_hash=digest(start_key) if start_key else None,
            trigger=trigger,
        )
        for _ in range(CREATE_ATTEMPTS):
            record = self._repo.get_exchange(exchange_id)
            supersedes = record.pending_session_id if record else None
            if supersedes == session.id:
                return self._replay(session.id, trigger)  # a retry after a crash already stored it
            try:
                stored = self._repo.create_session(
                    session,
                    supersedes=supersedes,
                    idempotency=(key_hash, fingerprint) if key_hash else None,
                    now=now,
                )
            except ConcurrentChange:
                continue
            if not stored:
                return self._replay(session.id, trigger)
            break
        else:
            raise ServiceError(ErrorCode.CONFLICT)

        start_url = self._links.start_url(session.id, start_key) if start_key else None
        self._announce(session, start_url, supersedes)
        return Created(session, start_url, replayed=False)

    def _announce(
        self, session: ReauthSession, start_url: str | None, supersedes: str | None = None
    ) -> None:
        """Publish "Reauth Session Created". For an event-made session the event is the only
        copy of its start link, so a failed publish raises (EventBridge/Lambda redeliver, and
        the redelivery announces again) and a delivered one is recorded on the session."""
        detail = {
            "sessionId": session.id,
            "exchangeId": session.exchange_id,
            "customerId": session.customer_id,
            "handoffType": session.handoff_type.value,
            "startUrl": start_url,
            "expiresAt": iso(session.expires_at),
            "trigger": session.trigger,
        }
        if supersedes:
            detail["supersededSessionId"] = supersedes
        if session.trigger != "event":
            self._publish(events.SESSION_CREATED, detail)  # the API answer carries the link
            return
        try:
            self._publisher.publish(events.SESSION_CREATED, detail)
        except Exception:
            self._repo.release_announcement(session.id)
            raise
        self._repo.mark_announced(session.id, self._clock())

    def _replay(self, session_id: str, trigger: str) -> Created:
        """The answer to a repeated create. An API caller gets a fresh start link (only the
        digest of the first one was kept) as long as nobody used a link yet. A redelivered
        event changes nothing once its session was announced; if the announcement was lost
        (a crash or a failed publish), it announces again, with a fresh link."""
        session = self._repo.get_session(session_id)
        if session is None:
            raise ServiceError(ErrorCode.CONFLICT)
        now = self._clock()
        redirect = session.handoff_type is HandoffType.REDIRECT
        if trigger == "event":
            if session.announced or session.start_key_used or session.trigger != "event":
                return Created(session, None, replayed=True)
            key = new_secret() if redirect else None
            claimed = self._repo.claim_announcement(
                session.id, now, ANNOUNCE_LEASE, digest(key) if key else None
            )
            if not claimed:  # announced meanwhile, being announced, or no longer pending
                return Created(session, None, replayed=True)
            start_url = self._links.start_url(session.id, key) if key else None
            self._announce(session, start_url)
            return Created(session, start_url, replayed=True)
        start_url = None
        if redirect and not session.start_key_used:
            key = new_secret()
            if self._repo.rotate_start_key(session.id, digest(key), now):
                start_url = self._links.start_url(session.id, key)
        return Created(session, start_url, replayed=True)

    def create_from_event(self, detail_type: str, detail: object, event_id: str) -> Created:
        """An EventBridge request for re-authentication; the event id dedupes deliveries."""
        if not isinstance(detail, dict):
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The event detail must be an object.")
        if detail_type == events.REAUTH_REQUESTED:
            exchange_id = detail.get("exchangeId")
        elif detail_type == events.DWOLLA_UPDATE_CREDENTIALS:
            if detail.get("code") != "UpdateCredentials":
                raise ServiceError(ErrorCode.INVALID_REQUEST, "Not an UpdateCredentials error.")
            links = detail.get("_links")
            about = links.get("about") if isinstance(links, dict) else None
            href = about.get("href") if isinstance(about, dict) else None
            match = _ABOUT_HREF_RE.match(href) if isinstance(href, str) else None
            if not match:
                raise ServiceError(
                    ErrorCode.INVALID_REQUEST, "_links.about.href names no exchange."
                )
            exchange_id = match["id"]
        else:
            raise ServiceError(ErrorCode.INVALID_REQUEST, "Unknown detail-type.")
        if not isinstance(exchange_id, str):
            raise ServiceError(ErrorCode.INVALID_EXCHANGE_ID)
        return self.create_reauth_session(
            exchange_id,
            customer_id=detail.get("customerId"),
            return_url=detail.get("returnUrl"),
            idempotency_key=f"event:{event_id}",
            trigger="event",
        )

    # ---- read --------------------------------------------------------------------------------
    def get_session(self, session_id: str) -> ReauthSession:
        session = self._repo.get_session(_uuid_or(session_id, ErrorCode.INVALID_SESSION_ID))
        if session is None:
            raise ServiceError(ErrorCode.SESSION_NOT_FOUND)
        return session

    def get_exchange_status(self, exchange_id: str) -> dict:
        record = self._repo.get_exchange(_uuid_or(exchange_id, ErrorCode.INVALID_EXCHANGE_ID))
        if record is None:
            raise ServiceError(ErrorCode.EXCHANGE_RECORD_NOT_FOUND)
        return record.to_public()

    def now(self) -> datetime:
        return self._clock()

    def set_time_budget(self, remaining_seconds: Callable[[], float] | None) -> None:
        """Bound Dwolla retries by the invocation's remaining time."""
        self._dwolla.set_time_budget(remaining_seconds)

    # ---- the browser -------------------------------------------------------------------------
    def start(self, session_id: str, key: str | None) -> BrowserRedirect:
        """Spend the one-time start key, bind this browser with a cookie, send it to the bank.
        One conditional write checks the key and the session and returns the session."""
        session_id = normalize_uuid(session_id)
        if session_id is None or not key:
            raise BrowserRejected("malformed start link")
        if not is_well_formed_secret(key):
            raise BrowserRejected("wrong start key")
        now = self._clock()
        token = new_secret()
        try:
            session = self._repo.bind_browser(session_id, digest(key), digest(token), now)
        except StartRefused as refused:
            raise BrowserRejected(_start_refusal(refused.current, key, now)) from None
        max_age = int((session.expires_at - now).total_seconds())
        cookie = binding_cookie(session.id, token, path_of(self._links.callback_url()), max_age)
        return BrowserRedirect(location=session.handoff_url, set_cookie=cookie)

    def callback(self, cookie_headers: list[str], query: dict[str, list[str]]) -> BrowserRedirect:
        """Dwolla's redirect back: honoured only for the browser bound to a pending session."""
        outcome = _callback_outcome(query)
        binding = read_binding_cookie(cookie_headers)
        if binding is None:
            raise BrowserRejected("no binding cookie")
        session = self._repo.get_session(binding[0])
        if session is None or not matches(binding[1], session.binding_hash):
            raise BrowserRejected("binding cookie does not match a session")
        kind, value = outcome
        if kind == "exchange" and normalize_uuid(value) != session.exchange_id:
            raise BrowserRejected("exchange does not match the session")
        error = value if kind == "error" else None
        session = self._finish(session, error, browser=True)
        return BrowserRedirect(location=self._return_location(session))

    def complete(self, session_id: str, body: object) -> ReauthSession:
        """The platform reports a token handoff's end (Plaid Link onSuccess / onExit)."""
        session = self.get_session(session_id)
        if not isinstance(body, dict) or set(body) - {"error"}:
            raise ServiceError(ErrorCode.INVALID_COMPLETION)
        error = body.get("error")
        if error is not None and error not in PROVIDER_ERRORS:
            raise ServiceError(ErrorCode.INVALID_COMPLETION)
        if session.handoff_type is not HandoffType.TOKEN:
            raise ServiceError(ErrorCode.HANDOFF_NOT_TOKEN)
        return self._finish(session, error, browser=False)

    def _finish(self, session: ReauthSession, error: str | None, *, browser: bool) -> ReauthSession:
        """Move a pending session to reauthorized (after Dwolla confirms the exchange is active)
        or failed, publish the event once, and answer a repeat with the same result."""
        now = self._clock()
        if session.status is not SessionStatus.PENDING:
            if _same_outcome(session, error):
                return session  # a reload or a retry: same answer, nothing new
            raise _not_pending(browser)
        if session.is_expired(now):
            raise _not_pending(browser)
        reason = error
        if error is None:
            try:
                exchange = self._dwolla.get_exchange(session.exchange_id)
            except DwollaError as exc:
                raise _dwolla_failure(exc) from None
            if exchange.status != "active":
                reason = EXCHANGE_NOT_ACTIVE
        target = SessionStatus.FAILED if reason else SessionStatus.REAUTHORIZED
        changed = self._repo.transition(
            session.id, session.exchange_id, target, now, failure_reason=reason
        )
        current = self._repo.get_session(session.id) if not changed else None
        if not changed:
            # Another request made the move first: answer as it did if it is the same outcome.
            if current is not None and current.status is target and _same_outcome(current, error):
                return current
            raise _not_pending(browser)
        if target is SessionStatus.REAUTHORIZED:
            self._publish(
                events.EXCHANGE_REAUTHORIZED,
                {
                    "sessionId": session.id,
                    "exchangeId": session.exchange_id,
                    "customerId": session.customer_id,
                    "reauthorizedAt": iso(now),
                },
            )
        else:
            self._publish(
                events.SESSION_FAILED,
                {
                    "sessionId": session.id,
                    "exchangeId": session.exchange_id,
                    "customerId": session.customer_id,
                    "reason": reason,
                },
            )
        return replace(session, status=target, failure_reason=reason, updated_at=now)

    def _return_location(self, session: ReauthSession) -> str:
        params = {"status": session.status.value, "session": session.id}
        if session.failure_reason:
            params["reason"] = session.failure_reason
        return with_query(session.return_url or self._links.done_url(), params)

    # ---- lifecycle ---------------------------------------------------------------------------
    def sweep_expired(self) -> int:
        """Close pending sessions past their lifetime (bounded per run). Returns how many."""
        now = self._clock()
        closed = 0
        for candidate in self._repo.pending_past_expiry(now, self._sweep_batch_size):
            if self._repo.transition(
                candidate.session_id, candidate.exchange_id, SessionStatus.EXPIRED, now
            ):
                closed += 1
                self._publish(
                    events.SESSION_EXPIRED,
                    {
                        "sessionId": candidate.session_id,
                        "exchangeId": candidate.exchange_id,
                        "customerId": candidate.customer_id,
                        "expiredAt": iso(now),
                    },
                )
        return closed

    def handle_webhook(self, raw_body: bytes, signature: str | None) -> str:
        """A Dwolla webhook: verify the signature, dedupe on its id, act on re-auth topics.
        Returns what happened ("recorded", "duplicate", "ignored")."""
        if self._webhook_secret is None:
            raise ServiceError(ErrorCode.INVALID_SIGNATURE)
        expected = hmac.new(self._webhook_secret().encode(), raw_body, hashlib.sha256).hexdigest()
        presented = (signature or "").strip().lower().encode()  # bytes: any header compares
        if not presented or not hmac.compare_digest(presented, expected.encode()):
            raise ServiceError(ErrorCode.INVALID_SIGNATURE)
        try:
            payload = json.loads(raw_body)
        except ValueError:
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The body must be JSON.") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The webhook has no id.")
        if payload.get("topic") != WEBHOOK_REAUTH_TOPIC:
            return "ignored"
        links = payload.get("_links") if isinstance(payload.get("_links"), dict) else {}
        exchange_id = _id_from_link(links, "resource")
        if exchange_id is None:
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The webhook names no exchange.")
        customer_id = _id_from_link(links, "customer")
        now = self._clock()
        if not self._repo.record_webhook(payload["id"], now):
            return "duplicate"
        try:
            self._repo.mark_reauth_required(exchange_id, customer_id, now)
            self._publisher.publish(
                events.EXCHANGE_REAUTH_REQUIRED,
                {
                    "exchangeId": exchange_id,
                    "customerId": customer_id,
                    "webhookId": payload["id"],
                    "created": payload.get("created"),
                },
            )
        except Exception:
            self._repo.forget_webhook(payload["id"])  # let Dwolla's redelivery try again
            raise
        return "recorded"

    def _publish(self, detail_type: str, detail: dict) -> None:
        """Publish after the state change is committed. A failure is logged with the ids (the
        state in DynamoDB is the truth; the status API answers from it) and not raised."""
        try:
            self._publisher.publish(detail_type, detail)
        except Exception:
            logger.exception(
                "event not published",
                extra={"detailType": detail_type, "sessionId": detail.get("sessionId")},
            )


# ---- small pure helpers --------------------------------------------------------------------
def _uuid_or(value: object, error: ErrorCode) -> str:
    normalized = normalize_uuid(value)
    if normalized is None:
        raise ServiceError(error)
    return normalized


def _dwolla_failure(exc: DwollaError) -> ServiceError:
    error = from_dwolla(exc)
    logger.warning(
        "Dwolla call failed",
        extra={
            "errorCode": error.code,
            "dwollaStatus": getattr(exc, "status", None),
            "dwollaCode": getattr(exc, "code", None),
        },
    )
    return error


def _callback_outcome(query: dict[str, list[str]]) -> tuple[str, str]:
    """('exchange', id) or ('error', CODE) from Dwolla's redirect query, or BrowserRejected."""
    exchange, error = query.get("exchange"), query.get("error")
    if (exchange is None) == (error is None):
        raise BrowserRejected("need exactly one of exchange / error")
    values = exchange if exchange is not None else error
    if len(values) != 1 or len(values[0]) > MAX_QUERY_VALUE:
        raise BrowserRejected("malformed query")
    value = values[0]
    if exchange is not None:
        if normalize_uuid(value) is None:
            raise BrowserRejected("exchange is not a UUID")
        return "exchange", value
    if value not in PROVIDER_ERRORS:
        raise BrowserRejected("unknown error value")
    return "error", value


def _start_refusal(session: ReauthSession | None, key: str, now: datetime) -> str:
    """Why a start key was not spent, for the log (the browser sees one generic page)."""
    if session is None or session.handoff_type is not HandoffType.REDIRECT:
        return "no redirect session with this id"
    if not matches(key, session.start_key_hash):
        return "wrong start key"
    if session.effective_status(now) is not SessionStatus.PENDING or session.start_key_used:
        return "session not startable"
    return "start key already spent or session closed"


def _same_outcome(session: ReauthSession, error: str | None) -> bool:
    if error is None:
        return session.status is SessionStatus.REAUTHORIZED or (
            session.status is SessionStatus.FAILED and session.failure_reason == EXCHANGE_NOT_ACTIVE
        )
    return session.status is SessionStatus.FAILED and session.failure_reason == error


def _not_pending(browser: bool) -> Exception:
    return (
        BrowserRejected("session not pending")
        if browser
        else ServiceError(ErrorCode.SESSION_NOT_PENDING)
    )


def _id_from_link(links: dict, name: str) -> str | None:
    link = links.get(name)
    href = link.get("href") if isinstance(link, dict) else None
    match = _LINK_ID_RE[name].search(href) if isinstance(href, str) else None
    return normalize_uuid(match["id"]) if match else None

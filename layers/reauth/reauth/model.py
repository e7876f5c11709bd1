"""Re-authentication requests, their attempts, and the one table of allowed state transitions.

A platform asks for a **re-authentication request** of one exchange: its own id, a deadline
(days), a return URL, at most one open per exchange (a newer one supersedes it). Carrying it out
takes one or more **attempts**, each one Dwolla exchange session (single use, ~30 minutes):
the first is made when the request is created, another whenever the customer starts after the
current one was started, expired or ended.

A request's life:

    pending ──▶ verifying ──▶ reauthorized | expired | superseded
       ▲            │
       └────────────┘  (Dwolla answered: not repaired)
    pending | verifying ──▶ reauthorized_elsewhere  (Dwolla shows it repaired, not by this
                                                     request; final)
    pending | verifying ──▶ rejected  (its funding source is not the exchange's: Dwolla's links
                                       say so, so its balance proves nothing; final)
    pending | verifying ──▶ cancelled  (the platform's POST /reauth-sessions/{id}/cancel)
    expired | superseded | cancelled ──▶ reauthorized   (late: a success claimed on one of its
                                             attempts that Dwolla confirms after it closed)

Only `pending` and `verifying` are open (the link works, one per exchange). `expired`,
`superseded` and `cancelled` close the link, but a success the customer made at the bank is
never thrown away: when Dwolla confirms it, the request still ends `reauthorized` (and the
exchange's newer request, if any, `reauthorized_elsewhere`). `reauthorized`,
`reauthorized_elsewhere` and `rejected` are final.

The funding source is the proof: the one the platform named is used only once Dwolla links it
to the exchange (`funding_source_verified`: checked at create, or, when Dwolla could not answer
then, before its first balance check); one Dwolla does not link ends the request `rejected`.

`verifying`: a success was claimed (by the browser or the platform) and Dwolla could not be
asked yet; a later check finishes it. An attempt ends with the provider's word (an error, with
`recoverable`) or with Dwolla's (`reauthorized`, or `unverified` when the balance check still
answers UpdateCredentials). Provider errors end the attempt, never the request.

The table below is the only place that says which moves exist; the repository enforces each move
with a DynamoDB condition naming the status the writer read (and, where it writes events, the
request's event sequence as read), so two writers can never both make one and no write made
on an old read can move a request backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class RequestStatus(StrEnum):
    PENDING = "pending"
    VERIFYING = "verifying"
    REAUTHORIZED = "reauthorized"
    REAUTHORIZED_ELSEWHERE = "reauthorized_elsewhere"  # repaired outside this service
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"  # its funding source is not the exchange's (FundingSourceNotOfExchange)
    CANCELLED = "cancelled"  # the platform called it off (POST /reauth-sessions/{id}/cancel)


_FINAL: frozenset[RequestStatus] = frozenset()
_LATE = frozenset({RequestStatus.REAUTHORIZED})  # only Dwolla's confirmation moves a closed one
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.PENDING: frozenset(
        {
            RequestStatus.VERIFYING,
            RequestStatus.REAUTHORIZED,
            RequestStatus.REAUTHORIZED_ELSEWHERE,
            RequestStatus.EXPIRED,
            RequestStatus.SUPERSEDED,
            RequestStatus.REJECTED,
            RequestStatus.CANCELLED,
        }
    ),
    RequestStatus.VERIFYING: frozenset(
        {
            RequestStatus.PENDING,
            RequestStatus.REAUTHORIZED,
            RequestStatus.REAUTHORIZED_ELSEWHERE,
            RequestStatus.EXPIRED,
            RequestStatus.SUPERSEDED,
            RequestStatus.REJECTED,
            RequestStatus.CANCELLED,
        }
    ),
    RequestStatus.REAUTHORIZED: _FINAL,
    RequestStatus.REAUTHORIZED_ELSEWHERE: _FINAL,
    RequestStatus.REJECTED: _FINAL,
    RequestStatus.EXPIRED: _LATE,
    RequestStatus.SUPERSEDED: _LATE,
    RequestStatus.CANCELLED: _LATE,
}
# Closed requests whose link page offers "Send me a new link" (renewal.py).
RENEWABLE_STATUSES = frozenset({RequestStatus.EXPIRED, RequestStatus.CANCELLED})
OPEN_STATUSES = frozenset({RequestStatus.PENDING, RequestStatus.VERIFYING})
FINAL_STATUSES = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def can_move(source: RequestStatus, target: RequestStatus) -> bool:
    return target in TRANSITIONS[source]


def allowed_sources(target: RequestStatus) -> tuple[RequestStatus, ...]:
    """The statuses a request may move to `target` from (what the DynamoDB condition checks)."""
    sources = tuple(s for s, targets in TRANSITIONS.items() if target in targets)
    if not sources:
        raise ValueError(f"no transition leads to {target}")
    return sources


class ExchangeStatus(StrEnum):
    REAUTH_REQUIRED = "reauth_required"
    REAUTHORIZED = "reauthorized"


class HandoffType(StrEnum):
    REDIRECT = "redirect"
    TOKEN = "token"  # noqa: S105 (a handoff kind, not a password)


class AttemptOutcome(StrEnum):
    FAILED = "failed"  # the provider said so (reason, recoverable)
    UNVERIFIED = "unverified"  # success claimed, Dwolla's balance check says not repaired
    REAUTHORIZED = "reauthorized"  # Dwolla confirmed


@dataclass(frozen=True)
class ProviderError:
    code: str
    recoverable: bool


# What a customer's attempt can end with, as Dwolla's redirect (or Plaid Link) reports it.
PROVIDER_ERRORS: dict[str, ProviderError] = {
    e.code: e
    for e in (
        ProviderError("USER_CANCELLED", recoverable=True),
        ProviderError("TEMPORARY_ERROR", recoverable=True),
        ProviderError("AUTHENTICATION_ERROR", recoverable=False),
    )
}
NOT_REPAIRED = "NOT_REPAIRED"  # an attempt's reason when Dwolla did not confirm a claimed success
NOT_OF_EXCHANGE = "FundingSourceNotOfExchange"  # a rejected request's reason (errors.ErrorCode's)


class Reporter(StrEnum):
    """Who said an attempt failed: the event's `reportedBy`."""

    REDIRECT = "redirect"  # a browser arriving at the callback with ?error= (any site can link it)
    PLAID_PAGE = "plaid-page"  # the service's own Plaid page (same origin, CSRF of the attempt)
    PLATFORM = "platform"  # the platform's IAM-signed /complete
    BALANCE_CHECK = "balance-check"  # Dwolla's balance check after a claimed success


# Only a report the service can tie to this attempt's own bank visit may say "for good"; the
# redirect's ?error= is the browser's word (a link on any page can send it): always recoverable.
ATTRIBUTED_REPORTERS = frozenset({Reporter.PLAID_PAGE, Reporter.PLATFORM})


def failure_recoverable(reason: str, reported_by: Reporter | None) -> bool:
    """May the customer try again? The provider's table says, when the report is attributable."""
    attributed = reported_by is None or reported_by in ATTRIBUTED_REPORTERS
    return PROVIDER_ERRORS[reason].recoverable or not attributed


class VerificationResult(StrEnum):
    CONFIRMED = "confirmed"  # the balance check answers again
    NOT_REPAIRED = "not_repaired"  # it still answers UpdateCredentials
    UNAVAILABLE = "unavailable"  # Dwolla could not be asked (timeout, 5xx, 429): try later
    NOT_OF_EXCHANGE = "not_of_exchange"  # the funding source is not the exchange's: no proof


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Attempt:
    id: str  # Dwolla's exchange-session id
    created_at: datetime
    expires_at: datetime
    handoff_type: HandoffType
    handoff_url: str | None = None
    handoff_token: str | None = None
    started_at: datetime | None = None  # a browser clicked the start button
    binding_hash: str | None = None
    ended_at: datetime | None = None
    outcome: AttemptOutcome | None = None
    reason: str | None = None
    render_hash: str | None = None  # the start page rendering whose button started it
    reported_by: Reporter | None = None  # who reported its failure (None: before 2026-12)

    @property
    def recoverable(self) -> bool | None:
        if self.outcome is AttemptOutcome.FAILED and self.reason in PROVIDER_ERRORS:
            return failure_recoverable(self.reason, self.reported_by)
        if self.outcome is AttemptOutcome.UNVERIFIED:
            return True
        return None

    @property
    def failure_reporter(self) -> Reporter | None:
        """Who said it failed (Dwolla's balance check for an unverified claim)."""
        if self.outcome is AttemptOutcome.UNVERIFIED:
            return Reporter.BALANCE_CHECK
        return self.reported_by if self.outcome is AttemptOutcome.FAILED else None

    def state(self, now: datetime, *, current: bool) -> str:
        """The attempt as the platform sees it: its outcome, else open / expired / replaced."""
        if self.outcome is not None:
            return self.outcome.value
        if now >= self.expires_at and self.started_at is None:
            return "expired"  # never used in time
        return "open" if current else "replaced"

    def reusable(self, now: datetime, margin_seconds: float) -> bool:
        """Never handed to a browser and not about to expire: the next click may use it."""
        return (
            self.started_at is None
            and self.outcome is None
            and (self.expires_at - now).total_seconds() > margin_seconds
        )


class Channel(StrEnum):
    """How the link reaches the customer (delivery.py)."""

    EMAIL = "email"
    SMS = "sms"


@dataclass(frozen=True)
class Contact:
    """Where the customer is reached: personal data, kept on the request only while it is open
    (every close removes it), never logged, never in an event or an error."""

    email: str | None = None
    phone: str | None = None  # E.164
    first_name: str | None = None
    locale: str | None = None
    time_zone: str | None = None  # IANA, for quiet hours


@dataclass(frozen=True)
class SentMessage:
    """One message sent (slot 0: the first message; 1..: the reminders)."""

    channel: Channel
    slot: int
    sent_at: datetime


@dataclass(frozen=True)
class Verification:
    result: VerificationResult
    checked_at: datetime
    next_check_at: datetime | None = None


@dataclass(frozen=True)
class ReauthRequest:
    id: str
    exchange_id: str
    customer_id: str | None
    status: RequestStatus
    return_url: str | None
    created_at: datetime
    expires_at: datetime  # the deadline
    updated_at: datetime
    attempts: tuple[Attempt, ...]
    current_attempt_id: str
    funding_source_id: str | None = None
    # Dwolla links funding_source_id to the exchange (checked at create, or found through the
    # exchange). False: not known yet (Dwolla could not answer): checked before it proves anything.
    funding_source_verified: bool = False
    trigger: str = "api"
    reauthorized_at: datetime | None = None
    verification: Verification | None = None
    event_seq: int = 0  # how many events were written about this request (outbox.py)
    contact: Contact | None = None  # removed from the item when the request closes
    messages: tuple[SentMessage, ...] = ()  # what was sent, in order (delivery.py)
    # Channels that no longer reach the customer (an email bounced for good, or was reported as
    # spam): no message goes there again for this request.
    stopped_channels: frozenset[Channel] = frozenset()
    # The start page was first shown to a browser (a GET with the link's key while it could
    # start). Scanners' and previewers' GETs count too: `started` is the human signal.
    opened_at: datetime | None = None
    ended_at: datetime | None = None  # it closed (its status moved out of pending/verifying)
    # The customer's language as the platform gave it (create's `locale`, else the contact's):
    # the pages and messages speak it (words.py). Kept after the close, unlike the contact.
    locale: str | None = None

    @property
    def reached_by(self) -> Channel | None:
        """The channel of the first message that carried the link (None: the service sent
        none; the platform delivered the link itself). The funnel counts the request there."""
        first = min(self.messages, key=lambda m: (m.sent_at, m.slot), default=None)
        return first.channel if first else None

    @property
    def claim_pending(self) -> bool:
        """A success was claimed and Dwolla could not be asked yet: a check is scheduled."""
        check = self.verification
        return bool(
            check
            and check.result is VerificationResult.UNAVAILABLE
            and check.next_check_at is not None
            and not self.is_reauthorized()
        )

    def last_attempt_at_the_bank(self) -> Attempt | None:
        """The latest attempt a browser took to the bank that has not ended (the customer may
        have finished there without coming back)."""
        started = [a for a in self.attempts if a.started_at is not None and a.outcome is None]
        return max(started, key=lambda a: a.started_at or a.created_at) if started else None

    @property
    def current_attempt(self) -> Attempt:
        return next(a for a in self.attempts if a.id == self.current_attempt_id)

    def attempt(self, attempt_id: str) -> Attempt | None:
        return next((a for a in self.attempts if a.id == attempt_id), None)

    @property
    def handoff_type(self) -> HandoffType:
        return self.current_attempt.handoff_type

    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def is_reauthorized(self) -> bool:
        return self.status in (RequestStatus.REAUTHORIZED, RequestStatus.REAUTHORIZED_ELSEWHERE)

    def past_deadline(self, now: datetime) -> bool:
        return now >= self.expires_at

    def effective_status(self, now: datetime) -> RequestStatus:
        """The deadline is enforced on read: a pending request past it reads as expired, unless
        the customer was taken to the bank: then it reads as verifying until the schedule's
        last word with Dwolla (they may have finished there and never come back). A verifying
        one waits for Dwolla's answer: a success claimed in time still counts."""
        if self.status is RequestStatus.PENDING and self.past_deadline(now):
            if any(a.started_at for a in self.attempts):
                return RequestStatus.VERIFYING
            return RequestStatus.EXPIRED
        return self.status

    def startable(self, now: datetime) -> bool:
        return self.status is RequestStatus.PENDING and not self.past_deadline(now)


@dataclass(frozen=True)
class ExchangeRecord:
    exchange_id: str
    status: ExchangeStatus
    customer_id: str | None
    last_session_id: str | None
    pending_session_id: str | None
    updated_at: datetime
    reauth_required_at: datetime | None = None
    reauthorized_at: datetime | None = None

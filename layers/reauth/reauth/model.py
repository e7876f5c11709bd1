"""Sessions, exchange records, and the one table of allowed state transitions.

A session's life:  pending ──▶ reauthorized | failed | expired | superseded   (all final)
The table below is the only place that says which moves exist; the repository enforces each move
with a DynamoDB condition on the current status, so two writers can never both make one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class SessionStatus(StrEnum):
    PENDING = "pending"
    REAUTHORIZED = "reauthorized"
    FAILED = "failed"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.PENDING: frozenset(
        {
            SessionStatus.REAUTHORIZED,
            SessionStatus.FAILED,
            SessionStatus.EXPIRED,
            SessionStatus.SUPERSEDED,
        }
    ),
    SessionStatus.REAUTHORIZED: frozenset(),
    SessionStatus.FAILED: frozenset(),
    SessionStatus.EXPIRED: frozenset(),
    SessionStatus.SUPERSEDED: frozenset(),
}


def allowed_sources(target: SessionStatus) -> tuple[SessionStatus, ...]:
    """The statuses a session may move to `target` from (what the DynamoDB condition checks)."""
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


# What a customer's attempt can end with, as Dwolla's redirect reports it (plus our own check).
PROVIDER_ERRORS = frozenset({"AUTHENTICATION_ERROR", "USER_CANCELLED", "TEMPORARY_ERROR"})
EXCHANGE_NOT_ACTIVE = "EXCHANGE_NOT_ACTIVE"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ReauthSession:
    id: str  # Dwolla's exchange-session id
    exchange_id: str
    customer_id: str | None
    status: SessionStatus
    handoff_type: HandoffType
    handoff_url: str | None
    handoff_token: str | None
    return_url: str | None
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    failure_reason: str | None = None
    start_key_hash: str | None = None
    start_key_used: bool = False
    binding_hash: str | None = None
    trigger: str = "api"
    announced: bool = False  # "Reauth Session Created" delivered (tracked for event-made ones)

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def effective_status(self, now: datetime) -> SessionStatus:
        """Expiry is enforced on read: a pending session past its lifetime reads as expired."""
        if self.status is SessionStatus.PENDING and self.is_expired(now):
            return SessionStatus.EXPIRED
        return self.status

    def to_public(self, now: datetime) -> dict:
        handoff: dict = {"type": self.handoff_type.value}
        if self.handoff_type is HandoffType.REDIRECT:
            handoff["url"] = self.handoff_url
        else:
            handoff["token"] = self.handoff_token
        body = {
            "id": self.id,
            "exchangeId": self.exchange_id,
            "customerId": self.customer_id,
            "status": self.effective_status(now).value,
            "handoff": handoff,
            "returnUrl": self.return_url,
            "createdAt": iso(self.created_at),
            "expiresAt": iso(self.expires_at),
            "updatedAt": iso(self.updated_at),
        }
        if self.failure_reason:
            body["failureReason"] = self.failure_reason
        return body


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

    def to_public(self) -> dict:
        return {
            "exchangeId": self.exchange_id,
            "status": self.status.value,
            "customerId": self.customer_id,
            "lastSessionId": self.last_session_id,
            "pendingSessionId": self.pending_session_id,
            "reauthRequiredAt": iso(self.reauth_required_at) if self.reauth_required_at else None,
            "reauthorizedAt": iso(self.reauthorized_at) if self.reauthorized_at else None,
            "updatedAt": iso(self.updated_at),
        }

"""Creating a re-authentication request: from the platform's API call or an EventBridge event.

    create ──▶ the contact (optional, contacts.py) checked first
           ──▶ Dwolla: GET /funding-sources/{id} (only when the platform named one: it must be
               the exchange's, ownership.py), POST /exchanges/{id}/exchange-sessions,
               GET /exchange-sessions/{id}
           ──▶ DynamoDB: the request (with attempt #1), the exchange's pointer, the superseded
               request, the idempotency record and "Reauth Session Created" (with the start
               link, in the outbox), in one transaction; with a contact on a channel that is on,
               the request enters the reminders index at slot 0
           ──▶ the first message (delivery.py), at once

A repeated idempotency key answers the request it made (and the same start link: links are
signed, not stored). An event-made request's announcement is its only copy of the link: being
in the same transaction as the request, it is delivered at least once (outbox.py).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from . import events
from .config import is_safe_handoff_url
from .contacts import parse_contact, parse_locale
from .context import Context, dwolla_failure, request_detail, uuid_or
from .delivery import Delivery, DeliveryReport
from .dwolla import DwollaError
from .errors import ErrorCode, ServiceError
from .ids import valid_idempotency_key
from .model import Attempt, HandoffType, ReauthRequest, RequestStatus, iso
from .outbox import OutboxEvent
from .ownership import check_at_create
from .repository import ConcurrentChange
from .security import digest
from .urls import is_allowed_return_url

logger = logging.getLogger(__name__)
# optimistic writes when concurrent creates race for one exchange (the first assumes no open
# request: see Creating._store)
CREATE_ATTEMPTS = 6
_ABOUT_HREF_RE = re.compile(
    r"https?://[^/]+/exchanges/(?P<id>[0-9a-fA-F-]{36})/exchange-sessions/?"
)


@dataclass(frozen=True)
class Created:
    request: ReauthRequest
    start_url: str
    replayed: bool
    delivery: DeliveryReport = field(default_factory=DeliveryReport)  # the first message


def new_attempt(
    ctx: Context,
    exchange_id: str,
    dwolla_key: str,
    now: datetime,
    handoff_type: HandoffType | None = None,
) -> Attempt:
    """Ask Dwolla for a re-authentication exchange session: one attempt, not yet started.
    `handoff_type`: the exchange's, when known (its earlier attempts); see _redirect_url."""
    try:
        session_id = ctx.dwolla.create_reauth_exchange_session(
            exchange_id, _redirect_url(ctx, exchange_id, handoff_type), dwolla_key
        )
        handoff = ctx.dwolla.get_exchange_session(session_id)
    except DwollaError as exc:
        raise dwolla_failure(exc) from None
    if handoff.url is not None and not is_safe_handoff_url(handoff.url):
        logger.error("Dwolla's handoff URL is not https: refused")
        raise ServiceError(ErrorCode.DWOLLA_BAD_RESPONSE)
    return Attempt(
        id=session_id,
        created_at=now,
        expires_at=now + ctx.settings.attempt_ttl,
        handoff_type=HandoffType(handoff.type),
        handoff_url=handoff.url,
        handoff_token=handoff.token,
    )


def _redirect_url(ctx: Context, exchange_id: str, handoff: HandoffType | None) -> str:
    """The session's `_links.redirect-url`: the callback for redirect partners (MX); for Plaid,
    the deployment's Plaid OAuth return when it has one (Plaid sends OAuth banks' customers back
    there), else the callback as before. Which partner an exchange has is known only once a
    session is read, so a request's first session asks Dwolla (the exchange's partner, two
    reads), and only when a Plaid OAuth return is configured."""
    plaid = ctx.links.plaid_redirect_url
    if not plaid:
        return ctx.links.callback_url()
    if handoff is None:
        try:
            partner = ctx.dwolla.exchange_partner_name(exchange_id)
        except DwollaError as exc:
            raise dwolla_failure(exc) from None
        handoff = HandoffType.TOKEN if partner.lower() == "plaid" else HandoffType.REDIRECT
    return plaid if handoff is HandoffType.TOKEN else ctx.links.callback_url()


class Creating:
    def __init__(self, ctx: Context, delivery: Delivery | None = None) -> None:
        self._ctx = ctx
        self._delivery = delivery or Delivery(ctx)

    def create(
        self,
        exchange_id: object,
        *,
        customer_id: object = None,
        return_url: object = None,
        funding_source_id: object = None,
        idempotency_key: str | None = None,
        trigger: str = "api",
        contact: object = None,
        locale: object = None,
    ) -> Created:
        """Make the exchange's one open re-authentication request, with its first attempt."""
        ctx = self._ctx
        exchange_id = uuid_or(exchange_id, ErrorCode.INVALID_EXCHANGE_ID)
        customer = (
            None if customer_id is None else uuid_or(customer_id, ErrorCode.INVALID_CUSTOMER_ID)
        )
        funding_source = (
            None
            if funding_source_id is None
            else uuid_or(funding_source_id, ErrorCode.INVALID_FUNDING_SOURCE_ID)
        )
        if return_url is not None and not is_allowed_return_url(
            return_url, ctx.settings.return_url_allowlist
        ):
            raise ServiceError(ErrorCode.RETURN_URL_NOT_ALLOWED)
        if idempotency_key is not None and not valid_idempotency_key(idempotency_key):
            raise ServiceError(ErrorCode.INVALID_IDEMPOTENCY_KEY)
        valid_return_url = return_url if isinstance(return_url, str) else None
        valid_contact = parse_contact(contact)
        valid_locale = parse_locale(locale) or (valid_contact.locale if valid_contact else None)

        fingerprint = digest(json.dumps([exchange_id, customer, valid_return_url, funding_source]))
        # A key is the platform's, whatever the exchange: the same key for another exchange is
        # the same key reused (409). API keys and EventBridge event ids are separate namespaces.
        key_hash = digest(f"{trigger}\n{idempotency_key}") if idempotency_key else None
        if key_hash:
            earlier = ctx.repo.get_idempotency(key_hash)
            if earlier is not None:
                return self._replay(earlier.request_id, key_hash, fingerprint)
        # The same key reaches Dwolla on every attempt, here and in a retry after a crash.
        dwolla_key = f"reauth-{key_hash[:48]}" if key_hash else f"reauth-{uuid.uuid4()}"
        # The named funding source must be the exchange's: refused before any session is made.
        verified = funding_source is not None and check_at_create(
            ctx.dwolla, funding_source, exchange_id, customer
        )
        now = ctx.now()
        attempt = new_attempt(ctx, exchange_id, dwolla_key, now)
        request = ReauthRequest(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"reauth:{attempt.id}")),
            exchange_id=exchange_id,
            customer_id=customer,
            status=RequestStatus.PENDING,
            return_url=valid_return_url,
            created_at=now,
            expires_at=now + ctx.settings.request_lifetime,
            updated_at=now,
            attempts=(attempt,),
            current_attempt_id=attempt.id,
            funding_source_id=funding_source,
            funding_source_verified=verified,
            trigger=trigger,
            contact=valid_contact,
            locale=valid_locale,
        )
        start_url = ctx.links.start_url(request.id)
        if not self._store(request, start_url, key_hash, fingerprint, now):
            return self._replay(request.id, key_hash, fingerprint)
        # The first message goes now; a replay sends nothing (the first call, or the schedule,
        # sends it: slot 0 is in the reminders index from the start).
        first = self._delivery.first_message(request)
        return Created(request, start_url, replayed=False, delivery=first)

    def _store(
        self,
        request: ReauthRequest,
        start_url: str,
        key_hash: str | None,
        fingerprint: str,
        now: datetime,
    ) -> bool:
        """Store the request as the exchange's open one, with its announcement. False when it
        was already stored (a retry after a crash, or a concurrent duplicate that won)."""
        repo = self._ctx.repo
        # The first write assumes the exchange has no open request (the common case): its
        # condition checks that instead of a read before it, and when it fails it returns the
        # exchange's record, i.e. the open request to supersede.
        pending: str | None = None
        for _ in range(CREATE_ATTEMPTS):
            if pending == request.id:
                return False
            supersedes = repo.get_request(pending) if pending else None  # as read: see below
            if supersedes is not None and not supersedes.is_open():
                # closed since the exchange was read: read the exchange again
                record = repo.get_exchange(request.exchange_id)
                pending = record.pending_session_id if record else None
                continue
            try:
                return repo.create_request(
                    request,
                    supersedes=supersedes,
                    idempotency=(key_hash, fingerprint) if key_hash else None,
                    now=now,
                    outbox=[_announcement(request, start_url, pending)],
                    remind_at=now if self._delivery.channels(request.contact) else None,
                )
            except ConcurrentChange as changed:
                pending = changed.pending_request_id
        raise ServiceError(ErrorCode.CONFLICT)

    def _replay(self, request_id: str, key_hash: str | None, fingerprint: str) -> Created:
        """The answer to a repeated create: the request it made, with its (same) start link.
        Every way here compares the request's fingerprint with the key's first use: the same
        key with another body, even sent at the same moment, is refused."""
        repo = self._ctx.repo
        earlier = repo.get_idempotency(key_hash) if key_hash else None
        if earlier is not None and not hmac.compare_digest(earlier.fingerprint, fingerprint):
            raise ServiceError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
        request = repo.get_request(earlier.request_id if earlier else request_id)
        if request is None:
            raise ServiceError(ErrorCode.CONFLICT)
        return Created(request, self._ctx.links.start_url(request.id), replayed=True)

    def from_event(self, detail_type: str, detail: object, event_id: str) -> Created:
        """An EventBridge request for re-authentication; the event id dedupes deliveries."""
        if not isinstance(detail, dict):
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The event detail must be an object.")
        funding_source_id = detail.get("fundingSourceId")
        if detail_type == events.REAUTH_REQUESTED:
            exchange_id = detail.get("exchangeId")
        elif detail_type == events.DWOLLA_UPDATE_CREDENTIALS:
            exchange_id = _exchange_from_update_credentials(detail)
        else:
            raise ServiceError(ErrorCode.INVALID_REQUEST, "Unknown detail-type.")
        if not isinstance(exchange_id, str):
            raise ServiceError(ErrorCode.INVALID_EXCHANGE_ID)
        return self.create(
            exchange_id,
            customer_id=detail.get("customerId"),
            return_url=detail.get("returnUrl"),
            funding_source_id=funding_source_id,
            idempotency_key=f"event:{event_id}",
            trigger="event",
            contact=detail.get("contact"),
            locale=detail.get("locale"),
        )


def _announcement(request: ReauthRequest, start_url: str, supersedes: str | None) -> OutboxEvent:
    detail = request_detail(
        request,
        handoffType=request.handoff_type.value,
        startUrl=start_url,
        expiresAt=iso(request.expires_at),
        trigger=request.trigger,
    )
    if supersedes:
        detail["supersededSessionId"] = supersedes
    return OutboxEvent(events.SESSION_CREATED, detail, key=request.id)


def _exchange_from_update_credentials(detail: Mapping[str, object]) -> str:
    """The exchange named by Dwolla's UpdateCredentials error (`_links.about.href`)."""
    if detail.get("code") != "UpdateCredentials":
        raise ServiceError(ErrorCode.INVALID_REQUEST, "Not an UpdateCredentials error.")
    links = detail.get("_links")
    about = links.get("about") if isinstance(links, dict) else None
    href = about.get("href") if isinstance(about, dict) else None
    match = _ABOUT_HREF_RE.fullmatch(href) if isinstance(href, str) else None
    if not match:
        raise ServiceError(ErrorCode.INVALID_REQUEST, "_links.about.href names no exchange.")
    return match["id"]

"""The request's life after the customer: reading it, the schedule, Dwolla's webhooks.

- Reading a request finishes a due verification first (a `verifying` request is checked with
  Dwolla again when its next check is due), so the answer is as fresh as Dwolla allows.
- The schedule (every 5 minutes) closes pending requests past their deadline and re-checks the
  verifying ones whose check is due, a bounded batch of each per run.
- Dwolla's `customer_exchange_reauth_required` webhook is verified, deduped on its id, recorded
  on the exchange and announced.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from . import events
from .context import Context, request_detail, uuid_or
from .errors import ErrorCode, ServiceError
from .model import ExchangeRecord, ReauthRequest, RequestStatus, iso
from .outbox import OutboxEvent
from .repository import ConcurrentChange
from .security import normalize_uuid
from .verifying import Verifying

WEBHOOK_REAUTH_TOPIC = "customer_exchange_reauth_required"
VERIFY_GRACE = timedelta(days=1)  # a claim made in time waits this long past the deadline
_LINK_ID_RE = {
    "resource": re.compile(r"/exchanges/(?P<id>[0-9a-fA-F-]{36})/?\Z"),
    "customer": re.compile(r"/customers/(?P<id>[0-9a-fA-F-]{36})/?\Z"),
}


@dataclass(frozen=True)
class SweepResult:
    expired: int
    verified: int  # verifying requests checked with Dwolla


class Lifecycle:
    def __init__(self, ctx: Context, verifying: Verifying) -> None:
        self._ctx = ctx
        self._verifying = verifying

    # ---- reads -------------------------------------------------------------------------------
    def get_request(self, request_id: object) -> ReauthRequest:
        request = self._ctx.request_or_404(request_id)
        return self._verifying.recheck_if_due(request)

    def get_exchange(self, exchange_id: object) -> ExchangeRecord:
        record = self._ctx.repo.get_exchange(uuid_or(exchange_id, ErrorCode.INVALID_EXCHANGE_ID))
        if record is None:
            raise ServiceError(ErrorCode.EXCHANGE_RECORD_NOT_FOUND)
        return record

    # ---- the schedule ------------------------------------------------------------------------
    def sweep(self) -> SweepResult:
        """Re-check due verifications, then close pending requests past their deadline."""
        ctx = self._ctx
        now = ctx.now()
        batch = ctx.settings.sweep_batch_size
        verified = 0
        for due in ctx.repo.verification_due(now, batch):
            request = ctx.repo.get_request(due.request_id)
            if request is None:
                continue
            request = self._verifying.recheck_if_due(request)
            verified += 1
            late = request.past_deadline(now - VERIFY_GRACE)
            if request.status is RequestStatus.PENDING and request.past_deadline(now):
                self._expire(request)  # Dwolla said not repaired, and time is up
            elif request.status is RequestStatus.VERIFYING and late:
                self._expire(request)  # Dwolla never answered, long after the deadline
        expired = 0
        for candidate in ctx.repo.past_deadline(now, batch):
            request = ctx.repo.get_request(candidate.request_id)
            if request is not None and self._expire(request):
                expired += 1
        return SweepResult(expired=expired, verified=verified)

    def _expire(self, request: ReauthRequest) -> bool:
        ctx = self._ctx
        now = ctx.now()
        detail = request_detail(request, expiredAt=iso(now))
        event = OutboxEvent(events.SESSION_EXPIRED, detail, key=request.id)
        return ctx.repo.expire(request.id, request.exchange_id, now, [event])

    # ---- webhooks ----------------------------------------------------------------------------
    def handle_webhook(self, raw_body: bytes, signature: str | None) -> str:
        """A Dwolla webhook: verify the signature, dedupe on its id, act on re-auth topics.
        Returns what happened ("recorded", "duplicate", "ignored")."""
        ctx = self._ctx
        if ctx.webhook_secret is None:
            raise ServiceError(ErrorCode.INVALID_SIGNATURE)
        expected = hmac.new(ctx.webhook_secret().encode(), raw_body, hashlib.sha256).hexdigest()
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
        event = OutboxEvent(
            events.EXCHANGE_REAUTH_REQUIRED,
            {
                "exchangeId": exchange_id,
                "customerId": customer_id,
                "webhookId": payload["id"],
                "created": payload.get("created"),
            },
            key=exchange_id,
        )
        try:
            recorded = ctx.repo.record_reauth_required(
                payload["id"], exchange_id, customer_id, ctx.now(), [event]
            )
        except ConcurrentChange:
            raise ServiceError(ErrorCode.CONFLICT) from None  # Dwolla retries the delivery
        return "recorded" if recorded else "duplicate"


def _id_from_link(links: dict, name: str) -> str | None:
    link = links.get(name)
    href = link.get("href") if isinstance(link, dict) else None
    match = _LINK_ID_RE[name].search(href) if isinstance(href, str) else None
    return normalize_uuid(match["id"]) if match else None

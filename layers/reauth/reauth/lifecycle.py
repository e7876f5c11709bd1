"""The request's life after the customer: reading it and the schedule.

- Reading a request finishes a due verification first (a `verifying` request is checked with
  Dwolla again when its next check is due), so the answer is as fresh as Dwolla allows.
- The schedule (every 5 minutes) closes pending requests past their deadline and re-checks the
  verifying ones whose check is due, a bounded batch of each per run.
(Dwolla's webhooks and the catch-up of its events are webhooks.py.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from . import events
from .context import Context, request_detail, uuid_or
from .errors import ErrorCode, ServiceError
from .model import ExchangeRecord, ReauthRequest, RequestStatus, iso
from .outbox import OutboxEvent
from .verifying import Verifying

VERIFY_GRACE = timedelta(days=1)  # a claim made in time waits this long past the deadline


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
        return self._verifying.recheck_stale(request)

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

"""The request's life after the customer: reading it and the schedule.

- Reading a request finishes a due verification first (a `verifying` request, or a closed one's
  late claim, is checked with Dwolla again when its next check is due), so the answer is as
  fresh as Dwolla allows.
- Cancelling (the platform's POST /reauth-sessions/{id}/cancel) ends an open request
  `cancelled`, with one "Reauth Request Cancelled" event; again, it answers the same.
- The schedule (every 5 minutes) closes pending requests past their deadline, then re-checks
  the waiting claims whose check is due, then sends the due messages (delivery.py), a bounded
  batch of each per run. A request that was
  never taken to the bank expires without a word with Dwolla; one that was is checked once
  more first (the customer may have finished at the bank and never come back): confirmed, it
  ends reauthorized; not answered, it waits as `verifying` (and expires VERIFY_GRACE after its
  deadline if Dwolla never answers). Dwolla's share of a run is bounded (DwollaAllowance), so a
  slow or down Dwolla never starves expiry, nor the catch-up that runs after the sweep.
(Dwolla's webhooks and the catch-up of its events are webhooks.py.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from . import events
from .context import Context, request_detail, uuid_or
from .delivery import Delivery, DeliveryReport
from .errors import ErrorCode, ServiceError
from .model import ExchangeRecord, ReauthRequest, RequestStatus, VerificationResult, iso
from .outbox import OutboxEvent
from .repository import Contention
from .verifying import VERIFY_GRACE, Verifying

logger = logging.getLogger(__name__)
CANCEL_TRIES = 4  # a cancel lost to a concurrent writer: read again and decide again

__all__ = ["VERIFY_GRACE", "DwollaAllowance", "Lifecycle", "SweepResult"]


@dataclass(frozen=True)
class SweepResult:
    expired: int
    verified: int  # requests checked with Dwolla
    delivery: DeliveryReport = field(default_factory=DeliveryReport)  # reminders (and late firsts)


class DwollaAllowance:
    """How much of one run may wait on Dwolla: nothing more after MAX_UNANSWERED checks in a row
    went unanswered (Dwolla is down: the next run tries again), nor with less than
    RESERVE_SECONDS of the invocation left (the catch-up needs them)."""

    MAX_UNANSWERED = 3
    RESERVE_SECONDS = 12.0

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._unanswered = 0
        self.checks = 0

    def allows(self) -> bool:
        left = self._ctx.dwolla.time_left()
        in_time = left is None or left > self.RESERVE_SECONDS
        return in_time and self._unanswered < self.MAX_UNANSWERED

    def note(self, answered: bool) -> None:
        self.checks += 1
        self._unanswered = 0 if answered else self._unanswered + 1


class Lifecycle:
    def __init__(
        self, ctx: Context, verifying: Verifying, delivery: Delivery | None = None
    ) -> None:
        self._ctx = ctx
        self._verifying = verifying
        self._delivery = delivery or Delivery(ctx)

    # ---- reads -------------------------------------------------------------------------------
    def get_request(self, request_id: object) -> ReauthRequest:
        request = self._ctx.request_or_404(request_id)
        return self._verifying.recheck_stale(request)

    def get_exchange(self, exchange_id: object) -> ExchangeRecord:
        record = self._ctx.repo.get_exchange(uuid_or(exchange_id, ErrorCode.INVALID_EXCHANGE_ID))
        if record is None:
            raise ServiceError(ErrorCode.EXCHANGE_RECORD_NOT_FOUND)
        return record

    # ---- the platform calls it off -----------------------------------------------------------
    def cancel(self, request_id: object) -> ReauthRequest:
        """End an open request `cancelled` (its link shows a closed page, its exchange is free
        for a new request); a cancelled one answers as it is (no second event). Any other
        closed request: SessionNotPending."""
        ctx = self._ctx
        for _ in range(CANCEL_TRIES):
            request = ctx.request_or_404(request_id)
            if request.status is RequestStatus.CANCELLED:
                return request
            now = ctx.now()
            if not request.is_open() or request.effective_status(now) is RequestStatus.EXPIRED:
                raise ServiceError(ErrorCode.SESSION_NOT_PENDING)
            detail = request_detail(request, cancelledAt=iso(now))
            event = OutboxEvent(events.REQUEST_CANCELLED, detail, key=request.id)
            keep = ctx.settings.allow_self_service_renewal
            if ctx.repo.cancel(request, now, [event], keep_for_renewal=keep):
                return ctx.repo.get_request(request.id) or request
        raise ServiceError(ErrorCode.CONFLICT)

    # ---- the schedule ------------------------------------------------------------------------
    def sweep(self) -> SweepResult:
        """Close pending requests past their deadline, re-check due claims, then send the due
        messages (closed requests first: a request expired in this run gets no reminder)."""
        ctx = self._ctx
        now = ctx.now()
        batch = ctx.settings.sweep_batch_size
        allowance = DwollaAllowance(ctx)
        expired = 0
        for candidate in ctx.repo.past_deadline(now, batch):
            request = ctx.repo.get_request(candidate.request_id)
            if request is not None:
                expired += _or_next_run(self._close_at_deadline, request, allowance)
        for due in ctx.repo.verification_due(now, batch):
            if not allowance.allows():
                break
            request = ctx.repo.get_request(due.request_id)
            if request is not None:
                expired += _or_next_run(self._recheck, request, allowance)
        delivery = self._delivery.send_due(batch)
        return SweepResult(expired=expired, verified=allowance.checks, delivery=delivery)

    def _close_at_deadline(self, request: ReauthRequest, allowance: DwollaAllowance) -> int:
        """A pending request past its deadline: expired, unless Dwolla shows it repaired."""
        if request.status is not RequestStatus.PENDING or not request.past_deadline(
            self._ctx.now()
        ):
            return 0
        if not any(a.started_at for a in request.attempts):
            return self._expire(request)  # never at the bank: nothing to ask Dwolla
        if not allowance.allows():
            self._verifying.wait_for_dwolla(request)  # asked on a later run, before expiring
            return 0
        result = self._verifying.check_with_dwolla(request)
        allowance.note(result is not VerificationResult.UNAVAILABLE)
        if result is VerificationResult.NOT_REPAIRED:
            return self._expire(request)
        if result is VerificationResult.UNAVAILABLE:
            self._verifying.wait_for_dwolla(request)
            return 0
        if result is VerificationResult.NOT_OF_EXCHANGE:
            self._verifying.reject(request)  # its funding source proves nothing: never expired
            return 0
        at_the_bank = request.last_attempt_at_the_bank()
        if at_the_bank is not None:  # the customer finished there and never came back
            self._verifying.confirmed(request, at_the_bank.id)
        else:
            self._verifying.found_repaired(request)
        return 0

    def _recheck(self, request: ReauthRequest, allowance: DwollaAllowance) -> int:
        """A due claim checked with Dwolla; a request past its time afterwards expires."""
        now = self._ctx.now()
        before = request.verification
        request = self._verifying.recheck_if_due(request)
        if request.verification != before:
            answered = request.verification is None or (
                request.verification.result is not VerificationResult.UNAVAILABLE
            )
            allowance.note(answered or request.is_reauthorized())
        if request.status is RequestStatus.PENDING and request.past_deadline(now):
            return self._expire(request)  # Dwolla said not repaired, and time is up
        if request.status is RequestStatus.VERIFYING and request.past_deadline(now - VERIFY_GRACE):
            return self._expire(request)  # Dwolla never answered, long after the deadline
        return 0

    def _expire(self, request: ReauthRequest) -> int:
        ctx = self._ctx
        now = ctx.now()
        detail = request_detail(request, expiredAt=iso(now))
        event = OutboxEvent(events.SESSION_EXPIRED, detail, key=request.id)
        keep = ctx.settings.allow_self_service_renewal
        return int(ctx.repo.expire(request, now, [event], keep_for_renewal=keep))


def _or_next_run(
    step: Callable[[ReauthRequest, DwollaAllowance], int],
    request: ReauthRequest,
    allowance: DwollaAllowance,
) -> int:
    """One request's step of the sweep; one that kept losing to other writers is left, as it
    is, to the next run (the others go on)."""
    try:
        return step(request, allowance)
    except (ServiceError, Contention) as error:
        if isinstance(error, ServiceError) and not error.retryable:
            raise
        logger.warning("a request kept changing under the sweep: left to the next run")
        return 0

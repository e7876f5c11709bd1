"""Verifying and completing: "reauthorized" only when Dwolla says so.

A success claimed by a browser (Dwolla's `?exchange=` redirect, Plaid Link's `onSuccess`) or by
the platform (`/complete`) is checked with Dwolla: the balance check of the exchange's funding
source (`GET /funding-sources/{id}/balance`) must answer without `UpdateCredentials`.

    claim ──▶ balance works            ──▶ reauthorized, "Exchange Reauthorized"
          ──▶ still UpdateCredentials  ──▶ the attempt ends `unverified`; the request stays open
          ──▶ Dwolla cannot answer     ──▶ `verifying`; checked again on read and on the schedule

A success Dwolla confirms is never thrown away: a claim on a request that was superseded or
expired while the customer was at the bank is still checked (within LATE_CLAIM_WINDOW of the
attempt's start), and when Dwolla confirms, the request ends `reauthorized` and the exchange's
newer request, if any, `reauthorized_elsewhere` (one "Exchange Reauthorized").

Every write is conditioned on the state it was decided on (repository.py): when a concurrent
writer moved the request first, it is read again and the decision made again, so a confirmation
always lands and an answer about an older state never moves a request backwards.

The funding source is the one the request named, or found through Dwolla: the exchange links
its customer, whose funding sources link the exchange they were made from. One the request
named that Dwolla could not vouch for at create is checked first (ownership.py): not the
exchange's, it proves nothing and the request ends `rejected` ("Reauth Session Rejected"),
never `reauthorized`. A provider error ends the attempt (with `recoverable`), never the request.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from . import events
from .context import Context, request_detail
from .dwolla import DwollaApiError, DwollaError
from .errors import ErrorCode, ServiceError
from .model import (
    NOT_OF_EXCHANGE,
    NOT_REPAIRED,
    PROVIDER_ERRORS,
    AttemptOutcome,
    ExchangeRecord,
    ExchangeStatus,
    HandoffType,
    ReauthRequest,
    Reporter,
    RequestStatus,
    Verification,
    VerificationResult,
    can_move,
    failure_recoverable,
    iso,
)
from .outbox import OutboxEvent
from .ownership import is_exchanges_funding_source

logger = logging.getLogger(__name__)

REPAIR_CHECK_EVERY = timedelta(minutes=15)  # on read, at most this often per request
REPAIR_CHECK_ON_CLICK = timedelta(minutes=1)  # before a fresh Dwolla session, at most this often
VERIFY_GRACE = timedelta(days=1)  # a claim made in time waits this long for Dwolla
LATE_CLAIM_WINDOW = VERIFY_GRACE  # a claim on a closed request counts this long after its start
WRITE_TRIES = 4  # a write lost to a concurrent writer: read again and decide again


class RequestClosed(Exception):
    """The request is expired or superseded: nothing can be claimed on it any more."""

    def __init__(self, request: ReauthRequest) -> None:
        super().__init__("request closed")
        self.request = request


class RepairedMeanwhile(RequestClosed):
    """A late claim on a closed request that Dwolla confirms, when the exchange's repair was
    already announced (another request found it first): nothing more to do, nothing to say."""


class Verifying:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    # ---- claims ------------------------------------------------------------------------------
    def _closed(self, request: ReauthRequest) -> bool:
        """Not open, or pending past its deadline: a claim counts only as a late one."""
        late = request.status is RequestStatus.PENDING and request.past_deadline(self._ctx.now())
        return late or not request.is_open()

    def late_claim_counts(self, request: ReauthRequest, attempt_id: str | None) -> bool:
        """A success claimed on a closed request's attempt soon enough after it began (a request
        that can no longer become reauthorized, `rejected`, takes none)."""
        attempt = request.attempt(attempt_id) if attempt_id else None
        if not can_move(request.status, RequestStatus.REAUTHORIZED):
            return False
        return attempt is not None and (
            self._ctx.now() - (attempt.started_at or attempt.created_at) <= LATE_CLAIM_WINDOW
        )

    def claim_success(self, request: ReauthRequest, attempt_id: str | None) -> ReauthRequest:
        """Someone says the customer's bank login worked: ask Dwolla, act on its answer. A
        closed request's claim is asked too (late); RequestClosed when Dwolla says no."""
        if request.is_reauthorized():
            return request  # a reload or a retry: same answer, nothing new
        if self._closed(request) and not self.late_claim_counts(request, attempt_id):
            raise RequestClosed(request)
        settled = self._apply(request, self.check_with_dwolla(request), attempt_id)
        if self._closed(settled) and not (settled.is_reauthorized() or settled.claim_pending):
            check = settled.verification
            if check and check.result is VerificationResult.CONFIRMED:
                raise RepairedMeanwhile(settled)
            raise RequestClosed(settled)
        return settled

    def end_attempt(
        self, request: ReauthRequest, attempt_id: str, reason: str, reported_by: Reporter
    ) -> ReauthRequest:
        """The provider ended an attempt with an error, as `reported_by` says. The request stays
        open; a repeat (or an attempt that already ended) changes nothing."""
        if reason not in PROVIDER_ERRORS:
            raise ValueError(f"unknown provider error {reason!r}")
        ctx = self._ctx
        for _ in range(WRITE_TRIES):
            if self._closed(request):
                if request.is_reauthorized():
                    return request
                raise RequestClosed(request)
            attempt = request.attempt(attempt_id)
            if attempt is None or attempt.outcome is not None:
                return request
            recoverable = failure_recoverable(reason, reported_by)
            event = _attempt_failed(request, attempt_id, reason, recoverable, reported_by)
            ended = ctx.repo.end_attempt(
                request, attempt_id, AttemptOutcome.FAILED, reason, ctx.now(), [event], reported_by
            )
            if ended is not None:
                return ended
            request = ctx.repo.get_request(request.id) or request
        return request

    def complete(self, request_id: object, body: object) -> ReauthRequest:
        """The platform reports the end of a Plaid Link it ran itself (IAM `/complete`)."""
        ctx = self._ctx
        request = ctx.request_or_404(request_id)
        if not isinstance(body, dict) or set(body) - {"error"}:
            raise ServiceError(ErrorCode.INVALID_COMPLETION)
        error = body.get("error")
        if error is not None and (not isinstance(error, str) or error not in PROVIDER_ERRORS):
            raise ServiceError(ErrorCode.INVALID_COMPLETION)
        if request.handoff_type is not HandoffType.TOKEN:
            raise ServiceError(ErrorCode.HANDOFF_NOT_TOKEN)
        try:
            if error is None:
                return self.claim_success(request, request.current_attempt_id)
            return self.end_attempt(request, request.current_attempt_id, error, Reporter.PLATFORM)
        except RepairedMeanwhile as repaired:
            return repaired.request  # the exchange works; its other request announced it
        except RequestClosed:
            raise ServiceError(ErrorCode.SESSION_NOT_PENDING) from None

    # ---- later checks ------------------------------------------------------------------------
    def recheck_if_due(self, request: ReauthRequest) -> ReauthRequest:
        """A claim waiting for Dwolla (a verifying request, or a closed one's late claim) whose
        next check is due is checked now (on read, on schedule)."""
        if request.status is not RequestStatus.VERIFYING and not request.claim_pending:
            return request
        check = request.verification
        if check and check.next_check_at and check.next_check_at > self._ctx.now():
            return request
        # The claim was made on the current attempt: no attempt can start while verifying.
        current = request.current_attempt
        claimed = current.id if current.outcome is None else None
        result = self.check_with_dwolla(request)
        lapsed = self._ctx.now() - current.created_at > LATE_CLAIM_WINDOW
        if result is VerificationResult.UNAVAILABLE and not request.is_open() and lapsed:
            self._ctx.repo.note_check(request, self._ctx.now())  # the claim lapses
            return self._ctx.repo.get_request(request.id) or request
        return self._apply(request, result, claimed)

    def repaired_elsewhere(
        self, request: ReauthRequest, every: timedelta = timedelta(0)
    ) -> ReauthRequest | None:
        """Is the exchange working again though nobody finished this request (the customer
        re-authenticated in another app: Plaid's LOGIN_REPAIRED)? Then the request ends
        `reauthorized_elsewhere`, announced; else None (and the check is on record, answered
        or not, so a check less than `every` old is not made again)."""
        ctx = self._ctx
        if not request.startable(ctx.now()) or not self._repair_check_due(request, every):
            return None
        result = self.check_with_dwolla(request)
        now = ctx.now()
        if result is VerificationResult.NOT_REPAIRED:
            ctx.repo.mark_not_repaired(request, None, now)
        elif result is VerificationResult.UNAVAILABLE:
            ctx.repo.note_check(request, now)
        elif result is VerificationResult.NOT_OF_EXCHANGE:
            self.reject(request)
        if result is not VerificationResult.CONFIRMED:
            return None
        return self.found_repaired(request)

    def found_repaired(self, request: ReauthRequest) -> ReauthRequest:
        """Dwolla's balance check works though nobody finished `request`: it ends
        `reauthorized_elsewhere`; if it was superseded meanwhile, the repair is the exchange's,
        and its open (newer) request ends so instead (never dropped)."""
        settled = self.confirmed(request, None, RequestStatus.REAUTHORIZED_ELSEWHERE)
        if not settled.is_reauthorized():
            newer = self._open_request_of(settled)
            if newer is not None:
                self.confirmed(newer, None, RequestStatus.REAUTHORIZED_ELSEWHERE)
        return settled

    def recheck_stale(self, request: ReauthRequest) -> ReauthRequest:
        """On read: a pending request not checked with Dwolla (answered or not) for
        REPAIR_CHECK_EVERY is checked for a repair made elsewhere; a waiting claim whose check
        is due, finished."""
        if request.status is RequestStatus.VERIFYING or request.claim_pending:
            return self.recheck_if_due(request)
        check = request.verification
        last = check.checked_at if check else request.created_at
        if request.status is RequestStatus.PENDING and self._ctx.now() - last >= REPAIR_CHECK_EVERY:
            return (
                self.repaired_elsewhere(request)
                or self._ctx.repo.get_request(request.id)
                or request
            )
        return request

    def _repair_check_due(self, request: ReauthRequest, every: timedelta) -> bool:
        """No check with Dwolla (answered or not) on record for `every`."""
        check = request.verification
        return check is None or self._ctx.now() - check.checked_at >= every

    # ---- Dwolla's word -----------------------------------------------------------------------
    def check_with_dwolla(self, request: ReauthRequest) -> VerificationResult:
        """Does the exchange's funding source answer its balance check again? (NOT_OF_EXCHANGE:
        the request's funding source is not the exchange's, so its balance proves nothing.)"""
        ctx = self._ctx
        try:
            if not self._funding_source_is_the_exchanges(request):
                return VerificationResult.NOT_OF_EXCHANGE
            funding_source = request.funding_source_id or self._find_funding_source(request)
            if funding_source is None:
                return VerificationResult.UNAVAILABLE
            works = ctx.dwolla.balance_works(funding_source)
        except DwollaError as exc:
            level = logging.ERROR if _is_final_refusal(exc) else logging.WARNING
            logger.log(
                level,
                "Dwolla could not confirm the re-authentication",
                extra={"sessionId": request.id, "dwollaError": type(exc).__name__},
            )
            return VerificationResult.UNAVAILABLE
        return VerificationResult.CONFIRMED if works else VerificationResult.NOT_REPAIRED

    def _funding_source_is_the_exchanges(self, request: ReauthRequest) -> bool:
        """The request's funding source, if it named one Dwolla did not vouch for at create, is
        checked now (once: remembered when it is the exchange's). Raises DwollaError."""
        source = request.funding_source_id
        if source is None or request.funding_source_verified:
            return True
        ctx = self._ctx
        customer = request.customer_id
        if not is_exchanges_funding_source(ctx.dwolla, source, request.exchange_id, customer):
            logger.error(
                "the request's funding source is not the exchange's: it proves nothing",
                extra={"sessionId": request.id},
            )
            return False
        ctx.repo.set_funding_source(request.id, source)
        return True

    def _find_funding_source(self, request: ReauthRequest) -> str | None:
        """exchange → customer → the funding sources made from this exchange."""
        ctx = self._ctx
        exchange = ctx.dwolla.get_exchange(request.exchange_id)
        customer_id = exchange.customer_id or request.customer_id
        if customer_id is None:
            logger.error("Dwolla's exchange links no customer", extra={"sessionId": request.id})
            return None
        for source in ctx.dwolla.list_customer_funding_sources(customer_id):
            if source.exchange_id == request.exchange_id and not source.removed:
                ctx.repo.set_funding_source(request.id, source.id)
                return source.id
        logger.error(
            "no funding source of the customer links the exchange", extra={"sessionId": request.id}
        )
        return None

    def _apply(
        self, request: ReauthRequest, result: VerificationResult, attempt_id: str | None
    ) -> ReauthRequest:
        if result is VerificationResult.CONFIRMED:
            return self.confirmed(request, attempt_id)
        if result is VerificationResult.NOT_REPAIRED:
            return self._not_repaired(request, attempt_id)
        if result is VerificationResult.NOT_OF_EXCHANGE:
            return self.reject(request)
        return self.wait_for_dwolla(request)

    def confirmed(
        self,
        request: ReauthRequest,
        attempt_id: str | None,
        target: RequestStatus = RequestStatus.REAUTHORIZED,
    ) -> ReauthRequest:
        """Dwolla confirmed the repair: the request ends `target` (with `attempt_id`'s success),
        announced once; a closed request frees the exchange from its newer request too."""
        ctx = self._ctx
        via = "elsewhere" if target is RequestStatus.REAUTHORIZED_ELSEWHERE else "this-service"
        for _ in range(WRITE_TRIES):
            if request.is_reauthorized() or not can_move(request.status, target):
                return request
            now = ctx.now()
            newer = None
            if not request.is_open():  # a late confirmation: what is the exchange's state now?
                record, newer = self._exchange_now(request)
                if newer is None and record and record.status is ExchangeStatus.REAUTHORIZED:
                    ctx.repo.note_check(request, now, VerificationResult.CONFIRMED)
                    return ctx.repo.get_request(request.id) or request  # announced already
            if newer is not None and not newer.is_open():
                continue  # superseded in turn since the exchange was read: read both again
            extra = {"endedSessionId": newer.id} if newer else {}
            reached = request.reached_by
            detail = request_detail(
                request,
                reauthorizedAt=iso(now),
                verifiedBy="balance-check",
                via=via,
                reachedBy=reached.value if reached else None,
                **extra,
            )
            event = OutboxEvent(events.EXCHANGE_REAUTHORIZED, detail, key=request.id)
            if ctx.repo.mark_reauthorized(request, attempt_id, now, [event], target, newer):
                if request.funding_source_id and newer is None:  # nothing learnt on the way
                    return _confirmed(request, attempt_id, now, target)
                return ctx.repo.get_request(request.id) or request
            request = ctx.repo.get_request(request.id) or request
        if request.is_reauthorized() or not can_move(request.status, target):
            return request
        # Dwolla confirmed, and other writers kept moving the request: never drop it, say
        # "try again" (the browser's reload, the platform's retry, the schedule's next run).
        raise ServiceError(ErrorCode.CONFLICT)

    def _open_request_of(self, request: ReauthRequest) -> ReauthRequest | None:
        """The exchange's open request, as read now, if it is another than `request`."""
        return self._exchange_now(request)[1]

    def _exchange_now(
        self, request: ReauthRequest
    ) -> tuple[ExchangeRecord | None, ReauthRequest | None]:
        """The exchange's record as read now, and its open request if another than `request`."""
        record = self._ctx.repo.get_exchange(request.exchange_id)
        pending = record.pending_session_id if record else None
        if pending is None or pending == request.id:
            return record, None
        return record, self._ctx.repo.get_request(pending)

    def _not_repaired(self, request: ReauthRequest, attempt_id: str | None) -> ReauthRequest:
        """Dwolla says not repaired: on the state the check was made on, and only on it."""
        ctx = self._ctx
        for _ in range(WRITE_TRIES):
            attempt = request.attempt(attempt_id) if attempt_id else None
            outbox: list[OutboxEvent] = []
            if attempt is not None and attempt.outcome is None:  # this check ends the attempt
                failed = _attempt_failed(
                    request, attempt.id, NOT_REPAIRED, True, Reporter.BALANCE_CHECK
                )
                outbox.append(failed)
            updated = ctx.repo.mark_not_repaired(request, attempt_id, ctx.now(), outbox)
            if updated is not None:
                return updated
            fresh = ctx.repo.get_request(request.id)
            if fresh is None or fresh.status is not request.status:
                return fresh or request  # it moved on: the answer was about an older state
            request = fresh  # only an event of another writer came between: decide again
        return request

    def reject(self, request: ReauthRequest) -> ReauthRequest:
        """Its funding source is not the exchange's: an open request ends `rejected`, announced
        once; a closed one's waiting claim is dropped (nothing else changes: it is closed)."""
        ctx = self._ctx
        for _ in range(WRITE_TRIES):
            now = ctx.now()
            if request.is_reauthorized() or request.status is RequestStatus.REJECTED:
                return request
            if not request.is_open():
                ctx.repo.note_check(request, now, VerificationResult.NOT_OF_EXCHANGE)
            else:
                detail = request_detail(
                    request,
                    rejectedAt=iso(now),
                    reason=NOT_OF_EXCHANGE,
                    fundingSourceId=request.funding_source_id,
                )
                event = OutboxEvent(events.SESSION_REJECTED, detail, key=request.id)
                if not ctx.repo.reject(request, now, [event]):
                    request = ctx.repo.get_request(request.id) or request
                    continue
            return ctx.repo.get_request(request.id) or request
        return request

    def wait_for_dwolla(self, request: ReauthRequest) -> ReauthRequest:
        """Dwolla could not be asked: the claim waits (`verifying`, or a closed request's late
        claim), checked again after `verify_retry`."""
        ctx = self._ctx
        for _ in range(WRITE_TRIES):
            if request.is_reauthorized():
                return request
            now = ctx.now()
            updated = ctx.repo.mark_verifying(request, now, now + ctx.settings.verify_retry)
            if updated is not None:
                return updated
            request = ctx.repo.get_request(request.id) or request
        return request


def _confirmed(
    request: ReauthRequest, attempt_id: str | None, now: datetime, target: RequestStatus
) -> ReauthRequest:
    """The request as repository.mark_reauthorized just wrote it."""
    attempts = tuple(
        replace(a, outcome=AttemptOutcome.REAUTHORIZED, ended_at=now, reason=None)
        if a.id == attempt_id
        else a
        for a in request.attempts
    )
    return replace(
        request,
        status=target,
        updated_at=now,
        reauthorized_at=now,
        attempts=attempts,
        verification=Verification(VerificationResult.CONFIRMED, now),
        event_seq=request.event_seq + 1,
    )


def _attempt_failed(
    request: ReauthRequest, attempt_id: str, reason: str, recoverable: bool, reported_by: Reporter
) -> OutboxEvent:
    detail = request_detail(
        request,
        attemptId=attempt_id,
        reason=reason,
        recoverable=recoverable,
        reportedBy=reported_by.value,
    )
    return OutboxEvent(events.ATTEMPT_FAILED, detail, key=request.id)


def _is_final_refusal(exc: DwollaError) -> bool:
    """A 4xx other than 429: retrying will not help (logged as an error for the operator)."""
    return isinstance(exc, DwollaApiError) and 400 <= exc.status < 500 and exc.status != 429

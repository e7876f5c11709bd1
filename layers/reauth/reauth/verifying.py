"""Verifying and completing: "reauthorized" only when Dwolla says so.

A success claimed by a browser (Dwolla's `?exchange=` redirect, Plaid Link's `onSuccess`) or by
the platform (`/complete`) is checked with Dwolla: the balance check of the exchange's funding
source (`GET /funding-sources/{id}/balance`) must answer without `UpdateCredentials`.

    claim ──▶ balance works            ──▶ reauthorized, "Exchange Reauthorized"
          ──▶ still UpdateCredentials  ──▶ the attempt ends `unverified`; the request stays open
          ──▶ Dwolla cannot answer     ──▶ `verifying`; checked again on read and on the schedule

The funding source is the one the request named, or found through Dwolla: the exchange links
its customer, whose funding sources link the exchange they were made from. A provider error
ends the attempt (with `recoverable`), never the request.
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
    NOT_REPAIRED,
    PROVIDER_ERRORS,
    AttemptOutcome,
    HandoffType,
    ReauthRequest,
    RequestStatus,
    Verification,
    VerificationResult,
    iso,
)
from .outbox import OutboxEvent

logger = logging.getLogger(__name__)

REPAIR_CHECK_EVERY = timedelta(minutes=15)  # on read, at most this often per request


class RequestClosed(Exception):
    """The request is expired or superseded: nothing can be claimed on it any more."""

    def __init__(self, request: ReauthRequest) -> None:
        super().__init__("request closed")
        self.request = request


class Verifying:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    # ---- claims ------------------------------------------------------------------------------
    def _closed(self, request: ReauthRequest) -> bool:
        """Final, or pending past its deadline (which reads as expired): no claim counts."""
        expired = request.effective_status(self._ctx.now()) is RequestStatus.EXPIRED
        return expired or not request.is_open()

    def claim_success(self, request: ReauthRequest, attempt_id: str | None) -> ReauthRequest:
        """Someone says the customer's bank login worked: ask Dwolla, act on its answer."""
        if request.is_reauthorized():
            return request  # a reload or a retry: same answer, nothing new
        if self._closed(request):
            raise RequestClosed(request)
        result = self.check_with_dwolla(request)
        return self._apply(request, result, attempt_id)

    def end_attempt(self, request: ReauthRequest, attempt_id: str, reason: str) -> ReauthRequest:
        """The provider ended an attempt with an error. The request stays open; a repeat (or an
        attempt that already ended) changes nothing."""
        if reason not in PROVIDER_ERRORS:
            raise ValueError(f"unknown provider error {reason!r}")
        if self._closed(request):
            if request.is_reauthorized():
                return request
            raise RequestClosed(request)
        ctx = self._ctx
        event = _attempt_failed(request, attempt_id, reason, PROVIDER_ERRORS[reason].recoverable)
        ended = ctx.repo.end_attempt(
            request.id, attempt_id, AttemptOutcome.FAILED, reason, ctx.now(), [event]
        )
        return ended or ctx.repo.get_request(request.id) or request

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
            return self.end_attempt(request, request.current_attempt_id, error)
        except RequestClosed:
            raise ServiceError(ErrorCode.SESSION_NOT_PENDING) from None

    # ---- later checks ------------------------------------------------------------------------
    def recheck_if_due(self, request: ReauthRequest) -> ReauthRequest:
        """A verifying request whose next check is due is checked now (on read, on schedule)."""
        if request.status is not RequestStatus.VERIFYING:
            return request
        check = request.verification
        if check and check.next_check_at and check.next_check_at > self._ctx.now():
            return request
        # The claim was made on the current attempt: no attempt can start while verifying.
        current = request.current_attempt
        claimed = current.id if current.outcome is None else None
        return self._apply(request, self.check_with_dwolla(request), claimed)

    def repaired_elsewhere(self, request: ReauthRequest) -> ReauthRequest | None:
        """Is the exchange working again though nobody finished this request (the customer
        re-authenticated in another app: Plaid's LOGIN_REPAIRED)? Then the request ends
        `reauthorized_elsewhere`, announced; else None (and the check is on record)."""
        ctx = self._ctx
        if not request.startable(ctx.now()):  # not pending, or past its deadline (expired)
            return None
        result = self.check_with_dwolla(request)
        now = ctx.now()
        if result is VerificationResult.NOT_REPAIRED:
            ctx.repo.mark_not_repaired(request, None, now)
        if result is not VerificationResult.CONFIRMED:
            return None
        detail = request_detail(
            request, reauthorizedAt=iso(now), verifiedBy="balance-check", via="elsewhere"
        )
        event = OutboxEvent(events.EXCHANGE_REAUTHORIZED, detail, key=request.id)
        target = RequestStatus.REAUTHORIZED_ELSEWHERE
        ctx.repo.mark_reauthorized(request, None, now, [event], target=target)
        return ctx.repo.get_request(request.id)

    def recheck_stale(self, request: ReauthRequest) -> ReauthRequest:
        """On read: a pending request not checked with Dwolla for REPAIR_CHECK_EVERY is
        checked for a repair made elsewhere; a verifying one whose check is due, finished."""
        if request.status is RequestStatus.VERIFYING:
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

    # ---- Dwolla's word -----------------------------------------------------------------------
    def check_with_dwolla(self, request: ReauthRequest) -> VerificationResult:
        """Does the exchange's funding source answer its balance check again?"""
        ctx = self._ctx
        try:
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
        ctx = self._ctx
        now = ctx.now()
        if result is VerificationResult.CONFIRMED:
            detail = request_detail(
                request, reauthorizedAt=iso(now), verifiedBy="balance-check", via="this-service"
            )
            event = OutboxEvent(events.EXCHANGE_REAUTHORIZED, detail, key=request.id)
            if ctx.repo.mark_reauthorized(request, attempt_id, now, [event]) and (
                request.funding_source_id  # nothing was learnt on the way: no need to re-read
            ):
                return _confirmed(request, attempt_id, now)
            return ctx.repo.get_request(request.id) or request
        if result is VerificationResult.NOT_REPAIRED:
            attempt = request.attempt(attempt_id) if attempt_id else None
            outbox: list[OutboxEvent] = []
            if attempt is not None and attempt.outcome is None:  # this check ends the attempt
                outbox.append(_attempt_failed(request, attempt.id, NOT_REPAIRED, True))
            updated = ctx.repo.mark_not_repaired(request, attempt_id, now, outbox)
            return updated or ctx.repo.get_request(request.id) or request
        updated = ctx.repo.mark_verifying(request.id, now, now + ctx.settings.verify_retry)
        return updated or ctx.repo.get_request(request.id) or request


def _confirmed(request: ReauthRequest, attempt_id: str | None, now: datetime) -> ReauthRequest:
    """The request as repository.mark_reauthorized just wrote it."""
    attempts = tuple(
        replace(a, outcome=AttemptOutcome.REAUTHORIZED, ended_at=now, reason=None)
        if a.id == attempt_id
        else a
        for a in request.attempts
    )
    return replace(
        request,
        status=RequestStatus.REAUTHORIZED,
        updated_at=now,
        reauthorized_at=now,
        attempts=attempts,
        verification=Verification(VerificationResult.CONFIRMED, now),
    )


def _attempt_failed(
    request: ReauthRequest, attempt_id: str, reason: str, recoverable: bool
) -> OutboxEvent:
    detail = request_detail(request, attemptId=attempt_id, reason=reason, recoverable=recoverable)
    return OutboxEvent(events.ATTEMPT_FAILED, detail, key=request.id)


def _is_final_refusal(exc: DwollaError) -> bool:
    """A 4xx other than 429: retrying will not help (logged as an error for the operator)."""
    return isinstance(exc, DwollaApiError) and 400 <= exc.status < 500 and exc.status != 429

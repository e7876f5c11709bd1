"""No dead ends: "Send me a new link" on an expired or cancelled link, and the renewal it may
start.

    POST link/renew  key=…   (CallbackFunction) the customer asks, from the closed link's page
                             (same origin, the link's key): one "Reauth Link Requested" event per
                             request per RENEWAL_EVERY, written with the note on the request.
                             `selfService: true` when the deployment allows it, the request kept
                             a contact (its RENEWAL# item, written when it closed) and the
                             exchange may be renewed (it still needs re-authentication, has no
                             open request and was not renewed within RENEWAL_EVERY): reserved on
                             the exchange record in the same transaction
    that event, selfService  (ApiFunction, a rule on the service's own bus) a new request for the
                             exchange, to the kept contact (trigger "renewal"); the RENEWAL# item
                             is deleted once used

The internet-facing function never makes a request (nor a Dwolla session): it only writes the
note, the reservation and the event; the platform-facing function makes the new request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from . import events
from .context import Context, request_detail, uuid_or
from .creating import Created, Creating
from .errors import ErrorCode
from .journey import Browser, BrowserRejected, checked_link
from .model import RENEWABLE_STATUSES, ExchangeStatus, ReauthRequest, iso
from .outbox import OutboxEvent
from .repository import RENEWAL_EVERY
from .security import same_origin

logger = logging.getLogger(__name__)
WRITE_TRIES = 4  # a note lost to a concurrent writer: read again and decide again


@dataclass(frozen=True)
class LinkRequested:
    """How "Send me a new link" ended: "told" (the platform is told now), "already" (it was
    told within RENEWAL_EVERY), or "not_renewable" (the link is not expired or cancelled:
    its own page is shown). `self_service`: a new request is on its way."""

    kind: str
    self_service: bool = False


class Renewing:
    def __init__(self, ctx: Context, creating: Creating) -> None:
        self._ctx = ctx
        self._creating = creating

    # ---- the customer asks (CallbackFunction) ------------------------------------------------
    def request_link(self, request_id: str, key: str | None, browser: Browser) -> LinkRequested:
        ctx = self._ctx
        if not same_origin(browser.origin, browser.fetch_site, ctx.links.base_url()):
            raise BrowserRejected("cross-origin renewal")
        request_id = checked_link(ctx, request_id, key)
        for _ in range(WRITE_TRIES):
            request = ctx.repo.get_request(request_id)
            if request is None:
                raise BrowserRejected("no such request")
            now = ctx.now()
            if request.effective_status(now) not in RENEWABLE_STATUSES:
                return LinkRequested("not_renewable")
            last = ctx.repo.renewal_requested_at(request.id)
            if last is not None and now - last < RENEWAL_EVERY:
                return LinkRequested("already")
            self_service = self._renewable(request)
            outcome = self._record(request, self_service)
            if outcome == "exchange":  # not renewable now (renewed lately, or open again)
                self_service = False
                outcome = self._record(request, self_service)
            if outcome == "recorded":
                return LinkRequested("told", self_service)
        return LinkRequested("already")  # kept losing to concurrent clicks: one of them told

    def _renewable(self, request: ReauthRequest) -> bool:
        """Would the service start a new request itself? (The exchange's part is its
        reservation, made with the note.)"""
        return (
            self._ctx.settings.allow_self_service_renewal
            and self._ctx.repo.get_renewal(request.id) is not None
        )

    def _record(self, request: ReauthRequest, self_service: bool) -> str:
        now = self._ctx.now()
        detail = request_detail(request, requestedAt=iso(now), selfService=self_service)
        event = OutboxEvent(events.LINK_REQUESTED, detail, key=request.id)
        return self._ctx.repo.record_link_requested(
            request, now, [event], reserve_exchange=self_service
        )

    # ---- the service renews (ApiFunction) ----------------------------------------------------
    def renew(self, detail: object, event_id: str) -> Created | None:
        """A "Reauth Link Requested" event: with `selfService`, a new request for the exchange to
        the kept contact (a redelivery gets the same request: the event id is its idempotency
        key). None when there is nothing to renew (not self-service, already used, the request
        reauthorized meanwhile, or no note of the customer's click on it)."""
        ctx = self._ctx
        if not isinstance(detail, dict) or detail.get("selfService") is not True:
            return None
        request_id = uuid_or(detail.get("sessionId"), ErrorCode.INVALID_SESSION_ID)
        kept = ctx.repo.get_renewal(request_id)
        request = ctx.repo.get_request(request_id)
        if kept is None or request is None:
            return None
        if not self._still_wanted(request):
            ctx.repo.delete_renewal(request_id)
            return None
        created = self._creating.create(
            kept.exchange_id,
            customer_id=kept.customer_id,
            return_url=kept.return_url,
            funding_source_id=kept.funding_source_id,
            contact=kept.contact,
            locale=request.locale,  # the closed request's language, whoever gave it
            idempotency_key=f"renewal:{event_id}",
            trigger="renewal",
        )
        ctx.repo.delete_renewal(request_id)
        logger.info("renewed", extra={"sessionId": created.request.id, "renewed": request_id})
        return created

    def _still_wanted(self, request: ReauthRequest) -> bool:
        """The customer asked on this request's page, it was not reauthorized after all, and its
        exchange still needs re-authentication with no open request (one the platform made
        meanwhile is never superseded by a renewal)."""
        repo = self._ctx.repo
        if request.is_reauthorized() or repo.renewal_requested_at(request.id) is None:
            return False
        record = repo.get_exchange(request.exchange_id)
        return (
            record is not None
            and record.status is ExchangeStatus.REAUTH_REQUIRED
            and record.pending_session_id is None
        )

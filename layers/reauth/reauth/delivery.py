"""Sending the link: the first message when a request is created, then the reminders.

    create ──▶ (request stored, slot 0 due now) ──▶ first_message: claim slot 0, send, record
    schedule (every 5 min) ──▶ send_due: the `reminders-due` index's due slots, each claimed,
                               sent, recorded

At most one message per slot and channel: a slot is claimed with one conditional write (the
request open, before its deadline, the slot due and not taken) that moves the request to its
next slot BEFORE anything is sent; only then are the messages sent, and what happened is
recorded (`messages` and the events "Reauth Link Sent" / "Reauth Delivery Failed") in one
transaction with the request's event sequence. A retried or overlapping run finds the slot
taken and sends nothing. The price: a crash between the claim and the send loses that slot's
message (at most once, never twice). When the inline first message fails or crashes, the
request is already in the index at slot 0, due now: the schedule sends it.
Contact details are never logged, never in an event: events say the channel, the slot and a
reason code only.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from . import events
from .context import Context, request_detail
from .errors import ServiceError
from .messages import DeliveryError, render_email, render_sms
from .model import Channel, Contact, ReauthRequest, SentMessage
from .outbox import OutboxEvent
from .repository import Contention
from .schedule import slot_times

logger = logging.getLogger(__name__)
RECORD_ATTEMPTS = 5
RESERVE_SECONDS = 12.0  # left for the catch-up that runs after the sweep


@dataclass
class DeliveryReport:
    """Messages sent and failed, per channel (the handlers' metrics)."""

    sent: Counter[Channel] = field(default_factory=Counter)
    failed: Counter[Channel] = field(default_factory=Counter)
    # Requests whose first message (slot 0) went out, under the channel the funnel counts them
    # by (ReauthRequest.reached_by: the first channel sent, email before SMS at the same time).
    reached: Counter[Channel] = field(default_factory=Counter)

    def add(self, other: DeliveryReport) -> None:
        self.sent.update(other.sent)
        self.failed.update(other.failed)
        self.reached.update(other.reached)


class Delivery:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def channels(self, contact: Contact | None) -> tuple[Channel, ...]:
        """The channels a contact can be reached on in this deployment."""
        if contact is None:
            return ()
        senders = self._ctx.senders
        found = []
        if contact.email and senders.email is not None:
            found.append(Channel.EMAIL)
        if contact.phone and senders.sms is not None:
            found.append(Channel.SMS)
        return tuple(found)

    def first_message(self, request: ReauthRequest) -> DeliveryReport:
        """Slot 0, right after create stored the request. Never fails the create: whatever
        goes wrong here, the schedule sends it (slot 0 is due from the start)."""
        try:
            return self._send_slot(request, 0)
        except Exception:
            logger.warning("first message not sent now: the schedule sends it", exc_info=True)
            return DeliveryReport()

    def send_due(self, limit: int) -> DeliveryReport:
        """The schedule's share: every due slot of the reminders index, a bounded batch."""
        ctx = self._ctx
        report = DeliveryReport()
        for due in ctx.repo.reminders_due(ctx.now(), limit):
            left = ctx.dwolla.time_left()
            if left is not None and left <= RESERVE_SECONDS:
                break  # the next run sends the rest
            request = ctx.repo.get_request(due.request_id)
            if request is None:
                continue
            try:
                report.add(self._send_slot(request, due.slot))
            except (ServiceError, Contention):
                logger.warning("a reminder could not be claimed now: left to the next run")
        return report

    # ---- one slot ----------------------------------------------------------------------------
    def _send_slot(self, request: ReauthRequest, slot: int) -> DeliveryReport:
        ctx = self._ctx
        now = ctx.now()
        contact = request.contact
        if contact is None or not request.is_open():
            return DeliveryReport()  # every close took it out of the index already
        if request.past_deadline(now):
            # Not closed yet (the expiry sweep is bounded, a claim may wait for Dwolla): out of
            # the index, so it never holds a place in a batch again.
            ctx.repo.stop_messages(request.id, slot)
            return DeliveryReport()
        channels = self.channels(contact)
        zone = self._zone(contact)
        settings = ctx.settings
        times = slot_times(
            request.created_at, request.expires_at, settings.reminders, settings.quiet_hours, zone
        )
        next_due = times[slot + 1] if channels and slot + 1 < len(times) else None
        if not ctx.repo.claim_slot(request.id, slot, next_due, now) or not channels:
            return DeliveryReport()
        link = ctx.links.start_url(request.id)
        failures: dict[Channel, str] = {}
        for channel in channels:
            try:
                self._send(channel, contact, request, slot, link, zone)
            except DeliveryError as error:
                failures[channel] = error.reason
        report = DeliveryReport()
        for channel in channels:
            (report.failed if channel in failures else report.sent)[channel] += 1
        first = next((c for c in channels if c not in failures), None)
        if slot == 0 and first is not None:
            report.reached[first] += 1
        self._record(request, slot, channels, failures)
        return report

    def _send(
        self,
        channel: Channel,
        contact: Contact,
        request: ReauthRequest,
        slot: int,
        link: str,
        zone: ZoneInfo,
    ) -> None:
        senders = self._ctx.senders
        platform = self._ctx.settings.platform_name
        if channel is Channel.EMAIL and senders.email is not None and contact.email:
            message = render_email(
                platform=platform,
                first_name=contact.first_name,
                link=link,
                deadline=request.expires_at,
                zone=zone,
                locale=contact.locale,
                reminder=slot > 0,
            )
            senders.email.send(contact.email, message, request.id)
        elif channel is Channel.SMS and senders.sms is not None and contact.phone:
            text = render_sms(
                platform=platform,
                link=link,
                deadline=request.expires_at,
                zone=zone,
                locale=contact.locale,
            )
            senders.sms.send(contact.phone, text, request.id)

    def _record(
        self,
        request: ReauthRequest,
        slot: int,
        channels: tuple[Channel, ...],
        failures: dict[Channel, str],
    ) -> None:
        """The outcome, as state and events, on the request's event sequence (re-read when
        another writer numbered an event meanwhile)."""
        repo = self._ctx.repo
        now = self._ctx.now()
        sent = [SentMessage(c, slot, now) for c in channels if c not in failures]
        for _ in range(RECORD_ATTEMPTS):
            outbox = [_outcome_event(request, slot, c, failures.get(c)) for c in channels]
            try:
                if repo.record_messages(request, sent, now, outbox):
                    return
            except Contention:
                pass
            fresh = repo.get_request(request.id)
            if fresh is None:
                break
            request = fresh
        logger.error("a message was sent but its record could not be written", extra={"slot": slot})

    def _zone(self, contact: Contact) -> ZoneInfo:
        return ZoneInfo(contact.time_zone or self._ctx.settings.time_zone)


def _outcome_event(
    request: ReauthRequest, slot: int, channel: Channel, reason: str | None
) -> OutboxEvent:
    if reason is None:
        detail = request_detail(request, channel=channel.value, slot=slot)
        return OutboxEvent(events.LINK_SENT, detail, key=request.id)
    detail = request_detail(request, channel=channel.value, slot=slot, reason=reason)
    return OutboxEvent(events.DELIVERY_FAILED, detail, key=request.id)

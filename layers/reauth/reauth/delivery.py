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

    SES (bounce / complaint) ──▶ EventBridge default bus ──▶ on_email_feedback: email stopped
                                 for the request, the slot's SMS sent now if it was not
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from . import events
from .context import Context, request_detail
from .errors import ServiceError
from .feedback import EmailFeedback, FeedbackKind
from .messages import DeliveryError, render_email, render_sms
from .model import Channel, Contact, ReauthRequest, SentMessage
from .outbox import OutboxEvent
from .repository import Contention
from .schedule import slot_times
from .words import choose_locale

logger = logging.getLogger(__name__)
RECORD_ATTEMPTS = 5
RESERVE_SECONDS = 12.0  # left for the catch-up that runs after the sweep


FEEDBACK_REASONS = {FeedbackKind.BOUNCED: "Bounced", FeedbackKind.COMPLAINED: "Complained"}


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


@dataclass(frozen=True)
class FeedbackOutcome:
    """What SES's news did: "stopped" (email stopped, the fallback in `report`),
    "already_stopped", "closed" or "unknown" (nothing)."""

    note: str
    report: DeliveryReport = field(default_factory=DeliveryReport)


class Delivery:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def channels(
        self, contact: Contact | None, stopped: frozenset[Channel] = frozenset()
    ) -> tuple[Channel, ...]:
        """The channels a contact can be reached on in this deployment (none `stopped`)."""
        if contact is None:
            return ()
        senders = self._ctx.senders
        found = []
        if contact.email and senders.email is not None:
            found.append(Channel.EMAIL)
        if contact.phone and senders.sms is not None:
            found.append(Channel.SMS)
        return tuple(c for c in found if c not in stopped)

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
        channels = self.channels(contact, request.stopped_channels)
        zone = self._zone(contact)
        settings = ctx.settings
        times = slot_times(
            request.created_at, request.expires_at, settings.reminders, settings.quiet_hours, zone
        )
        next_due = times[slot + 1] if channels and slot + 1 < len(times) else None
        if not ctx.repo.claim_slot(request.id, slot, next_due, now, channels) or not channels:
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
        locale = choose_locale(
            request.locale or contact.locale, None, self._ctx.settings.default_locale
        )
        if channel is Channel.EMAIL and senders.email is not None and contact.email:
            message = render_email(
                platform=platform,
                first_name=contact.first_name,
                link=link,
                deadline=request.expires_at,
                zone=zone,
                locale=locale,
                reminder=slot > 0,
            )
            senders.email.send(contact.email, message, request.id, slot)
        elif channel is Channel.SMS and senders.sms is not None and contact.phone:
            text = render_sms(
                platform=platform,
                link=link,
                deadline=request.expires_at,
                zone=zone,
                locale=locale,
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

    # ---- what SES reports: bounces and complaints ----------------------------------------------
    def on_email_feedback(self, feedback: EmailFeedback) -> FeedbackOutcome:
        """An email of an open request bounced for good, or was reported as spam: email stops
        for that request (one conditional write, with one event "Reauth Delivery Failed",
        reportedBy "ses"; later slots go by the other channels only), and the SMS of that
        email's slot goes now when it was not sent. The same news twice, or news about a
        channel already stopped, writes and sends nothing more: only the run whose write
        stopped the channel sends the fallback. A closed or unknown request: nothing."""
        ctx = self._ctx
        for _ in range(RECORD_ATTEMPTS):
            request = ctx.repo.get_request(feedback.request_id)
            if request is None:
                return FeedbackOutcome("unknown")
            if not request.is_open():
                return FeedbackOutcome("closed")
            if Channel.EMAIL in request.stopped_channels:
                return FeedbackOutcome("already_stopped")
            slot = feedback.slot if feedback.slot is not None else _last_slot(request)
            reason = FEEDBACK_REASONS[feedback.kind]
            detail = request_detail(
                request, channel=Channel.EMAIL.value, slot=slot, reason=reason, reportedBy="ses"
            )
            event = OutboxEvent(events.DELIVERY_FAILED, detail, key=request.id)
            try:
                if ctx.repo.stop_channel(request, Channel.EMAIL, ctx.now(), [event]):
                    break
            except Contention:
                pass
        else:
            raise Contention(feedback.request_id)  # kept changing: EventBridge delivers it again
        logger.info("email stopped for a request", extra={"sessionId": request.id, "slot": slot})
        stopped = replace(
            request,
            stopped_channels=request.stopped_channels | {Channel.EMAIL},
            event_seq=request.event_seq + 1,
        )
        report = DeliveryReport(failed=Counter({Channel.EMAIL: 1}))
        report.add(self._fall_back(stopped, slot))
        return FeedbackOutcome("stopped", report)

    def _fall_back(self, request: ReauthRequest, slot: int) -> DeliveryReport:
        """The SMS of `slot` now, when the contact has a phone, SMS is on, the deadline has not
        passed, the slot's email is on record (its outcome written: so was the SMS's, had one
        gone) and no SMS went at that slot or later."""
        ctx = self._ctx
        contact = request.contact
        if contact is None or request.past_deadline(ctx.now()):
            return DeliveryReport()
        if Channel.SMS not in self.channels(contact, request.stopped_channels):
            return DeliveryReport()
        emailed = any(m.channel is Channel.EMAIL and m.slot == slot for m in request.messages)
        texted = any(m.channel is Channel.SMS and m.slot >= slot for m in request.messages)
        if not emailed or texted:
            return DeliveryReport()
        link = ctx.links.start_url(request.id)
        failures: dict[Channel, str] = {}
        try:
            self._send(Channel.SMS, contact, request, slot, link, self._zone(contact))
        except DeliveryError as error:
            failures[Channel.SMS] = error.reason
        report = DeliveryReport()
        (report.failed if failures else report.sent)[Channel.SMS] += 1
        self._record(request, slot, (Channel.SMS,), failures)
        return report

    def _zone(self, contact: Contact) -> ZoneInfo:
        return ZoneInfo(contact.time_zone or self._ctx.settings.time_zone)


def _last_slot(request: ReauthRequest) -> int:
    """The slot of the latest email on record (an email tagged before slots were tagged)."""
    return max((m.slot for m in request.messages if m.channel is Channel.EMAIL), default=0)


def _outcome_event(
    request: ReauthRequest, slot: int, channel: Channel, reason: str | None
) -> OutboxEvent:
    if reason is None:
        detail = request_detail(request, channel=channel.value, slot=slot)
        return OutboxEvent(events.LINK_SENT, detail, key=request.id)
    detail = request_detail(request, channel=channel.value, slot=slot, reason=reason)
    return OutboxEvent(events.DELIVERY_FAILED, detail, key=request.id)

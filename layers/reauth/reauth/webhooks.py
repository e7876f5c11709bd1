"""Dwolla's news about exchanges: signed webhooks, and a catch-up of what they missed.

    POST /webhooks/dwolla ──▶ signature, age, topic ──▶ record (deduped, ordered)
    the schedule ──▶ GET /events since the checkpoint ──▶ record (the same way)

`customer_exchange_reauth_required` marks the exchange `reauth_required` and announces it
("Exchange Reauth Required"), unless a re-authorization newer than the news is on record: a
stale or replayed delivery never undoes one (deliveries are not ordered, and Dwolla retries for
72 hours). A signed body older than that window (plus a margin) is refused: only a replay can be
that old. Each delivery id is remembered for the whole window, so webhook and catch-up never
handle one event twice.

Dwolla pauses a subscription after 400 failed deliveries and never redelivers what it missed;
the catch-up reads `GET /events` (newest first, kept 30 days) back to the stored checkpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import events
from .context import Context
from .dwolla import DwollaError, DwollaEvent
from .errors import ErrorCode, ServiceError
from .ids import normalize_uuid
from .outbox import OutboxEvent
from .repository import ConcurrentChange

logger = logging.getLogger(__name__)

REAUTH_TOPIC = "customer_exchange_reauth_required"
WINDOW = timedelta(hours=72) + timedelta(hours=1)  # Dwolla's retries, and a margin
FIRST_LOOK_BACK = WINDOW  # no checkpoint yet: what a paused subscription could have missed
PAGE = 100
MAX_PAGES = 20  # per run: a long backlog is caught up over several runs
_LINK_ID_RE = {
    "resource": re.compile(r"/exchanges/(?P<id>[0-9a-fA-F-]{36})/?\Z"),
    "customer": re.compile(r"/customers/(?P<id>[0-9a-fA-F-]{36})/?\Z"),
}


@dataclass(frozen=True)
class CatchUp:
    read: int  # events read from Dwolla
    recorded: int  # re-authentication news that was new


class Webhooks:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def handle(self, raw_body: bytes, signature: str | None) -> str:
        """A signed delivery. Returns what happened: "recorded", "duplicate", "stale" (older
        than a re-authorization on record, or than the retry window) or "ignored"."""
        ctx = self._ctx
        if ctx.webhook_secret is None:
            raise ServiceError(ErrorCode.INVALID_SIGNATURE)
        expected = hmac.new(ctx.webhook_secret().encode(), raw_body, hashlib.sha256).hexdigest()
        presented = (signature or "").strip().lower().encode()  # bytes: any header compares
        if not presented or not hmac.compare_digest(presented, expected.encode()):
            raise ServiceError(ErrorCode.INVALID_SIGNATURE)
        try:
            payload = json.loads(raw_body)
        except (ValueError, RecursionError):
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The body must be JSON.") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The webhook has no id.")
        if payload.get("topic") != REAUTH_TOPIC:
            return "ignored"
        links = payload.get("_links")
        links = links if isinstance(links, dict) else {}
        if _id_from_link(links, "resource") is None:  # a malformed body is a 400 at any age
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The event names no exchange.")
        created = _moment(payload.get("created"))
        if created is None:
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The webhook has no valid created.")
        if ctx.now() - created > WINDOW:
            logger.warning("a signed webhook older than Dwolla's retries: refused as a replay")
            return "stale"
        return self._record(payload["id"], created, links)

    def catch_up(self) -> CatchUp:
        """Read Dwolla's events back to the checkpoint, record the re-authentication news among
        them oldest first, and move the checkpoint to the last one handled (a failure stops the
        run there: the next run starts from it)."""
        ctx = self._ctx
        checkpoint = ctx.repo.get_checkpoint() or ctx.now() - FIRST_LOOK_BACK
        fresh = self._events_since(checkpoint)
        recorded = 0
        handled: datetime | None = None
        for created, event in sorted(fresh, key=lambda pair: pair[0]):
            if event.topic == REAUTH_TOPIC:
                try:
                    outcome = self._record(event.id, created, event.links)
                except ServiceError as error:
                    if error.retryable:
                        break
                    logger.warning("a Dwolla event names no exchange: skipped")
                    outcome = "ignored"
                recorded += outcome == "recorded"
            handled = created
        if handled is not None:
            ctx.repo.set_checkpoint(handled)
        return CatchUp(read=len(fresh), recorded=recorded)

    def _events_since(self, checkpoint: datetime) -> list[tuple[datetime, DwollaEvent]]:
        """Dwolla's events newer than `checkpoint` (pages of newest first, at most MAX_PAGES)."""
        fresh: list[tuple[datetime, DwollaEvent]] = []
        for page in range(MAX_PAGES):
            try:
                answer = self._ctx.dwolla.list_events(PAGE, page * PAGE)
            except DwollaError:
                logger.warning("Dwolla's events could not be read; the next run tries again")
                return fresh
            for event in answer.events:
                created = _moment(event.created)
                if created is None or created <= checkpoint:
                    return fresh
                fresh.append((created, event))
            if (page + 1) * PAGE >= answer.total:
                return fresh
        return fresh

    def _record(self, event_id: str, created: datetime, links: Mapping[str, object]) -> str:
        exchange_id = _id_from_link(links, "resource")
        if exchange_id is None:
            raise ServiceError(ErrorCode.INVALID_REQUEST, "The event names no exchange.")
        customer_id = _id_from_link(links, "customer")
        event = OutboxEvent(
            events.EXCHANGE_REAUTH_REQUIRED,
            {
                "exchangeId": exchange_id,
                "customerId": customer_id,
                "webhookId": event_id,
                "created": created.isoformat().replace("+00:00", "Z"),
            },
            key=exchange_id,
        )
        try:
            return self._ctx.repo.record_reauth_required(
                event_id, exchange_id, customer_id, created, self._ctx.now(), [event]
            )
        except ConcurrentChange:
            raise ServiceError(ErrorCode.CONFLICT) from None  # Dwolla retries the delivery


def _moment(value: object) -> datetime | None:
    """Dwolla's timestamps (`2024-11-18T18:48:11.357Z`) as aware datetimes; None if not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _id_from_link(links: Mapping[str, object], name: str) -> str | None:
    link = links.get(name)
    href = link.get("href") if isinstance(link, dict) else None
    match = _LINK_ID_RE[name].search(href) if isinstance(href, str) else None
    return normalize_uuid(match["id"]) if match else None

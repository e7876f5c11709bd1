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
the catch-up reads `GET /events` (newest first, offset/limit pages, kept 30 days) back to the
stored checkpoint. The checkpoint moves only over a range read in full: a pass from the newest
event down to the checkpoint that ends early (a failed page, a failed record, the end of the
run's pages or time, a killed run) leaves a cursor (the pass's newest and oldest event read,
where the next unread one was and how long the list was then), and the next run goes on below
it before it reads what came since. The list only grows at its newest end, so an event's offset
only grows, by at least the growth of `total`: the cursor is found again without re-reading.
Progress is saved after each page; re-reading is harmless (each event id is recorded once).
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
from .dwolla import DwollaError, DwollaEvent, DwollaEventPage
from .errors import ErrorCode, ServiceError
from .ids import normalize_uuid
from .outbox import OutboxEvent
from .repository import ConcurrentChange, Contention

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
        """Read Dwolla's events back to the checkpoint and record the re-authentication news
        among them, at most MAX_PAGES pages per run. A pass left unfinished by an earlier run is
        finished first; then, with pages to spare, a new pass reads what came since."""
        state = self._load()
        resuming = state.cursor.run is not None
        offset = state.cursor.run.offset if state.cursor.run else 0
        for _ in range(MAX_PAGES):
            outcome, offset = self._read_page(state, offset)
            if outcome == "done" and resuming:  # the gap is closed: now what came since
                resuming, offset = False, 0
            elif outcome != "more":
                break
        return CatchUp(read=state.read, recorded=state.recorded)

    def _load(self) -> _CatchUpState:
        newest, document, version = self._ctx.repo.get_checkpoint()
        cursor = _cursor_from_json(document) if document else None
        if cursor is None:  # never run, or a checkpoint written before cursors: a bare time
            cursor = Cursor(Mark(newest or self._ctx.now() - FIRST_LOOK_BACK))
        return _CatchUpState(cursor, version)

    def _read_page(self, state: _CatchUpState, offset: int) -> tuple[str, int]:
        """Read and record one page of the pass, and save how far the pass got. Returns "more"
        and the next page's offset, "done" (the pass reached the checkpoint or the list's end:
        the checkpoint moved up) or "stop" (try again next run from the saved cursor)."""
        run = state.cursor.run or Run()
        try:
            page = self._ctx.dwolla.list_events(PAGE, offset)
        except DwollaError:
            logger.warning("Dwolla's events could not be read; the next run resumes here")
            return "stop", offset
        unread, reached = _unread(page, state.cursor.checkpoint, run)
        recorded = self._record_all(unread)
        if recorded is None:
            logger.warning("a Dwolla event could not be recorded; the next run reads it again")
            return "stop", offset
        end = offset + len(page.events)
        next_offset = max(end, run.shifted_offset(page.total))
        run = run.over([(created, event.id) for created, event in unread], next_offset, page.total)
        finished = reached or not page.events or end >= page.total
        cursor = state.cursor.finish(run) if finished else Cursor(state.cursor.checkpoint, run)
        if not self._save(state, cursor):
            logger.warning("another catch-up run moved the cursor; this one stops")
            return "stop", offset
        state.read += len(unread)
        state.recorded += recorded
        return ("done" if finished else "more"), next_offset

    def _record_all(self, unread: list[tuple[datetime, DwollaEvent]]) -> int | None:
        """Record the re-authentication news among `unread` (newest first), oldest first. The
        number that was new, or None when one could not be recorded now."""
        recorded = 0
        for created, event in reversed(unread):
            if event.topic != REAUTH_TOPIC:
                continue
            try:
                outcome = self._record(event.id, created, event.links)
            except Contention:
                return None
            except ServiceError as error:
                if error.retryable:
                    return None
                logger.warning("a Dwolla event names no exchange: skipped")
                continue
            recorded += outcome == "recorded"
        return recorded

    def _save(self, state: _CatchUpState, cursor: Cursor) -> bool:
        """Store `cursor` unless another run stored one since this run read it."""
        if cursor == state.cursor and state.version:
            return True
        stored = self._ctx.repo.set_checkpoint(
            cursor.checkpoint.created, _cursor_json(cursor), state.version
        )
        if stored:
            state.cursor, state.version = cursor, state.version + 1
        return stored

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


@dataclass(frozen=True)
class Mark:
    """A place in Dwolla's list of events: a `created` time, and the events at exactly that
    time that were read (several events can share a millisecond, and a page can end among
    them)."""

    created: datetime
    ids: frozenset[str] = frozenset()

    def holds(self, created: datetime, event_id: str) -> bool:
        return created == self.created and event_id in self.ids

    def lowered(self, created: datetime, event_id: str) -> Mark:
        """The mark after reading an event at or below it (a pass's oldest event read)."""
        if created < self.created:
            return Mark(created, frozenset({event_id}))
        return Mark(self.created, self.ids | {event_id}) if created == self.created else self

    def joined(self, other: Mark) -> Mark:
        """The newer of two marks (both marks' events, when they are at one time)."""
        if other.created == self.created:
            return Mark(self.created, self.ids | other.ids)
        return other if other.created > self.created else self


@dataclass(frozen=True)
class Run:
    """A pass down Dwolla's list, from its newest event to the checkpoint, perhaps over several
    runs. Every event from `top` down to `floor` has been read; when the list held `total`
    events, the next unread one was at `offset`. New events are only added at the newest end,
    so that offset has grown since by at least the growth of `total`."""

    top: Mark | None = None
    floor: Mark | None = None
    offset: int = 0
    total: int = 0

    def has_read(self, created: datetime, event_id: str) -> bool:
        """Read by this pass, or newer than its top (left for the next pass)."""
        floor = self.floor
        return floor is not None and (created > floor.created or floor.holds(created, event_id))

    def shifted_offset(self, total: int) -> int:
        """The lowest offset the next unread event can be at, now that the list holds `total`
        (events that expire leave the list at its oldest end: offsets above them stay)."""
        return self.offset + total - self.total if self.floor is not None else 0

    def over(self, read: list[tuple[datetime, str]], offset: int, total: int) -> Run:
        """The pass after reading `read` (newest first), the next unread event at `offset`."""
        top, floor = self.top, self.floor
        for created, event_id in read:
            event = Mark(created, frozenset({event_id}))
            top = top.joined(event) if top else event
            floor = floor.lowered(created, event_id) if floor else event
        return Run(top, floor, offset, total)


@dataclass(frozen=True)
class Cursor:
    """Where the catch-up is: everything older than `checkpoint` (and the events it holds) is
    read, and `run`, if any, is the pass that will move it up."""

    checkpoint: Mark
    run: Run | None = None

    def finish(self, run: Run) -> Cursor:
        """The pass reached the checkpoint: the checkpoint moves up to the pass's newest event."""
        return Cursor(self.checkpoint.joined(run.top) if run.top else self.checkpoint)


@dataclass
class _CatchUpState:
    cursor: Cursor  # as stored (at `version`; 0 when never stored)
    version: int
    read: int = 0
    recorded: int = 0


def _unread(
    page: DwollaEventPage, checkpoint: Mark, run: Run
) -> tuple[list[tuple[datetime, DwollaEvent]], bool]:
    """The page's events the pass has yet to read (newest first), and whether the page reached
    the checkpoint (an event older than it: all below was read)."""
    unread: list[tuple[datetime, DwollaEvent]] = []
    for event in page.events:
        created = _moment(event.created)
        if created is None:
            logger.warning("a Dwolla event without a valid created: skipped")
            continue
        if created < checkpoint.created:
            return unread, True
        if not (checkpoint.holds(created, event.id) or run.has_read(created, event.id)):
            unread.append((created, event))
    return unread, False


def _cursor_json(cursor: Cursor) -> str:
    run = cursor.run
    document = {
        "checkpoint": _mark_json(cursor.checkpoint),
        "run": None
        if run is None
        else {
            "top": _mark_json(run.top),
            "floor": _mark_json(run.floor),
            "offset": run.offset,
            "total": run.total,
        },
    }
    return json.dumps(document, separators=(",", ":"))


def _mark_json(mark: Mark | None) -> dict[str, object] | None:
    if mark is None:
        return None
    return {"created": mark.created.isoformat(), "ids": sorted(mark.ids)}


def _cursor_from_json(document: str) -> Cursor | None:
    """The stored cursor; None (and a warning) when it cannot be read: the checkpoint's time,
    stored beside it, is then where a new pass stops (what the lost cursor knew is re-read)."""
    try:
        data = json.loads(document)
        checkpoint = _mark_from(data["checkpoint"])
        run = data["run"]
        if checkpoint is None or not (run is None or isinstance(run, dict)):
            raise ValueError("no checkpoint")
        if run is None:
            return Cursor(checkpoint)
        offset, total = run["offset"], run["total"]
        if not (isinstance(offset, int) and isinstance(total, int)):
            raise ValueError("no offset")
        return Cursor(
            checkpoint, Run(_mark_from(run["top"]), _mark_from(run["floor"]), offset, total)
        )
    except (ValueError, KeyError, TypeError):
        logger.warning(
            "the catch-up's cursor cannot be read: a new pass starts from the checkpoint"
        )
        return None


def _mark_from(value: object) -> Mark | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("ids"), list):
        raise ValueError("not a mark")
    created = datetime.fromisoformat(value["created"])
    if created.tzinfo is None:
        raise ValueError("a mark's time has no zone")
    return Mark(created, frozenset(str(i) for i in value["ids"]))


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

"""When each message of a request is due: the first at once, then the reminders.

Slots: 0 is the first message (due when the request is created); 1, 2 … are the reminders of
REMINDER_SCHEDULE, in time order. A reminder is an offset from the first message ("1d") or,
with a minus, back from the deadline ("-1d"); units m (minutes), h (hours), d (days). A reminder
due inside quiet hours (in the contact's time zone, else the deployment's) moves to their end;
one that would then fall at or after the deadline, or not after the slot before it, is dropped.
Pure functions: the same request and settings give the same slots on every run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_OFFSET_RE = re.compile(r"(-?)([0-9]{1,4})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_CLOCK_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
MAX_REMINDERS = 10


@dataclass(frozen=True)
class Reminder:
    offset: timedelta
    from_deadline: bool  # counted back from the deadline, not on from the first message

    def raw_due(self, first: datetime, deadline: datetime) -> datetime:
        return deadline - self.offset if self.from_deadline else first + self.offset


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # across midnight

    def end_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """`moment`, or the end of the quiet hours it falls in."""
        local = moment.astimezone(zone)
        if not self.contains(local.time().replace(tzinfo=None)):
            return moment
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) >= self.start:
            day += timedelta(days=1)  # evening: quiet until tomorrow morning
        return datetime.combine(day, self.end, tzinfo=zone).astimezone(moment.tzinfo)


DEFAULT_SCHEDULE = (
    Reminder(timedelta(days=1), from_deadline=False),
    Reminder(timedelta(days=1), from_deadline=True),
)
DEFAULT_QUIET_HOURS = QuietHours(time(21, 0), time(8, 0))


def parse_schedule(raw: str) -> tuple[Reminder, ...]:
    """REMINDER_SCHEDULE: "" is the default, "off" none, else e.g. "1d,-1d" or "2m,4m"."""
    text = raw.strip().lower()
    if not text:
        return DEFAULT_SCHEDULE
    if text == "off":
        return ()
    reminders = []
    for part in text.split(","):
        match = _OFFSET_RE.fullmatch(part.strip())
        if not match or int(match[2]) == 0:
            raise ValueError(
                'REMINDER_SCHEDULE must be "off" or offsets like "1d,-1d" (units m, h, d)'
            )
        offset = timedelta(**{_UNITS[match[3]]: int(match[2])})
        reminders.append(Reminder(offset, from_deadline=match[1] == "-"))
    if len(reminders) > MAX_REMINDERS:
        raise ValueError(f"REMINDER_SCHEDULE must hold at most {MAX_REMINDERS} reminders")
    return tuple(reminders)


def parse_quiet_hours(raw: str) -> QuietHours | None:
    """QUIET_HOURS: "" is the default (21:00-08:00), "off" none, else "HH:MM-HH:MM"."""
    text = raw.strip().lower()
    if not text:
        return DEFAULT_QUIET_HOURS
    if text == "off":
        return None
    parts = text.split("-")
    clocks = [_CLOCK_RE.fullmatch(p.strip()) for p in parts]
    if len(parts) != 2 or not all(clocks) or parts[0].strip() == parts[1].strip():
        raise ValueError('QUIET_HOURS must be "off" or "HH:MM-HH:MM" (e.g. "21:00-08:00")')
    start, end = (time(int(c[1]), int(c[2])) for c in clocks if c)
    return QuietHours(start, end)


def slot_times(
    first: datetime,
    deadline: datetime,
    reminders: tuple[Reminder, ...],
    quiet: QuietHours | None,
    zone: ZoneInfo,
) -> list[datetime]:
    """Every slot's due time: [first, reminder 1, …], quiet hours applied to the reminders."""
    times = [first]
    for raw in sorted(r.raw_due(first, deadline) for r in reminders):
        due = quiet.end_after(raw, zone) if quiet else raw
        if times[-1] < due < deadline:
            times.append(due)
    return times

"""A request's timeline: what happened to it, in order, from what its item holds.

    created         the platform (or an event) asked for it                       trigger
    message-sent    a message carried the link (slot 0 the first, 1.. reminders)   channel, slot
    opened          the start page was first shown to a browser (see below)
    started         a browser clicked the start button: an attempt went to the bank attemptId
    back-from-bank  that attempt ended                     attemptId, outcome, reason, reportedBy
    verified        Dwolla's balance check (the last one on record)               result
    ended           the request closed                                            status

Ordered by time; steps at the same moment in the order above (an attempt ends before the check
that settles it, the check before the end it decides).

`opened` cannot tell a person from a machine: mail and chat link scanners (Safe Links and the
like) and link previews fetch the page with a GET, some in full browsers that run its scripts and
load its images, so any signal the page itself sends they send too. What is left out: HEAD, and
a browser's own declared prefetch (`Sec-Purpose: prefetch`, `Purpose: prefetch`). `started` is
the human signal: the button is a same-origin POST no scanner makes.

Nothing secret or personal is in it: no link, key, handoff URL or token, contact or binding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .model import ReauthRequest, RequestStatus, iso

STEPS = ("created", "message-sent", "opened", "started", "back-from-bank", "verified", "ended")
_ORDER = {step: number for number, step in enumerate(STEPS)}


@dataclass(frozen=True)
class Entry:
    at: datetime
    step: str
    details: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"at": iso(self.at), "step": self.step, **self.details}


def timeline(request: ReauthRequest, now: datetime) -> list[Entry]:
    """Every step of `request` on record, in order (see the module's table)."""
    entries = [Entry(request.created_at, "created", {"trigger": request.trigger})]
    entries += [
        Entry(m.sent_at, "message-sent", {"channel": m.channel.value, "slot": m.slot})
        for m in request.messages
    ]
    if request.opened_at is not None:
        entries.append(Entry(request.opened_at, "opened"))
    for attempt in request.attempts:
        if attempt.started_at is not None:
            entries.append(Entry(attempt.started_at, "started", {"attemptId": attempt.id}))
        if attempt.ended_at is not None and attempt.outcome is not None:
            reporter = attempt.failure_reporter
            back = {
                "attemptId": attempt.id,
                "outcome": attempt.outcome.value,
                "reason": attempt.reason,
                "reportedBy": reporter.value if reporter else None,
            }
            entries.append(Entry(attempt.ended_at, "back-from-bank", back))
    check = request.verification
    if check is not None:
        entries.append(Entry(check.checked_at, "verified", {"result": check.result.value}))
    ended = _ended(request, now)
    if ended is not None:
        entries.append(ended)
    return sorted(entries, key=lambda e: (e.at, _ORDER[e.step]))  # stable: slots stay in order


def _ended(request: ReauthRequest, now: datetime) -> Entry | None:
    """The request's end with its final status: when Dwolla confirmed it, when it closed
    (before `endedAt` was kept: its last update), or its deadline when it reads as expired
    before the schedule closed it."""
    status = request.effective_status(now)
    if request.is_reauthorized() and request.reauthorized_at is not None:
        at = request.reauthorized_at
    elif status is RequestStatus.EXPIRED and request.is_open():
        at = request.expires_at
    elif not request.is_open():
        at = request.ended_at or request.updated_at
    else:
        return None
    return Entry(at, "ended", {"status": status.value})


def public_timeline(request: ReauthRequest, now: datetime) -> list[dict[str, Any]]:
    return [entry.public() for entry in timeline(request, now)]

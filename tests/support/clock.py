"""The tests' clocks: the service's (wall time, moved forward by the flows) and a frozen
monotonic one for the Dwolla client's token expiry and retries."""

from __future__ import annotations

from datetime import datetime, timedelta

from reauth.model import utcnow


class Clock:
    """The service's clock: now plus however far the test moved it (`advance(minutes=31)`).
    Give `clock.now` to `runtime.build(clock=...)`."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class FrozenClock:
    """The service's clock stopped at `start`: it moves only when told (`advance(minutes=2)`),
    so the times a test reads back are exact."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class FrozenMonotonic:
    """A `time.monotonic` stand-in that moves only when told (`advance(seconds)`)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

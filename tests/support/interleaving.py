"""Races made deterministic: every use case waits on Dwolla's balance check between its read of
a request and its write, so running another actor inside that call is an interleaving of the
two, chosen by the test instead of by luck."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Pause:
    """What `while_at_dwolla` did: `ran` once the other actor ran inside the balance check."""

    ran: bool = False


def while_at_dwolla(
    monkeypatch, answer: bool | BaseException | None, meanwhile: Callable[[], object]
) -> Pause:
    """The next balance check answers `answer` (True: works, False: UpdateCredentials, an
    exception: raised, as when Dwolla cannot answer; None: Dwolla's real answer, or its real
    failure), but only after `meanwhile` ran: another actor, between the first actor's read
    and its write. Later checks are Dwolla's own."""
    from reauth import runtime

    client = runtime.service().ctx.dwolla
    real = client.balance_works
    pause = Pause()

    def paused(funding_source_id: str) -> bool:
        if pause.ran:
            return real(funding_source_id)
        failure: Exception | None = None
        real_answer = False
        try:
            real_answer = real(funding_source_id)
        except Exception as exc:  # Dwolla's real failure: raised after the other actor ran
            failure = exc
        pause.ran = True
        meanwhile()
        if isinstance(answer, BaseException):
            raise answer
        if answer is None and failure is not None:
            raise failure
        return real_answer if answer is None else answer

    monkeypatch.setattr(client, "balance_works", paused)
    return pause

"""Waiting on a condition with a deadline, never a fixed sleep: a busy machine only waits longer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(
    read: Callable[[], T], done: Callable[[T], bool], timeout: float, every: float = 0.05
) -> T:
    """read() again until done(answer) or `timeout` seconds have passed; the last answer."""
    deadline = time.monotonic() + timeout
    answer = read()
    while not done(answer) and time.monotonic() < deadline:
        time.sleep(every)
        answer = read()
    return answer

"""Count a container's I/O by instrumenting its clients, the same way for product and baseline.

- AWS: handlers on the boto3 session's event system, registered before any client exists (each
  client copies the session's handlers when it is made): `before-call` once per API call,
  `before-send` once per HTTP attempt (more attempts than calls means botocore retried).
- Dwolla: the urllib3 PoolManager's `urlopen`, wrapped on the instance: every HTTP request, as
  "METHOD /path/template". For the product, DwollaClient.stats is read too, as a cross-check.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from urllib.parse import urlsplit

_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class IOCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # "dynamodb:GetItem", "secrets-manager:GetSecretValue", "dwolla:POST /token", ...
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()  # AWS HTTP attempts
        self.dwolla_stats = None  # the product's own counters, when there are any

    def on_aws_call(self, event_name: str, **_) -> None:
        _, service, operation = event_name.split(".", 2)  # before-call.<service id>.<operation>
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1

    def on_aws_send(self, event_name: str, **_) -> None:
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.attempts[f"{service}:{operation}"] += 1

    def on_dwolla_request(self, method: str, url: str) -> None:
        template = _ID.sub("{id}", urlsplit(url).path)
        with self._lock:
            self.calls[f"dwolla:{method} {template}"] += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.attempts.clear()
        if self.dwolla_stats is not None:
            self.dwolla_stats.reset()

    def snapshot(self) -> dict:
        with self._lock:
            found = {"calls": dict(self.calls), "attempts": dict(self.attempts)}
        if self.dwolla_stats is not None:
            found["dwolla_stats"] = self.dwolla_stats.snapshot()
        return found


def _count_pool(pool, counts: IOCounts) -> None:
    urlopen = pool.urlopen

    def counted(method, url, *args, **kwargs):
        counts.on_dwolla_request(method, url)
        return urlopen(method, url, *args, **kwargs)

    pool.urlopen = counted


def attach(target: str, module, function: str = "") -> IOCounts:
    """Instrument the container's clients. Call before the first invocation: AWS clients made
    earlier would not see the handlers. RelayFunction calls no Dwolla: its pool is left alone
    (and the product's service, which holds it, unbuilt)."""
    counts = IOCounts()
    if target == "product":
        from reauth import runtime

        session = runtime._boto_session()
        _register(session, counts)
        if function != "relay":
            dwolla = runtime.service().ctx.dwolla  # built now; AWS clients made on first use
            _count_pool(dwolla._pool, counts)
            counts.dwolla_stats = dwolla.stats
    else:
        from benchmarks.baseline import core

        _register(core.boto_session(), counts)
        _count_pool(core.pool, counts)
    return counts


def _register(session, counts: IOCounts) -> None:
    session.events.register("before-call", counts.on_aws_call)
    session.events.register("before-send", counts.on_aws_send)

"""Count a container's I/O by instrumenting its clients, the same way for product and baseline.

- AWS: handlers on the boto3 session's event system, registered before any client exists (each
  client copies the session's handlers when it is made): `before-call` once per API call,
  `before-send` once per HTTP attempt (more attempts than calls means botocore retried).
- Dwolla: the urllib3 PoolManager's `urlopen`, wrapped on the instance: every HTTP request, as
  "METHOD /path/template". For the product, DwollaClient.stats is read too, as a cross-check.
- Time: each AWS call (`before-call` → `after-call`) and Dwolla request, summed per invocation
  (`take_invocation`): what the handler waited on, for the tail's analysis.
- DynamoDB items read and written, by kind (REQUEST, EXCHANGE, OUTBOX; consistent or not, in a
  transaction or not), and EventBridge entries: with the items' sizes, what a flow is billed.
"""

from __future__ import annotations

import re
import threading
import time
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
        self.units: Counter[str] = Counter()
        # ^ "write:REQUEST:tx", "read:EXCHANGE:consistent", "events:entries", ...: what is billed
        self.waited: Counter[str] = Counter()  # seconds per call kind, this invocation

    def on_aws_params(self, event_name: str, params=None, **_) -> None:
        """before-parameter-build: the API's own parameters (before-call sees the wire form)."""
        _, service, operation = event_name.split(".", 2)
        if not isinstance(params, dict):
            return
        with self._lock:
            if service == "dynamodb":
                self.units.update(_dynamodb_items(operation, params))
            elif operation == "PutEvents":
                self.units["events:entries"] += len(params.get("Entries", []))

    def on_aws_call(self, event_name: str, context=None, **_) -> None:
        _, service, operation = event_name.split(".", 2)  # before-call.<service id>.<operation>
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1
        if isinstance(context, dict):
            context["bench_began"] = time.perf_counter()

    def on_aws_done(self, event_name: str, context=None, **_) -> None:
        began = context.get("bench_began") if isinstance(context, dict) else None
        if began is not None:
            _, service, operation = event_name.split(".", 2)
            with self._lock:
                self.waited[f"{service}:{operation}"] += time.perf_counter() - began

    def on_dwolla_done(self, seconds: float) -> None:
        with self._lock:
            self.waited["dwolla"] += seconds

    def take_invocation(self) -> dict[str, float]:
        """Milliseconds waited per call kind since the last take."""
        with self._lock:
            found = {k: round(v * 1000, 3) for k, v in self.waited.items()}
            self.waited.clear()
        return found

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
            self.units.clear()
        if self.dwolla_stats is not None:
            self.dwolla_stats.reset()

    def snapshot(self) -> dict:
        with self._lock:
            found = {"calls": dict(self.calls), "attempts": dict(self.attempts)}
            found["units"] = dict(self.units)
        if self.dwolla_stats is not None:
            found["dwolla_stats"] = self.dwolla_stats.snapshot()
        return found


def _count_pool(pool, counts: IOCounts) -> None:
    urlopen = pool.urlopen

    def counted(method, url, *args, **kwargs):
        counts.on_dwolla_request(method, url)
        began = time.perf_counter()
        try:
            return urlopen(method, url, *args, **kwargs)
        finally:
            counts.on_dwolla_done(time.perf_counter() - began)

    pool.urlopen = counted


def attach(target: str, module, function: str = "") -> IOCounts:
    """Instrument the container's clients. Call before the first invocation: AWS clients made
    earlier would not see the handlers. RelayFunction calls no Dwolla: its pool is left alone
    (and the product's service, which holds it, unbuilt)."""
    counts = IOCounts()
    if target == "product":
        from reauth import runtime

        session = runtime.boto_session()
        _register(session, counts)
        if function != "relay":
            dwolla = runtime.service().ctx.dwolla  # built now; AWS clients made on first use
            _count_pool(dwolla._pool, counts)
            counts.dwolla_stats = dwolla.stats
    else:  # the baseline, or the Powertools peer (whose I/O is the baseline's core)
        from benchmarks.baseline import core

        _register(core.boto_session(), counts)
        _count_pool(core.pool, counts)
    return counts


def _register(session, counts: IOCounts) -> None:
    session.events.register("before-parameter-build", counts.on_aws_params)
    session.events.register("before-call", counts.on_aws_call)
    session.events.register("before-send", counts.on_aws_send)
    session.events.register("after-call", counts.on_aws_done)


def _kind(key: dict) -> str:
    """REQUEST, EXCHANGE, OUTBOX, ... from an item's key (wire format)."""
    pk = (key or {}).get("pk", {}).get("S", "")
    return pk.split("#", 1)[0] or "OTHER"


def _dynamodb_items(operation: str, params: dict) -> Counter:
    """The items a DynamoDB call reads or writes, by kind: units follow from their sizes."""
    found: Counter[str] = Counter()
    if operation == "GetItem":
        mode = "consistent" if params.get("ConsistentRead") else "eventual"
        found[f"read:{_kind(params.get('Key'))}:{mode}"] += 1
    elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
        found[f"write:{_kind(params.get('Item') or params.get('Key'))}"] += 1
    elif operation == "TransactWriteItems":
        for entry in params.get("TransactItems", []):
            for action, body in entry.items():
                key = body.get("Item") or body.get("Key")
                name = "check" if action == "ConditionCheck" else "write"
                found[f"{name}:{_kind(key)}:tx"] += 1
    elif operation in ("Query", "Scan", "BatchGetItem", "TransactGetItems", "BatchWriteItem"):
        found[f"other:{operation}"] += 1
    return found

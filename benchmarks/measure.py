"""The measurements that run one invocation at a time: cold starts, warm latency with I/O counts
and memory, and the secret/token cache under short lifetimes. Product and baseline are measured
in the same run, interleaved, so that the machine's noise falls on both alike."""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import flows
from .container import Container, product_paths
from .stack import Seeded, Stack

SIDES = ("product", "baseline")
FUNCTIONS = ("api", "callback")  # cold starts; the warm phase also runs RelayFunction
WARM_FUNCTIONS = (*FUNCTIONS, "relay")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def _diff(after: dict, before: dict) -> Counter:
    found = Counter(after.get("calls", {}))
    found.subtract(before.get("calls", {}))
    return +found


def io_kinds(calls: Counter | dict, per: int = 1) -> dict:
    """Calls grouped the way the issue asks, per `per` invocations, plus the detail."""
    total = Counter()
    for name, count in calls.items():
        kind = name.split(":", 1)[0]
        total[kind] += count
        if name == "secrets-manager:GetSecretValue":
            total["secret_reads"] += count
        if name == "dwolla:POST /token":
            total["token_mints"] += count
        if name == "eventbridge:PutEvents":
            total["event_puts"] += count

    def rate(n: int) -> float:
        return round(n / per, 3) if per else 0.0

    return {
        "dwolla": rate(total["dwolla"]),
        "dynamodb": rate(total["dynamodb"]),
        "secrets_manager": rate(total["secrets-manager"]),
        "eventbridge": rate(total["eventbridge"]),
        "token_mints": rate(total["token_mints"]),
        "calls": {name: rate(count) for name, count in sorted(calls.items())},
    }


@dataclass
class Pair:
    """A side's functions, kept warm: the api and callback containers (and the relay's)."""

    api: Container
    callback: Container
    relay: Container | None = None

    def close(self) -> None:
        for container in (self.api, self.callback, self.relay):
            if container is not None:
                container.close()


class Flows:
    """Drives whole flows through a side's containers. A flow is a dict: the exchange, the
    request id, its start link and provider URL, then the binding cookie and the way back."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._sequence = 1  # the stream records' sequence numbers

    def create(self, pair: Pair, seeded: Seeded, *, discovery: bool = False) -> tuple[dict, float]:
        """Create a request; with `discovery`, without naming the funding source."""
        funding_source = None if discovery else seeded.funding_source_id
        done = pair.api.invoke(flows.create_event(seeded.exchange_id, funding_source))
        request_id, start_url, provider_url = flows.created(done.response)
        flow = {"exchange": seeded.exchange_id, "request": request_id, "start": start_url}
        flow["provider"] = provider_url
        return flow, done.elapsed

    def open(self, pair: Pair, flow: dict) -> float:
        done = pair.callback.invoke(flows.open_event(flow["start"]))
        flows.opened(done.response, flow["start"])
        return done.elapsed

    def start(self, pair: Pair, flow: dict) -> float:
        done = pair.callback.invoke(flows.start_event(flow["start"]))
        flow["cookie"] = flows.started(done.response, flow["provider"])
        return done.elapsed

    def bank(self, flow: dict) -> None:
        flow["back"] = self.stack.visit_bank(flow["provider"])

    def callback(self, pair: Pair, flow: dict) -> float:
        done = pair.callback.invoke(flows.callback_event(flow["back"], flow["cookie"]))
        flows.called_back(done.response, flow["request"])
        return done.elapsed

    def status(self, pair: Pair, flow: dict) -> float:
        done = pair.api.invoke(flows.status_event(flow["exchange"]))
        flows.status_read(done.response)
        return done.elapsed

    def relay(self, pair: Pair, flow: dict) -> float:
        """The flow's outbox items (read untimed) delivered to the relay as one stream batch."""
        items = self.stack.aws.outbox(flow["request"])
        if len(items) != 2:
            raise flows.FlowError(f"relay: {len(items)} outbox items, expected 2")
        done = pair.relay.invoke(flows.relay_event(items, self._sequence))
        self._sequence += len(items)
        flows.relayed(done.response)
        return done.elapsed


def spawn_pair(stack: Stack, side: str, env: dict | None = None, *, relay: bool = False) -> Pair:
    env = env or stack.function_env()
    log_path = stack.workdir / "containers.log"
    pair = Pair(
        Container(side, "api", env, log=log_path), Container(side, "callback", env, log=log_path)
    )
    if relay:  # RelayFunction has one variable of its own
        queue = stack.aws.resources.dead_letter_queue_url
        relay_env = {**env, "DEAD_LETTER_QUEUE_URL": queue}
        pair.relay = Container(side, "relay", relay_env, log=log_path)
    for container in (pair.api, pair.callback, pair.relay):
        if container is not None:
            container.instrument()
    return pair


# ---- warm latency, I/O per request, memory --------------------------------------------------
def warm(
    stack: Stack, pairs: dict[str, Pair], iterations: int, warmup: int, discovery: int = 0
) -> dict:
    """`warmup` unmeasured flows per side (the first is each container's cold invocation, whose
    I/O is kept), then `iterations` measured flows: each iteration runs create, open, start,
    (the bank), callback and status for both sides, product and baseline alternating which goes
    first, and then deletes the flow's items so that the table stays small (moto copies the
    whole table on every transaction: a growing table would slow both sides alike and hide the
    difference). Then `discovery` flows whose create names no funding source, so that the
    callback finds it through Dwolla first; only their callback is measured (informational)."""
    drive = Flows(stack)
    routes = (*flows.ROUTES, flows.DISCOVERY)
    times: dict[str, dict[str, list[float]]] = {r: {s: [] for s in SIDES} for r in routes}
    calls: dict[str, dict[str, Counter]] = {r: {s: Counter() for s in SIDES} for r in routes}
    first_io: dict[str, dict] = {side: {} for side in SIDES}
    after_warmup: dict[str, dict] = {}

    def timed(route: str, side: str, step, measured: bool, first: bool = False) -> None:
        container = getattr(pairs[side], flows.FUNCTION_OF[route])
        before = container.counts()
        elapsed = step()
        used = _diff(container.counts(), before)
        if first and route != "status":  # each container's first invocations
            first_io[side][route] = io_kinds(used)
        if measured:
            times[route][side].append(elapsed)
            calls[route][side].update(used)

    def one_round(i: int, *, measured: bool, first: bool = False, found: bool = False) -> None:
        order = SIDES if i % 2 == 0 else SIDES[::-1]
        seeded = dict(zip(SIDES, stack.sandbox.seed(2), strict=True))
        made: dict[str, dict] = {}
        steps = ("start", "callback") if found else flows.ROUTES[1:]
        for side in order:

            def create(side=side) -> float:
                made[side], elapsed = drive.create(pairs[side], seeded[side], discovery=found)
                return elapsed

            if found:
                create()
            else:
                timed("create", side, create, measured, first)
        for route in steps:
            for side in order:
                if route == "callback":
                    drive.bank(made[side])  # the customer at the bank (not timed)
                step = getattr(drive, route)
                name = flows.DISCOVERY if found and route == "callback" else route
                timed(
                    name,
                    side,
                    lambda s=step, p=pairs[side], f=made[side]: s(p, f),
                    measured and (name != "start" or not found),
                    first,
                )
        stack.aws.forget(made.values())

    total = warmup + iterations
    log(f"warm: {warmup} warm-up + {iterations} measured flows per side")
    measuring_since = time.monotonic()
    for i in range(total):
        if i == warmup:
            after_warmup = {
                side: {f: getattr(p, f).memory() for f in WARM_FUNCTIONS}
                for side, p in pairs.items()
            }
            measuring_since = time.monotonic()
        one_round(i, measured=i >= warmup, first=i == 0)
        if i % 100 == 99:
            log(f"warm: {i + 1}/{total}")
    measured_seconds = time.monotonic() - measuring_since
    if discovery:
        log(f"warm: {discovery} flows per side without the funding source named")
    for i in range(discovery):
        one_round(i, measured=True, found=True)

    def summarized(route: str) -> tuple[dict, dict]:
        entry = {side: summary_ms(times[route][side]) for side in SIDES}
        entry["p50_ratio"] = round(entry["product"]["p50_ms"] / entry["baseline"]["p50_ms"], 3)
        entry["p99_ratio"] = round(entry["product"]["p99_ms"] / entry["baseline"]["p99_ms"], 3)
        n = len(times[route]["product"])
        return entry, {side: io_kinds(calls[route][side], n) for side in SIDES}

    result: dict = {"latency": {}, "io_per_request": {}, "first_invocation_io": first_io}
    for route in flows.ROUTES:
        result["latency"][route], result["io_per_request"][route] = summarized(route)
    if discovery:
        latency, io = summarized(flows.DISCOVERY)
        result["discovery"] = {"latency": latency, "io_per_request": io}
    memory: dict = {}
    per_1000: dict = {}
    for function in WARM_FUNCTIONS:
        memory[function], per_1000[function] = {}, {}
        mine = [r for r in flows.ROUTES if flows.FUNCTION_OF[r] == function]
        for side, pair in pairs.items():
            container = getattr(pair, function)
            now = container.memory()
            memory[function][side] = {
                "invocations": container.invocations,
                "peak_rss_bytes": now["peak_rss"],
                "rss_bytes": now["rss"],
                "rss_after_warmup_bytes": after_warmup[side][function]["rss"],
            }
            measured = sum((calls[r][side] for r in mine), Counter())
            invocations = len(mine) * iterations
            per_1000[function][side] = {
                "invocations": invocations,
                "seconds": round(measured_seconds, 1),  # the measured flows' wall time
                "secret_reads": round(
                    measured["secrets-manager:GetSecretValue"] * 1000 / invocations, 3
                ),
                "token_mints": round(measured["dwolla:POST /token"] * 1000 / invocations, 3),
            }
            if side == "product":  # the product's own count, as a cross-check of the pool's
                stats = container.counts().get("dwolla_stats", {})
                per_1000[function][side]["dwolla_stats_token_mints_total"] = stats.get(
                    "token_mints"
                )
    result["memory"] = memory
    result["per_1000_warm_invocations"] = per_1000
    return result


# ---- cold start ---------------------------------------------------------------------------
def cold(
    stack: Stack, pairs: dict[str, Pair], runs: int, *, shipped_layer: Path | None = None
) -> dict:
    """Fresh processes: spawn → import → init → first invocation (create for ApiFunction; for
    CallbackFunction the customer's first request, opening the link). One discarded round first
    (bytecode cache), then `runs` rounds, the four (side, function) pairs in a different random
    order each round."""
    drive = Flows(stack)
    rounds = runs + 1
    sources = list(SIDES)
    kinds = [(side, function) for side in SIDES for function in FUNCTIONS]
    if shipped_layer is not None:
        kinds += [("product", "api:shipped"), ("product", "callback:shipped")]
        sources.append("shipped")
    exchanges = {source: stack.sandbox.seed(rounds) for source in sources}
    # requests to open, made by the side's own warm ApiFunction (the product's for "shipped")
    openable = {
        source: [
            drive.create(pairs["baseline" if source == "baseline" else "product"], seeded)[0]
            for seeded in stack.sandbox.seed(rounds)
        ]
        for source in sources
    }
    env = stack.function_env()
    shipped_env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    samples: dict[tuple[str, str], list[dict]] = {kind: [] for kind in kinds}
    made = [flow for found in openable.values() for flow in found]
    for r in range(rounds):
        order = kinds[:]
        random.Random(r).shuffle(order)
        log(
            f"cold: round {r}/{runs}" + (" (discarded: fills the bytecode cache)" if r == 0 else "")
        )
        for side, kind in order:
            function, _, variant = kind.partition(":")
            source = "shipped" if variant else side
            paths = product_paths(function, shipped_layer) if variant else None
            if function == "api":
                seeded = exchanges[source][r]
                event = flows.create_event(seeded.exchange_id, seeded.funding_source_id)
            else:
                event = flows.open_event(openable[source][r]["start"])
            container = Container(
                side,
                function,
                shipped_env if variant else env,
                paths=paths,
                log=stack.workdir / "containers.log",
            )
            try:
                done = container.invoke(event)
                memory = container.memory()
            finally:
                container.close()
            if function == "api":
                made.append(
                    {"request": flows.created(done.response)[0], "exchange": seeded.exchange_id}
                )
            else:
                flows.opened(done.response, openable[source][r]["start"])
            t = done.timeline
            if r > 0:
                samples[(side, kind)].append(
                    {
                        "total": t["answered"] - container.spawned_at,
                        "interpreter": t["started"] - container.spawned_at,
                        "import": t["imported"] - t["started"],
                        "first_invocation": t["answered"] - t["imported"],
                        "cpu": t["cpu"],
                        "rss": memory["rss"],
                    }
                )
    stack.aws.forget(made)
    result: dict = {}
    for (side, kind), found in samples.items():
        function, _, variant = kind.partition(":")
        entry = {
            "median_ms": round(statistics.median(s["total"] for s in found) * 1000, 1),
            "runs_ms": [round(s["total"] * 1000, 1) for s in found],
            "breakdown_median_ms": {
                part: round(statistics.median(s[part] for s in found) * 1000, 1)
                for part in ("interpreter", "import", "first_invocation")
            },
            "cpu_median_ms": round(statistics.median(s["cpu"] for s in found) * 1000, 1),
            "rss_after_first_bytes": int(statistics.median(s["rss"] for s in found)),
        }
        result.setdefault(function, {})["product_shipped_layer" if variant else side] = entry
    for function in FUNCTIONS:
        both = result[function]
        both["ratio"] = round(both["product"]["median_ms"] / both["baseline"]["median_ms"], 3)
        both["cpu_ratio"] = round(
            both["product"]["cpu_median_ms"] / both["baseline"]["cpu_median_ms"], 3
        )
    return result


# ---- the secret and token caches under short lifetimes ---------------------------------------
def expiry(stack: Stack, seconds: float, cache_seconds: int = 2, token_ttl: int = 4) -> dict:
    """ApiFunction creating requests for `seconds` with SECRET_CACHE_SECONDS=cache_seconds,
    against a sandbox whose tokens live `token_ttl` s (the client renews a token 60 s before it
    expires, or after half its life if that is later: every 2 s here)."""
    sandbox = stack.start_sandbox(token_ttl=token_ttl)
    env = stack.function_env(sandbox=sandbox, SECRET_CACHE_SECONDS=str(cache_seconds))
    drive = Flows(stack)
    pairs = {side: spawn_pair(stack, side, env) for side in SIDES}
    renew_every = max(token_ttl - 60, token_ttl / 2)
    result = {"seconds": seconds, "secret_cache_seconds": cache_seconds}
    result["token_renewal_seconds"] = renew_every
    try:
        invocations = Counter()
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            for side in SIDES:
                drive.create(pairs[side], sandbox.seed(1)[0])
                invocations[side] += 1
        elapsed = time.monotonic() - began
        for side in SIDES:
            kinds = io_kinds(Counter(pairs[side].api.counts().get("calls", {})))
            result[side] = {
                "invocations": invocations[side],
                "secret_reads": int(kinds["secrets_manager"]),
                "token_mints": int(kinds["token_mints"]),
                "allowed_secret_reads": math.floor(elapsed / cache_seconds) + 1,
                "allowed_token_mints": math.floor(elapsed / renew_every) + 1,
            }
        result["seconds"] = round(elapsed, 2)
    finally:
        for pair in pairs.values():
            pair.close()
        stack.stop(sandbox.process)
    return result

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
from dataclasses import dataclass, field
from pathlib import Path

from . import flows
from .container import Container, product_paths
from .stack import Stack

SIDES = ("product", "baseline")
FUNCTIONS = ("api", "callback")


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
    """A function of one side, kept warm: the api and callback containers."""

    api: Container
    callback: Container
    first_io: dict = field(default_factory=dict)

    def close(self) -> None:
        self.api.close()
        self.callback.close()


class Flows:
    """Drives whole flows through a side's containers."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def create(self, pair: Pair, exchange_id: str) -> tuple[dict, float]:
        done = pair.api.invoke(flows.create_event(exchange_id))
        session_id, start_url, provider_url = flows.created(done.response)
        ready = {"exchange": exchange_id, "session": session_id, "start": start_url}
        ready["provider"] = provider_url
        return ready, done.elapsed

    def bank(self, session: dict) -> None:
        session["back"] = self.stack.visit_bank(session["provider"])

    def start(self, pair: Pair, session: dict) -> float:
        done = pair.callback.invoke(flows.start_event(session["start"]))
        session["cookie"] = flows.started(done.response, session["provider"])
        return done.elapsed

    def callback(self, pair: Pair, session: dict) -> float:
        done = pair.callback.invoke(flows.callback_event(session["back"], session["cookie"]))
        flows.called_back(done.response, session["session"])
        return done.elapsed

    def status(self, pair: Pair, session: dict) -> float:
        done = pair.api.invoke(flows.status_event(session["exchange"]))
        flows.status_read(done.response)
        return done.elapsed


def spawn_pair(stack: Stack, side: str, env: dict | None = None) -> Pair:
    env = env or stack.function_env()
    log_path = stack.workdir / "containers.log"
    pair = Pair(
        Container(side, "api", env, log=log_path), Container(side, "callback", env, log=log_path)
    )
    pair.api.instrument()
    pair.callback.instrument()
    return pair


# ---- warm latency, I/O per request, memory --------------------------------------------------
def warm(stack: Stack, pairs: dict[str, Pair], iterations: int, warmup: int) -> dict:
    """`warmup` unmeasured flows per side (the first is each container's cold invocation, whose
    I/O is kept), then `iterations` measured flows: each iteration runs create, start, callback
    and status for both sides, product and baseline alternating which goes first, and then
    deletes the flow's items so that the table stays small (moto copies the whole table on
    every transaction: a growing table would slow both sides alike and hide the difference)."""
    drive = Flows(stack)
    times: dict[str, dict[str, list[float]]] = {r: {s: [] for s in SIDES} for r in flows.ROUTES}
    calls: dict[str, dict[str, Counter]] = {r: {s: Counter() for s in SIDES} for r in flows.ROUTES}
    first_io: dict[str, dict] = {side: {} for side in SIDES}
    after_warmup: dict[str, dict] = {}

    def timed(route: str, side: str, container: Container, step, i: int) -> None:
        before = container.counts()
        elapsed = step()
        used = _diff(container.counts(), before)
        if i == 0 and route != "status":  # each container's first invocations
            first_io[side][route] = io_kinds(used)
        if i >= warmup:
            times[route][side].append(elapsed)
            calls[route][side].update(used)

    total = warmup + iterations
    log(f"warm: {warmup} warm-up + {iterations} measured flows per side")
    for i in range(total):
        if i == warmup:
            after_warmup = {
                side: {"api": p.api.memory(), "callback": p.callback.memory()}
                for side, p in pairs.items()
            }
        order = SIDES if i % 2 == 0 else SIDES[::-1]
        exchange_ids = dict(zip(SIDES, stack.sandbox.seed(2), strict=True))
        sessions: dict[str, dict] = {}
        for side in order:
            pair = pairs[side]

            def create(side=side, pair=pair, made=sessions, ids=exchange_ids) -> float:
                made[side], elapsed = drive.create(pair, ids[side])
                return elapsed

            timed("create", side, pair.api, create, i)
        for side in order:
            drive.bank(sessions[side])
        for route in ("start", "callback", "status"):
            for side in order:
                pair = pairs[side]
                container = getattr(pair, flows.FUNCTION_OF[route])
                step = getattr(drive, route)
                timed(route, side, container, lambda s=step, p=pair, d=sessions[side]: s(p, d), i)
        stack.aws.forget(sessions.values())
        if i % 100 == 99:
            log(f"warm: {i + 1}/{total}")

    result: dict = {"latency": {}, "io_per_request": {}, "first_invocation_io": first_io}
    for route in flows.ROUTES:
        entry = {side: summary_ms(times[route][side]) for side in SIDES}
        entry["p50_ratio"] = round(entry["product"]["p50_ms"] / entry["baseline"]["p50_ms"], 3)
        entry["p99_ratio"] = round(entry["product"]["p99_ms"] / entry["baseline"]["p99_ms"], 3)
        result["latency"][route] = entry
        result["io_per_request"][route] = {
            side: io_kinds(calls[route][side], iterations) for side in SIDES
        }
    memory: dict = {}
    per_1000: dict = {}
    for function in FUNCTIONS:
        memory[function], per_1000[function] = {}, {}
        for side, pair in pairs.items():
            container = getattr(pair, function)
            now = container.memory()
            memory[function][side] = {
                "invocations": container.invocations,
                "peak_rss_bytes": now["peak_rss"],
                "rss_bytes": now["rss"],
                "rss_after_warmup_bytes": after_warmup[side][function]["rss"],
            }
            measured = sum(
                (calls[r][side] for r in flows.ROUTES if flows.FUNCTION_OF[r] == function),
                Counter(),
            )
            invocations = 2 * iterations
            per_1000[function][side] = {
                "invocations": invocations,
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
    """Fresh processes: spawn → import → init → first invocation (create for ApiFunction, start
    for CallbackFunction). One discarded round first (bytecode cache), then `runs` rounds, the
    four (side, function) pairs in a different random order each round."""
    drive = Flows(stack)
    rounds = runs + 1
    exchanges = {side: stack.sandbox.seed(rounds) for side in SIDES}
    startable = {side: [] for side in SIDES}
    for side in SIDES:  # sessions to start, made by the side's own warm ApiFunction
        for exchange_id in stack.sandbox.seed(rounds):
            startable[side].append(drive.create(pairs[side], exchange_id)[0])
    kinds = [(side, function) for side in SIDES for function in FUNCTIONS]
    if shipped_layer is not None:
        kinds.append(("product", "api:shipped"))
        kinds.append(("product", "callback:shipped"))
        exchanges["shipped"] = stack.sandbox.seed(rounds)
        startable["shipped"] = [
            drive.create(pairs["product"], e)[0] for e in stack.sandbox.seed(rounds)
        ]
    env = stack.function_env()
    shipped_env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    samples: dict[tuple[str, str], list[dict]] = {kind: [] for kind in kinds}
    made = [session for found in startable.values() for session in found]
    for r in range(rounds):
        order = kinds[:]
        random.Random(r).shuffle(order)
        log(
            f"cold: round {r}/{runs}" + (" (discarded: fills the bytecode cache)" if r == 0 else "")
        )
        for side, kind in order:
            function, _, variant = kind.partition(":")
            paths = None
            source = "shipped" if variant else side
            if variant:
                paths = product_paths(function, shipped_layer)
            if function == "api":
                event_exchange = exchanges[source][r]
                event = flows.create_event(event_exchange)
            else:
                event = flows.start_event(startable[source][r]["start"])
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
                    {"session": flows.created(done.response)[0], "exchange": event_exchange}
                )
            else:
                flows.started(done.response, startable[source][r]["provider"])
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
def expiry(stack: Stack, seconds: float, cache_seconds: int = 2, token_ttl: int = 62) -> dict:
    """ApiFunction creating sessions for `seconds` with SECRET_CACHE_SECONDS=cache_seconds,
    against a sandbox whose tokens live `token_ttl` s (the client renews 60 s early)."""
    sandbox = stack.start_sandbox(token_ttl=token_ttl)
    env = stack.function_env(sandbox=sandbox, SECRET_CACHE_SECONDS=str(cache_seconds))
    drive = Flows(stack)
    pairs = {side: spawn_pair(stack, side, env) for side in SIDES}
    renew_every = token_ttl - 60
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

"""Warm latency, I/O per request, what makes the tail, and memory: every route of the customer's
journey, product, baseline and Powertools peer interleaved in the same run.

Each iteration runs, for every side (the order reversed every other time):
  an MX flow      create, open, start, (the bank), callback, status, relay
  a Plaid flow    (create), plaid_page, (Plaid Link), then complete (the Plaid page's report)
                  on even iterations, verify (the platform's /complete) on odd ones
and then deletes the flows' items (moto copies the whole table on every transaction: a growing
table would slow both sides alike and hide the difference). `warmup` unmeasured iterations
first; then `discovery` flows whose create names no funding source (their callback finds it
through Dwolla first; only that callback is measured, informational).

Each measured invocation keeps its time, the garbage collector's pauses in it and what it waited
on (AWS calls, Dwolla): the median invocations and the slowest 1% are compared route by route.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from functools import partial

from . import flows
from .measure import SIDES, Flows, Pair, _diff, io_kinds, log, summary_ms

WARM_FUNCTIONS = ("api", "callback", "relay")
MEASURED = (*flows.ROUTES, *flows.PLAID_ROUTES)


def turn(i: int) -> tuple[str, ...]:
    """The sides' order in the i-th iteration: each goes first, second, … as often as the others
    (rotated every iteration, reversed every len(SIDES) iterations)."""
    n = len(SIDES)
    rotated = SIDES[i % n :] + SIDES[: i % n]
    return rotated if (i // n) % 2 == 0 else rotated[::-1]


class WarmRun:
    def __init__(self, stack, pairs: dict[str, Pair]) -> None:
        self.stack, self.pairs = stack, pairs
        self.drive = Flows(stack)
        routes = (*MEASURED, flows.DISCOVERY)
        self.samples: dict = {r: {s: [] for s in SIDES} for r in routes}
        self.calls: dict = {r: {s: Counter() for s in SIDES} for r in routes}
        self.items: dict = {r: {s: Counter() for s in SIDES} for r in routes}
        self.first_io: dict = {side: {} for side in SIDES}
        self.item_sizes: dict = {}
        moto = stack.aws.moto_gc() or {}
        self.collect_moto = bool(moto.get("managed"))  # between iterations, untimed

    # ---- one timed step --------------------------------------------------------------------
    def timed(self, route: str, side: str, step, measured: bool, first: bool = False) -> None:
        container = getattr(self.pairs[side], flows.FUNCTION_OF[route])
        before = container.counts()
        done = step()
        after = container.counts()
        used = _diff(after, before)
        if first and route != "status":  # each container's first invocations
            self.first_io[side][route] = io_kinds(used)
        if measured:
            sample = {"ms": done.elapsed * 1000, "gc": done.gc, "waited": done.waited or {}}
            self.samples[route][side].append(sample)
            self.calls[route][side].update(used)
            self.items[route][side].update(_diff(after, before, "units"))

    # ---- the flows ---------------------------------------------------------------------------
    def mx_round(self, i: int, *, measured: bool, first: bool = False) -> None:
        order = turn(i)
        seeded = dict(zip(SIDES, self.stack.sandbox.seed(len(SIDES)), strict=True))
        made: dict[str, dict] = {}

        def create(side: str):
            made[side], done = self.drive.create(self.pairs[side], seeded[side])
            return done

        for side in order:
            self.timed("create", side, partial(create, side), measured, first)
        for route in flows.ROUTES[1:]:
            for side in order:
                if route == "callback":
                    self.drive.bank(made[side])  # the customer at the bank (not timed)
                step = partial(getattr(self.drive, route), self.pairs[side], made[side])
                self.timed(route, side, step, measured, first)
        if measured and not self.item_sizes:
            self.item_sizes = {side: self.stack.aws.item_sizes(made[side]) for side in SIDES}
        self.stack.aws.forget(made.values())
        self.stack.aws.moto_gc(collect=self.collect_moto)

    def plaid_round(self, i: int, *, measured: bool) -> None:
        order = turn(i // 2)
        last = "complete" if i % 2 == 0 else "verify"
        seeded = dict(zip(SIDES, self.stack.sandbox.seed(len(SIDES), "plaid"), strict=True))
        made = {side: self.drive.create(self.pairs[side], seeded[side])[0] for side in order}
        for route in ("plaid_page", last):
            for side in order:
                step = partial(getattr(self.drive, route), self.pairs[side], made[side])
                self.timed(route, side, step, measured)
            if route == "plaid_page":
                for side in order:
                    self.drive.plaid_login(made[side])
        self.stack.aws.forget(made.values())
        self.stack.aws.moto_gc(collect=self.collect_moto)

    def discovery_round(self, i: int) -> None:
        order = turn(i)
        seeded = dict(zip(SIDES, self.stack.sandbox.seed(len(SIDES)), strict=True))
        made = {
            side: self.drive.create(self.pairs[side], seeded[side], discovery=True)[0]
            for side in order
        }
        for side in order:
            self.drive.start(self.pairs[side], made[side])
        for side in order:
            self.drive.bank(made[side])
            step = partial(self.drive.callback, self.pairs[side], made[side])
            self.timed(flows.DISCOVERY, side, step, True)
        self.stack.aws.forget(made.values())

    # ---- the run -----------------------------------------------------------------------------
    def memory_now(self) -> dict:
        return {
            side: {f: getattr(p, f).memory() for f in WARM_FUNCTIONS}
            for side, p in self.pairs.items()
        }

    def run(self, iterations: int, warmup: int, discovery: int) -> dict:
        total = warmup + iterations
        log(f"warm: {warmup} warm-up + {iterations} measured iterations (MX + Plaid flows)")
        after_warmup = self.memory_now()
        began = time.monotonic()
        moto_before = None
        for i in range(total):
            if i == warmup:
                after_warmup, began = self.memory_now(), time.monotonic()
                moto_before = self.stack.aws.moto_gc()
            self.mx_round(i, measured=i >= warmup, first=i == 0)
            self.plaid_round(i, measured=i >= warmup)
            if i % 100 == 99:
                log(f"warm: {i + 1}/{total}")
        seconds = time.monotonic() - began
        self.moto = _moto_during(moto_before, self.stack.aws.moto_gc())
        if discovery:
            log(f"warm: {discovery} flows per side without the funding source named")
        for i in range(discovery):
            self.discovery_round(i)
        return self.results(iterations, seconds, after_warmup, discovery)

    def summarized(self, route: str) -> tuple[dict, dict]:
        entry: dict = {}
        for side in SIDES:
            entry[side] = summary_ms([s["ms"] / 1000 for s in self.samples[route][side]])
        for q in ("p50", "p99"):  # against the baseline; peer_…: against the Powertools peer
            for other, prefix in (("baseline", ""), ("peer", "peer_")):
                ratio = entry["product"][f"{q}_ms"] / entry[other][f"{q}_ms"]
                entry[f"{prefix}{q}_ratio"] = round(ratio, 3)
        n = len(self.samples[route]["product"])
        io = {side: io_kinds(self.calls[route][side], n) for side in SIDES}
        for side in SIDES:
            io[side]["units"] = {
                k: round(v / n, 3) for k, v in sorted(self.items[route][side].items())
            }
        return entry, io

    def results(self, iterations: int, seconds: float, after_warmup: dict, discovery: int) -> dict:
        result: dict = {"latency": {}, "io_per_request": {}, "first_invocation_io": self.first_io}
        for route in MEASURED:
            result["latency"][route], result["io_per_request"][route] = self.summarized(route)
        result["tail"] = {
            route: {side: tail(self.samples[route][side]) for side in SIDES} for route in MEASURED
        }
        if discovery:
            latency, io = self.summarized(flows.DISCOVERY)
            result["discovery"] = {"latency": latency, "io_per_request": io}
        result["memory"] = self.memory(after_warmup)
        result["per_1000_warm_invocations"] = self.per_1000(seconds)
        result["item_sizes"] = self.item_sizes
        result["moto_gc"] = self.moto
        return result

    def memory(self, after_warmup: dict) -> dict:
        memory: dict = {}
        for function in WARM_FUNCTIONS:
            memory[function] = {}
            for side, pair in self.pairs.items():
                container = getattr(pair, function)
                now = container.memory()
                memory[function][side] = {
                    "invocations": container.invocations,
                    "peak_rss_bytes": now["peak_rss"],
                    "rss_bytes": now["rss"],
                    "rss_after_warmup_bytes": after_warmup[side][function]["rss"],
                }
        return memory

    def per_1000(self, seconds: float) -> dict:
        """Secret reads and token mints per 1,000 measured invocations of each container, over
        the measured iterations' wall time."""
        found: dict = {}
        for function in WARM_FUNCTIONS:
            found[function] = {}
            mine = [r for r in MEASURED if flows.FUNCTION_OF[r] == function]
            for side, pair in self.pairs.items():
                measured = sum((self.calls[r][side] for r in mine), Counter())
                invocations = sum(len(self.samples[r][side]) for r in mine)
                reads = measured["secrets-manager:GetSecretValue"]
                found[function][side] = {
                    "invocations": invocations,
                    "seconds": round(seconds, 1),
                    "secret_reads": round(reads * 1000 / invocations, 3),
                    "token_mints": round(measured["dwolla:POST /token"] * 1000 / invocations, 3),
                }
                if side == "product":  # the product's own count, as a cross-check of the pool's
                    stats = getattr(pair, function).counts().get("dwolla_stats", {})
                    found[function][side]["dwolla_stats_token_mints_total"] = stats.get(
                        "token_mints"
                    )
        return found


def _moto_during(before: dict | None, after: dict | None) -> dict | None:
    """moto's own collector during the measured iterations (benchmarks/moto_server.py)."""
    if not before or not after:
        return None
    found = {k: round(after[k] - before[k], 1) for k in ("collections", "ms", "over_20ms")}
    found["managed"] = after.get("managed")
    found["max_ms_so_far"] = after.get("max_ms")
    return found


def _composition(group: list[dict]) -> dict:
    """Mean milliseconds of a group of invocations: in all, waiting on each kind of call, in the
    garbage collector, and the rest (the function's own work); gen-2 collections in the group."""
    n = len(group)
    waited: Counter = Counter()
    for s in group:
        waited.update(s["waited"])
    gc_ms = sum((s["gc"] or {}).get("ms", 0.0) for s in group) / n
    total = sum(s["ms"] for s in group) / n
    io = {k: round(v / n, 2) for k, v in waited.most_common()}
    return {
        "n": n,
        "total_ms": round(total, 2),
        "io_ms": io,
        "gc_ms": round(gc_ms, 2),
        "gen2_collections": sum((s["gc"] or {}).get("runs", [0, 0, 0])[2] for s in group),
        "collections": sum(sum((s["gc"] or {}).get("runs", [0, 0, 0])) for s in group),
        "own_ms": round(total - sum(io.values()) - gc_ms, 2),
    }


def tail(samples: list[dict]) -> dict:
    """The slowest 1% of invocations (those at or above p99) next to the middle 10%."""
    ordered = sorted(samples, key=lambda s: s["ms"])
    n = len(ordered)
    slow = ordered[math.ceil(0.99 * n) - 1 :]
    middle = ordered[int(n * 0.45) : max(int(n * 0.55), int(n * 0.45) + 1)]
    return {"middle": _composition(middle), "slowest": _composition(slow)}


def run(stack, pairs: dict[str, Pair], iterations: int, warmup: int, discovery: int = 0) -> dict:
    return WarmRun(stack, pairs).run(iterations, warmup, discovery)

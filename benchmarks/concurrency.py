"""Sustained concurrency: N threads, each the platform and a customer at once, each with its own
pair of containers (ApiFunction, CallbackFunction: Lambda gives every concurrent request its own
container), running whole flows for S seconds, MX and Plaid in turn:
  MX     create → open → start → bank → callback
  Plaid  create → open → plaid_page → Plaid Link → complete

Reports throughput (flows/s), error rate, flow latency, I/O per flow, the functions' billed
duration per flow (each invocation's time in the handler, rounded up to the millisecond as Lambda
bills it), and each function's memory sampled every second (to show it stays flat).
`scale` runs the same at several concurrencies (1, 10, 100): how per-flow latency and cost grow.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import Counter

from .measure import Flows, Pair, io_kinds, log, percentile, spawn_pair
from .stack import Aws, Seeded, Stack, harness_retry

FUNCTIONS = ("api", "callback")


class Load:
    """`threads` flows at a time against `aws` (a moto server of its own, atomic per request)."""

    def __init__(self, stack: Stack, aws: Aws, side: str, threads: int) -> None:
        self.stack, self.aws, self.side, self.threads = stack, aws, side, threads
        self.drive = Flows(stack)
        env = stack.function_env(aws=aws)
        # spawned together, instrumented after: the imports run side by side
        self.pairs = [spawn_pair(stack, side, env, instrument=False) for _ in range(threads)]
        for pair in self.pairs:
            pair.api.instrument()
            pair.callback.instrument()
        self.lock = threading.Lock()
        self.done: list[float] = []
        self.billed_ms: list[int] = []  # per flow: the functions' billed milliseconds
        self.errors: Counter[str] = Counter()
        self.ready = threading.Barrier(threads + 1, timeout=600)
        self.stop = threading.Event()

    def one_flow(self, pair: Pair, admin, plaid: bool = False) -> tuple[float, int]:
        partner = "plaid" if plaid else "mx"
        seeded = Seeded.of(harness_retry(lambda: admin.seed_exchange(partner)))
        began = time.perf_counter()
        flow, created = self.drive.create(pair, seeded)
        steps = [created, self.drive.open(pair, flow)]
        if plaid:
            steps.append(self.drive.plaid_page(pair, flow))
            # the customer in Plaid Link
            harness_retry(lambda: admin.complete_exchange_session(flow["provider"]))
            steps.append(self.drive.complete(pair, flow))
        else:
            steps.append(self.drive.start(pair, flow))
            self.drive.bank(flow)
            steps.append(self.drive.callback(pair, flow))
        elapsed = time.perf_counter() - began
        self.aws.forget([flow])  # keeps moto's table small
        return elapsed, sum(math.ceil(s.elapsed * 1000) for s in steps)

    def worker(self, pair: Pair) -> None:
        from local.dwolla_admin import SandboxAdmin

        sandbox = self.stack.sandbox
        admin = SandboxAdmin(sandbox.url, sandbox.admin.key, sandbox.admin.secret)
        try:  # warm the containers before the clock starts
            self.one_flow(pair, admin)
            self.one_flow(pair, admin, plaid=True)
        except Exception as exc:
            with self.lock:
                self.errors[f"warm-up: {str(exc)[:120]}"] += 1
        pair.api.reset_counts()
        pair.callback.reset_counts()
        self.ready.wait()
        plaid = False
        while not self.stop.is_set():
            plaid = not plaid
            try:
                elapsed, billed = self.one_flow(pair, admin, plaid)
            except Exception as exc:  # a wrong answer, a dead container, a refused request
                with self.lock:
                    self.errors[str(exc)[:160]] += 1
            else:
                with self.lock:
                    self.done.append(elapsed)
                    self.billed_ms.append(billed)

    def sample_memory(self, seconds: float) -> tuple[dict, float]:
        """RSS of every container once a second while the load runs."""
        samples: dict[str, list[list[int]]] = {f: [] for f in FUNCTIONS}
        began = time.monotonic()
        while (now := time.monotonic()) - began < seconds:
            for function, series in samples.items():
                series.append([getattr(p, function).memory()["rss"] for p in self.pairs])
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
        return samples, began

    def run(self, seconds: float) -> dict:
        log(f"concurrency: {self.side}, {self.threads} threads x {seconds:.0f} s")
        workers = [threading.Thread(target=self.worker, args=(p,), daemon=True) for p in self.pairs]
        for thread in workers:
            thread.start()
        try:
            self.ready.wait()
            samples, began = self.sample_memory(seconds)
            self.stop.set()
            for thread in workers:
                thread.join(timeout=120)
            elapsed = time.monotonic() - began
            return self.summary(samples, elapsed)
        finally:
            self.stop.set()
            for pair in self.pairs:
                pair.close()

    def summary(self, samples: dict, elapsed: float) -> dict:
        calls, attempts, items = Counter(), Counter(), Counter()
        for pair in self.pairs:
            for function in FUNCTIONS:
                counted = getattr(pair, function).counts()
                calls.update(counted.get("calls", {}))
                attempts.update(counted.get("attempts", {}))
                items.update(counted.get("units", {}))
        peak = {f: max(getattr(p, f).memory()["peak_rss"] for p in self.pairs) for f in FUNCTIONS}
        completed, failed = len(self.done), sum(self.errors.values())
        flows = completed + failed
        io = io_kinds(calls, flows)
        io["units"] = {k: round(v / max(1, flows), 3) for k, v in sorted(items.items())}
        return {
            "threads": self.threads,
            "seconds": round(elapsed, 1),
            "flows": completed,
            "errors": failed,
            "error_kinds": dict(self.errors),
            "error_rate": round(failed / max(1, flows), 5),
            "flows_per_second": round(completed / elapsed, 2),
            "flow_p50_ms": round(statistics.median(self.done) * 1000, 1) if self.done else None,
            "flow_p99_ms": round(percentile(self.done, 99) * 1000, 1) if self.done else None,
            "billed_ms_per_flow": round(statistics.fmean(self.billed_ms), 1)
            if self.billed_ms
            else None,
            "invocations_per_flow": 4,
            "io_per_flow": io,
            "aws_retries": sum(attempts.values())
            - sum(n for name, n in calls.items() if not name.startswith("dwolla:")),
            "memory": {f: memory_growth(series, self.threads) for f, series in samples.items()},
            "peak_rss_bytes": peak,
        }


def memory_growth(series: list[list[int]], containers: int) -> dict:
    """Mean RSS per container in the first and the last fifth of the samples, and the growth."""
    fifth = max(1, len(series) // 5)
    head = [statistics.fmean(column) for column in zip(*series[:fifth], strict=True)]
    tail = [statistics.fmean(column) for column in zip(*series[-fifth:], strict=True)]
    growth = [t - h for h, t in zip(head, tail, strict=True)]
    return {
        "containers": containers,
        "mean_rss_first_fifth_bytes": int(statistics.fmean(head)),
        "mean_rss_last_fifth_bytes": int(statistics.fmean(tail)),
        "mean_growth_bytes": int(statistics.fmean(growth)),
        "max_growth_bytes": int(max(growth)),
        "max_rss_bytes": max(max(row) for row in series),
        "samples": len(series),
        "mean_series_mb": [round(statistics.fmean(row) / 2**20, 2) for row in series],
    }


def run(stack: Stack, aws: Aws, side: str, threads: int, seconds: float) -> dict:
    """`aws`: a moto server of its own, atomic per request (see stack.py)."""
    return Load(stack, aws, side, threads).run(seconds)


def scale(stack: Stack, levels: list[int], seconds: float) -> dict:
    """The product at each concurrency in `levels`, each on a fresh atomic moto server."""
    found = {}
    for threads in levels:
        aws = stack.start_aws(atomic=True)
        try:
            found[str(threads)] = run(stack, aws, "product", threads, seconds)
        finally:
            stack.stop(aws.process)
    return found

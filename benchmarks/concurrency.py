"""Sustained concurrency: N threads, each the platform and a customer at once, each with its own
pair of containers (ApiFunction, CallbackFunction: Lambda gives every concurrent request its own
container), running the whole flow create → open → start → bank → callback for S seconds.

Reports throughput (flows/s), error rate, flow latency, I/O per flow, and each function's memory
sampled every second (to show it stays flat)."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter

from .measure import Flows, io_kinds, log, percentile, spawn_pair
from .stack import Aws, Seeded, Stack


def run(stack: Stack, aws: Aws, side: str, threads: int, seconds: float) -> dict:
    """`aws`: a moto server of its own, atomic per request (see stack.py)."""
    drive = Flows(stack)
    log(f"concurrency: {side}, {threads} threads x {seconds:.0f} s")
    env = stack.function_env(aws=aws)
    pairs = [spawn_pair(stack, side, env) for _ in range(threads)]
    lock = threading.Lock()
    done: list[float] = []
    errors: Counter[str] = Counter()
    ready = threading.Barrier(threads + 1, timeout=300)
    stop = threading.Event()

    def one_flow(pair, admin) -> float:
        seeded = Seeded.of(admin.seed_exchange("mx"))
        began = time.perf_counter()
        flow, _ = drive.create(pair, seeded)
        drive.open(pair, flow)
        drive.start(pair, flow)
        drive.bank(flow)
        drive.callback(pair, flow)
        elapsed = time.perf_counter() - began
        aws.forget([flow])  # keeps moto's table small
        return elapsed

    def worker(pair) -> None:
        from local.dwolla_admin import SandboxAdmin

        admin = SandboxAdmin(stack.sandbox.url, stack.sandbox.admin.key, stack.sandbox.admin.secret)
        try:
            one_flow(pair, admin)  # warm the containers before the clock starts
        except Exception as exc:
            with lock:
                errors[f"warm-up: {str(exc)[:120]}"] += 1
        pair.api.reset_counts()
        pair.callback.reset_counts()
        ready.wait()
        while not stop.is_set():
            try:
                elapsed = one_flow(pair, admin)
            except Exception as exc:  # a wrong answer, a dead container, a refused request
                with lock:
                    errors[str(exc)[:160]] += 1
            else:
                with lock:
                    done.append(elapsed)

    workers = [threading.Thread(target=worker, args=(p,), daemon=True) for p in pairs]
    for thread in workers:
        thread.start()
    samples: dict[str, list[list[int]]] = {"api": [], "callback": []}  # per second, per container
    ready.wait()
    began = time.monotonic()
    while (now := time.monotonic()) - began < seconds:
        for function, series in samples.items():
            series.append([getattr(p, function).memory()["rss"] for p in pairs])
        time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
    stop.set()
    for thread in workers:
        thread.join(timeout=60)
    elapsed = time.monotonic() - began
    calls, attempts = Counter(), Counter()
    for pair in pairs:
        for container in (pair.api, pair.callback):
            counted = container.counts()
            calls.update(counted.get("calls", {}))
            attempts.update(counted.get("attempts", {}))
    memory = {}
    for function, series in samples.items():
        fifth = max(1, len(series) // 5)
        head = [statistics.fmean(column) for column in zip(*series[:fifth], strict=True)]
        tail = [statistics.fmean(column) for column in zip(*series[-fifth:], strict=True)]
        growth = [t - h for h, t in zip(head, tail, strict=True)]
        memory[function] = {
            "containers": threads,
            "mean_rss_first_fifth_bytes": int(statistics.fmean(head)),
            "mean_rss_last_fifth_bytes": int(statistics.fmean(tail)),
            "mean_growth_bytes": int(statistics.fmean(growth)),
            "max_growth_bytes": int(max(growth)),
            "max_rss_bytes": max(max(row) for row in series),
            "samples": len(series),
            "mean_series_mb": [round(statistics.fmean(row) / 2**20, 2) for row in series],
        }
    peak = {f: max(getattr(p, f).memory()["peak_rss"] for p in pairs) for f in ("api", "callback")}
    for pair in pairs:
        pair.close()
    completed, failed = len(done), sum(errors.values())
    return {
        "threads": threads,
        "seconds": round(elapsed, 1),
        "flows": completed,
        "errors": failed,
        "error_kinds": dict(errors),
        "error_rate": round(failed / max(1, completed + failed), 5),
        "flows_per_second": round(completed / elapsed, 2),
        "flow_p50_ms": round(statistics.median(done) * 1000, 1) if done else None,
        "flow_p99_ms": round(percentile(done, 99) * 1000, 1) if done else None,
        "io_per_flow": io_kinds(calls, completed + failed),
        "aws_retries": sum(attempts.values())
        - sum(n for name, n in calls.items() if not name.startswith("dwolla:")),
        "memory": memory,
        "peak_rss_bytes": peak,
    }

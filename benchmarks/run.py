"""python -m benchmarks.run: measure the product next to the baseline, print the table, write
benchmarks/results.json and the results section of benchmarks/README.md.

Everything runs on this machine against moto server and the Dwolla sandbox on 127.0.0.1 (started
here on free ports, stopped at the end). The defaults meet the issue's minimums and take about
eight minutes on two cores; smaller numbers are for trying things out.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import build, concurrency, container, cost, interpreter, measure, report, tracer, warm
from .measure import log
from .stack import local_stack

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
PHASES = ("warm", "cold", "expiry", "concurrency", "scale", "tracer")
MINIMUMS = {"cold_runs": 10, "warm": 500, "threads": 8, "seconds": 30}
SANDBOX_TOKEN_LIFETIME = 3600  # local/dwolla_sandbox's default --token-ttl


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh processes per function")
    parser.add_argument("--warm", type=int, default=500, help="measured invocations per route")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured flows first")
    parser.add_argument(
        "--discovery",
        type=int,
        default=100,
        help="flows whose callback finds the funding source through Dwolla (0: skip)",
    )
    parser.add_argument("--threads", type=int, default=8, help="concurrent flows")
    parser.add_argument("--seconds", type=float, default=30, help="per side, under concurrency")
    parser.add_argument(
        "--concurrency-sides",
        default="product,baseline",
        help="which sides run the concurrency test (comma separated; empty: none)",
    )
    parser.add_argument(
        "--expiry-seconds",
        type=float,
        default=8,
        help="creates under a 2 s secret cache and 2 s tokens (0: skip)",
    )
    parser.add_argument(
        "--no-shipped-layer",
        action="store_true",
        help="skip the cold start with the layer as built (and no bytecode cache)",
    )
    parser.add_argument(
        "--scale",
        default="1,10,100",
        help="concurrencies at which the product's per-flow latency and cost are measured",
    )
    parser.add_argument("--scale-seconds", type=float, default=10, help="per concurrency")
    parser.add_argument(
        "--moto-gc",
        choices=("managed", "normal"),
        default="managed",
        help="moto's garbage collector in the latency phases (benchmarks/moto_server.py)",
    )
    parser.add_argument("--tracer-runs", type=int, default=10, help="fresh processes (0: skip)")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="a subset to try things out (results.json and the README need them all)",
    )
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    parser.add_argument("--readme", type=Path, default=HERE / "README.md")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".local" / "bench")
    return parser.parse_args(argv)


def _stop_on_sigterm() -> None:
    """SIGTERM (e.g. make interrupted) unwinds like Ctrl-C, so the servers get stopped."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _command(argv: list[str] | None) -> str:
    command = "python -m benchmarks.run" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    if os.environ.get("MAKELEVEL") and argv is None and not sys.argv[1:]:
        command = "make bench"
    return command


def _measure(args: argparse.Namespace, layer_folder: Path, results: dict) -> dict:
    """Every phase asked for, against the local servers; {phase: its results}."""
    phases = set(args.phases.split(","))
    found: dict = {}
    with local_stack(args.workdir, args.moto_gc) as stack:
        results["parameters"]["secret_cache_seconds"] = int(
            stack.function_env()["SECRET_CACHE_SECONDS"]
        )
        results["parameters"]["token_lifetime_seconds"] = SANDBOX_TOKEN_LIFETIME
        pairs = {side: measure.spawn_pair(stack, side, relay=True) for side in measure.SIDES}
        try:
            if "warm" in phases:
                found["warm"] = warm.run(stack, pairs, args.warm, args.warmup, args.discovery)
            if "cold" in phases:
                shipped = None if args.no_shipped_layer else layer_folder / "python"
                found["cold"] = measure.cold(stack, pairs, args.cold_runs, shipped_layer=shipped)
        finally:
            for pair in pairs.values():
                pair.close()
        if "expiry" in phases and args.expiry_seconds > 0:
            found["expiry"] = measure.expiry(stack, args.expiry_seconds)
        sides = [s for s in args.concurrency_sides.split(",") if s]
        if "concurrency" in phases and sides:
            found["concurrency"] = {}
            for side in sides:  # each on a fresh moto server: nothing carried over
                aws = stack.start_aws(atomic=True)
                try:
                    found["concurrency"][side] = concurrency.run(
                        stack, aws, side, args.threads, args.seconds
                    )
                finally:
                    stack.stop(aws.process)
        levels = [int(n) for n in args.scale.split(",") if n]
        if "scale" in phases and levels:
            found["scale"] = concurrency.scale(stack, levels, args.scale_seconds)
        if "tracer" in phases and args.tracer_runs > 0:
            log("tracer: Powertools Tracer's import and init, aws-xray-sdk in the layer")
            found["tracer"] = tracer.measure(
                container.PYTHON[0],
                layer_folder / "python",
                args.workdir,
                stack.function_env(),
                args.tracer_runs,
            )
    return found


def _assemble(results: dict, found: dict, sizes: dict) -> None:
    warm_found, cold = found["warm"], found["cold"]
    functions = measure.FUNCTIONS
    results.update(
        {
            "cold_start_ratio_as_shipped": {
                f: cold[f]["ratio_as_shipped"] for f in functions if "ratio_as_shipped" in cold[f]
            },
            "cold_start_ratio": {f: cold[f]["ratio"] for f in functions},
            "warm_p50_ratio": {r: v["p50_ratio"] for r, v in warm_found["latency"].items()},
            "warm_p99_ratio": {r: v["p99_ratio"] for r, v in warm_found["latency"].items()},
            # against the Powertools peer (the targets); the three above: the raw baseline
            "peer_cold_start_ratio_as_shipped": {
                f: cold[f]["peer_ratio_as_shipped"]
                for f in functions
                if "peer_ratio_as_shipped" in cold[f]
            },
            "peer_cold_start_ratio": {f: cold[f]["peer_ratio"] for f in functions},
            "peer_warm_p50_ratio": {
                r: v["peer_p50_ratio"] for r, v in warm_found["latency"].items()
            },
            "peer_warm_p99_ratio": {
                r: v["peer_p99_ratio"] for r, v in warm_found["latency"].items()
            },
            "layer_zip_bytes": sizes["layer_zip_bytes"],
            "tracer_cold_start_ms": (found.get("tracer") or {}).get("added_cold_start_ms"),
            "cold_start": cold,
            "warm": warm_found["latency"],
            "tail": warm_found["tail"],
            "io_per_request": warm_found["io_per_request"],
            "item_sizes": warm_found["item_sizes"],
            "moto_gc": warm_found.get("moto_gc"),
            "funding_source_discovery": warm_found.get("discovery"),
            "first_invocation_io": warm_found["first_invocation_io"],
            "per_1000_warm_invocations": warm_found["per_1000_warm_invocations"],
            "cache_expiry": found.get("expiry"),
            "memory": warm_found["memory"],
            "sizes": sizes,
            "concurrency": found.get("concurrency") or None,
            "scale": found.get("scale") or None,
            "tracer": found.get("tracer"),
        }
    )
    results["cost"] = cost.estimate(results)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _stop_on_sigterm()
    os.chdir(ROOT)
    below = [
        f"--{k.replace('_', '-')} {getattr(args, k)} < {v}"
        for k, v in MINIMUMS.items()
        if getattr(args, k) < v
    ]
    if below:
        log("note: below the issue's minimums: " + ", ".join(below))
    began = time.monotonic()
    args.workdir.mkdir(parents=True, exist_ok=True)
    python = interpreter.function_python(args.workdir)
    container.use_python(python.executable)
    log(f"functions run on Python {python.version}: {python.note}")

    log("build: layer zip (layers/reauth/Makefile) and function zips")
    sizes = build.sizes(args.workdir / "build")
    layer_folder, _ = build.build_layer(args.workdir / "build")
    log(f"build: {sizes['layer_bytecode'] or 'layer bytecode: (no word from the Makefile)'}")
    results: dict = {
        "schema": 3,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": _command(argv),
        "machine": report.machine(),
        "function_python": {"version": python.version, "note": python.note},
        "parameters": {
            "cold_runs": args.cold_runs,
            "warm_invocations": args.warm,
            "warmup_flows": args.warmup,
            "discovery_flows": args.discovery,
            "threads": args.threads,
            "concurrency_seconds": args.seconds,
            "scale": args.scale,
            "scale_seconds": args.scale_seconds,
            "expiry_seconds": args.expiry_seconds,
            "moto_gc": args.moto_gc,
        },
    }
    found = _measure(args, layer_folder, results)
    if not (found.get("warm") and found.get("cold")):
        print(json.dumps(found, indent=1, default=str))
        return 0
    _assemble(results, found, sizes)
    results["targets"] = report.targets(results)
    results["duration_seconds"] = round(time.monotonic() - began, 1)
    printed = report.table(results)
    report.write_json(results, args.json)
    print(printed)
    print(
        f"\n{args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json} "
        f"written in {results['duration_seconds']:.0f} s"
    )
    if report.update_readme(args.readme, results, printed):
        print(f"{args.readme.name}: results section updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

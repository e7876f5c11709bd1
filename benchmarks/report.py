"""The targets, the printed table, results.json and the results section of benchmarks/README.md."""

from __future__ import annotations

import json
import math
import os
import platform
import re
from pathlib import Path

COLD_LIMIT = 1.3
WARM_LIMIT = 1.15
LAYER_LIMIT = 5_000_000  # bytes
FLAT_LIMIT = 2 * 2**20  # bytes a container may grow under sustained load and still count as flat
IO_KINDS = ("dwolla", "dynamodb", "secrets_manager", "eventbridge")
README_BEGIN = "<!-- bench:results:begin -->"
README_END = "<!-- bench:results:end -->"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        load = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        load = []
    return {
        "cpu": cpu,
        "load_average_at_start": load,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
    }


def targets(results: dict) -> list[dict]:
    """Each target with its measured value and whether it holds (none is an assertion)."""
    found = []

    def add(name: str, value, limit, holds: bool) -> None:
        found.append({"target": name, "value": value, "limit": limit, "holds": bool(holds)})

    for function, ratio in results["cold_start_ratio"].items():
        add(
            f"cold start {function} ≤ {COLD_LIMIT}x baseline",
            ratio,
            COLD_LIMIT,
            ratio <= COLD_LIMIT,
        )
    for route, ratio in results["warm_p50_ratio"].items():
        add(f"warm p50 {route} ≤ {WARM_LIMIT}x baseline", ratio, WARM_LIMIT, ratio <= WARM_LIMIT)
    # At most one secret read per cache period and one token per lifetime (renewed 60 s early)
    # while the measured flows ran.
    parameters = results.get("parameters", {})
    cache = parameters.get("secret_cache_seconds", 300)
    renewal = parameters.get("token_lifetime_seconds", 3600) - 60
    for function, sides in results["per_1000_warm_invocations"].items():
        product = sides["product"]
        seconds = product.get("seconds", 0)
        reads = round(product["secret_reads"] * product["invocations"] / 1000)
        mints = round(product["token_mints"] * product["invocations"] / 1000)
        allowed_reads = math.floor(seconds / cache) + 1
        allowed_mints = math.floor(seconds / renewal) + 1
        add(
            f"secret reads, warm {function} container, {seconds:.0f} s (≤ 1 per {cache} s)",
            reads,
            allowed_reads,
            reads <= allowed_reads,
        )
        add(
            f"token mints, warm {function} container, {seconds:.0f} s (≤ 1 per {renewal} s)",
            mints,
            allowed_mints,
            mints <= allowed_mints,
        )
    expiry = results.get("cache_expiry")
    if expiry:
        product = expiry["product"]
        add(
            f"secret reads with a {expiry['secret_cache_seconds']} s cache over "
            f"{expiry['seconds']} s (≤ 1 per period)",
            product["secret_reads"],
            product["allowed_secret_reads"],
            product["secret_reads"] <= product["allowed_secret_reads"],
        )
        add(
            f"token mints with tokens renewed every {expiry['token_renewal_seconds']:g} s over "
            f"{expiry['seconds']} s (≤ 1 per lifetime)",
            product["token_mints"],
            product["allowed_token_mints"],
            product["token_mints"] <= product["allowed_token_mints"],
        )
    for route, sides in results["io_per_request"].items():
        extra = {
            kind: round(sides["product"][kind] - sides["baseline"][kind], 3)
            for kind in IO_KINDS
            if sides["product"][kind] > sides["baseline"][kind]
        }
        add(f"no call the flow does not need: {route}", extra or "none", "none", not extra)
    size = results["layer_zip_bytes"]
    add("layer zip ≤ 5 MB", size, LAYER_LIMIT, size <= LAYER_LIMIT)
    product = (results.get("concurrency") or {}).get("product")
    if product:
        growth = max(m["max_growth_bytes"] for m in product["memory"].values())
        add(
            "memory flat under sustained concurrency (no container grows > 2 MiB)",
            f"max growth {growth / 2**20:.2f} MiB",
            FLAT_LIMIT,
            growth <= FLAT_LIMIT,
        )
        add("no errors under sustained concurrency", product["errors"], 0, not product["errors"])
    return found


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _mark(holds: bool) -> str:
    return "ok" if holds else "MISS"


def table(results: dict) -> str:
    out: list[str] = []
    w = out.append
    cold = results["cold_start"]
    runs = len(cold["api"]["product"]["runs_ms"])
    w(f"Cold start: fresh Python process → first response (median of {runs})")
    w(
        f"  {'function (first request)':<27}{'product':>10}{'baseline':>10}{'ratio':>8}"
        f"  {'≤ ' + str(COLD_LIMIT):<7}{'CPU ratio':>9}  product: interpreter / import / 1st call"
    )
    for function, first in (("api", "create"), ("callback", "open")):
        c = cold[function]
        b = c["product"]["breakdown_median_ms"]
        w(
            f"  {function + ' (' + first + ')':<27}{c['product']['median_ms']:>8.0f}ms"
            f"{c['baseline']['median_ms']:>8.0f}ms{c['ratio']:>8.2f}  "
            f"{_mark(c['ratio'] <= COLD_LIMIT):<7}"
            f"{c['cpu_ratio']:>9.2f}  {b['interpreter']:.0f} / {b['import']:.0f} / "
            f"{b['first_invocation']:.0f} ms"
        )
        shipped = c.get("product_shipped_layer")
        if shipped:
            w(
                f"  {'  layer as shipped, no .pyc':<27}{shipped['median_ms']:>8.0f}ms{'':>10}"
                f"{shipped['median_ms'] / c['baseline']['median_ms']:>8.2f}  (informational)"
            )
    w("")
    warm = results["warm"]
    n = warm["create"]["product"]["n"]
    w(f"Warm latency inside the handler, {n} invocations per route (ms)")
    w(
        f"  {'route':<10}{'p50 prod':>10}{'p50 base':>10}{'ratio':>8}  {'≤ ' + str(WARM_LIMIT):<7}"
        f"{'p99 prod':>10}{'p99 base':>10}"
    )
    for route, r in warm.items():
        w(
            f"  {route:<10}{r['product']['p50_ms']:>10.2f}{r['baseline']['p50_ms']:>10.2f}"
            f"{r['p50_ratio']:>8.2f}  {_mark(r['p50_ratio'] <= WARM_LIMIT):<7}"
            f"{r['product']['p99_ms']:>10.2f}{r['baseline']['p99_ms']:>10.2f}"
        )
    discovery = results.get("funding_source_discovery")
    if discovery:
        r = discovery["latency"]
        w(
            f"  {'callback*':<10}{r['product']['p50_ms']:>10.2f}{r['baseline']['p50_ms']:>10.2f}"
            f"{r['p50_ratio']:>8.2f}  {'info':<7}"
            f"{r['product']['p99_ms']:>10.2f}{r['baseline']['p99_ms']:>10.2f}"
            f"   ({r['product']['n']} flows)"
        )
    w("")
    w("I/O per warm request, product / baseline (counted at the clients)")
    w(
        f"  {'route':<10}{'Dwolla':>10}{'DynamoDB':>10}{'Secrets':>15}{'EventBr.':>10}"
        "  DynamoDB calls (product)"
    )
    rows = list(results["io_per_request"].items())
    if discovery:
        rows.append(("callback*", discovery["io_per_request"]))
    for route, sides in rows:
        p, b = sides["product"], sides["baseline"]
        cells = "".join(
            f"{_num(p[k]) + ' / ' + _num(b[k]):>{15 if k == 'secrets_manager' else 10}}"
            for k in IO_KINDS
        )
        ddb = ", ".join(
            f"{_num(v)} {k.split(':', 1)[1]}" for k, v in p["calls"].items() if k.startswith("dyn")
        )
        w(f"  {route:<10}{cells}  {ddb or '-'}")
    if discovery:
        w(
            "  * callback of a request created without fundingSourceId: it is found through "
            "Dwolla first (GET /exchanges/{id}, GET /customers/{id}/funding-sources)"
        )
    first = results["first_invocation_io"]["product"]
    w(
        "  first (cold) invocation, product: "
        + "; ".join(
            f"{route} {_num(io['dwolla'])} Dwolla ({_num(io['token_mints'])} token), "
            f"{_num(io['secrets_manager'])} secret"
            for route, io in first.items()
        )
    )
    w("")
    w("Per 1,000 warm invocations (per container): Secrets Manager reads / Dwolla token mints")
    for function, sides in results["per_1000_warm_invocations"].items():
        p, b = sides["product"], sides["baseline"]
        w(
            f"  {function:<10} product {_num(p['secret_reads'])} / {_num(p['token_mints'])}"
            f"   baseline {_num(b['secret_reads'])} / {_num(b['token_mints'])}"
            f"   ({p['invocations']} invocations in {p.get('seconds', 0):.0f} s)"
        )
    expiry = results.get("cache_expiry")
    if expiry:
        w(
            f"  short lifetimes ({expiry['secret_cache_seconds']} s secret cache, token renewed "
            f"every {expiry['token_renewal_seconds']:g} s, {expiry['seconds']} s of creates):"
        )
        for side in ("product", "baseline"):
            e = expiry[side]
            w(
                f"    {side:<9} {e['secret_reads']} reads (≤ {e['allowed_secret_reads']}), "
                f"{e['token_mints']} mints (≤ {e['allowed_token_mints']}) over "
                f"{e['invocations']} invocations"
            )
    w("")
    w("Memory of a function process (RSS)")
    for function, sides in results["memory"].items():
        p, b = sides["product"], sides["baseline"]
        w(
            f"  {function:<10} product peak {_mb(p['peak_rss_bytes'])} after {p['invocations']} "
            f"invocations (after warm-up {_mb(p['rss_after_warmup_bytes'])}, end "
            f"{_mb(p['rss_bytes'])});  baseline peak {_mb(b['peak_rss_bytes'])}"
        )
    w("")
    s = results["sizes"]
    functions = ", ".join(f"{k} {v:,} B" for k, v in s["function_zip_bytes"].items())
    w(
        f"Sizes: layer zip {s['layer_zip_bytes']:,} B ({_mb(s['layer_zip_bytes'])}; unzipped "
        f"{_mb(s['layer_unzipped_bytes'])}), function zips: {functions}"
    )
    conc = results.get("concurrency")
    if conc:
        w("")
        first_side = next(iter(conc.values()))
        w(
            f"Sustained concurrency: {first_side['threads']} threads x "
            f"{first_side['seconds']:.0f} s, "
            "create → open → start → bank → callback, one container pair per thread"
        )
        for side, c in conc.items():
            w(
                f"  {side:<9}{c['flows_per_second']:>6.1f} flows/s, errors {c['errors']}/"
                f"{c['flows'] + c['errors']} ({c['error_rate']:.2%}), flow p50 "
                f"{c['flow_p50_ms']:.0f} ms, p99 {c['flow_p99_ms']:.0f} ms, "
                f"AWS retries {c['aws_retries']}"
            )
            for f, m in c["memory"].items():
                w(
                    f"  {'':<9}{f:<9} RSS per container {_mb(m['mean_rss_first_fifth_bytes'])} "
                    f"(first fifth) → {_mb(m['mean_rss_last_fifth_bytes'])} (last fifth), "
                    f"largest growth {m['max_growth_bytes'] / 2**20:+.2f} MiB"
                )
    w("")
    w("Targets")
    for t in results["targets"]:
        w(f"  [{_mark(t['holds']):>4}] {t['target']}: {t['value']}")
    return "\n".join(out)


def _num(value: float) -> str:
    return f"{value:g}"


def write_json(results: dict, path: Path) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    temporary.replace(path)


def update_readme(path: Path, results: dict, printed: str) -> bool:
    """Replace the section between the markers with the latest table, command and machine."""
    if not path.exists():
        return False
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        return False
    m = results["machine"]
    section = "\n".join(
        [
            README_BEGIN,
            f"Latest run: {results['generated_at']}, `{results['command']}`",
            f"on {m['cpu']} ({m['cores']} cores, {m['memory_bytes'] / 2**30:.0f} GiB), "
            f"{m['implementation']} {m['python']}, {m['os']}; load average "
            f"{' '.join(map(str, m['load_average_at_start']))} at the start.",
            "",
            "```",
            printed,
            "```",
            README_END,
        ]
    )
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
    path.write_text(pattern.sub(lambda _: section, text))
    return True

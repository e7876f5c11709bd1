"""The targets, the printed table, results.json and the results section of benchmarks/README.md."""

from __future__ import annotations

import json
import math
import os
import platform
import re
from pathlib import Path

# The targets hold against the Powertools peer (benchmarks/peer/); the raw baseline's ratios are
# information (it has no Powertools, which the product's design requires).
COLD_LIMIT = 1.05
WARM_LIMIT = 1.05
P99_LIMIT = 1.2
LAYER_LIMIT = 5_000_000  # bytes
SECRETS = 2  # Dwolla's and the link secret: each read at most once per cache period
FLAT_LIMIT = 2 * 2**20  # bytes a container may grow under sustained load and still count as flat
IO_KINDS = ("dwolla", "dynamodb", "secrets_manager", "eventbridge")
IO_WIDTH = {"dwolla": 9, "dynamodb": 10, "secrets_manager": 16, "eventbridge": 10}
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


class _Targets:
    def __init__(self) -> None:
        self.found: list[dict] = []

    def add(self, name: str, value, limit, holds: bool) -> None:
        self.found.append({"target": name, "value": value, "limit": limit, "holds": bool(holds)})

    def ratios(self, key: str, label: str, limit: float, results: dict) -> None:
        for name, ratio in (results.get(key) or {}).items():
            self.add(f"{label} {name} ≤ {limit}x Powertools peer", ratio, limit, ratio <= limit)

    def caches(self, results: dict) -> None:
        """At most one secret read per cache period and one token per lifetime (renewed 60 s
        early) while the measured flows ran, and under short lifetimes."""
        parameters = results.get("parameters", {})
        cache = parameters.get("secret_cache_seconds", 300)
        renewal = parameters.get("token_lifetime_seconds", 3600) - 60
        for function, sides in results["per_1000_warm_invocations"].items():
            product = sides["product"]
            seconds = product.get("seconds", 0)
            for what, period in (("secret_reads", cache), ("token_mints", renewal)):
                n = round(product[what] * product["invocations"] / 1000)
                allowed = math.floor(seconds / period) + 1
                if what == "secret_reads":
                    allowed *= SECRETS  # Dwolla's and the link secret, each cached on its own
                label = "secret reads" if what == "secret_reads" else "token mints"
                self.add(
                    f"{label}, warm {function} container, {seconds:.0f} s (≤ 1 per {period} s)",
                    n,
                    allowed,
                    n <= allowed,
                )
        expiry = results.get("cache_expiry")
        if expiry:
            p = expiry["product"]
            self.add(
                f"secret reads with a {expiry['secret_cache_seconds']} s cache over "
                f"{expiry['seconds']} s (≤ 1 per period)",
                p["secret_reads"],
                p["allowed_secret_reads"],
                p["secret_reads"] <= p["allowed_secret_reads"],
            )
            self.add(
                f"token mints with tokens renewed every {expiry['token_renewal_seconds']:g} s "
                f"over {expiry['seconds']} s (≤ 1 per lifetime)",
                p["token_mints"],
                p["allowed_token_mints"],
                p["token_mints"] <= p["allowed_token_mints"],
            )

    def io(self, results: dict) -> None:
        # Secret reads follow the clock, not the route: a cache period ends during whichever
        # route runs then, on each side its own. They have their own per-period targets above.
        per_route = [kind for kind in IO_KINDS if kind != "secrets_manager"]
        for route, sides in results["io_per_request"].items():
            extra = {
                kind: round(sides["product"][kind] - sides["baseline"][kind], 3)
                for kind in per_route
                if sides["product"][kind] > sides["baseline"][kind]
            }
            self.add(f"no call the flow does not need: {route}", extra or "none", "none", not extra)

    def load(self, results: dict) -> None:
        product = (results.get("concurrency") or {}).get("product")
        if product:
            growth = max(m["max_growth_bytes"] for m in product["memory"].values())
            self.add(
                f"memory flat under {product['threads']}-thread load (no container grows > 2 MiB)",
                f"max growth {growth / 2**20:.2f} MiB",
                FLAT_LIMIT,
                growth <= FLAT_LIMIT,
            )
            self.add(
                f"no errors under {product['threads']}-thread load",
                product["errors"],
                0,
                not product["errors"],
            )
        for level, run in (results.get("scale") or {}).items():
            self.add(f"no errors at {level} concurrent flows", run["errors"], 0, not run["errors"])


def targets(results: dict) -> list[dict]:
    """Each target with its measured value and whether it holds (none is an assertion)."""
    t = _Targets()
    python = results.get("function_python", {}).get("version", "")
    t.add("functions ran on Python 3.13", python, "3.13", python.startswith("3.13."))
    sizes = results["sizes"]
    t.add(
        "the layer ships python3.13 bytecode",
        sizes.get("layer_bytecode_files", 0),
        "> 0 .cpython-313.pyc",
        sizes.get("layer_bytecode_files", 0) > 0,
    )
    t.ratios("peer_cold_start_ratio_as_shipped", "cold start as shipped", COLD_LIMIT, results)
    t.ratios("peer_warm_p50_ratio", "warm p50", WARM_LIMIT, results)
    t.ratios("peer_warm_p99_ratio", "warm p99", P99_LIMIT, results)
    t.caches(results)
    t.io(results)
    size = results["layer_zip_bytes"]
    t.add("layer zip ≤ 5 MB", size, LAYER_LIMIT, size <= LAYER_LIMIT)
    t.load(results)
    return t.found


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _mark(holds: bool) -> str:
    return "ok" if holds else "MISS"


def _cold(results: dict, w) -> None:
    cold = results["cold_start"]
    runs = len(cold["api"]["product"]["runs_ms"])
    w(f"Cold start: fresh Python process → first response (median of {runs})")
    w("  target: as shipped vs the Powertools peer; the raw baseline's ratio is information")
    w(
        f"  {'function (first request)':<34}{'product':>9}{'peer':>8}{'ratio':>7}"
        f"  {'≤ ' + str(COLD_LIMIT):<7}{'CPU':>5}{'baseline':>10}{'ratio':>7}{'CPU':>5}"
        "  product: interpreter+runtime / import / 1st call"
    )
    for function, first in (("api", "create"), ("callback", "open")):
        c = cold[function]
        peer, base = c["peer"]["median_ms"], c["baseline"]["median_ms"]
        rows = [("bytecode cached", c["product"], "")]
        if c.get("product_shipped_layer"):
            rows.insert(0, ("as shipped", c["product_shipped_layer"], "_as_shipped"))
        for label, p, suffix in rows:
            b = p["breakdown_median_ms"]
            ratio = c[f"peer_ratio{suffix}"]
            mark = _mark(ratio <= COLD_LIMIT) if suffix else "info"
            w(
                f"  {function + ' (' + first + '), ' + label:<34}{p['median_ms']:>7.0f}ms"
                f"{peer:>6.0f}ms{ratio:>7.2f}  {mark:<7}{c[f'peer_cpu_ratio{suffix}']:>5.2f}"
                f"{base:>8.0f}ms{c[f'ratio{suffix}']:>7.2f}{c[f'cpu_ratio{suffix}']:>5.2f}  "
                f"{b['interpreter']:.0f} / {b['import']:.0f} / {b['first_invocation']:.0f} ms"
            )


def _warm_row(route: str, r: dict, note: str = "") -> str:
    p50, p99 = r["peer_p50_ratio"], r["peer_p99_ratio"]
    return (
        f"  {route:<11}{r['product']['p50_ms']:>9.2f}{r['peer']['p50_ms']:>9.2f}"
        f"{p50:>7.2f} {_mark(p50 <= WARM_LIMIT) if not note else 'info':<5}"
        f"{r['product']['p99_ms']:>9.2f}{r['peer']['p99_ms']:>9.2f}{p99:>7.2f} "
        f"{_mark(p99 <= P99_LIMIT) if not note else 'info':<5}"
        f"{r['baseline']['p50_ms']:>9.2f}{r['p50_ratio']:>6.2f}"
        f"{r['baseline']['p99_ms']:>9.2f}{r['p99_ratio']:>6.2f}"
        f"{r['product']['n']:>5}{note}"
    )


def _warm(results: dict, w) -> None:
    w("Warm latency inside the handler (ms): the product / the Powertools peer (the targets),")
    w("and the raw baseline's figures and ratios (information)")
    w(
        f"  {'route':<11}{'p50 prod':>9}{'p50 peer':>9}{'ratio':>7} {'≤' + str(WARM_LIMIT):<5}"
        f"{'p99 prod':>9}{'p99 peer':>9}{'ratio':>7} {'≤' + str(P99_LIMIT):<5}"
        f"{'p50 base':>9}{'ratio':>6}{'p99 base':>9}{'ratio':>6}{'n':>5}"
    )
    for route, r in results["warm"].items():
        w(_warm_row(route, r))
    discovery = results.get("funding_source_discovery")
    if discovery:
        w(_warm_row("callback*", discovery["latency"], "  (informational)"))


def _tail_cell(c: dict) -> str:
    io = sum(v for k, v in c["io_ms"].items() if k != "dwolla")
    return (
        f"{c['total_ms']:6.1f} = {io:5.1f} + {c['io_ms'].get('dwolla', 0):4.1f} + "
        f"{c['gc_ms']:4.1f} + {c['own_ms']:4.1f}"
    )


def _tail(results: dict, w) -> None:
    w("What makes the tail: mean ms of the middle 10% and of the slowest 1% (≥ p99) of each")
    w("route's invocations = AWS calls (client + moto) + Dwolla + garbage collector + the rest")
    moto = results.get("moto_gc")
    if moto:
        w(
            f"  (moto's own collector during them: {moto['collections']:g} collections, "
            + (
                "all between iterations, untimed: benchmarks/moto_server.py --gc managed)"
                if moto.get("managed")
                else f"{moto['over_20ms']:g} over 20 ms, inside requests: --moto-gc normal)"
            )
        )
    w(f"  {'route':<11}{'side':<9}{'middle 10%':<34}{'slowest 1%':<34}gen-2 GCs  largest wait")
    for route, sides in results["tail"].items():
        for side, entry in sides.items():
            slow = entry["slowest"]
            top = max(slow["io_ms"].items(), key=lambda kv: kv[1], default=("-", 0))
            w(
                f"  {route if side == 'product' else '':<11}{side:<9}"
                f"{_tail_cell(entry['middle']):<34}{_tail_cell(slow):<34}"
                f"{slow['gen2_collections']:>3}/{slow['n']:<6}{top[0]} {top[1]:.1f}"
            )


def _io(results: dict, w) -> None:
    w("I/O per warm request, product / baseline (the peer's is the baseline's), counted at clients")
    w(
        f"  {'route':<11}{'Dwolla':>9}{'DynamoDB':>10}{'Secrets':>16}{'EventBr.':>10}"
        "  DynamoDB calls (product)"
    )
    rows = list(results["io_per_request"].items())
    discovery = results.get("funding_source_discovery")
    if discovery:
        rows.append(("callback*", discovery["io_per_request"]))
    for route, sides in rows:
        p, b = sides["product"], sides["baseline"]
        cells = "".join(f"{_num(p[k]) + ' / ' + _num(b[k]):>{IO_WIDTH[k]}}" for k in IO_KINDS)
        ddb = ", ".join(
            f"{_num(v)} {k.split(':', 1)[1]}" for k, v in p["calls"].items() if k.startswith("dyn")
        )
        w(f"  {route:<11}{cells}  {ddb or '-'}")
    if discovery:
        w("  * callback of a request created without fundingSourceId (found through Dwolla)")
    first = results["first_invocation_io"]["product"]
    w(
        "  first (cold) invocation, product: "
        + "; ".join(
            f"{route} {_num(io['dwolla'])} Dwolla ({_num(io['token_mints'])} token), "
            f"{_num(io['secrets_manager'])} secret"
            for route, io in first.items()
        )
    )


def _caches(results: dict, w) -> None:
    w("Per 1,000 warm invocations (per container): Secrets Manager reads / Dwolla token mints")
    for function, sides in results["per_1000_warm_invocations"].items():
        p = sides["product"]
        others = "".join(
            f"   {side} {_num(sides[side]['secret_reads'])} / {_num(sides[side]['token_mints'])}"
            for side in ("peer", "baseline")
            if side in sides
        )
        w(
            f"  {function:<10} product {_num(p['secret_reads'])} / {_num(p['token_mints'])}"
            f"{others}   ({p['invocations']} invocations in {p.get('seconds', 0):.0f} s)"
        )
    expiry = results.get("cache_expiry")
    if expiry:
        w(
            f"  short lifetimes ({expiry['secret_cache_seconds']} s secret cache, token renewed "
            f"every {expiry['token_renewal_seconds']:g} s, {expiry['seconds']} s of creates):"
        )
        for side in ("product", "peer", "baseline"):
            if side not in expiry:
                continue
            e = expiry[side]
            w(
                f"    {side:<9} {e['secret_reads']} reads (≤ {e['allowed_secret_reads']}), "
                f"{e['token_mints']} mints (≤ {e['allowed_token_mints']}) over "
                f"{e['invocations']} invocations"
            )


def _memory_and_sizes(results: dict, w) -> None:
    w("Memory of a function process (RSS)")
    for function, sides in results["memory"].items():
        p, b = sides["product"], sides["baseline"]
        peer = f";  peer peak {_mb(sides['peer']['peak_rss_bytes'])}" if "peer" in sides else ""
        w(
            f"  {function:<10} product peak {_mb(p['peak_rss_bytes'])} after {p['invocations']} "
            f"invocations (after warm-up {_mb(p['rss_after_warmup_bytes'])}, end "
            f"{_mb(p['rss_bytes'])}){peer};  baseline peak {_mb(b['peak_rss_bytes'])}"
        )
    w("")
    s = results["sizes"]
    functions = ", ".join(f"{k} {v:,} B" for k, v in s["function_zip_bytes"].items())
    w(
        f"Sizes: layer zip {s['layer_zip_bytes']:,} B ({_mb(s['layer_zip_bytes'])}; unzipped "
        f"{_mb(s['layer_unzipped_bytes'])}; {s.get('layer_bytecode_files', 0)} .cpython-313.pyc)"
        f", function zips: {functions}"
    )
    if s.get("layer_bytecode"):
        w(f"  the layer's Makefile said: {s['layer_bytecode'].strip()}")


def _load(results: dict, w) -> None:
    conc = results.get("concurrency")
    if conc:
        first = next(iter(conc.values()))
        w(
            f"Sustained concurrency: {first['threads']} threads x {first['seconds']:.0f} s, "
            "MX and Plaid flows in turn (create → open → start → bank → callback; create → open"
            " → plaid_page → Link → complete), one container pair per thread"
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


def _cost(results: dict, w) -> None:
    c = results.get("cost")
    if not c:
        return
    u = c["flow"]["usage"]
    sizes = u["item_sizes_bytes"]
    w(
        f"Cost of one re-authentication ({', '.join(u['routes'])}; product, warm p50), "
        f"{c['prices']['source']}"
    )
    w(
        f"  usage: {u['lambda_requests']} Lambda requests, {sum(u['billed_ms'].values())} billed "
        f"ms x {u['memory_mb']} MB = {u['gb_seconds']:.4f} GB-s; DynamoDB {u['read_units']:g} "
        f"read + {u['write_units']:g} write units (items: request {sizes['REQUEST']} B, "
        f"exchange {sizes['EXCHANGE']} B, event {sizes['OUTBOX']} B); "
        f"{u['events']:g} EventBridge events; "
        f"{u['secret_calls']:g} Secrets Manager calls"
    )
    for arch in ("x86_64", "arm64"):
        a = c["flow"][arch]
        lines = ", ".join(f"{k} ${v * 1e6:.2f}" for k, v in a["per_flow_usd"].items())
        w(
            f"  {arch:<7} ${a['total_per_flow_usd']:.8f} per flow, "
            f"${a['per_million_flows_usd']:.2f} per million ({lines})"
        )
    w(
        f"  (not counted: API Gateway REST, {len(u['routes']) - 1} requests per flow = "
        f"${c['flow']['x86_64']['api_gateway_per_million_flows_usd']:.2f} per million flows)"
    )
    if c.get("scale"):
        w("  as it grows (product; the flows above, MX and Plaid in turn, + status and relay):")
        for level, s in c["scale"].items():
            w(
                f"    {level:>3} concurrent: flow p50 {s['flow_p50_ms']:.0f} ms, p99 "
                f"{s['flow_p99_ms']:.0f} ms, {s['flows_per_second']:.1f} flows/s, "
                f"{s['billed_ms_per_flow']:.0f} billed ms per flow, per million flows "
                f"x86_64 ${s['x86_64'] * 1e6:.2f}, arm64 ${s['arm64'] * 1e6:.2f}"
            )


def _tracer(results: dict, w) -> None:
    tr = results.get("tracer")
    if not tr:
        return
    if "error" in tr:
        w(f"Powertools Tracer (informational): not measured: {tr['error'][:200]}")
        return
    w(
        f"Powertools Tracer (informational, not in the product): + {tr['added_cold_start_ms']:.0f}"
        f" ms per cold start (CPU {tr['added_cpu_ms']:.0f} ms; median of {tr['runs']}), layer zip "
        f"+ {tr['layer_zip_increase_bytes']:,} B ({', '.join(tr['packages'])} with bytecode)"
    )


def table(results: dict) -> str:
    out: list[str] = []
    w = out.append
    python = results.get("function_python", {})
    w(f"Functions on Python {python.get('version', '?')} ({python.get('note', '')})")
    w("")
    for section in (_cold, _warm, _tail, _io, _caches, _memory_and_sizes, _load, _cost, _tracer):
        before = len(out)
        section(results, w)
        if len(out) > before:
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

"""What one re-authentication costs on AWS, from what the benchmark measured: the functions'
billed duration (each invocation's time in the handler, rounded up to the millisecond) at the
template's memory size, the Lambda requests, DynamoDB's read and write units (from the items each
call reads or writes and their sizes; a transaction's items count double), EventBridge entries
and Secrets Manager calls. Per flow and per million flows, for x86_64 and arm64.

One flow is the benchmark's MX journey: create, open (the start page), start (the binding POST),
callback (verified with Dwolla), status (the platform reads the record), relay (two events).
Not counted: cold starts (their INIT time is billed too, once per container), CloudWatch Logs and
metrics, API Gateway (listed apart), data transfer, the free tiers.
"""

from __future__ import annotations

import math

# AWS's public us-east-1 prices (on-demand), as published; not re-checked from this machine.
PRICES = {
    "as_of": "2024-11-01",
    "source": "AWS public us-east-1 price list, as of 2024-11-01 (DynamoDB on-demand's price "
    "reduction of that date; the others as published then; not re-checked from this machine)",
    "lambda_gb_second": {"x86_64": 0.0000166667, "arm64": 0.0000133334},
    "lambda_request": 0.20 / 1_000_000,
    "dynamodb_write_unit": 0.625 / 1_000_000,  # on-demand WRU
    "dynamodb_read_unit": 0.125 / 1_000_000,  # on-demand RRU
    "eventbridge_event": 1.00 / 1_000_000,  # custom events, per 64 KB chunk
    "secrets_manager_call": 0.05 / 10_000,
    "api_gateway_rest_request": 3.50 / 1_000_000,  # REST API, first 333 million a month
}
FLOW = ("create", "open", "start", "callback", "status", "relay")
API_GATEWAY_ROUTES = ("create", "open", "start", "callback", "status")  # relay: the stream's
ARCHITECTURES = ("x86_64", "arm64")


def memory_mb() -> int:
    """ApiFunction's MemorySize in template.yaml (the functions share the Globals' value)."""
    from local.provision import load_template

    template = load_template()
    memory = template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            memory = resource.get("Properties", {}).get("MemorySize", memory)
    return int(memory)


def units(items: dict[str, float], sizes: dict[str, int]) -> dict[str, float]:
    """Read and write units from {"read:REQUEST:consistent": n, "write:OUTBOX:tx": n, ...} and
    the items' sizes in bytes: 1 write unit per KB (2 in a transaction), 1 read unit per 4 KB
    (half for an eventually consistent read)."""
    found = {"read_units": 0.0, "write_units": 0.0, "events": 0.0}
    for name, count in items.items():
        parts = name.split(":")
        if parts[0] == "events":
            found["events"] += count
            continue
        size = max(1, sizes.get(parts[1], 1024)) if len(parts) > 1 else 1024
        if parts[0] == "read":
            per = math.ceil(size / 4096) * (1.0 if parts[-1] == "consistent" else 0.5)
            found["read_units"] += count * per
        elif parts[0] in ("write", "check"):
            per = math.ceil(size / 1024) * (2 if parts[-1] == "tx" else 1)
            found["write_units"] += count * per
    return {k: round(v, 3) for k, v in found.items()}


def _priced(usage: dict, architecture: str) -> dict:
    p = PRICES
    lines = {
        "lambda_duration": usage["gb_seconds"] * p["lambda_gb_second"][architecture],
        "lambda_requests": usage["lambda_requests"] * p["lambda_request"],
        "dynamodb_writes": usage["write_units"] * p["dynamodb_write_unit"],
        "dynamodb_reads": usage["read_units"] * p["dynamodb_read_unit"],
        "eventbridge": usage["events"] * p["eventbridge_event"],
        "secrets_manager": usage["secret_calls"] * p["secrets_manager_call"],
    }
    total = sum(lines.values())
    return {
        "per_flow_usd": {k: round(v, 10) for k, v in lines.items()},
        "total_per_flow_usd": round(total, 10),
        "per_million_flows_usd": round(total * 1_000_000, 2),
        "api_gateway_per_million_flows_usd": round(
            usage["api_gateway_requests"] * p["api_gateway_rest_request"] * 1_000_000, 2
        ),
    }


def per_flow(results: dict, memory: int) -> dict:
    """The flow's usage (product, warm: each route's p50 duration and measured I/O) and price."""
    io, sizes = results["io_per_request"], results["item_sizes"]["product"]
    billed_ms = {r: math.ceil(results["warm"][r]["product"]["p50_ms"]) for r in FLOW}
    counted: dict[str, float] = {}
    for route in FLOW:
        for name, n in io[route]["product"].get("units", {}).items():
            counted[name] = counted.get(name, 0.0) + n
    usage = {
        "routes": list(FLOW),
        "memory_mb": memory,
        "billed_ms": billed_ms,
        "gb_seconds": round(sum(billed_ms.values()) / 1000 * memory / 1024, 6),
        "lambda_requests": len(FLOW),
        **units(counted, sizes),
        "secret_calls": round(sum(io[r]["product"]["secrets_manager"] for r in FLOW), 4),
        "api_gateway_requests": len(API_GATEWAY_ROUTES),
        "item_sizes_bytes": sizes,
        "units_counted": {k: round(v, 3) for k, v in sorted(counted.items())},
    }
    return {"usage": usage, **{a: _priced(usage, a) for a in ARCHITECTURES}}


def at_scale(results: dict, base: dict, memory: int) -> dict:
    """Per-flow latency and cost at each measured concurrency: the concurrent flows' billed
    duration (create, open, start or plaid_page, callback or complete) plus status and relay at
    their warm p50."""
    found = {}
    extra_ms = sum(base["usage"]["billed_ms"][r] for r in ("status", "relay"))
    for level, run in (results.get("scale") or {}).items():
        if not run.get("billed_ms_per_flow"):
            continue
        usage = dict(base["usage"])
        billed = run["billed_ms_per_flow"] + extra_ms
        usage["gb_seconds"] = round(billed / 1000 * memory / 1024, 6)
        found[level] = {
            "threads": run["threads"],
            "flows": run["flows"],
            "flows_per_second": run["flows_per_second"],
            "flow_p50_ms": run["flow_p50_ms"],
            "flow_p99_ms": run["flow_p99_ms"],
            "billed_ms_per_flow": round(billed, 1),
            **{a: _priced(usage, a)["total_per_flow_usd"] for a in ARCHITECTURES},
        }
    return found


def estimate(results: dict) -> dict:
    memory = memory_mb()
    base = per_flow(results, memory)
    return {
        "prices": PRICES,
        "flow": base,
        "scale": at_scale(results, base, memory),
        "note": __doc__.split("\n\n", 1)[1].strip(),
    }

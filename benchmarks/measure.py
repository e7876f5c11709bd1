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
from .container import Container, Invocation, product_paths
from .report import SECRETS
from .stack import Seeded, Stack, harness_retry

SIDES = ("product", "baseline", "peer")
BASELINES = ("peer", "baseline")  # the targets hold against the peer; the baseline's is information
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


def _diff(after: dict, before: dict, key: str = "calls") -> Counter:
    found = Counter(after.get(key, {}))
    found.subtract(before.get(key, {}))
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
    request id, its start link and provider URL (or Plaid Link token), then the binding cookie
    (and the Plaid page's CSRF token) and the way back. Each step returns its Invocation."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._sequence = 1  # the stream records' sequence numbers

    def create(
        self, pair: Pair, seeded: Seeded, *, discovery: bool = False
    ) -> tuple[dict, Invocation]:
        """Create a request; with `discovery`, without naming the funding source."""
        funding_source = None if discovery else seeded.funding_source_id
        done = pair.api.invoke(flows.create_event(seeded.exchange_id, funding_source))
        request_id, start_url, provider = flows.created(done.response)
        flow = {"exchange": seeded.exchange_id, "request": request_id, "start": start_url}
        flow["provider"] = provider
        return flow, done

    def open(self, pair: Pair, flow: dict) -> Invocation:
        done = pair.callback.invoke(flows.open_event(flow["start"]))
        flows.opened(done.response, flow["start"])
        return done

    def start(self, pair: Pair, flow: dict) -> Invocation:
        done = pair.callback.invoke(flows.start_event(flow["start"]))
        flow["cookie"] = flows.started(done.response, flow["provider"])
        return done

    def bank(self, flow: dict) -> None:
        flow["back"] = self.stack.visit_bank(flow["provider"])

    def callback(self, pair: Pair, flow: dict) -> Invocation:
        done = pair.callback.invoke(flows.callback_event(flow["back"], flow["cookie"]))
        flows.called_back(done.response, flow["request"])
        return done

    def status(self, pair: Pair, flow: dict) -> Invocation:
        done = pair.api.invoke(flows.status_event(flow["exchange"]))
        flows.status_read(done.response)
        return done

    def relay(self, pair: Pair, flow: dict) -> Invocation:
        """The flow's outbox items (read untimed) delivered to the relay as one stream batch."""
        items = self.stack.aws.outbox(flow["request"])
        if len(items) != 2:
            raise flows.FlowError(f"relay: {len(items)} outbox items, expected 2")
        done = pair.relay.invoke(flows.relay_event(items, self._sequence))
        self._sequence += len(items)
        flows.relayed(done.response)
        return done

    # a Plaid (token) exchange ------------------------------------------------------------------
    def plaid_page(self, pair: Pair, flow: dict) -> Invocation:
        """The start button of a Plaid request: the Plaid page, the cookie, the CSRF token."""
        done = pair.callback.invoke(flows.start_event(flow["start"]))
        flow["cookie"], flow["csrf"] = flows.plaid_started(
            done.response, flow["start"], flow["provider"]
        )
        return done

    def plaid_login(self, flow: dict) -> None:
        """The customer logs in through Plaid Link (the sandbox finishes the session; untimed)."""
        admin = self.stack.sandbox.admin
        harness_retry(lambda: admin.complete_exchange_session(flow["provider"]))

    def complete(self, pair: Pair, flow: dict) -> Invocation:
        """The Plaid page reports Link's success."""
        event = flows.complete_event(flow["start"], flow["cookie"], flow["csrf"])
        done = pair.callback.invoke(event)
        flows.completed(done.response, flow["request"])
        return done

    def verify(self, pair: Pair, flow: dict) -> Invocation:
        """The platform, which ran Plaid Link itself, reports its success."""
        done = pair.api.invoke(flows.verify_event(flow["request"]))
        flows.verified(done.response)
        return done


def spawn_pair(
    stack: Stack,
    side: str,
    env: dict | None = None,
    *,
    relay: bool = False,
    instrument: bool = True,
) -> Pair:
    """A side's containers, spawned (and, unless told otherwise, instrumented: that waits for
    their imports)."""
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
        if container is not None and instrument:
            container.instrument()
    return pair


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
            drive.create(pairs["product" if source == "shipped" else source], seeded)[0]
            for seeded in stack.sandbox.seed(rounds)
        ]
        for source in sources
    }
    env = stack.function_env()
    # As on Lambda: the layer's own bytecode (if the build made it) and nothing cached or written
    # (/opt is read-only); the prefix would hide the layer's __pycache__.
    shipped_env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    shipped_env.pop("PYTHONPYCACHEPREFIX", None)
    samples: dict[tuple[str, str], list[dict]] = {kind: [] for kind in kinds}
    made = [flow for found in openable.values() for flow in found]
    for r in range(rounds):
        order = kinds[:]
        random.Random(r).shuffle(order)
        log(
            f"cold: round {r}/{runs}" + (" (discarded: fills the bytecode cache)" if r == 0 else "")
        )
        stack.aws.moto_gc(collect=True)  # untimed, between rounds
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
                        "interpreter": t["runtime_ready"] - container.spawned_at,
                        "import": t["imported"] - t["runtime_ready"],
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
        for other in BASELINES:  # "ratio": against the baseline; "peer_ratio": against the peer
            prefix = "peer_" if other == "peer" else ""
            base = both[other]
            both[f"{prefix}ratio"] = round(both["product"]["median_ms"] / base["median_ms"], 3)
            both[f"{prefix}cpu_ratio"] = round(
                both["product"]["cpu_median_ms"] / base["cpu_median_ms"], 3
            )
            shipped = both.get("product_shipped_layer")
            if shipped:
                both[f"{prefix}ratio_as_shipped"] = round(
                    shipped["median_ms"] / base["median_ms"], 3
                )
                both[f"{prefix}cpu_ratio_as_shipped"] = round(
                    shipped["cpu_median_ms"] / base["cpu_median_ms"], 3
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
                "allowed_secret_reads": SECRETS * (math.floor(elapsed / cache_seconds) + 1),
                "allowed_token_mints": math.floor(elapsed / renew_every) + 1,
            }
        result["seconds"] = round(elapsed, 2)
    finally:
        for pair in pairs.values():
            pair.close()
        stack.stop(sandbox.process)
    return result

"""moto server for the latency phases, with its garbage collector accounted for (and, by default,
kept off the measured requests).

    python -m benchmarks.moto_server --host 127.0.0.1 --port 5005 [--gc managed|normal]

moto stands in for DynamoDB, EventBridge and Secrets Manager. It is itself a Python process
whose heap holds botocore's service models and, on every TransactWriteItems, a deep copy of the
whole table (for its rollback): its garbage collector runs often, and a full (gen-2) collection
of that heap stalls whatever request is in flight for tens to hundreds of milliseconds, on
either side at random. Those stalls are moto's, not DynamoDB's, and they made the p99 figures.

Worse, the heap grows without end: moto's BaseModel.__new__ appends every model instance it
ever makes to its class's `instances_tracked` list (for moto's dashboard), and each
TransactWriteItems deep-copies the table (Table, Items, DynamoTypes) for its rollback: every copy
stays reachable. Measured in-process: +655 live objects per flow (2 Table copies, 4 Items, 624
DynamoTypes), +2 once the lists are cleared. Each full collection grows with that heap (in a
120-iteration run, the average collection between iterations took 370 ms, the longest 1.6 s).

  --gc normal    as moto runs by default; the collector's pauses are recorded
  --gc managed   (default) automatic collection is off; between iterations (untimed, as the
                 flows' items are deleted) the benchmark asks for POST /_bench/gc: the tracked
                 instance lists are cleared (moto.core.model_instances.reset_model_data: the
                 models themselves stay where the backends hold them) and garbage collected
In both, POST /_bench/gc?freeze=1 (after provisioning) freezes what is on the heap then.

GET /_bench/gc answers the pauses so far: {"collections", "ms", "max_ms", "over_20ms"}.
"""

from __future__ import annotations

import argparse
import gc
import json
import threading
import time

from moto.core.model_instances import reset_model_data
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class GcPauses:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.began = 0.0
        self.collections = 0
        self.seconds = 0.0
        self.longest = 0.0
        self.over_20ms = 0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.began = time.perf_counter()
            return
        took = time.perf_counter() - self.began
        with self.lock:
            self.collections += 1
            self.seconds += took
            self.longest = max(self.longest, took)
            self.over_20ms += took > 0.020

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "collections": self.collections,
                "ms": round(self.seconds * 1000, 1),
                "max_ms": round(self.longest * 1000, 1),
                "over_20ms": self.over_20ms,
            }


class BenchHooks:
    """A WSGI middleware: /_bench/gc for the benchmark, everything else to moto."""

    def __init__(self, app, pauses: GcPauses, managed: bool) -> None:
        self._app, self._pauses, self._managed = app, pauses, managed

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/_bench/gc":
            return self._app(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST":  # untimed: between the benchmark's iterations
            if self._managed:
                reset_model_data()  # moto's dashboard's hold on every model ever made (below)
            gc.collect()
            if "freeze" in environ.get("QUERY_STRING", ""):
                gc.freeze()  # the resources as provisioned, the services' models: never rescanned
        body = json.dumps({"managed": self._managed, **self._pauses.snapshot()}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gc", choices=("managed", "normal"), default="managed")
    args = parser.parse_args(argv)
    app = DomainDispatcherApplication(create_backend_app)
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    if args.gc == "managed":
        gc.collect()
        gc.freeze()
        gc.disable()
    hooked = BenchHooks(app, pauses, args.gc == "managed")
    run_simple(args.host, args.port, hooked, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

"""One function in a fresh Python process, like a Lambda container. Started by container.py:

    python benchmarks/worker.py FD_IN FD_OUT {product|baseline|peer} {api|callback|relay} PATHS

It imports the handler at once (the init phase), then answers JSON-line requests on FD_IN with
JSON lines on FD_OUT (stdout and stderr stay the function's own, like CloudWatch Logs):
  {"op": "invoke", "event": {...}}  → {"response", "elapsed"} (+ "timeline" on the first call;
                                      once instrumented, + "gc" and "waited": the garbage
                                      collector's pauses and the I/O waited on, in ms)
  {"op": "instrument"}              → count AWS and Dwolla I/O from now on (benchmarks.instrument),
                                      and time the garbage collector
  {"op": "counts"} / {"op": "reset"} → the counts so far / start counting again from zero
  {"op": "exit"}
Before the handler, as Lambda's Python runtime has done by then: only the standard library, the
worker's own json, os, sys and time, and RUNTIME_MODULES, what the runtime interface client
(awslambdaric, the python3.13 image's /var/runtime) has imported when it imports the handler,
listed from `sys.modules` in the local Lambda image. Both sides get the same.
"""

import json
import os
import sys
import time

STARTED = time.monotonic()  # CLOCK_MONOTONIC: comparable with the parent's clock
RUNTIME_MODULES = (
    "collections",
    "contextlib",
    "decimal",
    "enum",
    "functools",
    "json",
    "logging",
    "re",
    "string",
    "textwrap",
    "threading",
    "traceback",
    "warnings",
)


class LambdaContext:
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def __init__(self, function_name: str, number: int) -> None:
        self.function_name = function_name
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.aws_request_id = f"00000000-0000-4000-8000-{number:012d}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 28_000


class GcPauses:
    """The garbage collector's collections and their time (gc.callbacks), per invocation."""

    def __init__(self) -> None:
        self.began = 0.0
        self.seconds = 0.0
        self.runs = [0, 0, 0]

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self.began
            self.runs[info["generation"]] += 1

    def take(self) -> dict:
        found = {"ms": round(self.seconds * 1000, 3), "runs": self.runs}
        self.seconds, self.runs = 0.0, [0, 0, 0]
        return found


class Function:
    """The imported handler and what the benchmark asks of it."""

    def __init__(self, target: str, function: str, module, timeline: dict) -> None:
        self.target, self.function, self.module = target, function, module
        self.timeline = timeline
        self.counts = self.gc_pauses = None
        self.number = 0

    def invoke(self, event: dict) -> dict:
        self.number += 1
        context = LambdaContext(f"{self.target}-{self.function}", self.number)
        began = time.perf_counter()
        try:
            response = self.module.handler(event, context)
        except Exception as exc:  # the function failed: Lambda would report an error
            response = {"error": f"{type(exc).__name__}: {exc}"}
        elapsed = time.perf_counter() - began
        reply = {"response": response, "elapsed": elapsed}
        if self.counts is not None:
            reply["gc"] = self.gc_pauses.take()
            reply["waited"] = self.counts.take_invocation()
        if self.number == 1:
            reply["timeline"] = {
                **self.timeline,
                "answered": time.monotonic(),
                "cpu": time.process_time(),  # the process's CPU time so far
            }
        return reply

    def instrument(self) -> dict:
        import gc

        from benchmarks import instrument

        self.counts = instrument.attach(self.target, self.module, self.function)
        self.gc_pauses = GcPauses()
        gc.callbacks.append(self.gc_pauses)
        return {}

    def answer(self, request: dict) -> dict:
        op = request["op"]
        if op == "invoke":
            return self.invoke(request["event"])
        if op == "instrument":
            return self.instrument()
        if op == "counts":
            return self.counts.snapshot() if self.counts else {}
        if op == "reset":
            if self.counts:
                self.counts.reset()
            return {}
        return {"error": f"unknown op {op!r}"}


def main() -> None:
    fd_in, fd_out, target, function, paths = sys.argv[1:6]
    sys.path[0:1] = paths.split(os.pathsep)  # replaces this script's own directory
    for name in RUNTIME_MODULES:
        __import__(name)
    runtime_ready = time.monotonic()
    if target == "product":
        module = __import__("app")  # functions/<function>/app.py, the layer on sys.path
    else:
        module = __import__(f"benchmarks.{target}.{function}", fromlist=["handler"])
    timeline = {"started": STARTED, "runtime_ready": runtime_ready, "imported": time.monotonic()}
    served = Function(target, function, module, timeline)
    with os.fdopen(int(fd_in), "rb") as requests, os.fdopen(int(fd_out), "wb") as replies:
        for line in requests:
            request = json.loads(line)
            if request["op"] == "exit":
                break
            replies.write(json.dumps(served.answer(request)).encode() + b"\n")
            replies.flush()


if __name__ == "__main__":
    main()

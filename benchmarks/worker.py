"""One function in a fresh Python process, like a Lambda container. Started by container.py:

    python benchmarks/worker.py FD_IN FD_OUT {product|baseline} {api|callback|relay} PATHS

It imports the handler at once (the init phase), then answers JSON-line requests on FD_IN with
JSON lines on FD_OUT (stdout and stderr stay the function's own, like CloudWatch Logs):
  {"op": "invoke", "event": {...}}  → {"response", "elapsed"} (+ "timeline" on the first call)
  {"op": "instrument"}              → count AWS and Dwolla I/O from now on (benchmarks.instrument)
  {"op": "counts"} / {"op": "reset"} → the counts so far / start counting again from zero
  {"op": "exit"}
Only the standard library's json, os, sys and time are imported before the handler.
"""

import json
import os
import sys
import time

STARTED = time.monotonic()  # CLOCK_MONOTONIC: comparable with the parent's clock


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


def main() -> None:
    fd_in, fd_out, target, function, paths = sys.argv[1:6]
    sys.path[0:1] = paths.split(os.pathsep)  # replaces this script's own directory
    if target == "product":
        module = __import__("app")  # functions/<function>/app.py, the layer on sys.path
    else:
        module = __import__(f"benchmarks.baseline.{function}", fromlist=["handler"])
    imported = time.monotonic()
    handler = module.handler
    counts = None
    number = 0
    with os.fdopen(int(fd_in), "rb") as requests, os.fdopen(int(fd_out), "wb") as replies:
        for line in requests:
            request = json.loads(line)
            op = request["op"]
            if op == "invoke":
                number += 1
                context = LambdaContext(f"{target}-{function}", number)
                began = time.perf_counter()
                try:
                    response = handler(request["event"], context)
                except Exception as exc:  # the function failed: Lambda would report an error
                    response = {"error": f"{type(exc).__name__}: {exc}"}
                elapsed = time.perf_counter() - began
                reply = {"response": response, "elapsed": elapsed}
                if number == 1:
                    reply["timeline"] = {
                        "started": STARTED,
                        "imported": imported,
                        "answered": time.monotonic(),
                        "cpu": time.process_time(),  # the process's CPU time so far
                    }
            elif op == "instrument":
                from benchmarks import instrument

                counts = instrument.attach(target, module, function)
                reply = {}
            elif op == "counts":
                reply = counts.snapshot() if counts else {}
            elif op == "reset":
                if counts:
                    counts.reset()
                reply = {}
            elif op == "exit":
                break
            else:
                reply = {"error": f"unknown op {op!r}"}
            replies.write(json.dumps(reply).encode() + b"\n")
            replies.flush()


if __name__ == "__main__":
    main()

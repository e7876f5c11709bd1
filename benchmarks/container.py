"""A function in its own fresh Python process (benchmarks/worker.py), seen from the benchmark."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "worker.py"
PYTHON = [sys.executable]  # the functions' interpreter (benchmarks.interpreter), set by run.py


def use_python(executable: str) -> None:
    PYTHON[0] = executable


class ContainerError(RuntimeError):
    pass


@dataclass
class Invocation:
    response: dict
    elapsed: float  # seconds inside handler(event, context), measured in the container
    timeline: dict | None = None  # first invocation: monotonic started / imported / answered
    gc: dict | None = None  # once instrumented: {"ms", "runs": [gen0, gen1, gen2]}
    waited: dict | None = None  # once instrumented: ms waited per AWS call kind, "dwolla"


def product_paths(function: str, layer: Path | None = None) -> list[str]:
    """Lambda's order: the function's code, then the layer (source tree or a built layer)."""
    layer = layer or ROOT / "layers" / "reauth"
    return [str(ROOT / "functions" / function), str(layer), str(ROOT)]


class Container:
    """Spawned at once; the handler module is imported before the first request is read."""

    def __init__(
        self,
        target: str,
        function: str,
        env: dict[str, str],
        *,
        paths: list[str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.target, self.function = target, function
        if paths is None:
            paths = product_paths(function) if target == "product" else [str(ROOT)]
        child_in, to_child = os.pipe()
        from_child, child_out = os.pipe()
        argv = [PYTHON[0], str(WORKER), str(child_in), str(child_out), target, function]
        argv.append(os.pathsep.join(paths))
        self._log = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.spawned_at = time.monotonic()
        self.process = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # the function's logs and metrics (EMF) lines
            stderr=self._log,
            pass_fds=(child_in, child_out),
        )
        os.close(child_in)
        os.close(child_out)
        self._to = os.fdopen(to_child, "wb")
        self._from = os.fdopen(from_child, "rb")
        self.invocations = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def _request(self, request: dict) -> dict:
        try:
            self._to.write(json.dumps(request).encode() + b"\n")
            self._to.flush()
            line = self._from.readline()
        except BrokenPipeError:
            line = b""
        if not line:
            code = self.process.wait(timeout=10)
            raise ContainerError(f"{self.target} {self.function} exited ({code}); see its log")
        return json.loads(line)

    def invoke(self, event: dict) -> Invocation:
        reply = self._request({"op": "invoke", "event": event})
        self.invocations += 1
        return Invocation(
            reply["response"],
            reply["elapsed"],
            reply.get("timeline"),
            reply.get("gc"),
            reply.get("waited"),
        )

    def instrument(self) -> None:
        self._request({"op": "instrument"})

    def counts(self) -> dict:
        return self._request({"op": "counts"})

    def reset_counts(self) -> None:
        self._request({"op": "reset"})

    def memory(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of the process, in bytes."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0]) * 1024
        return {"rss": found["VmRSS"], "peak_rss": found["VmHWM"]}

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._to.write(b'{"op": "exit"}\n')
                self._to.flush()
            except (BrokenPipeError, ValueError):
                pass
        for stream in (self._to, self._from):
            with contextlib.suppress(OSError):  # BrokenPipeError: the process is gone
                stream.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

"""What Powertools' Tracer would add to a cold start (informational; the product has no Tracer).

Tracer needs aws-xray-sdk (and wrapt) in the layer. This installs them for python3.13 on the
Lambda platform next to the built layer, compiles them like the layer (its own bytecode), and:
  - size: the zip of the two packages (deflate, as SAM zips the layer), i.e. the layer's growth;
  - time: in `runs` fresh processes of the functions' Python, with the layer on the path and
    Lambda's environment (LAMBDA_TASK_ROOT set, so Tracer is enabled): first what the handlers
    already import (boto3, Logger, Metrics, the REST resolver), untimed, then
    `from aws_lambda_powertools import Tracer; Tracer(service=...)` timed (import, X-Ray
    recorder, patching botocore and the other supported libraries). Median ms, and CPU ms.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path

from .build import zip_folder

PACKAGES = ("aws-xray-sdk==2.15.0", "wrapt==2.5.2")  # botocore: the Lambda runtime's
PROBE = """
import json, os, sys, time
sys.path[0:0] = [os.environ["BENCH_LAYER"], os.environ["BENCH_XRAY"]]
import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
Logger(); Metrics(); APIGatewayRestResolver()
wall, cpu = time.perf_counter(), time.process_time()
from aws_lambda_powertools import Tracer
tracer = Tracer(service="reauth")
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
assert not tracer.disabled, "Tracer disabled"
print(json.dumps({"ms": wall * 1000, "cpu_ms": cpu * 1000}))
"""


def _install(python: str, target: Path) -> None:
    if (target / ".ready").exists():
        return
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    pip += ["--no-compile", "--target", str(target), "--only-binary=:all:", "--implementation"]
    pip += ["cp", "--python-version", "3.13", "--platform", "manylinux2014_x86_64"]
    subprocess.run(
        [*pip, *PACKAGES],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(target)],
        check=True,
        capture_output=True,
    )
    (target / ".ready").write_text("\n".join(PACKAGES) + "\n")


def measure(python: str, layer: Path, workdir: Path, env: dict, runs: int = 10) -> dict:
    """{"added_cold_start_ms", "added_cpu_ms", "layer_zip_increase_bytes", ...} or {"error"}."""
    target = workdir / "xray-3.13"
    try:
        _install(python, target)
    except subprocess.CalledProcessError as exc:
        return {"error": (exc.stderr or b"").decode(errors="replace")[-300:]}
    size = zip_folder(target, workdir / "xray-3.13.zip")
    probe_env = {
        **env,
        "BENCH_LAYER": str(layer),
        "BENCH_XRAY": str(target),
        "LAMBDA_TASK_ROOT": str(workdir),
        "AWS_LAMBDA_FUNCTION_NAME": "bench-tracer",
        "POWERTOOLS_SERVICE_NAME": "reauth",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    probe_env.pop("PYTHONPYCACHEPREFIX", None)  # the layer's own bytecode, as on Lambda
    samples = []
    for _ in range(runs + 1):  # the first is discarded (file cache)
        done = subprocess.run(
            [python, "-c", PROBE], env=probe_env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            return {"error": done.stderr[-300:]}
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    samples = samples[1:]
    return {
        "packages": list(PACKAGES),
        "runs": runs,
        "added_cold_start_ms": round(statistics.median(s["ms"] for s in samples), 1),
        "added_cpu_ms": round(statistics.median(s["cpu_ms"] for s in samples), 1),
        "runs_ms": [round(s["ms"], 1) for s in samples],
        "layer_zip_increase_bytes": size,
        "unzipped_bytes": sum(
            p.stat().st_size for p in target.rglob("*") if p.is_file() and p.name != ".ready"
        ),
        "note": "import + Tracer(service=...) after the handlers' own imports, Tracer enabled "
        "(LAMBDA_TASK_ROOT set), aws-xray-sdk and wrapt with their bytecode",
        "python": os.path.basename(python),
    }

"""Start and stop the local servers (moto server, the Dwolla sandbox) as child processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answers on {host}:{port} after {timeout:.0f} s")


def start_moto_server(host: str, port: int, log_path: Path | None = None) -> subprocess.Popen:
    """moto server: the real AWS wire protocol for DynamoDB, EventBridge, Secrets Manager, SQS."""
    moto = Path(sys.executable).parent / "moto_server"
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [str(moto), "-H", host, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    wait_for_port(host, port)
    return process


def start_dwolla_sandbox(
    host: str,
    port: int,
    *,
    key: str,
    secret: str,
    public_url: str | None = None,
    redirect_urls: tuple[str, ...] = (),
    log_path: Path | None = None,
) -> subprocess.Popen:
    command = [sys.executable, "-m", "local.dwolla_sandbox", "--host", host, "--port", str(port)]
    command += ["--key", key, "--secret", secret]
    if public_url:
        command += ["--public-url", public_url]
    for url in redirect_urls:
        command += ["--redirect-url", url]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ}
    )
    wait_for_port(host, port)
    return process


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

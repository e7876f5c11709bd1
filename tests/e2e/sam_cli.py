"""SAM CLI local for the e2e tests: is it usable here, which function takes an event file, and
`sam local invoke` with one retry."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = ROOT / "events"
SETUP = ROOT / "local" / "sam_local_setup.sh"
INVOKE_TIMEOUT = 90
# The return URL of a stack brought up by `make up`. events/api-create-session.json carries it,
# so the invoke tests allow it too (beside their stack's own): the files answer as for a user.
MAKE_UP_RETURN_URL = "http://127.0.0.1:3000/reauth/done"

FUNCTION_BY_PREFIX = {
    "api-": "ApiFunction",
    "eventbridge-": "ApiFunction",
    "schedule-": "ApiFunction",
    "callback-": "CallbackFunction",
    "webhook-": "CallbackFunction",
    # On a stack with PlatformWebhookUrl set only: the e2e tests pass its variables
    # (tests/e2e/conftest.py platform_webhooks).
    "sqs-": "PlatformWebhookFunction",
}


def function_for(event_file: Path) -> str | None:
    """The function an events/ file is for, from its name's prefix."""
    for prefix, function in FUNCTION_BY_PREFIX.items():
        if event_file.name.startswith(prefix):
            return function
    return None


def sam_local_unavailable() -> str | None:
    """Why `sam local` cannot run here (None: it can), from local/sam_local_setup.sh --check."""
    if shutil.which("docker") is None:
        return "no docker client on PATH (local/sam_local_setup.sh installs and starts Docker)"
    try:
        answer = subprocess.run(
            [str(SETUP), "--check"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{SETUP.name} --check could not run ({error})"
    if answer.returncode == 0:
        return None
    reasons = [
        line.split("NOT READY:", 1)[1].strip()
        for line in answer.stdout.splitlines()
        if "NOT READY:" in line
    ]
    return "; ".join(reasons) or (answer.stdout + answer.stderr).strip()[-300:]


class InvokeFailed(AssertionError):
    pass


@dataclass
class Invocation:
    result: object  # the function's answer, parsed from SAM CLI's stdout
    stdout: str
    stderr: str
    attempts: int


class SamInvoker:
    """`sam local invoke <Function> -e <file> <args>`, retried once: the very first invoke on a
    machine can fail with "Failed to get next invocation" (shared/local-lambda/NOTES.md)."""

    def __init__(self, sam: Path, args: list[str], env: dict[str, str]) -> None:
        self.sam, self.args, self.env = sam, args, env

    def command(self, function: str, event_file: Path) -> list[str]:
        return [str(self.sam), "local", "invoke", function, "-e", str(event_file), *self.args]

    def __call__(self, function: str, event_file: Path) -> Invocation:
        failures = []
        for attempt in (1, 2):
            stdout, stderr, code = _run(self.command(function, event_file), self.env)
            result = _parse(stdout)
            if code == 0 and result is not None:
                if failures:
                    warnings.warn(
                        f"sam local invoke {function} -e {event_file.name} needed a retry; "
                        f"the first attempt: {failures[0][:500]}",
                        stacklevel=2,
                    )
                return Invocation(result, stdout, stderr, attempt)
            failures.append(f"exit {code}, stdout {stdout[-300:]!r}, stderr:\n{stderr[-1500:]}")
        raise InvokeFailed(
            f"sam local invoke {function} -e {event_file.name} failed twice:\n"
            + "\n---\n".join(failures)
        )


def _run(command: list[str], env: dict[str, str]) -> tuple[str, str, int]:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=INVOKE_TIMEOUT)
    except subprocess.TimeoutExpired:
        # SIGTERM lets SAM CLI remove its container; SIGKILL when it does not stop.
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        return stdout, f"timed out after {INVOKE_TIMEOUT} s\n{stderr}", -1
    return stdout, stderr, process.returncode


def _parse(stdout: str) -> object | None:
    """SAM CLI prints the function's answer (JSON) on stdout; its logs go to stderr."""
    text = stdout.strip()
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None

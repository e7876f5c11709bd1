"""The e2e harness itself, without Docker: the one retry of `sam local invoke`, the skip reason."""

from __future__ import annotations

import pytest

from tests.e2e import sam_cli
from tests.e2e.sam_cli import InvokeFailed, SamInvoker

FIRST_TIME_FAILS = """#!/bin/sh
# A stand-in for sam: the first call fails as SAM CLI's very first invoke can, later calls answer.
if [ ! -e "$0.called" ]; then
    touch "$0.called"
    echo "LAMBDA_RUNTIME Failed to get next invocation. No Response from endpoint" >&2
    exit 1
fi
echo "Invoking app.handler (python3.13)" >&2
printf '{"statusCode": 200, "body": "{}"}'
"""
ALWAYS_FAILS = """#!/bin/sh
echo "Error: Running AWS SAM projects locally requires a container runtime." >&2
exit 1
"""


def fake_sam(tmp_path, script: str):
    sam = tmp_path / "sam"
    sam.write_text(script)
    sam.chmod(0o755)
    return sam


def test_an_invoke_that_fails_once_is_retried_once(tmp_path):
    invoke = SamInvoker(fake_sam(tmp_path, FIRST_TIME_FAILS), ["--skip-pull-image"], {})

    with pytest.warns(UserWarning, match="needed a retry"):
        invocation = invoke("ApiFunction", tmp_path / "event.json")

    assert invocation.result == {"statusCode": 200, "body": "{}"}
    assert invocation.attempts == 2


def test_an_invoke_that_fails_twice_fails_the_test_with_both_outputs(tmp_path):
    invoke = SamInvoker(fake_sam(tmp_path, ALWAYS_FAILS), [], {})

    with pytest.raises(InvokeFailed, match="failed twice") as failure:
        invoke("CallbackFunction", tmp_path / "event.json")

    assert str(failure.value).count("requires a container runtime") == 2


def test_without_docker_the_reason_says_so(monkeypatch):
    monkeypatch.setattr(sam_cli.shutil, "which", lambda name: None)

    assert "docker" in sam_cli.sam_local_unavailable()

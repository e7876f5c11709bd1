"""Installable from the Serverless Application Repository: template.yaml's
`AWS::ServerlessRepo::Application` metadata, read by SAM CLI's own SAR library (the parser and the
CreateApplication request `sam publish` sends), in SAM CLI's virtualenv (local/sar_metadata.py).
Here, not in tests/unit: it needs SAM CLI installed (make sam-local), as this tier does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.sam_cli import ROOT

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
CHECK = ROOT / "local" / "sar_metadata.py"


def sar_check(template: Path) -> subprocess.CompletedProcess[str]:
    if not SAM_PYTHON.exists():
        pytest.skip("SAM CLI's virtualenv is missing (make sam-local installs it)")
    return subprocess.run(
        [str(SAM_PYTHON), str(CHECK), str(template)], capture_output=True, text=True, timeout=60
    )


def test_sam_publish_reads_complete_metadata_that_sar_accepts():
    answer = sar_check(ROOT / "template.yaml")

    assert answer.returncode == 0, answer.stderr
    assert "complete" in answer.stdout


def test_the_check_refuses_what_sar_would_refuse(tmp_path):
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    (tmp_path / "README.md").write_text("# readme\n")  # LICENSE left out on purpose
    broken = template.replace("    Author: dwolla-reauth\n", "    Author: The Team\n").replace(
        "SemanticVersion: 1.0.0", "SemanticVersion: one"
    )
    (tmp_path / "template.yaml").write_text(broken, encoding="utf-8")

    answer = sar_check(tmp_path / "template.yaml")

    assert answer.returncode == 1
    assert "Author" in answer.stderr
    assert "SemanticVersion 'one'" in answer.stderr
    assert "LicenseUrl: 'LICENSE' is not a file" in answer.stderr


def test_without_the_required_properties_sam_publish_refuses(tmp_path):
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    (tmp_path / "template.yaml").write_text(
        template.replace("    Author: dwolla-reauth\n", ""), encoding="utf-8"
    )

    answer = sar_check(tmp_path / "template.yaml")

    assert answer.returncode == 1
    assert "sam publish would refuse it" in answer.stderr
    assert "author properties not provided" in answer.stderr

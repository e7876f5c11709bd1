"""The Architecture parameter: every function and the layer run on the one chosen, and the layer
is built for it.

SAM's makefile builder tells make nothing of the architecture (only ARTIFACTS_DIR), so
layers/reauth/Makefile takes ARCHITECTURE from the environment. What makes a build for the
wrong one harmless today: the layer's requirements, with everything they pull in on Python 3.13
on Linux, are pure-Python wheels (`py3-none-any`), the same files for x86_64 and arm64. A
requirement with compiled code would fail here, the day it is added.
"""

from __future__ import annotations

import os
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "reauth"
ARCHITECTURE = {"Ref": "Architecture"}
# Python 3.13 on Lambda's Linux, for the requirements' environment markers.
LAMBDA_ENVIRONMENT = {
    **default_environment(),
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
}


def test_architecture_is_a_parameter_x86_64_by_default():
    parameter = load_template()["Parameters"]["Architecture"]
    assert parameter["AllowedValues"] == ["x86_64", "arm64"]
    assert parameter["Default"] == "x86_64"


def test_every_function_and_the_layer_follow_it():
    template = load_template()
    assert template["Globals"]["Function"]["Architectures"] == [ARCHITECTURE]
    resources = template["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for function in functions:
        assert "Architectures" not in function["Properties"], function["Properties"]["CodeUri"]
    layers = [r for r in resources.values() if r["Type"] == "AWS::Serverless::LayerVersion"]
    assert layers
    for layer in layers:
        assert layer["Properties"]["CompatibleArchitectures"] == [ARCHITECTURE]
        assert layer["Metadata"]["BuildArchitecture"] == ARCHITECTURE


def _make_dry_run(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("ARCHITECTURE", "PLATFORM")}
    return subprocess.run(
        ["make", "-n", "--no-print-directory", "build-ReauthLayer", "ARTIFACTS_DIR=/nonexistent"],
        cwd=LAYER,
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("architecture", "platform"),
    [
        (None, "manylinux2014_x86_64"),
        ("x86_64", "manylinux2014_x86_64"),
        ("arm64", "manylinux2014_aarch64"),
    ],
)
def test_the_layer_is_built_for_the_architecture(architecture, platform):
    run = _make_dry_run(**({"ARCHITECTURE": architecture} if architecture else {}))
    assert run.returncode == 0, run.stderr
    assert re.findall(r"--platform (\S+)", run.stdout) == [platform]


def test_an_unknown_architecture_stops_the_build():
    run = _make_dry_run(ARCHITECTURE="amd64")
    assert run.returncode != 0
    assert "ARCHITECTURE must be x86_64 or arm64" in run.stderr


def _requirements() -> list[Requirement]:
    lines = (LAYER / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in (raw.split("#")[0].strip() for raw in lines) if line]


def _closure() -> dict[str, metadata.Distribution]:
    """The layer's requirements and all they need on Python 3.13 on Linux, as installed here."""
    found: dict[str, metadata.Distribution] = {}
    pending = [(r, None) for r in _requirements()]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate(
            {**LAMBDA_ENVIRONMENT, "extra": extra or ""}
        ):
            continue
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name in found:
            continue
        found[name] = distribution = metadata.distribution(requirement.name)
        for extra_name in requirement.extras or {None}:
            pending += [(Requirement(r), extra_name) for r in distribution.requires or ()]
    return found


def test_the_pins_are_what_this_environment_has():
    """The next test reads the installed wheels: they must be the pinned ones."""
    for requirement in _requirements():
        version = metadata.version(requirement.name)
        assert requirement.specifier.contains(version), (requirement, version)


def test_the_layers_requirements_are_pure_python_wheels():
    closure = _closure()
    assert {"aws-lambda-powertools", "urllib3"} <= set(closure)
    for name, distribution in closure.items():
        wheel = distribution.read_text("WHEEL") or ""
        tags = re.findall(r"^Tag: (\S+)$", wheel, re.M)
        assert tags, f"{name}: no wheel metadata"
        assert "Root-Is-Purelib: true" in wheel, f"{name} has compiled code: build per architecture"
        assert all(tag.endswith("-none-any") for tag in tags), (name, tags)

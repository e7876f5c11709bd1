"""The Python the functions run on: Lambda's runtime is python3.13, so the benchmark runs every
function (product and baseline) on a Python 3.13 when this machine has one, in a virtual
environment of its own with what the Lambda runtime provides (boto3, botocore) and what the
layer ships (layers/reauth/requirements.txt), at the project's pinned versions. Found, in order:
a `python3.13` on PATH that runs, pyenv's 3.13 versions (newest first). Without one, the
benchmark's own interpreter (3.11) is used and the output says so.

The benchmark's driver (moto server, the sandbox, the report) stays on the project's .venv.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WANTED = (3, 13)
RUNTIME_PINS = ("boto3", "botocore")  # the Lambda runtime's, pinned in requirements-dev.txt


@dataclass(frozen=True)
class FunctionPython:
    executable: str
    version: str  # "3.13.0"
    note: str  # how it was found, or why the fallback


def _version(executable: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print(*sys.version_info[:3], sep='.')"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return tuple(int(x) for x in out.split("."))


def candidates() -> list[str]:
    found = [p for p in [shutil.which("python3.13")] if p]
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    pyenv = glob.glob(os.path.join(root, "versions", "3.13*", "bin", "python3.13"))
    key = [tuple(int(n) for n in re.findall(r"\d+", Path(p).parts[-3])) for p in pyenv]
    found += [p for _, p in sorted(zip(key, pyenv, strict=True), reverse=True)]
    return found


def find_313() -> tuple[str, str] | None:
    """(executable, version) of the first Python 3.13 found, or None."""
    for executable in candidates():
        version = _version(executable)
        if version and version[:2] == WANTED:
            return executable, ".".join(map(str, version))
    return None


def _requirements() -> list[str]:
    wanted = []
    for line in (ROOT / "layers" / "reauth" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            wanted.append(line)
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        name = re.split(r"[=<>\[ ]", line.strip(), maxsplit=1)[0].lower()
        if name in RUNTIME_PINS:
            wanted.append(line.split("#", 1)[0].strip())
    return wanted


def function_python(workdir: Path) -> FunctionPython:
    """A Python 3.13 environment for the functions (made once, kept in `workdir`), or this
    interpreter with a note saying why."""
    here = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] == WANTED:
        return FunctionPython(sys.executable, here, "the benchmark's own Python")
    found = find_313()
    if found is None:
        return FunctionPython(
            sys.executable,
            here,
            f"FALLBACK: no Python 3.13 found (PATH, pyenv); functions run on {here}, "
            "not on Lambda's python3.13",
        )
    base, version = found
    wanted = _requirements()
    key = hashlib.sha256("\n".join([base, version, *wanted]).encode()).hexdigest()[:12]
    venv = workdir / f"venv-{version}-{key}"
    python = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        try:
            subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *wanted,
                ],
                check=True,
                capture_output=True,
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
            return FunctionPython(
                sys.executable,
                here,
                f"FALLBACK: Python {version} found ({base}) but its environment could not be "
                f"made ({' '.join(detail)}); functions run on {here}",
            )
        (venv / ".ready").write_text("\n".join(wanted) + "\n")
    return FunctionPython(os.path.abspath(python), version, f"{base}, environment {venv.name}")

"""The deployment artifacts' sizes: the layer built by its own Makefile (what `sam build` runs:
pinned requirements cross-installed for python3.13, plus the reauth package, plus python3.13
bytecode when the Makefile found a way to make it), zipped the way SAM zips it (deflate, all of
it), and each function's folder zipped. Rebuilt when their inputs change."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "reauth"
FUNCTIONS = ("api", "callback", "relay")


def _digest(paths: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in sorted(paths):
        sha.update(str(path.relative_to(ROOT)).encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def _files(folder: Path, *, bytecode: bool = False) -> list[Path]:
    """The files SAM would zip: all of a built layer's (its bytecode too); a source folder's
    without the bytecode a local run may have left."""
    return [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.name != ".ready"
        and (bytecode or ("__pycache__" not in p.parts and p.suffix != ".pyc"))
    ]


def zip_folder(folder: Path, target: Path, *, bytecode: bool = False) -> int:
    """Zip `folder`'s contents (paths relative to it); return the zip's size in bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(_files(folder, bytecode=bytecode)):
            archive.write(path, path.relative_to(folder).as_posix())
    return target.stat().st_size


def build_layer(workdir: Path) -> tuple[Path, Path]:
    """(the built layer folder, its zip), from `make -C layers/reauth build-ReauthLayer`."""
    inputs = [LAYER / "Makefile", LAYER / "requirements.txt", *sorted(LAYER.glob("reauth/*.py"))]
    key = _digest(inputs)
    workdir = workdir.resolve()  # make -C runs in the layer folder
    folder, archive = workdir / f"layer-{key}", workdir / f"layer-{key}.zip"
    if not archive.exists():
        shutil.rmtree(folder, ignore_errors=True)
        made = subprocess.run(
            ["make", "--no-print-directory", "-C", str(LAYER), "build-ReauthLayer"],
            check=True,
            env={**os.environ, "ARTIFACTS_DIR": str(folder), "PYTHON": sys.executable},
            capture_output=True,
        )
        (workdir / f"layer-{key}.log").write_bytes(made.stdout)
        zip_folder(folder, archive, bytecode=True)
        for stale in workdir.glob("layer-*"):  # earlier builds of other sources
            if stale not in (folder, archive, workdir / f"layer-{key}.log"):
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    return folder, archive


def sizes(workdir: Path) -> dict:
    """Bytes of the layer zip, its unzipped content, and each function's zip."""
    folder, archive = build_layer(workdir)
    log = folder.with_name(folder.name + ".log")
    said = log.read_text().splitlines() if log.exists() else []
    found = {
        "layer_zip_bytes": archive.stat().st_size,
        "layer_unzipped_bytes": sum(p.stat().st_size for p in _files(folder, bytecode=True)),
        "layer_bytecode_files": sum(1 for _ in folder.rglob("*.cpython-313.pyc")),
        "layer_bytecode": next((s for s in said if "bytecode" in s or "WARNING" in s), ""),
        "function_zip_bytes": {},
    }
    for name in FUNCTIONS:
        found["function_zip_bytes"][name] = zip_folder(
            ROOT / "functions" / name, workdir / f"function-{name}.zip"
        )
    return found

"""The deployment artifacts' sizes: the layer built by its own Makefile (what `sam build` runs:
pinned requirements cross-installed for python3.13, plus the reauth package), zipped the way SAM
zips it (deflate), and each function's folder zipped. Rebuilt when their inputs change."""

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


def _files(folder: Path) -> list[Path]:
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]


def zip_folder(folder: Path, target: Path) -> int:
    """Zip `folder`'s contents (paths relative to it); return the zip's size in bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(_files(folder)):
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
        subprocess.run(
            ["make", "--no-print-directory", "-C", str(LAYER), "build-ReauthLayer"],
            check=True,
            env={**os.environ, "ARTIFACTS_DIR": str(folder), "PYTHON": sys.executable},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        zip_folder(folder, archive)
        for stale in workdir.glob("layer-*"):  # earlier builds of other sources
            if stale not in (folder, archive):
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    return folder, archive


def sizes(workdir: Path) -> dict:
    """Bytes of the layer zip, its unzipped content, and each function's zip."""
    folder, archive = build_layer(workdir)
    found = {
        "layer_zip_bytes": archive.stat().st_size,
        "layer_unzipped_bytes": sum(p.stat().st_size for p in _files(folder)),
        "function_zip_bytes": {},
    }
    for name in FUNCTIONS:
        found["function_zip_bytes"][name] = zip_folder(
            ROOT / "functions" / name, workdir / f"function-{name}.zip"
        )
    return found

"""The wheel builds offline and holds what an installed lrlab needs: every module, the report's
CSS and HTML template, ``py.typed``, the ``lrlab`` command, and core metadata whose
unconditional requirements are the core dependencies alone (``pip install lrlab`` pulls
nothing an extra should bring).

Built from a copy of the sources (the checkout stays untouched) with ``pip wheel --no-deps
--no-build-isolation``: no network, the venv's setuptools (the ``dev`` extra pins >= 77).
"""

from __future__ import annotations

import email
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
# The core of DESIGN.md ("Core dependencies"); pyproject.toml's `dependencies` must match it.
CORE = {"torch", "numpy", "matplotlib", "typer", "rich", "pyyaml", "pydantic"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    if Version(importlib.metadata.version("setuptools")) < Version("77"):
        pytest.skip("building offline needs setuptools >= 77 in this venv (the dev extra)")
    src = tmp_path_factory.mktemp("src")
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(ROOT / "src", src / "src", ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
           "--no-index", "-q", "-w", str(out), str(src)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("lrlab-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_pyproject_core_dependencies_are_the_design_core():
    names = {Requirement(r).name.lower() for r in _pyproject()["project"]["dependencies"]}
    assert names == CORE


@pytest.mark.slow
def test_wheel_holds_every_module_and_the_package_data(wheel):
    names = set(wheel.namelist())
    sources = {
        p.relative_to(ROOT / "src").as_posix()
        for p in (ROOT / "src" / "lrlab").rglob("*")
        if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts
    }
    assert {"lrlab/report/report.css", "lrlab/report/report.html", "lrlab/py.typed"} <= sources
    assert sources - names == set()
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "lrlab = lrlab.cli.app:main" in wheel.read(entry_points).decode()


@pytest.mark.slow
def test_wheel_metadata_requires_only_the_core_outside_extras(wheel):
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(wheel.read(meta_name))
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    unconditional = {r.name.lower() for r in requires if r.marker is None}
    assert unconditional == CORE
    extras = set(meta.get_all("Provides-Extra"))
    assert extras == set(_pyproject()["project"]["optional-dependencies"])
    assert {"datasets", "lightning", "transformers", "notebook", "dev"} <= extras
    # Every other requirement belongs to an extra.
    assert all("extra ==" in str(r.marker) for r in requires if r.marker is not None)

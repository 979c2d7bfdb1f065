"""The public API: every name ``lrlab`` exports resolves and is documented, and importing
lrlab has no side effects (no files, no global torch state, no matplotlib, no extras)."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import textwrap

import pytest

import lrlab

EXPORTS = sorted(lrlab._EXPORTS)
# Submodules whose main function shares their name: ``lrlab.suggest`` is always the module
# (its function is ``lrlab.suggest.suggest``), never a function that a later submodule
# import would silently replace.
SHADOWED = ("suggest", "evaluate")


@pytest.mark.parametrize("name", EXPORTS)
def test_every_export_is_a_documented_object_of_its_module(name: str) -> None:
    value = getattr(importlib.import_module(lrlab._EXPORTS[name]), name)
    assert inspect.getdoc(value), f"lrlab.{name} has no docstring"
    if inspect.isclass(value) or inspect.isfunction(value):
        assert value.__name__ == name  # not an alias under another name


def test_all_and_dir_list_the_exports_and_unknown_names_fail_clearly() -> None:
    assert lrlab.__all__ == EXPORTS
    assert set(EXPORTS) <= set(dir(lrlab))
    with pytest.raises(AttributeError, match="no attribute 'range_tset'"):
        _ = lrlab.range_tset


# In a fresh interpreter: ``import lrlab``, every export accessed (lazily imported), every
# module imported; what that loaded and changed.
_IMPORT_EVERYTHING = textwrap.dedent(
    """
    import importlib, json, os, pkgutil, sys

    import lrlab

    after_lrlab = sorted(m for m in ("torch", "numpy", "matplotlib") if m in sys.modules)
    shadowed_before = {n: type(getattr(lrlab, n)).__name__ for n in SHADOWED}
    import torch

    rng = torch.random.get_rng_state().clone()
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    files = sorted(os.listdir("."))
    unresolved = [
        n for n, m in lrlab._EXPORTS.items()
        if n not in SHADOWED and getattr(lrlab, n) is not getattr(importlib.import_module(m), n)
    ]
    # The integrations' submodules import their framework (an extra) by design; the package
    # itself is walked (tests/test_integrations_lightning.py checks it imports no framework).
    modules = [
        m.name for m in pkgutil.walk_packages(lrlab.__path__, "lrlab.")
        if not m.name.startswith("lrlab.integrations.")
    ]
    for name in modules:
        importlib.import_module(name)
    extras = ("matplotlib", "ray", "tensorboard", "mnist1d", "sklearn", "torch_lr_finder")
    print(json.dumps({
        "after_lrlab": after_lrlab,
        "unresolved": unresolved,
        "modules": len(modules),
        "shadowed_before": shadowed_before,
        "shadowed": {n: type(getattr(lrlab, n)).__name__ for n in SHADOWED},
        "heavy": sorted(m for m in extras if m in sys.modules),
        "rng_same": bool(torch.equal(rng, torch.random.get_rng_state())),
        "dtype_same": torch.get_default_dtype() == dtype,
        "threads_same": torch.get_num_threads() == threads,
        "new_files": sorted(set(os.listdir(".")) - set(files)),
    }))
    """
)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> dict:
    script = f"SHADOWED = {SHADOWED!r}\n" + _IMPORT_EVERYTHING
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path_factory.mktemp("cwd"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_export_resolves_on_first_access(fresh: dict) -> None:
    """``lrlab.NAME`` is ``NAME`` of the module ``_EXPORTS`` names, imported lazily."""
    assert fresh["after_lrlab"] == []  # `import lrlab` alone is free
    assert fresh["unresolved"] == []


def test_importing_every_module_has_no_side_effects(fresh: dict) -> None:
    assert fresh["modules"] > 50  # the walk really imported the package
    assert fresh["heavy"] == []  # matplotlib inside plot functions; extras where they are used
    assert fresh["rng_same"] and fresh["dtype_same"] and fresh["threads_same"]
    assert fresh["new_files"] == []


# A name that is both an export and a submodule would flip from the function to the module
# as soon as anything imported the submodule (the import system binds it on the package).
# So no export shares a submodule's name, and ``lrlab.suggest`` / ``lrlab.evaluate`` are the
# modules, before and after their submodules were imported.
def test_no_export_is_named_like_a_submodule() -> None:
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(lrlab.__path__)}
    assert not set(EXPORTS) & submodules


def test_submodules_resolve_as_modules_before_and_after_import(fresh: dict) -> None:
    assert fresh["shadowed_before"] == {"suggest": "module", "evaluate": "module"}
    assert fresh["shadowed"] == {"suggest": "module", "evaluate": "module"}
    assert callable(lrlab.suggest.suggest) and callable(lrlab.evaluate.evaluate)

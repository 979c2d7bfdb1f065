"""The CLI starts fast: ``lrlab --help`` and ``lrlab <command> --help`` never import torch.

Every command module imports torch-heavy modules (``lrlab.finder``, ``lrlab.tasks``,
``lrlab.train``, torch, numpy, matplotlib) inside its command function, so building the Typer
app costs only typer and rich. Checked in fresh interpreters: this test process has long
imported torch.
``LAZY_EXEMPT`` may name a command module that still imports torch at module level (it is
then replaced by a stand-in for the import checks); it is empty: every command is lazy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

# Importing any of these at start-up costs seconds (torch) or a few hundred ms (the others).
HEAVY = ("torch", "numpy", "matplotlib", "lrlab.finder", "lrlab.tasks", "lrlab.train")
# Command modules allowed to import heavy modules at import time (see the module docstring).
LAZY_EXEMPT: tuple[str, ...] = ()

_PRELUDE = textwrap.dedent(
    """
    import json, sys, types

    def _stand_in(name):
        module = types.ModuleType(name)

        def command() -> None:
            '''Stand-in for a command module that is not lazy yet.'''

        module.__getattr__ = lambda attr: command
        return module

    for _name in {exempt!r}:
        sys.modules[_name] = _stand_in(_name)
    """
)


def _run(code: str) -> dict:
    script = _PRELUDE.format(exempt=LAZY_EXEMPT) + textwrap.dedent(code)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_lrlab_loads_no_third_party_package() -> None:
    """``import lrlab`` stays cheap (issue 15: <= 0.3 s, ``benchmarks/import_time.py``): the
    public names are lazy, so it loads lrlab's package module and its lazy-export helper and
    nothing of torch, numpy, matplotlib or the other dependencies."""
    got = _run(
        """
        before = set(sys.modules)
        import lrlab
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    third_party = ("torch", "numpy", "matplotlib", "rich", "typer", "pydantic", "yaml")
    assert [m for m in got if m.split(".")[0] in third_party] == []
    assert [m for m in got if m.startswith("lrlab")] == ["lrlab", "lrlab._lazy"]


def test_importing_the_cli_app_imports_no_heavy_module() -> None:
    got = _run(
        f"""
        import lrlab.cli.app
        loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)
        lrlab_modules = sorted(m for m in sys.modules if m.startswith("lrlab"))
        print(json.dumps({{"heavy": loaded, "lrlab": lrlab_modules}}))
        """
    )
    assert got["heavy"] == [], (
        f"imported at start-up: {got['heavy']} (lrlab modules: {got['lrlab']})"
    )
    # Every command module was imported (the app registers them all), the exempt ones stood in.
    assert "lrlab.cli.find" in got["lrlab"] and "lrlab.cli.tasks" in got["lrlab"]


def test_every_command_help_exits_0_without_heavy_imports() -> None:
    got = _run(
        f"""
        import contextlib, io
        from lrlab.cli.app import COMMANDS, main

        codes = {{}}
        for name, target in COMMANDS.items():
            if target.split(":")[0] in {LAZY_EXEMPT!r}:
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                codes[name] = main([name, "--help"])
        loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)
        print(json.dumps({{"codes": codes, "heavy": loaded}}))
        """
    )
    assert got["codes"] and set(got["codes"].values()) == {0}, got["codes"]
    assert {"find", "train", "tasks", "schedule"} <= set(got["codes"])
    assert got["heavy"] == [], f"`lrlab <command> --help` imported {got['heavy']}"


def test_lrlab_help_exits_0_in_a_fresh_process() -> None:
    """The real entry point, nothing stood in: the help lists every registered command."""
    from lrlab.cli.app import COMMANDS

    code = "import sys; from lrlab.cli.app import main; sys.exit(main(['--help']))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in COMMANDS:
        assert name in proc.stdout, name

"""The software and machine a run used, so that a reader can reproduce it.

:func:`environment` is called when a run happens (``lrlab demo`` saves it in ``demo.json``)
or, for directories that did not record one, when the report is written — the report says
which. Versions are read from the installed packages' metadata, so nothing heavy is
imported; ``device`` needs torch only when ``probe_device`` is asked for.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("lrlab", "torch", "numpy", "matplotlib")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask where the OS has one, as a pool sees)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def git_revision(path: str | os.PathLike | None = None) -> str | None:
    """``<short hash>`` (``+dirty`` with uncommitted changes to tracked files) of the git
    work tree at ``path`` (default: the current directory); ``None`` outside git or without
    the ``git`` program."""
    cwd = Path(path) if path is not None else Path.cwd()
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = head.stdout.strip()
    return f"{rev}+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else rev


def device_name(device: str = "auto") -> str:
    """What ``device`` resolves to, with the GPU's name for CUDA (imports torch)."""
    import torch

    from lrlab.devices import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"{dev} ({torch.cuda.get_device_name(dev)})"
    return str(dev)


def environment(*, device: str | None = None, git_path: str | os.PathLike | None = None) -> dict:
    """Versions, interpreter, platform, CPUs, git revision; ``device`` (e.g. ``"auto"``)
    adds the device it resolves to (this imports torch)."""
    env: dict[str, Any] = {f"{name} version": _version(name) for name in _PACKAGES}
    env["python"] = f"{platform.python_version()} ({sys.executable})"
    env["platform"] = platform.platform()
    env["CPUs available"] = cpu_count()
    if device is not None:
        env["device"] = device_name(device)
    env["git revision"] = git_revision(git_path)
    return env

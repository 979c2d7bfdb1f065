"""Helpers of the fault-injection tests (tests/test_faults.py): user factories that fail or
stop, a read-only directory, a command in a subprocess, and what "one line" means."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

SRC = str(Path(__file__).resolve().parent.parent / "src")
HERE = str(Path(__file__).resolve().parent)


def one_line(stderr: str, prefix: str = "lrlab: error:") -> str:
    """The single line starting with ``prefix`` (no traceback anywhere)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, stderr
    return lines[0]


def env() -> dict[str, str]:
    """A subprocess's environment: this checkout's lrlab, one thread per process."""
    path = os.pathsep.join([SRC, HERE, os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def lrlab(*args: str, **popen) -> subprocess.Popen:
    """``lrlab ARGS`` in a subprocess (stdout and stderr piped, text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "lrlab.cli.app", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        **popen,
    )


def running(pid: int) -> bool:
    """Alive and not a zombie (a container without init may leave zombies unreaped)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _kids(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(k) for k in out.split()]


def children(pid: int) -> list[int]:
    """Pool workers of ``pid``: the children of its fork server (or its own children when
    they were spawned), not multiprocessing's resource tracker nor the fork server."""
    workers = []
    for kid in _kids(pid):
        with contextlib.suppress(FileNotFoundError):
            cmd = Path(f"/proc/{kid}/cmdline").read_text().replace("\0", " ")
            if "forkserver" in cmd:
                workers += _kids(kid)
            elif "resource_tracker" not in cmd:
                workers.append(kid)
    return workers


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """``path`` made read-only for this process: a read-only bind mount where mounting is
    allowed (root ignores permission bits), else permission bits (a non-root user)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
    if mounted.returncode != 0:
        import pytest

        pytest.skip("root without mount rights: no way to make a read-only directory")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True)
        if ro.returncode != 0:
            import pytest

            pytest.skip("cannot remount read-only here")
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


# --------------------------------------------------------------------------- user factories


def _data(n: int = 256) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long()
    return {"train_data": (x, y), "eval_data": (x[:64], y[:64])}


def raises():
    """A factory with a bug of its own."""
    raise RuntimeError("my factory is broken")


def needs_width(width):
    """A factory lrlab cannot call: it needs an argument."""
    return nn.Linear(width, 2)


class _StopAt:
    """Batches of ``x, y``; the ``at``-th batch raises KeyboardInterrupt (Ctrl-C there)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, at: int) -> None:
        self.x, self.y, self.at, self.seen = x, y, at, 0

    def __iter__(self):
        for i in range(0, len(self.x), 16):
            self.seen += 1
            if self.seen == self.at:
                raise KeyboardInterrupt
            yield self.x[i : i + 16], self.y[i : i + 16]


def ctrl_c_at_batch_30(seed: int = 0) -> dict:
    """A small classifier whose training data is interrupted at its 30th batch."""
    torch.manual_seed(seed)
    data = _data()
    x, y = data["train_data"]
    return {
        "model": nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)),
        "criterion": nn.CrossEntropyLoss(),
        "train_data": _StopAt(x, y, at=30),
        "lr_range": (1e-4, 10.0),
    }


def small(seed: int = 0) -> dict:
    """The same classifier, data that runs to the end."""
    torch.manual_seed(seed)
    return {
        "model": nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)),
        "criterion": nn.CrossEntropyLoss(),
        "lr_range": (1e-4, 10.0),
        **_data(),
    }

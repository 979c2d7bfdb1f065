"""Module-level jobs for the process-pool tests (workers import them by name; no torch, so a
worker starts in a fraction of a second)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def double(x: int) -> int:
    return 2 * x


def started(job: tuple[str, int]) -> int:
    """Leave a file saying the job started, then run for a while, stopping early when the
    worker is asked to stop (what a trial does between steps)."""
    from lrlab.parallel.worker import STOP

    folder, n = job
    (Path(folder) / f"started-{n}").write_text(str(os.getpid()))
    for _ in range(200):
        if STOP:
            (Path(folder) / f"stopped-{n}").write_text("between two steps")
            return -n
        time.sleep(0.02)
    return n


def first_returns_at_once(job: tuple[str, int]) -> int:
    """Job 1 returns as soon as job 2 has started; the others run as :func:`started` (until
    asked to stop)."""
    folder, n = job
    if n == 1:
        (Path(folder) / "started-1").write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not (Path(folder) / "started-2").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return 1
    return started(job)


def dies_once(job: tuple[str, int]) -> int:
    """SIGKILL its own worker the first time (a worker killed mid-job), succeed the next."""
    folder, n = job
    marker = Path(folder) / f"died-{n}"
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return n


def always_dies(job: tuple[str, int]) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return job[1]


def pid(_: object) -> int:
    return os.getpid()

"""The process pool (lrlab.parallel.pool) on jobs without torch: one job per worker, Ctrl-C
stops running jobs between steps and starts none, a killed worker's job runs again once,
and workers die with their parent, SIGKILL included (issue 13)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import pool_jobs
from faults import running
from lrlab.parallel.pool import WorkerDied, WorkerPool

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_jobs_run_once_each_and_come_back_as_they_finish():
    pool = WorkerPool(2)
    done: list[tuple[int, int]] = []
    try:
        pool.run(pool_jobs.double, [1, 2, 3, 4, 5], lambda job, out: done.append((job, out)))
        pids: list[int] = []
        pool.run(pool_jobs.pid, [0, 1, 2, 3], lambda job, out: pids.append(out))
    finally:
        pool.close()
    assert sorted(done) == [(1, 2), (2, 4), (3, 6), (4, 8), (5, 10)]
    assert len(set(pids)) <= 2  # the same two workers served every job, both runs


def test_ctrl_c_starts_no_new_job_and_stops_running_ones_between_steps(tmp_path):
    """Issue 13: after Ctrl-C, queued trials started and ran to completion (9-17 s later).
    Here the caller is interrupted when the first result is back (a KeyboardInterrupt from
    ``on_done``, as the experiment runner raises on an interrupted trial)."""
    folder = str(tmp_path)
    jobs = [(folder, n) for n in range(1, 7)]
    seen: list[int] = []

    def on_done(job, out):
        seen.append(out)
        raise KeyboardInterrupt

    pool = WorkerPool(2)
    with pytest.raises(KeyboardInterrupt):  # job 1 returns at once, job 2 is still running
        pool.run(pool_jobs.first_returns_at_once, jobs, on_done)
    started = sorted(int(p.name.split("-")[1]) for p in tmp_path.glob("started-*"))
    assert started == [1, 2]  # one job per worker: nothing was queued ahead
    assert seen[0] == 1 and seen[1:] == [-2]  # job 2 stopped between steps, and was reported
    assert (tmp_path / "stopped-2").is_file()
    pool.close()


def test_a_killed_worker_fails_only_its_job_which_runs_once_more(tmp_path):
    lines: list[str] = []
    results: list[object] = []
    pool = WorkerPool(2, log=lines.append)
    try:
        pool.run(
            pool_jobs.dies_once,
            [(str(tmp_path), n) for n in range(3)],
            lambda job, out: results.append(out),
        )
        pool.run(pool_jobs.always_dies, [(str(tmp_path), 9)], lambda j, out: results.append(out))
    finally:
        pool.close()
    assert sorted(r for r in results if isinstance(r, int)) == [0, 1, 2]
    died = [r for r in results if isinstance(r, WorkerDied)]
    assert len(died) == 1 and "died (signal 9)" in str(died[0])
    assert sum("running it again" in line for line in lines) == 4  # 3 jobs + the retried one


_PARENT = textwrap.dedent(
    """
    import os, sys, time
    sys.path[:0] = {paths!r}
    import pool_jobs
    from lrlab.parallel.pool import WorkerPool

    pool = WorkerPool(2)
    pids = []
    pool.run(pool_jobs.pid, [0, 1], lambda job, out: pids.append(out))
    print(" ".join(map(str, sorted(set(pids)))), flush=True)
    time.sleep(60)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_parent_killed_by_sigkill():
    """Issue 13: killing `lrlab compare` left its pool workers training into the directory."""
    paths = [str(Path(pool_jobs.__file__).parent), *sys.path]
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT.format(paths=paths)], stdout=subprocess.PIPE, text=True
    )
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]  # type: ignore[union-attr]
        assert workers and all(running(p) for p in workers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 30
    while any(running(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(running(p) for p in workers)

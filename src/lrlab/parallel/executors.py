"""Executors: run a function over independent jobs — in-process, on a process pool, on Ray.

An executor calls ``fn(job)`` for every job and hands each ``(job, result)`` to ``on_done``
as soon as it is back, so the caller can save finished trials while others still run. A job
that raises is reported as ``(job, exception)``: one broken trial does not lose the others.
Every executor runs the same module-level functions on the same picklable jobs, and the
trial functions pin torch's thread count, so all three give identical records.

* ``sequential`` — a loop in this process.
* ``process`` — a local pool of ``workers`` processes (spawn context: no forked torch state;
  workers ignore Ctrl-C while idle, a running trial stops cleanly on it).
* ``ray`` — ``ray.remote`` tasks (one CPU each) on the cluster at ``address``, or on a local
  Ray started for the run (and shut down after it).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from lrlab.errors import InvalidArgument

Job = Any
OnDone = Callable[[Job, Any], None]


class Executor(Protocol):
    """``run(fn, jobs, on_done)``: call ``fn`` on every job; report each result (or the
    exception it raised) through ``on_done`` as soon as it is back.

    Used as a context manager, an executor keeps its workers (pool, Ray) between ``run``
    calls — the range tests behind ``auto`` and then the trials share one start-up.
    """

    name: str

    def run(self, fn: Callable[[Job], Any], jobs: Sequence[Job], on_done: OnDone) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class _Reusable:
    """``with executor:`` keeps resources between ``run`` calls; ``close()`` releases them."""

    def __enter__(self) -> Any:
        self._depth = getattr(self, "_depth", 0) + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.close()

    @property
    def _held(self) -> bool:
        return getattr(self, "_depth", 0) > 0

    def close(self) -> None:
        """Release the workers (nothing to do for an in-process executor)."""


class SequentialExecutor(_Reusable):
    """One job after the other, in this process."""

    name = "sequential"

    def run(self, fn: Callable[[Job], Any], jobs: Sequence[Job], on_done: OnDone) -> None:
        for job in jobs:
            try:
                result = fn(job)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # reported, not raised: the other jobs still run
                result = exc
            on_done(job, result)


def _worker_init(pids: Any) -> None:
    """Pool worker initializer. The worker leaves the terminal's process group, so Ctrl-C
    reaches the parent only, which forwards exactly one SIGINT to each worker (two could
    interrupt a trial while it saves its checkpoint); idle workers ignore it (a running
    trial re-enables it: ``trials.interruptible``)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pids.put(os.getpid())


class ProcessExecutor(_Reusable):
    """A local pool of ``workers`` spawned processes.

    On Ctrl-C: pending jobs are cancelled, one SIGINT is forwarded to each worker (a running
    trial saves its checkpoint and returns as "interrupted"), their results are collected,
    and ``KeyboardInterrupt`` is re-raised.
    """

    name = "process"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise InvalidArgument(f"workers={workers} must be >= 1.")
        self.workers = int(workers)
        self._pool: ProcessPoolExecutor | None = None
        self._pids: Any = None

    def _start(self, jobs: int) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pids = ctx.SimpleQueue()
            self._pool = ProcessPoolExecutor(
                # Held open for several runs: as many workers as asked; one run: no idle ones.
                # (Spawned processes start on demand, so an unused slot costs nothing.)
                max_workers=self.workers if self._held else min(self.workers, jobs),
                mp_context=ctx,
                initializer=_worker_init,
                initargs=(self._pids,),
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, fn: Callable[[Job], Any], jobs: Sequence[Job], on_done: OnDone) -> None:
        if not jobs:
            return
        pool = self._start(len(jobs))
        futures: dict[Future[Any], Job] = {pool.submit(fn, job): job for job in jobs}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    on_done(futures[fut], _result(fut))
        except KeyboardInterrupt:
            for fut in pending:
                fut.cancel()
            _forward_sigint(self._pids)
            for fut in [f for f in pending if not f.cancelled()]:
                with contextlib.suppress(BaseException):
                    on_done(futures[fut], _result(fut))
            self.close()
            raise
        finally:
            if not self._held:
                self.close()


def _result(fut: Future[Any]) -> Any:
    try:
        return fut.result()
    except Exception as exc:  # includes BrokenProcessPool: reported per job
        return exc


def _forward_sigint(pids: Any) -> None:
    while not pids.empty():
        with contextlib.suppress(OSError):
            os.kill(pids.get(), signal.SIGINT)


class RayExecutor(_Reusable):
    """Ray tasks, one CPU each: ``ray.init(address=address)`` when an address is given
    (a cluster: ``"auto"``, ``"ray://host:10001"``), else a local Ray with ``num_cpus``
    (started here and shut down after the run). A Ray already initialised is used as is.

    Trial results (records, outcome) come back to the driver, which writes the summaries;
    checkpoints and resume need the run directory on storage every node shares.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._started = False

    def _start(self) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                kwargs = {"address": self.address, "log_to_driver": False}
            elif self.num_cpus:
                kwargs["num_cpus"] = self.num_cpus
            ray.init(**kwargs)
            self._started = True  # ours to shut down
        return ray

    def close(self) -> None:
        if self._started:
            _import_ray().shutdown()
            self._started = False

    def run(self, fn: Callable[[Job], Any], jobs: Sequence[Job], on_done: OnDone) -> None:
        if not jobs:
            return
        ray = self._start()
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(fn)
            refs = {remote.remote(job): job for job in jobs}
            pending = list(refs)
            try:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    for ref in done:
                        on_done(refs[ref], _ray_result(ray, ref))
            except KeyboardInterrupt:
                for ref in pending:
                    with contextlib.suppress(Exception):
                        ray.cancel(ref)
                raise
        finally:
            if not self._held:
                self.close()


def _ray_result(ray: Any, ref: Any) -> Any:
    try:
        return ray.get(ref)
    except Exception as exc:
        # Ray wraps the task's exception; unwrap it so the caller sees the lrlab error.
        cause = getattr(exc, "cause", None)
        return cause if isinstance(cause, Exception) else exc


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise InvalidArgument(
            "executor='ray' needs Ray, which is not installed.",
            hint="pip install 'lrlab[ray]' (or use executor='process').",
        ) from exc
    return ray


EXECUTORS: dict[str, Callable[..., Executor]] = {
    "sequential": lambda workers=None, address=None: SequentialExecutor(),
    "process": lambda workers=None, address=None: ProcessExecutor(workers or default_workers()),
    "ray": lambda workers=None, address=None: RayExecutor(address=address, num_cpus=workers),
}


def default_workers() -> int:
    """The CPUs this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_executor(
    name: str = "auto",
    *,
    jobs: int,
    workers: int | None = None,
    address: str | None = None,
) -> Executor:
    """The executor for ``name``; ``"auto"`` is a process pool when more than one job and
    more than one worker exist, else sequential (``address`` given: Ray)."""
    if workers is not None and workers < 1:
        raise InvalidArgument(f"workers={workers} must be >= 1.")
    if name == "auto":
        if address:
            name = "ray"
        else:
            n = workers or default_workers()
            name = "process" if jobs > 1 and n > 1 else "sequential"
    if name not in EXECUTORS:
        raise InvalidArgument(
            f"executor={name!r} is not an executor.",
            hint=f"Use one of: auto, {', '.join(EXECUTORS)}.",
        )
    if address and name != "ray":
        raise InvalidArgument(
            f"address={address!r} is for executor='ray', not {name!r}.",
            hint="Use --executor ray with --address, or drop --address.",
        )
    if name == "process" and jobs > 0:
        workers = min(workers or default_workers(), jobs)  # no idle workers to spawn
    return EXECUTORS[name](workers=workers, address=address)

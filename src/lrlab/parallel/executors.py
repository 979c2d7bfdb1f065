"""Executors: run a function over independent jobs — in-process, on a process pool, on Ray.

An executor calls ``fn(job)`` for every job and hands each ``(job, result)`` to ``on_done``
as soon as it is back, so the caller can save finished trials while others still run. A job
that raises is reported as ``(job, exception)``: one broken trial does not lose the others.
Every executor runs the same module-level functions on the same picklable jobs, and the
trial functions pin torch's thread count, so all three give identical records.

* ``sequential`` — a loop in this process.
* ``process`` — a local pool of ``workers`` processes (:mod:`lrlab.parallel.pool`: spawned,
  so no forked torch state; started once; they die with this process; Ctrl-C stops running
  trials after their current step).
* ``ray`` — ``ray.remote`` tasks (one CPU each) on the cluster at ``address``, or on a local
  Ray started for the run (and shut down after it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from lrlab.errors import InvalidArgument
from lrlab.parallel.pool import WorkerPool
from lrlab.parallel.worker import warm_torch

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


# What every pool worker imports, once, in the fork server: torch, and torch._dynamo, which
# the first optimizer a process builds imports (as long again as torch itself).
TORCH_MODULES = ("torch", "torch._dynamo")
# ... and what an experiment's trial imports besides (module names: nothing is imported here).
TRIAL_MODULES = (*TORCH_MODULES, "lrlab.experiment.trials", "lrlab.train", "lrlab.tasks.run")


class ProcessExecutor(_Reusable):
    """A local pool of ``workers`` spawned processes (:class:`lrlab.parallel.pool.WorkerPool`:
    they warm up once with ``warm``, die with this process, and take one job at a time).

    :meth:`start` spawns them early, so they import torch while the caller prepares. On
    Ctrl-C / SIGTERM no new job starts, one SIGINT goes to each busy worker (a running trial
    stops after its current step and keeps its checkpoint), their results are reported and
    ``KeyboardInterrupt`` is re-raised.
    """

    name = "process"

    def __init__(
        self,
        workers: int,
        *,
        preload: Sequence[str] = TORCH_MODULES,
        warm: Callable[[], None] | None = warm_torch,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if workers < 1:
            raise InvalidArgument(f"workers={workers} must be >= 1.")
        self.workers = int(workers)
        self.preload = tuple(preload)
        self.warm = warm
        self.log = log
        self._pool: WorkerPool | None = None

    def start(self) -> None:
        """Start the workers now (idempotent)."""
        if self._pool is None:
            self._pool = WorkerPool(
                self.workers, preload=self.preload, warm=self.warm, log=self.log
            )
        self._pool.start()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def run(self, fn: Callable[[Job], Any], jobs: Sequence[Job], on_done: OnDone) -> None:
        if not jobs:
            return
        self.start()
        assert self._pool is not None
        try:
            self._pool.run(fn, jobs, on_done)
        except KeyboardInterrupt:
            self.close()  # interrupted workers are not reused
            raise
        finally:
            if not self._held:
                self.close()


RAY_RETRIES = 3  # runs of a task whose node died, after the first (Ray's own default)


class RayExecutor(_Reusable):
    """Ray tasks, one CPU each: ``ray.init(address=address)`` when an address is given
    (a cluster: ``"auto"``, ``"ray://host:10001"``), else a local Ray with ``num_cpus``
    (started here and shut down after the run). A Ray already initialised is used as is.

    Results travel through Ray: a trial's records and outcome, an ``auto`` range test's
    answer come back to the driver, which writes them into its run directory — nothing
    depends on a disk the nodes share. Checkpoints are written where the trial runs (the
    same path on that node), so resuming a trial on another node, after Ctrl-C or a node
    that died, needs ``--out`` on storage every node mounts (docs/ray.md); without it the
    trial starts over there. A task whose node dies is run again (:data:`RAY_RETRIES`).
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
            # A task whose worker or node dies runs again elsewhere (a trial resumes from
            # its checkpoint on shared storage, else starts over); its own errors are final.
            remote = ray.remote(num_cpus=1, max_retries=RAY_RETRIES, retry_exceptions=False)(fn)
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


# name -> a function of (workers, address, **pool options: warm, log).
EXECUTORS: dict[str, Callable[..., Executor]] = {
    "sequential": lambda workers=None, address=None, **_: SequentialExecutor(),
    "process": lambda workers=None, address=None, **pool: ProcessExecutor(
        workers or default_workers(), **pool
    ),
    "ray": lambda workers=None, address=None, **_: RayExecutor(address=address, num_cpus=workers),
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
    **pool: Any,
) -> Executor:
    """The executor for ``name``; ``"auto"`` is a process pool when more than one job and
    more than one worker exist, else sequential (``address`` given: Ray). ``pool``: options
    of the process pool (``preload``, ``warm``, ``log``: :class:`ProcessExecutor`)."""
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
    return EXECUTORS[name](workers=workers, address=address, **pool)

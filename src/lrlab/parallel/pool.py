"""A local pool of worker processes that start once, die with their parent and stop promptly.

Why not ``concurrent.futures.ProcessPoolExecutor``: it queues jobs to workers ahead of time
(a queued job cannot be cancelled, so after Ctrl-C it started and ran to the end), a worker
killed by a signal breaks the whole pool, and its workers outlive a parent killed with
SIGKILL, to go on writing run directories next to a re-run.

Here:

* **Start-up is paid once**: workers are forked from a *fork server* (a fresh process, not
  this one: no torch state is inherited) that imported torch and the callers' modules
  (``preload``: ``torch._dynamo`` too, which a first optimizer step imports) once for all of
  them; :meth:`WorkerPool.start` starts them at once, each runs ``warm`` while the parent
  still prepares, then serves job after job. (Where there is no fork server, workers are
  spawned and each imports for itself.)
* **At most one job per worker** is ever handed out: after Ctrl-C / SIGTERM no new job
  starts; running ones get one SIGINT, stop after their current step (the job's own code
  decides how: ``fit`` via :class:`lrlab.signals.StopOnRequest`) and their results are
  collected before ``KeyboardInterrupt`` is re-raised.
* **Workers die with their parent**, SIGKILL included: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``
  on Linux, a watchdog thread polling the parent elsewhere.
* **A worker that dies** (killed, out of memory) fails only its job, which runs once more on
  a fresh worker (trials resume from their checkpoint); a second death is reported as
  :class:`WorkerDied` for that job alone.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from lrlab.errors import LrlabError

Job = Any
OnDone = Callable[[Job, Any], None]
_RETRIES = 1  # a job whose worker died runs once more
_JOIN_S = 10.0  # how long close() waits for a worker to exit before killing it


class WorkerDied(LrlabError, RuntimeError):
    """A pool worker died while running a job (killed, or out of memory)."""


# --------------------------------------------------------------------------- the worker side


def _die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` does, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(Exception):  # best effort: the watchdog below stays
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)
            return

    def watchdog() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watchdog, name="lrlab-parent-watchdog", daemon=True).start()


def _serve(conn: Connection, owner: int, warm: Callable[[], None] | None) -> None:
    """A worker's life: die with its parent (the fork server, which ends with ``owner``, the
    pool's process; or ``owner`` itself when spawned), leave the terminal's process group
    (Ctrl-C reaches the owner, which forwards exactly one SIGINT to busy workers), turn
    SIGINT and SIGTERM into a stop request, say so ("ready"), warm up, then run jobs until
    told to stop."""
    from lrlab.parallel.worker import STOP

    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        os.setpgrp()
    STOP.install()
    _die_with_parent(parent)
    with contextlib.suppress(ProcessLookupError):  # the owner died before this one began
        os.kill(owner, 0)
        owner = 0
    if owner:
        os._exit(1)
    conn.send(("ready", os.getpid()))
    if warm is not None:
        with contextlib.suppress(Exception):
            warm()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = None
        if message is None:
            # Everything was sent and every file closed: skip the interpreter's clean-up,
            # which takes ~2 s once torch ran (its exit handlers), and stop now.
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(0)
        fn, job = message
        # A stop request is not cleared here: one sent just before this job arrived must
        # still stop it (the parent sends no new job after Ctrl-C).
        try:
            reply: tuple[str, Any] = ("done", fn(job))
        except BaseException as exc:  # reported with its job: one failure loses nothing else
            reply = ("done", exc)
        try:
            conn.send(reply)
        except Exception:  # an unpicklable result or exception: say what it was
            conn.send(("done", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]!r:.300}")))


# --------------------------------------------------------------------------- the parent side

_DEAD = object()  # what a worker that died answered


class _Worker:
    def __init__(self, ctx: Any, warm: Callable[[], None] | None) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        # Not a daemon: a job may start processes of its own (a DataLoader's workers).
        self.process = ctx.Process(
            target=_serve, args=(child, os.getpid(), warm), name="lrlab-worker", daemon=False
        )
        self.process.start()
        child.close()
        self.job: int | None = None  # index of the job it runs
        self.ready = False  # its SIGINT handler is installed

    def send(self, fn: Callable[[Job], Any], job: Job, index: int) -> None:
        self.conn.send((fn, job))
        self.job = index

    def receive(self) -> Any:
        """The job's result (``_DEAD`` if the worker died), or ``None`` when only its
        "ready" note was there."""
        while True:
            try:
                status, value = self.conn.recv()
            except (EOFError, OSError):
                return _DEAD
            if status == "done":
                return (value,)
            self.ready = True
            if not self.conn.poll():
                return None

    def interrupt(self) -> None:
        """Stop its job after the current step (one SIGINT); a worker not yet ready has
        started no job and is simply killed."""
        if not self.ready and self.conn.poll():
            self.receive()  # its "ready" note may be waiting
        with contextlib.suppress(OSError):
            os.kill(self.process.pid, signal.SIGINT if self.ready else signal.SIGKILL)  # type: ignore[arg-type]

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.conn.close()


class WorkerPool:
    """``workers`` spawned processes running ``fn(job)`` one job at a time each.

    ``preload``: modules the fork server imports once for every worker (it is started by the
    first pool of this process, with that pool's list); ``warm``: a module-level function each
    worker runs once at start; ``log``: where a line about a worker that died goes.
    """

    def __init__(
        self,
        workers: int,
        *,
        preload: Sequence[str] = (),
        warm: Callable[[], None] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.size = int(workers)
        self.warm = warm
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._ctx = _context(preload)
        self._workers: list[_Worker] = []

    def start(self) -> None:
        """Spawn the workers now (they warm up while the caller goes on)."""
        if not self._workers:
            # Before multiprocessing's own exit handler, which would wait for them forever.
            atexit.register(self.close)
        while len(self._workers) < self.size:
            self._workers.append(_Worker(self._ctx, self.warm))

    def close(self) -> None:
        """Tell every worker to exit; kill those still alive after a grace period."""
        atexit.unregister(self.close)
        workers, self._workers = self._workers, []
        for w in workers:
            if w.job is not None:
                w.interrupt()
            w.stop()
        deadline = time.monotonic() + _JOIN_S
        for w in workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join()

    def run(self, fn: Callable[[Job], Any], jobs: Sequence[Job], on_done: OnDone) -> None:
        """``fn(job)`` for every job on the workers; ``on_done(job, result or exception)`` as
        each comes back. Ctrl-C: no new job starts, running ones are interrupted and
        collected, then ``KeyboardInterrupt`` is raised."""
        self.start()
        todo = deque(range(len(jobs)))
        tries = [0] * len(jobs)
        try:
            while todo or self._busy():
                for w in self._workers:
                    if w.job is None and todo:
                        index = todo.popleft()
                        tries[index] += 1
                        w.send(fn, jobs[index], index)
                for w, index, reply in self._answers():
                    if reply is not _DEAD:
                        on_done(jobs[index], reply[0])
                        continue
                    death = self._replace(w)
                    if tries[index] <= _RETRIES:
                        self.log(f"  {_label(jobs[index])}: {death}; running it again.")
                        todo.appendleft(index)
                    else:
                        on_done(jobs[index], WorkerDied(f"{_label(jobs[index])}: {death}."))
        except KeyboardInterrupt:
            self._collect(jobs, on_done)
            raise
        except BaseException:
            self.close()  # an error of the caller's: leave no worker running
            raise

    # ---- helpers

    def _busy(self) -> list[_Worker]:
        return [w for w in self._workers if w.job is not None]

    def _answers(self) -> list[tuple[_Worker, int, Any]]:
        """Wait for busy workers; ``(worker, job index, (result,) or _DEAD)`` for each that
        finished its job or died (its job is cleared)."""
        busy = self._busy()
        handles: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(handles))
        out = []
        for w in busy:
            if w.conn in ready or w.process.sentinel in ready:
                reply = w.receive() if w.conn.poll() else _DEAD
                if reply is None:  # only "ready": the job runs on
                    continue
                index, w.job = w.job, None
                assert index is not None
                out.append((w, index, reply))
        return out

    def _replace(self, dead: _Worker) -> str:
        """Put a fresh worker in the dead one's place; say how it died."""
        dead.conn.close()
        dead.process.join()
        code = dead.process.exitcode
        self._workers[self._workers.index(dead)] = _Worker(self._ctx, self.warm)
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return f"its worker died ({how})"

    def _collect(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        """After Ctrl-C: one SIGINT to each busy worker, then their results (a second Ctrl-C
        stops waiting). Dead workers are dropped, not replaced."""
        for w in self._busy():
            w.interrupt()
        with contextlib.suppress(KeyboardInterrupt):
            while self._busy():
                for w, index, reply in self._answers():
                    if reply is _DEAD:
                        self._workers.remove(w)
                        w.conn.close()
                        w.process.join()
                        continue
                    # Every result is reported, also after one that says "stop".
                    with contextlib.suppress(Exception, KeyboardInterrupt):
                        on_done(jobs[index], reply[0])


def start_fork_server(preload: Sequence[str]) -> None:
    """Start this process's fork server now, importing ``preload`` (e.g. torch) in it, so that
    a pool made later forks ready workers at once: a command calls it first thing, and the
    fork server imports while the command imports and reads its config. (Nothing to do where
    there is no fork server.)"""
    if _context(preload).get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _context(preload: Sequence[str]) -> Any:
    """A fork server's context where the platform has one (its ``preload`` set while it is
    not running yet), else spawn's."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["lrlab.parallel.pool", *preload])
    return ctx


def _label(job: Job) -> str:
    return str(getattr(job, "label", None) or f"job {job!r:.60}")

"""Running a comparison's candidates: one after the other in this process, or on a local
pool of spawned processes (one torch thread each, same numbers as a sequential run with one
thread). Both return ``(finished candidates, interrupted, error)``: Ctrl-C keeps what
finished, and an error after some candidates finished is returned for the caller to attach
the partial result to.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import torch

from lrlab.compare.candidates import Job, generators, run_candidate
from lrlab.compare.result import CandidateResult
from lrlab.errors import InvalidArgument
from lrlab.snapshot import capture_rng, preserved, restore_rng

RunOutcome = tuple[list[CandidateResult], bool, BaseException | None]
OnCandidate = Callable[[CandidateResult], None] | None


def _interrupted(cand: CandidateResult) -> bool:
    conf = cand.confirmation
    return cand.range_test.stop_reason == "interrupted" or (
        conf is not None and conf.stop_reason == "interrupted"
    )


def run_sequential(job: Job, workers: int, progress: bool, on_candidate: OnCandidate) -> RunOutcome:
    """Every candidate (and repeat) in this process, each from the restored snapshot of the
    model, the optimizer, the RNG streams and the data loaders' generators."""
    instance = job.optimizer if isinstance(job.optimizer, torch.optim.Optimizer) else None
    gens = [g for c in job.candidates for g in generators(c.data)]
    gens = [g for i, g in enumerate(gens) if all(g is not h for h in gens[:i])]
    done: list[CandidateResult] = []
    interrupted = False
    error: BaseException | None = None
    with preserved(job.model, instance, rng=True) as snap:
        gen_states = [g.get_state() for g in gens]
        try:
            for k in range(len(job.candidates)):
                cand = None
                for r in range(job.repeats):
                    snap.restore()
                    for g, state in zip(gens, gen_states, strict=True):
                        g.set_state(state)
                    run = run_candidate(job, k, progress, r)
                    if cand is None:
                        cand = run
                        done.append(cand)
                    else:
                        cand.repeats.append(run.range_test)
                    if _interrupted(run):
                        interrupted = True
                        break
                if on_candidate is not None and cand is not None:
                    on_candidate(cand)
                if interrupted:
                    break
        except KeyboardInterrupt:
            interrupted = True
        except Exception as exc:
            if not done:
                raise  # nothing computed yet: the plain error is the clearest
            error = exc
        finally:
            for g, state in zip(gens, gen_states, strict=True):
                g.set_state(state)
    return done, interrupted, error


def _pool_job(payload: tuple[bytes, int, int]) -> CandidateResult:
    """Run in a pool worker: unpickle the job, restore the caller's RNG, run candidate k's
    repeat r."""
    from lrlab.parallel.worker import interruptible, torch_threads

    blob, k, r = payload
    job, rng = pickle.loads(blob)
    with torch_threads(1), interruptible():
        restore_rng(rng)
        return run_candidate(job, k, progress=False, r=r)


def run_pool(job: Job, workers: int, progress: bool, on_candidate: OnCandidate) -> RunOutcome:
    """Every (candidate, repeat) as a job on ``workers`` spawned processes."""
    from lrlab.parallel.executors import ProcessExecutor

    if isinstance(job.optimizer, torch.optim.Optimizer):
        # Workers start from the optimizer's hyper-parameters, with a fresh state each.
        with preserved(None, job.optimizer, rng=False):
            job.optimizer.state.clear()
            blob = _pickle(job)
    else:
        blob = _pickle(job)
    n = len(job.candidates)
    results: dict[tuple[int, int], CandidateResult] = {}
    errors: dict[tuple[int, int], BaseException] = {}

    def on_done(payload: tuple[bytes, int, int], out: Any) -> None:
        key = (payload[1], payload[2])
        if isinstance(out, BaseException):
            errors[key] = out
            return
        results[key] = out
        k = key[0]
        if on_candidate is not None and all((k, r) in results for r in range(job.repeats)):
            on_candidate(_assemble(results, k, job.repeats))

    jobs = [(blob, k, r) for k in range(n) for r in range(job.repeats)]
    interrupted = False
    try:
        ProcessExecutor(min(workers, len(jobs))).run(_pool_job, jobs, on_done)
    except KeyboardInterrupt:
        interrupted = True
    done = [_assemble(results, k, job.repeats) for k in range(n) if (k, 0) in results]
    interrupted = interrupted or any(_interrupted(c) for c in results.values())
    error = None
    if errors:
        error = errors[min(errors)]
        if not done:
            raise error
    return done, interrupted, error


def _assemble(
    results: dict[tuple[int, int], CandidateResult], k: int, repeats: int
) -> CandidateResult:
    """Candidate ``k`` from its first run and whichever repeats came back."""
    cand = results[(k, 0)]
    cand.repeats = [results[(k, r)].range_test for r in range(1, repeats) if (k, r) in results]
    return cand


def _pickle(job: Job) -> bytes:
    try:
        return pickle.dumps((job, capture_rng()))
    except Exception as exc:
        raise InvalidArgument(
            f"workers > 1 sends the model, optimizer, loss and data to worker processes, "
            f"but they cannot be pickled ({type(exc).__name__}: {exc}).",
            hint="Use module-level functions instead of lambdas (factories, step_fn, unpack), "
            "or workers=1.",
        ) from exc

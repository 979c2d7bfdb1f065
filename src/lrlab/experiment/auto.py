"""``auto`` learning rates: :func:`lrlab.find_lr` behind ``max_lr: auto`` / ``lr: auto``.

One ``find_lr`` per seed, optimizer setting, schedule and budget, from that seed's initial
weights — the objects of :func:`lrlab.tasks.build_run`, as every trial of the seed gets them —
for the variant's planned run (its schedule, the experiment's number of updates), with the
experiment's ``range_test`` section as its range test's settings (``eval_every`` set: metric
mode on find_lr's held-out batches). Cached as JSON under ``<experiment>/auto-lr/`` (the
answer, the whole :class:`~lrlab.finder.FindResult` and its range test) and reused by every
variant with the same planned run. :func:`auto_find` is that search without the cache
(``lrlab demo`` shows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrlab._io import jsonable, read_json, stable_hash, write_json
from lrlab.batches import num_batches
from lrlab.errors import InvalidArgument
from lrlab.experiment.config import Experiment
from lrlab.experiment.trials import seeded_start, total_steps
from lrlab.optim.registry import OptimizerSpec
from lrlab.parallel.worker import interruptible, torch_threads


@dataclass(frozen=True)
class AutoSpec:
    """One ``auto`` range test: a seed, an optimizer, and where its answer is cached."""

    experiment: dict[str, Any]
    variant: str  # a variant that uses this optimizer (for its overrides)
    seed: int
    cache: str

    @property
    def label(self) -> str:
        return f"auto-lr/seed-{self.seed}"


def auto_cache_path(
    root: str | Path, seed: int, choice: OptimizerSpec, plan: dict[str, Any] | None = None
) -> Path:
    """``<root>/auto-lr/seed-<n>-<optimizer hash>[-<planned run hash>].json``."""
    tail = "" if plan is None else f"-{stable_hash(plan)[:8]}"
    return Path(root) / "auto-lr" / f"seed-{int(seed)}-{choice.key()}{tail}.json"


def planned_run(exp: Experiment, variant: str) -> dict[str, Any]:
    """What ``auto`` depends on besides the seed and the optimizer: the variant's schedule
    (without the ``auto`` value) and the experiment's budget."""
    sched = exp.variant(variant).schedule
    params = {} if sched is None else {k: v for k, v in sched.params.items() if v != "auto"}
    plan: dict[str, Any] = {
        "schedule": None if sched is None else sched.name,
        "options": params,
        "epochs": exp.epochs,
        "iterations": exp.iterations,
        "accumulation_steps": exp.accumulation_steps,
        "batch_size": exp.batch_size,
    }
    # find_lr's short runs make the planned update (accumulation, clipping, autocast); an
    # answer cached by an earlier lrlab, whose short runs made plain updates, must not be
    # reused for a run that has one. (A plain run's cache name is unchanged.)
    update = {"grad_clip": exp.grad_clip, "amp": exp.amp}
    if exp.accumulation_steps > 1 or any(v not in (None, False) for v in update.values()):
        plan["update"] = {"accumulation_steps": exp.accumulation_steps, **update}
    return plan


def read_auto_lr(path: str | Path) -> float | None:
    """The cached suggestion, or ``None`` when there is no (complete) cache file."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        value = read_json(p).get("lr")
    except (OSError, ValueError):
        return None
    return None if value is None else float(value)


def auto_find(
    exp: Experiment, variant: str, seed: int, *, progress: bool = False
) -> tuple[Any, Any]:
    """``find_lr`` behind ``auto`` for (``variant``'s planned run, ``seed``): from the seed's
    initial weights, the variant's schedule over the experiment's number of updates, the
    range test over the task's window unless the ``range_test`` section says otherwise, with
    the experiment's accumulation, clipping and precision. Returns the
    :class:`~lrlab.finder.FindResult` (``config`` names the task and seed) and the run's
    objects. Runs in the calling thread's torch settings."""
    from lrlab.finder import find_lr

    v = exp.variant(variant)
    run = seeded_start(exp, v, seed)
    settings = exp.range_test.settings(
        run.task.lr_range,
        accumulation_steps=exp.accumulation_steps,
        grad_clip=exp.grad_clip,
        amp=run.amp,
    )
    steps = total_steps(exp, run.task, num_batches(run.data.train))
    if steps is None:
        raise InvalidArgument(
            f"variant {variant!r}: 'auto' needs the run's number of updates, and the training "
            "data has no length.",
            hint="Set iterations: in the experiment, or give the data a __len__.",
        )
    sched = v.schedule
    assert sched is not None  # only variants with an auto schedule get here
    options = {k: val for k, val in sched.params.items() if val != "auto"}
    result = find_lr(
        run.model,
        run.optimizer,
        run.criterion,
        run.data.train,
        total_steps=steps,
        schedule=sched.name,
        schedule_options=options,
        metrics=run.metrics,
        seed=int(seed),
        device=run.device,
        progress=progress,
        range_test=settings,
    )
    result.config.update({"task": run.task.name, "seed": int(seed), "variant": variant})
    if result.range_test is not None:
        result.range_test.config.update({"task": run.task.name, "seed": int(seed)})
    return result, run


def find_auto_lr(spec: AutoSpec) -> dict[str, Any]:
    """Run ``find_lr`` for one seed (:func:`auto_find`) in the experiment's thread setting;
    return what the cache file holds (``lr``: its answer), for the caller to write
    (:func:`write_auto_lr`): the answer travels back from a worker on another machine.
    Raises :class:`InvalidArgument` when it found none, ``KeyboardInterrupt`` when it was
    interrupted (an answer from a partial search is never cached)."""
    exp = Experiment.from_dict(spec.experiment)
    if read_auto_lr(spec.cache) is not None:
        return read_json(spec.cache)
    with torch_threads(exp.threads), interruptible():
        result, run = auto_find(exp, spec.variant, spec.seed)
    if not result.complete:
        raise KeyboardInterrupt
    record = {
        "seed": spec.seed,
        "lr": result.lr,
        "optimizer": run.optimizer_spec.to_dict(),
        "find": result.to_dict(),
        "range_test": None if result.range_test is None else result.range_test.to_dict(),
    }
    if result.lr is None:
        raise InvalidArgument(
            f"find_lr for seed {spec.seed} gave no learning rate to use for 'auto' "
            f"(flags: {', '.join(result.flags) or 'none'}).",
            hint="Widen the window (range_test: start_lr/end_lr), or set max_lr/lr to a number.",
        )
    return jsonable(record)


def write_auto_lr(path: str | Path, record: dict[str, Any]) -> float:
    """Cache a :func:`find_auto_lr` answer at ``path`` (atomically); return its LR."""
    write_json(path, record)
    return float(record["lr"])

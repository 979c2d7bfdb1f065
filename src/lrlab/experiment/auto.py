"""``auto`` learning rates: the range test behind ``max_lr: auto`` / ``lr: auto``.

One range test per seed (and per optimizer setting), from that seed's initial weights — the
objects of :func:`lrlab.tasks.build_run`, as every trial of the seed gets them — with the
experiment's ``range_test`` section as its settings (``eval_every`` set: metric mode), cached
as JSON under ``<experiment>/auto-lr/`` and reused by every variant that says ``auto``.
:func:`auto_range_test` is that range test, without the cache (``lrlab demo`` shows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrlab._io import jsonable, read_json, write_json
from lrlab.errors import InvalidArgument
from lrlab.experiment.config import Experiment
from lrlab.experiment.trials import seeded_start
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


def auto_cache_path(root: str | Path, seed: int, choice: OptimizerSpec) -> Path:
    """``<root>/auto-lr/seed-<n>-<optimizer hash>.json``."""
    return Path(root) / "auto-lr" / f"seed-{int(seed)}-{choice.key()}.json"


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


def auto_range_test(
    exp: Experiment, variant: str, seed: int, *, progress: bool = False
) -> tuple[Any, Any]:
    """The range test behind ``auto`` for (``variant``'s optimizer, ``seed``): from the
    seed's initial weights, over the task's window unless the ``range_test`` section says
    otherwise, with the experiment's accumulation, clipping and precision. Returns the
    :class:`~lrlab.finder.RangeTestResult` (``config`` names the task and seed) and the
    run's objects. Runs in the calling thread's torch settings."""
    from lrlab.finder import range_test

    run = seeded_start(exp, exp.variant(variant), seed)
    settings = exp.range_test.settings(
        run.task.lr_range,
        accumulation_steps=exp.accumulation_steps,
        grad_clip=exp.grad_clip,
        amp=run.amp,
    )
    metric_mode = settings.eval_every is not None
    if metric_mode and run.data.eval is None:
        raise InvalidArgument(
            f"range_test.eval_every={settings.eval_every} asks for metric mode, but task "
            f"{run.task.name!r} has no evaluation data.",
            hint="Drop range_test.eval_every, or give the task an eval split.",
        )
    result = range_test(
        run.model,
        run.optimizer,
        run.criterion,
        run.data.train,
        settings,
        eval_data=run.data.eval if metric_mode else None,
        metrics=run.metrics if metric_mode else None,
        chance=run.data.chance_level,
        device=run.device,
        progress=progress,
    )
    result.config.update({"task": run.task.name, "seed": int(seed)})
    return result, run


def find_auto_lr(spec: AutoSpec) -> dict[str, Any]:
    """Run the range test of one seed (:func:`auto_range_test`) in the experiment's thread
    setting; return what the cache file holds (``lr``: the suggestion), for the caller to
    write (:func:`write_auto_lr`): the answer travels back from a worker on another machine.
    Raises :class:`InvalidArgument` when the curve supports none, ``KeyboardInterrupt`` when
    it was interrupted (a partial sweep is never an answer)."""
    exp = Experiment.from_dict(spec.experiment)
    if read_auto_lr(spec.cache) is not None:
        return read_json(spec.cache)
    with torch_threads(exp.threads), interruptible():
        result, run = auto_range_test(exp, spec.variant, spec.seed)
    if result.stop_reason == "interrupted":
        raise KeyboardInterrupt
    suggestion = result.suggestion
    lr = None if suggestion is None else suggestion.lr
    record = {
        "seed": spec.seed,
        "lr": lr,
        "optimizer": run.optimizer_spec.to_dict(),
        "suggestion": jsonable(suggestion),
        "range_test": result.to_dict(),
    }
    if lr is None:
        flags = "; ".join(getattr(suggestion, "flags", []) or []) or "no flags"
        raise InvalidArgument(
            f"The range test for seed {spec.seed} gave no learning rate to use for 'auto' "
            f"({flags}).",
            hint="Widen the window (range_test: start_lr/end_lr), or set max_lr/lr to a number.",
        )
    return jsonable(record)


def write_auto_lr(path: str | Path, record: dict[str, Any]) -> float:
    """Cache a :func:`find_auto_lr` answer at ``path`` (atomically); return its LR."""
    write_json(path, record)
    return float(record["lr"])

"""Experiment configs: the :class:`Experiment` model, its fingerprint, and YAML loading.

An experiment is a task (or a user factory), a budget, a base optimizer, a list of variants
(each a schedule and optional optimizer overrides) and a list of seeds. The same experiment
is written in YAML::

    name: onecycle-vs-constant
    task: mnist1d-mlp
    seeds: [0, 1, 2]
    epochs: 6
    optimizer: {name: sgd, lr: 0.01, momentum: 0.9, weight_decay: 5e-4}
    variants:
      - name: control
        schedule: {name: constant, lr: 0.01}
      - name: one-cycle
        schedule: {name: one-cycle, max_lr: auto}     # auto: a range test picks it

or from Python as ``Experiment(name=..., task=..., variants=[Variant(...), ...])``.

The sections (optimizer, schedule, variant, evaluation, range test, analysis) are
:mod:`lrlab.experiment.sections`; every model forbids unknown keys, and a validation error
reaches the user as one :class:`lrlab.errors.InvalidArgument` whose lines read
``field.path: problem (allowed: …)`` (:mod:`lrlab.experiment.problems`).
docs/experiments.md is the reference of every field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, StrictInt, field_validator, model_validator

from lrlab._io import stable_hash
from lrlab._yaml import read_yaml
from lrlab.errors import InvalidArgument, LrlabError
from lrlab.experiment import peaks
from lrlab.experiment.problems import format_errors, unknown_name
from lrlab.experiment.sections import (
    AUTO_PARAMS,
    STEP_PARAMS,
    EvalConfig,
    Name,
    OptimizerConfig,
    RangeTestConfig,
    ScheduleConfig,
    Variant,
    _Model,
    _task_names,
)

__all__ = [
    "AUTO_PARAMS",
    "STEP_PARAMS",
    "AnalysisConfig",
    "EvalConfig",
    "Experiment",
    "OptimizerConfig",
    "RangeTestConfig",
    "ScheduleConfig",
    "Variant",
    "format_errors",
    "load_experiment",
]

_FACTORY = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class AnalysisConfig(_Model):
    """How the comparison is measured (analysis only: changing it never re-runs a trial).

    ``metric``: the metric compared (default: accuracy when recorded); ``spike_threshold``:
    a loss spike is a rise above ``(1 + threshold) ×`` the running minimum;
    ``plateau_tol``: the initial plateau ends when accuracy exceeds chance + tol;
    ``head_to_head``: also write the head-to-head summary (95 % intervals, time to target
    with the finder's cost charged, the LRs the LR-free optimizers estimated:
    :mod:`lrlab.experiment.headtohead`).
    """

    metric: str | None = None
    spike_threshold: float = Field(default=0.05, ge=0)
    plateau_tol: float = Field(default=0.01, ge=0)
    head_to_head: bool = False


class Experiment(_Model):
    """A controlled experiment: variants × seeds on one task. See docs/experiments.md."""

    name: Name
    description: str = ""
    task: str | None = None
    factory: str | None = Field(default=None, pattern=_FACTORY)
    task_options: dict[str, Any] = Field(default_factory=dict)
    seeds: list[Annotated[StrictInt, Field(ge=0)]] = Field(default_factory=lambda: [0, 1, 2])
    epochs: StrictInt | None = Field(default=None, gt=0)
    iterations: StrictInt | None = Field(default=None, gt=0)
    batch_size: StrictInt | None = Field(default=None, gt=0)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    variants: list[Variant] = Field(min_length=1)
    control: str | None = None
    target: float | None = None
    device: str = "auto"
    threads: StrictInt = Field(default=1, ge=1)
    grad_clip: float | None = Field(default=None, gt=0)
    accumulation_steps: StrictInt = Field(default=1, ge=1)
    amp: Literal[False, "bf16", "fp16"] | None = None
    checkpoint_every: StrictInt | None = Field(default=1, ge=1)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    range_test: RangeTestConfig = Field(default_factory=RangeTestConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str | None) -> str | None:
        if v is not None:
            names = _task_names()
            if v not in names:
                raise unknown_name("task", v, names)
        return v

    @model_validator(mode="after")
    def _task_options(self) -> Experiment:
        if self.task is not None and self.task_options:
            from lrlab.tasks import get_task

            try:
                get_task(self.task, **self.task_options)
            except LrlabError as exc:
                raise ValueError(f"task_options: {exc}") from None
        return self

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("at least one seed is needed (e.g. seeds: [0, 1, 2])")
        dupes = sorted({s for s in v if v.count(s) > 1})
        if dupes:
            raise ValueError(f"duplicate seeds {dupes}")
        return v

    @field_validator("target")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"target={v} must be a finite number")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        if (self.task is None) == (self.factory is None):
            raise ValueError(
                "task/factory: give exactly one of task (a built-in task name) or factory "
                "('pkg.module:function')"
            )
        if self.epochs is not None and self.iterations is not None:
            raise ValueError("epochs/iterations: give one budget, not both")
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"variants: duplicate names {dupes} (each names a directory)")
        if self.control is not None and self.control not in names:
            raise ValueError(f"control: {self.control!r} is not a variant (allowed: {names})")
        peaks.references(self._schedule_params())
        for i, v in enumerate(self.variants):
            if v.schedule is None:
                continue
            needs_lr = "lr" in v.schedule.required() and "lr" not in v.schedule.params
            if needs_lr and self.optimizer.merged(v.optimizer).lr is None and not self._task_lr():
                raise ValueError(
                    f"variants[{i}].schedule.lr: schedule {v.schedule.name!r} of variant "
                    f"{v.name!r} needs lr (a number or 'auto'), or an optimizer lr to take it from"
                )
        return self

    def _task_lr(self) -> float | None:
        if self.task is None:
            return None
        from lrlab.tasks import get_task

        lr = get_task(self.task, **self.task_options).optimizer.kwargs.get("lr")
        return None if lr is None else float(lr)

    # ----------------------------------------------------------------- derived

    @property
    def control_name(self) -> str:
        """The control variant: ``control`` if given, else the first variant."""
        return self.control or self.variants[0].name

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise InvalidArgument(
            f"No variant named {name!r} in experiment {self.name!r}.",
            hint=f"Known: {[v.name for v in self.variants]}.",
        )

    def lr_source(self, name: str) -> str:
        """The variant whose peak LR variant ``name`` takes: the one its schedule names with
        ``{same_as: ...}``, else ``name`` itself (:mod:`lrlab.experiment.peaks`)."""
        return peaks.references(self._schedule_params()).get(name, name)

    def _schedule_params(self) -> list[tuple[str, dict[str, Any]]]:
        return [(v.name, {} if v.schedule is None else v.schedule.params) for v in self.variants]

    def needs_auto(self, name: str) -> bool:
        """Whether variant ``name``'s peak LR is an ``auto`` answer (its own or another's)."""
        return self.variant(self.lr_source(name)).auto

    def with_seeds(self, seeds: Sequence[int]) -> Experiment:
        """The same experiment over other seeds (validated)."""
        return Experiment(**{**self.to_dict(), "seeds": list(seeds)})

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-ready); :meth:`from_dict` inverts it."""
        d = self.model_dump(mode="json")
        d["variants"] = [
            {**v, "schedule": None if (sc := self.variants[i].schedule) is None else sc.to_dict()}
            for i, v in enumerate(d["variants"])
        ]
        d["range_test"] = self.range_test.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        return cls(**dict(data))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def fingerprint(self) -> str:
        """A hash of everything that changes trial results (not seeds, analysis, control,
        target, description or checkpoint_every): two configs with the same fingerprint may
        share a run directory."""
        return stable_hash(self.result_fields())

    def result_fields(self) -> dict[str, Any]:
        d = self.to_dict()
        for key in ("seeds", "analysis", "control", "target", "description", "checkpoint_every"):
            d.pop(key, None)
        return d


# --------------------------------------------------------------------------- loading


def load_experiment(source: str | Path | Mapping[str, Any] | Experiment) -> Experiment:
    """An :class:`Experiment` from a YAML file, a dict, or an experiment (returned as is).

    YAML syntax errors and validation problems raise :class:`InvalidArgument` naming the
    file, the line (syntax) or the field path (validation).
    """
    if isinstance(source, Experiment):
        return source
    if isinstance(source, Mapping):
        return Experiment(**dict(source))
    path = Path(source)
    if not path.exists():
        raise InvalidArgument(
            f"Experiment config {str(path)!r} does not exist.",
            hint="Pass the path of a YAML file (see examples/experiments/).",
        )
    data = read_yaml(path, what="experiment config")
    if not isinstance(data, Mapping):
        raise InvalidArgument(
            f"{path}: the top level must be a mapping of keys (name:, task:, variants:, ...), "
            f"got {type(data).__name__}."
        )
    try:
        return Experiment(**dict(data))
    except LrlabError as exc:
        raise InvalidArgument(f"{path}: {exc}") from None

"""Experiment configs: pydantic models, YAML loading, and errors that name the field.

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

Every model forbids unknown keys. A :class:`pydantic.ValidationError` never reaches the
user: :func:`format_errors` turns it into one :class:`lrlab.errors.InvalidArgument` whose
lines read ``field.path: problem (allowed: …)``, with "did you mean …" for misspelt keys and
names. docs/experiments.md is the reference of every field.
"""

from __future__ import annotations

import contextvars
import difflib
import inspect
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lrlab._io import stable_hash
from lrlab.errors import InvalidArgument, LrlabError

# Schedule parameters that may be "auto" (= the range test's suggestion).
AUTO_PARAMS = ("max_lr", "lr")
# Schedule parameters lrlab fills in when a variant leaves them out.
STEP_PARAMS = ("total_steps",)

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # becomes a directory name
_FACTORY = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"

Name = Annotated[str, Field(pattern=_NAME, max_length=100)]


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _unknown(kind: str, word: str, choices: Sequence[str]) -> ValueError:
    allowed = ", ".join(sorted(str(c) for c in choices))
    return ValueError(f"unknown {kind} {word!r} ({_did_you_mean(word, choices)}allowed: {allowed})")


def _policies() -> dict[str, Any]:
    from lrlab.schedules import POLICIES

    return dict(POLICIES)


def _task_names() -> list[str]:
    from lrlab.tasks import TASKS

    return sorted(TASKS)


def _optimizer_names() -> list[str]:
    from lrlab.optim.registry import OPTIMIZERS

    return sorted(OPTIMIZERS)


_VALIDATING: contextvars.ContextVar[bool] = contextvars.ContextVar("validating", default=False)


class _Checked(BaseModel):
    """Base: instances are immutable; a validation error is an :class:`InvalidArgument`."""

    model_config = ConfigDict(frozen=True)

    def __init__(self, /, **data: Any) -> None:
        # Pydantic calls __init__ of nested models too: only the outermost call converts,
        # so the nested errors reach it with their full field paths.
        if _VALIDATING.get():
            super().__init__(**data)
            return
        token = _VALIDATING.set(True)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidArgument(format_errors(exc, type(self))) from None
        finally:
            _VALIDATING.reset(token)


class _Model(_Checked):
    """A config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OptimizerConfig(_Model):
    """The optimizer: a name and its hyper-parameters (``None`` = the task's default).

    ``momentum`` is SGD/RMSprop's momentum, or Adam's ``betas[0]`` when ``betas`` is not
    given (one-cycle's cyclical momentum drives the same slot).
    """

    name: str | None = None
    lr: float | None = Field(default=None, gt=0)
    momentum: float | None = Field(default=None, ge=0, lt=1)
    nesterov: bool | None = None
    weight_decay: float | None = Field(default=None, ge=0)
    betas: tuple[float, float] | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v.lower() not in _optimizer_names():
            raise _unknown("optimizer", v, _optimizer_names())
        return None if v is None else v.lower()

    @field_validator("betas")
    @classmethod
    def _betas(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not all(0 <= b < 1 for b in v):
            raise ValueError(f"betas={list(v)} must both be in [0, 1)")
        return v

    def merged(self, override: OptimizerConfig | None) -> OptimizerConfig:
        """This config with the fields ``override`` sets replacing ours."""
        if override is None:
            return self
        update = {k: v for k, v in override.model_dump().items() if v is not None}
        return OptimizerConfig(**{**self.model_dump(), **update})


class ScheduleConfig(_Checked):
    """A schedule: a policy name (``lrlab.schedules.POLICIES``) and its parameters.

    Parameters are the policy constructor's keyword arguments, written next to ``name``
    (``{name: one-cycle, max_lr: 0.1, pct_start: 0.25}``). ``max_lr``/``lr`` may be
    ``"auto"``; ``total_steps`` is filled in from the budget when left out; a missing ``lr``
    is the optimizer's ``lr``. A bare string is a policy without parameters.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, Mapping):
            # Numbers written as strings ("1e4": YAML 1.1 needs a dot) become numbers.
            return {k: v if k == "name" else _number(v) for k, v in data.items()}
        return data

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        policies = _policies()
        key = v.strip().lower().replace("_", "-")
        if key not in policies:
            raise _unknown("schedule", v, list(policies))
        return key

    @model_validator(mode="after")
    def _params(self) -> ScheduleConfig:
        signature = inspect.signature(_policies()[self.name])
        accepted = [
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        varkw = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        for key, value in self.params.items():
            if key not in accepted and not varkw:
                raise ValueError(
                    f"{key!r} is not a parameter of schedule {self.name!r} "
                    f"({_did_you_mean(key, accepted)}allowed: {', '.join(accepted)})"
                )
            if value == "auto" and key not in AUTO_PARAMS:
                raise ValueError(
                    f"{key}='auto' is not supported (only {' and '.join(AUTO_PARAMS)} may be auto)"
                )
            # A parameter with a text default (wsd's decay, cyclic's mode) takes text: the
            # policy checks its value when probed.
            text = isinstance(getattr(signature.parameters.get(key), "default", None), str)
            if isinstance(value, str) and value != "auto" and not text:
                raise ValueError(f"{key}={value!r} must be a number or 'auto'")
        # lr may come from the optimizer (checked by Experiment); the rest must be here.
        missing = [p for p in self.required() if p != "lr" and p not in self.params]
        if missing:
            auto = [p for p in missing if p in AUTO_PARAMS]
            raise ValueError(
                f"schedule {self.name!r} needs {', '.join(missing)}"
                + (f" (a number or 'auto' for {', '.join(auto)})" if auto else "")
            )
        self._probe()
        return self

    def _probe(self) -> None:
        """Build the schedule once with stand-ins (auto → 0.1, a long budget) so bad values
        (``pct_start: 2``) are reported now, with their field, not when a trial starts."""
        from lrlab.schedules import build

        params = {k: (0.1 if v == "auto" else v) for k, v in self.params.items()}
        if "lr" in self.required() and "lr" not in params:
            params["lr"] = 0.1
        for key in STEP_PARAMS:
            if key not in params and self.accepts(key):
                params[key] = 100_000
        try:
            build(self.name, **params)
        except LrlabError as exc:
            raise ValueError(str(exc)) from None

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as written (everything but ``name``)."""
        return dict(self.model_extra or {})

    @property
    def auto(self) -> bool:
        """Whether a parameter asks for the range test's suggestion."""
        return any(v == "auto" for v in self.params.values())

    def required(self) -> list[str]:
        """Constructor parameters without a default (total_steps excluded: lrlab fills it)."""
        signature = inspect.signature(_policies()[self.name])
        return [
            p.name
            for p in signature.parameters.values()
            if p.default is p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in STEP_PARAMS
        ]

    def accepts(self, param: str) -> bool:
        return param in inspect.signature(_policies()[self.name]).parameters

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}


def _number(value: Any) -> Any:
    if isinstance(value, str) and value != "auto":
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                continue
    return value


class Variant(_Model):
    """One arm of the comparison: a name, a schedule, optional optimizer overrides."""

    name: Name
    schedule: ScheduleConfig
    optimizer: OptimizerConfig | None = None


class EvalConfig(_Model):
    """Evaluation after every epoch (and before training, epoch 0).

    ``batches``: evaluate on the first N batches only (a fixed subsample; ``None`` = all).
    """

    enabled: bool = True
    batches: int | None = Field(default=None, gt=0)


class RangeTestConfig(_Model):
    """The range test behind ``auto`` (``None`` = the task's LR window)."""

    start_lr: float | None = Field(default=None, gt=0)
    end_lr: float | None = Field(default=None, gt=0)
    num_iter: int = Field(default=100, ge=10)
    step_mode: Literal["exp", "linear"] = "exp"

    @model_validator(mode="after")
    def _window(self) -> RangeTestConfig:
        if self.start_lr is not None and self.end_lr is not None and self.start_lr >= self.end_lr:
            raise ValueError(f"start_lr={self.start_lr} must be below end_lr={self.end_lr}")
        return self


class AnalysisConfig(_Model):
    """How the comparison is measured (analysis only: changing it never re-runs a trial).

    ``metric``: the metric compared (default: accuracy when recorded); ``spike_threshold``:
    a loss spike is a rise above ``(1 + threshold) ×`` the running minimum;
    ``plateau_tol``: the initial plateau ends when accuracy exceeds chance + tol.
    """

    metric: str | None = None
    spike_threshold: float = Field(default=0.05, ge=0)
    plateau_tol: float = Field(default=0.01, ge=0)


class Experiment(_Model):
    """A controlled experiment: variants × seeds on one task. See docs/experiments.md."""

    name: Name
    description: str = ""
    task: str | None = None
    factory: str | None = Field(default=None, pattern=_FACTORY)
    task_options: dict[str, Any] = Field(default_factory=dict)
    seeds: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [0, 1, 2])
    epochs: int | None = Field(default=None, gt=0)
    iterations: int | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    variants: list[Variant] = Field(min_length=1)
    control: str | None = None
    target: float | None = None
    device: str = "auto"
    threads: int = Field(default=1, ge=1)
    grad_clip: float | None = Field(default=None, gt=0)
    accumulation_steps: int = Field(default=1, ge=1)
    amp: Literal[False, "bf16", "fp16"] | None = None
    checkpoint_every: int | None = Field(default=1, ge=1)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    range_test: RangeTestConfig = Field(default_factory=RangeTestConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str | None) -> str | None:
        if v is not None:
            names = _task_names()
            if v not in names:
                raise _unknown("task", v, names)
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
        for i, v in enumerate(self.variants):
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

    def with_seeds(self, seeds: Sequence[int]) -> Experiment:
        """The same experiment over other seeds (validated)."""
        return Experiment(**{**self.to_dict(), "seeds": list(seeds)})

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-ready); :meth:`from_dict` inverts it."""
        d = self.model_dump(mode="json")
        d["variants"] = [
            {**v, "schedule": self.variants[i].schedule.to_dict()}
            for i, v in enumerate(d["variants"])
        ]
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


# --------------------------------------------------------------------------- errors


def _loc(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _unwrap(annotation: Any) -> list[Any]:
    """The classes inside ``X | None``, ``list[X]``, ``Annotated[X, ...]``."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        return [c for a in typing.get_args(annotation) for c in _unwrap(a)]
    return [annotation]


def _model_at(root: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model class that owns the key at ``loc`` (for "allowed keys" lists)."""
    current: type[BaseModel] | None = root
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        models = [
            c for c in _unwrap(field.annotation) if inspect.isclass(c) and issubclass(c, BaseModel)
        ]
        current = models[0] if models else None
    return current


def _problem(err: Mapping[str, Any], root: type[BaseModel]) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        owner = _model_at(root, loc[:-1])
        allowed = sorted(owner.model_fields) if owner else []
        hint = _did_you_mean(loc[-1], allowed)
        return f"unknown key ({hint}allowed: {', '.join(allowed)})"
    if kind == "missing":
        return "required but missing"
    msg = str(err["msg"])
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{err['input']!r} is not allowed (allowed: {expected})"
    got = err.get("input")
    if isinstance(got, (dict, list)) or got is None:
        return msg[0].lower() + msg[1:]
    return f"{msg[0].lower() + msg[1:]} (got {got!r})"


def format_errors(exc: ValidationError, root: type[BaseModel]) -> str:
    """One message, one line per problem: ``field.path: problem (allowed: …)``."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        # Pydantic appends the validator kind to the path of union members; drop it.
        loc = [p for p in loc if not (isinstance(p, str) and p in ("function-after", "str"))]
        # Cross-field checks (model validators) have no location: their message names it.
        where = f"{_loc(loc)}: " if loc else ""
        lines.append(f"  {where}{_problem(err, root)}")
    n = len(lines)
    head = f"Invalid experiment config ({n} problem{'s' if n > 1 else ''}):"
    if root is not Experiment:
        head = f"Invalid {root.__name__} ({n} problem{'s' if n > 1 else ''}):"
    return "\n".join([head, *lines])


# --------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``5e-4`` as a float (YAML 1.1 wants ``5.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


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
    if not path.is_file():
        raise InvalidArgument(
            f"Experiment config {str(path)!r} does not exist.",
            hint="Pass the path of a YAML file (see examples/experiments/).",
        )
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidArgument(f"{path}:{where}: not valid YAML: {problem}.") from None
    if not isinstance(data, Mapping):
        raise InvalidArgument(
            f"{path}: the top level must be a mapping of keys (name:, task:, variants:, ...), "
            f"got {type(data).__name__}."
        )
    try:
        return Experiment(**dict(data))
    except LrlabError as exc:
        raise InvalidArgument(f"{path}: {exc}") from None

"""The sections of an experiment config: optimizer, schedule, variant, evaluation, the range
test behind ``auto`` (pydantic models; docs/experiments.md is the reference; the analysis
section is :mod:`lrlab.experiment.config`'s).

Every model is immutable and forbids unknown keys; a validation error is one
:class:`lrlab.errors.InvalidArgument` naming the field (:mod:`lrlab.experiment.problems`).
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from lrlab.errors import InvalidArgument, LrlabError
from lrlab.experiment import peaks
from lrlab.experiment.problems import did_you_mean, format_errors, unknown_name
from lrlab.schedules.registry import coerce
from lrlab.train.budget import LENGTH_PARAMS

# Schedule parameters that may be "auto" (= the range test's suggestion) or {same_as: V}.
AUTO_PARAMS = peaks.PEAK_PARAMS
# Schedule parameters lrlab fills in when a variant leaves them out: the run's length.
STEP_PARAMS = LENGTH_PARAMS

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # becomes a directory name
Name = Annotated[str, Field(pattern=_NAME, max_length=100)]


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


class OptimizerConfig(_Checked):
    """The optimizer: a name and its hyper-parameters (``None`` = the task's default).

    ``momentum`` is SGD/RMSprop's momentum, or Adam's ``betas[0]`` when ``betas`` is not
    given (one-cycle's cyclical momentum drives the same slot). Any other key is a keyword
    argument of the optimizer's class (``safeguard_warmup: true`` for Prodigy), checked
    against it when the section names the optimizer.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str | None = None
    lr: float | None = Field(default=None, gt=0)
    momentum: float | None = Field(default=None, ge=0, lt=1)
    nesterov: StrictBool | None = None
    weight_decay: float | None = Field(default=None, ge=0)
    betas: tuple[float, float] | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v.lower() not in _optimizer_names():
            raise unknown_name("optimizer", v, _optimizer_names())
        return None if v is None else v.lower()

    @model_validator(mode="after")
    def _options(self) -> OptimizerConfig:
        """An optimizer from an extra must be installed; other keys must be its arguments."""
        if self.name is None:
            return self
        from lrlab.optim.registry import optimizer_class

        # A missing extra raises MissingExtra straight through (not a config problem: one
        # line naming the pip command).
        accepted = list(inspect.signature(optimizer_class(self.name)).parameters)
        for key in self.options:
            if key not in accepted:
                raise ValueError(
                    f"{key!r} is not an argument of optimizer {self.name!r} "
                    f"({did_you_mean(key, accepted)}allowed: {', '.join(accepted[1:])})"
                )
        return self

    @property
    def options(self) -> dict[str, Any]:
        """The optimizer's other keyword arguments, as written."""
        return dict(self.model_extra or {})

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
    (``{name: one-cycle, max_lr: 0.1, pct_start: 0.25}``), or ``peak_lr`` and the options of
    :func:`lrlab.schedules.for_run` (the policy planned for the run: ``{name: wsd, peak_lr:
    0.1, decay_fraction: 0.2}``). The peak may be ``"auto"`` or ``{same_as: VARIANT}``
    (:mod:`lrlab.experiment.peaks`); ``total_steps`` is filled in from the budget when left
    out; a missing ``lr`` is the optimizer's ``lr``. A bare string is a policy without
    parameters.
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
            return {k: v if k == "name" else coerce(v) for k, v in data.items()}
        return data

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        policies = _policies()
        key = v.strip().lower().replace("_", "-")
        if key not in policies:
            raise unknown_name("schedule", v, list(policies))
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
            # The planned form's options (fractions, ratios) are checked by for_run below.
            if key not in accepted and not varkw and not self.planned:
                raise ValueError(
                    f"{key!r} is not a parameter of schedule {self.name!r} "
                    f"({did_you_mean(key, accepted)}allowed: {', '.join(accepted)}, or "
                    "peak_lr and for_run's options)"
                )
            # A parameter with a text default (wsd's decay, cyclic's mode) takes text: the
            # policy checks its value when probed.
            text = isinstance(getattr(signature.parameters.get(key), "default", None), str)
            peaks.check_value(key, value, text=text)
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
        from lrlab.schedules import build, for_run

        params = {
            k: (0.1 if v == "auto" or peaks.same_as(v) else v) for k, v in self.params.items()
        }
        if self.planned:
            try:
                for_run(self.name, params.pop("peak_lr"), 100_000, **params)
            except LrlabError as exc:
                raise ValueError(str(exc)) from None
            return
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
    def planned(self) -> bool:
        """The ``peak_lr`` form: :func:`lrlab.schedules.for_run` plans the policy for the run."""
        return "peak_lr" in self.params

    @property
    def auto(self) -> bool:
        """Whether a parameter asks for the range test's suggestion."""
        return any(v == "auto" for v in self.params.values())

    def required(self) -> list[str]:
        """Constructor parameters without a default (total_steps excluded: lrlab fills it;
        nothing in the planned form)."""
        if self.planned:
            return []
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


class Variant(_Model):
    """One arm of the comparison: a name, a schedule, optional optimizer overrides.

    ``schedule: none`` (or ``null``) keeps the optimizer's own LR throughout.
    """

    name: Name
    schedule: ScheduleConfig | None
    optimizer: OptimizerConfig | None = None

    @field_validator("schedule", mode="before")
    @classmethod
    def _none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and v.strip().lower() == "none" else v

    @property
    def auto(self) -> bool:
        """Whether the schedule asks for the range test's suggestion."""
        return self.schedule is not None and self.schedule.auto


class EvalConfig(_Model):
    """Evaluation after every epoch (and before training, epoch 0).

    ``batches``: evaluate on the first N batches only (a fixed subsample; ``None`` = all).
    """

    enabled: StrictBool = True
    batches: StrictInt | None = Field(default=None, gt=0)


# The range test's settings the experiment states once, for its trials and the range test
# alike: they are not repeated in the range_test section.
FROM_EXPERIMENT = ("accumulation_steps", "grad_clip", "amp")
# Written into every config (they were the section's only keys before the others could be
# set): the fingerprint of an experiment written then stays the same.
_ALWAYS_WRITTEN = ("start_lr", "end_lr", "num_iter", "step_mode")
_WINDOW = ("start_lr", "end_lr")
_MIN_AUTO_POINTS = 10


class _RangeTestSection(_Model):
    """The fields are :class:`lrlab.finder.RangeTestSettings`' (see :data:`RangeTestConfig`)."""

    @model_validator(mode="after")
    def _valid(self) -> _RangeTestSection:
        start, end = self.start_lr, self.end_lr  # type: ignore[attr-defined]
        if start is not None and end is not None and start >= end:
            raise ValueError(f"start_lr={start} must be below end_lr={end}")
        n = self.num_iter  # type: ignore[attr-defined]
        if n < _MIN_AUTO_POINTS:
            raise ValueError(f"num_iter={n} must be >= {_MIN_AUTO_POINTS} for a suggestion")
        # The task's window is not known here: stand-ins on the sides not given.
        low = start if start is not None else min(1e-7, end / 10) if end else 1e-7
        high = end if end is not None else max(10.0, low * 10)
        try:
            self.settings((low, high))
        except LrlabError as exc:
            raise ValueError(str(exc)) from None
        return self

    def settings(self, window: tuple[float, float], **experiment: Any) -> Any:
        """The :class:`~lrlab.finder.RangeTestSettings` of this section over ``window`` (the
        task's ``lr_range``, for the edges left out), with the experiment's
        ``accumulation_steps`` / ``grad_clip`` / ``amp`` as given."""
        from lrlab.finder.settings import settings_from

        fields = {k: v for k, v in self.model_dump().items() if v is not None or k not in _WINDOW}
        fields.setdefault("start_lr", window[0])
        fields.setdefault("end_lr", window[1])
        return settings_from(**fields, **experiment)

    def to_dict(self) -> dict[str, Any]:
        """The section as written: the original keys, and the others where they differ from
        the range test's defaults."""
        defaults = type(self)()
        return {
            k: v
            for k, v in self.model_dump(mode="json").items()
            if k in _ALWAYS_WRITTEN or v != getattr(defaults, k)
        }


def _range_test_config() -> type[_RangeTestSection]:
    """The ``range_test`` section, its fields read from :class:`~lrlab.finder.RangeTestSettings`
    (the settings are declared once, there): the same names, types and defaults, except the
    window (``None`` = the task's ``lr_range``) and the settings the experiment states for
    everything (:data:`FROM_EXPERIMENT`)."""
    import dataclasses
    import typing

    from pydantic import create_model

    from lrlab.finder.maths import SWEEPS
    from lrlab.finder.settings import RangeTestSettings

    hints = typing.get_type_hints(RangeTestSettings)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(RangeTestSettings):
        if f.name in FROM_EXPERIMENT:
            continue
        if f.name in _WINDOW:
            fields[f.name] = (float | None, None)
        elif f.name == "step_mode":
            fields[f.name] = (Literal[tuple(SWEEPS)], f.default)
        else:
            # An integer setting is an integer: YAML's `true` is not 1 (pydantic's lax mode
            # would read it so), nor is 2.5 rounded.
            strict = {int: StrictInt, int | None: StrictInt | None, bool: StrictBool}
            fields[f.name] = (strict.get(hints[f.name], hints[f.name]), f.default)
    model = create_model("RangeTestConfig", __base__=_RangeTestSection, **fields)
    model.__doc__ = (
        "The range test behind ``auto``: the fields of :class:`lrlab.finder.RangeTestSettings` "
        f"but {', '.join(FROM_EXPERIMENT)} (the experiment's); ``start_lr`` / ``end_lr`` "
        "``None`` = the task's LR window; ``eval_every`` set = metric mode."
    )
    return model


RangeTestConfig = _range_test_config()

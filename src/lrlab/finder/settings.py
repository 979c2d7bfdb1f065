"""The range test's settings: one frozen dataclass, validated once, recorded whole.

``range_test``, ``compare_range_tests``, ``find_lr`` and ``max_lr: auto`` all take a
:class:`RangeTestSettings` (or its fields as keyword arguments, :func:`settings_from`), so
the sweep's options are declared once — here — and written into every result with
``asdict()``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any, TypeVar

from lrlab.errors import InvalidArgument, check
from lrlab.finder.maths import SWEEPS
from lrlab.precision import amp_name


@dataclass(frozen=True)
class RangeTestSettings:
    """How the LR is swept and the curve measured.

    Attributes:
        start_lr, end_lr, num_iter, step_mode: the sweep: ``num_iter`` steps from
            ``start_lr`` to ``end_lr`` inclusive, ``"exp"`` (log-spaced; needs
            ``start_lr > 0``) or ``"linear"``. The first param group gets these LRs;
            group ``g`` gets ``lr · lr_g / lr_0`` with ``lr_g`` its LR at call time.
        smooth_beta: weight of the past in the bias-corrected EMA of the loss
            (``lrlab.smoothing``; torch-lr-finder's ``smooth_f`` is ``1 − smooth_beta``).
        diverge_th: stop when the smoothed loss rises above its best by more than
            ``diverge_th · max(|best|, first − best)`` (see :mod:`lrlab.finder.maths`);
            ``None`` never stops on divergence. A NaN/inf loss always stops the sweep.
        eval_every, eval_batches: metric mode (with ``eval_data``): after every
            ``eval_every``-th update, evaluate on the first ``eval_batches`` batches of the
            eval data (read once, so the subsample is fixed). ``eval_every=None`` means
            ``max(1, num_iter // 20)`` in metric mode. Cost: ``num_iter / eval_every ×
            eval_batches`` forward passes.
        accumulation_steps: micro-batches per LR step; their losses are averaged (each
            back-propagated divided by ``accumulation_steps``).
        grad_clip: clip the gradients' global norm to this value before each update.
        amp: ``False``; ``"bf16"`` (CUDA or CPU autocast); ``"fp16"`` (CUDA, with a
            GradScaler); ``True`` (CUDA only: bf16 where supported, else fp16) — see
            :mod:`lrlab.precision`.
    """

    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_iter: int = 100
    step_mode: str = "exp"
    smooth_beta: float = 0.98
    diverge_th: float | None = 4.0
    eval_every: int | None = None
    eval_batches: int = 8
    accumulation_steps: int = 1
    grad_clip: float | None = None
    amp: bool | str = False

    def __post_init__(self) -> None:
        check(
            self.step_mode in SWEEPS,
            f"step_mode={self.step_mode!r} is not a sweep; expected one of {sorted(SWEEPS)}.",
        )
        n = self.num_iter
        check(
            isinstance(n, int) and not isinstance(n, bool) and n >= 2,
            f"num_iter={n!r} must be an integer >= 2 (a sweep needs a start and an end).",
            hint="100 is typical; use at least 50 for a trustworthy suggestion.",
        )
        for name in ("start_lr", "end_lr"):
            value = getattr(self, name)
            check(
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value),
                f"{name}={value!r} must be a finite number.",
            )
        for name in ("start_lr", "end_lr", "smooth_beta"):  # 1 and 1.0 record alike
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.step_mode == "exp":
            check(
                self.start_lr > 0,
                f"start_lr={self.start_lr!r} must be > 0 for an exponential sweep.",
                hint="Use a small positive start such as 1e-7, or step_mode='linear'.",
            )
        else:
            check(self.start_lr >= 0, f"start_lr={self.start_lr!r} must be >= 0.")
        check(
            self.end_lr > self.start_lr,
            f"start_lr={self.start_lr!r} must be smaller than end_lr={self.end_lr!r}.",
            hint="The sweep goes up from start_lr to end_lr; swap them.",
        )
        check(0.0 <= self.smooth_beta < 1.0, f"smooth_beta={self.smooth_beta!r} must be in [0, 1).")
        check(
            isinstance(self.accumulation_steps, int) and self.accumulation_steps >= 1,
            f"accumulation_steps={self.accumulation_steps!r} must be an integer >= 1.",
        )
        clip = self.grad_clip
        check(
            clip is None or (math.isfinite(clip) and clip > 0),
            f"grad_clip={clip!r} must be a positive max norm (or None for no clipping).",
        )
        if self.eval_every is not None:
            check(
                isinstance(self.eval_every, int)
                and not isinstance(self.eval_every, bool)
                and self.eval_every >= 1,
                f"eval_every={self.eval_every!r} must be an integer >= 1.",
            )
            check(  # else metric mode would never evaluate
                self.eval_every <= self.num_iter,
                f"eval_every={self.eval_every} must be <= num_iter={self.num_iter}: the sweep "
                "evaluates after every eval_every steps, so it would never evaluate.",
                hint="Use a smaller eval_every (about num_iter / 20).",
            )
        check(
            isinstance(self.eval_batches, int) and self.eval_batches >= 1,
            f"eval_batches={self.eval_batches!r} must be an integer >= 1.",
        )
        amp_name(self.amp)  # an unknown precision fails here; the device decides the rest

    def evaluated(self) -> RangeTestSettings:
        """These settings with metric mode's default spacing filled in."""
        if self.eval_every is not None:
            return self
        return dataclasses.replace(self, eval_every=max(1, self.num_iter // 20))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RangeTestSettings:
        return cls(**{k: d[k] for k in FIELDS if k in d})


FIELDS = tuple(f.name for f in dataclasses.fields(RangeTestSettings))


T = TypeVar("T")


def override(cls: type[T], settings: T | None, options: dict[str, Any], *, what: str) -> T:
    """``settings`` (default: ``cls()``) with ``options`` replacing fields by name; an unknown
    name is a one-line error with the closest field. Shared by every settings dataclass."""
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = [k for k in options if k not in fields]
    if unknown:
        close = difflib.get_close_matches(unknown[0], fields, n=1)
        did = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidArgument(
            f"{unknown[0]!r} is not a {what} setting.{did}",
            hint=f"The settings: {', '.join(fields)}.",
        )
    if settings is not None and not isinstance(settings, cls):
        raise InvalidArgument(
            f"settings must be a {cls.__name__}, got {type(settings).__name__}.",
            hint=f"Build one with lrlab.{cls.__name__}(...) or pass the fields as keyword "
            "arguments.",
        )
    base = settings if settings is not None else cls()
    return dataclasses.replace(base, **options) if options else base  # type: ignore[type-var]


def settings_from(settings: RangeTestSettings | None = None, **options: Any) -> RangeTestSettings:
    """``settings`` (default: the defaults) with ``options`` replacing fields by name."""
    return override(RangeTestSettings, settings, options, what="range-test")


def task_settings(
    run: Any, settings: RangeTestSettings | None = None, **fields: Any
) -> RangeTestSettings:
    """The range-test settings of a run of a task (:class:`lrlab.tasks.RunObjects`):
    ``settings`` (default: the defaults over the task's ``lr_range``) with ``fields`` by
    name. A window edge given as ``None`` (a command-line option left out) is the task's;
    ``amp`` is the run's (the task's on CUDA) unless given."""
    given = {k: v for k, v in fields.items() if not (k in ("start_lr", "end_lr") and v is None)}
    if settings is None:
        low, high = run.task.lr_range
        given = {"start_lr": low, "end_lr": high, **given}
    if "amp" not in given and (settings is None or settings.amp is False):
        given["amp"] = run.amp
    return settings_from(settings, **given)

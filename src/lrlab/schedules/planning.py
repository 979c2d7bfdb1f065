r"""``for_run``: any policy planned for a run, from a peak LR and a length.

``for_run(name, peak_lr, total_steps, **options)`` builds the registered policy ``name`` so that
its peak is ``peak_lr`` and its shape fits ``total_steps`` updates: the LR argument (``max_lr``,
or ``lr``) is the peak, ``total_steps`` is the length, and every other step count or LR is a
fraction of the run or a ratio of the peak. So one plan — ``("wsd", decay="1-sqrt")`` — is
the same schedule at any peak and any length, which is what ``find_lr`` needs to try a planned
schedule at several peaks and horizons::

    for_run(name, c * peak, T).lr(t) == c * for_run(name, peak, T).lr(t)     (to rounding)
    max over t < T of for_run(name, peak, T).lr(t) == peak                    (see below)

Options (any one of a policy's, with dashes or underscores):

==================================  ==================================================
``warmup_fraction``                 ``warmup_steps = round(warmup_fraction * T)``
``decay_fraction``                  ``decay_steps = round(decay_fraction * T)`` (wsd)
``step_fraction``                   ``step_size = ceil(step_fraction * T)`` (step-decay)
``milestone_fractions``             ``milestones = round(f * T)`` each, repeats and 0 dropped
``<lr parameter>_ratio``            e.g. ``final_lr_ratio``: ``final_lr = ratio * peak_lr``
any other parameter of the policy   as is (``pct_start``, ``decay``, ``min_lr_ratio``, ...)
==================================  ==================================================

A step count may also be given in steps (``warmup_steps=500``), which no longer scales with
``T``; an LR other than the peak only as a ratio (an absolute one would break the scaling).
What is not given keeps the constructor's default, except the counts the constructor cannot
default, filled from :data:`RUN_DEFAULTS`:

* ``warmup_fraction=0.1`` (warmup-linear, warmup-cosine, wsd, inverse-sqrt): BERT's
  ``warmup_proportion`` (Devlin et al. 2019), the usual 10 % of warm-up + decay recipes.
* ``decay_fraction=0.2`` (wsd): Hägele et al. (NeurIPS 2024) find a 20 % cooldown matches a
  cosine over the whole run (MiniCPM used about 10 %).
* ``step_fraction=1/3`` (step-decay): ×``gamma`` (0.1) at 1/3 and 2/3 of the run, torchvision's
  ResNet recipe (``StepLR(step_size=30, gamma=0.1)`` over 90 epochs).
* ``milestone_fractions=(0.5, 0.75)`` (piecewise-constant): ÷10 at 32k and 48k of 64k
  iterations, He et al. (2016) on CIFAR-10 (the constructor's default, no milestones, would be
  a constant LR).

one-cycle (torch's ``OneCycleLR`` defaults), cosine (no warm-up, to 0) and constant need no
more. The peak is reached exactly where the policy reaches it: at the end of the warm-up (the
warmup family, wsd, cosine), at step 0 (the decays, constant), and for one-cycle at step
``pct_start * T - 1`` when that is an integer (otherwise the nearest steps are just below it,
as in torch).

Not plannable, by decision: ``cyclic`` — an endless wave whose half-period Smith sets from the
epoch length (2-10 epochs), not from the run, and whose last LR depends on where in a cycle the
run stops (build it with :func:`~lrlab.schedules.cyclic`); ``warmup`` — a wrapper around
another schedule (give a plannable policy ``warmup_fraction`` instead).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lrlab import values as _checks
from lrlab.errors import InvalidArgument
from lrlab.schedules.cyclical import one_cycle
from lrlab.schedules.decays import constant, cosine, piecewise_constant, step_decay
from lrlab.schedules.hyperschedule import HyperSchedule
from lrlab.schedules.registry import POLICIES, build, normalised, policy_name, policy_params
from lrlab.schedules.warmup_decay import inverse_sqrt, warmup_cosine, warmup_linear, wsd

# fraction option -> the step-count parameter it sets
FRACTIONS = {
    "warmup_fraction": "warmup_steps",
    "decay_fraction": "decay_steps",
    "step_fraction": "step_size",
    "milestone_fractions": "milestones",
}

RUN_DEFAULTS: dict[Callable[..., HyperSchedule], dict[str, Any]] = {
    one_cycle: {},
    cosine: {},
    constant: {},
    warmup_linear: {"warmup_fraction": 0.1},
    warmup_cosine: {"warmup_fraction": 0.1},
    inverse_sqrt: {"warmup_fraction": 0.1},
    wsd: {"warmup_fraction": 0.1, "decay_fraction": 0.2},
    step_decay: {"step_fraction": 1 / 3},
    piecewise_constant: {"milestone_fractions": (0.5, 0.75)},
}
"""The policies :func:`for_run` plans (keyed by constructor: the names live in ``POLICIES``)
and the options it fills when not given; the module docstring says where each comes from."""


def plannable() -> tuple[str, ...]:
    """The names :func:`for_run` accepts, in registry order."""
    return tuple(name for name, policy in POLICIES.items() if policy in RUN_DEFAULTS)


def _peak_param(signature: Mapping[str, inspect.Parameter]) -> str:
    return "max_lr" if "max_lr" in signature else "lr"


def _lr_params(signature: Mapping[str, inspect.Parameter], peak: str) -> list[str]:
    """Parameters that are learning rates (``lr``, ``*_lr``) other than the peak."""
    return [p for p in signature if (p == "lr" or p.endswith("_lr")) and p != peak]


def _options(signature: Mapping[str, inspect.Parameter]) -> list[str]:
    """What :func:`for_run` takes for this policy, for the error listing them."""
    peak = _peak_param(signature)
    lrs = _lr_params(signature, peak)
    plain = [p for p in signature if p not in (peak, "total_steps", *lrs)]
    fractions = [f for f, target in FRACTIONS.items() if target in signature]
    return fractions + [f"{p}_ratio" for p in lrs] + plain


def _fraction(option: str, value: Any) -> float:
    value = _checks.real(option, value)
    if not 0.0 <= value <= 1.0:
        raise InvalidArgument(f"{option}={value!r} must be in [0, 1] (a share of total_steps).")
    return value


def _steps(option: str, value: Any, total_steps: int) -> int | list[int]:
    """A fraction option as the step count (or milestones) it stands for."""
    if option == "milestone_fractions":
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise InvalidArgument(f"{option}={value!r} must be a list of shares, e.g. [0.5, 0.75].")
        shares = [_fraction(f"{option}[{i}]", f) for i, f in enumerate(value)]
        return sorted({round(f * total_steps) for f in shares} - {0})
    steps = _fraction(option, value) * total_steps
    if option == "step_fraction":
        # Up, so that 1/3 gives decays at T/3 and 2T/3 and none on the last step; the inner
        # round drops float noise (1/3 * 90 must be 30, not 31).
        return max(math.ceil(round(steps, 9)), 1)
    return round(steps)


def for_run(name: str, peak_lr: float, total_steps: int, **options: Any) -> HyperSchedule:
    """Policy ``name`` with peak ``peak_lr`` for a run of ``total_steps`` updates.

    ``options`` are the policy's own parameters, step counts as fractions of the run
    (``warmup_fraction``, ``decay_fraction``, ``step_fraction``, ``milestone_fractions``) and
    other LRs as ratios of the peak (``final_lr_ratio``); see the module docstring for the
    defaults and their sources. Example::

        for_run("wsd", 0.1, 1000, decay="1-sqrt")      # 100 warm-up, 700 stable, 200 decay
        for_run("one-cycle", 0.1, 1000, pct_start=0.25)

    Raises :class:`~lrlab.errors.InvalidArgument` for a policy it cannot plan (``cyclic``,
    ``warmup``), an option the policy does not take, or one given twice (``warmup_steps`` and
    ``warmup_fraction``); the policy validates the rest.
    """
    key = policy_name(name)
    policy = POLICIES[key]
    if policy not in RUN_DEFAULTS:
        raise InvalidArgument(
            f"for_run cannot plan {key!r}: it has no single peak and length to fit to a run.",
            hint=f"Plannable: {', '.join(plannable())}; build {key!r} with lrlab.schedules.build.",
        )
    peak_lr = _checks.positive("peak_lr", peak_lr)
    total_steps = _checks.integer("total_steps", total_steps, minimum=1)
    signature = policy_params(key)
    peak = _peak_param(signature)
    lrs = _lr_params(signature, peak)
    given = normalised(options)
    allowed = _options(signature)
    for option in given:
        if option in (peak, "total_steps"):
            raise InvalidArgument(f"{option} is for_run's peak_lr / total_steps: not an option.")
        if option in lrs:
            raise InvalidArgument(
                f"{option}={given[option]!r} is an absolute LR; for_run takes it relative to the "
                f"peak so the plan scales with it: {option}_ratio={given[option]} / peak_lr."
            )
        if option not in allowed:
            raise InvalidArgument(
                f"{option} is not an option of for_run({key!r}).",
                hint=f"Its options: {', '.join(allowed)}.",
            )
    for fraction, target in FRACTIONS.items():
        if fraction in given and target in given:
            raise InvalidArgument(f"Give {fraction} or {target}, not both.")
    defaults = {
        option: value
        for option, value in RUN_DEFAULTS[policy].items()
        if option not in given and FRACTIONS[option] not in given
    }
    params: dict[str, Any] = {peak: peak_lr}
    if "total_steps" in signature:
        params["total_steps"] = total_steps
    for option, value in {**defaults, **given}.items():
        if option in FRACTIONS:
            params[FRACTIONS[option]] = _steps(option, value, total_steps)
        elif option.endswith("_ratio") and option.removesuffix("_ratio") in lrs:
            params[option.removesuffix("_ratio")] = _checks.real(option, value) * peak_lr
        else:
            params[option] = value
    return build(key, **params)

r"""transformers' ``lr_scheduler_type`` and lrlab's planned schedules, both ways.

A ``Trainer`` builds its scheduler from ``TrainingArguments`` (``lr_scheduler_type``,
``warmup_steps`` read by ``args.get_warmup_steps(T)``, ``lr_scheduler_kwargs``). For
``find_lr`` to answer for the run the Trainer will make, the same schedule is planned with
lrlab's policy that equals it — bit for bit, ``tests/test_schedules_warmup_decay.py``:

========================  ===============================================================
``lr_scheduler_type``     lrlab plan (``w`` = the Trainer's warm-up steps)
========================  ===============================================================
``linear``                ``warmup-linear``, ``warmup_steps=w``
``cosine``                ``warmup-cosine``, ``warmup_steps=w``, ``num_cycles``
``constant``              ``constant`` (transformers ignores the warm-up there)
``constant_with_warmup``  ``wsd``, ``warmup_steps=w``, ``decay_steps=0``
``warmup_stable_decay``   ``wsd``: ``num_decay_steps``, ``decay_type``, ``min_lr_ratio``
                          (a linear warm-up; ``num_stable_steps`` only when the phases add
                          up to the run)
``inverse_sqrt``          ``inverse-sqrt``, ``warmup_steps=w``, ``timescale``
========================  ===============================================================

The others (``cosine_with_restarts``, ``polynomial``, ``reduce_lr_on_plateau``, the
``*_min_lr`` cosines, ``greedy``) have no lrlab plan: :func:`planned_from_args` says so.
:func:`args_for` goes back, from a planned schedule to the arguments that make the Trainer run
it (what ``find_lr(trainer, schedule=..., apply=True)`` sets).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lrlab.errors import InvalidArgument

Plan = tuple[str, dict[str, Any]]


def _no_options(kind: str, options: Mapping[str, Any]) -> None:
    if options:
        raise InvalidArgument(
            f"lr_scheduler_kwargs={dict(options)} do not apply to lr_scheduler_type={kind!r}."
        )


def _linear(w: int, kw: Mapping[str, Any], total: int) -> Plan:
    _no_options("linear", kw)
    return "warmup-linear", {"warmup_steps": w}


def _cosine(w: int, kw: Mapping[str, Any], total: int) -> Plan:
    _no_options("cosine", {k: v for k, v in kw.items() if k != "num_cycles"})
    return "warmup-cosine", {"warmup_steps": w, "num_cycles": float(kw.get("num_cycles", 0.5))}


def _constant(w: int, kw: Mapping[str, Any], total: int) -> Plan:
    return "constant", {}  # transformers passes neither the warm-up nor the kwargs on


def _constant_with_warmup(w: int, kw: Mapping[str, Any], total: int) -> Plan:
    return "wsd", {"warmup_steps": w, "decay_steps": 0}  # the kwargs are not passed on


def _wsd(w: int, kw: Mapping[str, Any], total: int) -> Plan:
    known = {"num_decay_steps", "num_stable_steps", "warmup_type", "decay_type", "min_lr_ratio"}
    _no_options(
        "warmup_stable_decay", {k: v for k, v in kw.items() if k not in known | {"num_cycles"}}
    )
    if "num_decay_steps" not in kw:
        raise InvalidArgument("lr_scheduler_type='warmup_stable_decay' needs num_decay_steps.")
    decay = int(kw["num_decay_steps"])
    stable = kw.get("num_stable_steps")
    if kw.get("warmup_type", "linear") != "linear" or float(kw.get("num_cycles", 0.5)) != 0.5:
        raise InvalidArgument(
            "lrlab plans warmup_stable_decay with a linear warm-up and a half-cosine "
            f"(num_cycles=0.5) only, got {dict(kw)}."
        )
    if stable is not None and w + int(stable) + decay != total:
        raise InvalidArgument(
            f"num_stable_steps={stable}: warm-up {w} + stable + decay {decay} != the run's "
            f"{total} steps, and lrlab plans WSD over the whole run.",
            hint="Drop num_stable_steps (the stable phase is then what the others leave).",
        )
    options = {"warmup_steps": w, "decay_steps": decay, "decay": kw.get("decay_type", "cosine")}
    return "wsd", {**options, "min_lr_ratio": float(kw.get("min_lr_ratio", 0.0))}


def _inverse_sqrt(w: int, kw: Mapping[str, Any], total: int) -> Plan:
    _no_options("inverse_sqrt", {k: v for k, v in kw.items() if k != "timescale"})
    timescale = kw.get("timescale")
    return "inverse-sqrt", {"warmup_steps": w, "timescale": timescale}


FROM_TRANSFORMERS: dict[str, Callable[[int, Mapping[str, Any], int], Plan]] = {
    "linear": _linear,
    "cosine": _cosine,
    "constant": _constant,
    "constant_with_warmup": _constant_with_warmup,
    "warmup_stable_decay": _wsd,
    "inverse_sqrt": _inverse_sqrt,
}
"""``lr_scheduler_type`` -> ``(warm-up steps, lr_scheduler_kwargs, total steps) -> plan``."""


def scheduler_type(args: Any) -> str:
    """``args.lr_scheduler_type`` as a plain string (it may be a ``SchedulerType`` enum)."""
    kind = args.lr_scheduler_type
    return str(getattr(kind, "value", kind))


def planned_from_args(args: Any, total_steps: int) -> Plan:
    """``(policy, schedule_options)`` for ``lrlab.find_lr``: the schedule a Trainer built from
    ``args`` runs over ``total_steps`` updates (see the module docstring)."""
    kind = scheduler_type(args)
    if kind not in FROM_TRANSFORMERS:
        raise InvalidArgument(
            f"lr_scheduler_type={kind!r} has no lrlab plan, so find_lr cannot answer for the "
            f"schedule this Trainer runs (planned: {', '.join(FROM_TRANSFORMERS)}).",
            hint="Pass schedule='<lrlab policy>' to find for another schedule "
            "(with apply=True the Trainer is switched to it).",
        )
    kwargs = dict(args.lr_scheduler_kwargs or {})
    return FROM_TRANSFORMERS[kind](int(args.get_warmup_steps(total_steps)), kwargs, total_steps)


HFArgs = tuple[str, int, dict[str, Any]]


def _to_wsd(p: Mapping[str, Any]) -> HFArgs:
    w = int(p["warmup_steps"])
    if p["decay_steps"] == 0 and p["min_lr_ratio"] == 0:
        return "constant_with_warmup", w, {}
    kwargs = {"num_decay_steps": int(p["decay_steps"]), "decay_type": p["decay"]}
    return "warmup_stable_decay", w, {**kwargs, "min_lr_ratio": float(p["min_lr_ratio"])}


def _to_cosine(p: Mapping[str, Any]) -> HFArgs:
    cycles = float(p["num_cycles"])
    return "cosine", int(p["warmup_steps"]), {} if cycles == 0.5 else {"num_cycles": cycles}


def _to_inverse_sqrt(p: Mapping[str, Any]) -> HFArgs:
    timescale = p.get("timescale")
    kwargs = {} if timescale is None else {"timescale": int(timescale)}
    return "inverse_sqrt", int(p["warmup_steps"]), kwargs


TO_TRANSFORMERS: dict[str, Callable[[Mapping[str, Any]], HFArgs]] = {
    "warmup-linear": lambda p: ("linear", int(p["warmup_steps"]), {}),
    "warmup-cosine": _to_cosine,
    "constant": lambda p: ("constant", 0, {}),
    "wsd": _to_wsd,
    "inverse-sqrt": _to_inverse_sqrt,
}
"""lrlab policy -> ``schedule.params -> (lr_scheduler_type, warmup_steps, kwargs)``."""


def args_for(schedule: Any) -> HFArgs | None:
    """``(lr_scheduler_type, warmup_steps, lr_scheduler_kwargs)`` that make a Trainer run
    ``schedule`` (a built :class:`~lrlab.schedules.HyperSchedule`), or ``None`` when no
    transformers scheduler equals it."""
    convert = TO_TRANSFORMERS.get(schedule.name)
    return None if convert is None else convert(schedule.params)

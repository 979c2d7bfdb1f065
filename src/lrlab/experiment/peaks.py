"""The peak LR a variant's schedule names: a number, ``auto``, or another variant's.

A schedule section gives its peak in one of :data:`PEAK_PARAMS` — the policy's own ``max_lr``
or ``lr``, or ``peak_lr`` (the policy planned for the run by :func:`lrlab.schedules.for_run`,
step counts as fractions: ``{name: wsd, peak_lr: 0.1, decay_fraction: 0.2}``). Its value is

* a number;
* ``auto``: the finder's answer for this seed, from the variant's optimizer (the ``auto``
  range test, :mod:`lrlab.experiment.auto`);
* ``{same_as: VARIANT}``: whatever peak variant ``VARIANT`` gets for this seed — its number,
  or its ``auto`` answer (computed once, and its cost belongs to both). This is how a
  comparison says "each at the same peak LR"::

      - name: one-cycle
        schedule: {name: one-cycle, max_lr: auto}
      - name: cosine
        schedule: {name: warmup-cosine, peak_lr: {same_as: one-cycle}}

  The named variant must give its peak itself (a number or ``auto``, not another
  ``same_as``), so a chain never has to be followed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lrlab.errors import InvalidArgument

AUTO = "auto"
SAME_AS = "same_as"
# Schedule parameters that hold the peak LR, in the order they are looked for.
PEAK_PARAMS = ("peak_lr", "max_lr", "lr")


def same_as(value: Any) -> str | None:
    """The variant a ``{same_as: VARIANT}`` value names (``None`` for other values)."""
    if isinstance(value, Mapping) and set(value) == {SAME_AS}:
        return str(value[SAME_AS])
    return None


def check_value(key: str, value: Any, *, text: bool = False) -> None:
    """A schedule parameter's value: ``auto`` and ``same_as`` only for a peak parameter,
    text only where the policy takes text (``text``); raises ``ValueError``."""
    peak = ", ".join(PEAK_PARAMS)
    if isinstance(value, Mapping):
        if same_as(value) is None:
            raise ValueError(f"{key}={dict(value)!r} must be a number, 'auto' or {{same_as: V}}")
        if key not in PEAK_PARAMS:
            raise ValueError(f"{key}: only {peak} may be {{same_as: VARIANT}}")
    elif value == AUTO and key not in PEAK_PARAMS:
        raise ValueError(f"{key}='auto' is not supported (only {peak} may be auto)")
    elif isinstance(value, str) and value != AUTO and not text:
        raise ValueError(f"{key}={value!r} must be a number or 'auto'")


def peak_param(params: Mapping[str, Any]) -> str | None:
    """Which of :data:`PEAK_PARAMS` a schedule's parameters set."""
    return next((p for p in PEAK_PARAMS if p in params), None)


def references(variants: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """``{variant: the variant it takes its peak from}`` for every ``same_as`` among
    ``variants`` (``(name, schedule parameters)`` pairs), checked: the named variant exists,
    is another one, and states its own peak (a number or ``auto``). Raises ``ValueError``
    naming the variant's index."""
    by_name = dict(variants)
    out = {}
    for i, (name, params) in enumerate(variants):
        for key, value in params.items():
            source = same_as(value)
            if source is None:
                continue
            where = f"variants[{i}].schedule.{key}"
            if source not in by_name or source == name:
                others = [n for n in by_name if n != name]
                raise ValueError(f"{where}: same_as {source!r} is not another variant ({others})")
            theirs = by_name[source]
            peak = peak_param(theirs)
            if peak is None or same_as(theirs[peak]) is not None:
                raise ValueError(
                    f"{where}: variant {source!r} must give its peak itself (one of "
                    f"{', '.join(PEAK_PARAMS)}: a number or 'auto')"
                )
            out[name] = source
    return out


def resolve(
    params: Mapping[str, Any], source: Mapping[str, Any] | None, auto_lr: float | None
) -> dict[str, Any]:
    """``params`` with ``auto`` and ``{same_as: ...}`` replaced by numbers: ``auto`` by
    ``auto_lr`` (the answer for the variant the LR comes from), ``same_as`` by the peak
    ``source`` (that variant's parameters) gives — its number, or ``auto_lr``. Raises
    :class:`InvalidArgument` when an ``auto`` has no answer."""
    out = dict(params)
    for key in PEAK_PARAMS:
        value = out.get(key)
        if same_as(value) is not None:
            assert source is not None  # checked with the config
            value = source[peak_param(source)]  # type: ignore[index]
        if value == AUTO:
            if auto_lr is None:
                raise InvalidArgument(
                    f"{key}='auto' needs the range test's suggestion, which was not computed.",
                    hint="Run it through run_experiment, which runs the range test first.",
                )
            value = auto_lr
        if key in out:
            out[key] = value
    return out

r"""The policy registry: :data:`POLICIES` (the only list of policy names) and :func:`build`.

Configs, the CLI, records (``HyperSchedule.from_dict``) and
:func:`lrlab.schedules.for_run` find a policy here by name; its parameters are its
constructor's signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from lrlab.errors import InvalidArgument
from lrlab.schedules.cyclical import cyclic, one_cycle
from lrlab.schedules.decays import constant, cosine, piecewise_constant, step_decay
from lrlab.schedules.hyperschedule import HyperSchedule
from lrlab.schedules.warmup_decay import inverse_sqrt, warmup, warmup_cosine, warmup_linear, wsd

POLICIES: dict[str, Callable[..., HyperSchedule]] = {
    "one-cycle": one_cycle,
    "cyclic": cyclic,
    "piecewise-constant": piecewise_constant,
    "step-decay": step_decay,
    "cosine": cosine,
    "constant": constant,
    "warmup": warmup,
    "warmup-linear": warmup_linear,
    "warmup-cosine": warmup_cosine,
    "wsd": wsd,
    "inverse-sqrt": inverse_sqrt,
}
"""Policy name -> constructor. Names use dashes; :func:`build` also accepts underscores."""


def policy_name(name: str) -> str:
    """The registry key for ``name`` (``"one_cycle"``, ``"One-Cycle"`` → ``"one-cycle"``)."""
    if not isinstance(name, str):
        raise InvalidArgument(f"A schedule name must be a string, got {name!r}.")
    key = name.strip().lower().replace("_", "-")
    if key not in POLICIES:
        raise InvalidArgument(
            f"Unknown schedule {name!r}.", hint=f"Choose one of: {', '.join(POLICIES)}."
        )
    return key


def policy_params(name: str) -> dict[str, inspect.Parameter]:
    """The parameters of policy ``name`` (for error messages and the CLI)."""
    return dict(inspect.signature(POLICIES[policy_name(name)]).parameters)


def coerce(value: Any) -> Any:
    """Numbers and booleans written as strings (PyYAML 1.1 reads ``1e4``, without a dot, as a
    string) are parsed; any other value is returned as it is. The one parser of schedule
    parameters, for configs, the CLI and experiments alike."""
    if isinstance(value, str):
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                continue
    return value


def normalised(params: Mapping[str, Any]) -> dict[str, Any]:
    """Keys with dashes as underscores (``max-lr`` → ``max_lr``), numbers in strings parsed."""
    return {str(k).strip().replace("-", "_"): coerce(v) for k, v in params.items()}


def build(name: str, **params: Any) -> HyperSchedule:
    """Build policy ``name`` from keyword parameters (configs, the CLI, ``from_dict``).

    ``name`` accepts dashes or underscores (``"one-cycle"`` / ``"one_cycle"``); parameter names
    too (``max-lr`` / ``max_lr``). Unknown names or parameters, and missing required ones,
    raise :class:`~lrlab.errors.InvalidArgument` listing the allowed ones.
    """
    key = policy_name(name)
    signature = policy_params(key)
    kwargs = normalised(params)
    unknown = sorted(set(kwargs) - set(signature))
    if unknown:
        raise InvalidArgument(
            f"Unknown parameter(s) {', '.join(unknown)} for schedule {key!r}.",
            hint=f"Allowed: {', '.join(signature)}.",
        )
    required = [p for p, spec in signature.items() if spec.default is inspect.Parameter.empty]
    missing = [p for p in required if p not in kwargs]
    if missing:
        raise InvalidArgument(
            f"Schedule {key!r} needs {', '.join(missing)}.",
            hint=f"Its parameters: {', '.join(signature)}.",
        )
    return POLICIES[key](**kwargs)

"""Ready-made experiments: ``lrlab compare --preset NAME --task TASK[,TASK...]``.

:data:`PRESETS` maps a name to a function ``(task, epochs, seeds) -> Experiment``;
:func:`run_preset` runs it on every task, writes each task's head-to-head and, for several
tasks, the performance profile across them. The YAML of a preset's experiment is
``lr_free_experiment(...).to_yaml()`` (``examples/experiments/lr_free.yaml`` is one).

**lr-free** — "do I even need a finder?" on the user's own task. One budget (the task's
epochs unless ``--epochs``), five seeds, every variant of a seed from the same weights:

==================  ====================================================================
``constant``        the control: the task's optimizer at its own LR, constant
``one-cycle``       one-cycle (Smith) at the finder's answer (``max_lr: auto``)
``linear-decay``    warm-up + linear decay to zero (D2Z; Bergsma et al. 2025) ┐ each at
``wsd``             warm-up-stable-decay, 1−sqrt cool-down (Hägele et al. 2024) │ one-cycle's
``cosine``          warm-up + cosine to zero                                     ┘ peak
``sf-adamw``        Schedule-Free AdamW at its authors' default LR 0.0025
``sf-adamw-found``  Schedule-Free AdamW at the finder's answer for it
``prodigy``         Prodigy, lr 1 with warm-up and cosine, ``safeguard_warmup`` (its README)
==================  ====================================================================

Warm-ups are :func:`lrlab.schedules.for_run`'s default 10 % of the run everywhere (the
Schedule-Free and Prodigy authors recommend a warm-up without fixing its length; the same one
for all keeps the contest about the schedule). Schedule-Free's warm-up is the schedule's
(``wsd`` without a decay), not its ``warmup_steps``: one mechanism, recorded like the others.
The finder's cost is charged to ``one-cycle``, the three ``same_as`` variants and
``sf-adamw-found`` (:mod:`lrlab.experiment.headtohead`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrlab._io import write_json
from lrlab.analysis.headtohead import HeadToHead
from lrlab.analysis.profiles import Profile, performance_profile
from lrlab.analysis.profiles import to_markdown as profiles_markdown
from lrlab.errors import InvalidArgument

LR_FREE_SEEDS = (0, 1, 2, 3, 4)
SF_ADAMW_DEFAULT_LR = 0.0025  # schedulefree.AdamWScheduleFree's default
PROFILE_DIR = "lr-free-profile"
PROFILE_JSON = "profile.json"
PROFILE_MD = "profile.md"

_SAME_PEAK = {"same_as": "one-cycle"}
_SF_SCHEDULE = {"name": "wsd", "decay_fraction": 0.0}  # warm-up, then constant


def lr_free_experiment(
    task: str, *, epochs: int | None = None, seeds: Sequence[int] = LR_FREE_SEEDS
) -> Any:
    """The ``lr-free`` head-to-head on ``task`` (see the module docstring) as an
    :class:`~lrlab.experiment.Experiment`."""
    from lrlab.experiment.config import Experiment

    variants: list[dict[str, Any]] = [
        {"name": "constant", "schedule": {"name": "constant"}},
        {"name": "one-cycle", "schedule": {"name": "one-cycle", "max_lr": "auto"}},
        {"name": "linear-decay", "schedule": {"name": "warmup-linear", "peak_lr": _SAME_PEAK}},
        {"name": "wsd", "schedule": {"name": "wsd", "peak_lr": _SAME_PEAK, "decay": "1-sqrt"}},
        {"name": "cosine", "schedule": {"name": "warmup-cosine", "peak_lr": _SAME_PEAK}},
        {
            "name": "sf-adamw",
            "optimizer": {"name": "schedulefree-adamw", "lr": SF_ADAMW_DEFAULT_LR},
            "schedule": {**_SF_SCHEDULE, "peak_lr": SF_ADAMW_DEFAULT_LR},
        },
        {
            "name": "sf-adamw-found",
            "optimizer": {"name": "schedulefree-adamw"},
            "schedule": {**_SF_SCHEDULE, "peak_lr": "auto"},
        },
        {
            "name": "prodigy",
            "optimizer": {"name": "prodigy", "lr": 1.0, "safeguard_warmup": True},
            "schedule": {"name": "warmup-cosine", "peak_lr": 1.0},
        },
    ]
    return Experiment(
        name=f"lr-free-{task}",
        description="lrlab's lr-free preset: today's schedules at the finder's peak LR, "
        "Schedule-Free AdamW and Prodigy, against a constant-LR control.",
        task=task,
        seeds=list(seeds),
        epochs=epochs,
        variants=variants,
        control="constant",
        analysis={"head_to_head": True},
    )


PRESETS: dict[str, Callable[..., Any]] = {"lr-free": lr_free_experiment}
"""Preset name -> a function ``(task, *, epochs, seeds) -> Experiment``."""


@dataclass
class PresetResult:
    """What :func:`run_preset` leaves: one experiment and head-to-head per task, and the
    performance profiles across them (``None`` for one task), in seconds and in updates."""

    experiments: list[Any] = field(default_factory=list)
    head_to_heads: list[HeadToHead] = field(default_factory=list)
    profiles: dict[str, Profile] = field(default_factory=dict)
    profile_dir: str | None = None


def preset_experiments(
    name: str,
    tasks: Sequence[str],
    *,
    epochs: int | None = None,
    seeds: Sequence[int] | None = None,
) -> list[Any]:
    """The experiments of preset ``name`` on ``tasks`` (validated, nothing run)."""
    if name not in PRESETS:
        known = ", ".join(PRESETS)
        raise InvalidArgument(f"--preset {name!r} is not a preset.", hint=f"Known: {known}.")
    if not tasks:
        raise InvalidArgument(f"--preset {name} needs --task (one task, or several: a,b,c).")
    kwargs: dict[str, Any] = {"epochs": epochs}
    if seeds is not None:
        kwargs["seeds"] = list(seeds)
    return [PRESETS[name](task, **kwargs) for task in tasks]


def profiles(head_to_heads: Sequence[HeadToHead]) -> dict[str, Profile]:
    """Performance profiles over tasks of the variants' median time to target (finder
    included), in seconds and in updates."""
    return {
        unit: performance_profile({h.task: h.costs(unit) for h in head_to_heads}, unit)
        for unit in ("seconds", "updates")
    }


def run_preset(
    name: str,
    tasks: Sequence[str],
    *,
    epochs: int | None = None,
    seeds: Sequence[int] | None = None,
    out: str | Path = "runs",
    **run: Any,
) -> PresetResult:
    """Run preset ``name`` on every task (``run``: :func:`~lrlab.experiment.run_experiment`'s
    options), each into ``out/<experiment>/`` with its ``head_to_head.json``; with several
    tasks, write the profiles to ``out/lr-free-profile/`` (``profile.json``, ``.md``)."""
    from lrlab.experiment.headtohead import load_head_to_head
    from lrlab.experiment.runner import run_experiment

    exps = preset_experiments(name, tasks, epochs=epochs, seeds=seeds)  # all checked first
    result = PresetResult()
    for exp in exps:
        done = run_experiment(exp, out=out, **run)
        result.experiments.append(done)
        h = load_head_to_head(done.dir)
        if h is not None:
            result.head_to_heads.append(h)
    if len(result.head_to_heads) > 1:
        result.profiles = profiles(result.head_to_heads)
        directory = Path(out) / PROFILE_DIR
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / PROFILE_JSON, profile_record(result.profiles, tasks))
        (directory / PROFILE_MD).write_text(profiles_markdown(result.profiles), encoding="utf-8")
        result.profile_dir = str(directory)
    return result


def profile_record(by_unit: Mapping[str, Profile], tasks: Sequence[str]) -> dict[str, Any]:
    """The profiles as saved (``kind: lrlab.performance_profile``)."""
    return {
        "kind": "lrlab.performance_profile",
        "tasks": list(tasks),
        "profiles": {unit: p.to_dict() for unit, p in by_unit.items()},
    }

"""One candidate of a comparison: its range test (and confirmation), from the state the
caller set, and the other data orders its repeats read.

:class:`Job` is everything a candidate's run needs, pickled whole for a process pool (so the
optimizer keeps referring to the model's own parameters): the objects, the
:class:`~lrlab.finder.settings.RangeTestSettings` every candidate shares (each candidate
replaces only ``num_iter`` and ``eval_every``, see :mod:`lrlab.compare.run`), and the
range-test inputs that are not settings (:class:`RangeTestInputs`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import RandomSampler

from lrlab.compare import knobs
from lrlab.compare.confirm import confirm_one_cycle
from lrlab.compare.result import CandidateResult
from lrlab.data.loader import TensorLoader
from lrlab.errors import InvalidArgument
from lrlab.finder import range_test
from lrlab.finder.settings import RangeTestSettings
from lrlab.optim import groups
from lrlab.seeding import derive_seed, seed_everything


@dataclass(frozen=True)
class CandidateSpec:
    """One candidate: its value, its steps and evaluation spacing, and its data."""

    value: Any
    label: str
    num_iter: int
    eval_every: int | None
    batch_size: int | None
    data: Any


@dataclass(frozen=True)
class RangeTestInputs:
    """The range test's arguments that are not settings, the same for every candidate:
    the batch format, the evaluation data and metrics, chance level and device."""

    unpack: Any = None
    step_fn: Any = None
    eval_data: Any = None
    metrics: Any = None
    chance: float | None = None
    device: Any = None

    def kwargs(self) -> dict[str, Any]:
        """As keyword arguments (no copy: ``asdict`` would deep-copy the data)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class Confirm:
    """The one-cycle confirmation: epochs, one LR for all (``None``: each its own), and
    whether momentum cycles (not when momentum is the value under test)."""

    epochs: int
    lr: float | None
    cycle_momentum: bool


@dataclass
class Job:
    """Everything one candidate's run needs (see the module docstring)."""

    model: nn.Module
    optimizer: Any
    criterion: Any
    name: str
    candidates: list[CandidateSpec]
    settings: RangeTestSettings
    inputs: RangeTestInputs
    confirm: Confirm | None
    repeats: int = 1


def check_shuffles(data: Any) -> None:
    """Repeats need a data order that a seed can change."""
    if isinstance(data, TensorLoader) and data.shuffle:
        return
    if isinstance(getattr(data, "sampler", None), RandomSampler):
        return
    raise InvalidArgument(
        f"repeats > 1 reads the training data in other orders, but this "
        f"{type(data).__name__} does not shuffle.",
        hint="Use a shuffling loader (TensorLoader(shuffle=True), DataLoader(shuffle=True)), "
        "or repeats=1.",
    )


def repeat_data(data: Any, r: int) -> Any:
    """Repeat ``r``'s data: a TensorLoader reshuffled from a derived seed; a DataLoader's own
    generators are reseeded (the global RNG, which its sampler otherwise draws from, is
    reseeded by the caller). Repeat 0 is the data as given."""
    if r == 0:
        return data
    if isinstance(data, TensorLoader):
        return TensorLoader(
            data.x,
            data.y,
            data.batch_size,
            shuffle=data.shuffle,
            seed=derive_seed(data.seed, "repeat", r),
            drop_last=data.drop_last,
            augment=data.augment,
            transform=data.transform,
        )
    for g in generators(data):
        g.manual_seed(derive_seed(0, "repeat", r, "loader"))
    return data


def generators(data: Any) -> list[torch.Generator]:
    """The torch generators a DataLoader draws its order from (its own, its samplers')."""
    found: list[torch.Generator] = []
    for obj in (
        data,
        getattr(data, "sampler", None),
        getattr(getattr(data, "batch_sampler", None), "sampler", None),
    ):
        gen = getattr(obj, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def run_candidate(job: Job, k: int, progress: bool, r: int = 0) -> CandidateResult:
    """Candidate ``k``'s range test number ``r`` (and, for ``r = 0``, its confirmation), from
    the state the caller set."""
    spec = job.candidates[k]
    if r > 0:
        seed_everything(derive_seed(0, "repeat", r))  # another run: dropout, samplers
    data = repeat_data(spec.data, r)
    opt = knobs.build_optimizer(job.optimizer, job.model, job.name, spec.value)
    settings = dataclasses.replace(job.settings, num_iter=spec.num_iter, eval_every=spec.eval_every)
    rt = range_test(
        job.model, opt, job.criterion, data, settings, progress=progress, **job.inputs.kwargs()
    )
    rt.config["candidate"] = spec.label
    rt.config["repeat"] = r
    if job.name == knobs.MOMENTUM:
        rt.config["momentum_key"] = groups.momentum_key(opt.param_groups[0])
    cand = CandidateResult(
        value=spec.value,
        label=spec.label,
        range_test=rt,
        num_iter=spec.num_iter,
        batch_size=spec.batch_size,
    )
    if r == 0 and job.confirm is not None and rt.stop_reason != "interrupted":
        cand.confirmation = _confirm(job, spec, cand)
    return cand


def _confirm(job: Job, spec: CandidateSpec, cand: CandidateResult) -> Any:
    """The candidate's one-cycle run; the range test restored the model, the optimizer is
    rebuilt fresh for training."""
    assert job.confirm is not None
    opt = knobs.build_optimizer(job.optimizer, job.model, job.name, spec.value)
    s, inputs = job.settings, job.inputs
    fit_kwargs: dict[str, Any] = {
        "unpack": inputs.unpack,
        "step_fn": inputs.step_fn,
        "grad_clip": s.grad_clip,
        "accumulation_steps": s.accumulation_steps,
        "amp": s.amp,
    }
    if inputs.metrics is not None:
        fit_kwargs["metrics"] = inputs.metrics
    return confirm_one_cycle(
        job.model,
        opt,
        job.criterion,
        spec.data,
        inputs.eval_data,
        epochs=job.confirm.epochs,
        max_lr=job.confirm.lr or cand.suggested_lr,
        cycle_momentum=job.confirm.cycle_momentum,
        **fit_kwargs,
    )

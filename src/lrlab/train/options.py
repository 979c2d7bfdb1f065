"""Checking and normalising ``fit``'s arguments (everything decided before the first step)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lrlab.batches import Batch, StepFn, resolve_step, to_device
from lrlab.errors import InvalidArgument, check
from lrlab.metrics import Metric, resolve_metrics

DIVERGENCE_POLICIES = ("stop", "raise", "ignore")

# Criteria for which accuracy is the natural default metric.
_CLASSIFICATION_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)


def place_model(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """Move ``model`` to ``device`` (``None``: leave it) and return the device it trains on."""
    if not isinstance(model, nn.Module):
        raise InvalidArgument(
            f"model must be a torch.nn.Module, got {type(model).__name__}.",
        )
    if device is not None:
        from lrlab.devices import resolve_device

        dev = resolve_device(device)
        model.to(dev)
        return dev
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def build_step(
    criterion: Any, *, unpack: Any, step_fn: StepFn | None, device: torch.device
) -> StepFn:
    """The step function of ``fit`` (:func:`lrlab.batches.resolve_step`); a user's
    ``step_fn`` gets its batches moved to ``device`` first."""
    step = resolve_step(criterion, unpack=unpack, step_fn=step_fn, device=device)
    if step_fn is None:
        return step

    def moved(model: nn.Module, batch: Batch) -> Any:
        return step_fn(model, to_device(batch, device, non_blocking=True))

    return moved


def default_metrics(metrics: Any, criterion: Any) -> dict[str, Metric]:
    """``metrics`` resolved (:func:`lrlab.metrics.resolve_metrics`); by default accuracy for a
    classification loss, none otherwise."""
    if metrics is None:
        is_classification = isinstance(criterion, _CLASSIFICATION_LOSSES)
        return resolve_metrics("accuracy" if is_classification else None)
    return resolve_metrics(metrics)


def check_options(
    *,
    grad_clip: float | None,
    out_dir: Any,
    csv: bool,
    checkpoint_every: int | None,
    resume: bool,
    tensorboard: Any,
    eval_batches: int | None,
    on_divergence: str,
    config: Any,
) -> None:
    """Validate the simple options (the precision is :func:`lrlab.precision.parse_amp`'s)."""
    if grad_clip is not None:
        check(
            isinstance(grad_clip, (int, float)) and math.isfinite(grad_clip) and grad_clip > 0,
            f"grad_clip={grad_clip!r} must be a positive number (the max gradient norm) or None.",
        )
    if checkpoint_every is not None:
        check(
            isinstance(checkpoint_every, int) and checkpoint_every >= 1,
            f"checkpoint_every={checkpoint_every!r} must be a positive integer (epochs).",
        )
    if eval_batches is not None:
        check(
            isinstance(eval_batches, int) and eval_batches >= 1,
            f"eval_batches={eval_batches!r} must be a positive integer or None (all).",
        )
    check(
        on_divergence in DIVERGENCE_POLICIES,
        f"on_divergence={on_divergence!r} must be one of {list(DIVERGENCE_POLICIES)}.",
    )
    if config is not None:
        check(isinstance(config, Mapping), f"config must be a dict, got {type(config).__name__}.")
    if out_dir is None:
        for name, value in (
            ("csv", csv),
            ("checkpoint_every", checkpoint_every),
            ("resume", resume),
            ("tensorboard", tensorboard),
        ):
            check(
                not value,
                f"{name}={value!r} needs a run directory, but out_dir is None.",
                hint="Pass out_dir='runs/my-run'.",
            )

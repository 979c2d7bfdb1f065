"""Evaluation: mean loss and metrics of a model over (part of) a dataset.

Shared by the range test's metric mode, ``fit``'s per-epoch evaluation, the scan and the
experiments, so that "eval loss" means the same thing everywhere: the batch-size-weighted
mean of the per-batch mean loss, in ``eval()`` mode, without gradients.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from lrlab.batches import Batch, StepFn, run_step
from lrlab.errors import DataError
from lrlab.metrics import Metric


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Iterable[Batch],
    step_fn: StepFn,
    *,
    metrics: Mapping[str, Metric] | None = None,
    max_batches: int | None = None,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """``{"loss": ..., <metric>: ...}`` averaged over the batches of ``data``.

    ``max_batches`` evaluates only the first batches (a fixed subsample when ``data`` is
    deterministic, as lrlab's eval loaders are). The model's train/eval mode is restored
    afterwards. A metric needs a step function that returns outputs and targets.
    """
    metrics = dict(metrics or {})
    was_training = model.training
    model.eval()
    device_type = _device_type(model)
    totals = dict.fromkeys(["loss", *metrics], 0.0)
    count = 0
    try:
        batches = data if max_batches is None else itertools.islice(data, max_batches)
        for batch in batches:
            with torch.autocast(device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                out = run_step(step_fn, model, batch)
            n = int(out.batch_size or 1)
            # float() of the tensor itself: exact for bf16/fp16/fp32/fp64 losses, summed in
            # float64 (rounding to float32 first would cap a float64 model's precision).
            totals["loss"] += float(out.loss.detach()) * n
            if metrics:
                if out.outputs is None or out.targets is None:
                    raise DataError(
                        "Metrics were asked for, but the step function returned only a loss.",
                        hint="Return lrlab.batches.StepOutput(loss, outputs, targets) from step_fn.",  # noqa: E501
                    )
                for name, fn in metrics.items():
                    totals[name] += float(fn(out.outputs.detach(), out.targets)) * n
            count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise DataError(
            "Evaluation data yielded no batches.", hint="Check the eval dataset is not empty."
        )
    return {k: (v / count if math.isfinite(v) else float("nan")) for k, v in totals.items()}


def _device_type(model: nn.Module) -> str:
    param = next(itertools.chain(model.parameters(), model.buffers()), None)
    return param.device.type if param is not None else "cpu"

"""K copies of a model trained at once: stacked parameters, one vmapped forward, one backward.

Layout: the trainable parameters of all copies live in one leaf tensor ``flat`` of shape
``[K, P]`` (``P`` trainable scalars per copy); each step takes per-parameter views of it,
runs the user's step function under ``torch.func.vmap`` over the copy dimension with those
views swapped in for the model's parameters (as ``torch.func.functional_call`` does), and
differentiates ``Σ_k loss_k`` once: copies share no
computation, so ``∂(Σ_j loss_j)/∂θ_k = ∂loss_k/∂θ_k`` (each copy gets exactly its own
gradient). The optimizer update is a few tensor ops on ``flat`` (:mod:`.optim`), with the
per-copy learning rate broadcast along ``P``.

Buffers (BatchNorm running statistics, ``num_batches_tracked``) are stacked ``[K, ...]``
and swapped in too: BatchNorm updates them in place, and under
vmap an in-place update of a batched buffer updates each copy's own slice, so every copy
keeps its own running statistics (unlike ``replace_all_batch_norm_modules_``, which drops
them).

Copies that blow up are masked on the device without a host sync: a copy whose training
loss is non-finite is marked dead, its loss is replaced by 0 before the sum (so the sum and
its gradient stay finite for the others) and its update is dropped. Dead copies are then
removed from the stack (compaction): on the CPU right away, on a GPU at the next
evaluation (where the host syncs anyway), so later steps cost less.

On the CPU, ``nn.Linear`` inside the vmapped forward is computed as ``(W·xᵀ)ᵀ``
(:class:`_FeatureMajorLinear`): the same numbers, but the activations are then stored
feature-major (``[K, features, batch]``), where batched matrix products of narrow layers
are several times faster than in the default batch-major layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import vmap
from torch.overrides import TorchFunctionMode

from lrlab.batches import StepFn, run_step
from lrlab.copies.optimizer import CopyOptimizer, NotBatchable
from lrlab.copies.rules import stacked_rule
from lrlab.copies.stacked import StackedCopies
from lrlab.errors import DataError
from lrlab.metrics import Metric


class _TensorSwap:
    """Puts given tensors in the place of a module's parameters and buffers, and back.

    What ``torch.func.functional_call`` does, with the slots (every module dict entry that
    holds each tensor, tied aliases included) looked up once instead of on every call: the
    scan calls it once per step, and for small models its cost is not negligible.
    """

    def __init__(self, model: nn.Module) -> None:
        canonical = {id(t): n for n, t in model.named_parameters()}
        canonical.update({id(t): n for n, t in model.named_buffers()})
        seen: set[tuple[int, str]] = set()
        self.slots: list[tuple[dict[str, Any], str, str]] = []
        for _, module in model.named_modules(remove_duplicate=False):
            for table in (module._parameters, module._buffers):
                for attr, tensor in table.items():
                    key = (id(table), attr)
                    if tensor is None or key in seen or id(tensor) not in canonical:
                        continue
                    seen.add(key)
                    self.slots.append((table, attr, canonical[id(tensor)]))

    def __call__(self, tensors: Mapping[str, torch.Tensor], fn: Any, *args: Any) -> Any:
        """``fn(*args)`` with ``tensors`` (canonical name → tensor) swapped in."""
        saved = []
        try:
            for table, attr, name in self.slots:
                if name in tensors:
                    saved.append((table, attr, table[attr]))
                    table[attr] = tensors[name]
            return fn(*args)
        finally:
            for table, attr, original in saved:
                table[attr] = original


def _step_values(
    model: nn.Module,
    step_fn: StepFn,
    metric_fns: Mapping[str, Metric],
    batch: Any,
    with_metrics: bool,
    sizes: list[int],
) -> Any:
    """Loss (and metric values) of one copy on ``batch``; its batch size goes to ``sizes``
    (a Python int: the step function runs once per vmapped call)."""
    out = run_step(step_fn, model, batch)
    sizes.append(int(out.batch_size or 1))
    loss = out.loss.reshape(())
    if not with_metrics or not metric_fns:
        return loss
    if out.outputs is None or out.targets is None:
        raise DataError(
            "Metrics were asked for, but the step function returned only a loss.",
            hint="Return lrlab.batches.StepOutput(loss, outputs, targets) from step_fn.",
        )
    values = [fn(out.outputs.detach(), out.targets).reshape(()) for fn in metric_fns.values()]
    return (loss, *values)


class _FeatureMajorLinear(TorchFunctionMode):
    """``F.linear(x, W, b)`` on 2-D inputs as ``(b + W·xᵀ)ᵀ``: equal maths, faster layout.

    Under vmap the product becomes ``W·xᵀ`` per copy on the stacked tensors, stored
    feature-major (``[K, out, N]``) — the layout the next layer's ``xᵀ`` wants. (A custom
    ``autograd.Function`` with a ``baddbmm`` batching rule was measured too: its per-call
    overhead under vmap cost more than the fused bias saved.)
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func is F.linear and args and args[0].dim() == 2:
            x, weight = args[0], args[1] if len(args) > 1 else kwargs["weight"]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if bias is None:
                return (weight @ x.mT).mT
            return torch.addmm(bias.unsqueeze(-1), weight, x.mT).mT
        return func(*args, **kwargs)


class BatchedEngine(StackedCopies):
    """Trains the copies ``live`` (indices into the scan's LR list) of ``model`` at once.

    ``model`` is lrlab's private working copy (its tensors are never updated, only used as
    the start state and as the module the copies' tensors are swapped into).
    """

    def __init__(
        self,
        model: nn.Module,
        step_fn: StepFn,
        recipe: CopyOptimizer,
        lrs: list[float],
        *,
        metrics: Mapping[str, Metric] | None = None,
        feature_major: bool | None = None,
        grad_clip: float | None = None,
    ) -> None:
        self.model = model
        self.grad_clip = grad_clip
        self.live = list(range(len(lrs)))
        self.step_fn = step_fn
        self.metric_fns = dict(metrics or {})
        self.swap = _TensorSwap(model)
        params = dict(model.named_parameters())
        order = recipe.trainable
        trained = [params[n] for n in order]
        dtypes = {p.dtype for p in trained}
        devices = {p.device for p in trained}
        if len(dtypes) != 1 or len(devices) != 1:
            raise NotBatchable(
                f"trainable parameters mix dtypes {sorted(map(str, dtypes))} or devices "
                f"{sorted(map(str, devices))}; the stacked layout needs one of each."
            )
        if not all(p.dtype.is_floating_point for p in trained):
            raise NotBatchable("trainable parameters must be floating point.")
        (self.dtype,) = dtypes
        (self.device,) = devices
        K = len(lrs)
        self.names = list(order)
        self.shapes = [params[n].shape for n in order]
        self.sizes = [params[n].numel() for n in order]
        flat = torch.cat([params[n].detach().reshape(-1) for n in order])
        self.flat = flat.unsqueeze(0).expand(K, -1).clone().requires_grad_(True)
        # Parameters the optimizer does not train are not stacked: the copies share the
        # model's own. Buffers are stacked: each copy updates its own (BatchNorm statistics).
        self.buffers = {
            n: b.detach().unsqueeze(0).expand(K, *b.shape).clone() for n, b in model.named_buffers()
        }
        lr_t = torch.tensor(lrs, dtype=self.dtype, device=self.device)
        self.rule = stacked_rule(recipe, lr_t, dict(zip(order, self.sizes, strict=True)), order)
        self.alive_t = torch.ones(K, 1, dtype=torch.bool, device=self.device)
        if feature_major is None:
            feature_major = self.device.type == "cpu"
        self.feature_major = feature_major
        # On the CPU a host sync is free: drop diverged copies at once instead of computing
        # them until the next evaluation. (On a GPU it would stall the queue every step.)
        self.compact_eagerly = self.device.type == "cpu"
        self.dead: list[int] = []
        self.steps_done = 0

    # -- helpers ---------------------------------------------------------------------------

    def _views(self) -> dict[str, torch.Tensor]:
        K = self.flat.shape[0]
        parts = self.flat.split(self.sizes, dim=1)
        views = {
            key: part.view(K, *shape)
            for key, part, shape in zip(self.names, parts, self.shapes, strict=True)
        }
        return views

    def _vmapped(self, batch: Any, with_metrics: bool, sizes: list[int]):  # type: ignore[no-untyped-def]
        model, swap, step_fn, metric_fns = self.model, self.swap, self.step_fn, self.metric_fns
        feature_major = self.feature_major

        def one_copy(tensors: dict[str, torch.Tensor]) -> Any:
            args = (model, step_fn, metric_fns, batch, with_metrics, sizes)
            if feature_major:
                with _FeatureMajorLinear():
                    return swap(tensors, _step_values, *args)
            return swap(tensors, _step_values, *args)

        return vmap(one_copy, randomness="same")

    # -- the engine protocol ---------------------------------------------------------------

    def gradient(self, batch: Any, divisor: int) -> torch.Tensor:
        views = self._views()
        losses = self._vmapped(batch, False, [])({**views, **self.buffers})
        if divisor != 1:  # x / 1 == x: skipped, as Update skips it
            losses = losses / divisor
        alive = self.alive_t.squeeze(1)
        alive.logical_and_(torch.isfinite(losses.detach()))
        # Dead copies contribute 0 (not NaN·0) to the sum: the others' gradients stay exact.
        total = torch.where(alive, losses, 0.0).sum()
        if self.steps_done == 0:
            # Once: a parameter that gets no gradient is skipped by torch.optim (no update,
            # no state step), which the stacked update would not reproduce exactly.
            grads = torch.autograd.grad(total, list(views.values()), allow_unused=True)
            unused = [n for n, g in zip(self.names, grads, strict=True) if g is None]
            if unused:
                raise NotBatchable(f"parameters {unused} receive no gradient.")
            grad = torch.cat([g.reshape(g.shape[0], -1) for g in grads], dim=1)
        else:
            (grad,) = torch.autograd.grad(total, self.flat)
        return grad

    @torch.no_grad()
    def evaluate(self, data: Iterable[Any]) -> dict[str, np.ndarray]:
        names = ["loss", *self.metric_fns]
        tensors = {**self._views(), **self.buffers}
        totals: list[torch.Tensor] | None = None
        count = 0
        self.model.eval()
        try:
            for batch in data:
                sizes: list[int] = []
                out = self._vmapped(batch, True, sizes)(tensors)
                values = out if isinstance(out, tuple) else (out,)
                n = sizes[-1]
                # Batch-size-weighted float64 sums, exactly as lrlab.evaluate does.
                weighted = [v.double() * n for v in values]
                if totals is None:
                    totals = weighted
                else:
                    totals = [t + w for t, w in zip(totals, weighted, strict=True)]
                count += n
        finally:
            self.model.train()
        if totals is None or count == 0:
            raise DataError(
                "Evaluation data yielded no batches.", hint="Check the eval dataset is not empty."
            )
        return {name: (t / count).cpu().numpy() for name, t in zip(names, totals, strict=True)}

    def keep(self, mask: np.ndarray) -> None:
        if mask.all():
            return
        index = torch.as_tensor(np.flatnonzero(mask), device=self.device)
        self.flat = self.flat.detach()[index].requires_grad_(True)
        self.buffers = {k: v[index] for k, v in self.buffers.items()}
        self.rule.select(index)
        self.alive_t = self.alive_t[index]
        self.live = [c for c, m in zip(self.live, mask, strict=True) if m]

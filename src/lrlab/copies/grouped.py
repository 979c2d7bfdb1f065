"""K copies of a plain ``Linear``/activation stack trained with grouped matrix products.

For models :func:`~lrlab.copies.linear_stack.find_linear_stack` recognises, this engine
replaces the general vmapped one (:mod:`.batched`) on the CPU: the same numbers (to float
rounding), in less than half the time on seed 003's MLP (``docs/scan.md``, Performance).
What it saves is not arithmetic but everything around it — per-op dispatch under vmap,
elementwise passes over strided views, autograd bookkeeping, and fresh multi-megabyte
allocations (the memory allocator hands them back to the OS and page-faults them in again
every step).

**Layout.** Copy ``k``'s activations are stored feature-major, ``h[k] ∈ ℝ^{F×N}`` (features ×
batch), so a layer of all copies is one batched product with the bias fused in:
``z = baddbmm(b, W, h)``, ``W ∈ ℝ^{K×F_out×F_in}``. The first layer's input is the batch
itself, shared by every copy: there the K products are a single matrix product
``[K·F_out, F_in] @ [F_in, N]``. Parameters live in one ``[K, P]`` tensor (as in the
vmapped engine) and are read through views.

**Backward, by hand** (no autograd graph). With ``g = ∂L/∂z`` of a layer whose input was
``h``: ``∂L/∂W = g·hᵀ`` (batched; one matrix product for the first layer), ``∂L/∂b = Σ_n g``,
``∂L/∂h = Wᵀ·g``; through an activation ``g ← g·f′`` with autograd's own formulas
(``threshold_backward`` for ReLU, ...); through dropout ``g ← g·mask``. The loss and
``∂L_k/∂outputs_k`` come from a head (:mod:`.heads`). Copies share no computation, so each
gets exactly its own gradient, and a copy that blows up cannot affect the others.

**Buffers.** Every large tensor (activations, their gradients) is written with ``out=``
into a buffer allocated once per role and reused every step (a prefix of it for shorter
batches or fewer copies), so the memory stays mapped.

**Dropout** draws its mask exactly as ``nn.Dropout`` does in the sequential engine —
``F.dropout`` on a ``[N, F]`` tensor of ones, from the same generator state — and applies
it to every copy (common random numbers, like the vmapped engine's ``randomness="same"``).

**Safety.** Before the first update the engine checks that its forward pass reproduces the
module's own output on that batch, in train mode (same random state: same dropout masks)
and in eval mode; a mismatch raises ``NotBatchable`` and the scan uses the vmapped engine.

CPU only (the scan picks it only there): the check saves and restores the CPU generator,
and every step reads one flag on the host to drop diverged copies at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import vmap

from lrlab.batches import Unpack, _leading_size, default_unpack, to_device
from lrlab.copies.heads import loss_head
from lrlab.copies.linear_stack import Activation, Dropout, Linear, LinearStack
from lrlab.copies.optimizer import CopyOptimizer, NotBatchable
from lrlab.copies.rules import stacked_rule
from lrlab.copies.stacked import StackedCopies
from lrlab.errors import DataError
from lrlab.metrics import Metric

Tensor = torch.Tensor

# Relative tolerance of the forward check (float rounding differs between the grouped and
# the module's own products; a wrong structure differs by O(1)).
_CHECK_RTOL = {torch.float32: 1e-3, torch.float64: 1e-9}


class GroupedEngine(StackedCopies):
    """Trains the copies ``live`` (indices into the scan's LR list) of a linear stack.

    ``model`` is lrlab's private working copy: its tensors are only read (the start state,
    and the module's own forward for the check before the first update).
    """

    def __init__(
        self,
        model: nn.Module,
        stack: LinearStack,
        criterion: Callable[[Tensor, Any], Tensor],
        recipe: CopyOptimizer,
        lrs: list[float],
        *,
        unpack: Unpack | None = None,
        device: torch.device | None = None,
        metrics: Mapping[str, Metric] | None = None,
        grad_clip: float | None = None,
    ) -> None:
        self.grad_clip = grad_clip
        params = dict(model.named_parameters())
        names = list(recipe.trainable)
        if sorted(names) != sorted(params):
            raise NotBatchable("the optimizer does not train exactly the stack's parameters.")
        dtypes = {params[n].dtype for n in names}
        devices = {params[n].device for n in names}
        if len(dtypes) != 1 or len(devices) != 1:
            raise NotBatchable("the stack's parameters mix dtypes or devices.")
        (self.dtype,) = dtypes
        (self.device,) = devices
        if self.dtype not in _CHECK_RTOL:
            raise NotBatchable(f"the grouped engine handles float32/float64, not {self.dtype}.")
        self.model = model
        self.stack = stack
        self.unpack = unpack or default_unpack
        self.input_device = device
        self.head = loss_head(criterion)
        self.metric_fns = {k: vmap(fn, in_dims=(0, None)) for k, fn in (metrics or {}).items()}
        K = len(lrs)
        self.names = names
        sizes = [params[n].numel() for n in names]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self.span = {n: (offsets[i], offsets[i + 1]) for i, n in enumerate(names)}
        flat = torch.cat([params[n].detach().reshape(-1) for n in names])
        self.flat = flat.unsqueeze(0).expand(K, -1).clone()
        lr_t = torch.tensor(lrs, dtype=self.dtype, device=self.device)
        self.rule = stacked_rule(recipe, lr_t, dict(zip(names, sizes, strict=True)), names)
        self.live = list(range(K))
        self.alive_t = torch.ones(K, 1, dtype=torch.bool, device=self.device)
        self.dead: list[int] = []
        self.checked = False
        self._buffers: dict[Any, Tensor] = {}
        self._buffer_views: dict[tuple[Any, tuple[int, ...]], Tensor] = {}
        self._first_linear = next(
            j for j, layer in enumerate(stack.layers) if isinstance(layer, Linear)
        )
        self._views = self._layer_views(self.flat)

    # -- tensors ---------------------------------------------------------------------------

    def _layer_views(self, flat: Tensor) -> list[tuple[Tensor, Tensor | None] | None]:
        """Per layer, ``(W [K, o, i], b [K, o, 1])`` views of ``flat`` (None for non-linear
        layers). The optimizer updates ``flat`` in place, so they stay valid until the
        stack is compacted."""
        K = flat.shape[0]

        def view(name: str, *shape: int) -> Tensor:
            start, stop = self.span[name]
            return flat[:, start:stop].view(K, *shape)

        views: list[tuple[Tensor, Tensor | None] | None] = []
        for layer in self.stack.layers:
            if isinstance(layer, Linear):
                o, i = layer.out_features, layer.in_features
                bias = None if layer.bias is None else view(layer.bias, o, 1)
                views.append((view(layer.weight, o, i), bias))
            else:
                views.append(None)
        return views

    def _buffer(self, tag: Any, shape: tuple[int, ...]) -> Tensor:
        """A contiguous ``shape`` view at the start of the storage kept for ``tag``.

        One storage per tag, grown to the largest shape asked for: batches of different
        sizes (a short last batch, evaluation data) and fewer copies after compaction reuse
        it, which keeps the working set small and the memory mapped.
        """
        view = self._buffer_views.get((tag, shape))
        if view is not None:
            return view
        numel = math.prod(shape)
        storage = self._buffers.get(tag)
        if storage is None or storage.numel() < numel:
            storage = torch.empty(numel, dtype=self.dtype, device=self.device)
            self._buffers[tag] = storage
            self._buffer_views = {k: v for k, v in self._buffer_views.items() if k[0] != tag}
        view = self._buffer_views[(tag, shape)] = storage[:numel].view(shape)
        return view

    def _batch(self, batch: Any) -> tuple[Tensor, Any, int]:
        inputs, targets = self.unpack(batch)
        inputs = to_device(inputs, self.input_device, non_blocking=True)
        targets = to_device(targets, self.input_device, non_blocking=True)
        if not isinstance(inputs, Tensor) or inputs.dim() < 2:
            raise NotBatchable("the inputs are not one tensor of shape (N, features...).")
        n = _leading_size(targets) or _leading_size(inputs) or 1
        return inputs, targets, n

    # -- forward / backward ------------------------------------------------------------------

    def _forward(self, views: list[Any], x: Tensor, training: bool) -> tuple[Tensor, list[Any]]:
        """Outputs ``[K, O, N]`` (feature-major) and what the backward pass needs."""
        h = (x.flatten(1) if self.stack.flatten else x).mT  # [F, N], shared by all copies
        if h.dim() != 2:
            raise NotBatchable(f"the stack's input has shape {tuple(x.shape)}; need (N, F).")
        N = h.shape[1]
        tape: list[Any] = []
        after_linear = False
        for j, layer in enumerate(self.stack.layers):
            if isinstance(layer, Linear):
                W, b = views[j]
                K, o, i = W.shape
                z = self._buffer(("z", j), (K, o, N))
                if h.dim() == 2 and i == 1:  # a scalar input: z = W·x + b, broadcasts
                    torch.mul(W, h, out=z)  # (addcmul broadcasts 3× slower than mul, add_)
                    if b is not None:
                        z.add_(b)
                elif h.dim() == 2:  # the shared input: one [K·o, i] @ [i, N] product
                    W2 = self._buffer(("W", j), (K, o, i)).copy_(W).view(K * o, i)
                    z2 = z.view(K * o, N)
                    if b is None:
                        torch.mm(W2, h, out=z2)
                    else:
                        torch.addmm(b.reshape(K * o, 1), W2, h, out=z2)
                elif b is None:
                    torch.bmm(W, h, out=z)
                else:
                    torch.baddbmm(b, W, h, out=z)
                tape.append(h)
                h = z
                after_linear = True
                continue
            if isinstance(layer, Activation):
                # In place when f′ comes from the output and nothing else holds the input.
                in_place = layer.uses == "output" and after_linear
                y = h if in_place else self._buffer(("a", j), tuple(h.shape))
                layer.forward(h, y)
                tape.append((h, y))
                h = y
            elif isinstance(layer, Dropout):
                mask = None
                if training and layer.p > 0:
                    # nn.Dropout's own draw on an (N, F) input: the sequential engine's mask.
                    ones = torch.ones(N, h.shape[1], dtype=self.dtype, device=self.device)
                    mask = F.dropout(ones, layer.p, training=True).mT
                    h = torch.mul(h, mask, out=self._buffer(("d", j), tuple(h.shape)))
                tape.append(mask)
            after_linear = False
        return h, tape

    def _backward(self, g: Tensor, tape: list[Any]) -> Tensor:
        """The ``[K, P]`` gradient (a reused buffer), given ``g = ∂L/∂outputs``
        (``[K, O, N]``, overwritten)."""
        K = g.shape[0]
        grads: dict[str, Tensor] = {}
        g = g.contiguous()
        first = self._first_linear
        for j in range(len(self.stack.layers) - 1, -1, -1):
            layer, saved = self.stack.layers[j], tape[j]
            if isinstance(layer, Linear):
                o, i = layer.out_features, layer.in_features
                N = g.shape[2]
                if saved.dim() == 2:  # the shared input [i, N]: one matrix product
                    grads[layer.weight] = torch.mm(g.view(K * o, N), saved.mT).view(K, o * i)
                else:
                    grads[layer.weight] = torch.bmm(g, saved.mT).view(K, o * i)
                if layer.bias is not None:
                    grads[layer.bias] = g.sum(dim=2)
                if j > first:
                    W, _ = self._views[j]
                    # ∂L/∂h goes into this layer's own output buffer: nothing reads z_j any
                    # more (the layers above are done), and g lives elsewhere (the head's
                    # gradient, or the buffer of the layer above).
                    out = self._buffer(("z", j), (K, i, N))
                    # One output: Wᵀ·g is an outer product, a broadcast (the same products).
                    g = torch.mul(W.mT, g, out=out) if o == 1 else torch.bmm(W.mT, g, out=out)
            elif isinstance(layer, Activation):
                x, y = saved
                g = layer.backward(g, x, y)
            elif saved is not None:  # dropout mask
                g = g.mul_(saved)
        # One concatenation into the flat layout (measured faster than writing each piece
        # into its place with out=, at these sizes).
        out = self._buffer("grad", (K, self.flat.shape[1]))
        return torch.cat([grads[n] for n in self.names], dim=1, out=out)

    # -- the check before the first update ------------------------------------------------

    @torch.no_grad()
    def _module_output(self, x: Tensor, training: bool) -> Any:
        """The module's own output on ``x``; the random state is left as it was (a train-mode
        forward then draws the same dropout masks as the training step after it)."""
        state = torch.get_rng_state()
        was_training = self.model.training
        try:
            return self.model.train(training)(x)
        finally:
            self.model.train(was_training)
            torch.set_rng_state(state)

    @torch.no_grad()
    def _expected(self, x: Tensor) -> tuple[Any, Any, Tensor | None]:
        """What the check compares, computed before the first training forward (which then
        reuses the buffers): the module's output in train and eval mode, and the grouped
        eval-mode output of copy 0 when the stack has dropout (else it equals the train-mode
        output, read off the training forward)."""
        train = self._module_output(x, True)
        evaluation = self._module_output(x, False)
        ours = None
        if any(isinstance(layer, Dropout) and layer.p > 0 for layer in self.stack.layers):
            ours = self._forward(self._layer_views(self.flat[:1]), x, False)[0][0].mT.clone()
        return train, evaluation, ours

    def _check(self, expected: tuple[Any, Any, Tensor | None], train_ours: Tensor) -> None:
        """The grouped forward equals the module's own output on the first batch: in train
        mode (``train_ours``: copy 0 of the first training forward — all copies are equal
        then — with the same dropout masks) and in eval mode (a traced forward may have
        fixed a ``self.training`` branch). Raises :class:`NotBatchable` otherwise."""
        train_expected, eval_expected, eval_ours = expected
        if eval_ours is None:
            eval_ours = train_ours
        for reference, ours in ((train_expected, train_ours), (eval_expected, eval_ours)):
            if not isinstance(reference, Tensor) or reference.shape != ours.shape:
                raise NotBatchable("the module's output is not the stack's output.")
            if reference.numel():
                scale = float(reference.abs().max())
                error = float((ours - reference).abs().max())
                if not error <= _CHECK_RTOL[self.dtype] * (scale + 1e-30):
                    raise NotBatchable(
                        f"the grouped forward differs from the module's ({error:.3g} vs "
                        f"outputs of size {scale:.3g})."
                    )
        self.checked = True

    # -- the engine protocol ---------------------------------------------------------------

    def gradient(self, batch: Any, divisor: int) -> Tensor:
        """Every live copy's gradient on ``batch`` (÷ ``divisor``), by hand through the
        stack; a copy whose loss is not finite is marked in ``alive_t``."""
        x, targets, _ = self._batch(batch)
        expected = None if self.checked else self._expected(x)
        outputs, tape = self._forward(self._views, x, training=True)
        if expected is not None:
            self._check(expected, outputs[0].mT)
        losses, grad = self.head(outputs.mT, targets)
        if losses.shape != (outputs.shape[0],):
            raise NotBatchable("the criterion does not return one scalar loss per copy.")
        # Dead copies leave the stack at once (on the CPU a host sync is free), so every
        # copy here was alive before this group of micro-batches.
        self.alive_t = self.alive_t & torch.isfinite(losses).unsqueeze(1)
        upstream = grad.mT if divisor == 1 else grad.mT / divisor
        return self._backward(upstream, tape)

    @torch.no_grad()
    def evaluate(self, data: Iterable[Any]) -> dict[str, np.ndarray]:
        """``{"loss": [...], metric: [...]}`` per live copy, as :func:`lrlab.evaluate.evaluate`
        defines them (eval mode, batch-size-weighted float64 mean)."""
        names = ["loss", *self.metric_fns]
        totals: list[Tensor] | None = None
        count = 0
        for batch in data:
            x, targets, n = self._batch(batch)
            outputs, _ = self._forward(self._views, x, training=False)
            outputs = outputs.mT
            values = [self.head.losses(outputs, targets)]
            values += [fn(outputs, targets) for fn in self.metric_fns.values()]
            # Batch-size-weighted float64 sums, exactly as lrlab.evaluate.evaluate does.
            weighted = [v.reshape(-1).double() * n for v in values]
            if totals is not None:
                weighted = [t + w for t, w in zip(totals, weighted, strict=True)]
            totals = weighted
            count += n
        if totals is None or count == 0:
            raise DataError(
                "Evaluation data yielded no batches.", hint="Check the eval dataset is not empty."
            )
        return {name: (t / count).cpu().numpy() for name, t in zip(names, totals, strict=True)}

    def keep(self, mask: np.ndarray) -> None:
        """Drop the live copies where ``mask`` is False (their parameters and optimizer
        state): later steps cost less."""
        if mask.all():
            return
        index = torch.as_tensor(np.flatnonzero(mask), device=self.device)
        self.flat = self.flat[index]
        self.rule.select(index)
        self.alive_t = self.alive_t[index]
        self.live = [c for c, m in zip(self.live, mask, strict=True) if m]
        self._views = self._layer_views(self.flat)

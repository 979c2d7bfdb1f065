"""Stacked update rules: torch's optimizers written on one ``[K, P]`` tensor of K copies.

The batched engines (:mod:`.batched`, :mod:`.grouped`) hold the trainable parameters of all
copies in one ``[K, P]`` tensor (``P`` trainable scalars per copy). The rules here update it
with a per-copy learning rate, so an update costs a handful of tensor ops whatever the number
of parameter tensors. They follow torch's single-tensor implementations line by line
(``torch/optim/sgd.py``, ``adam.py``, ``rmsprop.py``); :func:`stacked_rule` turns a
:class:`~lrlab.copies.optimizer.CopyOptimizer` into one.

**Per-step hyper-parameters.** ``find_lr``'s short trainings follow a schedule: at update
``t`` copy ``k`` uses ``lrs[k] · s(t)`` (``s`` the schedule at peak 1) and every copy the
same momentum ``m(t)`` (SGD/RMSprop ``momentum``, Adam's ``β₁``), exactly what
:class:`lrlab.optim.ScheduleDriver` writes into a torch optimizer's param groups before its
``step()``. :meth:`StackedRule.set_hyper` sets both; torch reads them fresh at every step
(Adam's bias correction ``1 − β₁ᵗ`` uses the current ``β₁``), and so do these rules.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from lrlab.copies.optimizer import CopyOptimizer, NotBatchable

# Group keys that differ between groups without changing the batched update's structure.
_PER_GROUP_OK = frozenset({"lr", "weight_decay", "params", "initial_lr"})


class StackedRule:
    """An update rule on ``p`` of shape ``[K, P]`` (K copies, P trainable scalars).

    ``lr`` is ``[K, 1]`` (or ``[K, P]`` with several param groups); per-group numeric
    hyper-parameters are ``[1, P]`` rows or Python floats. ``alive`` (``[K, 1]`` bool, or
    ``None`` when every copy is alive) freezes copies that blew up: their gradients are
    replaced by 0 before they touch any state and their update is zeroed (``masked_fill``,
    which also clears a NaN), so a NaN or Inf in one copy never reaches another copy (nor,
    once dead, its own parameters). ``grad`` is consumed (modified in place).
    """

    lr: torch.Tensor
    base_lr: torch.Tensor
    _scratch: torch.Tensor | None = None

    def set_hyper(self, scale: float, momentum: float | None = None) -> None:
        """Update ``t``'s hyper-parameters: LRs ``base_lr · scale``; ``momentum`` (``None``:
        unchanged) for the rule's momentum-like coefficient (see the module docstring)."""
        self.lr = self.base_lr * scale
        if momentum is not None:
            self._set_momentum(float(momentum))

    def _set_momentum(self, value: float) -> None:
        raise NotImplementedError

    def step(self, p: torch.Tensor, grad: torch.Tensor, alive: torch.Tensor | None) -> None:
        raise NotImplementedError

    def scratch(self, like: torch.Tensor) -> torch.Tensor:
        """A ``[K, P]`` work buffer kept between steps: a fresh multi-megabyte temporary
        every step would be page-faulted in again each time (on the CPU, several times the
        cost of the arithmetic done in it)."""
        if self._scratch is None or self._scratch.shape != like.shape:
            self._scratch = torch.empty_like(like)
        return self._scratch

    def select(self, index: torch.Tensor) -> None:
        """Keep only the copies at ``index`` (compaction after copies were removed)."""
        raise NotImplementedError


class StackedSGD(StackedRule):
    """``torch.optim.SGD`` on stacked copies (momentum, dampening, Nesterov, weight decay).

    With ``g = ∇ + wd·p``: ``b ← g`` on the first step, then ``b ← μ·b + (1 − τ)·g``;
    the step uses ``g + μ·b`` (Nesterov) or ``b``; ``p ← p − lr·step``. Without momentum,
    ``p ← p − lr·g``. (Sutskever et al., 2013; the torch documentation of ``SGD``.)
    """

    def __init__(
        self,
        lr: torch.Tensor,
        *,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float | torch.Tensor = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
        buf: torch.Tensor | None = None,
    ) -> None:
        self.lr = self.base_lr = lr
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        self.maximize = maximize
        self.buf = buf
        self._decay = _nonzero(weight_decay)  # decided once: no host sync per step

    @torch.no_grad()
    def step(self, p: torch.Tensor, grad: torch.Tensor, alive: torch.Tensor | None) -> None:
        g = grad.neg_() if self.maximize else grad
        if self._decay:
            _add_scaled(g, p, self.weight_decay)
        dead = None if alive is None else ~alive
        if dead is not None:
            g.masked_fill_(dead, 0.0)
        if self.momentum != 0:
            if self.buf is None:
                self.buf = g.clone()
            else:
                self.buf.mul_(self.momentum).add_(g, alpha=1 - self.dampening)
            g = g.add_(self.buf, alpha=self.momentum) if self.nesterov else self.buf
        update = torch.mul(self.lr, g, out=self.scratch(p))
        if dead is not None:
            update.masked_fill_(dead, 0.0)
        p.sub_(update)

    def _set_momentum(self, value: float) -> None:
        self.momentum = value

    def select(self, index: torch.Tensor) -> None:
        self.lr, self.base_lr = self.lr[index], self.base_lr[index]
        if self.buf is not None:
            self.buf = self.buf[index]


class StackedAdam(StackedRule):
    """``torch.optim.Adam`` / ``AdamW`` on stacked copies (Kingma & Ba, 2015; Loshchilov &
    Hutter, 2019 for the decoupled weight decay).

    ``t ← t + 1``; AdamW: ``p ← p·(1 − lr·wd)``, Adam: ``g ← g + wd·p``;
    ``m ← m + (1 − β₁)(g − m)``; ``v ← β₂·v + (1 − β₂)·g²`` (AMSGrad: ``v̂ ← max(v̂, v)``);
    ``p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)``.
    """

    def __init__(
        self,
        lr: torch.Tensor,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | torch.Tensor = 0.0,
        decoupled: bool = False,
        amsgrad: bool = False,
        maximize: bool = False,
        step: int = 0,
        exp_avg: torch.Tensor | None = None,
        exp_avg_sq: torch.Tensor | None = None,
        max_exp_avg_sq: torch.Tensor | None = None,
    ) -> None:
        self.lr = self.base_lr = lr
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = eps
        self.weight_decay = weight_decay
        self.decoupled = decoupled
        self.amsgrad = amsgrad
        self.maximize = maximize
        self.t = step
        self._decay = _nonzero(weight_decay)
        self.exp_avg = exp_avg
        self.exp_avg_sq = exp_avg_sq
        self.max_exp_avg_sq = max_exp_avg_sq

    @torch.no_grad()
    def step(self, p: torch.Tensor, grad: torch.Tensor, alive: torch.Tensor | None) -> None:
        if self.exp_avg is None:
            self.exp_avg = torch.zeros_like(p)
        if self.exp_avg_sq is None:
            self.exp_avg_sq = torch.zeros_like(p)
        if self.amsgrad and self.max_exp_avg_sq is None:
            self.max_exp_avg_sq = torch.zeros_like(p)
        self.t += 1
        g = grad.neg_() if self.maximize else grad
        if self._decay and not self.decoupled:
            _add_scaled(g, p, self.weight_decay)
        dead = None if alive is None else ~alive
        if dead is not None:
            g.masked_fill_(dead, 0.0)
        self.exp_avg.lerp_(g, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
        second = self.exp_avg_sq
        if self.amsgrad:
            torch.maximum(self.max_exp_avg_sq, self.exp_avg_sq, out=self.max_exp_avg_sq)
            second = self.max_exp_avg_sq
        bias1 = 1 - self.beta1**self.t
        bias2_sqrt = (1 - self.beta2**self.t) ** 0.5
        # torch's order of operations: (m / (√v / √(1 − β₂ᵗ) + ε)) · lr/(1 − β₁ᵗ); the
        # buffers are reused in place (these tensors are K copies × all parameters).
        update = torch.sqrt(second, out=self.scratch(p)).div_(bias2_sqrt).add_(self.eps)
        torch.div(self.exp_avg, update, out=update)
        update.mul_(self.lr / bias1)
        if self._decay and self.decoupled:
            _add_scaled(update, p, self.lr * self.weight_decay)  # p·(1 − lr·wd) = p − lr·wd·p
        if dead is not None:
            update.masked_fill_(dead, 0.0)
        p.sub_(update)

    def _set_momentum(self, value: float) -> None:
        self.beta1 = value

    def select(self, index: torch.Tensor) -> None:
        self.lr, self.base_lr = self.lr[index], self.base_lr[index]
        for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value[index])


class StackedRMSprop(StackedRule):
    """``torch.optim.RMSprop`` on stacked copies (Hinton's lecture 6e; Graves, 2013, for the
    centered variant).

    ``g ← ∇ + wd·p``; ``v ← α·v + (1 − α)·g²``; centered: ``ḡ ← ḡ + (1 − α)(g − ḡ)``,
    ``d = √(v − ḡ²) + ε``, else ``d = √v + ε``; with momentum ``b ← μ·b + g/d``,
    ``p ← p − lr·b``, else ``p ← p − lr·g/d``.
    """

    def __init__(
        self,
        lr: torch.Tensor,
        *,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float | torch.Tensor = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
        square_avg: torch.Tensor | None = None,
        grad_avg: torch.Tensor | None = None,
        buf: torch.Tensor | None = None,
    ) -> None:
        self.lr = self.base_lr = lr
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.weight_decay = weight_decay
        self.momentum = float(momentum)
        self.centered = centered
        self.maximize = maximize
        self._decay = _nonzero(weight_decay)
        self.square_avg, self.grad_avg, self.buf = square_avg, grad_avg, buf

    def _set_momentum(self, value: float) -> None:
        self.momentum = value

    @torch.no_grad()
    def step(self, p: torch.Tensor, grad: torch.Tensor, alive: torch.Tensor | None) -> None:
        if self.square_avg is None:
            self.square_avg = torch.zeros_like(p)
        if self.centered and self.grad_avg is None:
            self.grad_avg = torch.zeros_like(p)
        g = grad.neg_() if self.maximize else grad
        if self._decay:
            _add_scaled(g, p, self.weight_decay)
        dead = None if alive is None else ~alive
        if dead is not None:
            g.masked_fill_(dead, 0.0)
        self.square_avg.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
        denom = self.scratch(p)
        if self.centered:
            assert self.grad_avg is not None
            self.grad_avg.lerp_(g, 1 - self.alpha)
            torch.addcmul(self.square_avg, self.grad_avg, self.grad_avg, value=-1, out=denom)
            denom.sqrt_()
        else:
            torch.sqrt(self.square_avg, out=denom)
        denom.add_(self.eps)
        if self.momentum > 0 or self.buf is not None:
            if self.buf is None:
                self.buf = torch.zeros_like(p)
            self.buf.mul_(self.momentum).addcdiv_(g, denom)
            update = torch.mul(self.buf, self.lr, out=denom)
        else:
            update = torch.div(g, denom, out=denom).mul_(self.lr)
        if dead is not None:
            update.masked_fill_(dead, 0.0)
        p.sub_(update)

    def select(self, index: torch.Tensor) -> None:
        self.lr, self.base_lr = self.lr[index], self.base_lr[index]
        for name in ("square_avg", "grad_avg", "buf"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value[index])


def _add_scaled(target: torch.Tensor, p: torch.Tensor, scale: float | torch.Tensor) -> None:
    """``target += scale · p`` in place (``scale`` a float or a broadcastable tensor),
    without a ``[K, P]`` temporary."""
    if isinstance(scale, torch.Tensor):
        target.addcmul_(p, scale)
    else:
        target.add_(p, alpha=scale)


def _nonzero(value: float | torch.Tensor) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(value.ne(0).any())
    return value != 0


def stacked_rule(
    recipe: CopyOptimizer,
    lrs: torch.Tensor,
    sizes: Mapping[str, int],
    order: list[str],
) -> StackedRule:
    """The stacked rule equivalent to ``recipe`` for copies with learning rates ``lrs`` (``[K]``).

    ``order`` is the flat layout (parameter names, in order) and ``sizes`` their numels.
    Raises :class:`NotBatchable` with the reason when the recipe needs the sequential path.
    """
    cls = recipe.cls
    if cls not in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop):
        raise NotBatchable(
            f"{cls.__name__} has no stacked implementation (only SGD, Adam, AdamW and RMSprop)."
        )
    first = recipe.groups[0]
    for g in recipe.groups[1:]:
        differing = {k for k in set(g) | set(first) if g.get(k) != first.get(k)} - _PER_GROUP_OK
        if differing:
            raise NotBatchable(
                f"param groups differ in {sorted(differing)}; the batched path allows only "
                "different lr and weight_decay per group."
            )
    group_of = {n: gi for gi, names in enumerate(recipe.names) for n in names}
    dtype, device = lrs.dtype, lrs.device

    def row(values_per_group: list[float]) -> float | torch.Tensor:
        """A Python float when every group agrees, else a ``[1, P]`` row."""
        if len(set(values_per_group)) == 1:
            return float(values_per_group[0])
        parts = [
            torch.full((sizes[n],), float(values_per_group[group_of[n]]), dtype=dtype)
            for n in order
        ]
        return torch.cat(parts).to(device).unsqueeze(0)

    lr = lrs.unsqueeze(1) * row(recipe.ratios)
    weight_decay = row([float(g.get("weight_decay", 0.0)) for g in recipe.groups])
    state = recipe.state or {}
    carried = [n for n in order if state.get(n)]
    if carried and len(carried) != len(order):
        raise NotBatchable("the carried optimizer state covers only some of the parameters.")
    K = lrs.shape[0]

    def stack(key: str) -> torch.Tensor | None:
        if not carried:
            return None
        values = [state[n].get(key) for n in order]
        if any(v is None for v in values):
            if all(v is None for v in values):
                return None
            raise NotBatchable(f"the carried state has {key!r} for only some parameters.")
        flat = torch.cat([v.detach().reshape(-1).to(device, dtype) for v in values])
        return flat.unsqueeze(0).expand(K, -1).clone()

    if cls is torch.optim.SGD:
        return StackedSGD(
            lr,
            momentum=float(first.get("momentum", 0.0)),
            dampening=float(first.get("dampening", 0.0)),
            weight_decay=weight_decay,
            nesterov=bool(first.get("nesterov", False)),
            maximize=bool(first.get("maximize", False)),
            buf=stack("momentum_buffer"),
        )
    if cls is torch.optim.RMSprop:
        return StackedRMSprop(
            lr,
            alpha=float(first.get("alpha", 0.99)),
            eps=float(first.get("eps", 1e-8)),
            weight_decay=weight_decay,
            momentum=float(first.get("momentum", 0.0)),
            centered=bool(first.get("centered", False)),
            maximize=bool(first.get("maximize", False)),
            square_avg=stack("square_avg"),
            grad_avg=stack("grad_avg"),
            buf=stack("momentum_buffer"),
        )
    steps = {float(state[n]["step"]) for n in carried if "step" in state[n]}
    if len(steps) > 1:
        raise NotBatchable("the carried Adam state has different step counts per parameter.")
    decoupled = cls is torch.optim.AdamW or bool(first.get("decoupled_weight_decay", False))
    return StackedAdam(
        lr,
        betas=first.get("betas", (0.9, 0.999)),
        eps=float(first.get("eps", 1e-8)),
        weight_decay=weight_decay,
        decoupled=decoupled,
        amsgrad=bool(first.get("amsgrad", False)),
        maximize=bool(first.get("maximize", False)),
        step=int(steps.pop()) if steps else 0,
        exp_avg=stack("exp_avg"),
        exp_avg_sq=stack("exp_avg_sq"),
        max_exp_avg_sq=stack("max_exp_avg_sq"),
    )

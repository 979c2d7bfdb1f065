"""Parity with torch-lr-finder 0.2.2, an independent implementation of the same test.

What torch-lr-finder does (read from its source, ``torch_lr_finder/lr_finder.py``):

* LR of step ``i``: its ``ExponentialLR``/``LinearLR`` schedulers are stepped once at
  construction (``last_epoch = 0``), so step ``i`` trains with ``start·(end/start)^(i/(N−1))``
  (exp) or ``start + i/(N−1)·(end−start)`` — the LR it appends to ``history["lr"]`` is the one
  it trained with. No one-step offset with torch ≥ 1.1, and the sweep ends at ``end_lr``.
  ``start_lr`` is written into *every* param group (group ratios are not kept).
* Loss of step ``i``: ``_train_batch`` computes the loss of the next batch(es), then steps the
  optimizer; the returned loss was computed *before* that update.
* Accumulation: each micro-batch loss is divided by ``accumulation_steps`` in place, summed
  into a float32 tensor and ``.item()``-ed: the mean of the micro-batch losses.
* ``history["loss"]`` stores the *smoothed* loss: ``s_0 = x_0``,
  ``s_i = f·x_i + (1−f)·s_{i−1}`` with ``f = smooth_f`` (not bias-corrected). With
  ``smooth_f = 0`` it stores the raw losses.
* Stop rule: ``s_i > diverge_th · best`` (best = min of the smoothed history), checked after
  recording the point.
* With ``val_loader``, the recorded loss is the validation loss after the update, averaged
  over the whole validation set.

So, driven with the same start/end/num_iter, the same model, optimizer and data order, and the
same global RNG state, lrlab's raw losses must *equal* torch-lr-finder's raw losses — not
approximately: the same float32 operations happen in the same order.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrlab.finder import range_test

torch_lr_finder = pytest.importorskip("torch_lr_finder")

NUM_ITER = 40


def _data(n: int = 96, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return TensorDataset(x, y)


class Net(nn.Module):
    """BatchNorm and dropout: data order, dropout masks and BN statistics must all match."""

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


OPTIMIZERS = {
    "sgd-nesterov": lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=1e-4),
}


def _pair(opt_name: str, dropout: float = 0.2):
    torch.manual_seed(1)
    model = Net(dropout)
    twin = copy.deepcopy(model)
    return (model, OPTIMIZERS[opt_name](model.parameters())), (
        twin,
        OPTIMIZERS[opt_name](twin.parameters()),
    )


def _theirs(model, opt, loader, *, seed: int, **kwargs) -> dict:
    finder = torch_lr_finder.LRFinder(model, opt, nn.CrossEntropyLoss(), device="cpu")
    torch.manual_seed(seed)
    finder.range_test(loader, **kwargs)
    finder.reset()
    return finder.history


def _ours(model, opt, loader, *, seed: int, **kwargs):
    torch.manual_seed(seed)
    return range_test(model, opt, nn.CrossEntropyLoss(), loader, suggest=False, **kwargs)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    ("step_mode", "start_lr", "end_lr", "accumulation_steps"),
    [("exp", 1e-4, 1.0, 1), ("linear", 1e-3, 0.5, 1), ("exp", 1e-5, 0.3, 3)],
)
def test_raw_losses_equal_torch_lr_finder(
    opt_name: str, step_mode: str, start_lr: float, end_lr: float, accumulation_steps: int
) -> None:
    # A shuffling loader smaller than the sweep: the data restarts several times.
    loader = DataLoader(_data(), batch_size=16, shuffle=True)
    (m1, o1), (m2, o2) = _pair(opt_name)
    sweep = {"start_lr": start_lr, "end_lr": end_lr, "num_iter": NUM_ITER, "step_mode": step_mode}
    theirs = _theirs(
        m1,
        o1,
        loader,
        seed=3,
        smooth_f=0.0,
        diverge_th=1e30,
        accumulation_steps=accumulation_steps,
        **sweep,
    )
    ours = _ours(
        m2, o2, loader, seed=3, diverge_th=None, accumulation_steps=accumulation_steps, **sweep
    )
    assert ours.stop_reason == "completed" and len(ours.losses) == NUM_ITER
    assert ours.lrs == theirs["lr"]  # the same LR at every step, bit for bit
    assert ours.losses == theirs["loss"]  # exact equality, not approx
    assert ours.lrs[0] == start_lr and math.isclose(ours.lrs[-1], end_lr, rel_tol=1e-12)


def test_smoothed_history_and_stop_step_follow_from_our_raw_losses() -> None:
    """torch-lr-finder with its defaults (smooth_f=0.05, diverge_th=5) on a sweep that
    diverges: applying its smoothing and stop rule to lrlab's raw losses reproduces its
    history exactly, including where it stopped."""
    loader = DataLoader(_data(), batch_size=16, shuffle=True)
    (m1, o1), (m2, o2) = _pair("sgd-nesterov")
    sweep = {"start_lr": 1e-3, "end_lr": 300.0, "num_iter": 60}
    theirs = _theirs(m1, o1, loader, seed=5, **sweep)
    ours = _ours(m2, o2, loader, seed=5, diverge_th=None, **sweep)
    f, th = 0.05, 5
    smoothed: list[float] = []
    best = math.inf
    for i, x in enumerate(ours.losses):
        s = x if i == 0 else f * x + (1 - f) * smoothed[-1]
        best = s if i == 0 else min(best, s)
        smoothed.append(s)
        if s > th * best:
            break
    assert len(theirs["loss"]) < sweep["num_iter"], "the reference sweep should have diverged"
    assert smoothed == theirs["loss"]
    assert ours.lrs[: len(smoothed)] == theirs["lr"]


def test_eval_loss_equals_torch_lr_finder_validation_loss() -> None:
    """Smith's variant: torch-lr-finder records the validation loss after each update; our
    metric mode with eval_every=1 on the whole validation set gives the same numbers. (No
    dropout here: torch-lr-finder re-creates its validation iterator each step, drawing a
    DataLoader seed from the global RNG that lrlab's fixed subsample does not draw.)"""
    train = DataLoader(_data(), batch_size=16, shuffle=False)
    val = DataLoader(_data(40, seed=1), batch_size=16, shuffle=False)
    (m1, o1), (m2, o2) = _pair("adam", dropout=0.0)
    sweep = {"start_lr": 1e-4, "end_lr": 0.1, "num_iter": 20}
    theirs = _theirs(m1, o1, train, seed=0, val_loader=val, smooth_f=0.0, **sweep)
    ours = _ours(m2, o2, train, seed=0, eval_data=val, eval_every=1, eval_batches=3, **sweep)
    assert ours.eval_steps == list(range(20))
    assert ours.eval_lrs == theirs["lr"]
    assert ours.eval["loss"] == theirs["loss"]


def test_parity_with_several_param_groups_at_equal_lr() -> None:
    """torch-lr-finder sets start_lr in every group; with equal group LRs lrlab's ratios are
    all 1 and the two agree (lrlab additionally keeps unequal ratios: see test_finder)."""
    loader = DataLoader(_data(), batch_size=16, shuffle=True)

    def build(model):
        return torch.optim.SGD(
            [{"params": model.body[0].parameters()}, {"params": model.body[4].parameters()}],
            lr=1e-3,
            momentum=0.9,
        )

    torch.manual_seed(2)
    m1 = Net()
    m2 = copy.deepcopy(m1)
    # BatchNorm parameters are left out of both optimizers on purpose (frozen).
    sweep = {"start_lr": 1e-4, "end_lr": 1.0, "num_iter": 25}
    theirs = _theirs(m1, build(m1), loader, seed=4, smooth_f=0.0, diverge_th=1e30, **sweep)
    ours = _ours(m2, build(m2), loader, seed=4, diverge_th=None, **sweep)
    assert ours.losses == theirs["loss"]

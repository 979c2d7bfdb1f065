"""find_lr's short runs make the planned run's update: gradient accumulation, clipping and
autocast as the range test makes them (``settings.range_test``), via the one
:class:`lrlab.train.update.Update`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lrlab.errors import InvalidArgument
from lrlab.finder import FindResult, find_lr
from lrlab.finder.settings import RangeTestSettings

FAST = {"fractions": (0.1, 0.2), "max_candidates": 5, "extensions": 1, "checkpoints": 2, "keep": 2}


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=gen)
    centers = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]], dtype=torch.float64)
    return centers[y] + 0.9 * torch.randn(n, 2, generator=gen, dtype=torch.float64), y


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def _batches(size: int, n: int = 384, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    x, y = _blobs(n, seed)
    return [(x[i : i + size], y[i : i + size]) for i in range(0, n, size)]


def _find(data, *, rt: RangeTestSettings, method: str = "sequential", **kw) -> FindResult:
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return find_lr(
        model, opt, nn.CrossEntropyLoss(), data, total_steps=100, eval_data=_batches(64, seed=7),
        range_test=rt, method=method, seed=2, **FAST, **kw,
    )  # fmt: skip


def _same_runs(a: FindResult, b: FindResult, rtol: float = 1e-9) -> None:
    assert [c.lr for c in a.candidates] == pytest.approx([c.lr for c in b.candidates])
    for ca, cb in zip(a.candidates, b.candidates, strict=True):
        assert ca.status == cb.status
        np.testing.assert_allclose(ca.loss, cb.loss, rtol=rtol, atol=1e-12)
    assert a.lr == pytest.approx(b.lr, rel=rtol)


@pytest.mark.parametrize("method", ["sequential", "auto"])
def test_accumulating_two_micro_batches_equals_training_on_their_union(method):
    """The mean of two mean losses over 16 samples each is the mean loss over their 32: with
    accumulation_steps=2 on batches of 16, every short run (and the range test) must retrace
    the runs on batches of 32 without accumulation — a model without batch statistics, in
    float64 — in the sequential engine and in the batched ones."""
    acc = _find(_batches(16), rt=RangeTestSettings(num_iter=30, accumulation_steps=2),
                method=method)  # fmt: skip
    big = _find(_batches(32), rt=RangeTestSettings(num_iter=30))
    assert acc.config["engine"] == ("sequential" if method == "sequential" else "grouped")
    _same_runs(acc, big)
    # The cost counts updates on both sides (an update here is two micro-batches).
    assert acc.cost["range_test_steps"] == big.cost["range_test_steps"] == 30
    assert acc.cost["short_run_steps"] == big.cost["short_run_steps"]


def test_accumulation_in_the_vmapped_engine_equals_the_sequential_one():
    rt = RangeTestSettings(num_iter=30, accumulation_steps=3)
    data = _batches(16)[:21]  # 7 updates of 3 per epoch
    model = _mlp()
    runs = {}
    for method in ("batched", "sequential"):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        runs[method] = find_lr(
            model, opt, None, data, total_steps=100, eval_data=_batches(64, seed=7),
            step_fn=lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),  # not grouped
            range_test=rt, method=method, seed=2, **FAST,
        )  # fmt: skip
    assert runs["batched"].config["engine"] == "vmapped"
    _same_runs(runs["batched"], runs["sequential"], rtol=1e-7)


def test_the_short_runs_clip_the_gradients_as_planned():
    """A clip far above every gradient norm changes nothing; a tiny one holds every step of
    plain SGD to ``lr · clip``, so a short run of ``h`` steps at peak ``lr`` moves the weights
    by at most ``lr · clip · h`` and the held-out loss by at most that times its gradient's
    norm (below 10 for this net): unclipped, the same runs drop it by more than 0.3. Every
    engine clips each copy as ``clip_grad_norm_`` clips one model."""
    rt = {"num_iter": 30}
    base = _find(_batches(32), rt=RangeTestSettings(**rt))
    loose = _find(_batches(32), rt=RangeTestSettings(**rt, grad_clip=1e9))
    _same_runs(base, loose, rtol=1e-12)
    start = base.config["initial"]["loss"]
    assert min(c.loss[-1] for c in base.candidates if c.status == "ok") < start - 0.3
    runs = {}
    for method in ("sequential", "auto"):
        model = _mlp()
        runs[method] = find_lr(
            model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
            _batches(32), total_steps=100, eval_data=_batches(64, seed=7), method=method,
            seed=2, range_test=RangeTestSettings(**rt, grad_clip=1e-7),
            schedule_options={"cycle_momentum": False}, **FAST,
        )  # fmt: skip
        ok = [c for c in runs[method].candidates if c.status == "ok"]
        assert ok
        for c in ok:
            assert abs(c.loss[-1] - start) <= 10 * c.lr * 1e-7 * c.horizon, c.lr
    assert runs["auto"].config["engine"] == "grouped"
    _same_runs(runs["auto"], runs["sequential"])
    # A clip that binds on some steps and not others: the engines still agree.
    mid = {m: _find(_batches(32), rt=RangeTestSettings(**rt, grad_clip=0.5), method=m)
           for m in ("sequential", "auto")}  # fmt: skip
    _same_runs(mid["auto"], mid["sequential"])
    assert any(not np.allclose(a.loss, b.loss) for a, b in
               zip(mid["sequential"].candidates, base.candidates, strict=False))  # fmt: skip


def test_the_short_runs_train_under_the_planned_autocast():
    seen: list[bool] = []
    criterion = nn.CrossEntropyLoss()

    def step(model: nn.Module, batch) -> torch.Tensor:
        seen.append(torch.is_autocast_enabled("cpu") and model.training)
        x, y = batch
        return criterion(model(x).float(), y)

    x, y = _blobs(384, 0)
    data = [(x[i : i + 32].float(), y[i : i + 32]) for i in range(0, 384, 32)]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rt = RangeTestSettings(num_iter=30, amp="bf16")
    with pytest.warns(UserWarning, match="bf16 autocast"):
        res = find_lr(model, opt, None, data, total_steps=100, step_fn=step, range_test=rt,
                      **FAST)  # fmt: skip
    rt_calls = 30
    short = seen[rt_calls:]
    # Every training forward of the short runs is under autocast (evaluations are not).
    assert sum(short) == res.cost["short_run_steps"]
    assert res.lr is not None and res.config["engine"] == "sequential"
    with pytest.raises(InvalidArgument, match="full precision"):
        find_lr(model, opt, None, data, total_steps=100, step_fn=step, range_test=rt,
                method="batched", **FAST)  # fmt: skip

"""lrlab.snapshot: bit-exact snapshots of models, optimizers and RNG streams.

Every check compares tensor by tensor against copies taken before the work, and also
behaviourally: after a restore, one more training step gives exactly what a twin that never
did the work gives (same batch, same dropout mask).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import os
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lrlab.errors import LrlabError
from lrlab.snapshot import Snapshot, capture_rng, preserved, restore_rng

OPTIMIZERS = {
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
    "sgd-nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-2),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1, amsgrad=True),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.5, centered=True),
}


class Net(nn.Module):
    """Conv + BatchNorm + dropout + a non-persistent buffer (left out of state_dict)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm1d(4)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(4 * 8, 3)
        self.register_buffer("scale", torch.ones(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.bn(self.conv(x))))
        return self.head(h.flatten(1)) * self.scale


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 1, 8, generator=g), torch.randint(0, 3, (16,), generator=g)


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, seed: int = 0) -> None:
    model.train()
    for i in range(steps):
        x, y = _batch(seed + i)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def _setup(name: str) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = Net()
    opt = OPTIMIZERS[name](model.parameters())
    _train(model, opt, 3)  # so that the optimizer has state and BN has statistics
    x, y = _batch(99)
    nn.functional.cross_entropy(model(x), y).backward()  # leave gradients in place too
    return model, opt


def _reference(model: nn.Module, opt: torch.optim.Optimizer) -> dict:
    return {
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "grads": {
            k: None if v.grad is None else v.grad.clone() for k, v in model.named_parameters()
        },
        "buffers": {k: v.clone() for k, v in model.named_buffers()},
        "opt": copy.deepcopy(opt.state_dict()),
        "training": {k: m.training for k, m in model.named_modules()},
        "requires_grad": {k: v.requires_grad for k, v in model.named_parameters()},
    }


def _assert_same_tensor(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape and a.device == b.device, what
    assert torch.equal(a, b), what


def _assert_restored(model: nn.Module, opt: torch.optim.Optimizer, ref: dict) -> None:
    now = _reference(model, opt)
    assert now["params"].keys() == ref["params"].keys()
    for k in ref["params"]:
        _assert_same_tensor(now["params"][k], ref["params"][k], f"param {k}")
        if ref["grads"][k] is None:
            assert now["grads"][k] is None, f"grad {k}"
        else:
            _assert_same_tensor(now["grads"][k], ref["grads"][k], f"grad {k}")
    for k in ref["buffers"]:  # includes bn.num_batches_tracked and the non-persistent buffer
        _assert_same_tensor(now["buffers"][k], ref["buffers"][k], f"buffer {k}")
    assert now["training"] == ref["training"]
    assert now["requires_grad"] == ref["requires_grad"]
    assert now["opt"]["param_groups"] == ref["opt"]["param_groups"]
    assert now["opt"]["state"].keys() == ref["opt"]["state"].keys()
    for idx, state in ref["opt"]["state"].items():
        assert now["opt"]["state"][idx].keys() == state.keys()
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                _assert_same_tensor(now["opt"]["state"][idx][key], value, f"state {idx}.{key}")
            else:
                assert now["opt"]["state"][idx][key] == value


def _mess_up(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    """Everything a range test could do to the user's objects, and more."""
    for group in opt.param_groups:
        group["lr"] = 123.0
        if "momentum" in group:
            group["momentum"] = 0.1
        if "betas" in group:
            group["betas"] = (0.5, 0.6)
        group["weight_decay"] = 0.7
        group["initial_lr"] = 1.0  # as a torch scheduler would add
    _train(model, opt, 2, seed=50)
    model.scale.fill_(3.0)
    model.bn.eval()
    model.head.weight.requires_grad_(False)
    model.conv.bias.grad = None
    random.random(), np.random.rand(), torch.rand(3)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("ending", ["normal", "exception", "keyboard-interrupt"])
def test_preserved_restores_everything_bit_exact(opt_name: str, ending: str) -> None:
    model, opt = _setup(opt_name)
    twin_model, twin_opt = copy.deepcopy((model, opt))
    ref = _reference(model, opt)
    group_ids = [id(g) for g in opt.param_groups]
    param_ids = [id(p) for p in model.parameters()]
    rng_before = capture_rng()

    class Boom(Exception):
        pass

    raised = {"normal": None, "exception": Boom, "keyboard-interrupt": KeyboardInterrupt}[ending]
    try:
        with preserved(model, opt):
            _mess_up(model, opt)
            if raised is not None:
                raise raised()
    except (Boom, KeyboardInterrupt) as exc:
        assert raised is not None and isinstance(exc, raised)
    else:
        assert raised is None

    _assert_restored(model, opt, ref)
    assert [id(g) for g in opt.param_groups] == group_ids  # restored in place
    assert [id(p) for p in model.parameters()] == param_ids
    assert "initial_lr" not in opt.param_groups[0]
    # The RNG streams continue where they were.
    after = (random.random(), float(np.random.rand()), torch.rand(3))
    restore_rng(rng_before)
    expected = (random.random(), float(np.random.rand()), torch.rand(3))
    assert after[:2] == expected[:2] and torch.equal(after[2], expected[2])
    # Behaviour: one more step (same dropout mask) equals the twin that never did the work.
    for m, o in ((model, opt), (twin_model, twin_opt)):
        torch.manual_seed(7)
        _train(m, o, 1, seed=200)
    for (k, a), b in zip(model.state_dict().items(), twin_model.state_dict().values(), strict=True):
        _assert_same_tensor(a, b, f"after one step: {k}")


def test_state_dict_references_are_not_a_snapshot() -> None:
    # Why tensors are cloned: optimizer.state_dict() holds live references.
    model, opt = _setup("adam")
    live = opt.state_dict()["state"][0]["exp_avg"]
    ref = live.clone()
    snap = Snapshot.capture(model, opt)
    _train(model, opt, 1, seed=5)
    assert not torch.equal(live, ref)  # the "state_dict copy" changed with training
    snap.restore()
    _assert_same_tensor(opt.state_dict()["state"][0]["exp_avg"], ref, "exp_avg")


def test_snapshot_restores_repeatedly_and_is_never_aliased() -> None:
    model, opt = _setup("sgd-momentum")
    ref = _reference(model, opt)
    snap = Snapshot.capture(model, opt)
    for _ in range(3):
        _mess_up(model, opt)
        snap.restore()
        _assert_restored(model, opt, ref)
    snap.discard()
    with pytest.raises(LrlabError, match="discarded"):
        snap.restore()


@pytest.mark.parametrize("ending", ["normal", "exception"])
def test_on_disk_leaves_no_file(ending: str) -> None:
    model, opt = _setup("adamw")
    ref = _reference(model, opt)
    seen = {}
    expect = pytest.raises(RuntimeError) if ending == "exception" else contextlib.nullcontext()
    with expect, preserved(model, opt, on_disk=True) as snap:
        seen["path"] = snap.path
        assert snap.path is not None and os.path.exists(snap.path)
        assert snap._tensors is None  # nothing bulky kept in memory
        _mess_up(model, opt)
        if ending == "exception":
            raise RuntimeError("mid-test failure")
    assert not os.path.exists(seen["path"])
    _assert_restored(model, opt, ref)


def test_on_disk_snapshot_file_removed_when_garbage_collected() -> None:
    model, opt = _setup("sgd-momentum")
    snap = Snapshot.capture(model, opt, on_disk=True)
    path = snap.path
    assert path is not None and os.path.exists(path)
    del snap
    gc.collect()
    assert not os.path.exists(path)


def test_optimizer_params_outside_the_model_and_added_groups() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    extra = nn.Parameter(torch.randn(4))
    opt = torch.optim.SGD(
        [{"params": model.parameters()}, {"params": [extra], "lr": 0.5}], lr=0.1, momentum=0.9
    )
    loss = model(torch.randn(5, 3)).sum() + (extra**2).sum()
    loss.backward()
    opt.step()
    extra_before = extra.detach().clone()
    momentum_before = opt.state[extra]["momentum_buffer"].clone()
    with preserved(model, opt):
        for _ in range(3):
            (extra**2).sum().backward()
            opt.step()
        opt.add_param_group({"params": [nn.Parameter(torch.zeros(2))], "lr": 9.0})
    _assert_same_tensor(extra.detach(), extra_before, "extra param")
    _assert_same_tensor(opt.state[extra]["momentum_buffer"], momentum_before, "extra momentum")
    assert len(opt.param_groups) == 2
    assert opt.param_groups[1]["lr"] == 0.5


def test_tensor_lr_keeps_its_identity() -> None:
    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01))
    lr_tensor = opt.param_groups[0]["lr"]
    with preserved(model, opt):
        opt.param_groups[0]["lr"].fill_(5.0)
    assert opt.param_groups[0]["lr"] is lr_tensor
    assert float(lr_tensor) == pytest.approx(0.01)


def test_dtype_change_is_undone() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ref = {k: v.clone() for k, v in model.state_dict().items()}
    with preserved(model):
        model.double()
    for k, v in model.state_dict().items():
        _assert_same_tensor(v, ref[k], k)


def test_model_only_and_rng_only_snapshots() -> None:
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    with preserved(model, rng=False):
        nn.init.zeros_(model.weight)
        torch.rand(2)
    _assert_same_tensor(model.weight.detach(), before, "weight")
    # rng=False: the stream moved on (two draws were made, neither was undone)
    state = torch.get_rng_state()
    with preserved():
        torch.rand(5)
    assert torch.equal(torch.get_rng_state(), state)


def test_rng_states_survive_torch_save_weights_only(tmp_path) -> None:
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    np.random.randn()  # populate numpy's cached gaussian
    states = capture_rng()
    path = tmp_path / "rng.pt"
    torch.save(states, path)
    loaded = torch.load(path, weights_only=True)
    expected = (random.random(), np.random.randn(), np.random.rand(2), torch.rand(2))
    restore_rng(loaded)
    again = (random.random(), np.random.randn(), np.random.rand(2), torch.rand(2))
    assert expected[:2] == again[:2]
    assert np.array_equal(expected[2], again[2]) and torch.equal(expected[3], again[3])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    draws=st.lists(st.sampled_from(["python", "numpy", "numpy-gauss", "torch"]), max_size=20),
)
def test_rng_streams_give_the_same_next_numbers(seed: int, draws: list[str]) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    draw = {
        "python": lambda: random.random(),
        "numpy": lambda: float(np.random.rand()),
        "numpy-gauss": lambda: float(np.random.randn()),
        "torch": lambda: float(torch.rand(())),
    }
    for d in draws[: len(draws) // 2]:
        draw[d]()
    with preserved():
        for d in draws:
            draw[d]()
    after = [draw[d]() for d in draws] + [draw[k]() for k in sorted(draw)]
    # replay: the same numbers must come out of a run that never entered the block
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    for d in draws[: len(draws) // 2]:
        draw[d]()
    expected = [draw[d]() for d in draws] + [draw[k]() for k in sorted(draw)]
    assert after == expected

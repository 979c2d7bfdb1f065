"""Stacked optimizers of the look-ahead scan against torch.optim, and optimizer resolution."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lrlab.copies.optimizer import NotBatchable, build_torch_optimizer, resolve_optimizer
from lrlab.copies.rules import stacked_rule
from lrlab.errors import InvalidArgument, OptimizerMismatch


def _model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def _grads(model: nn.Module, steps: int, seed: int) -> list[list[torch.Tensor]]:
    """A fixed sequence of gradients per step (pretend gradients: random, some large)."""
    gen = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(p.shape, generator=gen, dtype=p.dtype) * 3 for p in model.parameters()]
        for _ in range(steps)
    ]


def _run_torch(model, optimizer_spec, kwargs, lr, grads):  # type: ignore[no-untyped-def]
    """Apply ``grads`` with a real torch optimizer; return the flat parameters after each step."""
    recipe = resolve_optimizer(optimizer_spec, model, kwargs=kwargs)
    clone = _model()
    clone.load_state_dict(model.state_dict())
    opt = build_torch_optimizer(recipe, dict(clone.named_parameters()), lr)
    out = []
    for step_grads in grads:
        for p, g in zip(clone.parameters(), step_grads, strict=True):
            p.grad = g.clone()
        opt.step()
        out.append(torch.cat([p.detach().reshape(-1) for p in clone.parameters()]))
    return out


CONFIGS = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("sgd", {"momentum": 0.5, "dampening": 0.3, "maximize": True}),
    ("adam", {}),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2}),
    ("adam", {"amsgrad": True}),
    ("adamw", {"weight_decay": 0.1}),
    ("adamw", {"weight_decay": 0.05, "amsgrad": True, "maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"alpha": 0.9, "momentum": 0.9, "centered": True, "weight_decay": 1e-2}),
    ("rmsprop", {"momentum": 0.5, "eps": 1e-3, "maximize": True}),
]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_stacked_rule_matches_torch_optim_for_every_copy(name, kwargs):
    model = _model()
    lrs = [1e-3, 3e-2, 0.5]
    grads = _grads(model, steps=5, seed=1)
    recipe = resolve_optimizer(name, model, kwargs=kwargs)
    order = recipe.trainable
    params = dict(model.named_parameters())
    sizes = {n: params[n].numel() for n in order}
    rule = stacked_rule(recipe, torch.tensor(lrs, dtype=torch.float64), sizes, order)
    flat0 = torch.cat([params[n].detach().reshape(-1) for n in order])
    flat = flat0.unsqueeze(0).repeat(len(lrs), 1)
    alive = torch.ones(len(lrs), 1, dtype=torch.bool)
    expected = [_run_torch(model, name, kwargs, lr, grads) for lr in lrs]
    for t, step_grads in enumerate(grads):
        g = torch.cat([gr.reshape(-1) for gr in step_grads]).unsqueeze(0).repeat(len(lrs), 1)
        rule.step(flat, g, alive if t % 2 else None)  # None: "all alive", masks skipped
        for k in range(len(lrs)):
            torch.testing.assert_close(flat[k], expected[k][t], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("sgd", {"momentum": 0.9}),
        ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
        ("adam", {}),
        ("adamw", {"weight_decay": 0.1}),
        ("rmsprop", {"momentum": 0.9}),
    ],
)
def test_scheduled_hyper_parameters_match_a_driven_torch_optimizer(name, kwargs):
    """set_hyper(scale, momentum) per step == ScheduleDriver writing one-cycle's LR and momentum
    into a torch optimizer's param groups (copy k's schedule peaks at lrs[k])."""
    from lrlab.optim import ScheduleDriver
    from lrlab.schedules import one_cycle

    model = _model()
    lrs = [1e-3, 3e-2, 0.5]
    steps = 7
    grads = _grads(model, steps=steps, seed=4)
    recipe = resolve_optimizer(name, model, kwargs=kwargs)
    order = recipe.trainable
    params = dict(model.named_parameters())
    sizes = {n: params[n].numel() for n in order}
    rule = stacked_rule(recipe, torch.tensor(lrs, dtype=torch.float64), sizes, order)
    unit = one_cycle(1.0, total_steps=steps)
    flat = torch.cat([params[n].detach().reshape(-1) for n in order]).unsqueeze(0).repeat(3, 1)
    expected = []
    for lr in lrs:
        clone = _model()
        clone.load_state_dict(model.state_dict())
        opt = build_torch_optimizer(recipe, dict(clone.named_parameters()), lr)
        driver = ScheduleDriver(opt, one_cycle(lr, total_steps=steps))
        out = []
        for t, step_grads in enumerate(grads):
            driver.apply(t)
            for p, g in zip(clone.parameters(), step_grads, strict=True):
                p.grad = g.clone()
            opt.step()
            out.append(torch.cat([p.detach().reshape(-1) for p in clone.parameters()]))
        expected.append(out)
    for t, step_grads in enumerate(grads):
        rule.set_hyper(unit.lr(t), unit.momentum(t))
        g = torch.cat([gr.reshape(-1) for gr in step_grads]).unsqueeze(0).repeat(3, 1)
        rule.step(flat, g, None)
        for k in range(len(lrs)):
            torch.testing.assert_close(flat[k], expected[k][t], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "kwargs"), [("sgd", {"momentum": 0.9}), ("adam", {}), ("rmsprop", {"momentum": 0.9})]
)
def test_dead_copies_are_frozen_and_nan_never_reaches_the_others(name, kwargs):
    model = _model()
    recipe = resolve_optimizer(name, model, kwargs=kwargs)
    order = recipe.trainable
    params = dict(model.named_parameters())
    sizes = {n: params[n].numel() for n in order}
    lrs = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    rule = stacked_rule(recipe, lrs, sizes, order)
    flat = torch.cat([params[n].detach().reshape(-1) for n in order]).unsqueeze(0).repeat(3, 1)
    frozen_value = flat[1].clone()
    alive = torch.tensor([[True], [False], [True]])
    grads = _grads(model, steps=3, seed=2)
    expected = [_run_torch(model, name, kwargs, lr, grads) for lr in (0.1, 0.3)]
    for t, step_grads in enumerate(grads):
        g = torch.cat([gr.reshape(-1) for gr in step_grads]).unsqueeze(0).repeat(3, 1)
        g[1] = math.nan  # the dead copy's gradient is garbage
        g[1, 0] = math.inf
        rule.step(flat, g, alive)
        torch.testing.assert_close(flat[0], expected[0][t], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(flat[2], expected[1][t], rtol=1e-12, atol=1e-12)
        assert torch.equal(flat[1], frozen_value)


def test_param_groups_keep_lr_ratios_and_per_group_weight_decay():
    model = _model()
    first, second = list(model[0].parameters()), list(model[2].parameters())
    user = torch.optim.SGD(
        [{"params": first, "lr": 0.1, "weight_decay": 0.0}, {"params": second, "lr": 0.01}],
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-2,
    )
    recipe = resolve_optimizer(user, model)
    assert recipe.ratios == pytest.approx([1.0, 0.1])
    built = build_torch_optimizer(recipe, dict(model.named_parameters()), lr=2.0)
    assert [g["lr"] for g in built.param_groups] == pytest.approx([2.0, 0.2])
    assert [g["weight_decay"] for g in built.param_groups] == [0.0, 1e-2]
    # The stacked rule applies the same per-group LR and decay.
    order = recipe.trainable
    params = dict(model.named_parameters())
    sizes = {n: params[n].numel() for n in order}
    rule = stacked_rule(recipe, torch.tensor([2.0], dtype=torch.float64), sizes, order)
    flat = torch.cat([params[n].detach().reshape(-1) for n in order]).unsqueeze(0).clone()
    grads = _grads(model, steps=3, seed=4)
    clone = _model()
    opt = build_torch_optimizer(recipe, dict(clone.named_parameters()), lr=2.0)
    for step_grads in grads:
        for p, g in zip(clone.parameters(), step_grads, strict=True):
            p.grad = g.clone()
        opt.step()
        g = torch.cat([gr.reshape(-1) for gr in step_grads]).unsqueeze(0)
        rule.step(flat, g, torch.ones(1, 1, dtype=torch.bool))
        ref = torch.cat([p.detach().reshape(-1) for p in clone.parameters()])
        torch.testing.assert_close(flat[0], ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [torch.optim.SGD, torch.optim.Adam])
def test_carried_state_continues_like_the_users_optimizer(cls):
    model = _model()
    kwargs = {"momentum": 0.9} if cls is torch.optim.SGD else {}
    user = cls(model.parameters(), lr=0.05, **kwargs)
    for step_grads in _grads(model, steps=3, seed=5):  # give it some history
        for p, g in zip(model.parameters(), step_grads, strict=True):
            p.grad = g
        user.step()
    recipe = resolve_optimizer(user, model, carry_state=True)
    order = recipe.trainable
    params = dict(model.named_parameters())
    sizes = {n: params[n].numel() for n in order}
    rule = stacked_rule(recipe, torch.tensor([0.02], dtype=torch.float64), sizes, order)
    flat = torch.cat([params[n].detach().reshape(-1) for n in order]).unsqueeze(0).clone()
    clone = _model()
    clone.load_state_dict(model.state_dict())
    opt = build_torch_optimizer(recipe, dict(clone.named_parameters()), lr=0.02)
    for step_grads in _grads(model, steps=3, seed=6):
        for p, g in zip(clone.parameters(), step_grads, strict=True):
            p.grad = g.clone()
        opt.step()
        g = torch.cat([gr.reshape(-1) for gr in step_grads]).unsqueeze(0)
        rule.step(flat, g, torch.ones(1, 1, dtype=torch.bool))
        ref = torch.cat([p.detach().reshape(-1) for p in clone.parameters()])
        torch.testing.assert_close(flat[0], ref, rtol=1e-12, atol=1e-12)
    # The user's optimizer state was copied, not shared.
    before = {
        k: v.clone()
        for k, v in user.state[next(model.parameters())].items()
        if isinstance(v, torch.Tensor)
    }
    after = user.state[next(model.parameters())]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_resolve_optimizer_errors_are_clear():
    model = _model()
    with pytest.raises(InvalidArgument, match="not a known optimizer"):
        resolve_optimizer("lion", model)
    with pytest.raises(InvalidArgument, match="'lr'"):
        resolve_optimizer("sgd", model, kwargs={"lr": 0.1})
    with pytest.raises(InvalidArgument, match="momentum"):
        resolve_optimizer("sgd", model, kwargs={"momentum": -1.0})
    with pytest.raises(InvalidArgument, match="needs the optimizer instance"):
        resolve_optimizer("adam", model, carry_state=True)
    with pytest.raises(InvalidArgument, match="factory"):
        resolve_optimizer(lambda params: None, model)
    other = _model()
    with pytest.raises(OptimizerMismatch, match="not one of the model's"):
        resolve_optimizer(torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1), other)


def test_optimizers_without_a_stacked_form_are_not_batchable():
    model = _model()
    recipe = resolve_optimizer(lambda p, lr: torch.optim.Adagrad(p, lr=lr), model)
    params = dict(model.named_parameters())
    sizes = {n: p.numel() for n, p in params.items()}
    with pytest.raises(NotBatchable, match="Adagrad"):
        stacked_rule(recipe, torch.tensor([0.1], dtype=torch.float64), sizes, recipe.trainable)
    # A factory is called per copy by the sequential path, with the copy's LR.
    built = build_torch_optimizer(recipe, params, lr=0.3)
    assert isinstance(built, torch.optim.Adagrad) and built.param_groups[0]["lr"] == 0.3

"""The grouped engine: which models it takes, and that it computes what torch computes.

References: the sequential engine (a real ``torch.optim`` optimizer per copy, the module's
own forward and autograd) for whole scans; autograd for each activation rule and each
closed-form loss head.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lrlab.batches import make_step
from lrlab.copies.heads import CrossEntropyHead, MSEHead, VmapHead, loss_head
from lrlab.copies.linear_stack import ELEMENTWISE_MODULES, find_linear_stack
from lrlab.evaluate import evaluate
from lrlab.models.mlp import MLP
from lrlab.scanning import log_lrs, scan


@pytest.fixture(autouse=True)
def _float64():
    # float64 makes "equal to float tolerance" tight (1e-9) instead of float32's 1e-5.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _data(n=90, batch=32, features=4, seed=0, classes=None):  # type: ignore[no-untyped-def]
    """Batches of uneven size (32, 32, 26): the engine's buffers serve both shapes."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=gen)
    if classes is None:
        y = torch.sin(2 * x[:, :1] + x[:, 1:2])
    else:
        y = (x[:, 0] * 3 + x[:, 1]).floor().long().clamp(0, classes - 1)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def _close(a, b, rtol=1e-9):  # type: ignore[no-untyped-def]
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=rtol, atol=1e-12)


def _both(model, criterion, data, **kwargs):  # type: ignore[no-untyped-def]
    """The same scan batched and sequentially; the batched one must use the grouped engine."""
    kwargs = {"horizons": (1, 2), "stop_factor": None, **kwargs}
    grouped = scan(model, criterion, data, method="batched", **kwargs)
    sequential = scan(model, criterion, data, method="sequential", **kwargs)
    assert grouped.config["engine"] == "grouped"
    assert grouped.status == sequential.status
    _close(grouped.raw_losses, sequential.raw_losses)
    for name in grouped.metrics:
        _close(grouped.metrics[name], sequential.metrics[name])
    return grouped, sequential


_ACTIVATION_TYPES = sorted(ELEMENTWISE_MODULES, key=lambda t: t.__name__)


# -- recognising plain stacks -------------------------------------------------------------------


class _Functional(nn.Module):
    """A forward written with functions, not modules."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(F.relu(self.a(x))))


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(x + torch.relu(self.a(x)))


class _Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(torch.relu(self.a(x)))


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
        self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


class _Unused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 1)
        self.extra = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x)


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) if x.sum() > 0 else -self.a(x)


class _Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.calls = nn.Linear(4, 1), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.a(x)


@pytest.mark.parametrize(
    ("model", "kinds"),
    [
        (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)), "L a L"),
        (MLP(4, 3, (5, 6), dropout=0.2), "L a D L a D L"),  # x.flatten(1), then a Sequential
        (
            nn.Sequential(
                nn.Flatten(),
                nn.Linear(4, 3, bias=False),
                nn.Identity(),
                nn.GELU(),
                nn.Linear(3, 2),
                nn.Linear(2, 1),
                nn.Sigmoid(),
            ),
            "L a L L a",
        ),
        (_Functional(), "L a a L"),
    ],
)
def test_plain_stacks_are_recognised(model, kinds):
    stack, reason = find_linear_stack(model)
    assert stack is not None, reason
    letter = {"Linear": "L", "Activation": "a", "Dropout": "D"}
    assert " ".join(letter[type(layer).__name__] for layer in stack.layers) == kinds


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1)), "buffers"),
        (nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1)), "not a supported"),
        (nn.Sequential(nn.ReLU(), nn.Linear(4, 1)), "does not start with nn.Linear"),
        (nn.Sequential(nn.Linear(4, 8), nn.Softmax(dim=1)), "not a supported"),
        (_Residual(), "single chain"),
        (_Twice(), "used twice"),
        (_Tied(), "not a supported"),
        (_Unused(), "not those of the chain"),
        (_Branchy(), "cannot trace"),
        (_Counting(), "changes the module's attributes"),
    ],
)
def test_other_models_are_left_to_the_general_engine(model, reason):
    stack, why = find_linear_stack(model)
    assert stack is None and reason in why


def test_a_stateful_forward_is_left_as_it_was():
    model = _Counting()
    assert find_linear_stack(model)[0] is None
    assert model.calls == 0  # the trace's call was undone: the engine that runs sees 0


# -- equal to the sequential engine ---------------------------------------------------------------


@pytest.mark.parametrize("act", _ACTIVATION_TYPES, ids=lambda t: t.__name__)
def test_every_activation_trains_like_the_sequential_engine(act):
    torch.manual_seed(0)
    special = {nn.LeakyReLU: (0.2,), nn.ELU: (0.7,), nn.GELU: ("tanh",), nn.Softplus: (2.0, 5.0)}
    model = nn.Sequential(nn.Linear(4, 6), act(*special.get(act, ())), nn.Linear(6, 1))
    _both(model, nn.MSELoss(), _data(), lrs=[1e-2, 0.1, 1.0], optimizer="adam")


@pytest.mark.parametrize(
    "layers",
    [
        lambda: [nn.Linear(4, 1)],  # the only layer is the first and the last
        lambda: [nn.Linear(4, 3), nn.Linear(3, 1), nn.Sigmoid()],  # no activation between
        lambda: [nn.Linear(4, 2), nn.Tanh(), nn.Linear(2, 9), nn.GELU(), nn.Linear(9, 1)],
    ],
    ids=["one-linear", "linear-linear-sigmoid", "narrow-then-wide"],
)
def test_stack_shapes(layers):
    torch.manual_seed(10)
    _both(nn.Sequential(*layers()), nn.MSELoss(), _data(), lrs=[1e-2, 0.1, 1.0], optimizer="adam")


@pytest.mark.parametrize(
    ("optimizer", "kwargs"),
    [
        ("sgd", {}),
        ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
        ("adam", {"amsgrad": True}),
        ("adamw", {"weight_decay": 0.1}),
    ],
)
def test_deep_stack_without_biases_and_with_dropout(optimizer, kwargs):
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Linear(4, 7, bias=False), nn.ReLU(), nn.Dropout(0.3), nn.Linear(7, 5), nn.Tanh(),
        nn.Linear(5, 5, bias=False), nn.SiLU(), nn.Dropout(0.1), nn.Linear(5, 1),
    )  # fmt: skip
    _both(model, nn.MSELoss(), _data(), lrs=log_lrs(1e-3, 1.0, 4), optimizer=optimizer,
          optimizer_kwargs=kwargs, horizons=(1, 3))  # fmt: skip


def test_param_groups_carried_state_and_a_flattening_first_layer():
    torch.manual_seed(2)
    model = MLP(4, 1, (6,))
    opt = torch.optim.Adam(
        [
            {"params": model.layers[0].parameters(), "lr": 1e-2, "weight_decay": 1e-3},
            {"params": model.layers[2].parameters(), "lr": 5e-3},
        ]
    )
    for x, y in _data():  # some history to carry over
        opt.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        opt.step()
    data = [(x.view(-1, 2, 2), y) for x, y in _data(seed=3)]  # flattened by the model
    _both(model, nn.MSELoss(), data, lrs=[1e-3, 1e-2, 0.1], optimizer=opt,
          carry_optimizer_state=True)  # fmt: skip


def test_cross_entropy_with_ignored_targets_metrics_and_larger_eval_batches():
    torch.manual_seed(3)
    train = _data(classes=3)
    train[1][1][:5] = -100  # ignored by CrossEntropyLoss, and by the closed-form head
    held_out = _data(n=70, batch=70, seed=4, classes=3)  # larger than any training batch
    model = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(), nn.Linear(8, 3))
    _both(model, nn.CrossEntropyLoss(), train, lrs=[1e-2, 0.1, 1.0], optimizer="adam",
          metrics=["accuracy"], eval_data=held_out, unit="steps", horizons=(2, 5))  # fmt: skip


def test_other_criteria_go_through_vmap_and_still_match():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 6), nn.Softplus(), nn.Linear(6, 1))
    assert isinstance(loss_head(nn.SmoothL1Loss()), VmapHead)
    _both(model, nn.SmoothL1Loss(beta=0.5), _data(), lrs=[1e-2, 0.3], optimizer="sgd")


def test_diverging_copies_leave_the_stack_without_touching_the_others():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    good, blowing = [1e-3, 1e-2, 0.1], [1e8, 1e16]
    mixed, _ = _both(model, nn.MSELoss(), _data(), lrs=good + blowing, horizons=(1, 2, 3))
    alone = scan(model, nn.MSELoss(), _data(), lrs=good, horizons=(1, 2, 3), stop_factor=None)
    assert (np.asarray(mixed.status)[:, 3:] == "diverged").all()
    np.testing.assert_array_equal(np.asarray(mixed.raw_losses)[:, :3], alone.raw_losses)


def test_float32_stays_close_to_the_sequential_engine():
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(),
                          nn.Linear(10, 1))  # fmt: skip
    x = torch.linspace(0, 4, 200).unsqueeze(1)
    data = [(x[i : i + 64], torch.log1p(x[i : i + 64])) for i in range(0, 200, 64)]
    kwargs = dict(lrs=[1e-3, 1e-2], horizons=(1, 2), optimizer="adam", stop_factor=None)
    a = scan(model, nn.MSELoss(), data, method="batched", **kwargs)
    b = scan(model, nn.MSELoss(), data, method="sequential", **kwargs)
    assert a.config["engine"] == "grouped"
    _close(a.raw_losses, b.raw_losses, rtol=1e-5)


class _ModeDependent(nn.Module):
    """Traces as Linear-ReLU-Linear in train mode, but is Linear-Tanh-Linear in eval mode:
    the check before the first update catches it and the vmapped engine takes over."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 1)
        self.train_act, self.eval_act = nn.ReLU(), nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.train_act if self.training else self.eval_act
        return self.b(act(self.a(x)))


def test_a_forward_the_trace_misread_falls_back_to_the_vmapped_engine():
    torch.manual_seed(7)
    model = _ModeDependent()
    kwargs = dict(lrs=[1e-2, 0.1], horizons=(1, 2), optimizer="adam", stop_factor=None)
    a = scan(model, nn.MSELoss(), _data(), method="batched", **kwargs)
    b = scan(model, nn.MSELoss(), _data(), method="sequential", **kwargs)
    assert a.config["engine"] == "vmapped" and not a.notes
    _close(a.raw_losses, b.raw_losses)


def test_step_fn_and_stateful_models_use_the_vmapped_engine():
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1))
    res = scan(model, None, _data(), step_fn=lambda m, b: F.mse_loss(m(b[0]), b[1]),
               lrs=[0.1], horizons=(1,))  # fmt: skip
    assert res.config["engine"] == "vmapped"
    counting = scan(_Counting(), nn.MSELoss(), _data(), lrs=[0.1], horizons=(1,))
    assert counting.config["engine"] == "vmapped"


def test_evaluation_sums_float64_losses_without_rounding_them_to_float32():
    torch.manual_seed(9)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1))
    data = _data()
    crit = nn.MSELoss()
    with torch.no_grad():
        exact = sum(float(crit(model(x), y)) * len(x) for x, y in data) / 90
        rounded = sum(float(crit(model(x), y).float()) * len(x) for x, y in data) / 90
    assert exact != rounded  # the test can tell the two apart
    assert evaluate(model, data, make_step(crit))["loss"] == exact
    # Every engine accumulates the same way: after a step so small that the weights differ
    # between engines in their last bits only, the losses agree to ~1e-15 (rounding each
    # batch's loss to float32 would put them ~1e-8 apart).
    kwargs = dict(lrs=[1e-9], horizons=(1,), optimizer="sgd")
    grouped = scan(model, crit, data, method="batched", **kwargs)
    sequential = scan(model, crit, data, method="sequential", **kwargs)
    assert grouped.config["engine"] == "grouped"
    assert grouped.initial_loss == sequential.initial_loss == exact
    assert grouped.raw_losses[0][0] == pytest.approx(sequential.raw_losses[0][0], rel=1e-14)
    assert grouped.raw_losses[0][0] != pytest.approx(exact, rel=1e-14)  # it did train
    vmapped = scan(model, None, data, step_fn=make_step(crit), method="batched", **kwargs)
    assert vmapped.config["engine"] == "vmapped"
    assert vmapped.raw_losses[0][0] == pytest.approx(sequential.raw_losses[0][0], rel=1e-14)


# -- the pieces against autograd ------------------------------------------------------------------


@pytest.mark.parametrize("act", _ACTIVATION_TYPES, ids=lambda t: t.__name__)
def test_activation_rules_equal_autograd(act):
    special = {nn.LeakyReLU: (0.2,), nn.ELU: (0.7,), nn.GELU: ("tanh",), nn.Softplus: (2.0, 5.0)}
    module = act(*special.get(act, ()))
    rule = ELEMENTWISE_MODULES[act](module)
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(3, 5, 40, generator=gen) * 4, torch.zeros(3, 5, 1)], dim=2)
    g = torch.randn(x.shape, generator=gen)
    leaf = x.clone().requires_grad_(True)
    expected = module(leaf)
    (expected_grad,) = torch.autograd.grad(expected, leaf, g)
    out = torch.empty_like(x)
    y = rule.forward(x.clone(), out)
    torch.testing.assert_close(y, expected.detach(), rtol=1e-15, atol=1e-15)
    grad = rule.backward(g.clone(), x, y)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-14, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 4),
    n=st.integers(1, 9),
    width=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    ignored=st.floats(0.0, 1.0),
    scale=st.sampled_from([1e-3, 1.0, 30.0]),
)
def test_closed_form_heads_equal_autograd_copy_by_copy(k, n, width, seed, ignored, scale):
    gen = torch.Generator().manual_seed(seed)
    outputs = torch.randn(k, n, width, generator=gen, dtype=torch.float64) * scale
    cases = [(MSEHead(nn.MSELoss()), nn.MSELoss(), torch.randn(n, width, generator=gen))]
    labels = torch.randint(0, width, (n,), generator=gen)
    labels[torch.rand(n, generator=gen) < ignored] = 2  # ignore_index=2, also every label
    ce = nn.CrossEntropyLoss(ignore_index=2)
    cases.append((CrossEntropyHead(ce), ce, labels))
    for head, criterion, targets in cases:
        losses, grad = head(outputs, targets)
        torch.testing.assert_close(head.losses(outputs, targets), losses, equal_nan=True)
        for c in range(k):
            leaf = outputs[c].clone().requires_grad_(True)
            loss = criterion(leaf, targets)
            if not torch.isfinite(loss):  # every target ignored: 0/0, as torch says
                assert torch.isnan(losses[c])
                continue
            (expected,) = torch.autograd.grad(loss, leaf)
            torch.testing.assert_close(losses[c], loss.detach(), rtol=1e-13, atol=1e-15)
            torch.testing.assert_close(grad[c], expected, rtol=1e-12, atol=1e-15)


def test_heads_hand_over_what_they_do_not_cover():
    outputs = torch.randn(3, 5, 1)
    flat_targets = torch.randn(5)  # (N,) against (N, 1) outputs: broadcast, with a warning
    head = MSEHead(nn.MSELoss())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        losses, grad = head(outputs, flat_targets)
        expected = [nn.MSELoss()(outputs[c], flat_targets) for c in range(3)]
    torch.testing.assert_close(losses, torch.stack(expected))
    assert grad.shape == outputs.shape
    assert isinstance(loss_head(nn.CrossEntropyLoss(label_smoothing=0.1)), VmapHead)
    assert isinstance(loss_head(nn.MSELoss(reduction="sum")), VmapHead)

"""The look-ahead scan: batched == sequential == a plain torch loop, masking, BatchNorm, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from lrlab.batches import make_step
from lrlab.errors import DataError, InvalidArgument, LrlabError
from lrlab.evaluate import evaluate
from lrlab.scanning import ScanResult, check_horizons, log_lrs, scan
from lrlab.scanning.loop import stop_threshold
from lrlab.scanning.result import best_in_row

LRS = [1e-3, 1e-2, 3e-2, 0.1, 0.3]


@pytest.fixture(autouse=True)
def _float64():
    # float64 makes "equal to float tolerance" tight (1e-9) instead of float32's 1e-5.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)  # other test files run in the same process


def _data(n: int = 96, batch: int = 32, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    y = torch.sin(2 * x[:, :1] + x[:, 1:2])
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def _mlp(seed: int = 0, width: int = 8) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, 1))


def _bn_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))


def _plain_run(model, data, lr, epochs, opt_cls, **kwargs):  # type: ignore[no-untyped-def]
    """The reference: a fresh copy trained by a plain torch loop, evaluated at the end."""
    import copy

    clone = copy.deepcopy(model)
    clone.train()
    opt = opt_cls(clone.parameters(), lr=lr, **kwargs)
    crit = nn.MSELoss()
    for _ in range(epochs):
        for x, y in data:
            opt.zero_grad()
            crit(clone(x), y).backward()
            opt.step()
    return evaluate(clone, data, lambda m, b: crit(m(b[0]), b[1]))["loss"]


def _close(a, b, rtol=1e-9):  # type: ignore[no-untyped-def]
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=rtol, atol=1e-12)


# -- equality: batched, sequential, from scratch ---------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "kwargs"),
    [("sgd", {"momentum": 0.9, "nesterov": True}), ("adam", {}), ("adamw", {"weight_decay": 0.1})],
)
def test_batched_equals_sequential(optimizer, kwargs):
    model, data = _mlp(), _data()
    common = dict(lrs=LRS, horizons=(1, 2, 3), optimizer=optimizer, optimizer_kwargs=kwargs)
    batched = scan(model, nn.MSELoss(), data, method="batched", **common)
    sequential = scan(model, nn.MSELoss(), data, method="sequential", **common)
    # The same MLP through the general (vmapped) engine: a step_fn keeps it off the grouped one.
    vmapped = scan(model, None, data, step_fn=make_step(nn.MSELoss()), method="batched", **common)
    assert batched.method == vmapped.method == "batched" and sequential.method == "sequential"
    assert (batched.config["engine"], vmapped.config["engine"]) == ("grouped", "vmapped")
    for result in (batched, vmapped):
        assert result.status == sequential.status
        _close(result.raw_losses, sequential.raw_losses)
        assert result.initial_loss == sequential.initial_loss


def test_every_horizon_equals_training_that_long_from_scratch():
    model, data = _mlp(1), _data()
    lrs = [1e-2, 0.1]
    for method in ("batched", "sequential"):
        result = scan(
            model, nn.MSELoss(), data, lrs=lrs, horizons=(1, 3), optimizer="sgd",
            optimizer_kwargs={"momentum": 0.9}, method=method, stop_factor=None,
        )  # fmt: skip
        for h_index, epochs in enumerate((1, 3)):
            for k, lr in enumerate(lrs):
                expected = _plain_run(model, data, lr, epochs, torch.optim.SGD, momentum=0.9)
                assert result.losses[h_index][k] == pytest.approx(expected, rel=1e-9)


def test_steps_unit_reads_horizons_mid_epoch():
    model, data = _mlp(2), _data()  # 3 batches per epoch
    res = scan(model, nn.MSELoss(), data, lrs=[0.05], horizons=(2, 3, 5), unit="steps")
    ref = scan(model, nn.MSELoss(), data, lrs=[0.05], horizons=(1, 2), unit="epochs")
    # 3 steps = 1 epoch: same cell either way.
    assert res.losses[1][0] == pytest.approx(ref.losses[0][0], rel=1e-12)
    seq = scan(model, nn.MSELoss(), data, lrs=[0.05], horizons=(2, 3, 5), unit="steps",
               method="sequential")  # fmt: skip
    _close(res.raw_losses, seq.raw_losses)


def test_shuffled_dataloader_gives_every_copy_the_same_order():
    x = torch.randn(64, 4)
    ds = torch.utils.data.TensorDataset(x, torch.sin(x[:, :1]))
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True)
    model = _mlp(3)
    kwargs = dict(lrs=[0.01, 0.1], horizons=(1, 2), seed=7, stop_factor=None)
    a = scan(model, nn.MSELoss(), loader, method="batched", **kwargs)
    b = scan(model, nn.MSELoss(), loader, method="sequential", **kwargs)
    c = scan(model, nn.MSELoss(), loader, method="batched", **kwargs)
    _close(a.raw_losses, b.raw_losses)
    assert a.raw_losses == c.raw_losses  # same seed, same numbers
    d = scan(model, nn.MSELoss(), loader, method="batched", **{**kwargs, "seed": 8})
    assert d.raw_losses != a.raw_losses  # the seed does pick the data order


def test_dropout_copies_draw_the_same_masks_in_both_engines():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
    kwargs = dict(lrs=[0.01, 0.1], horizons=(1, 2), optimizer="adam", stop_factor=None)
    a = scan(model, nn.MSELoss(), _data(), method="batched", **kwargs)
    b = scan(model, nn.MSELoss(), _data(), method="sequential", **kwargs)
    c = scan(model, None, _data(), step_fn=make_step(nn.MSELoss()), method="batched", **kwargs)
    assert (a.config["engine"], c.config["engine"]) == ("grouped", "vmapped")
    _close(a.raw_losses, b.raw_losses)
    _close(c.raw_losses, b.raw_losses)


def test_convolutions_batched_equals_sequential():
    # vmap runs the K copies' convolutions as one grouped convolution: another kernel, the
    # same numbers (in float64; in float32 long high-LR runs drift apart chaotically).
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(48, 1, 12, generator=gen)
    y = (x.mean(dim=(1, 2)) > 0).long()
    data = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 48, 16)]
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(1, 4, 3, stride=2, padding=1), nn.BatchNorm1d(4), nn.ReLU(),
        nn.Unflatten(1, (1, 4)), nn.Conv2d(1, 3, (2, 3), padding=(0, 1)), nn.ReLU(),
        nn.Flatten(), nn.Linear(3 * 3 * 6, 2),
    )  # fmt: skip
    kwargs = dict(lrs=[1e-3, 1e-2, 0.1], horizons=(1, 3), optimizer="adam", stop_factor=None)
    a = scan(model, nn.CrossEntropyLoss(), data, method="batched", **kwargs)
    b = scan(model, nn.CrossEntropyLoss(), data, method="sequential", **kwargs)
    assert a.method == "batched"
    _close(a.raw_losses, b.raw_losses)


# -- BatchNorm ---------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_batchnorm_copies_keep_their_own_running_statistics(optimizer):
    model = _bn_model()
    kwargs = dict(lrs=[1e-3, 1e-2, 0.1], horizons=(1, 2), optimizer=optimizer, stop_factor=None)
    batched = scan(model, nn.MSELoss(), _data(), method="batched", **kwargs)
    sequential = scan(model, nn.MSELoss(), _data(), method="sequential", **kwargs)
    assert batched.method == "batched"
    _close(batched.raw_losses, sequential.raw_losses)
    # Evaluation uses running statistics; with eval on other data, a copy whose statistics
    # were shared or never updated would not match the plain loop.
    cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    assert batched.losses[1][2] == pytest.approx(_plain_run(model, _data(), 0.1, 2, cls), rel=1e-9)


def test_the_users_model_optimizer_and_rng_are_untouched():
    model = _bn_model()
    model.eval()  # a mode the scan must not change
    user_opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = _data()
    nn.MSELoss()(model.train()(data[0][0]), data[0][1]).backward()
    user_opt.step()
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt_before = {
        k: v.clone() for k, v in user_opt.state[model[0].weight].items() if torch.is_tensor(v)
    }
    rng = torch.get_rng_state()
    for method in ("batched", "sequential"):
        scan(model, nn.MSELoss(), data, lrs=LRS, horizons=(1, 2), optimizer=user_opt,
             carry_optimizer_state=True, method=method)  # fmt: skip
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    state = user_opt.state[model[0].weight]
    assert all(torch.equal(opt_before[k], state[k]) for k in opt_before)
    assert user_opt.param_groups[0]["lr"] == 1e-3
    assert torch.equal(rng, torch.get_rng_state())


def test_carried_state_batched_equals_sequential_and_differs_from_fresh():
    model, data = _mlp(4), _data()
    user_opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for x, y in data:  # some history: a momentum buffer worth carrying
        user_opt.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        user_opt.step()
    kwargs = dict(lrs=[0.01, 0.05], horizons=(1,), optimizer=user_opt, stop_factor=None)
    a = scan(model, nn.MSELoss(), data, carry_optimizer_state=True, method="batched", **kwargs)
    b = scan(model, nn.MSELoss(), data, carry_optimizer_state=True, method="sequential", **kwargs)
    fresh = scan(model, nn.MSELoss(), data, method="batched", **kwargs)
    _close(a.raw_losses, b.raw_losses)
    assert not np.allclose(a.raw_losses, fresh.raw_losses)


# -- divergence, stopping, masking -------------------------------------------------------------


def test_diverged_copies_are_masked_and_do_not_poison_the_others():
    torch.manual_seed(5)
    model, data = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)), _data()
    good = [1e-3, 1e-2, 0.1]
    blowing = [1e8, 1e12, 1e16]  # SGD at these LRs overflows float64 to inf/NaN in epoch 1
    mixed = scan(model, nn.MSELoss(), data, lrs=good + blowing, horizons=(1, 2, 3),
                 stop_factor=None, method="batched")  # fmt: skip
    alone = scan(model, nn.MSELoss(), data, lrs=good, horizons=(1, 2, 3), stop_factor=None,
                 method="batched")  # fmt: skip
    status = np.asarray(mixed.status)
    assert (status[:, :3] == "ok").all()
    assert (status[:, 3:] == "diverged").all()
    assert np.isnan(np.asarray(mixed.losses)[:, 3:]).all()
    # The good copies computed exactly what they compute without the diverging ones.
    np.testing.assert_array_equal(np.asarray(mixed.raw_losses)[:, :3], alone.raw_losses)
    seq = scan(model, nn.MSELoss(), data, lrs=good + blowing, horizons=(1, 2, 3),
               stop_factor=None, method="sequential")  # fmt: skip
    assert seq.status == mixed.status


def test_all_copies_diverging_mid_epoch_are_recorded_in_both_engines():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    kwargs = dict(lrs=[1e6, 1e12], horizons=(2, 3), stop_factor=None)
    a = scan(model, nn.MSELoss(), _data(), method="batched", **kwargs)
    b = scan(model, nn.MSELoss(), _data(), method="sequential", **kwargs)
    assert a.status == b.status == [["diverged"] * 2] * 2
    assert a.complete and np.isnan(np.asarray(a.raw_losses)).all()


class _Tied(nn.Module):
    """A module registered under two names and a parameter tied into a second module:
    every alias must see the copy's tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(4, 6)
        self.dec = nn.Linear(6, 4)
        self.shared = self.enc  # the same module under a second name
        self.dec2 = nn.Linear(6, 4)
        self.dec2.weight = self.dec.weight  # tied parameter
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.shared(x))
        return self.head(self.dec(h) + self.dec2(h) + x)


def test_shared_modules_batched_equals_sequential():
    torch.manual_seed(0)
    model = _Tied()
    kwargs = dict(lrs=[1e-2, 0.1], horizons=(1, 2), optimizer="adam", stop_factor=None)
    a = scan(model, nn.MSELoss(), _data(), method="batched", **kwargs)
    b = scan(model, nn.MSELoss(), _data(), method="sequential", **kwargs)
    assert a.method == "batched"
    _close(a.raw_losses, b.raw_losses)


def test_stop_rule_matches_seed_003_and_masked_copies_stay_empty():
    model, data = _mlp(6), _data()
    res = scan(model, nn.MSELoss(), data, lrs=log_lrs(1e-3, 30, 9), horizons=(1, 2, 4))
    assert res.stop_threshold == pytest.approx(1.1 * res.initial_loss)
    raw, status = np.asarray(res.raw_losses), np.asarray(res.status)
    first = status[0]
    assert (raw[0][first == "stopped"] > res.stop_threshold).all()
    assert (raw[0][first == "ok"] <= res.stop_threshold).all()
    assert (first == "stopped").any() and (first == "ok").any()
    # A copy stopped at horizon 1 stays stopped (and unmeasured) afterwards.
    stopped = np.flatnonzero(first == "stopped")
    assert (status[1:, stopped] == "stopped").all()
    assert np.isnan(raw[1:, stopped]).all()


def test_unmasked_stopped_copies_keep_training_and_equal_from_scratch():
    model, data = _mlp(7), _data()
    lrs = log_lrs(0.3, 3.0, 3)
    masked = scan(model, nn.MSELoss(), data, lrs=lrs, horizons=(1, 3), stop_factor=1.0)
    free = scan(model, nn.MSELoss(), data, lrs=lrs, horizons=(1, 3), stop_factor=1.0,
                mask_stopped=False)  # fmt: skip
    ran_on = [k for k in range(3) if masked.status[0][k] == "stopped"]
    assert ran_on, "the test needs a copy stopped at horizon 1"
    for k in ran_on:
        assert math.isnan(masked.raw_losses[1][k])
        assert math.isfinite(free.raw_losses[1][k])
        expected = _plain_run(model, data, lrs[k], 3, torch.optim.SGD)
        assert free.raw_losses[1][k] == pytest.approx(expected, rel=1e-9)


def test_stop_threshold_handles_negative_losses():
    assert stop_threshold(2.0, 1.1) == pytest.approx(2.2)
    assert stop_threshold(-2.0, 1.1) == pytest.approx(-1.8)  # worse = higher, also below 0
    assert stop_threshold(1.0, None) is None


# -- fallback ------------------------------------------------------------------------------------


class _InPlace(nn.Module):
    """A model vmap cannot batch: it writes a batched value into an unbatched tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], 1)
        out.add_(self.lin(x))  # in-place into a fresh (unbatched) tensor: vmap rejects it
        return out


def test_auto_falls_back_to_sequential_with_a_note_and_batched_refuses():
    torch.manual_seed(0)
    model, data = _InPlace(), _data()
    with pytest.warns(UserWarning, match="sequentially"):
        res = scan(model, nn.MSELoss(), data, lrs=[0.01, 0.1], horizons=(1,))
    assert res.method == "sequential" and res.notes
    ref = scan(model, nn.MSELoss(), data, lrs=[0.01, 0.1], horizons=(1,), method="sequential")
    assert res.raw_losses == ref.raw_losses
    with pytest.raises(InvalidArgument, match="method='batched' cannot run"):
        scan(model, nn.MSELoss(), data, lrs=[0.01], horizons=(1,), optimizer="adam",
             method="batched")  # fmt: skip


def test_custom_optimizer_factory_runs_sequentially():
    model, data = _mlp(8), _data()

    def adagrad(params, lr):  # type: ignore[no-untyped-def]
        return torch.optim.Adagrad(params, lr=lr, lr_decay=0.1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scan(model, nn.MSELoss(), data, lrs=[1e-3], horizons=(2,), optimizer=adagrad)
    assert res.method == "sequential"
    expected = _plain_run(model, data, 1e-3, 2, torch.optim.Adagrad, lr_decay=0.1)
    assert res.losses[0][0] == pytest.approx(expected, rel=1e-9)


# -- metrics, step functions, interruption -----------------------------------------------------


def test_metrics_and_eval_data_batched_equals_sequential():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(120, 5, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).long()
    train = [(x[i : i + 40], y[i : i + 40]) for i in range(0, 80, 40)]
    held_out = [(x[80:], y[80:])]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    kwargs = dict(lrs=[0.01, 0.1, 1.0], horizons=(1, 2), metrics=["accuracy"],
                  eval_data=held_out, stop_factor=None)  # fmt: skip
    a = scan(model, nn.CrossEntropyLoss(), train, method="batched", **kwargs)
    b = scan(model, nn.CrossEntropyLoss(), train, method="sequential", **kwargs)
    _close(a.raw_losses, b.raw_losses)
    _close(a.metrics["accuracy"], b.metrics["accuracy"])
    assert 0.0 <= a.initial_metrics["accuracy"] <= 1.0
    best = a.best(2, metric="accuracy")
    assert best.value == np.nanmax(a.values("accuracy")[1])


def test_step_fn_and_dict_batches():
    data = [{"x": x, "y": y} for x, y in _data()]
    model = _mlp(9)

    def step_fn(m, batch):  # type: ignore[no-untyped-def]
        return nn.functional.mse_loss(m(batch["x"]), batch["y"])

    a = scan(model, None, data, step_fn=step_fn, lrs=[0.01, 0.1], horizons=(1,))
    b = scan(model, nn.MSELoss(), data, lrs=[0.01, 0.1], horizons=(1,), method="sequential")
    _close(a.raw_losses, b.raw_losses)


def test_interrupt_returns_what_was_measured():
    model, data = _mlp(10), _data()
    calls = {"n": 0}

    def step_fn(m, batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 5:  # 1 initial-eval pass of 3 batches, then training...
            raise KeyboardInterrupt
        return nn.functional.mse_loss(m(batch[0]), batch[1])

    res = scan(model, None, data, step_fn=step_fn, lrs=[0.01, 0.1], horizons=(1, 2),
               method="sequential")  # fmt: skip
    assert not res.complete
    assert np.asarray(res.status).tolist() == [["not run"] * 2] * 2


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lrs": []}, "lrs is empty"),
        ({"lrs": [0.1, 0.0]}, "positive"),
        ({"lrs": [0.1, -1.0]}, "positive"),
        ({"lrs": [0.1, math.nan]}, "positive"),
        ({"lrs": [0.1, 0.1]}, "duplicates"),
        ({"horizons": []}, "horizons is empty"),
        ({"horizons": (2, 1)}, "strictly increasing"),
        ({"horizons": (1, 1, 2)}, "strictly increasing"),
        ({"horizons": (0, 1)}, "positive"),
        ({"horizons": (1.5,)}, "whole numbers"),
        ({"unit": "minutes"}, "unit="),
        ({"method": "fast"}, "method="),
        ({"stop_factor": 0.5}, "stop_factor"),
        ({"optimizer": "lion"}, "not a known optimizer"),
        ({"carry_optimizer_state": True}, "optimizer instance"),
        ({"metrics": ["nope"]}, "Unknown metric"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(LrlabError, match=match):
        scan(_mlp(), nn.MSELoss(), _data(), **{"lrs": [0.1], "horizons": (1,), **kwargs})


def test_empty_data_is_a_data_error():
    with pytest.raises(DataError, match="no batches"):
        scan(_mlp(), nn.MSELoss(), [], lrs=[0.1], horizons=(1,))


def test_lrs_are_sorted_and_default_grid_is_seed_003s():
    res = scan(_mlp(), nn.MSELoss(), _data(), lrs=[0.1, 0.001, 0.01], horizons=(1,))
    assert res.lrs == [0.001, 0.01, 0.1]
    grid = log_lrs()
    assert len(grid) == 32 and grid[0] == pytest.approx(1e-6) and grid[-1] == pytest.approx(100)
    assert check_horizons((1, 2, 4, 8)) == [1, 2, 4, 8]


def test_result_round_trips_through_json(tmp_path):
    res = scan(_mlp(), nn.MSELoss(), _data(), lrs=log_lrs(1e-3, 100, 6), horizons=(1, 2),
               metrics=["mse"])  # fmt: skip
    assert any(s != "ok" for row in res.status for s in row)  # NaN cells travel as null
    path = res.save(tmp_path / "scan.json")
    back = ScanResult.load(path)
    _close(back.losses, res.losses, rtol=0)
    _close(back.raw_losses, res.raw_losses, rtol=0)
    assert back.status == res.status and back.horizons == res.horizons
    assert back.best_lr == res.best_lr and back.config == res.config
    assert back.metrics.keys() == res.metrics.keys()


# -- best LR and its band; figures ---------------------------------------------------------------

finite_or_nan = st.one_of(st.floats(0.0, 10.0), st.just(math.nan))


@given(
    values=st.lists(finite_or_nan, min_size=1, max_size=30),
    tolerance=st.floats(0.0, 1.0),
    higher=st.booleans(),
)
def test_best_in_row_finds_the_optimum_and_a_contiguous_band(values, tolerance, higher):
    row = np.asarray(values, dtype=float)
    lrs = np.logspace(-5, 1, len(row))
    i, best, low, high = best_in_row(lrs, row, higher_is_better=higher, tolerance=tolerance)
    finite = np.isfinite(row)
    if not finite.any():
        assert i == -1 and math.isnan(best) and math.isnan(low) and math.isnan(high)
        return
    expected = np.nanmax(row) if higher else np.nanmin(row)
    assert best == expected and row[i] == expected
    lo, hi = int(np.searchsorted(lrs, low)), int(np.searchsorted(lrs, high))
    assert lo <= i <= hi
    margin = tolerance * abs(best)

    def within(v: float) -> bool:
        return math.isfinite(v) and (v >= best - margin if higher else v <= best + margin)

    assert all(within(v) for v in row[lo : hi + 1])
    assert lo == 0 or not within(row[lo - 1])  # the band cannot be extended
    assert hi == len(row) - 1 or not within(row[hi + 1])


def test_best_band_and_lookup_by_horizon():
    res = ScanResult(
        lrs=[1e-3, 1e-2, 1e-1, 1.0],
        horizons=[1, 2],
        unit="epochs",
        losses=[[1.0, 0.52, 0.5, math.nan], [0.9, 0.3, 0.6, math.nan]],
        raw_losses=[[1.0, 0.52, 0.5, 9.0], [0.9, 0.3, 0.6, math.nan]],
        status=[["ok", "ok", "ok", "stopped"], ["ok", "ok", "ok", "stopped"]],
        initial_loss=1.0,
    )
    first = res.best(1)
    assert (first.lr, first.low, first.high, first.value) == (0.1, 0.01, 0.1, 0.5)
    assert res.best(2, tolerance=0.0).low == res.best(2).high == 0.01
    assert res.best_lr == {1: 0.1, 2: 0.01}
    with pytest.raises(InvalidArgument, match="horizon=3"):
        res.best(3)
    with pytest.raises(InvalidArgument, match="not measured"):
        res.values("accuracy")
    assert "best lr 0.1" in res.summary()


def test_plot_has_one_log_panel_per_horizon_and_clips_stopped_cells():
    res = scan(_mlp(), nn.MSELoss(), _data(), lrs=log_lrs(1e-3, 1e3, 7), horizons=(1, 2, 3))
    assert any("stopped" in row for row in res.status)
    fig, axes = res.plot()
    assert len(axes) == 3 and all(ax.get_xscale() == "log" for ax in axes)
    assert [ax.get_title() for ax in axes] == ["1 epoch", "2 epochs", "3 epochs"]
    top = axes[0].get_ylim()[1]
    assert top < 10 * res.stop_threshold  # not stretched by stopped cells' huge losses
    fig2, ax = res.heatmap()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2", "3"]
    import matplotlib.pyplot as plt

    plt.close(fig)
    plt.close(fig2)


def test_public_names():
    import lrlab

    assert lrlab.scan is scan and lrlab.ScanResult is ScanResult

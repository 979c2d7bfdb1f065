"""lrlab.finder: the sweep, the stop rules, metric mode, state safety and the result."""

from __future__ import annotations

import copy
import math
import random

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from lrlab.batches import StepOutput
from lrlab.errors import DataError, InvalidArgument
from lrlab.finder import RangeTestResult, range_test, sweep_lrs
from lrlab.finder.maths import DivergenceMonitor, has_diverged
from lrlab.smoothing import ema

# ----------------------------------------------------------------------------- fixtures


def _batches(n_batches: int = 6, batch_size: int = 16, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        x = torch.randn(batch_size, 8, generator=g)
        y = (x[:, 0] - x[:, 1] > 0).long() + (x[:, 2] > 0.8).long()
        out.append((x, y))
    return out


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3)
    )


OPTIMIZERS = {
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4),
    "sgd-nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.05),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.5),
}

CE = nn.CrossEntropyLoss()


def _warm(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    """A few real steps so the optimizer has state and BatchNorm has statistics."""
    for x, y in _batches(3, seed=9):
        opt.zero_grad()
        CE(model(x), y).backward()
        opt.step()


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer) -> dict:
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": {
            k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()
        },
        "opt": copy.deepcopy(opt.state_dict()),
        "training": model.training,
    }


def _assert_same(model: nn.Module, opt: torch.optim.Optimizer, ref: dict) -> None:
    for k, v in model.state_dict().items():  # weights, BN running stats, num_batches_tracked
        assert v.dtype == ref["model"][k].dtype and torch.equal(v, ref["model"][k]), k
    for k, p in model.named_parameters():
        if ref["grads"][k] is None:
            assert p.grad is None, k
        else:
            assert torch.equal(p.grad, ref["grads"][k]), k
    now = opt.state_dict()
    assert now["param_groups"] == ref["opt"]["param_groups"]
    for idx, state in ref["opt"]["state"].items():
        for key, value in state.items():
            got = now["state"][idx][key]
            assert torch.equal(got, value) if isinstance(value, torch.Tensor) else got == value
    assert model.training == ref["training"]


def _rng_probe() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def _step_failing_at(k: int, exc: type[BaseException]):
    calls = {"n": 0}

    def step(model, batch):
        if calls["n"] == k:
            raise exc("failure injected by the test")
        calls["n"] += 1
        x, y = batch
        return CE(model(x), y)

    return step


# ----------------------------------------------------------------------------- pure maths


@settings(max_examples=60, deadline=None)
@given(
    start=st.floats(1e-9, 1.0),
    decades=st.floats(0.5, 10.0),
    num_iter=st.integers(2, 400),
)
def test_exp_sweep_starts_at_start_ends_at_end_and_is_log_spaced(start, decades, num_iter):
    end = start * 10**decades
    lrs = np.array(sweep_lrs(start, end, num_iter, "exp"))
    assert lrs[0] == start
    assert lrs[-1] == pytest.approx(end, rel=1e-12)
    assert np.all(np.diff(lrs) > 0)
    ratios = lrs[1:] / lrs[:-1]
    assert np.allclose(ratios, (end / start) ** (1 / (num_iter - 1)), rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(start=st.floats(0.0, 1.0), width=st.floats(1e-3, 10.0), num_iter=st.integers(2, 400))
def test_linear_sweep_is_evenly_spaced(start, width, num_iter):
    end = start + width
    lrs = np.array(sweep_lrs(start, end, num_iter, "linear"))
    assert lrs[0] == start and lrs[-1] == pytest.approx(end, rel=1e-12)
    assert np.allclose(np.diff(lrs), width / (num_iter - 1), rtol=1e-6, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    best=st.floats(1e-3, 1e3),
    initial_over_best=st.floats(1.0, 2.0),
    s_over_best=st.floats(1.0, 20.0),
)
def test_divergence_rule_equals_torch_lr_finder_for_positive_losses(
    best, initial_over_best, s_over_best
):
    """For positive losses that have not halved, threshold 4 is torch-lr-finder's 5 × best."""
    initial, s = best * initial_over_best, best * s_over_best
    assume(abs(s - 5 * best) > 1e-9 * best)
    assert has_diverged(s, best, initial, 4.0) == (s > 5 * best)


@settings(max_examples=200, deadline=None)
@given(
    best=st.floats(-1e3, 1e3),
    descent=st.floats(0.0, 1e3),
    rise=st.floats(0.0, 1e4),
    scale=st.floats(1e-3, 1e3),
    th=st.floats(0.1, 10.0),
)
def test_divergence_rule_is_invariant_to_the_units_of_the_loss(best, descent, rise, scale, th):
    args = (best + rise, best, best + descent)
    scaled = tuple(scale * a for a in args)
    margin = th * max(abs(best), descent)
    assume(abs(rise - margin) > 1e-6 * (1 + margin))  # away from the boundary (rounding)
    assert has_diverged(*args, th) == has_diverged(*scaled, th)


def test_divergence_rule_on_negative_losses_does_not_fire_on_the_first_rise():
    # A curve that goes from -1 down to -5 and wobbles: torch-lr-finder's rule (s > 5·best)
    # is true at once for negative best; ours waits for a rise comparable to the descent.
    curve = [-1.0, -2.0, -3.5, -5.0, -4.9, -4.7, -4.8, -3.0, 10.0, 40.0]
    monitor = DivergenceMonitor(4.0)
    fired = [monitor.update(s) for s in curve]
    assert fired.index(True) == 9  # rise 45 > 4 · max(5, 4) = 20; 15 at the step before is not
    best = np.minimum.accumulate(curve)
    assert any(s > 5 * b for s, b in zip(curve, best, strict=True))  # theirs fires at step 0


def test_divergence_monitor_none_never_stops_and_validates():
    monitor = DivergenceMonitor(None)
    assert not any(monitor.update(x) for x in [1.0, 0.1, 1e9])
    with pytest.raises(InvalidArgument, match="diverge_th"):
        DivergenceMonitor(0.0)


# ----------------------------------------------------------------------------- the sweep


def test_result_curves_and_lr_schedule_applied_to_the_optimizer():
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def step(m, batch):
        seen.append(opt.param_groups[0]["lr"])  # the LR the coming update will use
        x, y = batch
        return CE(m(x), y)

    r = range_test(
        model,
        opt,
        None,
        _batches(),
        step_fn=step,
        start_lr=1e-4,
        end_lr=1.0,
        num_iter=30,
        diverge_th=None,
        suggest=False,
    )
    assert r.stop_reason == "completed" and r.stop_step is None
    assert r.lrs == seen == sweep_lrs(1e-4, 1.0, 30, "exp")
    assert r.smoothed == pytest.approx(ema(r.losses, 0.98).tolist(), rel=1e-12)
    assert r.config["num_iter"] == 30 and r.config["step_mode"] == "exp"
    assert opt.param_groups[0]["lr"] == 0.1  # restored


def test_param_groups_keep_their_ratio_to_the_first_group():
    model = _net()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.01}, {"params": model[4].parameters()}],
        lr=0.001,
    )
    seen = []

    def step(m, batch):
        seen.append([g["lr"] for g in opt.param_groups])
        x, y = batch
        return CE(m(x), y)

    r = range_test(
        model,
        opt,
        None,
        _batches(),
        step_fn=step,
        start_lr=1e-5,
        end_lr=1e-1,
        num_iter=12,
        suggest=False,
        diverge_th=None,
    )
    assert r.config["group_ratios"] == [1.0, pytest.approx(0.1)]
    for lr, (g0, g1) in zip(r.lrs, seen, strict=True):
        assert g0 == lr and g1 == pytest.approx(0.1 * lr, rel=1e-12)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.001]


def test_loss_is_recorded_before_the_update_and_matches_a_plain_loop():
    """A hand-written reference loop (the definition in the docs) with clipping."""
    batches = _batches(4)
    model, ref_model = _net(), _net()
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=1.0, momentum=0.9)
    lrs = sweep_lrs(1e-3, 3.0, 15, "exp")
    torch.manual_seed(11)
    expected = []
    for i, lr in enumerate(lrs):
        for g in ref_opt.param_groups:
            g["lr"] = lr
        ref_model.train()
        ref_opt.zero_grad()
        x, y = batches[i % len(batches)]
        loss = CE(ref_model(x), y)
        expected.append(loss.item())
        loss.backward()
        nn.utils.clip_grad_norm_(ref_model.parameters(), 0.5)
        ref_opt.step()
    torch.manual_seed(11)
    r = range_test(
        model,
        opt,
        CE,
        batches,
        start_lr=1e-3,
        end_lr=3.0,
        num_iter=15,
        grad_clip=0.5,
        diverge_th=None,
        suggest=False,
    )
    assert r.losses == expected


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_model_optimizer_and_rng_restored_after_a_completed_sweep(opt_name):
    model = _net()
    opt = OPTIMIZERS[opt_name](model.parameters())
    _warm(model, opt)
    model.eval()  # a mode the sweep changes (it trains in train mode)
    ref = _snapshot(model, opt)
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    expected = _rng_probe()
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    r = range_test(model, opt, CE, _batches(), num_iter=25, end_lr=100.0, suggest=False)
    assert len(r.losses) > 0
    assert _rng_probe() == expected
    _assert_same(model, opt, ref)


@pytest.mark.parametrize("opt_name", ["sgd-nesterov", "adamw"])
def test_restored_after_an_exception_mid_sweep(opt_name):
    model = _net()
    opt = OPTIMIZERS[opt_name](model.parameters())
    _warm(model, opt)
    ref = _snapshot(model, opt)
    with pytest.raises(ZeroDivisionError):
        range_test(
            model,
            opt,
            None,
            _batches(),
            step_fn=_step_failing_at(5, ZeroDivisionError),
            num_iter=20,
            suggest=False,
        )
    _assert_same(model, opt, ref)


def test_keyboard_interrupt_returns_the_points_measured_and_restores():
    model = _net()
    opt = OPTIMIZERS["adam"](model.parameters())
    _warm(model, opt)
    ref = _snapshot(model, opt)
    r = range_test(
        model,
        opt,
        None,
        _batches(),
        step_fn=_step_failing_at(7, KeyboardInterrupt),
        num_iter=20,
        diverge_th=None,
    )
    assert r.stop_reason == "interrupted" and r.stop_step == 7
    assert len(r.lrs) == len(r.losses) == len(r.smoothed) == 7
    assert r.lrs == sweep_lrs(1e-7, 10.0, 20)[:7]
    _assert_same(model, opt, ref)


def test_two_runs_give_identical_results():
    def run():
        torch.manual_seed(0)
        model = _net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        r = range_test(
            model,
            opt,
            CE,
            _batches(),
            num_iter=40,
            end_lr=50.0,
            eval_data=_batches(2, seed=3),
            eval_every=5,
        )
        d = r.to_dict()
        d.pop("elapsed")
        return d

    first, second = run(), run()
    assert first == second
    assert first["suggestion"] is not None


def test_same_result_whatever_the_global_rng_was_before_if_seeded_the_same():
    # And the test itself leaves the global RNG untouched: a second call sees the same
    # dropout masks and gives the same numbers without reseeding.
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    a = range_test(model, opt, CE, _batches(), num_iter=15, suggest=False)
    b = range_test(model, opt, CE, _batches(), num_iter=15, suggest=False)
    assert a.losses == b.losses


def test_nan_loss_stops_the_sweep_keeps_the_points_and_skips_the_update():
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = {"n": 0}

    def step(m, batch):
        calls["n"] += 1
        x, y = batch
        loss = CE(m(x), y)
        return loss * float("nan") if calls["n"] == 9 else loss

    ref = _snapshot(model, opt)
    r = range_test(model, opt, None, _batches(), step_fn=step, num_iter=30)
    assert r.stop_reason == "non-finite loss" and r.stop_step == 8
    assert len(r.losses) == 9 and math.isnan(r.losses[-1]) and math.isnan(r.smoothed[-1])
    assert all(math.isfinite(v) for v in r.losses[:-1])
    assert r.suggestion is not None  # computed on the finite part; flags say it is short
    _assert_same(model, opt, ref)
    again = RangeTestResult.from_dict(r.to_dict())
    assert math.isnan(again.losses[-1]) and again.losses[:-1] == r.losses[:-1]


def _quadratic_problem(offset: float):
    """Full-batch least squares, optionally shifted to negative values: GD diverges exactly
    when lr > 2 / λ_max(H), H = 2XᵀX/n, and the loss never rises below that LR."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g) * torch.tensor([3.0, 1.0, 1.0, 0.5, 0.2])
    y = x @ torch.randn(5, 1, generator=g)
    hessian = 2 * x.T @ x / x.shape[0]
    lr_div = 2 / float(torch.linalg.eigvalsh(hessian.double()).max())

    def crit(out, target):
        return nn.functional.mse_loss(out, target) + offset

    torch.manual_seed(0)
    model = nn.Linear(5, 1, bias=False)
    return model, crit, [(x, y)], lr_div


@pytest.mark.parametrize("offset", [0.0, -20.0])
def test_divergence_detected_after_the_known_critical_lr_also_for_negative_losses(offset):
    model, crit, data, lr_div = _quadratic_problem(offset)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = range_test(
        model, opt, crit, data, start_lr=1e-4, end_lr=100 * lr_div, num_iter=200, suggest=False
    )
    assert r.stop_reason == "diverged"
    assert r.lrs[r.stop_step] > lr_div  # never before the critical LR
    assert r.lrs[r.stop_step] < 10 * lr_div  # and not long after it
    if offset < 0:
        assert r.losses[0] < 0 and min(r.smoothed) < 0
        # torch-lr-finder's rule (smoothed > 5 · best) would have stopped at the first step
        # at which the smoothed loss sits above 5 × a negative best, i.e. at once:
        best = np.minimum.accumulate(r.smoothed)
        assert int(np.argmax(np.array(r.smoothed) > 5 * best)) == 0


def test_negative_loss_curve_gives_the_same_stop_step_as_the_shifted_positive_one():
    positive = _quadratic_problem(0.0)
    shifted = _quadratic_problem(-0.5 * 1.0)  # crosses zero on the way down

    def run(problem):
        model, crit, data, lr_div = problem
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        return range_test(
            model, opt, crit, data, start_lr=1e-4, end_lr=100 * lr_div, num_iter=200, suggest=False
        )

    a, b = run(positive), run(shifted)
    assert a.stop_reason == b.stop_reason == "diverged"
    assert abs(a.stop_step - b.stop_step) <= 3


@pytest.mark.filterwarnings("ignore:num_iter=")
def test_accumulation_consumes_micro_batches_and_averages_losses():
    batches = _batches(6)
    model = nn.Linear(8, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    # start_lr tiny: the weights barely move, so the loss of a step is the mean of its
    # micro-batch losses at (almost) the initial weights.
    r = range_test(
        model,
        opt,
        CE,
        batches,
        start_lr=1e-12,
        end_lr=2e-12,
        num_iter=3,
        accumulation_steps=2,
        suggest=False,
    )
    with torch.no_grad():
        per_batch = [CE(model(x), y).item() for x, y in batches]
    expected = [(per_batch[2 * i] + per_batch[2 * i + 1]) / 2 for i in range(3)]
    assert r.losses == pytest.approx(expected, rel=1e-6)


def test_data_restarts_and_set_epoch_is_called_at_every_pass_then_restored():
    class Loader:
        """Like lrlab's TensorLoader: set_epoch sets the next pass; each pass advances it."""

        def __init__(self):
            self.epoch = None  # the pass running / last run
            self._next_epoch = 41
            self.calls = []
            self.batches = _batches(3)

        def set_epoch(self, e):
            self.calls.append(e)
            self._next_epoch = e

        def __iter__(self):
            self.epoch, self._next_epoch = self._next_epoch, self._next_epoch + 1
            return iter(self.batches)

    loader = Loader()
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = range_test(model, opt, CE, loader, num_iter=10, suggest=False)
    assert len(r.losses) == 10
    assert loader.calls == [0, 1, 2, 3]  # 10 steps of 3 batches: 4 passes
    assert (loader.epoch, loader._next_epoch) == (None, 41)  # its counters are put back


def test_a_tensor_loader_gives_the_same_sweep_whatever_its_history():
    from lrlab.data.loader import TensorLoader

    x, y = torch.cat([b[0] for b in _batches()]), torch.cat([b[1] for b in _batches()])
    loader = TensorLoader(x, y, 16, shuffle=True, seed=3)
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    first = range_test(model, opt, CE, loader, num_iter=20, suggest=False)
    for _ in loader:  # the user trains an epoch meanwhile
        pass
    state = (loader.epoch, loader._next_epoch)
    second = range_test(model, opt, CE, loader, num_iter=20, suggest=False)
    assert first.losses == second.losses
    assert (loader.epoch, loader._next_epoch) == state


def test_dict_batches_with_unpack_and_linear_sweep_from_zero():
    data = [{"features": x, "label": y} for x, y in _batches()]
    model = _net()
    r = range_test(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        CE,
        data,
        unpack=lambda b: (b["features"], b["label"]),
        start_lr=0.0,
        end_lr=1.0,
        num_iter=30,
        step_mode="linear",
    )
    assert r.lrs[0] == 0.0 and r.lrs[1] == pytest.approx(1 / 29)
    assert r.suggestion is not None  # computed from the positive LRs


def test_bf16_autocast_on_cpu_runs():
    model = _net()
    r = range_test(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        CE,
        _batches(),
        num_iter=10,
        amp="bf16",
        suggest=False,
    )
    assert len(r.losses) == 10 and all(math.isfinite(v) for v in r.losses)
    assert r.config["amp"] == "bf16"


# ----------------------------------------------------------------------------- metric mode


def test_metric_mode_evaluates_every_k_steps_on_a_fixed_subsample():
    class Counting:
        """An eval set that counts how often it is iterated."""

        def __init__(self):
            self.iterations = 0

        def __iter__(self):
            self.iterations += 1
            return iter(_batches(5, seed=7))

    eval_data = Counting()
    model = _net()
    r = range_test(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        CE,
        _batches(),
        num_iter=30,
        diverge_th=None,
        eval_data=eval_data,
        eval_every=4,
        eval_batches=2,
    )
    assert r.eval_steps == [3, 7, 11, 15, 19, 23, 27]
    assert r.eval_lrs == [r.lrs[i] for i in r.eval_steps]
    assert sorted(r.eval) == ["accuracy", "loss"]  # accuracy by default for CrossEntropyLoss
    assert all(0 <= a <= 1 for a in r.eval["accuracy"])
    assert eval_data.iterations == 1  # read once: the same samples at every evaluation
    assert r.diagnosis is not None and r.diagnosis.shape
    assert r.config["eval_batches"] == 2 and r.config["metrics"] == ["accuracy"]


@pytest.mark.filterwarnings("ignore:num_iter=")
def test_metric_mode_value_equals_evaluate_on_the_trained_weights():
    """The eval loss at step k is the loss of the model after k+1 updates on the first
    eval_batches batches: check the last one against a plain loop."""
    from lrlab.batches import make_step
    from lrlab.evaluate import evaluate

    batches, eval_batches = _batches(4), _batches(3, seed=2)
    model = nn.Sequential(nn.Linear(8, 3))
    ref = copy.deepcopy(model)
    r = range_test(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        CE,
        batches,
        start_lr=1e-3,
        end_lr=1.0,
        num_iter=8,
        diverge_th=None,
        eval_data=eval_batches,
        eval_every=8,
        eval_batches=2,
        suggest=False,
    )
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for i, lr in enumerate(r.lrs):
        ref_opt.param_groups[0]["lr"] = lr
        ref_opt.zero_grad()
        x, y = batches[i % 4]
        CE(ref(x), y).backward()
        ref_opt.step()
    expected = evaluate(ref, eval_batches, make_step(CE), metrics={}, max_batches=2)
    assert r.eval_steps == [7]
    assert r.eval["loss"] == [pytest.approx(expected["loss"], rel=1e-6)]


def test_metric_mode_regression_defaults_to_loss_only_and_explicit_metrics():
    data = [(x, x[:, :1]) for x, _ in _batches()]
    model = nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = range_test(model, opt, nn.MSELoss(), data, num_iter=12, eval_data=data)
    assert sorted(r.eval) == ["loss"] and r.config["eval_every"] == 1
    r = range_test(model, opt, nn.MSELoss(), data, num_iter=12, eval_data=data, metrics=["mae"])
    assert sorted(r.eval) == ["loss", "mae"]


def test_step_fn_with_outputs_supports_metrics():
    def step(m, batch):
        x, y = batch
        out = m(x)
        return StepOutput(loss=CE(out, y), outputs=out, targets=y)

    model = _net()
    r = range_test(
        model,
        torch.optim.Adam(model.parameters()),
        None,
        _batches(),
        step_fn=step,
        num_iter=10,
        eval_data=_batches(2),
        eval_every=5,
        metrics="accuracy",
    )
    assert len(r.eval["accuracy"]) == 2


# ----------------------------------------------------------------------------- validation


def _call(**kwargs):
    model = kwargs.pop("model", None) or _net()
    opt = kwargs.pop("optimizer", None) or torch.optim.SGD(model.parameters(), lr=0.1)
    data = kwargs.pop("data", None)
    return range_test(model, opt, CE, _batches() if data is None else data, suggest=False, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start_lr": 1.0, "end_lr": 1.0}, "smaller than end_lr"),
        ({"start_lr": 10.0, "end_lr": 1e-3}, "smaller than end_lr"),
        ({"start_lr": 0.0}, "must be > 0 for an exponential"),
        ({"start_lr": -1.0, "step_mode": "linear"}, "must be >= 0"),
        ({"end_lr": float("inf")}, "finite"),
        ({"num_iter": 1}, "num_iter=1 must be an integer >= 2"),
        ({"num_iter": 0}, "num_iter=0"),
        ({"num_iter": 10.5}, "num_iter=10.5"),
        ({"step_mode": "cosine"}, "step_mode='cosine'"),
        ({"accumulation_steps": 0}, "accumulation_steps=0"),
        ({"smooth_beta": 1.0}, "smooth_beta"),
        ({"grad_clip": 0.0}, "grad_clip"),
        ({"diverge_th": -1.0}, "diverge_th"),
        ({"eval_every": 5}, "without eval_data"),
        ({"eval_data": _batches(2), "eval_every": 0}, "eval_every=0"),
        ({"amp": True}, "amp=True needs a CUDA model"),
        ({"amp": "fp16"}, "fp16 needs CUDA"),
        ({"amp": "fp8"}, "not a precision"),
        ({"metrics": ["nope"]}, "Unknown metric"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    if "metrics" in kwargs:
        kwargs["eval_data"] = _batches(2)
    with pytest.raises(InvalidArgument, match=match):
        _call(**kwargs)


def test_too_few_iterations_warns():
    with pytest.warns(UserWarning, match="num_iter=5 gives a very short curve"):
        r = _call(num_iter=5)
    assert len(r.losses) == 5


def test_empty_data_raises_data_error_and_leaves_the_model_alone():
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref = _snapshot(model, opt)
    with pytest.raises(DataError, match="train_data yielded no batches"):
        _call(model=model, optimizer=opt, data=[])
    with pytest.raises(DataError, match="eval_data yielded no batches"):
        _call(model=model, optimizer=opt, eval_data=[])
    _assert_same(model, opt, ref)


def test_a_one_shot_generator_that_runs_out_ends_the_sweep_keeping_the_points():
    with pytest.warns(UserWarning, match="one-shot iterator"):
        r = _call(data=(b for b in _batches(4)), num_iter=10)
    assert r.stop_reason == "data exhausted" and r.stop_step == 4 and len(r.losses) == 4
    r = _call(data=(b for b in _batches(12)), num_iter=10)  # long enough: fine
    assert r.stop_reason == "completed" and len(r.losses) == 10


def test_a_first_step_that_cannot_run_is_a_data_error_naming_the_cause():
    model = nn.Linear(5, 3)  # the data has 8 features
    with pytest.raises(DataError, match=r"first training step failed with RuntimeError") as info:
        _call(model=model)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(DataError, match="Cannot unpack a batch"):
        _call(data=[(torch.randn(4, 8),)])


def test_first_group_with_zero_lr_and_others_not_is_rejected():
    model = _net()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.0}, {"params": model[4].parameters()}], lr=0.1
    )
    with pytest.raises(InvalidArgument, match="ratios"):
        _call(model=model, optimizer=opt)


# ----------------------------------------------------------------------------- result


def _metric_mode_result() -> RangeTestResult:
    """A 40-step metric-mode sweep up to LR 100: loss and accuracy curves, a suggestion."""
    model = _net()
    return range_test(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        CE,
        _batches(),
        num_iter=40,
        end_lr=100.0,
        eval_data=_batches(2),
        eval_every=4,
    )


def test_result_json_round_trip(tmp_path):
    r = _metric_mode_result()
    path = r.save(tmp_path / "rt.json")
    back = RangeTestResult.load(path)
    assert back.to_dict() == r.to_dict()
    assert back.suggestion == r.suggestion and back.diagnosis == r.diagnosis
    assert "range test" in str(back)
    with pytest.raises(DataError, match="not a range-test result"):
        RangeTestResult.from_dict({"kind": "something else"})


def test_plot_marks_the_suggestion_and_uses_a_log_axis_for_exp_sweeps():
    r = _metric_mode_result()
    fig, ax, metric_ax = r.plot()
    try:
        assert ax.get_xscale() == "log"
        assert metric_ax is not None and metric_ax.get_ylabel() == "eval accuracy"
        xs = [line.get_xdata() for line in ax.get_lines()]
        if r.suggestion is not None and r.suggestion.lr is not None:
            assert any(len(x) == 2 and x[0] == r.suggestion.lr for x in xs)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    linear = RangeTestResult(
        lrs=[0.1, 0.2, 0.3],
        losses=[1.0, 0.9, 2.0],
        smoothed=[1.0, 0.95, 1.3],
        config={"step_mode": "linear"},
    )
    fig, ax, metric_ax = linear.plot()
    assert ax.get_xscale() == "linear" and metric_ax is None
    import matplotlib.pyplot as plt

    plt.close(fig)


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", [False, "bf16", "fp16", True])
def test_cuda_model_with_cpu_batches_amp_and_restore(amp):
    model = _net().cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for x, y in _batches(3, seed=9):
        opt.zero_grad()
        CE(model(x.cuda()), y.cuda()).backward()
        opt.step()
    ref = _snapshot(model, opt)
    cuda_rng = torch.cuda.get_rng_state()
    r = range_test(
        model,
        opt,
        CE,
        _batches(),
        num_iter=30,
        end_lr=1.0,
        amp=amp,
        eval_data=_batches(2),
        eval_every=10,
        grad_clip=1.0,
    )
    assert r.config["device"].startswith("cuda")
    assert len(r.losses) >= 2 and all(math.isfinite(v) for v in r.losses[:-1])
    assert len(r.eval["accuracy"]) >= 1
    _assert_same(model, opt, ref)
    assert torch.equal(torch.cuda.get_rng_state(), cuda_rng)

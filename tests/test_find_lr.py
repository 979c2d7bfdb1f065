"""find_lr: the planned run's peak LR from a range test and short real trainings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import lrlab
from lrlab.data.loader import TensorLoader
from lrlab.errors import DataError, InvalidArgument, OptimizerMismatch
from lrlab.finder import FindResult, FindSettings, find_lr
from lrlab.finder.choose import choose, extension, log_grid, survivors, window

# -- small workloads ------------------------------------------------------------------------


def _blobs(n: int = 384, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=gen)
    centers = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    x = centers[y] + 0.9 * torch.randn(n, 2, generator=gen)
    return x, y


def _mlp(seed: int = 0, activation: type[nn.Module] = nn.ReLU) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), activation(), nn.Linear(16, 3))


def _loader(seed: int = 0, batch_size: int = 32) -> TensorLoader:
    x, y = _blobs(seed=seed)
    return TensorLoader(x, y, batch_size, seed=seed)


FAST = {"fractions": (0.1, 0.2), "max_candidates": 6, "extensions": 1, "checkpoints": 2, "keep": 2}


# -- the pure maths -------------------------------------------------------------------------


def test_window_spans_below_and_beyond_the_minimum():
    lrs = np.logspace(-5, 1, 61)
    x = np.log10(lrs)
    curve = 2.0 - 1.5 / (1 + np.exp(-(x + 2) * 4)) + np.where(x > -0.5, (x + 0.5) * 5, 0)
    w = window(lrs, curve, below_min=30, above_divergence=3, stopped=True)
    assert w.min_lr is not None and w.divergence_lr is not None and w.start_lr is not None
    assert w.start_lr < w.min_lr < w.divergence_lr
    assert w.low == pytest.approx(max(w.start_lr, w.min_lr / 30))
    assert w.high == pytest.approx(w.divergence_lr * 3)
    flat = window(lrs, np.ones_like(lrs), below_min=30, above_divergence=3, stopped=False)
    assert "flat-curve" in flat.flags


def test_grid_and_extension_keep_the_spacing():
    grid = log_grid(1e-3, 1.0, per_decade=3, max_points=12)
    assert len(grid) == 10 and grid[0] == pytest.approx(1e-3) and grid[-1] == pytest.approx(1.0)
    up = extension(grid, "high", 2)
    assert up[0] == pytest.approx(10 ** (1 / 3)) and up[1] == pytest.approx(10 ** (2 / 3))
    down = extension(grid, "low", 1)
    assert down == pytest.approx([10 ** (-3 - 1 / 3)])
    assert len(log_grid(1e-3, 1e3, per_decade=3, max_points=8)) == 8


def test_choice_is_risk_averse_next_to_a_cliff():
    """Same peak score at 0.1 and 0.3, a cliff right above 0.3: the smoothed choice sits on
    the safe side of the plateau."""
    lrs = np.logspace(-3, 0, 10)
    scores = np.where(lrs < 0.35, 0.9 - 0.2 * np.abs(np.log10(lrs) + 0.75), np.nan)
    c = choose([(lrs, scores)], [50], 50, floor=0.1, width=0.25)
    assert c.lr is not None and c.lr < 0.3
    assert c.low <= c.lr <= c.high
    # Without the cliff the same response peaks in the middle of the plateau.
    sym = np.where(np.isfinite(scores), scores, 0.9 - 0.2 * np.abs(np.log10(lrs) + 0.75))
    c2 = choose([(lrs, sym)], [50], 50, floor=0.1, width=0.25)
    assert c2.lr > c.lr


def test_choice_follows_a_downward_drift_between_horizons_only():
    lrs = np.logspace(-3, 0, 31)
    x = np.log10(lrs)
    short = 1 - (x + 1.0) ** 2  # best at 0.1 after 10 steps
    longer = 1 - (x + 1.3) ** 2  # best at 0.05 after 20 steps: 0.3 decades per doubling
    kw = {"floor": -10, "width": 0.1, "max_drift": 2.0}
    c = choose([(lrs, short), (lrs, longer)], [10, 20], 80, drift_gain=1.0, **kw)
    assert c.drift == pytest.approx(-0.3 / math.log10(2), rel=0.1)
    # Two more doublings to 80 steps: another 0.6 decades down.
    assert math.log10(c.lr) == pytest.approx(-1.3 - 0.6, abs=0.08)
    assert c.low <= c.lr <= c.high
    no_gain = choose([(lrs, short), (lrs, longer)], [10, 20], 80, drift_gain=0.0, **kw)
    assert math.log10(no_gain.lr) == pytest.approx(-1.3, abs=0.05)
    # A drift up (the best LR grows with the horizon) is measured, not followed.
    up = choose([(lrs, longer), (lrs, short)], [10, 20], 80, drift_gain=1.0, **kw)
    assert up.drift > 0 and math.log10(up.lr) == pytest.approx(-1.0, abs=0.05)


def test_later_rounds_keep_the_candidates_nearest_the_peak():
    pool = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
    assert survivors(pool, math.log10(0.015), 3) == [0.003, 0.01, 0.03]
    assert survivors(pool, math.log10(0.02), 3) == [0.01, 0.03, 0.1]
    assert survivors(pool, math.log10(0.3), 3) == [0.03, 0.1, 0.3]
    # A rounds-based choice reads the last round, where only the survivors ran.
    rounds = [(pool, [0.2, 0.5, 0.8, 0.85, 0.6, np.nan]), ([0.01, 0.03, 0.1], [0.9, 0.8, 0.7])]
    c = choose(rounds, [10, 40], 160, floor=0.1, width=0.2, drift_gain=0.0)
    assert 0.008 < c.lr < 0.02 and c.best_per_horizon[0] > c.best_per_horizon[1]


def test_choice_when_everything_diverged():
    c = choose([([0.1, 1.0, 10.0], [np.nan] * 3)], [10], 100, floor=0.0)
    assert c.lr is None and "all-diverged" in c.flags


def _one_cycle_final(model_fn, data, lr: float, steps: int, criterion, eval_data=None):  # type: ignore[no-untyped-def]
    """The planned run: one-cycle at peak ``lr``; its final eval loss (or accuracy)."""
    model = model_fn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    epochs = steps // len(data)
    res = lrlab.fit(model, opt, criterion, data, schedule=lrlab.one_cycle(lr, total_steps=steps),
                    epochs=epochs, eval_data=eval_data or data, quiet=True,
                    on_divergence="stop")  # fmt: skip
    return res.final


def test_a_known_cliff_finds_the_safe_side():
    """Gradient descent on a least-squares problem whose Hessian's largest eigenvalue is 2: a
    constant LR above 1 diverges along that direction, while the smallest eigenvalue (0.02)
    wants the LR as large as possible. For the planned one-cycle run the best peak is just
    below a cliff (1.3 trains best; 1.6 blows up). The answer must sit on the safe side."""
    gen = torch.Generator().manual_seed(0)
    scales = torch.logspace(-2, 0, 10)  # eigenvalues of X^T X / n
    x = torch.randn(512, 10, generator=gen)
    x = (x - x.mean(0)) / x.std(0) * scales.sqrt()
    y = x @ torch.randn(10, 1, generator=gen)
    data = [(x, y)]  # one full batch: gradient descent

    def model() -> nn.Module:
        torch.manual_seed(0)
        return nn.Linear(10, 1, bias=False)

    m = model()
    res = find_lr(m, torch.optim.SGD(m.parameters(), lr=0.1), nn.MSELoss(), data,
                  total_steps=200, eval_data=data)  # fmt: skip
    assert res.lr is not None and 0.3 < res.lr < 1.3  # the safe side, not far from it
    # Past the cliff the longest runs fail (a 20-step run may still survive 1.5: the
    # short-horizon bias that the longer round is there to catch).
    beyond = [c for c in res.candidates if c.lr > 1.4 and c.horizon == max(res.horizons)]
    assert beyond and all(c.status in ("stopped", "diverged") for c in beyond)
    start = nn.MSELoss()(model()(x), y).item()
    assert _one_cycle_final(model, data, res.lr, 200, nn.MSELoss())["eval_loss"] < 0.01 * start
    assert _one_cycle_final(model, data, 1.6, 200, nn.MSELoss())["eval_loss"] > start  # cliff


def _spirals(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = gen.uniform(0.05, 1, n)
    angle = 2 * np.pi * (y / 3 + t) + gen.normal(0, 0.15, n)
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], 1).astype(np.float32)
    return torch.tensor(x), torch.tensor(y)


def test_plain_sgd_on_a_tanh_net_finds_far_above_the_curve():
    """Issue 12's third case: plain SGD on a tanh MLP, whose best one-cycle peak (~1.8 here,
    collapsing at 3.2) is several times anything the range-test curve suggests."""
    x, y = _spirals(1200, 0)
    xt, yt = _spirals(1200, 1)
    train = TensorLoader(x, y, 32, seed=0)
    test = TensorLoader(xt, yt, 600, shuffle=False)
    steps = 10 * len(train)

    def model() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                             nn.Linear(32, 3))  # fmt: skip

    m = model()
    res = find_lr(m, torch.optim.SGD(m.parameters(), lr=0.01), nn.CrossEntropyLoss(), train,
                  total_steps=steps)  # fmt: skip
    curve_lr = res.range_test.suggestion.lr
    assert res.lr is not None and res.lr > 2 * curve_lr

    def accuracy(lr: float) -> float:
        return _one_cycle_final(model, train, lr, steps, nn.CrossEntropyLoss(), test)[
            "eval_accuracy"
        ]

    found, curve = accuracy(res.lr), accuracy(curve_lr)
    assert found > curve + 0.1  # the curve's answer barely trains in this budget


def test_find_lr_answers_with_evidence_and_restores_everything():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    data = _loader()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    rng_before = torch.random.get_rng_state()
    res = find_lr(model, opt, nn.CrossEntropyLoss(), data, total_steps=240, seed=1, **FAST)
    assert isinstance(res, FindResult)
    assert res.lr is not None and res.low <= res.lr <= res.high
    assert res.score == "loss" and "held out" in res.holdout
    assert all("accuracy" in c.metrics for c in res.candidates)
    assert res.candidates and {c.horizon for c in res.candidates} == set(res.horizons)
    assert res.cost["steps"] == res.cost["range_test_steps"] + res.cost["short_run_steps"]
    assert res.cost["runs"] == pytest.approx(res.cost["steps"] / 240)
    assert res.config["engine"] in ("grouped", "vmapped")
    # Everything is as it was: weights, optimizer (hyper-parameters, no state), RNG.
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
    assert opt.state_dict()["state"] == {}
    assert opt.param_groups[0]["lr"] == 0.05 and opt.param_groups[0]["momentum"] == 0.9


def test_find_lr_is_deterministic_and_batched_equals_sequential():
    x, y = _blobs()

    def run(method: str) -> FindResult:
        # float64: the chaotic runs near divergence agree too, not just to float32 rounding.
        model = _mlp().double()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        data = TensorLoader(x.double(), y, 32, seed=0)
        return find_lr(model, opt, nn.CrossEntropyLoss(), data, total_steps=200, seed=3,
                       method=method, **FAST)  # fmt: skip

    a, b, seq = run("auto"), run("auto"), run("sequential")
    # (as JSON text: NaN checkpoints of stopped runs compare equal there)
    assert json.dumps(a.to_dict()["candidates"]) == json.dumps(b.to_dict()["candidates"])
    assert a.lr == b.lr
    assert seq.config["engine"] == "sequential"
    assert [c.lr for c in a.candidates] == [c.lr for c in seq.candidates]
    for ca, cs in zip(a.candidates, seq.candidates, strict=True):
        assert ca.status == cs.status
        np.testing.assert_allclose(ca.loss, cs.loss, rtol=1e-7, atol=1e-9)
    assert seq.lr == pytest.approx(a.lr, rel=1e-6)


def test_param_group_ratios_are_kept_and_results_round_trip(tmp_path):
    model = _mlp()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[2].parameters(),
                                                        "lr": 0.01}],
        lr=0.1, momentum=0.9,
    )  # fmt: skip
    res = find_lr(model, opt, nn.CrossEntropyLoss(), _loader(), total_steps=150, **FAST)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    back = FindResult.load(res.save(tmp_path / "find.json"))
    assert json.dumps(back.to_dict()) == json.dumps(FindResult.from_dict(res.to_dict()).to_dict())
    assert back.lr == res.lr and len(back.candidates) == len(res.candidates)
    sched = back.one_cycle()
    assert sched.total_steps == 150 and max(sched.lr(t) for t in range(150)) == pytest.approx(
        back.lr
    )
    assert back.schedule_for().to_dict() == sched.to_dict()


@pytest.mark.parametrize("name", ["warmup-linear", "wsd", "warmup-cosine", "cosine"])
def test_any_plannable_schedule_is_compressed_for_the_short_runs(name):
    from lrlab.finder.planned import unit_schedule
    from lrlab.schedules import for_run

    model = _mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    options = {"warmup_steps": 12} if name != "cosine" else {}
    res = find_lr(model, opt, nn.CrossEntropyLoss(), _loader(), total_steps=120, schedule=name,
                  schedule_options=options, **FAST)  # fmt: skip
    assert res.schedule["name"] == name and res.lr is not None
    opts = res.schedule["options"]
    assert opts.get("warmup_fraction", 0.1) == pytest.approx(0.1)  # 12 of 120 steps
    planned = res.schedule_for()
    assert planned.to_dict() == for_run(name, res.lr, 120, **opts).to_dict()
    # The short runs follow the same shape over their own length, scaled to each peak.
    h = res.horizons[0]
    unit = unit_schedule(name, h, opts)
    assert [unit(t)[0] for t in range(h)] == pytest.approx(
        [for_run(name, 1.0, h, **opts).lr(t) for t in range(h)]
    )


def test_eval_data_is_used_when_given_and_a_list_of_batches_is_split():
    model, data = _mlp(), _loader()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _blobs(seed=9)
    val = TensorLoader(x, y, 64, shuffle=False)
    res = find_lr(model, opt, nn.CrossEntropyLoss(), data, total_steps=100, eval_data=val, **FAST)
    assert res.holdout.startswith("eval_data")
    batches = list(_loader())
    res2 = find_lr(model, opt, nn.CrossEntropyLoss(), batches, total_steps=100, **FAST)
    assert res2.holdout.startswith("last") and "holdout-overlap" not in res2.flags


def test_a_dataloader_is_split_exactly_and_its_generator_left_alone():
    from torch.utils.data import DataLoader, TensorDataset

    x, y = _blobs()
    gen = torch.Generator().manual_seed(5)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=gen)
    state = gen.get_state()
    model = _mlp()
    res = find_lr(model, torch.optim.SGD(model.parameters(), lr=0.05), nn.CrossEntropyLoss(),
                  loader, total_steps=120, **FAST)  # fmt: skip
    assert "held out" in res.holdout and "holdout-overlap" not in res.flags
    assert torch.equal(gen.get_state(), state)


def test_a_scheduler_at_a_warm_up_from_zero_keeps_the_group_ratios():
    """Lightning and transformers hand over optimizers whose scheduler has set LR 0 already:
    the ratios come from torch's ``initial_lr``."""
    model = _mlp()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[2].parameters(),
                                                        "lr": 0.05}], lr=0.1, momentum=0.9,
    )  # fmt: skip
    torch.optim.lr_scheduler.LambdaLR(opt, lambda step: step / 10)  # LR 0 at step 0
    assert [g["lr"] for g in opt.param_groups] == [0.0, 0.0]
    res = find_lr(model, opt, nn.CrossEntropyLoss(), _loader(), total_steps=120, **FAST)
    assert res.lr is not None and res.range_test.config["group_ratios"] == [1.0, 0.5]
    assert [g["lr"] for g in opt.param_groups] == [0.0, 0.0]  # left as it was


def test_ctrl_c_returns_what_was_done_and_restores(monkeypatch):
    import lrlab.copies.driving as driving

    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    calls = {"n": 0}
    original = driving.run_schedule

    def interrupt_second_horizon(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr("lrlab.finder.search.run_schedule", interrupt_second_horizon)
    res = find_lr(model, opt, nn.CrossEntropyLoss(), _loader(), total_steps=200, **FAST)
    assert not res.complete and "interrupted" in res.flags
    assert res.lr is not None  # chosen from the first horizon's runs
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def test_state_is_restored_when_find_lr_fails(monkeypatch):
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    weights = {k: v.clone() for k, v in model.state_dict().items()}

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr("lrlab.finder.search.run_schedule", boom)
    with pytest.raises(RuntimeError, match="boom"):
        find_lr(model, opt, nn.CrossEntropyLoss(), _loader(), total_steps=200, method="sequential",
                **FAST)  # fmt: skip
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert opt.state_dict()["state"] == {}


def test_bad_input_is_one_line():
    model, data = _mlp(), _loader()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for bad in (0, -5, True, 2.5):
        with pytest.raises(InvalidArgument, match="total_steps"):
            find_lr(model, opt, nn.CrossEntropyLoss(), data, total_steps=bad)
    with pytest.raises(InvalidArgument, match="Did you mean 'fractions'"):
        find_lr(model, opt, nn.CrossEntropyLoss(), data, total_steps=10, fraction=(0.1,))
    with pytest.raises(DataError, match="eval_data yielded no batches"):
        find_lr(model, opt, nn.CrossEntropyLoss(), data, total_steps=100, eval_data=[], **FAST)
    with pytest.raises(OptimizerMismatch):
        other = torch.optim.SGD(_mlp(1).parameters(), lr=0.1)
        find_lr(model, other, nn.CrossEntropyLoss(), data, total_steps=100)
    with pytest.raises(InvalidArgument, match="score="):
        find_lr(model, opt, nn.CrossEntropyLoss(), data, total_steps=100, score="f1")
    with pytest.raises(InvalidArgument, match="cannot be planned"):
        find_lr(model, opt, nn.CrossEntropyLoss(), data, total_steps=100, schedule="cyclic")


def test_every_candidate_diverging_is_a_flag_not_a_crash():
    """A model whose output turns NaN after its first training step: nothing can train."""

    class Fragile(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 3)
            self.register_buffer("count", torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.lin(x) + torch.where(self.count > 0, torch.nan, 0.0)
            if self.training:
                self.count += 1
            return out

    model = Fragile()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = find_lr(model, opt, nn.CrossEntropyLoss(), _loader(), total_steps=100, **FAST)
    assert res.lr is None and "all-diverged" in res.flags
    assert all(c.status == "diverged" for c in res.candidates)
    with pytest.raises(InvalidArgument, match="no usable LR"):
        res.one_cycle()
    assert model.count.item() == 0  # restored


def test_plot_draws_both_panels():
    import matplotlib

    matplotlib.use("Agg")
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    res = find_lr(model, opt, nn.CrossEntropyLoss(), _loader(), total_steps=120, **FAST)
    fig = res.plot()
    assert fig.runs_ax.get_xscale() == "log" and len(fig.runs_ax.lines) >= 2
    assert "find_lr" in str(res)
    html = res._repr_html_()
    assert '<img src="data:image/png;base64,' in html and "peak LR" in html
    assert "<script" not in html


def test_the_report_shows_a_saved_answer(tmp_path):
    from lrlab.report import write_report

    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    res = find_lr(model, opt, nn.CrossEntropyLoss(), _loader(), total_steps=120, **FAST)
    res.save(tmp_path / "find" / "find.json")
    html = write_report(tmp_path).read_text(encoding="utf-8")
    assert 'id="find-lr"' in html and f"{res.lr:.3g}" in html
    assert "120 steps of one-cycle" in html


def test_top_level_exports():
    assert lrlab.find_lr is find_lr and lrlab.FindSettings is FindSettings


def test_a_schedule_free_optimizer_in_eval_mode_is_searched_and_left_in_eval_mode():
    schedulefree = pytest.importorskip("schedulefree")
    model = _mlp()
    opt = schedulefree.AdamWScheduleFree(model.parameters(), lr=1e-3)  # built in eval mode
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match="sequentially"):  # no stacked Schedule-Free rule
        res = find_lr(model, opt, nn.CrossEntropyLoss(), _loader(), total_steps=120, **FAST)
    assert res.lr is not None and res.config["engine"] == "sequential"
    assert opt.param_groups[0]["train_mode"] is False
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def _search_stub(seed: int, **settings):
    from lrlab.finder.search import Search

    stub = Search.__new__(Search)  # orders() reads only the seed and the settings
    stub.seed, stub.s = seed, FindSettings(**settings)
    return stub


def test_several_data_orders_average_the_short_runs(monkeypatch):
    """short_run_seeds=2: every candidate's curve is the mean of its runs under the two data
    orders, each exactly the run a one-order search makes with that order; the cost adds up."""
    from lrlab.finder.search import Search

    one_round = {**FAST, "fractions": (0.2,), "extensions": 0}
    x, y = _blobs()

    def run(**kw) -> FindResult:
        model = _mlp().double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        data = TensorLoader(x.double(), y, 32, seed=0)
        return find_lr(model, opt, nn.CrossEntropyLoss(), data, total_steps=200, seed=4,
                       **one_round, **kw)  # fmt: skip

    both = run(short_run_seeds=2)
    first = run()
    # The second order of a two-order search, alone: computed before the patch.
    second_order = Search.orders(_search_stub(seed=4, short_run_seeds=2))[1]
    monkeypatch.setattr(Search, "orders", lambda self: [second_order])
    second = run()
    assert [c.lr for c in both.candidates] == [c.lr for c in first.candidates]
    ok = 0
    for b, f, s in zip(both.candidates, first.candidates, second.candidates, strict=True):
        if f.status == s.status == "ok":
            ok += 1
            assert b.status == "ok"
            np.testing.assert_allclose(b.loss, (np.array(f.loss) + s.loss) / 2, rtol=1e-12)
            assert not np.allclose(f.loss, s.loss)  # the orders differ
        else:
            assert b.status != "ok" and b.score is None
    assert ok >= 3
    assert both.cost["short_run_steps"] == first.cost["short_run_steps"] + second.cost[
        "short_run_steps"]  # fmt: skip
    assert both.config["short_run_seeds"] == 2

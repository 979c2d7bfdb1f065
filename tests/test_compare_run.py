"""lrlab.compare.compare_range_tests: same start per candidate, references, batch sizes, errors,
interruption, JSON, plot, confirmation, and a real CPU task with a deliberately bad candidate."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fixtures.cli import Interrupting
from lrlab.batches import StepOutput
from lrlab.compare import ComparisonResult, compare_range_tests, compare_range_tests_on_task
from lrlab.data.loader import TensorLoader
from lrlab.errors import DataError, InvalidArgument, OptimizerMismatch
from lrlab.finder import range_test
from lrlab.snapshot import capture_rng

CE = nn.CrossEntropyLoss()
SWEEP = {"start_lr": 1e-4, "end_lr": 10.0, "num_iter": 30}


def _data(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] - x[:, 1] > 0).long() + (x[:, 2] > 0.7).long()
    return x, y


def _loader(batch_size: int = 32, seed: int = 3) -> TensorLoader:
    x, y = _data()
    return TensorLoader(x, y, batch_size, seed=seed)


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3)
    )


def _warm(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    """Real steps so the optimizer carries state (which the comparison must not use)."""
    for x, y in list(_loader(seed=9))[:3]:
        opt.zero_grad()
        CE(model(x), y).backward()
        opt.step()


def _same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- same start


@pytest.mark.parametrize(
    ("make_opt", "vary"),
    [
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), {"momentum": [0.99, 0.9, 0.0]}),
        (lambda p: torch.optim.Adam(p, lr=1e-3), {"momentum": [0.95, 0.8]}),
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), {"weight_decay": [1e-1, 0.0]}),
        (lambda p: torch.optim.AdamW(p, lr=1e-3), {"weight_decay": [0.5, 1e-4]}),
    ],
)
def test_every_candidate_starts_from_the_same_state(make_opt, vary):
    model = _net()
    opt = make_opt(model.parameters())
    _warm(model, opt)  # the optimizer now has state the candidates must not inherit
    result = compare_range_tests(model, opt, CE, _loader(), vary=vary, **SWEEP)
    firsts = [c.range_test.losses[0] for c in result.candidates]
    # The first loss is computed before any update: exactly equal for every candidate.
    assert len(set(firsts)) == 1
    # ... and the curves differ afterwards (the value really was applied).
    assert len({tuple(c.range_test.losses[:10]) for c in result.candidates}) == len(firsts)


@pytest.mark.parametrize(
    ("cls", "kwargs", "name", "value", "reference"),
    [
        (torch.optim.SGD, {"lr": 0.1, "momentum": 0.5}, "momentum", 0.95, {"momentum": 0.95}),
        (torch.optim.Adam, {"lr": 1e-3}, "momentum", 0.8, {"betas": (0.8, 0.999)}),
        (torch.optim.SGD, {"lr": 0.1}, "weight_decay", 0.05, {"weight_decay": 0.05}),
        (
            torch.optim.SGD,
            {"lr": 0.1, "momentum": 0.9},
            "nesterov",
            True,
            {"momentum": 0.9, "nesterov": True},
        ),
    ],
)
def test_each_candidate_equals_a_plain_range_test_with_a_fresh_optimizer(
    cls, kwargs, name, value, reference
):
    """Reference check: candidate v's curve is the range test of a fresh copy of the model
    with a fresh optimizer built with v — momentum goes to Adam's betas[0]."""
    model = _net()
    opt = cls(model.parameters(), **kwargs)
    _warm(model, opt)
    twin = copy.deepcopy(model)
    rng = capture_rng()
    result = compare_range_tests(model, opt, CE, _loader(), vary={name: [value, 0.0]}, **SWEEP)
    torch.set_rng_state(rng["torch"])
    ref_opt = cls(twin.parameters(), **{**kwargs, **reference})
    ref = range_test(twin, ref_opt, CE, _loader(), **SWEEP)
    assert result.candidates[0].range_test.losses == ref.losses
    assert result.candidates[0].range_test.lrs == ref.lrs


def test_adam_momentum_comes_with_a_note_and_sgd_momentum_does_not():
    from lrlab.compare.run import ADAM_MOMENTUM_NOTE

    model = _net()
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    a = compare_range_tests(model, adam, CE, _loader(), vary={"momentum": [0.9, 0.5]}, **SWEEP)
    b = compare_range_tests(model, sgd, CE, _loader(), vary={"momentum": [0.9, 0.5]}, **SWEEP)
    assert ADAM_MOMENTUM_NOTE in a.ranking.notes
    assert ADAM_MOMENTUM_NOTE not in b.ranking.notes
    assert a.candidates[0].range_test.config["momentum_key"] == "betas"


def test_model_optimizer_and_rng_are_restored():
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    _warm(model, opt)
    model.eval()
    before_model = {k: v.clone() for k, v in model.state_dict().items()}
    before_state = copy.deepcopy(opt.state_dict())
    rng = capture_rng()
    compare_range_tests(model, opt, CE, _loader(), vary={"momentum": [0.99, 0.5]}, **SWEEP)
    assert _same_tensors(before_model, model.state_dict())
    assert not model.training
    after_state = opt.state_dict()
    assert after_state["param_groups"] == before_state["param_groups"]
    for k, st in before_state["state"].items():
        assert _same_tensors(st, after_state["state"][k])
    assert torch.equal(rng["torch"], torch.get_rng_state())


def test_a_factory_gets_the_value_as_a_keyword_when_it_accepts_one():
    calls = []

    def with_kw(params, momentum):
        calls.append(momentum)
        return torch.optim.SGD(params, lr=0.1, momentum=momentum)

    def without_kw(params):
        return torch.optim.SGD(params, lr=0.1, momentum=0.5)

    model = _net()
    a = compare_range_tests(model, with_kw, CE, _loader(), vary={"momentum": [0.9, 0.0]}, **SWEEP)
    b = compare_range_tests(
        model, without_kw, CE, _loader(), vary={"momentum": [0.9, 0.0]}, **SWEEP
    )
    assert 0.9 in calls and 0.0 in calls
    # The value written into the groups gives the same curves as passing it in.
    for ca, cb in zip(a.candidates, b.candidates, strict=True):
        assert ca.range_test.losses == cb.range_test.losses


def test_a_user_factory_argument_that_is_not_an_optimizer_field():
    def factory(params, kind):
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[kind]
        return cls(params, lr=0.01)

    r = compare_range_tests(_net(), factory, CE, _loader(), vary={"kind": ["sgd", "adam"]}, **SWEEP)
    assert [c.label for c in r.candidates] == ["kind=sgd", "kind=adam"]
    assert r.candidates[0].range_test.config["optimizer"] == "SGD"
    assert r.candidates[1].range_test.config["optimizer"] == "Adam"


def test_dataloader_order_is_the_same_for_every_candidate_also_with_its_own_generator():
    x, y = _data()
    ids = torch.arange(len(x)).float().unsqueeze(1)
    loader = DataLoader(
        TensorDataset(torch.cat([ids, x], 1), y),
        batch_size=32,
        shuffle=True,
        generator=torch.Generator().manual_seed(5),
    )
    seen: list[list[float]] = []

    def step(model, batch):
        xb, yb = batch
        seen[-1].extend(xb[:, 0].tolist())
        out = model(xb[:, 1:])
        return StepOutput(CE(out, yb), out, yb)

    class Marker:
        def __call__(self, cand):
            seen.append([])

    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    marker = Marker()
    seen.append([])
    compare_range_tests(
        model, opt, None, loader, vary={"momentum": [0.9, 0.5, 0.0]}, step_fn=step,
        on_candidate=marker, **SWEEP,
    )  # fmt: skip
    runs = [s for s in seen if s]
    assert len(runs) == 3 and runs[0] == runs[1] == runs[2]


def test_repeats_read_other_data_orders_from_the_same_start():
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    result = compare_range_tests(
        model, opt, CE, _loader(), vary={"momentum": [0.9, 0.5]}, repeats=3, **SWEEP
    )
    assert result.config["repeats"] == 3
    for cand in result.candidates:
        assert len(cand.repeats) == 2 and len(cand.runs) == 3
        assert [rt.config["repeat"] for rt in cand.runs] == [0, 1, 2]
    for r in range(3):  # within a repeat, every candidate starts on the same batch
        firsts = {c.runs[r].losses[0] for c in result.candidates}
        assert len(firsts) == 1
    # ... and the repeats are other data orders
    assert len({c.losses[0] for c in result.candidates[0].runs}) == 3
    assert result.ranking.measures[0].repeats == 3
    # repeat 0 is exactly the single run
    single = compare_range_tests(model, opt, CE, _loader(), vary={"momentum": [0.9, 0.5]}, **SWEEP)
    assert result.candidates[0].range_test.losses == single.candidates[0].range_test.losses
    back = ComparisonResult.from_dict(result.to_dict())
    assert [len(c.repeats) for c in back.candidates] == [2, 2]
    assert back.ranking == result.ranking


def test_repeats_need_shuffled_data():
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = list(_loader())
    with pytest.raises(InvalidArgument, match="does not shuffle"):
        compare_range_tests(model, opt, CE, batches, vary={"momentum": [0.9, 0.5]}, repeats=2)
    with pytest.raises(InvalidArgument, match="repeats=0"):
        compare_range_tests(model, opt, CE, _loader(), vary={"momentum": [0.9, 0.5]}, repeats=0)


# ----------------------------------------------------------------------------- batch size


def _recording_step(record: list[list[int]]):
    def step(model, batch):
        xb, yb = batch
        record[-1].extend(xb[:, 0].long().tolist())
        out = model(xb[:, 1:])
        return StepOutput(CE(out, yb), out, yb)

    return step


def _id_loader(batch_size: int) -> TensorLoader:
    x, y = _data()
    ids = torch.arange(len(x)).float().unsqueeze(1)
    return TensorLoader(torch.cat([ids, x], 1), y, batch_size, seed=11)


@pytest.mark.parametrize("budget", ["samples", "steps"])
def test_batch_sizes_read_the_same_permutation(budget):
    record: list[list[int]] = [[]]
    result = compare_range_tests(
        _net(), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), None, _id_loader(32),
        vary={"batch_size": [16, 64, 32]}, step_fn=_recording_step(record), budget=budget,
        on_candidate=lambda c: record.append([]), start_lr=1e-4, end_lr=1.0, num_iter=12,
    )  # fmt: skip
    runs = record[:3]
    steps = [c.num_iter for c in result.candidates]
    assert [c.batch_size for c in result.candidates] == [16, 64, 32]
    if budget == "samples":
        assert steps == [48, 12, 24]
        assert [len(r) for r in runs] == [768] * 3  # the same samples: 3 epochs of 256
        assert runs[0] == runs[1] == runs[2]  # in the same order
    else:
        assert steps == [12, 12, 12]
        n = min(len(r) for r in runs)
        assert runs[0][:n] == runs[1][:n] == runs[2][:n]
    assert result.config["budget"] == budget
    assert result.config["num_iter"] == steps


def test_batch_size_with_a_dataloader_needs_a_data_factory():
    x, y = _data()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(InvalidArgument, match="data_factory=lambda batch_size"):
        compare_range_tests(model, opt, CE, loader, vary={"batch_size": [16, 32]}, **SWEEP)
    ds = TensorDataset(x, y)
    result = compare_range_tests(
        model, opt, CE, loader, vary={"batch_size": [16, 32]},
        data_factory=lambda b: DataLoader(ds, batch_size=b, shuffle=True), **SWEEP,
    )  # fmt: skip
    assert [c.num_iter for c in result.candidates] == [60, 30]
    with pytest.raises(DataError, match="returned data with batch_size=32"):
        compare_range_tests(
            model, opt, CE, loader, vary={"batch_size": [16, 64]},
            data_factory=lambda b: DataLoader(ds, batch_size=32), **SWEEP,
        )  # fmt: skip


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("vary", "match"),
    [
        ({"momentum": [0.9], "weight_decay": [0.1]}, "exactly one hyper-parameter"),
        ({"momentum": [0.9]}, "needs at least 2"),
        ({"momentum": [0.9, 0.9]}, "lists 0.9 twice"),
        ({"momentum": [0.9, 1.2]}, r"contains 1.2: momentum values must be numbers in \[0, 1\)"),
        ({"weight_decay": [-1.0, 0.0]}, "weight_decay values must be finite numbers >= 0"),
        ({"batch_size": [0, 32]}, "batch_size values must be integers >= 1"),
        ({"batch_size": [16.0, 32]}, "batch_size values must be integers >= 1"),
        ({"momentum": 0.9}, "must be a list of values"),
        ([("momentum", [0.9, 0.5])], "must be a dict"),
    ],
)
def test_bad_vary_is_rejected_before_anything_runs(vary, match):
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(InvalidArgument, match=match):
        compare_range_tests(model, opt, CE, _loader(), vary=vary, **SWEEP)


def test_an_optimizer_without_the_hyper_parameter_is_a_mismatch():
    model = _net()
    opt = torch.optim.Adagrad(model.parameters(), lr=0.1)
    before = copy.deepcopy(opt.param_groups[0]["lr"])
    with pytest.raises(OptimizerMismatch, match="Adagrad has no hyper-parameter 'momentum'"):
        compare_range_tests(model, opt, CE, _loader(), vary={"momentum": [0.9, 0.5]}, **SWEEP)
    assert opt.param_groups[0]["lr"] == before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": "epochs"}, "budget='epochs'"),
        ({"workers": 0}, "workers=0"),
        ({"rank_by": "metric"}, "rank_by='metric' needs eval_data"),
        ({"confirm_with_one_cycle": 2}, "eval_data is None"),
        (
            {"confirm_with_one_cycle": 0, "eval_data": [(torch.zeros(2, 6), torch.zeros(2))]},
            "must be a number of epochs",
        ),
        ({"data_factory": lambda b: None}, "data_factory is for varying batch_size"),
        ({"num_iter": 1}, "num_iter=1"),
    ],
)
def test_bad_settings_are_named(kwargs, match):
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sweep = {**SWEEP, **kwargs}
    with pytest.raises(InvalidArgument, match=match):
        compare_range_tests(model, opt, CE, _loader(), vary={"momentum": [0.9, 0.5]}, **sweep)


def test_a_failing_factory_is_reported_with_how_it_was_called():
    def factory(params, momentum):
        return torch.optim.SGD(params, lr=0.1, momentum=momentum, nesterov=True)

    with pytest.raises(InvalidArgument, match=r"factory\(params, momentum=0.0\)"):
        compare_range_tests(_net(), factory, CE, _loader(), vary={"momentum": [0.9, 0.0]})


def test_unpicklable_objects_with_workers_fail_clearly():
    with pytest.raises(InvalidArgument, match="cannot be pickled"):
        compare_range_tests(
            _net(), lambda p: torch.optim.SGD(p, lr=0.1), CE, _loader(),
            vary={"weight_decay": [0.1, 0.0]}, workers=2, **SWEEP,
        )  # fmt: skip


# ----------------------------------------------------------------------------- interruption


def test_ctrl_c_keeps_the_finished_candidates_and_the_partial_one():
    model = Interrupting(_net(), after=SWEEP["num_iter"] + 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = compare_range_tests(
        model, opt, CE, _loader(), vary={"momentum": [0.9, 0.5, 0.0]}, **SWEEP
    )
    assert result.stop_reason == "interrupted"
    assert len(result.candidates) == 2
    assert result.candidates[0].range_test.num_steps == SWEEP["num_iter"]
    assert result.candidates[1].range_test.stop_reason == "interrupted"
    assert result.candidates[1].range_test.num_steps == 10
    assert result.ranking is not None  # two curves: still ranked
    assert _same_tensors(before, model.state_dict())


def test_an_error_after_some_candidates_carries_what_was_measured():
    model = Interrupting(_net(), after=SWEEP["num_iter"] + 5, exc=RuntimeError)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(RuntimeError, match="stop") as info:
        compare_range_tests(model, opt, CE, _loader(), vary={"momentum": [0.9, 0.5]}, **SWEEP)
    partial = info.value.partial_result
    assert isinstance(partial, ComparisonResult)
    assert len(partial.candidates) == 1 and partial.ranking is None


# ----------------------------------------------------------------------------- results


def test_json_round_trip_and_plot(tmp_path):
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = _data(64, seed=1)
    result = compare_range_tests(
        model, opt, CE, _loader(), vary={"momentum": [0.99, 0.9, 0.5]},
        eval_data=[(x, y)], eval_every=5, **SWEEP,
    )  # fmt: skip
    path = result.save(tmp_path / "vary.json")
    back = ComparisonResult.load(path)
    assert back.to_dict() == ComparisonResult.from_dict(result.to_dict()).to_dict()
    assert back.ranking == result.ranking
    assert back.recommendation == result.recommendation
    assert back.max_lrs == result.max_lrs
    assert [c.range_test.losses for c in back.candidates] == [
        c.range_test.losses for c in result.candidates
    ]
    assert "accuracy" in back.candidates[0].range_test.eval
    fig, ax, metric_ax = back.plot()
    labels = [line.get_label() for line in ax.get_lines()]
    assert sum(lab.startswith("momentum=") for lab in labels) == 3
    assert ax.get_xscale() == "log" and metric_ax is not None
    assert len(metric_ax.get_lines()) == 3
    fig.savefig(tmp_path / "vary.png")
    assert (tmp_path / "vary.png").stat().st_size > 0
    with pytest.raises(DataError, match="not a comparison result"):
        ComparisonResult.from_dict({"kind": "lrlab.range_test"})


def test_confirmation_runs_one_cycle_per_candidate_and_restores_the_model():
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _data(64, seed=1)
    result = compare_range_tests(
        model, opt, CE, _loader(), vary={"momentum": [0.9, 0.0]}, eval_data=[(x, y)],
        confirm_with_one_cycle=2, confirm_lr=0.5, **SWEEP,
    )  # fmt: skip
    assert _same_tensors(before, model.state_dict())
    losses = []
    for cand in result.candidates:
        conf = cand.confirmation
        assert conf is not None and conf.max_lr == 0.5 and conf.epochs == 2
        assert conf.final["epoch"] == 2 and conf.final["iteration"] == 16
        # varying momentum: the one-cycle holds the candidate's momentum, it does not cycle it
        assert conf.final["momentum"] == pytest.approx(cand.value)
        losses.append(conf.eval_loss)
    assert result.confirmed == result.candidates[losses.index(min(losses))].value


def test_confirmation_uses_each_candidates_own_suggestion():
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = _data(64, seed=1)
    result = compare_range_tests(
        model, opt, CE, _loader(), vary={"weight_decay": [1e-3, 0.0]}, eval_data=[(x, y)],
        confirm_with_one_cycle=1, start_lr=1e-4, end_lr=10.0, num_iter=60,
    )  # fmt: skip
    for cand in result.candidates:
        if cand.suggested_lr is None:
            assert cand.confirmation.stop_reason == "skipped"
        else:
            assert cand.confirmation.max_lr == pytest.approx(cand.suggested_lr)
            assert math.isfinite(cand.confirmation.eval_loss)


# ----------------------------------------------------------------------------- real tasks


@pytest.mark.slow
def test_on_mnist1d_a_heavy_weight_decay_is_ranked_last():
    result = compare_range_tests_on_task(
        "mnist1d-mlp", {"weight_decay": [1e-4, 1e-1, 1e-6]},
        start_lr=1e-5, end_lr=1.0, num_iter=80, device="cpu",
    )  # fmt: skip
    ranking = result.ranking
    assert ranking.order[-1] == 1
    assert "loss clearly worse" in ranking.reasons[1]
    assert result.recommendation != 0.1
    assert result.config["task"] == "mnist1d-mlp"
    assert len({c.range_test.losses[0] for c in result.candidates}) == 1


def test_on_digits_momentum_0999_is_ranked_last_and_allows_the_smallest_lr():
    result = compare_range_tests_on_task(
        "digits-mlp", {"momentum": [0.9, 0.999, 0.95]}, start_lr=1e-4, end_lr=10.0,
        num_iter=80, device="cpu", eval_every=10,
    )  # fmt: skip
    assert result.ranking.order == [0, 2, 1]
    assert result.recommendation == 0.9
    # high momentum lowers the LR it allows (what one-cycle's cyclical momentum pairs with)
    limits = [m.lr_limit for m in result.ranking.measures]
    assert limits[1] < limits[2] < limits[0]
    assert result.max_lrs["momentum=0.999"] < result.max_lrs["momentum=0.9"]
    assert result.config["metric_mode"] is True
    assert all("accuracy" in c.range_test.eval for c in result.candidates)


@pytest.mark.slow
def test_a_process_pool_gives_the_numbers_of_a_sequential_run():
    """Pool workers run one torch thread each; a sequential run with one thread matches."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        kwargs = dict(start_lr=1e-4, end_lr=10.0, num_iter=40, device="cpu")
        vary = {"weight_decay": [1e-1, 1e-3, 0.0]}
        seq = compare_range_tests_on_task("digits-mlp", vary, repeats=2, **kwargs)
        pool = compare_range_tests_on_task("digits-mlp", vary, repeats=2, workers=2, **kwargs)
    finally:
        torch.set_num_threads(before)
    assert [[r.losses for r in c.runs] for c in pool.candidates] == [
        [r.losses for r in c.runs] for c in seq.candidates
    ]
    assert pool.ranking == seq.ranking
    assert pool.config["workers"] == 2

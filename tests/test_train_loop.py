"""``lrlab.fit`` against a hand-written reference loop: same weights, same numbers.

The reference is the loop every PyTorch user writes (forward, backward, optional clipping,
``optimizer.step()``, a torch scheduler's ``step()``). ``fit`` must train to exactly the same
weights (bit for bit on CPU), and its records must hold the quantities the reference computes.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from lrlab.errors import DataError, InvalidArgument
from lrlab.evaluate import evaluate
from lrlab.schedules import constant, one_cycle
from lrlab.train import FitResult, fit
from lrlab.train.tally import Tally

N_FEATURES, N_CLASSES = 8, 3


def make_data(n: int = 96, batch: int = 16, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N_FEATURES, generator=g)
    w = torch.randn(N_FEATURES, N_CLASSES, generator=g)
    y = (x @ w).argmax(dim=1)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def make_model(seed: int = 0, dropout: float = 0.1) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(N_FEATURES, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, N_CLASSES)
    )


OPTIMIZERS = {
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4),
    "sgd-nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05),
}


def reference_loop(model, opt, data, epochs, *, scheduler=None, grad_clip=None):
    """The plain loop; returns the per-update losses."""
    losses = []
    for _ in range(epochs):
        for x, y in data:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            opt.zero_grad()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.item())
    return losses


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), f"{name} differs (max {float((p - q).abs().max()):.3g})"


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_one_cycle_fit_equals_torch_one_cycle_loop(opt_name):
    data = make_data()
    epochs, steps = 3, 3 * len(data)
    ref_model = make_model()
    ref_opt = OPTIMIZERS[opt_name](ref_model.parameters())
    sched = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=0.1, total_steps=steps)
    torch.manual_seed(1)  # dropout stream
    reference_loop(ref_model, ref_opt, data, epochs, scheduler=sched, grad_clip=1.0)

    model = make_model()
    opt = OPTIMIZERS[opt_name](model.parameters())
    schedule = one_cycle(0.1, total_steps=steps)
    torch.manual_seed(1)
    result = fit(
        model,
        opt,
        nn.CrossEntropyLoss(),
        data,
        schedule=schedule,
        epochs=epochs,
        grad_clip=1.0,
        quiet=True,
    )
    assert result.stop_reason == "completed"
    assert result.iterations == steps
    assert_same_weights(model, ref_model)
    # Each record holds the LR and momentum of the epoch's last update.
    n = len(data)
    assert [r["lr"] for r in result.records] == [schedule.lr(e * n - 1) for e in (1, 2, 3)]
    assert [r["momentum"] for r in result.records] == [
        schedule.momentum(e * n - 1) for e in (1, 2, 3)
    ]


def test_records_hold_the_reference_quantities():
    data, eval_data = make_data(seed=0), make_data(n=48, seed=1)
    ref_model = make_model()
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=0.05, momentum=0.9)
    ref_eval0 = evaluate(ref_model, eval_data, _ce_step, metrics=_acc())
    torch.manual_seed(1)
    ref_losses = reference_loop(ref_model, ref_opt, data, 2)
    ref_eval2 = evaluate(ref_model, eval_data, _ce_step, metrics=_acc())

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(1)
    result = fit(model, opt, nn.CrossEntropyLoss(), data, epochs=2, eval_data=eval_data, quiet=True)
    r0, r1, r2 = result.records
    assert list(r1) == [
        "epoch",
        "iteration",
        "lr",
        "momentum",
        "train_loss",
        "train_accuracy",
        "eval_loss",
        "eval_accuracy",
        "epoch_time",
        "eval_time",
        "elapsed",
    ]
    # Epoch 0: evaluation only, as seed 000 prints "Epoch [0], test_loss: ..., acc: ...".
    assert (r0["epoch"], r0["iteration"], r0["train_loss"], r0["epoch_time"]) == (0, 0, None, 0.0)
    assert r0["eval_loss"] == ref_eval0["loss"]
    assert r0["eval_accuracy"] == ref_eval0["accuracy"]
    # Train loss: the running mean over the epoch's batches (all of equal size here).
    n = len(data)
    assert r1["train_loss"] == pytest.approx(sum(ref_losses[:n]) / n, rel=1e-12)
    assert r2["train_loss"] == pytest.approx(sum(ref_losses[n:]) / n, rel=1e-12)
    assert r2["eval_loss"] == ref_eval2["loss"]
    assert r2["eval_accuracy"] == ref_eval2["accuracy"]
    assert [r["iteration"] for r in result.records] == [0, n, 2 * n]
    assert r2["lr"] == 0.05 and r2["momentum"] == 0.9
    assert 0.0 <= r2["train_accuracy"] <= 1.0
    assert r1["elapsed"] < r2["elapsed"]
    assert_same_weights(model, ref_model)


def test_train_means_are_weighted_by_batch_size():
    # 40 samples in batches of 16: the last batch has 8, and counts half as much.
    data = make_data(n=40, batch=16)
    model = make_model(dropout=0.0)
    per_batch = []
    for x, y in data:
        per_batch.append((float(F.cross_entropy(model(x), y).detach()), len(y)))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the losses stay those above
    result = fit(model, opt, nn.CrossEntropyLoss(), data, epochs=1, quiet=True)
    expected = sum(v * n for v, n in per_batch) / sum(n for _, n in per_batch)
    assert result.records[0]["train_loss"] == pytest.approx(expected, rel=1e-12)


def test_iteration_budget_stops_mid_epoch_and_marks_it_partial():
    data = make_data()  # 6 batches per epoch
    ref_model, model = make_model(), make_model()
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=0.01)
    torch.manual_seed(3)
    reference_loop(ref_model, ref_opt, data + data[:2], 1)  # 8 updates
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    torch.manual_seed(3)
    result = fit(model, opt, nn.CrossEntropyLoss(), data, iterations=8, quiet=True)
    assert [r["iteration"] for r in result.records] == [6, 8]
    assert [r.get("partial", False) for r in result.records] == [False, True]
    assert result.stop_reason == "completed" and result.iterations == 8
    assert_same_weights(model, ref_model)


def test_iteration_budget_on_an_epoch_boundary_is_not_partial():
    data = make_data()
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    result = fit(model, opt, nn.CrossEntropyLoss(), data, iterations=12, quiet=True)
    assert [r["epoch"] for r in result.records] == [1, 2]
    assert all("partial" not in r for r in result.records)


def test_accumulation_equals_the_mean_gradient_of_each_group():
    # 5 micro-batches, k = 2: updates of 2, 2 and 1 micro-batches; each update follows the
    # mean gradient of its group (the short last group is not under-weighted).
    data = make_data(n=80, batch=16)
    ref_model, model = make_model(dropout=0.0), make_model(dropout=0.0)
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=0.1, momentum=0.9)
    for group in (data[0:2], data[2:4], data[4:5]):
        for x, y in group:
            (F.cross_entropy(ref_model(x), y) / len(group)).backward()
        torch.nn.utils.clip_grad_norm_(ref_model.parameters(), 0.5)
        ref_opt.step()
        ref_opt.zero_grad()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    result = fit(
        model,
        opt,
        nn.CrossEntropyLoss(),
        data,
        epochs=1,
        accumulation_steps=2,
        grad_clip=0.5,
        quiet=True,
    )
    assert result.iterations == 3
    assert_same_weights(model, ref_model)


def test_accumulation_matches_one_big_batch():
    data = make_data(n=64, batch=8)
    big = [
        (torch.cat([data[i][0], data[i + 1][0]]), torch.cat([data[i][1], data[i + 1][1]]))
        for i in range(0, len(data), 2)
    ]
    a, b = make_model(dropout=0.0), make_model(dropout=0.0)
    fit(a, torch.optim.SGD(a.parameters(), lr=0.1), nn.CrossEntropyLoss(), data, epochs=1,
        accumulation_steps=2, quiet=True)  # fmt: skip
    fit(b, torch.optim.SGD(b.parameters(), lr=0.1), nn.CrossEntropyLoss(), big, epochs=1,
        quiet=True)  # fmt: skip
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_schedule_counts_updates_not_micro_batches():
    data = make_data(n=96, batch=8)  # 12 micro-batches, k = 3 -> 4 updates per epoch
    seen = []

    class Spy:
        def on_step_end(self, run):
            seen.append((run.iteration, run.lr))

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    sched = one_cycle(0.2, total_steps=8)
    fit(model, opt, nn.CrossEntropyLoss(), data, schedule=sched, epochs=2,
        accumulation_steps=3, callbacks=[Spy()], quiet=True)  # fmt: skip
    assert [i for i, _ in seen] == list(range(1, 9))
    assert [lr for _, lr in seen] == [sched.lr(t) for t in range(8)]


def test_param_group_ratios_are_kept():
    data = make_data()
    model = make_model()
    opt = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 0.1},
            {"params": model[3].parameters(), "lr": 0.01},
        ],
        momentum=0.9,
    )
    fit(model, opt, nn.CrossEntropyLoss(), data, schedule=constant(0.5), epochs=1, quiet=True)
    assert opt.param_groups[0]["lr"] == 0.5
    assert opt.param_groups[1]["lr"] == pytest.approx(0.05)


def test_same_seed_same_records():
    def once():
        torch.manual_seed(7)
        model = make_model()
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(*map(torch.cat, zip(*make_data(), strict=True))),
            batch_size=16,
            shuffle=True,
        )
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        result = fit(model, opt, nn.CrossEntropyLoss(), loader, epochs=2, eval_data=make_data(),
                     quiet=True)  # fmt: skip
        return _untimed(result.records), model

    (r1, m1), (r2, m2) = once(), once()
    assert r1 == r2
    assert_same_weights(m1, m2)


def test_default_metrics_follow_the_criterion():
    data = make_data()
    keys = {}
    for name, criterion, metrics in (
        ("ce", nn.CrossEntropyLoss(), None),
        ("nll", nn.NLLLoss(), None),
        ("ce-none", nn.CrossEntropyLoss(), ()),
        ("ce-two", nn.CrossEntropyLoss(), ["accuracy", "top5"]),
    ):
        model = make_model()
        if name == "nll":
            model.append(nn.LogSoftmax(dim=1))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        result = fit(model, opt, criterion, data, epochs=1, metrics=metrics, quiet=True)
        keys[name] = [k for k in result.records[0] if k.startswith("train_")]
    reg = [(x, y.float().unsqueeze(1)) for x, y in data]
    model = nn.Linear(N_FEATURES, 1)
    result = fit(model, torch.optim.SGD(model.parameters(), lr=0.01), nn.MSELoss(), reg,
                 epochs=1, eval_data=reg, quiet=True)  # fmt: skip
    keys["mse"] = [k for k in result.records[0] if k.startswith(("train_", "eval_"))]
    assert keys == {
        "ce": ["train_loss", "train_accuracy"],
        "nll": ["train_loss", "train_accuracy"],
        "ce-none": ["train_loss"],
        "ce-two": ["train_loss", "train_accuracy", "train_top5"],
        "mse": ["train_loss", "eval_loss", "eval_time"],
    }


def test_step_fn_and_dict_batches():
    data = [{"x": x, "y": y} for x, y in make_data()]

    def step_fn(model, batch):
        return F.cross_entropy(model(batch["x"]), batch["y"])

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    result = fit(model, opt, None, data, step_fn=step_fn, epochs=1, metrics=(), quiet=True)
    assert math.isfinite(result.final["train_loss"])
    with pytest.raises(DataError, match="returned only a loss"):
        fit(model, opt, None, data, step_fn=step_fn, epochs=1, metrics=["accuracy"], quiet=True)


def test_bf16_autocast_on_cpu_trains_close_to_fp32():
    data = make_data()
    results = {}
    for amp in (False, "bf16"):
        model = make_model(dropout=0.0)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        results[amp] = fit(model, opt, nn.CrossEntropyLoss(), data, epochs=2, amp=amp,
                           eval_data=data, quiet=True)  # fmt: skip
    f32, b16 = results[False].final, results["bf16"].final
    assert b16["train_loss"] != f32["train_loss"]  # autocast really ran in bf16
    assert b16["train_loss"] == pytest.approx(f32["train_loss"], rel=0.05)
    assert b16["eval_loss"] == pytest.approx(f32["eval_loss"], rel=0.05)


@pytest.mark.gpu
def test_fp16_with_grad_scaler_on_cuda():
    data = [(x.cuda(), y.cuda()) for x, y in make_data()]
    model = make_model(dropout=0.0).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    result = fit(model, opt, nn.CrossEntropyLoss(), data, epochs=3, amp="fp16", grad_clip=1.0,
                 eval_data=data, quiet=True)  # fmt: skip
    assert result.stop_reason == "completed"
    assert result.final["eval_loss"] < result.records[0]["eval_loss"]


def test_device_argument_moves_the_model_and_batches():
    data = make_data()
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    result = fit(model, opt, nn.CrossEntropyLoss(), data, epochs=1, device="cpu", quiet=True)
    assert result.config["device"] == "cpu"


# ---- bad input -----------------------------------------------------------------------------


def _fit_kwargs(**over):
    model = make_model()
    kw = dict(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        criterion=nn.CrossEntropyLoss(),
        train_data=make_data(),
        epochs=1,
        quiet=True,
    )
    kw.update(over)
    return kw


@pytest.mark.parametrize(
    ("over", "error", "match"),
    [
        ({"epochs": None}, InvalidArgument, "exactly one budget"),
        ({"iterations": 5}, InvalidArgument, "exactly one budget"),
        ({"epochs": 0}, InvalidArgument, "epochs=0 must be a positive integer"),
        ({"epochs": 2.5}, InvalidArgument, "epochs=2.5"),
        ({"accumulation_steps": 0}, InvalidArgument, "accumulation_steps=0"),
        ({"grad_clip": -1.0}, InvalidArgument, "grad_clip=-1.0"),
        ({"amp": "fp8"}, InvalidArgument, "amp='fp8'"),
        ({"amp": "fp16"}, InvalidArgument, "fp16' needs a CUDA device"),
        ({"csv": True}, InvalidArgument, "csv=True needs a run directory"),
        ({"checkpoint_every": 1}, InvalidArgument, "checkpoint_every=1 needs a run directory"),
        ({"resume": True}, InvalidArgument, "resume=True needs a run directory"),
        ({"on_divergence": "explode"}, InvalidArgument, "on_divergence='explode'"),
        ({"eval_batches": 0}, InvalidArgument, "eval_batches=0"),
        ({"train_data": []}, DataError, "no batches"),
        ({"callbacks": [object()]}, InvalidArgument, "has none of the hooks"),
        ({"schedule": one_cycle(0.1, total_steps=4)}, InvalidArgument, "total_steps=4"),
        ({"schedule": lambda t: 0.1}, InvalidArgument, "not an lrlab schedule"),
        ({"criterion": None}, DataError, "No way to compute a loss"),
        ({"metrics": ["f1"]}, InvalidArgument, "Unknown metric 'f1'"),
    ],
)
def test_bad_arguments_raise_clear_errors(over, error, match):
    with pytest.raises(error, match=match):
        fit(**_fit_kwargs(**over))


def test_a_one_shot_generator_fails_in_epoch_two_with_the_records_kept():
    gen = (b for b in make_data())
    kw = _fit_kwargs(train_data=gen, epochs=2)
    seen = []

    class Keep:
        def on_fit_end(self, run):
            seen.append((run.stop_reason, len(run.records)))

    with pytest.raises(DataError, match="yielded no batches in epoch 2"):
        fit(**kw, callbacks=[Keep()])
    assert seen == [("error", 1)]


def test_schedule_shorter_than_the_budget_names_both_numbers():
    with pytest.raises(InvalidArgument) as info:
        fit(**_fit_kwargs(epochs=3, schedule=one_cycle(0.1, total_steps=12)))
    message = str(info.value)
    assert "total_steps=12" in message and "18 optimizer updates" in message
    assert "epochs=3 × 6 updates per epoch" in message


# ---- the running means, in isolation ---------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-1e3, 1e3, allow_nan=False),
            st.floats(0, 1, allow_nan=False),
            st.integers(1, 64),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 4),
    st.integers(1, 7),
)
def test_tally_means_and_step_logs_match_direct_sums(rows, k, flush_every):
    tally = Tally(["accuracy"])
    logs = []
    micro = []
    updates = 0
    for i, (loss, acc, n) in enumerate(rows):
        tally.add_micro(torch.tensor(loss), [torch.tensor(acc)], n)
        micro.append(loss)
        if len(micro) == k or i == len(rows) - 1:
            updates += 1
            tally.add_update(updates, 1, 0.1, None, len(micro))
            micro = []
            if updates % flush_every == 0:
                logs += tally.flush()
    logs += tally.flush()
    # Tensors are float32: compare with the float32 values the tally saw.
    f32 = [(float(torch.tensor(lo)), float(torch.tensor(a)), n) for lo, a, n in rows]
    total = sum(n for *_, n in f32)
    means = tally.means()
    assert means["loss"] == pytest.approx(sum(lo * n for lo, _, n in f32) / total, abs=1e-9)
    assert means["accuracy"] == pytest.approx(sum(a * n for _, a, n in f32) / total, abs=1e-9)
    groups = [f32[i : i + k] for i in range(0, len(f32), k)]
    assert [s.iteration for s in logs] == list(range(1, len(groups) + 1))
    for log, group in zip(logs, groups, strict=True):
        assert log.loss == pytest.approx(sum(g[0] for g in group) / len(group), abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(n_batches=st.integers(1, 7), k=st.integers(1, 3), iterations=st.integers(1, 12))
def test_iteration_budget_bookkeeping(n_batches, k, iterations):
    data = make_data(n=4 * n_batches, batch=4)
    model = nn.Linear(N_FEATURES, N_CLASSES)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    result = fit(model, opt, nn.CrossEntropyLoss(), data, iterations=iterations,
                 accumulation_steps=k, metrics=(), quiet=True)  # fmt: skip
    upe = math.ceil(n_batches / k)
    expected = [min(e * upe, iterations) for e in range(1, math.ceil(iterations / upe) + 1)]
    assert [r["iteration"] for r in result.records] == expected
    assert [r["epoch"] for r in result.records] == list(range(1, len(expected) + 1))
    assert [bool(r.get("partial")) for r in result.records] == [
        it % upe != 0 and i == len(expected) - 1 for i, it in enumerate(expected)
    ]
    assert result.iterations == iterations
    assert FitResult.from_dict(result.to_dict()).records == result.records


# ---- helpers -----------------------------------------------------------------------------------


def _ce_step(model, batch):
    from lrlab.batches import make_step

    return make_step(nn.CrossEntropyLoss())(model, batch)


def _acc():
    from lrlab.metrics import resolve_metrics

    return resolve_metrics("accuracy")


def _untimed(records):
    return [
        {k: v for k, v in r.items() if k not in ("epoch_time", "eval_time", "elapsed")}
        for r in records
    ]


def test_epoch_e_sees_the_tensor_loader_order_of_epoch_e_minus_1():
    from lrlab.data.loader import TensorLoader

    x = torch.arange(40, dtype=torch.float32).unsqueeze(1)
    loader = TensorLoader(x, torch.zeros(40), 8, shuffle=True, seed=5)
    seen: list[torch.Tensor] = []

    def step_fn(model, batch):
        inputs, _ = batch
        if model.training:
            seen.append(inputs[:, 0].long())
        return (model(inputs) ** 2).mean()

    model = nn.Linear(1, 1)
    fit(model, torch.optim.SGD(model.parameters(), lr=0.0), None, loader, step_fn=step_fn,
        epochs=3, metrics=(), quiet=True)  # fmt: skip
    per_epoch = [torch.cat(seen[i : i + 5]) for i in range(0, 15, 5)]
    for e, order in enumerate(per_epoch):
        assert torch.equal(order, loader.order(e))
    assert not torch.equal(per_epoch[0], per_epoch[1])  # it really reshuffles

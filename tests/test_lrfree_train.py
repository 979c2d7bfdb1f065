"""Learning-rate-free optimizers through ``fit``: they train, Schedule-Free is evaluated and
saved at its average ``x`` (BatchNorm statistics recomputed there) and resumes bit for bit,
Prodigy / D-Adaptation records carry ``d``, and the failure flags fire on built cases.

Needs the ``lrfree`` extra (each test skips without its package; CI installs it)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lrlab.optim.registry import build_optimizer
from lrlab.train import fit
from lrlab.train.lrfree import LrFreeWarning

PACKAGES = {
    "schedulefree-adamw": "schedulefree",
    "schedulefree-sgd": "schedulefree",
    "prodigy": "prodigyopt",
    "dadapt-adam": "dadaptation",
    "dadapt-sgd": "dadaptation",
}
LRS = {"schedulefree-adamw": 0.01, "schedulefree-sgd": 0.5}


def needs(name: str) -> None:
    pytest.importorskip(PACKAGES[name], reason=f"{name} needs pip install 'lrlab[lrfree]'")


def data(n=128, batch=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = x[:, :3].argmax(dim=1)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def model(norm=False):
    torch.manual_seed(0)
    mid = [nn.BatchNorm1d(16)] if norm else []
    return nn.Sequential(nn.Linear(8, 16), *mid, nn.ReLU(), nn.Linear(16, 3))


@pytest.mark.parametrize("name", list(PACKAGES))
def test_each_lr_free_optimizer_trains_through_fit(name):
    needs(name)
    net = model()
    lr = LRS.get(name, 1.0)
    # D-Adaptation's SGD grows d from 1e-6 too slowly for 32 updates: start it higher.
    extra = {"d0": 1e-3} if name == "dadapt-sgd" else {}
    opt = build_optimizer(name, net.parameters(), lr=lr, **extra)
    train = data()
    # Prodigy's and D-Adaptation's authors anneal their lr multiplier (cosine).
    schedule = None if name in LRS else {"name": "cosine", "peak_lr": lr}
    result = fit(net, opt, nn.CrossEntropyLoss(), train, schedule=schedule, epochs=4,
                 eval_data=train, quiet=True)  # fmt: skip
    assert result.stop_reason == "completed"
    losses = result.history("eval_loss")
    assert losses[-1] < 0.9 * losses[0], losses
    has_d = "d" in result.final
    assert has_d == (PACKAGES[name] != "schedulefree")
    if has_d:  # every record: the estimate, and the step it makes with the schedule's lr
        d0 = 1e-3 if name == "dadapt-sgd" else 1e-6
        assert result.records[0]["d"] == d0
        assert result.final["d"] > d0
        for r in result.records:
            assert r["d_lr"] == pytest.approx(r["d"] * r["lr"])


class Watch:
    """Parameters and mode at the last update of each epoch (y) and at its end (x)."""

    def __init__(self):
        self.y, self.x, self.modes, self.start_modes = [], [], [], []

    def on_epoch_start(self, run):
        self.start_modes.append(run.optimizer.param_groups[0]["train_mode"])

    def on_step_end(self, run):
        if run.batch == run.batches_per_epoch:
            self.y.append([p.detach().clone() for p in run.model.parameters()])

    def on_epoch_end(self, run):
        self.modes.append(run.optimizer.param_groups[0]["train_mode"])
        state = run.optimizer.state
        beta = run.optimizer.param_groups[0]["betas"][0]
        # x from y and z by hand: y = (1 - β) z + β x.
        self.x.append(
            [
                (p.detach().clone(), (y - (1 - beta) * state[p]["z"]) / beta)
                for p, y in zip(run.model.parameters(), self.y[-1], strict=True)
            ]
        )


def sf_run(train, *, eval_data, callbacks=(), epochs=3, norm=False, **kw):
    net = model(norm)
    opt = build_optimizer("schedulefree-adamw", net.parameters(), lr=0.02)
    result = fit(net, opt, nn.CrossEntropyLoss(), train, epochs=epochs, eval_data=eval_data,
                 callbacks=list(callbacks), quiet=True, **kw)  # fmt: skip
    return result, net, opt


def test_schedule_free_is_evaluated_at_x_and_trains_on_at_y():
    needs("schedulefree-adamw")
    train = data()
    watch = Watch()
    result, net, opt = sf_run(train, eval_data=train, callbacks=[watch])
    assert watch.modes == [False, False, False]  # eval mode at every evaluation
    assert watch.start_modes == [True, True, True]  # train mode for every epoch's updates
    for epoch in watch.x:
        for current, by_hand in epoch:
            assert torch.allclose(current, by_hand, atol=1e-6)  # the parameters hold x
    differ = [not torch.allclose(y, x) for y, (x, _) in zip(watch.y[-1], watch.x[-1], strict=True)]
    assert all(differ)  # ... which is not the training point y
    # fit returns the model holding x, the optimizer in eval mode.
    assert opt.param_groups[0]["train_mode"] is False
    for p, (x, _) in zip(net.parameters(), watch.x[-1], strict=True):
        assert torch.equal(p, x)
    # Switching to x for every evaluation leaves the y sequence as it was: the same run
    # without evaluation trains the same weights (up to the round trip's rounding).
    _, net_plain, _ = sf_run(train, eval_data=None)
    for p, q in zip(net.parameters(), net_plain.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-5)
    assert "lrfree_flags" not in result.final


def test_batch_norm_statistics_are_recomputed_at_x():
    needs("schedulefree-adamw")
    train = data(n=96, batch=16)
    _, net, _ = sf_run(train, eval_data=train, norm=True)
    bn = net[1]
    with torch.no_grad():  # the exact average over the training batches, at x
        means = torch.stack([net[0](x).mean(0) for x, _ in train])
        variances = torch.stack([net[0](x).var(0, unbiased=True) for x, _ in train])
    assert int(bn.num_batches_tracked) == len(train)
    assert torch.allclose(bn.running_mean, means.mean(0), atol=1e-5)
    assert torch.allclose(bn.running_var, variances.mean(0), atol=1e-5)


def test_schedule_free_resumes_bit_for_bit(tmp_path):
    needs("schedulefree-adamw")
    train = data(n=96, batch=16)

    class StopAt:
        def on_step_end(self, run):
            if run.epoch == 3 and run.batch == 2:
                raise KeyboardInterrupt

    def run(out, **kw):
        return sf_run(train, eval_data=train, epochs=4, norm=True, out_dir=out,
                      checkpoint_every=2, **kw)  # fmt: skip

    stopped, *_ = run(tmp_path / "a", callbacks=[StopAt()])
    assert stopped.stop_reason == "interrupted"
    resumed, net_r, opt_r = run(tmp_path / "a", resume=True)
    full, net_f, opt_f = run(tmp_path / "b")
    for (name, p), q in zip(net_r.state_dict().items(), net_f.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    sa, sb = opt_r.state_dict(), opt_f.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for key, state in sa["state"].items():
        for name, value in state.items():
            assert torch.equal(value, sb["state"][key][name]), (key, name)
    timing = ("epoch_time", "eval_time", "elapsed")
    untimed = [[{k: v for k, v in r.items() if k not in timing} for r in x.records]
               for x in (resumed, full)]  # fmt: skip
    assert untimed[0] == untimed[1]


def test_evaluating_schedule_free_in_train_mode_is_flagged():
    needs("schedulefree-adamw")
    train = data()

    class EvaluatesY:  # a user callback that forgets optimizer.eval()
        def on_step_end(self, run):
            if run.iteration == 3:
                run.model.eval()
                with torch.no_grad():
                    run.model(train[0][0])
                run.model.train()

    with pytest.warns(LrFreeWarning, match="sf-train-mode-eval"):
        result, *_ = sf_run(train, eval_data=train, callbacks=[EvaluatesY()])
    flags = [r.get("lrfree_flags") for r in result.records]
    assert flags[1] and flags[1][0].startswith("sf-train-mode-eval: ")
    assert not any(flags[2:])  # once per run


def test_an_estimate_that_never_moves_is_flagged():
    needs("prodigy")
    torch.manual_seed(0)
    net = nn.Linear(8, 3)
    opt = build_optimizer("prodigy", net.parameters(), lr=1.0)

    def no_gradient(model, batch):  # the loss does not depend on the weights
        return 0.0 * model(batch[0]).sum()

    with pytest.warns(LrFreeWarning, match="d-stuck"):
        result = fit(net, opt, None, data(), step_fn=no_gradient, iterations=56, quiet=True)
    flagged = [r for r in result.records if r.get("lrfree_flags")]
    assert [r["iteration"] for r in flagged] == [56]  # the first record at >= 50 updates
    assert result.final["d"] == result.records[0]["d"] == 1e-6

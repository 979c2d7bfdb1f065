"""``lrlab.integrations.lightning`` against the real Lightning: FindLR finds through the
module's own hooks, sets the LR attribute, trains at it, and leaves nothing else changed.

The module and data are tiny (``fixtures.lightning_modules``); a find takes about a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from fixtures.lightning_modules import FAST, Net, loader, trainer  # noqa: E402
from lrlab import FindResult  # noqa: E402
from lrlab.errors import InvalidArgument  # noqa: E402
from lrlab.integrations.lightning import FindLR, find_lr  # noqa: E402

pytestmark = [
    pytest.mark.integrations,
    pytest.mark.filterwarnings("ignore::UserWarning:lightning"),
    pytest.mark.filterwarnings("ignore:.*treespec.*"),
]
TESTS = Path(__file__).resolve().parent


class Recorder(pl.Callback):
    """Group 0's LR before every training batch, and what the loggers received."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


class MemoryLogger(pl.loggers.Logger):
    def __init__(self) -> None:
        super().__init__()
        self.metrics: list[dict[str, float]] = []

    name, version = "memory", "0"

    def log_metrics(self, metrics, step=None):
        self.metrics.append(dict(metrics))

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def test_callback_finds_sets_the_attribute_trains_at_it_and_logs():
    pl.seed_everything(0, verbose=False)
    finder, seen, logged = FindLR(**FAST), Recorder(), MemoryLogger()
    module = Net(lr=0.05)
    fit = trainer(max_epochs=2, callbacks=[finder, seen], logger=logged)
    fit.fit(module, loader())
    result = finder.result
    assert isinstance(result, FindResult) and result.lr is not None
    assert result.total_steps == 2 * 16  # max_epochs × batches, no accumulation
    # No scheduler configured: the run is a constant LR, and that is what was planned.
    assert result.schedule["name"] == "constant"
    assert module.lr == result.lr != 0.05
    assert seen.lrs == [result.lr] * 32  # the optimizer Lightning stepped was rebuilt at it
    # The range test trained this module through training_step, self.log inside it included,
    # and logging works again afterwards.
    assert len(module.find_calls) == 12
    assert "train_loss" in fit.callback_metrics
    assert logged.metrics[0]["find_lr/lr"] == result.lr
    assert {"find_lr/low", "find_lr/high", "find_lr/cost_runs"} <= set(logged.metrics[0])
    assert result.config["lightning"]["attr"] == "lr"


@pytest.mark.parametrize("own_order", [False, True])
def test_nothing_else_changes_the_run_is_the_one_with_that_lr_set_by_hand(own_order):
    """The same seed, with FindLR and with the found LR set by hand: the same data order,
    the same updates, bit for bit (model, optimizer and random streams restored; a loader
    that shuffles with its own generator is not read by the find)."""

    def run(callbacks, lr):
        pl.seed_everything(1, verbose=False)
        module, seen = Net(lr=lr), Recorder()
        fit = trainer(max_epochs=1, callbacks=[*callbacks, seen])
        fit.fit(module, loader(seed=1, own_order=own_order))
        return module, seen.lrs, fit.global_step

    finder = FindLR(**FAST)
    found, lrs, steps = run([finder], 0.05)
    by_hand, lrs_by_hand, steps_by_hand = run([], finder.result.lr)
    assert (lrs, steps) == (lrs_by_hand, steps_by_hand)
    for a, b in zip(found.parameters(), by_hand.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("limits", "planned", "accumulation"),
    [
        ({"max_steps": 10}, 10, 1),
        ({"max_epochs": 2, "accumulate_grad_batches": 2}, 16, 2),
        ({"max_epochs": 2, "limit_train_batches": 0.5}, 16, 1),
    ],
)
def test_the_planned_length_and_the_update_come_from_the_trainer(limits, planned, accumulation):
    module = Net()
    result = find_lr(trainer(**limits), module, train_dataloaders=loader(), **FAST)
    assert result.total_steps == planned
    # With accumulation, each find_lr update accumulates the trainer's micro-batches (of 16;
    # a last, partial batch may be smaller), as Lightning does.
    assert result.config["range_test"]["accumulation_steps"] == accumulation
    assert max(size for size, _ in module.find_calls) == 16
    assert result.range_test.config["accumulation_steps"] == accumulation


def test_find_lr_function_sets_hparams_and_the_next_fit_trains_at_it():
    pl.seed_everything(0, verbose=False)
    module, seen = Net(lr_in="hparams", adam=True), Recorder()
    fit = trainer(max_epochs=1, callbacks=[seen])
    result = find_lr(fit, module, train_dataloaders=loader(), **FAST)
    assert module.hparams.learning_rate == result.lr
    assert fit.callbacks == [seen] and seen.lrs == []  # nothing trained, callback removed
    fit.fit(module, loader())
    assert seen.lrs == [result.lr] * 16


def test_schedule_true_installs_the_planned_one_cycle_at_the_found_peak():
    pl.seed_everything(0, verbose=False)
    finder, seen = FindLR(schedule=True, **FAST), Recorder()
    fit = trainer(max_epochs=2, callbacks=[finder, seen])
    fit.fit(Net(), loader())
    result = finder.result
    assert result.schedule["name"] == "one-cycle"
    planned = result.schedule_for()
    assert seen.lrs == pytest.approx([planned.lr(t) for t in range(32)], rel=1e-12)
    assert max(seen.lrs) == pytest.approx(result.lr, rel=1e-3)
    assert type(fit.lr_scheduler_configs[0].scheduler).__name__ == "LrlabScheduler"


def test_bf16_mixed_precision_runs_the_find_under_autocast():
    pl.seed_everything(0, verbose=False)
    finder = FindLR(**FAST)
    module = Net()
    fit = trainer(max_epochs=1, precision="bf16-mixed", callbacks=[finder])
    fit.fit(module, loader())
    assert finder.result.lr == module.lr
    assert module.find_calls and all(autocast for _, autocast in module.find_calls)


@pytest.mark.parametrize("val_loss", [True, False])
def test_the_validation_loader_judges(val_loss):
    module = Net(val_loss=val_loss)
    result = find_lr(
        trainer(max_epochs=2), module, train_dataloaders=loader(),
        val_dataloaders=loader(64, seed=5, shuffle=False), **FAST,
    )  # fmt: skip
    assert result.holdout.startswith("eval_data")
    # A validation_step that returns no loss leaves the judging to training_step.
    expected = "validation_step" if val_loss else "training_step"
    assert result.config["lightning"]["eval_step"] == expected


def test_errors_say_what_to_do():
    with pytest.raises(InvalidArgument, match="step_fn: read from the trainer and the module"):
        FindLR(step_fn=lambda model, batch: 0.0)
    with pytest.raises(InvalidArgument, match="schedule_options without schedule="):
        FindLR(schedule_options={"pct_start": 0.1})
    with pytest.raises(InvalidArgument, match=r"no `lr` or `learning_rate` attribute.*attr="):
        find_lr(trainer(max_epochs=1), Net(lr_in="none"), train_dataloaders=loader(), **FAST)
    with pytest.raises(InvalidArgument, match="attr='rate'"):
        find_lr(trainer(max_epochs=1), Net(), train_dataloaders=loader(), attr="rate", **FAST)


def test_ddp_on_two_cpu_processes_finds_on_rank_zero_and_every_rank_trains_at_its_lr(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    src = str(TESTS.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "fixtures.lightning_ddp", str(tmp_path)],
        cwd=TESTS, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    lr = ranks[0]["result_lr"]
    for r in ranks:
        assert r["module_lr"] == r["optimizer_lr"] == r["result_lr"] == lr
    assert ranks[0]["steps_during_find"] == 12 and ranks[1]["steps_during_find"] == 0


def test_importing_the_integrations_package_imports_no_framework():
    code = (
        "import sys, lrlab.integrations\n"
        "assert not {'lightning', 'transformers', 'torch'} & set(sys.modules), sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_without_lightning_the_import_names_the_extra():
    code = (
        "import sys; sys.modules['lightning'] = None\n"
        "try:\n    import lrlab.integrations.lightning\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "MissingExtra" in done.stdout and "lrlab[lightning]" in done.stdout, done.stderr


@pytest.mark.parametrize(("clip", "expected"), [({}, None), ({"gradient_clip_val": 0.5}, 0.5)])
def test_the_short_runs_clip_as_the_trainer_clips(clip, expected):
    """Lightning clips the gradient norm to ``gradient_clip_val``: the range test and every
    short run clip to it too (the user's other range-test settings are kept)."""
    module = Net()
    result = find_lr(trainer(max_steps=10, **clip), module, train_dataloaders=loader(), **FAST)
    rt = result.config["range_test"]
    assert rt["grad_clip"] == expected and rt["num_iter"] == 12 and rt["end_lr"] == 1.0
    assert result.range_test.config["grad_clip"] == expected


def test_clipping_by_value_is_not_reproduced_and_says_so():
    module = Net()
    fit = trainer(max_steps=10, gradient_clip_val=0.5, gradient_clip_algorithm="value")
    with pytest.warns(UserWarning, match="clip by norm only"):
        result = find_lr(fit, module, train_dataloaders=loader(), **FAST)
    assert result.config["range_test"]["grad_clip"] is None


def test_a_tiny_clip_holds_every_short_run_near_its_start():
    """Behaviour, not just the record: with the gradient clipped to 1e-7, SGD with momentum 0.9
    moves the weights by at most ``lr · clip · steps / (1 − 0.9)``, and the held-out loss by
    at most that times its gradient's norm (< 10)."""
    module = Net()
    fit = trainer(max_steps=10, gradient_clip_val=1e-7)
    result = find_lr(fit, module, train_dataloaders=loader(), **FAST)
    start = result.config["initial"]["loss"]
    ok = [c for c in result.candidates if c.status == "ok"]
    assert ok
    for c in ok:
        assert abs(c.loss[-1] - start) <= 10 * 10 * c.lr * 1e-7 * c.horizon

"""run_experiment: layout on disk, skip/resume, Ctrl-C, guards, auto LR, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import lrlab.train
from lrlab._io import read_json, read_jsonl
from lrlab.errors import Interrupted, InvalidArgument
from lrlab.experiment import Experiment, ExperimentResult, run_experiment

WALL_CLOCK = ("epoch_time", "elapsed", "eval_time")


def experiment(**changes) -> Experiment:
    base = {
        "name": "tiny",
        "task": "digits-mlp",
        "seeds": [0],
        "epochs": 3,
        "device": "cpu",
        "variants": [
            {"name": "control", "schedule": {"name": "constant", "lr": 0.01}},
            {"name": "one-cycle", "schedule": {"name": "one-cycle", "max_lr": 0.1}},
        ],
    }
    return Experiment(**(base | changes))


def measured(records):
    """Records without wall-clock fields (the only ones allowed to differ between runs)."""
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in records]


def run(exp, out, **kw):
    return run_experiment(exp, executor="sequential", out=out, quiet=True, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny experiment run once, uninterrupted."""
    return run(experiment(), tmp_path_factory.mktemp("ref"))


def test_layout_on_disk(reference, tmp_path):
    root = reference.dir
    names = {p.name for p in Path(root).iterdir()}
    assert {"experiment.yaml", "summary.json", "table.md", "table.csv"} <= names
    assert {"control", "one-cycle"} <= names
    for t in reference.trials:
        d = Path(t.dir)
        assert d.name == f"seed-{t.seed}" and d.parent.name == t.variant
        assert {"config.yaml", "records.jsonl", "summary.json", "checkpoint.pt"} <= {
            p.name for p in d.iterdir()
        }
        assert read_jsonl(d / "records.jsonl") == t.records
        summary = read_json(d / "summary.json")
        assert summary["status"] == "completed" and summary["fingerprint"] == reference.fingerprint
        # The budget in updates is what fit did: 3 epochs of ceil(1438 / 64) batches.
        assert t.records[-1]["iteration"] == 3 * 23 == summary["iterations"]
        assert [r["epoch"] for r in t.records] == [0, 1, 2, 3]


def test_summary_json_loads_back_to_the_same_result(reference):
    again = ExperimentResult.load(reference.dir)
    assert again.table("markdown") == reference.table("markdown")
    assert [measured(t.records) for t in again.trials] == [
        measured(t.records) for t in reference.trials
    ]
    assert again.comparison.control == "control"
    data = json.loads((Path(reference.dir) / "summary.json").read_text())
    assert "records" not in data["trials"][0]  # records live in the trial directories


def test_rerun_skips_finished_trials(reference, tmp_path):
    first = run(experiment(), tmp_path)
    mtimes = {t.dir: (Path(t.dir) / "records.jsonl").stat().st_mtime_ns for t in first.trials}
    again = run(experiment(), tmp_path)
    assert all(t.reused for t in again.trials) and not any(t.reused for t in first.trials)
    for t in again.trials:
        path = Path(t.dir) / "records.jsonl"
        assert path.stat().st_mtime_ns == mtimes[t.dir]
    assert [measured(t.records) for t in again.trials] == [
        measured(t.records) for t in reference.trials
    ]
    # More seeds: same experiment (seeds are not in the fingerprint); only the new ones run.
    more = run(experiment(), tmp_path, seeds=[0, 1])
    assert [(t.variant, t.seed, t.reused) for t in more.trials] == [
        ("control", 0, True),
        ("control", 1, False),
        ("one-cycle", 0, True),
        ("one-cycle", 1, False),
    ]


def interrupting_fit(victim: str, at_epoch: int):
    """lrlab.train.fit, with Ctrl-C simulated in trial ``victim`` during epoch ``at_epoch``."""
    real_fit = lrlab.train.fit

    class CtrlC:
        def on_step_end(self, run):
            if run.epoch == at_epoch:
                raise KeyboardInterrupt

    def fit(*args, callbacks=(), out_dir=None, **kwargs):
        if str(out_dir).endswith(victim):
            callbacks = [*callbacks, CtrlC()]
        return real_fit(*args, callbacks=callbacks, out_dir=out_dir, **kwargs)

    return fit


def test_ctrl_c_keeps_finished_trials_and_the_rerun_resumes(reference, tmp_path, monkeypatch):
    # Ctrl-C during epoch 3 of the first trial: the run stops there (the second trial never
    # starts), keeps the first trial's checkpoint of epoch 2, and says how to resume.
    monkeypatch.setattr(lrlab.train, "fit", interrupting_fit("control/seed-0", at_epoch=3))
    with pytest.raises(Interrupted, match=r"(?i)re-run the same command to resume") as excinfo:
        run(experiment(), tmp_path)
    assert "0 of 2 trials finished" in str(excinfo.value)
    root = tmp_path / "tiny"
    victim = root / "control" / "seed-0"
    assert not (victim / "summary.json").exists()
    assert [r["epoch"] for r in read_jsonl(victim / "records.jsonl")] == [0, 1, 2]
    assert not (root / "one-cycle").exists()
    assert (root / "summary.json").is_file()  # the experiment summary is written anyway

    # Interrupted again, in the second trial: the first one is finished and kept.
    monkeypatch.undo()
    monkeypatch.setattr(lrlab.train, "fit", interrupting_fit("one-cycle/seed-0", at_epoch=2))
    with pytest.raises(Interrupted, match="1 of 2 trials finished"):
        run(experiment(), tmp_path)
    partial = ExperimentResult.load(root)
    assert [t.variant for t in partial.trials if t.finished] == ["control"]

    monkeypatch.undo()
    resumed = run(experiment(), tmp_path)
    assert resumed.trial("control", 0).reused and not resumed.trial("one-cycle", 0).reused
    # Both resumed from their checkpoints: the same numbers as the uninterrupted run.
    for t in resumed.trials:
        assert measured(t.records) == measured(reference.trial(t.variant, t.seed).records)


def test_keyboard_interrupt_outside_fit_becomes_interrupted(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lrlab.train, "fit", boom)
    with pytest.raises(Interrupted, match="0 of 2 trials finished"):
        run(experiment(), tmp_path)
    assert (tmp_path / "tiny" / "summary.json").is_file()


def test_a_different_experiment_in_the_same_directory_is_refused(reference, tmp_path):
    run(experiment(), tmp_path)
    with pytest.raises(InvalidArgument) as excinfo:
        run(experiment(epochs=4), tmp_path)
    message = str(excinfo.value)
    assert "holds a different experiment" in message
    assert "epochs: 3 -> 4" in message
    assert "Give the experiment a new name" in message
    # A directory that is not an experiment's is refused too.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidArgument, match="not an lrlab experiment directory"):
        run(experiment(name="other"), tmp_path)


def test_auto_lr_one_find_per_seed_and_planned_run_shared_by_variants(tmp_path):
    """``auto`` is find_lr's answer for the variant's planned run: variants with the same
    schedule and budget share one search per seed; another schedule gets its own."""
    exp = experiment(
        epochs=2,
        seeds=[0, 1],
        variants=[
            {"name": "oc-auto", "schedule": {"name": "one-cycle", "max_lr": "auto"}},
            {"name": "oc-auto-again", "schedule": {"name": "one-cycle", "max_lr": "auto"}},
            {"name": "const-auto", "schedule": {"name": "constant", "lr": "auto"}},
        ],
        range_test={"num_iter": 40},
    )
    result = run(exp, tmp_path)
    caches = sorted((tmp_path / "tiny" / "auto-lr").glob("seed-*.json"))
    assert [p.name.split("-")[1] for p in caches] == ["0", "0", "1", "1"]  # 2 plans per seed
    by_schedule = {}
    for path in caches:
        cached = read_json(path)
        assert cached["lr"] > 0 and cached["find"]["lr"] == cached["lr"]
        assert len(cached["range_test"]["lrs"]) <= 40  # the range_test section's settings
        by_schedule[(cached["seed"], cached["find"]["schedule"]["name"])] = cached
        config = yaml.safe_load(
            (tmp_path / "tiny" / "oc-auto" / "seed-0" / "config.yaml").read_text()
        )
        assert cached["find"]["total_steps"] == config["budget"]["total_steps"]
    for seed in (0, 1):
        oc = by_schedule[(seed, "one-cycle")]["lr"]
        const = by_schedule[(seed, "constant")]["lr"]
        for variant in ("oc-auto", "oc-auto-again"):
            t = result.trial(variant, seed)
            assert t.auto_lr == oc
            config = (tmp_path / "tiny" / variant / f"seed-{seed}" / "config.yaml").read_text()
            assert f"auto_lr: {oc}" in config
        trial = result.trial("const-auto", seed)
        assert trial.auto_lr == const
        assert trial.records[1]["lr"] == pytest.approx(const)  # the constant LR used
    # A rerun reads the cache: no range test again.
    stamps = [p.stat().st_mtime_ns for p in caches]
    run(exp, tmp_path)
    assert [p.stat().st_mtime_ns for p in caches] == stamps


def test_the_auto_cache_key_names_the_planned_update_only_when_there_is_one():
    """A plain run's cache name is what earlier lrlab versions wrote (their answers stay
    valid); a run with accumulation, a clip or autocast gets a new one, since find_lr's short
    runs now make that update (an older answer, from plain short runs, is not reused)."""
    from lrlab.experiment.auto import planned_run

    auto = [{"name": "oc", "schedule": {"name": "one-cycle", "max_lr": "auto"}}]
    plain = planned_run(experiment(variants=auto), "oc")
    assert set(plain) == {"schedule", "options", "epochs", "iterations", "accumulation_steps",
                          "batch_size"}  # fmt: skip
    for change in ({"grad_clip": 1.0}, {"accumulation_steps": 2}, {"amp": "bf16"}):
        plan = planned_run(experiment(variants=auto, **change), "oc")
        key, value = next(iter(change.items()))
        assert plan["update"][key] == value and plan != plain


def test_a_failing_trial_does_not_lose_the_others(tmp_path):
    exp = experiment(
        variants=[
            {"name": "good", "schedule": {"name": "constant", "lr": 0.01}},
            # total_steps given and shorter than the budget: fit refuses this trial.
            {"name": "bad", "schedule": {"name": "one-cycle", "max_lr": 0.1, "total_steps": 10}},
        ]
    )
    with pytest.raises(InvalidArgument, match="Trial bad/seed-0 failed: The schedule"):
        run(exp, tmp_path)
    saved = ExperimentResult.load(tmp_path / "tiny")
    assert [(t.variant, t.status) for t in saved.trials] == [("good", "completed")]
    assert saved.comparison is not None and saved.comparison.control == "good"


def tiny_factory(seed: int = 0):
    """A user factory (``factory: "test_experiment_runner:tiny_factory"``): two Gaussian
    blobs and a small MLP."""
    import torch

    g = torch.Generator().manual_seed(1234)  # the data set is fixed; the seed is for the model
    x = torch.cat([torch.randn(96, 4, generator=g) + 1.5, torch.randn(96, 4, generator=g) - 1.5])
    y = torch.cat([torch.zeros(96, dtype=torch.long), torch.ones(96, dtype=torch.long)])
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return {
        "model": model,
        "criterion": torch.nn.CrossEntropyLoss(),
        "train_data": (x, y),
        "eval_data": (x, y),
        "batch_size": 32,
        "epochs": 2,
    }


def test_a_user_factory_runs_with_identical_starts(tmp_path):
    import torch

    from lrlab.experiment import build_trial

    exp = experiment(
        task=None,
        factory="test_experiment_runner:tiny_factory",
        epochs=None,
        seeds=[0, 1],
        optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9},
    )
    a, b = build_trial(exp, "control", 1), build_trial(exp, "one-cycle", 1)
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    c = build_trial(exp, "control", 0)
    assert any(not torch.equal(v, c.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    result = run(exp, tmp_path)
    assert [t.status for t in result.trials] == ["completed"] * 4
    assert all(t.records[-1]["epoch"] == 2 for t in result.trials)  # the factory's epochs
    assert all(t.records[-1]["iteration"] == 2 * 6 for t in result.trials)  # 192 / 32 batches
    assert result.comparison.metric == "accuracy"

"""Re-scanning during ``fit``: records, files, no disturbance, and seed 003's moving sweet spot."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import _io
from lrlab.scanning import RescanCallback, ScanResult, log_lrs
from lrlab.schedules import piecewise_constant
from lrlab.tasks import get_task
from lrlab.train import fit


def _setup(seed: int = 0):  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=gen)
    data = [(x[i : i + 16], torch.tanh(x[i : i + 16, :1])) for i in range(0, 64, 16)]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 1))
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), data


def test_callback_records_best_lrs_saves_scans_and_does_not_disturb_training(tmp_path):
    model, opt, data = _setup()
    cb = RescanCallback(nn.MSELoss(), data, every=2, lrs=[1e-3, 1e-2, 0.1], horizons=(1, 2))
    result = fit(model, opt, nn.MSELoss(), data, epochs=4, callbacks=[cb], out_dir=tmp_path,
                 quiet=True)  # fmt: skip
    assert [e for e, _ in cb.history] == [0, 2, 4]
    rows = _io.read_jsonl(tmp_path / "records.jsonl")
    by_epoch = {r["epoch"]: r for r in rows}
    assert "scan_best_lr" in by_epoch[2] and "scan_best_lr" in by_epoch[4]
    assert "scan_best_lr" not in by_epoch[3]
    assert by_epoch[4]["scan_best_lr"] == {str(h): lr for h, lr in cb.history[2][1].best_lr.items()}
    saved = ScanResult.load(tmp_path / "scans" / "epoch_0002.json")
    assert saved.losses == cb.history[1][1].losses and saved.config["epoch"] == 2
    # The scans (dropout model: random numbers drawn) leave the training run exactly as
    # it would have been without them.
    model2, opt2, _ = _setup()
    plain = fit(model2, opt2, nn.MSELoss(), data, epochs=4, quiet=True)
    assert [r["train_loss"] for r in result.records] == [r["train_loss"] for r in plain.records]
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)
    # By default the scan reuses the run's optimizer class and hyper-parameters.
    assert cb.history[0][1].config["optimizer"]["groups"][0]["momentum"] == 0.9
    spots = cb.sweet_spots()
    assert spots["epochs"] == [0, 2, 4] and set(spots["best_lr"]) == {1, 2}
    fig, ax = cb.plot()
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 2
    fig.clf()


def test_callback_validates_every():
    with pytest.raises(ValueError, match="every"):
        RescanCallback(nn.MSELoss(), [], every=0)


def _sweet_spot_shift(seed: int, lrs: list[float], horizons: tuple[int, ...]) -> np.ndarray:
    """Seed 003's "after training": scan, train 50 epochs at 3.2e-2 then 150 at 1e-3 (Adam,
    the function-log task), scan again; return log10(best LR before / best LR after)."""
    task = get_task("function-log")
    model, data = task.model(seed=seed), task.data(seed=seed)
    cb = RescanCallback(task.criterion(), data.train, every=200, optimizer="adam", lrs=lrs,
                        horizons=horizons)  # fmt: skip
    steps_per_epoch = len(data.train)  # 2 batches of 1280 over 2,501 points
    fit(model, task.make_optimizer(model, lr=3.2e-2), task.criterion(), data.train, epochs=200,
        schedule=piecewise_constant(3.2e-2, [50 * steps_per_epoch], 1e-3 / 3.2e-2),
        callbacks=[cb], quiet=True)  # fmt: skip
    (_, before), (_, after) = cb.history
    shift = [math.log10(before.best_lr[h] / after.best_lr[h]) for h in horizons]
    return np.array(shift)


def test_seed_003_sweet_spot_moves_down_after_training_fast():
    # 13 LRs (two per decade) and horizons 1 and 8 epochs keep this around a second.
    shift = _sweet_spot_shift(1, log_lrs(1e-6, 1.0, 13), (1, 8))
    assert (shift >= 1.0).all(), shift  # at least 10× lower after training, at every horizon


@pytest.mark.slow
def test_seed_003_sweet_spot_moves_down_after_training_over_seeds():
    lrs = log_lrs(1e-6, 1.0, 25)
    shifts = np.array([_sweet_spot_shift(s, lrs, (1, 2, 4, 8)) for s in range(5)])
    # Typically 1.5-2.5 decades (seed 003: "over 2 orders of magnitude"); a slow learner
    # (seed 0, still 30× above the others' loss) moves less at the longer horizons.
    assert (np.median(shifts, axis=0) >= 1.0).all(), shifts
    assert (shifts >= 0.5).all(), shifts

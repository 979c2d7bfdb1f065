"""The find_lr benchmark's jobs: planned trainings and finders, cached per (task, seed).

Every job of one (task, seed) runs in one worker process, one after the other, and writes its
results into ``<cache>/<task>/<seed>.json`` as soon as each finishes (atomically), so an
interrupted run loses at most the job in flight and a re-run only computes what is missing.

* :func:`train` — the planned run: ``lrlab.fit`` with ``lrlab.one_cycle(lr, total_steps)``
  (equal to torch's ``OneCycleLR`` step for step) from the seed's weights and data order; its
  final **test** metric (a diverged run scores the untrained model's).
* :func:`run_finder` — one finder on the seed's objects: ``find_lr`` (judging on a split it
  carves from the training data; the test split is never shown to any finder), the
  curve-only suggestion (``range_test(...).suggestion``), fastai's valley rule on the same
  curve, torch-lr-finder's steepest point and Lightning's ``Tuner.lr_find`` (each its own
  range test over the task's window, 100 steps).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import find_tasks

FINDERS = ("find_lr", "curve", "valley", "torch-lr-finder", "lightning")
RANGE_ITERS = 100


def lr_key(lr: float) -> str:
    return f"{lr:.10g}"


class Cache:
    """One (task, seed)'s results: ``{"train": {lr_key: ...}, "finders": {key: ...}}``."""

    def __init__(self, root: Path, task: str, seed: int) -> None:
        self.path = root / task / f"{seed}.json"
        self.data: dict[str, Any] = {"train": {}, "finders": {}}
        if self.path.exists():
            self.data = json.loads(self.path.read_text())

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, allow_nan=True))
        os.replace(tmp, self.path)


def _single_thread() -> None:
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def _objects(name: str, seed: int) -> Any:
    from lrlab.tasks.run import build_run

    return build_run(find_tasks.get(name).task, seed, device="cpu")


def total_steps(name: str, seed: int = 0) -> int:
    task = find_tasks.get(name).task
    return int(task.epochs * len(task.data(seed=seed, device="cpu").train))


def train(name: str, seed: int, lr: float) -> dict[str, Any]:
    """The planned one-cycle run at peak ``lr``: final and untrained test metric, seconds."""
    import lrlab

    ft = find_tasks.get(name)
    run = _objects(name, seed)
    steps = ft.task.epochs * len(run.data.train)
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        result = lrlab.fit(
            run.model, run.optimizer, run.criterion, run.data.train,
            schedule=lrlab.one_cycle(lr, total_steps=steps), epochs=ft.task.epochs,
            eval_data=run.data.eval, metrics=run.metrics, quiet=True,
        )  # fmt: skip
    seconds = time.perf_counter() - t0
    metric = f"eval_{ft.metric}"
    untrained = result.records[0].get(metric)
    final = result.final.get(metric)
    ok = final is not None and math.isfinite(final) and result.stop_reason == "completed"
    return {
        "lr": lr,
        "final": final if ok else untrained,
        "diverged": not ok,
        "untrained": untrained,
        "seconds": seconds,
        "steps": steps,
    }


def run_finder(name: str, seed: int, finder: str, settings: dict[str, Any]) -> dict[str, Any]:
    """One finder's answer on the seed's objects (see the module docstring)."""
    run = _objects(name, seed)
    ft = find_tasks.get(name)
    steps = ft.task.epochs * len(run.data.train)
    t0 = time.perf_counter()
    if finder == "find_lr":
        import lrlab

        with contextlib.redirect_stderr(io.StringIO()):
            res = lrlab.find_lr(
                run.model, run.optimizer, run.criterion, run.data.train, total_steps=steps,
                metrics=run.metrics, seed=seed, **settings,
            )  # fmt: skip
        return {
            "lr": res.lr, "low": res.low, "high": res.high, "flags": res.flags,
            "cost_runs": res.cost["runs"], "seconds": time.perf_counter() - t0,
            "result": res.to_dict(),
        }  # fmt: skip
    if finder in ("curve", "valley"):
        from lrlab import range_test
        from lrlab.suggest.rules import valley

        lo, hi = ft.task.lr_range
        rt = range_test(
            run.model, run.optimizer, run.criterion, run.data.train,
            start_lr=lo, end_lr=hi, num_iter=RANGE_ITERS,
        )  # fmt: skip
        if finder == "valley":
            lr = valley(rt.lrs, rt.smoothed)
            return {"lr": lr, "seconds": time.perf_counter() - t0}
        sug = rt.suggestion
        return {
            "lr": None if sug is None else sug.lr,
            "low": None if sug is None else sug.low,
            "high": None if sug is None else sug.high,
            "seconds": time.perf_counter() - t0,
        }
    if finder == "torch-lr-finder":
        return _torch_lr_finder(run, ft) | {"seconds": time.perf_counter() - t0}
    if finder == "lightning":
        return _lightning(run, ft) | {"seconds": time.perf_counter() - t0}
    raise ValueError(f"unknown finder {finder!r}")


def _torch_lr_finder(run: Any, ft: Any) -> dict[str, Any]:
    """torch-lr-finder as its README uses it: ``range_test`` then ``plot(suggest_lr=True)``
    (the steepest point of its smoothed history)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch_lr_finder import LRFinder, TrainDataLoaderIter

    class Batches(TrainDataLoaderIter):  # an lrlab loader already yields (inputs, targets)
        def inputs_labels_from_batch(self, batch: Any) -> Any:
            return batch

    lo, hi = ft.task.lr_range
    finder = LRFinder(run.model, run.optimizer, run.criterion, device="cpu")
    fig, ax = plt.subplots()
    lr = None
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            finder.range_test(Batches(run.data.train), start_lr=lo, end_lr=hi, num_iter=RANGE_ITERS)
            _, lr = finder.plot(ax=ax, suggest_lr=True)
    except RuntimeError:  # too few points for a suggestion
        lr = None
    finally:
        plt.close(fig)
    return {"lr": float(lr) if lr is not None and math.isfinite(lr) else None}


def lightning_available() -> bool:
    try:
        import lightning.pytorch  # noqa: F401
    except ImportError:
        return False
    return True


def _lightning(run: Any, ft: Any) -> dict[str, Any]:
    """Lightning's ``Tuner.lr_find`` (exponential, its defaults otherwise) on a minimal
    ``LightningModule`` around the same model, loss and optimizer; then ``suggestion()``."""
    import logging
    import tempfile
    import warnings

    import lightning.pytorch as pl
    from lightning.pytorch.tuner import Tuner

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.loss = run.model, run.criterion

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            return self.loss(self.net(x), y)

        def configure_optimizers(self) -> Any:
            return run.optimizer

    for logger in ("lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    lo, hi = ft.task.lr_range
    with (
        tempfile.TemporaryDirectory() as root,
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(
            accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
        )  # fmt: skip
        found = Tuner(trainer).lr_find(
            Module(), train_dataloaders=run.data.train, min_lr=lo, max_lr=hi,
            num_training=RANGE_ITERS, mode="exponential", update_attr=False,
        )  # fmt: skip
        lr = found.suggestion() if found is not None else None
    return {"lr": float(lr) if lr is not None and math.isfinite(lr) else None}


def unit(
    root: str,
    name: str,
    seed: int,
    grid: list[float],
    finders: list[str],
    find_key: str,
    settings: dict[str, Any],
    train_finders: bool,
) -> str:
    """All of one (task, seed)'s missing work: the grid's trainings, the finders, and the
    trainings at each finder's LR. Returns a one-line summary."""
    _single_thread()
    cache = Cache(Path(root), name, seed)
    done = 0
    for lr in grid:
        if lr_key(lr) not in cache.data["train"]:
            cache.data["train"][lr_key(lr)] = train(name, seed, lr)
            cache.save()
            done += 1
    for finder in finders:
        key = find_key if finder == "find_lr" else finder
        if key not in cache.data["finders"]:
            cache.data["finders"][key] = run_finder(name, seed, finder, settings)
            cache.save()
            done += 1
        lr = cache.data["finders"][key].get("lr")
        if train_finders and lr is not None and lr_key(lr) not in cache.data["train"]:
            cache.data["train"][lr_key(lr)] = train(name, seed, lr)
            cache.save()
            done += 1
    return f"{name} seed {seed}: {done} new job(s)"

"""Is lrlab's suggested learning rate any good? Regret against a one-cycle oracle, and spread.

An LR finder is only as good as the training its suggestion leads to. For every task × seed:

1. **Oracle.** One-cycle training (``lrlab.fit``, ``lrlab.schedules.one_cycle`` with its
   defaults: ``pct_start`` 0.3, ``div_factor`` 25, momentum 0.95→0.85→0.95) for a fixed budget,
   at every max LR of a log-spaced grid (4 per decade, 4–5 decades). The best final eval
   metric over the grid is the oracle (accuracy for classification, MSE for regression), and
   its max LR the oracle's LR. Every run of a seed starts from the same weights
   (``task.model(seed)``) and sees the same batches (``task.data(seed)``).
2. **Methods**, each from the same range test budget (the task's ``lr_range``, 100 steps, the
   seed's initial weights and data order): lrlab's default suggestion (the consensus), each
   of lrlab's rules on the same curve (``steepest``, ``valley``, ``minimum/10``, ``edge``),
   torch-lr-finder's own suggestion (the installed package runs its ``range_test``, then
   ``LRFinder.plot(suggest_lr=True)``, Agg backend) and Lightning's (``Tuner.lr_find`` on a
   minimal ``LightningModule`` around the same model and optimizer, then ``suggestion()``;
   skipped with a message when ``pytorch-lightning`` is not importable). Each suggestion is
   the max LR of the same one-cycle training as the oracle's.
3. **Regret** = oracle − achieved (percentage points of accuracy; for MSE achieved − oracle,
   also relative to the oracle), mean ± std over seeds; the suggested LR over the oracle's
   LR (geometric mean over seeds); the range test's cost as a fraction of one training run
   (wall time, medians over seeds; and in optimizer steps).
4. **Robustness.** The same methods on sweeps over the windows 1e-7→10, 1e-5→1, 1e-3→10 ×
   ``num_iter`` 50, 100, 300 (each method's own range test): spread = max / min of the
   suggested LR (median over seeds), and the regret each of these suggestions would have,
   read off the seed's oracle curve (final metric vs log max LR, linear interpolation
   between grid points; labelled *interpolated*).

A diverged training (non-finite loss) scores what the untrained model scored (its epoch-0
eval record): it learnt nothing usable. Trainings are cached on disk by (task, training
settings, seed, LR), range tests by (task, seed, window, num_iter), so a re-run after a change
of the suggestion rule only trains the new LRs (the rule is pure: lrlab's suggestion is
recomputed from the cached raw curve, exactly as ``range_test`` computes it). ``--fresh``
ignores the cache.

Candidate changes of the rule, scored on the stored curves of these runs, are research:
``research/suggestion_variants.py`` (it reuses this script's cache and training jobs).

    .venv/bin/python benchmarks/suggestion_quality.py                 # 6 tasks × 3 seeds
    .venv/bin/python benchmarks/suggestion_quality.py --update-md     # ... and BENCHMARKS.md
    .venv/bin/python benchmarks/suggestion_quality.py --tasks held-out
    .venv/bin/python benchmarks/suggestion_quality.py --quick         # smoke run, < 1 min

Writes ``benchmarks/out/suggestion_quality.json`` (every training, range test and curve, the
summaries, the machine, torch version and git revision) and ``.md`` beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _common import (
    OUT_DIR,
    fmt,
    geomean,
    git_revision,
    markdown_table,
    mean_std,
    provenance,
    provenance_line,
    publish,
    set_single_thread,
    write_report,
)

NAME = "suggestion_quality"
WINDOWS: list[tuple[float, float]] = [(1e-7, 10.0), (1e-5, 1.0), (1e-3, 10.0)]
NUM_ITERS = [50, 100, 300]
MAIN_NUM_ITER = 100
RULES = ["steepest", "valley", "minimum/10", "edge"]
LRLAB_METHODS = ["lrlab", *RULES]
EXTERNAL = ["torch-lr-finder", "lightning"]
GRID_PER_DECADE = 4


@dataclass(frozen=True)
class Setting:
    """How a task is trained for the oracle: ``epochs`` of one-cycle; max LRs from ``grid[0]``
    to ``grid[1]``, :data:`GRID_PER_DECADE` per decade (both ends included)."""

    epochs: int
    grid: tuple[float, float]


# The listed tasks (the rule may be tuned on these) ...
SETTINGS: dict[str, Setting] = {
    "mnist1d-cnn": Setting(20, (1e-4, 1.0)),
    "mnist1d-mlp": Setting(20, (1e-4, 1.0)),
    "digits-mlp": Setting(20, (1e-3, 10.0)),
    "digits-cnn": Setting(20, (1e-3, 10.0)),
    "function-log": Setting(200, (1e-4, 10.0)),
    "function-sin": Setting(200, (1e-4, 10.0)),
}
# ... and held-out ones it is judged on without tuning: other functions, and the tuned
# architectures with the other optimizer family.
HELD_OUT: dict[str, Setting] = {
    "function-exp": Setting(200, (1e-4, 10.0)),
    "function-step": Setting(200, (1e-4, 10.0)),
    "mnist1d-mlp-sgd": Setting(20, (1e-3, 10.0)),
    "digits-cnn-adam": Setting(20, (1e-5, 1.0)),
}
# Variants of built-in tasks: name -> (base task, optimizer, range-test window).
VARIANTS: dict[str, tuple[str, tuple[str, dict[str, Any]], tuple[float, float]]] = {
    "mnist1d-mlp-sgd": ("mnist1d-mlp", ("sgd", {"lr": 0.05, "momentum": 0.9}), (1e-5, 10.0)),
    "digits-cnn-adam": ("digits-cnn", ("adam", {"lr": 1e-3}), (1e-5, 1.0)),
}
QUICK = {"digits-mlp": Setting(3, (1e-2, 1.0))}


def build_task(name: str) -> Any:
    """A built-in task, or one of :data:`VARIANTS` (a built-in task with another optimizer)."""
    from lrlab.optim.registry import OptimizerSpec
    from lrlab.tasks import get_task

    if name not in VARIANTS:
        return get_task(name)
    base, (opt, kwargs), window = VARIANTS[name]
    return get_task(base).replace(
        name=name, optimizer=OptimizerSpec(opt, dict(kwargs)), lr_range=window
    )


def grid_lrs(setting: Setting) -> list[float]:
    lo, hi = (math.log10(v) for v in setting.grid)
    n = round((hi - lo) * GRID_PER_DECADE) + 1
    return [float(f"{10 ** (lo + i / GRID_PER_DECADE):.6g}") for i in range(n)]


def lr_key(lr: float) -> str:
    """Cache and JSON key of a max LR: 6 significant digits (a suggestion and a grid point
    closer than that train identically for our purposes and share one run)."""
    return f"{lr:.6g}"


# --- cache ------------------------------------------------------------------------------------


class Cache:
    """One JSON file per job under ``root``, named by a hash of the job's description."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def _path(self, kind: str, key: Mapping[str, Any]) -> Path | None:
        if self.root is None:
            return None
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return self.root / kind / f"{digest}.json"

    def get(self, kind: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        from lrlab._io import read_json

        path = self._path(kind, key)
        if path is None or not path.exists():
            return None
        try:
            entry = read_json(path)
        except (OSError, ValueError):
            return None
        return entry.get("result") if entry.get("key") == json.loads(json.dumps(key)) else None

    def put(self, kind: str, key: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        from lrlab._io import write_json

        path = self._path(kind, key)
        if path is not None:
            write_json(path, {"key": dict(key), "result": dict(result)})


def _task_fingerprint(task: Any) -> dict[str, Any]:
    from lrlab._io import jsonable

    return jsonable(task.to_dict())


def train_key(task_name: str, epochs: int, seed: int, lr: float) -> dict[str, Any]:
    return {
        "task": _task_fingerprint(build_task(task_name)),
        "epochs": epochs,
        "schedule": "one_cycle defaults",
        "seed": seed,
        "lr": lr_key(lr),
    }


def sweep_key(task_name: str, seed: int, sweep: tuple[float, float, int], lightning: bool):
    return {
        "task": _task_fingerprint(build_task(task_name)),
        "seed": seed,
        "sweep": list(sweep),
        "lightning": lightning,
    }


# --- jobs (run in worker processes: module-level, picklable arguments) ------------------------


def job_train(task_name: str, seed: int, lr: float, epochs: int) -> dict[str, Any]:
    """One-cycle training at max LR ``lr``: final and untrained eval metrics, time, steps."""
    set_single_thread()
    import lrlab
    from lrlab.schedules import one_cycle
    from lrlab.seeding import derive_seed, seed_everything

    # The global RNGs too (dropout, user code): the run depends on (task, seed, lr) only.
    seed_everything(derive_seed(seed, "train"))
    task = build_task(task_name)
    data = task.data(seed=seed)
    model = task.model(seed=seed)
    optimizer = task.make_optimizer(model)
    steps = epochs * len(data.train)
    metric = _metric_key(task)
    t0 = time.perf_counter()
    result = lrlab.fit(
        model,
        optimizer,
        task.criterion(),
        data.train,
        schedule=one_cycle(lr, steps),
        epochs=epochs,
        eval_data=data.eval,
        metrics=task.metrics,
        quiet=True,
    )
    seconds = time.perf_counter() - t0
    untrained = result.records[0].get(metric)
    final = result.final.get(metric)
    finite = final is not None and math.isfinite(final) and result.stop_reason == "completed"
    return {
        "task": task_name,
        "seed": seed,
        "lr": lr,
        "epochs": epochs,
        "steps": steps,
        "stop_reason": result.stop_reason,
        "final": final if finite else untrained,
        "untrained": untrained,
        "train_loss": result.final.get("train_loss"),
        "seconds": seconds,
    }


def _metric_key(task: Any) -> str:
    return "eval_accuracy" if task.kind == "classification" else "eval_loss"


def job_sweep(
    task_name: str, seed: int, sweep: tuple[float, float, int], lightning: bool
) -> dict[str, Any]:
    """One window × num_iter: lrlab's range test (raw curve), torch-lr-finder's and (if asked)
    Lightning's own range tests and suggestions, each with its wall time."""
    set_single_thread()
    import lrlab
    from lrlab.seeding import derive_seed, seed_everything

    seed_everything(derive_seed(seed, "sweep"))
    start, end, num_iter = sweep
    task = build_task(task_name)
    out: dict[str, Any] = {"task": task_name, "seed": seed, "sweep": list(sweep)}

    data = task.data(seed=seed)
    model = task.model(seed=seed)
    t0 = time.perf_counter()
    res = lrlab.range_test(
        model,
        task.make_optimizer(model),
        task.criterion(),
        data.train,
        start_lr=start,
        end_lr=end,
        num_iter=num_iter,
    )
    out["lrlab"] = {
        "seconds": time.perf_counter() - t0,
        "lrs": [float(f"{v:.7g}") for v in res.lrs],
        "losses": [float(f"{v:.7g}") if math.isfinite(v) else None for v in res.losses],
        "stop_reason": res.stop_reason,
    }
    out["torch-lr-finder"] = _torch_lr_finder(task, seed, sweep)
    if lightning:
        out["lightning"] = _lightning(task, seed, sweep)
    return out


def _torch_lr_finder(task: Any, seed: int, sweep: tuple[float, float, int]) -> dict[str, Any]:
    """torch-lr-finder 0.2.2 as its README uses it: ``range_test`` (``smooth_f=0.05``,
    ``diverge_th=5``), then ``plot(suggest_lr=True)`` (steepest ``np.gradient`` of its
    smoothed history, 10 points trimmed at the start and 5 at the end)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch_lr_finder import LRFinder, TrainDataLoaderIter

    class Batches(TrainDataLoaderIter):  # an lrlab loader already yields (inputs, targets)
        def inputs_labels_from_batch(self, batch: Any) -> Any:
            return batch

    start, end, num_iter = sweep
    data = task.data(seed=seed)
    model = task.model(seed=seed)
    finder = LRFinder(model, task.make_optimizer(model), task.criterion(), device="cpu")
    t0 = time.perf_counter()
    lr = None
    fig, ax = plt.subplots()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            finder.range_test(Batches(data.train), start_lr=start, end_lr=end, num_iter=num_iter)
            seconds = time.perf_counter() - t0
            _, lr = finder.plot(ax=ax, suggest_lr=True)
    except RuntimeError:  # fewer than skip_start + skip_end + 2 points: no suggestion
        seconds = time.perf_counter() - t0
    finally:
        plt.close(fig)
        finder.reset()
    lr = float(lr) if lr is not None and math.isfinite(lr) else None
    return {"lr": lr, "seconds": seconds, "points": len(finder.history["lr"])}


def _lightning(task: Any, seed: int, sweep: tuple[float, float, int]) -> dict[str, Any]:
    """Lightning's ``Tuner.lr_find`` (exponential mode, ``early_stop_threshold=4``) on a
    minimal ``LightningModule`` (the task's model, loss and optimizer), then ``suggestion()``
    (steepest ``torch.gradient`` of its smoothed losses over the LR, 10 points trimmed at the
    start, 1 at the end)."""
    import logging
    import tempfile
    import warnings

    import pytorch_lightning as pl
    from pytorch_lightning.tuner import Tuner

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = task.model(seed=seed)
            self.loss = task.criterion()

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            return self.loss(self.net(x), y)

        def configure_optimizers(self) -> Any:
            return task.make_optimizer(self.net)

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    start, end, num_iter = sweep
    data = task.data(seed=seed)
    t0 = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as root,
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
        )
        finder = Tuner(trainer).lr_find(
            Module(),
            train_dataloaders=data.train,
            min_lr=start,
            max_lr=end,
            num_training=num_iter,
            mode="exponential",
            early_stop_threshold=4.0,
            update_attr=False,
        )
        seconds = time.perf_counter() - t0
        lr = finder.suggestion() if finder is not None else None
    lr = float(lr) if lr is not None and math.isfinite(lr) else None
    points = len(finder.results.get("lr", [])) if finder is not None else 0
    return {"lr": lr, "seconds": seconds, "points": points}


# --- suggestions from the cached curves (pure) ------------------------------------------------


def lrlab_suggestions(curve: Mapping[str, Any]) -> dict[str, Any]:
    """lrlab's consensus and individual rules on a raw range-test curve, exactly as
    ``range_test`` computes ``result.suggestion`` (the rules read the log-LR smoothed curve)."""
    from lrlab.suggest import suggest

    losses = [math.nan if v is None else v for v in curve["losses"]]
    s = suggest(curve["lrs"], losses)
    return {"lrlab": s.lr, **{r: s.rules.get(r) for r in RULES}, "_suggestion": s.to_dict()}


def method_lrs(sweep_result: Mapping[str, Any]) -> dict[str, Any]:
    """Every method's suggested LR for one sweep (``"_suggestion"``: lrlab's in full)."""
    s = lrlab_suggestions(sweep_result["lrlab"])
    out = {m: s[m] for m in LRLAB_METHODS}
    for m in EXTERNAL:
        if m in sweep_result:
            out[m] = sweep_result[m]["lr"]
    out["_suggestion"] = s["_suggestion"]
    return out


# --- running ----------------------------------------------------------------------------------


def run_jobs(
    jobs: Sequence[tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]],
    workers: int,
    on_done: Callable[[int, dict[str, Any]], None],
) -> None:
    """Run ``fn(*args)`` for every job: in this process (``workers <= 1``) or in a process
    pool (spawned workers, one torch thread each); ``on_done(index, result)`` as they finish.
    The pool is shut down (queued jobs cancelled) on Ctrl-C; finished jobs are kept."""
    if workers <= 1 or len(jobs) <= 1:
        for i, (fn, args) in enumerate(jobs):
            on_done(i, fn(*args))
        return
    import multiprocessing as mp

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    try:
        futures = {pool.submit(fn, *args): i for i, (fn, args) in enumerate(jobs)}
        for fut in as_completed(futures):
            on_done(futures[fut], fut.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def lightning_available() -> bool:
    try:
        import pytorch_lightning  # noqa: F401
    except ImportError:
        return False
    return True


# --- analysis (pure) --------------------------------------------------------------------------


def _interp(curve: Mapping[float, float], lr: float) -> tuple[float, bool]:
    """The oracle curve's metric at ``lr`` (linear in log10 LR); ``(value, inside grid)``."""
    xs = sorted(curve)
    lx = math.log10(lr)
    gx = [math.log10(v) for v in xs]
    inside = gx[0] <= lx <= gx[-1]
    return float(np.interp(lx, gx, [curve[v] for v in xs])), inside


def regret_of(value: float, oracle: float, higher: bool) -> float:
    """``oracle − value`` in percentage points (accuracy), ``value − oracle`` (MSE)."""
    return 100.0 * (oracle - value) if higher else value - oracle


def analyse(
    tasks: Sequence[str],
    seeds: Sequence[int],
    settings: Mapping[str, Setting],
    trainings: Mapping[tuple[str, int, str], dict[str, Any]],
    sweeps: Mapping[tuple[str, int, tuple[float, float, int]], dict[str, Any]],
    suggested: Mapping[tuple[str, int, tuple[float, float, int]], dict[str, Any]],
    methods: Sequence[str],
    main_sweeps: Mapping[str, tuple[float, float, int]],
    robust_sweeps: Sequence[tuple[float, float, int]],
) -> dict[str, Any]:
    """Per task: oracle, and per method regret, LR ratio, cost and robustness."""
    out: dict[str, Any] = {}
    for task in tasks:
        t = build_task(task)
        higher = t.kind == "classification"
        grid = grid_lrs(settings[task])
        per_seed: dict[int, dict[str, Any]] = {}
        for seed in seeds:
            curve = {lr: trainings[(task, seed, lr_key(lr))]["final"] for lr in grid}
            best_lr = (max if higher else min)(curve, key=lambda v: curve[v])
            per_seed[seed] = {"curve": curve, "oracle": curve[best_lr], "oracle_lr": best_lr}
        # The best *fixed* grid LR (best mean over seeds): a floor no method can beat on
        # average without exploiting each seed's noise (the oracle's max is biased up).
        means = {lr: statistics.fmean(per_seed[s]["curve"][lr] for s in seeds) for lr in grid}
        fixed_lr = (max if higher else min)(means, key=lambda v: means[v])
        train_secs = [
            statistics.median(trainings[(task, s, lr_key(lr))]["seconds"] for lr in grid)
            for s in seeds
        ]
        train_secs_med = statistics.median(train_secs)
        steps = trainings[(task, seeds[0], lr_key(grid[0]))]["steps"]
        fixed_regrets = [
            regret_of(per_seed[s]["curve"][fixed_lr], per_seed[s]["oracle"], higher) for s in seeds
        ]
        row: dict[str, Any] = {
            "kind": t.kind,
            "metric": "final eval accuracy" if higher else "final eval MSE",
            "epochs": settings[task].epochs,
            "steps": steps,
            "grid": grid,
            "main_sweep": list(main_sweeps[task]),
            "oracle": {
                "per_seed": {
                    str(s): {
                        "lr": per_seed[s]["oracle_lr"],
                        "metric": per_seed[s]["oracle"],
                        "curve": {lr_key(k): v for k, v in per_seed[s]["curve"].items()},
                    }
                    for s in seeds
                },
                "mean": statistics.fmean(per_seed[s]["oracle"] for s in seeds),
                "lr_geomean": geomean([per_seed[s]["oracle_lr"] for s in seeds]),
                "fixed_lr": fixed_lr,
                "fixed_lr_regret": list(mean_std(fixed_regrets)),
                "training_seconds_median": train_secs_med,
            },
            "methods": {},
        }
        for m in methods:
            regrets, rel, ratios, lrs, costs, achieved = [], [], [], [], [], []
            missing = 0
            for s in seeds:
                sw = sweeps[(task, s, main_sweeps[task])]
                lr = suggested[(task, s, main_sweeps[task])].get(m)
                if lr is None:
                    missing += 1
                    continue
                tr = trainings[(task, s, lr_key(lr))]
                oracle = per_seed[s]["oracle"]
                regrets.append(regret_of(tr["final"], oracle, higher))
                if not higher:
                    rel.append((tr["final"] - oracle) / oracle)
                ratios.append(lr / per_seed[s]["oracle_lr"])
                lrs.append(lr)
                achieved.append(tr["final"])
                src = "lrlab" if m in LRLAB_METHODS else m
                costs.append(sw[src]["seconds"] / train_secs[list(seeds).index(s)])
            rob = _robustness(task, seeds, per_seed, suggested, robust_sweeps, m, higher)
            row["methods"][m] = {
                "lrs": lrs,
                "achieved": achieved,
                "regret": list(mean_std(regrets)),
                "regret_per_seed": regrets,
                "relative_regret": list(mean_std(rel)) if rel else None,
                # achieved / oracle MSE, geometric mean: one collapsed seed (MSE 1000× the
                # oracle's) does not drown the others, as it does in the mean relative regret.
                "mse_ratio_geomean": geomean([1 + r for r in rel]) if rel else None,
                "lr_ratio_geomean": geomean(ratios),
                "lr_ratios": ratios,
                "cost_fraction": statistics.median(costs) if costs else None,
                "cost_steps_fraction": main_sweeps[task][2] / steps,
                "missing": missing,
                **rob,
            }
        out[task] = row
    return out


def _robustness(
    task: str,
    seeds: Sequence[int],
    per_seed: Mapping[int, Mapping[str, Any]],
    suggested: Mapping[tuple[str, int, tuple[float, float, int]], dict[str, Any]],
    robust_sweeps: Sequence[tuple[float, float, int]],
    method: str,
    higher: bool,
) -> dict[str, Any]:
    """Spread of a method's LR over the robustness sweeps (per seed, median), and the regret
    each of those LRs would have on the seed's oracle curve (interpolated)."""
    spreads, interp_regrets, outside = [], [], 0
    for s in seeds:
        vals = [suggested[(task, s, sw)].get(method) for sw in robust_sweeps]
        ok = [v for v in vals if v is not None and v > 0]
        spreads.append(max(ok) / min(ok) if ok and len(ok) == len(vals) else math.inf)
        for v in ok:
            value, inside = _interp(per_seed[s]["curve"], v)
            outside += not inside
            interp_regrets.append(regret_of(value, per_seed[s]["oracle"], higher))
    return {
        "spread_per_seed": spreads,
        "spread": statistics.median(spreads) if spreads else math.nan,
        "interp_regret": list(mean_std(interp_regrets)),
        "interp_outside_grid": outside,
    }


# --- report -----------------------------------------------------------------------------------


def _regret_cell(m: Mapping[str, Any], higher: bool) -> str:
    mean, std = m["regret"]
    if math.isnan(mean):
        return "—"
    if higher:
        return f"{mean:.2f} ± {std:.2f}"
    return f"{mean:.2g} ± {std:.1g} (×{m['mse_ratio_geomean']:.2g})"


def markdown(report: Mapping[str, Any]) -> str:
    summary = report["summary"]
    methods = report["methods"]
    tasks = list(summary)
    lines = [
        f"Assembled with {provenance_line(report)}.",
        "",
        f"Computed: {_produced_text(report)}.",
        "",
    ]
    lines.append(
        "**Regret** (oracle − achieved final eval accuracy, percentage points; for the "
        "regression tasks achieved − oracle final eval MSE, and in brackets achieved / oracle "
        f"MSE, geometric mean), mean ± std over {len(report['seeds'])} seeds; each method from "
        f"one range test over the task's window with {report['main_num_iter']} steps. Lower is "
        "better; **bold**: the lowest."
    )
    lines.append("")
    headers = ["method", *tasks, "mean (classification, pp)", "MSE / oracle (regression)"]
    rows = []
    best = {
        t: min(summary[t]["methods"][m]["regret"][0] for m in methods if _has(summary[t], m))
        for t in tasks
    }
    for m in methods:
        cells = []
        cls, reg = [], []
        for t in tasks:
            row = summary[t]
            if not _has(row, m):
                cells.append("—")
                continue
            mm = row["methods"][m]
            cell = _regret_cell(mm, row["kind"] == "classification")
            if mm["regret"][0] == best[t]:
                cell = f"**{cell}**"
            cells.append(cell)
            if row["kind"] == "classification":
                cls.append(mm["regret"][0])
            else:
                reg.append(mm["mse_ratio_geomean"])
        cls_txt = fmt(statistics.fmean(cls), ".2f") if cls else "—"
        reg_txt = f"×{geomean(reg):.2g}" if reg else "—"
        rows.append([m, *cells, cls_txt, reg_txt])
    floor = []
    for t in tasks:
        mean, std = summary[t]["oracle"]["fixed_lr_regret"]
        floor.append(
            f"{mean:.2f} ± {std:.2f}"
            if summary[t]["kind"] == "classification"
            else f"{mean:.2g} ± {std:.1g}"
        )
    rows.append(["*best fixed grid LR*", *floor, "", ""])
    lines.append(markdown_table(headers, rows))
    lines += [
        "",
        "*best fixed grid LR*: the grid LR with the best mean over seeds, scored per seed like a "
        "method — the regret that remains for an LR that is right on average (the oracle "
        "takes each seed's best of the grid, noise included).",
        "",
        "**Suggested LR / oracle LR** (geometric mean over seeds) and **range-test cost** "
        "(wall time of the method's range test / one training run, median over seeds; in "
        "steps: range-test steps / training steps):",
        "",
    ]
    headers = ["method", *tasks]
    rows = []
    for m in methods:
        cells = []
        for t in tasks:
            row = summary[t]
            if not _has(row, m):
                cells.append("—")
                continue
            mm = row["methods"][m]
            cells.append(
                f"{fmt(mm['lr_ratio_geomean'], '.2g')}× / {fmt(mm['cost_fraction'], '.2f')}"
            )
        rows.append([m, *cells])
    rows.append(["*oracle LR*", *(fmt(summary[t]["oracle"]["lr_geomean"], ".3g") for t in tasks)])
    rows.append(
        [
            "*steps fraction*",
            *(fmt(report["main_num_iter"] / summary[t]["steps"], ".3f") for t in tasks),
        ]
    )
    lines.append(markdown_table(headers, rows))
    lines += [
        "",
        f"**Robustness**: spread = max / min of the suggested LR over {_sweeps_text(report)} "
        "(median over seeds; lower is better, target ≤ 2), and the mean regret of those "
        f"{len(report['robust_sweeps'])} suggestions read off each seed's oracle curve "
        "(*interpolated* in log LR between grid points):",
        "",
    ]
    rows = []
    for m in methods:
        cells = []
        for t in tasks:
            row = summary[t]
            if not _has(row, m):
                cells.append("—")
                continue
            mm = row["methods"][m]
            r = mm["interp_regret"][0]
            r_txt = fmt(r, ".2f") if row["kind"] == "classification" else fmt(r, ".2g")
            cells.append(f"{fmt(mm['spread'], '.2f')} / {r_txt}")
        rows.append([m, *cells])
    lines.append(markdown_table(["method", *tasks], rows))
    lines += ["", "Oracle (one-cycle, fixed budget, grid of max LRs, 4 per decade):", ""]
    rows = []
    for t in tasks:
        o = summary[t]["oracle"]
        per = o["per_seed"]
        unit = "accuracy" if summary[t]["kind"] == "classification" else "MSE"
        rows.append(
            [
                t,
                f"{summary[t]['epochs']} ({summary[t]['steps']} steps)",
                f"{fmt(summary[t]['grid'][0], '.0e')}…{fmt(summary[t]['grid'][-1], '.0e')}",
                ", ".join(fmt(per[s]["lr"], ".3g") for s in per),
                f"{fmt(o['mean'], '.4g')} ({unit})",
                fmt(o["fixed_lr"], ".3g"),
                fmt(o["training_seconds_median"], ".1f"),
            ]
        )
    lines.append(
        markdown_table(
            [
                "task",
                "epochs",
                "grid",
                "oracle LR per seed",
                "oracle mean",
                "best fixed LR",
                "s / training",
            ],
            rows,
        )
    )
    if report.get("notes"):
        lines += ["", *report["notes"]]
    return "\n".join(lines)


def _produced_text(report: Mapping[str, Any]) -> str:
    """When and at which revision the (possibly cached) trainings and range tests ran."""
    entries = [*report["trainings"], *report["sweeps"]]
    dates = sorted(e.get("produced", {}).get("date", "?") for e in entries)
    revs = sorted({e.get("produced", {}).get("git_rev", "?") for e in entries})
    cpu = sum(t["seconds"] for t in report["trainings"]) + sum(
        sw["lrlab"]["seconds"] + sum(sw[m]["seconds"] for m in EXTERNAL if m in sw)
        for sw in report["sweeps"]
    )
    return (
        f"{len(report['trainings'])} one-cycle trainings and {len(report['sweeps'])} sweeps "
        f"(each with lrlab, torch-lr-finder{' and Lightning' if report['lightning'] else ''}), "
        f"{cpu / 60:.0f} min of work on 2 worker processes, run {dates[0]} … {dates[-1]} at "
        f"git {', '.join(revs)} (cached by (task, seed, LR) and (task, seed, sweep); lrlab's "
        "suggestions are recomputed from the stored curves by the code of this revision)"
    )


def _sweeps_text(report: Mapping[str, Any]) -> str:
    windows = dict.fromkeys(f"{a:g}→{b:g}" for a, b, _ in report["robust_sweeps"])
    iters = dict.fromkeys(str(n) for _, _, n in report["robust_sweeps"])
    return f"windows {', '.join(windows)} × num_iter {', '.join(iters)}"


def _has(row: Mapping[str, Any], m: str) -> bool:
    return m in row["methods"] and not math.isnan(row["methods"][m]["regret"][0])


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="listed", help="'listed', 'held-out' or comma-separated")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument(
        "--workers", type=int, default=None, help="process pool (default 2; 1 in-process)"
    )
    p.add_argument("--quick", action="store_true", help="digits-mlp, 1 seed, 3 epochs, 2 sweeps")
    p.add_argument("--no-lightning", action="store_true", help="skip Lightning's lr_find")
    p.add_argument("--no-robustness", action="store_true", help="only the main sweep")
    p.add_argument("--out", type=Path, default=OUT_DIR / f"{NAME}.json")
    p.add_argument("--cache", type=Path, default=OUT_DIR / "cache" / NAME)
    p.add_argument("--fresh", action="store_true", help="ignore (and overwrite) the cache")
    p.add_argument(
        "--update-md",
        action="store_true",
        help="rewrite its BENCHMARKS.md section and benchmarks/results/<section>.json",
    )
    args = p.parse_args(argv)

    set_single_thread()

    if args.quick:
        settings: dict[str, Setting] = dict(QUICK)
        seeds = [0]
        robust = [(1e-5, 1.0, 50), (1e-3, 10.0, 50)]
    else:
        named = {"listed": SETTINGS, "held-out": HELD_OUT}
        settings = dict(named.get(args.tasks) or {})
        if not settings:
            every = {**SETTINGS, **HELD_OUT}
            unknown = [t for t in args.tasks.split(",") if t not in every]
            if unknown:
                p.error(f"unknown task(s) {unknown}; known: {sorted(every)}")
            settings = {t: every[t] for t in args.tasks.split(",")}
        seeds = list(range(args.seeds))
        robust = [(a, b, n) for (a, b) in WINDOWS for n in NUM_ITERS]
    if args.no_robustness:
        robust = []
    tasks = list(settings)
    lightning = not args.no_lightning and lightning_available()
    notes: list[str] = []
    if not args.no_lightning and not lightning:
        msg = "Lightning skipped: pytorch-lightning is not importable (pip install it to compare)."
        print(msg, file=sys.stderr)
        notes.append(msg)
    methods = LRLAB_METHODS + ["torch-lr-finder"] + (["lightning"] if lightning else [])
    main_iter = 50 if args.quick else MAIN_NUM_ITER
    main_sweeps = {t: (*build_task(t).lr_range, main_iter) for t in tasks}
    workers = args.workers if args.workers is not None else (1 if args.quick else 2)
    cache = Cache(None if args.fresh else args.cache)
    writer = Cache(args.cache)
    t_start = time.perf_counter()

    # Phase 1: every range test and every oracle training.
    sweeps: dict[tuple[str, int, tuple[float, float, int]], dict[str, Any]] = {}
    trainings: dict[tuple[str, int, str], dict[str, Any]] = {}
    jobs: list[tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]] = []
    for t in tasks:
        for s in seeds:
            for sw in dict.fromkeys([main_sweeps[t], *robust]):
                hit = cache.get("sweep", sweep_key(t, s, sw, lightning))
                if hit is not None:
                    sweeps[(t, s, tuple(hit["sweep"]))] = hit  # type: ignore[index]
                else:
                    jobs.append((job_sweep, (t, s, sw, lightning)))
            for lr in grid_lrs(settings[t]):
                queue_training(t, s, lr, settings[t].epochs, cache, trainings, jobs)
    run_phase("range tests + oracle", jobs, workers, writer, sweeps, trainings, lightning)

    # Phase 2: train every method's suggestion from the main sweep.
    suggested = {key: method_lrs(v) for key, v in sweeps.items()}
    jobs = []
    for t in tasks:
        for s in seeds:
            for m, lr in suggested[(t, s, main_sweeps[t])].items():
                if m in methods and lr is not None:
                    queue_training(t, s, lr, settings[t].epochs, cache, trainings, jobs)
    run_phase("suggested LRs", jobs, workers, writer, sweeps, trainings, lightning)

    summary = analyse(
        tasks, seeds, settings, trainings, sweeps, suggested, methods, main_sweeps, robust
    )
    report: dict[str, Any] = {
        **provenance(__file__, argv),
        "elapsed_s": time.perf_counter() - t_start,
        "seeds": seeds,
        "methods": methods,
        "settings": {t: asdict(settings[t]) for t in tasks},
        "main_num_iter": main_iter,
        "main_sweeps": {t: list(v) for t, v in main_sweeps.items()},
        "robust_sweeps": [list(v) for v in robust],
        "lightning": lightning,
        "notes": notes,
        "summary": summary,
        "sweeps": [
            {
                **v,
                "suggestions": {m: lr for m, lr in suggested[k].items() if m in methods},
                "lrlab_suggestion": suggested[k]["_suggestion"],
            }
            for k, v in sweeps.items()
        ],
        "trainings": list(trainings.values()),
    }
    md = markdown(report)
    print(md)
    path = write_report(args.out, report, md)
    print(f"\nwrote {path} ({report['elapsed_s']:.0f} s)", file=sys.stderr)
    if args.update_md:
        # The section and the committed copy of the raw results, always from the same run.
        label = "" if args.tasks == "listed" else "_" + args.tasks.replace(",", "_")
        section = NAME + label
        title = "Suggestion quality" + (f" — {args.tasks} tasks" if label else "")
        updated = publish(section, f"{title} (`benchmarks/{NAME}.py`)", report, md)
        print(f"updated {updated}", file=sys.stderr)
    return report


def queue_training(
    task: str,
    seed: int,
    lr: float,
    epochs: int,
    cache: Cache,
    trainings: dict[tuple[str, int, str], dict[str, Any]],
    jobs: list[tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]],
) -> None:
    key = (task, seed, lr_key(lr))
    if key in trainings or any(j[1][:3] == (task, seed, float(lr_key(lr))) for j in jobs):
        return
    hit = cache.get("train", train_key(task, epochs, seed, float(lr_key(lr))))
    if hit is not None:
        trainings[key] = hit
    else:
        jobs.append((job_train, (task, seed, float(lr_key(lr)), epochs)))


def run_phase(
    label: str,
    jobs: Sequence[tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]],
    workers: int,
    writer: Cache,
    sweeps: dict[tuple[str, int, tuple[float, float, int]], dict[str, Any]],
    trainings: dict[tuple[str, int, str], dict[str, Any]],
    lightning: bool,
) -> None:
    if not jobs:
        return
    t0 = time.perf_counter()
    done = 0

    produced = {"git_rev": git_revision()}

    def on_done(i: int, result: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        fn, a = jobs[i]
        # Where this measurement came from, kept with it in the cache.
        result["produced"] = {**produced, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        if fn is job_sweep:
            writer.put("sweep", sweep_key(a[0], a[1], a[2], lightning), result)
            sweeps[(a[0], a[1], tuple(a[2]))] = result  # type: ignore[index]
        else:
            writer.put("train", train_key(a[0], a[3], a[1], a[2]), result)
            trainings[(a[0], a[1], lr_key(a[2]))] = result
        if done % 10 == 0 or done == len(jobs):
            print(
                f"  {label}: {done}/{len(jobs)} ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    run_jobs(jobs, workers, on_done)


if __name__ == "__main__":
    main()

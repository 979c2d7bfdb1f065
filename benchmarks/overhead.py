"""What does lrlab cost over plain PyTorch? Range test and ``fit`` against hand-written loops.

Measured side by side in one run, per workload (a built-in task's model, optimizer and
on-device batches), each variant starting from the same weights:

* **Range test** (metric mode off, ``num_iter`` steps, exponential sweep, no early stop so
  every variant does exactly the same steps):
  - ``lrlab`` — ``lrlab.range_test(...)`` as users call it (state snapshot and restore, EMA,
    stop rule, the suggestion at the end);
  - ``lrlab_sweep`` — the same with ``suggest=False`` (the loop alone);
  - ``hand`` — a hand-written range test: snapshot the weights and optimizer state
    (``copy.deepcopy`` of the state dicts), then per step set the LR, ``zero_grad``, forward,
    backward, ``step``, ``loss.item()`` into a bias-corrected EMA; restore at the end;
  - ``torch-lr-finder`` — ``LRFinder.range_test`` + ``reset()`` (torch-lr-finder 0.2.2).
* **Training** with one-cycle (``epochs`` epochs, no evaluation, no train metrics):
  - ``fit`` — ``lrlab.fit(..., schedule=one_cycle(max_lr, T), metrics=(), quiet=True)``;
  - ``hand_fit`` — the textbook loop with ``torch.optim.lr_scheduler.OneCycleLR`` (the same
    schedule, momentum / Adam β1 cycled too) and the epoch's mean loss.

Ratios printed: ``lrlab / hand`` (issue 7's target: ≤ 1.05 on the mnist1d CNN),
``lrlab_sweep / hand``, ``lrlab / torch-lr-finder`` and ``fit / hand_fit`` (target ≤ 1.05).
Repetitions are interleaved (A B C A B C …, the order rotating every round) after a warm-up
and the medians are compared, so bursts of load from other processes hit every variant
alike; the load average is recorded with the results. One torch thread.

    .venv/bin/python benchmarks/overhead.py                # 3 workloads, 9 repetitions
    .venv/bin/python benchmarks/overhead.py --update-md    # ... and its BENCHMARKS.md section
    .venv/bin/python benchmarks/overhead.py --quick        # mnist1d-mlp, tiny, 1 repetition

Writes ``benchmarks/out/overhead.json`` (every timing, the ratios, the machine, torch version
and git revision) and ``overhead.md`` beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from _common import (
    OUT_DIR,
    fmt,
    interleaved,
    markdown_table,
    provenance,
    provenance_line,
    publish,
    set_single_thread,
    write_report,
)

NAME = "overhead"
# The target workload first; the MLPs show the per-step overhead at its most visible (a step
# of a tiny model costs little, so the loop's own Python is a larger share).
WORKLOADS = ["mnist1d-cnn", "mnist1d-mlp", "digits-mlp"]
# A window where none of these diverges within the sweep: every variant runs all its steps.
WINDOW = (1e-5, 1e-2)


def hand_range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: torch.nn.Module,
    loader: Any,
    lrs: list[float],
    beta: float = 0.98,
) -> list[float]:
    """A range test as one would write it by hand (the reference for the overhead)."""
    model_state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(optimizer.state_dict())
    losses, avg = [], 0.0
    batches = iter(loader)
    model.train()
    for i, lr in enumerate(lrs):
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        value = loss.item()
        avg = beta * avg + (1 - beta) * value
        losses.append(avg / (1 - beta ** (i + 1)))
    model.load_state_dict(model_state)
    optimizer.load_state_dict(opt_state)
    return losses


def hand_fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: torch.nn.Module,
    loader: Any,
    max_lr: float,
    epochs: int,
) -> list[float]:
    """One-cycle training as in the PyTorch docs: ``OneCycleLR`` stepped after every update."""
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=epochs * len(loader)
    )
    epoch_losses = []
    model.train()
    for _ in range(epochs):
        total, n = torch.zeros(()), 0
        for x, y in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach()
            n += 1
        epoch_losses.append(float(total) / n)
    return epoch_losses


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(task_name: str, num_iter: int, epochs: int, repeats: int) -> dict[str, Any]:
    """Timings (seconds per call) of every variant on one workload, and their ratios."""
    from torch_lr_finder import LRFinder, TrainDataLoaderIter

    import lrlab
    from lrlab.finder import sweep_lrs
    from lrlab.schedules import one_cycle
    from lrlab.tasks import get_task

    class Batches(TrainDataLoaderIter):  # an lrlab loader already yields (inputs, targets)
        def inputs_labels_from_batch(self, batch: Any) -> Any:
            return batch

    task = get_task(task_name)
    data = task.data(seed=0)
    model = task.model(seed=0)
    optimizer = task.make_optimizer(model)
    criterion = task.criterion()
    lrs = sweep_lrs(WINDOW[0], WINDOW[1], num_iter, "exp")
    finder = LRFinder(model, optimizer, criterion, device="cpu")

    def lrlab_full() -> None:
        res = lrlab.range_test(
            model, optimizer, criterion, data.train, start_lr=WINDOW[0], end_lr=WINDOW[1],
            num_iter=num_iter, diverge_th=None,
        )  # fmt: skip
        assert len(res.losses) == num_iter

    def lrlab_sweep() -> None:
        res = lrlab.range_test(
            model, optimizer, criterion, data.train, start_lr=WINDOW[0], end_lr=WINDOW[1],
            num_iter=num_iter, diverge_th=None, suggest=False,
        )  # fmt: skip
        assert len(res.losses) == num_iter

    def hand() -> None:
        assert len(hand_range_test(model, optimizer, criterion, data.train, lrs)) == num_iter

    def tlf() -> None:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            finder.range_test(
                Batches(data.train), start_lr=WINDOW[0], end_lr=WINDOW[1], num_iter=num_iter,
                diverge_th=math.inf,
            )  # fmt: skip
        assert len(finder.history["lr"]) == num_iter
        finder.reset()

    range_times = interleaved(
        {"lrlab": lrlab_full, "lrlab_sweep": lrlab_sweep, "hand": hand, "torch-lr-finder": tlf},
        repeats=repeats,
    )

    max_lr = float(task.optimizer.kwargs["lr"])
    total = epochs * len(data.train)
    init = copy.deepcopy(model.state_dict())

    def fresh() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        m = task.model(seed=0)
        m.load_state_dict(init)
        return m, task.make_optimizer(m)

    def fit_variant() -> float:
        m, opt = fresh()
        return _timed(
            lambda: lrlab.fit(
                m, opt, criterion, data.train, schedule=one_cycle(max_lr, total),
                epochs=epochs, metrics=(), quiet=True,
            )
        )  # fmt: skip

    def hand_variant() -> float:
        m, opt = fresh()
        return _timed(lambda: hand_fit(m, opt, criterion, data.train, max_lr, epochs))

    fit_times = interleaved({"fit": fit_variant, "hand_fit": hand_variant}, repeats=repeats)
    times = {**range_times, **fit_times}
    med = {k: statistics.median(v) for k, v in times.items()}

    def paired(a: str, b: str) -> float:
        # Median of the per-round ratios: the variants of one round ran back to back, so a
        # change of load between rounds cancels out (it does not in a ratio of medians).
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    pairs = {
        "range_test/hand": ("lrlab", "hand"),
        "range_test_sweep/hand": ("lrlab_sweep", "hand"),
        "range_test/torch-lr-finder": ("lrlab", "torch-lr-finder"),
        "fit/hand": ("fit", "hand_fit"),
    }
    return {
        "task": task_name,
        "num_iter": num_iter,
        "window": list(WINDOW),
        "epochs": epochs,
        "train_steps": total,
        "repeats": repeats,
        "times": times,
        "median_s": med,
        "ratios": {k: paired(a, b) for k, (a, b) in pairs.items()},
        "ratios_of_medians": {k: med[a] / med[b] for k, (a, b) in pairs.items()},
        "suggestion_s": med["lrlab"] - med["lrlab_sweep"],
    }


def markdown(report: dict[str, Any]) -> str:
    rows = []
    for w in report["workloads"]:
        r, m = w["ratios"], w["median_s"]
        rows.append(
            [
                w["task"],
                f"{fmt(r['range_test/hand'], '.3f')} ({m['lrlab']:.3f} / {m['hand']:.3f} s)",
                fmt(r["range_test_sweep/hand"], ".3f"),
                f"{fmt(r['range_test/torch-lr-finder'], '.3f')} ({m['torch-lr-finder']:.3f} s)",
                f"{fmt(r['fit/hand'], '.3f')} ({m['fit']:.2f} / {m['hand_fit']:.2f} s)",
            ]
        )
    w0 = report["workloads"][0]
    return "\n".join(
        [
            f"Measured with {provenance_line(report)}; load average before / after: "
            f"{report['load_before']} / {report['load_after']}.",
            "",
            f"Range test: {w0['num_iter']} steps over {w0['window'][0]:g}→{w0['window'][1]:g} "
            f"(no early stop, metric mode off); training: one-cycle for {w0['epochs']} epochs "
            "(no evaluation, no train metrics). Ratios: median over "
            f"{w0['repeats']} interleaved rounds (after a warm-up) of the per-round ratio; "
            "times in brackets: medians. One torch thread. "
            "Targets (issue 7): range test / hand ≤ 1.05 on mnist1d-cnn, fit / hand ≤ 1.05.",
            "",
            markdown_table(
                [
                    "workload",
                    "range test / hand",
                    "sweep only / hand",
                    "range test / torch-lr-finder",
                    "fit / hand (OneCycleLR)",
                ],
                rows,
            ),
        ]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--num-iter", type=int, default=100)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--quick", action="store_true", help="mnist1d-mlp, 20 steps, 1 epoch, 1 rep")
    p.add_argument("--out", type=Path, default=OUT_DIR / f"{NAME}.json")
    p.add_argument(
        "--update-md",
        action="store_true",
        help="rewrite its BENCHMARKS.md section and benchmarks/results/overhead.json",
    )
    args = p.parse_args(argv)
    set_single_thread()
    workloads = args.workloads.split(",")
    num_iter, epochs, repeats = args.num_iter, args.epochs, args.repeats
    if args.quick:
        workloads, num_iter, epochs, repeats = ["mnist1d-mlp"], 20, 1, 1
    prov = provenance(__file__, argv)
    load_before = prov["machine"]["load_average"]
    t0 = time.perf_counter()
    results = []
    for w in workloads:
        results.append(measure(w, num_iter, epochs, repeats))
        r = results[-1]["ratios"]
        print(
            f"{w:12s} range test / hand {r['range_test/hand']:.3f}  "
            f"(sweep only {r['range_test_sweep/hand']:.3f}; "
            f"suggestion {results[-1]['suggestion_s']:.3f} s)"
            f"  / torch-lr-finder {r['range_test/torch-lr-finder']:.3f}  "
            f"fit / hand {r['fit/hand']:.3f}",
            file=sys.stderr,
            flush=True,
        )
    from _common import load_average

    report = {
        **prov,
        "elapsed_s": time.perf_counter() - t0,
        "load_before": load_before,
        "load_after": load_average(),
        "workloads": results,
    }
    md = markdown(report)
    print(md)
    path = write_report(args.out, report, md)
    print(f"\nwrote {path}", file=sys.stderr)
    if args.update_md:
        heading = f"Overhead (`benchmarks/{NAME}.py`)"
        updated = publish(NAME, heading, report, md, label="Raw timings", indent=2)
        print(f"updated {updated}", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()

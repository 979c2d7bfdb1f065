"""Progress display for ``fit``: a rich progress bar per epoch and a one-line epoch summary.

Like the seed logs (``Epoch=3 ... Loss=0.83 batch_id=390 Accuracy=71.54%: 391/391
[00:29, 13.35it/s]`` while an epoch runs, then ``Epoch [3], last_lr: 0.01313, train_loss:
..., test_loss: ..., acc: ..., Epoch_time: ...``). Everything goes to stderr, so stdout stays
for results. The bar is transient and only drawn on a terminal or in a Jupyter notebook (with
ipywidgets: :mod:`lrlab._console`); logs redirected to a file get the summary lines alone. The
bar is updated from ``on_log`` (every few updates), never per step, so it costs no device
synchronisation of its own; in a notebook it is also redrawn there, from the training thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from lrlab._console import progress_console
from lrlab.train.callbacks import Callback
from lrlab.train.runstate import RunState, StepLog

# Record fields shown in the summary line, in this order, with their labels.
_SUMMARY_FIELDS = (("lr", "lr"), ("momentum", "mom"))
_SKIP = {"epoch", "iteration", "lr", "momentum", "epoch_time", "eval_time", "elapsed", "partial"}


def format_value(value: Any) -> str:
    """Compact text for a record value: 4 significant digits, ``nan`` for missing."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def format_record(record: Mapping[str, Any]) -> str:
    """The one-line summary of an epoch record, e.g.
    ``Epoch [3] it 390 | lr 0.01313 mom 0.91 | train_loss 1.793 train_accuracy 0.2542 |
    eval_loss 1.783 eval_accuracy 0.2542 | 21.8 s``."""
    parts = [f"Epoch [{record.get('epoch', '?')}]", f"it {record.get('iteration', 0)}"]
    hyper = [
        f"{label} {format_value(record[k])}"
        for k, label in _SUMMARY_FIELDS
        if record.get(k) is not None
    ]
    values = [
        f"{k} {format_value(v)}"
        for k, v in record.items()
        if k not in _SKIP and (v is not None or k.startswith("eval"))
    ]
    line = " | ".join(p for p in (" ".join(parts), " ".join(hyper), " ".join(values)) if p)
    if record.get("epoch_time") is not None and record.get("epoch", 0) != 0:
        line += f" | {record['epoch_time']:.1f} s"
    if record.get("partial"):
        line += " (partial epoch)"
    return line


class ProgressBar(Callback):
    """The default display of a non-quiet ``fit`` (a rich progress bar + summary lines)."""

    def __init__(self, console: Any = None) -> None:
        self._console = console
        self._progress: Any = None
        self._task: Any = None
        self._printed = 0
        self._redraw = False  # redraw from on_log (notebooks: no refresh thread there)

    def on_fit_start(self, run: RunState) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        where = progress_console(self._console)
        self._progress = Progress(
            TextColumn("Epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[values]}"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            console=where.console,
            auto_refresh=where.auto_refresh,
            transient=True,
        )
        self._redraw = not where.auto_refresh
        if where.live:
            self._progress.start()
        self._printed = len(run.records)  # on resume, the restored epochs were shown before

    def on_epoch_start(self, run: RunState) -> None:
        self._print_pending(run)
        if self._progress is None:
            return
        if self._task is not None:
            self._progress.remove_task(self._task)
        total = f"/{run.epochs}" if run.epochs else ""
        self._task = self._progress.add_task(
            "train",
            total=run.batches_per_epoch,
            epoch=f"{run.epoch}{total}",
            values="",
            speed="",
        )

    def on_log(self, run: RunState, steps: Sequence[StepLog]) -> None:
        if self._progress is None or self._task is None:
            return
        values = " ".join(f"{k} {format_value(v)}" for k, v in run.running.items())
        task = self._progress.tasks[-1]
        speed = task.speed
        self._progress.update(
            self._task,
            completed=run.batch,
            values=values,
            speed=f"{speed:.1f} it/s" if speed else "",
            refresh=self._redraw,
        )

    def on_epoch_end(self, run: RunState) -> None:
        self._emit(format_record(run.record))
        self._printed = len(run.records) + 1  # run.record is appended after this hook

    def on_fit_end(self, run: RunState) -> None:
        self._print_pending(run)
        if self._progress is not None:
            self._progress.stop()
        if run.message and run.stop_reason != "completed":
            self._emit(run.message)
        self._progress = None

    def _print_pending(self, run: RunState) -> None:
        for record in run.records[self._printed :]:
            self._emit(format_record(record))
        self._printed = len(run.records)

    def _emit(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        elif self._console is not None:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)

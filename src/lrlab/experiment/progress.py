"""Following an experiment while it runs: stages, a count of epochs done, a line per
finished trial — read from the run directory, so it works the same for every executor.

:class:`Progress` is where a long command reports (the CLI draws rich bars from it);
:class:`LineProgress` prints plain lines; :class:`ExperimentWatcher` polls the trials'
``records.jsonl`` (flushed once per epoch) and ``summary.json`` files from a thread.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from lrlab._io import read_json, read_jsonl
from lrlab.experiment.trials import trial_dir


class Progress(Protocol):
    """Where a long run reports what it is doing (the CLI draws rich bars from it)."""

    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage starts (``total``: its units of work, when known)."""

    def update(self, completed: int, detail: str = "") -> None:
        """``completed`` units of the current stage are done."""

    def message(self, text: str) -> None:
        """A line worth keeping (a finished trial, a suggestion)."""

    def finish(self) -> None:
        """The run is over (also on errors): stop drawing."""


class LineProgress:
    """Plain lines on stderr (``quiet``: nothing) — the Python API's default."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def stage(self, name: str, total: int | None = None) -> None:
        self.message(f"== {name}")

    def update(self, completed: int, detail: str = "") -> None:
        """Progress counts are for bars; lines carry the messages only."""

    def message(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def finish(self) -> None:
        """Nothing to stop."""


class ExperimentWatcher:
    """Follows an experiment running elsewhere (pool workers) through its files.

    Every ``interval`` seconds it counts the epochs each trial has written to its
    ``records.jsonl`` (flushed once per epoch) and reports the total to
    ``progress.update``; a trial whose ``summary.json`` appears is announced once with its
    final numbers. Reading files needs no cooperation from the workers and works the same
    for every executor.
    """

    def __init__(
        self,
        root: Path,
        trials: Sequence[tuple[str, int]],
        progress: Progress,
        *,
        interval: float = 0.5,
    ) -> None:
        self.root = root
        self.trials = list(trials)
        self.progress = progress
        self.interval = interval
        self._announced: set[tuple[str, int]] = set()
        self._reused: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _dir(self, variant: str, seed: int) -> Path:
        return trial_dir(self.root, variant, seed)

    def poll(self) -> int:
        """Epochs written so far over all trials; announces newly finished trials."""
        done = 0
        for variant, seed in self.trials:
            directory = self._dir(variant, seed)
            records = directory / "records.jsonl"
            if records.is_file():
                rows = read_jsonl(records)
                done += sum(1 for r in rows if int(r.get("epoch", 0)) > 0)
            summary = directory / "summary.json"
            if (variant, seed) not in self._announced and summary.is_file():
                self._announced.add((variant, seed))
                reused = (variant, seed) in self._reused
                self.progress.message(trial_line(variant, seed, summary, reused=reused))
        finished = len(self._announced)
        detail = f"{finished}/{len(self.trials)} trials finished"
        if done == 0 and finished == 0:
            detail = "starting the workers, waiting for the first epoch"
        self.progress.update(done, detail=detail)
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except (OSError, ValueError):
                continue  # a file being replaced right now: read it next time

    def __enter__(self) -> ExperimentWatcher:
        # Trials finished before this run started are reused by the runner: say so.
        self._reused = {
            (v, s) for v, s in self.trials if (self._dir(v, s) / "summary.json").is_file()
        }
        self._thread = threading.Thread(target=self._run, name="lrlab-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(OSError, ValueError):
            self.poll()  # the final state, once


def trial_line(variant: str, seed: int, summary_path: Path, *, reused: bool = False) -> str:
    try:
        summary = read_json(summary_path)
    except (OSError, ValueError):
        return f"  {variant}/seed-{seed}: finished"
    final = summary.get("final") or {}
    shown = next(
        (
            f"{key} {float(final[key]):.4f}"
            for key in ("eval_accuracy", "eval_loss", "train_loss")
            if final.get(key) is not None
        ),
        "",
    )
    elapsed = summary.get("elapsed")
    tail = f", {elapsed:.1f} s" if isinstance(elapsed, (int, float)) else ""
    note = " (reused: finished in an earlier run)" if reused else ""
    return f"  {variant}/seed-{seed}: {summary.get('status', 'finished')}, {shown}{tail}{note}"

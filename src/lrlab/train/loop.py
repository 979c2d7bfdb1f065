"""The epochs of a ``fit`` run: updates, records, evaluation, checkpoints, messages.

:func:`lrlab.train.fitting.fit` sets a run up (budget, options, resume) and hands it to
:class:`EpochLoop`.

One epoch, read top to bottom (``k = accumulation_steps``)::

    set_epoch(train_data, epoch - 1)            # data order = f(seed, epoch)
    for group of k micro-batches:               # the last group of an epoch may be shorter
        schedule -> optimizer (update t = iteration, 0-based)
        for each micro-batch: loss = step_fn(model, batch); (loss / len(group)).backward()
        [unscale (fp16)] [clip_grad_norm_(grad_clip)] optimizer.step(); zero_grad()
        iteration += 1; on_step_end(run)
        every few updates: read losses from the device, check they are finite, on_log(run)
    record = {train means, evaluate(eval_data)}; on_epoch_end(run); append to records.jsonl
    checkpoint every ``checkpoint_every`` epochs

An LR-free optimizer's needs (Schedule-Free's train/eval switch around evaluation and
checkpoints, Prodigy's ``d`` in the records) are :mod:`lrlab.train.lrfree`'s hooks.

Budgets: ``epochs=N`` runs N full epochs; ``iterations=T`` runs until T optimizer updates,
so the last epoch may stop part-way (its record has ``"partial": true``; its train values
are means over the batches it ran; evaluation still follows it).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

import lrlab.stops as stops
from lrlab.batches import Batch, StepFn, set_epoch
from lrlab.errors import DataError
from lrlab.evaluate import evaluate
from lrlab.metrics import Metric
from lrlab.optim.groups import first_group_hyper
from lrlab.train.budget import Budget
from lrlab.train.callbacks import CallbackList
from lrlab.train.checkpoint import checkpoint_path, save_checkpoint
from lrlab.train.lrfree import LrFreeHooks
from lrlab.train.records import RecordWriter
from lrlab.train.runstate import RunState, StepLog
from lrlab.train.tally import Tally
from lrlab.train.update import Update, micro_batch_groups

# Losses are read from the device in batches: after this many updates or this many seconds,
# whichever comes first (and at every epoch end). Bounds how late divergence is noticed.
_FLUSH_UPDATES = 64
_FLUSH_SECONDS = 0.2

DIVERGED_HINT = (
    "Lower the (max) learning rate (lrlab find suggests one), add warm-up, or set grad_clip."
)


@dataclass(eq=False)
class EpochLoop:
    """The state and steps of one ``fit`` call, epoch after epoch."""

    run_state: RunState
    budget: Budget
    step: StepFn
    metric_fns: dict[str, Metric]
    hooks: CallbackList
    driver: Any  # lrlab.optim.driver.ScheduleDriver | None
    update: Update
    amp_dtype: torch.dtype | None
    device: torch.device
    train_data: Iterable[Batch]
    eval_data: Iterable[Batch] | None
    eval_batches: int | None
    writer: RecordWriter | None
    checkpoint_every: int | None
    fingerprint: dict[str, Any]
    elapsed_before: float
    on_divergence: str
    lrfree: LrFreeHooks
    t_start: float = field(default_factory=time.perf_counter)
    diverged_at: StepLog | None = None

    def __post_init__(self) -> None:
        run = self.run_state
        self.last_checkpoint: int | None = run.epoch if run.records else None
        self.params = [p for g in run.optimizer.param_groups for p in g["params"]]

    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self.t_start)

    # ---- the run -------------------------------------------------------------------------

    def run(self, rng_state: dict[str, Any] | None) -> None:
        run = self.run_state
        try:
            self.hooks.call("on_fit_start", run)
            self.lrfree.start()
            if not run.records and self.eval_data is not None:
                self._epoch_zero()
            if rng_state is not None:
                from lrlab.snapshot import restore_rng

                # Last, right before the next epoch: exactly where the checkpoint captured it.
                restore_rng(rng_state)
            while True:
                stop = self._epoch()
                if stop is not None:
                    run.stop_reason = stop
                    break
            if run.stop_reason in (stops.COMPLETED, stops.CALLBACK):
                self._maybe_checkpoint(final=True)
        except KeyboardInterrupt:
            run.stop_reason = "interrupted"
            run.message = self._interrupted_message()
        except BaseException as exc:
            run.stop_reason = "error"  # only callbacks' on_fit_end see it; the error propagates
            run.message = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                self.lrfree.finish()
            with contextlib.suppress(Exception):
                self.hooks.call("on_fit_end", run)
            raise
        self.lrfree.finish()
        self.hooks.call("on_fit_end", run)

    def _epoch_zero(self) -> None:
        run = self.run_state
        if self.driver is not None:
            self.driver.apply(0)  # so epoch 0 shows the LR the first update will use
        lr, momentum = first_group_hyper(run.optimizer)
        record: dict[str, Any] = {"epoch": 0, "iteration": 0, "lr": lr, "momentum": momentum}
        record.update(dict.fromkeys(["train_loss", *(f"train_{m}" for m in self.metric_fns)]))
        self._evaluate_into(record)
        self.lrfree.annotate(record, run.records)
        record["epoch_time"] = 0.0
        record["elapsed"] = self.elapsed()
        run.record = record
        self._commit(record)

    def _epoch(self) -> str | None:
        """Run one epoch; the stop reason when the run should end after it, else None."""
        run = self.run_state
        budget = self.budget
        run.epoch += 1
        run.batch = 0
        run.record = {}
        run.running = {}
        set_epoch(self.train_data, run.epoch - 1)
        self.lrfree.training()
        self.hooks.call("on_epoch_start", run)

        tally = Tally(list(self.metric_fns))
        has_step_hooks = self.hooks.has("on_step_end")
        has_log_hooks = self.hooks.has("on_log")
        k = budget.accumulation_steps
        stopped_by: str | None = None
        t0 = time.perf_counter()
        last_flush = t0
        run.optimizer.zero_grad(set_to_none=True)
        for group in micro_batch_groups(self.train_data, k):
            if self.driver is not None:
                self.driver.apply(run.iteration)
            losses = self._update(group, tally)
            run.iteration += 1
            run.batch += len(group)
            run.lr, run.momentum = first_group_hyper(run.optimizer)
            tally.add_update(run.iteration, run.epoch, run.lr, run.momentum, len(group))
            run.loss = losses[0] if len(losses) == 1 else losses  # read lazily, if at all
            if has_step_hooks and self.hooks.call("on_step_end", run):
                stopped_by = "callback"
            now = time.perf_counter()
            if tally.pending >= _FLUSH_UPDATES or now - last_flush >= _FLUSH_SECONDS:
                last_flush = now
                if self._flush(tally, has_log_hooks):
                    stopped_by = "diverged"
            if stopped_by is None and budget.cut_short(run.iteration):
                stopped_by = "budget"
            if stopped_by is not None:
                break
        if self._flush(tally, has_log_hooks):
            stopped_by = "diverged"
        epoch_time = time.perf_counter() - t0
        if run.batch == 0:
            raise DataError(
                f"train_data yielded no batches in epoch {run.epoch}.",
                hint="Pass a re-iterable (a list, a DataLoader, an lrlab loader), not a "
                "one-shot generator, and check the dataset is not empty.",
            )
        if budget.batches_per_epoch is None and stopped_by is None:
            budget.batches_per_epoch = run.batch  # learnt from the first full epoch
            run.batches_per_epoch = run.batch
        bpe = budget.batches_per_epoch
        partial = stopped_by is not None and (bpe is None or run.batch < bpe)

        record = self._train_record(tally, epoch_time, partial=partial)
        if stopped_by == "diverged":
            # The weights are not finite: evaluating them would only time NaNs.
            record.update(self._eval_keys_missing())
            run.stop_reason = "diverged"
            run.message = self._diverged_message()
        else:
            self._evaluate_into(record)
        self.lrfree.annotate(record, run.records)
        record["elapsed"] = self.elapsed()
        run.record = record
        if self.hooks.call("on_epoch_end", run) and stopped_by is None:
            stopped_by = "callback"
        self._commit(record)

        if stopped_by == "diverged":
            return "diverged"
        if stopped_by == "callback":
            run.message = f"A callback stopped the run in epoch {run.epoch}."
            return "callback"
        if stopped_by == "budget" or budget.done(run.epoch, run.iteration):
            return "completed"
        self._maybe_checkpoint(final=False)
        return None

    def _update(self, group: Sequence[Batch], tally: Tally) -> list[torch.Tensor]:
        """One optimizer update from a group of micro-batches; their (detached) losses.

        The hot path: nothing here reads a value back from the device.
        """
        run = self.run_state
        model, step, n = run.model, self.step, len(group)
        losses: list[torch.Tensor] = []
        for batch in group:
            out, _ = self.update.backward(step, model, batch, divisor=n)  # the group's mean
            detached = out.loss.detach()
            losses.append(detached)
            metrics = self._metrics(out) if self.metric_fns else ()
            tally.add_micro(detached, metrics, out.batch_size or 1)
        self.update.step()
        run.optimizer.zero_grad(set_to_none=True)
        return losses

    def _metrics(self, out: Any) -> list[torch.Tensor]:
        if not self.metric_fns:
            return []
        if out.outputs is None or out.targets is None:
            raise DataError(
                f"Training metrics {list(self.metric_fns)} were asked for, but the step "
                "function returned only a loss.",
                hint="Return lrlab.batches.StepOutput(loss, outputs, targets) from step_fn, "
                "or pass metrics=().",
            )
        with torch.no_grad():
            outputs = out.outputs.detach()
            return [fn(outputs, out.targets).detach() for fn in self.metric_fns.values()]

    def _flush(self, tally: Tally, has_log_hooks: bool) -> bool:
        """Read pending losses; True when one of them is the first non-finite loss."""
        steps = tally.flush()
        if not steps:
            return False
        run = self.run_state
        run.running = tally.means()
        if has_log_hooks:
            self.hooks.call("on_log", run, steps)
        if self.on_divergence == "ignore" or self.diverged_at is not None:
            return False
        for s in steps:
            if not math.isfinite(s.loss):
                self.diverged_at = s
                return True
        return False

    # ---- records ---------------------------------------------------------------------------

    def _train_record(self, tally: Tally, epoch_time: float, *, partial: bool) -> dict[str, Any]:
        run = self.run_state
        means = tally.means()
        record: dict[str, Any] = {
            "epoch": run.epoch,
            "iteration": run.iteration,
            "lr": run.lr,
            "momentum": run.momentum,
            "train_loss": means["loss"],
        }
        record.update({f"train_{m}": means[m] for m in self.metric_fns})
        record["epoch_time"] = epoch_time  # training only (data, forward, backward, update)
        if partial:
            record["partial"] = True
        return record

    def _eval_keys_missing(self) -> dict[str, Any]:
        if self.eval_data is None:
            return {}
        keys = ["eval_loss", *(f"eval_{m}" for m in self.metric_fns), "eval_time"]
        return dict.fromkeys(keys)

    def _evaluate_into(self, record: dict[str, Any]) -> None:
        if self.eval_data is None:
            return
        self.lrfree.averaged()
        t0 = time.perf_counter()
        values = evaluate(
            self.run_state.model,
            self.eval_data,
            self.step,
            metrics=self.metric_fns,
            max_batches=self.eval_batches,
            amp_dtype=self.amp_dtype,
        )
        # Keep train/eval keys in a stable order: eval_loss, eval_<metric>..., eval_time.
        partial = record.pop("partial", None)
        epoch_time = record.pop("epoch_time", None)
        record.update({f"eval_{k}": v for k, v in values.items()})
        record["epoch_time"] = epoch_time
        record["eval_time"] = time.perf_counter() - t0
        if partial is not None:
            record["partial"] = partial

    def _commit(self, record: dict[str, Any]) -> None:
        """The record is final: keep it and write it before anything else happens."""
        self.run_state.records.append(record)
        if self.writer is not None:
            self.writer.append(record)

    # ---- checkpoints -----------------------------------------------------------------------

    def _maybe_checkpoint(self, *, final: bool) -> None:
        """Save every ``checkpoint_every`` epochs, and once at the end (``final``)."""
        run = self.run_state
        every = self.checkpoint_every
        if every is None or self.writer is None or (not final and run.epoch % every != 0):
            return
        from lrlab.snapshot import capture_rng

        self.lrfree.averaged()  # Schedule-Free: save x (its authors' rule), resume from it
        save_checkpoint(
            checkpoint_path(self.writer.out_dir),
            {
                "epoch": run.epoch,
                "iteration": run.iteration,
                "elapsed": self.elapsed(),
                "stop_reason": run.stop_reason if final else None,
                "model": run.model.state_dict(),
                "optimizer": run.optimizer.state_dict(),
                "scaler": self.update.state_dict(),
                "rng": capture_rng(),
                "records": run.records,
                "callbacks": self.hooks.state_dict(),
                "fingerprint": self.fingerprint,
            },
        )
        self.last_checkpoint = run.epoch

    # ---- messages --------------------------------------------------------------------------

    def _diverged_message(self) -> str:
        s = self.diverged_at
        assert s is not None
        mom = f", momentum {s.momentum:.4g}" if s.momentum is not None else ""
        kept = len(self.run_state.records)
        return (
            f"Training diverged: the loss became {s.loss} at epoch {s.epoch}, iteration "
            f"{s.iteration} (lr {s.lr:.4g}{mom}). Stopped; the {kept} earlier epoch record(s) "
            f"are kept. {DIVERGED_HINT}"
        )

    def _interrupted_message(self) -> str:
        run = self.run_state
        done = [r["epoch"] for r in run.records if r.get("epoch", 0) >= 1]
        last = f"epoch {done[-1]}" if done else "no training epoch"
        where = f" in {self.writer.jsonl_path}" if self.writer is not None else ""
        msg = (
            f"Interrupted during epoch {run.epoch} (iteration {run.iteration}); the records up "
            f"to {last} are kept{where}."
        )
        if self.writer is not None and self.last_checkpoint is not None:
            msg += (
                f" The last checkpoint is epoch {self.last_checkpoint}: resume=True "
                "(CLI: --resume) continues from there."
            )
        elif self.writer is not None:
            msg += " No checkpoint was written yet (checkpoint_every), so a resume starts over."
        return msg

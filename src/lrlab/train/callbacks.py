"""Callbacks: plain objects with optional hooks, and the dispatcher the loop uses.

A callback is any object with some of these methods (missing ones are skipped; subclassing
:class:`Callback` is optional and only documents the hooks)::

    on_fit_start(run)              # before the epoch-0 evaluation (after restoring, on resume)
    on_epoch_start(run)            # an epoch is about to run (lrlab extension)
    on_step_end(run) -> bool|None  # after each optimizer update; True stops after this step
    on_log(run, steps)             # every few updates, with their StepLog list (lrlab extension)
    on_epoch_end(run) -> bool|None # record built, not yet written; add keys to run.record;
                                   # True stops after this epoch
    on_fit_end(run)                # always, also after divergence or Ctrl-C

``on_log`` exists so that per-step loggers do not force a device synchronisation on every
step: the loop hands over the losses of the last few updates in one batch (see
``lrlab.train.loop``). A callback that needs state across a resume defines ``state_dict()`` and
``load_state_dict(d)``; the loop stores it in checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lrlab.errors import InvalidArgument
from lrlab.train.runstate import RunState, StepLog

HOOKS = ("on_fit_start", "on_epoch_start", "on_step_end", "on_log", "on_epoch_end", "on_fit_end")


class Callback:
    """Base class documenting the hooks; every hook is optional and does nothing here.

    Example: stop once the eval accuracy reaches a target, and add a field to the records::

        class StopAtAccuracy(Callback):
            def __init__(self, target):
                self.target = target

            def on_epoch_end(self, run):
                run.record["reached"] = run.record.get("eval_accuracy", 0.0) >= self.target
                return run.record["reached"]
    """

    def on_fit_start(self, run: RunState) -> None:
        """Called once before training (after restoring a checkpoint when resuming)."""

    def on_epoch_start(self, run: RunState) -> None:
        """Called before each epoch; ``run.epoch`` is the epoch about to run (1-based)."""

    def on_step_end(self, run: RunState) -> bool | None:
        """Called after each optimizer update; return True to stop after this step."""

    def on_log(self, run: RunState, steps: Sequence[StepLog]) -> None:
        """Called every few updates with the updates since the last call."""

    def on_epoch_end(self, run: RunState) -> bool | None:
        """Called with ``run.record`` built; return True to stop after this epoch."""

    def on_fit_end(self, run: RunState) -> None:
        """Called once at the end, whatever the stop reason."""


class CallbackList:
    """Dispatches hooks to the callbacks that define them, in order.

    Hooks are bound once, so a hook nobody defines costs nothing in the loop; methods
    inherited unchanged from :class:`Callback` count as undefined.
    """

    def __init__(self, callbacks: Iterable[Any]) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if isinstance(cb, type):
                raise InvalidArgument(
                    f"callbacks contains the class {cb.__name__}, not an instance.",
                    hint=f"Pass {cb.__name__}(...) instead.",
                )
            if not any(callable(getattr(cb, h, None)) for h in HOOKS):
                raise InvalidArgument(
                    f"callbacks entry {cb!r} has none of the hooks {list(HOOKS)}.",
                    hint="A callback is an object with at least one of these methods.",
                )
        self._bound: dict[str, list[Any]] = {h: [] for h in HOOKS}
        for cb in self.callbacks:
            for hook in HOOKS:
                method = getattr(cb, hook, None)
                if callable(method) and getattr(type(cb), hook, None) is not getattr(
                    Callback, hook
                ):
                    self._bound[hook].append(method)

    def has(self, hook: str) -> bool:
        return bool(self._bound[hook])

    def call(self, hook: str, run: RunState, *args: Any) -> bool:
        """Call ``hook`` on every callback (all of them, even after one asked to stop);
        True when any returned True."""
        stop = False
        for method in self._bound[hook]:
            stop = bool(method(run, *args)) or stop
        return stop

    def state_dict(self) -> dict[str, Any]:
        """``{"<position>:<class name>": state}`` for callbacks with a ``state_dict()``."""
        return {
            _key(i, cb): cb.state_dict()
            for i, cb in enumerate(self.callbacks)
            if callable(getattr(cb, "state_dict", None))
        }

    def load_state_dict(self, states: Mapping[str, Any]) -> None:
        """Give each callback the state saved for the callback at the same position with the
        same class (callbacks added or removed since are simply not restored)."""
        for i, cb in enumerate(self.callbacks):
            state = states.get(_key(i, cb))
            if state is not None and callable(getattr(cb, "load_state_dict", None)):
                cb.load_state_dict(state)


def _key(index: int, callback: Any) -> str:
    return f"{index}:{type(callback).__qualname__}"


class TensorBoardLogger(Callback):
    """Write scalars to TensorBoard: per update (``step/loss``, ``step/lr``,
    ``step/momentum``) and per epoch (every numeric field of the record, ``epoch/<field>``).

    Everything is logged against the global step ``iteration`` (epoch scalars at the iteration
    where the epoch ended), so one event stream can be purged consistently on resume: events
    after the checkpoint's iteration, written by the killed run, are hidden (``purge_step``).
    Needs the ``tensorboard`` extra (``pip install 'lrlab[tensorboard]'``).
    """

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self._writer: Any = None
        self._logged = 0  # how many of run.records are in the event file

    def on_fit_start(self, run: RunState) -> None:
        writer_cls = _summary_writer_class()
        # Resuming: hide what the killed run logged after the checkpoint (everything, when it
        # died before its first checkpoint). Steps are 1-based update counts, so the
        # checkpoint's own last update (step == iteration) stays.
        purge = None
        if self.log_dir.is_dir() and any(self.log_dir.iterdir()):
            purge = run.iteration + 1 if run.records else 0
        self._writer = writer_cls(log_dir=str(self.log_dir), purge_step=purge)
        self._logged = len(run.records)

    def on_epoch_start(self, run: RunState) -> None:
        # The epoch-0 (evaluation only) record has no on_epoch_end of its own.
        for record in run.records[self._logged :]:
            self.log_record(record)
        self._logged = len(run.records)

    def on_log(self, run: RunState, steps: Sequence[StepLog]) -> None:
        w = self._writer
        if w is None:
            return
        for s in steps:
            w.add_scalar("step/loss", s.loss, s.iteration)
            w.add_scalar("step/lr", s.lr, s.iteration)
            if s.momentum is not None:
                w.add_scalar("step/momentum", s.momentum, s.iteration)

    def on_epoch_end(self, run: RunState) -> None:
        self.log_record(run.record)
        self._logged = len(run.records) + 1  # run.record is appended right after this hook

    def log_record(self, record: dict[str, Any]) -> None:
        if self._writer is None:
            return
        step = int(record.get("iteration", 0))
        for key, value in record.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            self._writer.add_scalar(f"epoch/{key}", float(value), step)
        self._writer.flush()

    def on_fit_end(self, run: RunState) -> None:
        if self._writer is not None:
            for record in run.records[self._logged :]:
                self.log_record(record)
            self._writer.close()
            self._writer = None


def _summary_writer_class() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch's module imports the tensorboard package
        raise InvalidArgument(
            "TensorBoard logging was asked for, but the 'tensorboard' package is not installed.",
            hint="pip install 'lrlab[tensorboard]', or leave tensorboard off.",
        ) from exc
    return SummaryWriter

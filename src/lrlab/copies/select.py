"""Which engine trains the copies: batched where the model allows, sequential otherwise.

Shared by the scan and ``find_lr``'s short trainings. The batched method has two engines: the
grouped one (:mod:`.grouped`) for plain ``Linear``/activation stacks trained on the CPU with
a criterion (not a ``step_fn``), and the general vmapped one (:mod:`.batched`), which also
takes over when the grouped engine declines before anything was recorded. The sequential
engine (:mod:`.sequential`) runs one copy at a time with a real torch optimizer: every model
and optimizer, the same numbers to float tolerance.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from lrlab.batches import StepFn, Unpack
from lrlab.copies.batched import BatchedEngine
from lrlab.copies.driving import Engine
from lrlab.copies.grouped import GroupedEngine
from lrlab.copies.linear_stack import find_linear_stack
from lrlab.copies.optimizer import CopyOptimizer, NotBatchable
from lrlab.copies.sequential import SequentialEngine, capture_tensors
from lrlab.errors import InvalidArgument, LrlabError
from lrlab.metrics import Metric
from lrlab.precision import FULL, Precision

METHODS = ("auto", "batched", "sequential")
R = TypeVar("R")


@dataclass
class Copies:
    """The objects every engine is built from: the private working model (its tensors are
    the start state), the step function, the optimizer recipe and one LR per copy.

    ``precision`` and ``grad_clip`` are the planned run's update
    (:class:`lrlab.train.update.Update`; its accumulation is the driving loop's:
    :func:`lrlab.copies.driving.run_schedule`). The batched engines clip (per copy) and
    accumulate but run in full precision, so a run under autocast trains its copies
    sequentially (:meth:`plain_update` says why)."""

    work: nn.Module
    step: StepFn
    criterion: Callable[[Any, Any], torch.Tensor] | None  # None when a step_fn was given
    unpack: Unpack | None
    device: torch.device
    recipe: CopyOptimizer
    lrs: list[float]
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    precision: Precision = FULL
    grad_clip: float | None = None

    def plain_update(self) -> str:
        """Why the batched engines cannot make this update (``""``: they can)."""
        if self.precision.enabled:
            name = self.precision.name
            return f"the batched engines train in full precision; this run has {name} autocast."
        return ""

    def batched(self) -> list[Callable[[], Engine]]:
        """Constructors of the batched engines to try, fastest first."""
        reason = self.plain_update()
        if reason:

            def refused() -> Engine:
                raise NotBatchable(reason)

            refused.__name__ = "refused"
            return [refused]
        stack = None
        # Measured faster on the CPU only; on a GPU the vmapped engine's kernels are the
        # ones the scan was designed around (and the grouped engine syncs every step).
        if self.criterion is not None and self.device.type == "cpu":
            stack, _ = find_linear_stack(self.work)

        def grouped() -> Engine:
            assert stack is not None and self.criterion is not None
            return GroupedEngine(
                self.work, stack, self.criterion, self.recipe, self.lrs,
                unpack=self.unpack, device=self.device, metrics=self.metrics,
                grad_clip=self.grad_clip,
            )  # fmt: skip

        def vmapped() -> Engine:
            self.work.train()
            return BatchedEngine(
                self.work, self.step, self.recipe, self.lrs, metrics=self.metrics,
                grad_clip=self.grad_clip,
            )  # fmt: skip

        grouped.__name__, vmapped.__name__ = "grouped", "vmapped"
        return [grouped, vmapped] if stack is not None else [vmapped]

    def sequential(self) -> list[Callable[[], Engine]]:
        """One constructor per copy; each resets the working model to the start state."""
        start = capture_tensors(self.work)

        def make(k: int) -> Callable[[], Engine]:
            return lambda: SequentialEngine(
                self.work, start, self.step, self.recipe, self.lrs[k], k, metrics=self.metrics,
                precision=self.precision, grad_clip=self.grad_clip,
            )  # fmt: skip

        return [make(k) for k in range(len(self.lrs))]


@dataclass
class Outcome(Generic[R]):
    """What :func:`train_copies` returns: the record, the method and engine that ran,
    notes (a fallback and why), and whether the run completed (``False``: Ctrl-C)."""

    record: R
    method: str
    engine: str
    notes: list[str]
    complete: bool


def train_copies(
    copies: Copies,
    method: str,
    new_record: Callable[[], R],
    drive: Callable[[Engine, R], None],
    touched: Callable[[R], bool],
    *,
    label: str = "training",
) -> Outcome[R]:
    """Run ``drive(engine, record)`` with the batched engines (``method`` ``"auto"`` or
    ``"batched"``), falling back to one sequential engine per copy.

    ``touched(record)``: whether anything was recorded — falling back is safe only before
    that (vmap failures surface as RuntimeError & co. on the first step or evaluation;
    later ones are real errors and propagate). A ``KeyboardInterrupt`` returns what was
    recorded with ``complete=False``.
    """
    notes: list[str] = []
    if method in ("auto", "batched"):
        reason = ""
        for factory in copies.batched():
            record = new_record()
            try:
                drive(factory(), record)
                return Outcome(record, "batched", factory.__name__, notes, True)
            except KeyboardInterrupt:
                return Outcome(record, "batched", factory.__name__, notes, False)
            except NotBatchable as exc:
                reason = str(exc)
            except LrlabError:
                raise
            except Exception as exc:
                if touched(record):
                    raise
                reason = f"{type(exc).__name__}: {exc}"
        if method == "batched":
            raise InvalidArgument(
                f"method='batched' cannot run this {label}: {reason}",
                hint="Use method='sequential' (or 'auto' to fall back automatically).",
            )
        note = f"batched {label} not possible ({reason}); ran the copies sequentially."
        warnings.warn(note, stacklevel=3)
        notes.append(note)
    record = new_record()
    try:
        for factory in copies.sequential():
            drive(factory(), record)
    except KeyboardInterrupt:
        return Outcome(record, "sequential", "sequential", notes, False)
    return Outcome(record, "sequential", "sequential", notes, True)

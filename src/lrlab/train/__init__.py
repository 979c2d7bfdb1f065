"""Training: ``fit`` (a plain loop with schedules, records, checkpoints and callbacks).

See ``docs/training.md`` for the loop, the budgets, the record format, checkpoints and
resuming, and callbacks with an example.
"""

from lrlab.train.callbacks import Callback, CallbackList, TensorBoardLogger
from lrlab.train.fitting import fit
from lrlab.train.progress import ProgressBar
from lrlab.train.records import read_records
from lrlab.train.result import STOP_REASONS, FitResult
from lrlab.train.runstate import RunState, StepLog

__all__ = [
    "STOP_REASONS",
    "Callback",
    "CallbackList",
    "FitResult",
    "ProgressBar",
    "RunState",
    "StepLog",
    "TensorBoardLogger",
    "fit",
    "read_records",
]

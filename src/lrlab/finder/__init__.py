"""The LR range test: :func:`range_test` sweeps the learning rate and returns a
:class:`RangeTestResult` (curves, why it stopped, suggestion, diagnosis).

* :mod:`lrlab.finder.settings` — :class:`RangeTestSettings`, the sweep's options, validated once.
* :mod:`lrlab.finder.maths` — pure maths: the LR of each step, the divergence rule.
* :mod:`lrlab.finder.sweep` — the loop (state-safe via :mod:`lrlab.snapshot`).
* :mod:`lrlab.finder.result` — the result dataclass and its JSON form.
* :mod:`lrlab.finder.plot` — the figure (matplotlib imported on use).
"""

from lrlab.finder.maths import SWEEPS, has_diverged, sweep_lrs
from lrlab.finder.result import STOP_REASONS, RangeTestResult
from lrlab.finder.settings import RangeTestSettings
from lrlab.finder.sweep import range_test

__all__ = [
    "STOP_REASONS",
    "SWEEPS",
    "RangeTestResult",
    "RangeTestSettings",
    "has_diverged",
    "range_test",
    "sweep_lrs",
]

"""Finding the learning rate: the range test and ``find_lr``.

:func:`range_test` sweeps the LR and returns a :class:`RangeTestResult` (curves, why it
stopped, the curve-only suggestion, diagnosis). :func:`find_lr` answers "which peak LR for
this planned run?": the range test proposes a window, short real trainings with the planned
schedule decide (:class:`FindResult`).

* :mod:`lrlab.finder.settings` — :class:`RangeTestSettings`, the sweep's options, validated once.
* :mod:`lrlab.finder.maths` — pure maths: the LR of each step, the divergence rule.
* :mod:`lrlab.finder.sweep` — the range test's loop (state-safe via :mod:`lrlab.snapshot`).
* :mod:`lrlab.finder.result`, :mod:`lrlab.finder.plot` — its result and figure.
* :mod:`lrlab.finder.find` — ``find_lr``'s search; :mod:`lrlab.finder.choose` its pure maths
  (window, candidates, the choice); :mod:`lrlab.finder.find_settings`,
  :mod:`lrlab.finder.holdout` (the judging batches), :mod:`lrlab.finder.planned` (the
  planned schedule at any peak and length), :mod:`lrlab.finder.find_result`,
  :mod:`lrlab.finder.find_plot`.
"""

from lrlab.finder.find import find_lr
from lrlab.finder.find_result import Candidate, FindResult
from lrlab.finder.find_settings import FindSettings
from lrlab.finder.maths import SWEEPS, has_diverged, sweep_lrs
from lrlab.finder.result import STOP_REASONS, RangeTestResult
from lrlab.finder.settings import RangeTestSettings
from lrlab.finder.sweep import range_test

__all__ = [
    "STOP_REASONS",
    "SWEEPS",
    "Candidate",
    "FindResult",
    "FindSettings",
    "RangeTestResult",
    "RangeTestSettings",
    "find_lr",
    "has_diverged",
    "range_test",
    "sweep_lrs",
]

"""Suggestions from range-test curves: pure curve maths (numpy only).

* :func:`suggest` — lrlab's default: a consensus of the rules with a confidence range, flags
  and min-LR rules (:class:`Suggestion`).
* Individual rules (``(lrs, smoothed losses) -> float | None``): :func:`steepest`,
  :func:`valley`, :func:`minimum_div10`, :func:`edge`; :data:`RULES` maps names to them.
* Min-LR rules: :func:`cyclic_min_lr`, :func:`one_cycle_min_lr`, :func:`onset`.
* :func:`diagnose` — the shape of a metric-vs-LR curve (:class:`Diagnosis`).
"""

from lrlab.suggest.consensus import smoothed_curve, suggest
from lrlab.suggest.diagnose import diagnose
from lrlab.suggest.members import MEMBERS
from lrlab.suggest.minlr import cyclic_min_lr, one_cycle_min_lr, onset
from lrlab.suggest.rules import RULES, edge, minimum_div10, steepest, valley
from lrlab.suggest.types import Diagnosis, MinLR, Suggestion

__all__ = [
    "MEMBERS",
    "RULES",
    "Diagnosis",
    "MinLR",
    "Suggestion",
    "cyclic_min_lr",
    "diagnose",
    "edge",
    "minimum_div10",
    "one_cycle_min_lr",
    "onset",
    "smoothed_curve",
    "steepest",
    "suggest",
    "valley",
]

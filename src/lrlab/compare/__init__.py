"""Beyond the learning rate: compare LR range tests across values of momentum, weight decay,
batch size or any optimizer / factory argument (Smith's disciplined approach).

* :func:`compare_range_tests` — one range test per candidate, same start, ranked
  (:mod:`lrlab.compare.run`); :func:`compare_range_tests_on_task` for built-in tasks.
* :class:`ComparisonResult` — curves, ranking, verdict; JSON and an overlaid plot.
* :func:`rank_candidates` — the pure ranking rule and "no clear winner" statistics
  (:mod:`lrlab.compare.ranking`).
"""

from lrlab.compare.ranking import CurveInput, Measures, Ranking, rank_candidates
from lrlab.compare.result import CandidateResult, ComparisonResult, Confirmation
from lrlab.compare.run import compare_range_tests
from lrlab.compare.task import compare_range_tests_on_task

__all__ = [
    "CandidateResult",
    "ComparisonResult",
    "Confirmation",
    "CurveInput",
    "Measures",
    "Ranking",
    "compare_range_tests",
    "compare_range_tests_on_task",
    "rank_candidates",
]

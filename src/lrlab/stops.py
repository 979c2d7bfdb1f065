"""Why a loop stopped: every stop reason lrlab records, and which loop records which.

A stop reason is a plain string in results and their files (JSON, YAML, ``summary.json``), so
results written by any version read back; this module is the one place that names them and
groups them. ``fit`` records :data:`FIT`, the range test :data:`RANGE_TEST`, a comparison's
one-cycle confirmation adds ``"skipped"``.
"""

from __future__ import annotations

COMPLETED = "completed"
DIVERGED = "diverged"
NON_FINITE = "non-finite loss"
CALLBACK = "callback"
INTERRUPTED = "interrupted"
DATA_EXHAUSTED = "data exhausted"
SKIPPED = "skipped"

STOP_REASONS: dict[str, str] = {
    COMPLETED: "the budget (fit) or the sweep (range test) ran to its end",
    DIVERGED: "the loss diverged: a non-finite training loss (fit), or the range test's "
    "divergence rule (the smoothed loss rose diverge_th above its best)",
    NON_FINITE: "the range test met a NaN/inf loss",
    CALLBACK: "a callback asked fit to stop",
    INTERRUPTED: "Ctrl-C: what was measured is kept, the run can resume",
    DATA_EXHAUSTED: "a one-shot iterator of batches ran out during the range test",
    SKIPPED: "not run: a comparison's confirmation without a max LR to train at",
}
"""Every stop reason -> what it means."""

FIT = (COMPLETED, DIVERGED, CALLBACK, INTERRUPTED)
RANGE_TEST = (COMPLETED, DIVERGED, NON_FINITE, INTERRUPTED, DATA_EXHAUSTED)
# fit runs that are over for good: an experiment never re-runs them ("interrupted" resumes).
FINISHED = (COMPLETED, DIVERGED, CALLBACK)
# range tests whose curve is all there is to measure (a saved one may be reused).
COMPLETE_CURVE = (COMPLETED, DIVERGED, NON_FINITE)
# where a curve ends because the loss blew up.
DIVERGENCE = (DIVERGED, NON_FINITE)

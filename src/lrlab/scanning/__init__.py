"""Look-ahead scan: many learning rates × horizons from one start state, trained at once.

``scan(model, criterion, train_data, lrs=..., horizons=(1, 2, 4, 8))`` answers seed 003's
question — "if I train for 1, 2, 4, 8 epochs at this learning rate, from where the model
is now, where do I end up?" — for K learning rates at once; ``RescanCallback`` repeats it
during ``lrlab.fit`` to follow how the sweet spot moves. See ``docs/scan.md``.
"""

from __future__ import annotations

from lrlab.scanning.callback import RescanCallback
from lrlab.scanning.result import Best, ScanResult
from lrlab.scanning.scan import check_horizons, check_lrs, log_lrs, scan

__all__ = [
    "Best",
    "RescanCallback",
    "ScanResult",
    "check_horizons",
    "check_lrs",
    "log_lrs",
    "scan",
]

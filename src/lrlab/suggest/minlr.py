"""Min-LR rules: where the low end of a cyclic or one-cycle schedule sits.

* Cyclic LR (Smith, 2017, "Cyclical learning rates for training neural networks", §3.3):
  ``base_lr = max_lr / 3`` to ``max_lr / 4``.
* One-cycle (Smith, 2018, "A disciplined approach to neural network hyper-parameters";
  Smith & Topin, 2019): the cycle starts at ``max_lr / 10`` to ``max_lr / 25``
  (``div_factor=25`` in ``torch.optim.lr_scheduler.OneCycleLR``).
* The learning onset (seed 002, 12 May 2019): on a log-scale sweep, the LR where the loss
  first starts to drop meaningfully — below it the model does not learn, so it is the
  lowest LR worth cycling down to.
"""

from __future__ import annotations

import numpy as np

from lrlab.errors import check
from lrlab.suggest.curve import finite_log_curve


def cyclic_min_lr(max_lr: float) -> tuple[float, float]:
    """``(max_lr / 4, max_lr / 3)``: Smith's base LR for cyclic schedules."""
    check(max_lr > 0, f"{max_lr=} must be > 0.")
    return (max_lr / 4.0, max_lr / 3.0)


def one_cycle_min_lr(max_lr: float) -> tuple[float, float]:
    """``(max_lr / 25, max_lr / 10)``: the starting LR of a one-cycle schedule."""
    check(max_lr > 0, f"{max_lr=} must be > 0.")
    return (max_lr / 25.0, max_lr / 10.0)


def onset(
    lrs: object, losses: object, fraction: float = 0.1, flat_ratio: float = 0.2
) -> float | None:
    """The learning onset: the first LR where the smoothed loss has made ``fraction`` of its
    total drop.

    With ``L_0`` the first smoothed loss and ``L_min`` its minimum, the onset is the first LR
    with ``L ≤ L_0 − fraction · (L_0 − L_min)`` (linearly interpolated in log LR). It is only
    meaningful when the sweep starts on the flat part of the curve: if the slope
    ``dL/dlog lr`` over the first tenth of the sweep is already more than ``flat_ratio`` of the
    steepest slope, the loss was falling from the start, the true onset lies below
    ``start_lr`` and the rule returns ``None`` (lower ``start_lr``).
    """
    check(0.0 < fraction < 1.0, f"{fraction=} must be in (0, 1).")
    x, y = finite_log_curve(lrs, losses)
    if y.size < 5:
        return None
    i_min = int(np.argmin(y))
    drop = y[0] - y[i_min]
    if i_min < 2 or drop <= 0:
        return None
    slope = np.gradient(y[: i_min + 1], x[: i_min + 1])
    steepest = float(slope.min())
    head = max(2, y.size // 10)
    start_slope = float(np.mean(slope[: min(head, i_min)]))
    if steepest >= 0 or start_slope < flat_ratio * steepest:
        return None
    level = y[0] - fraction * drop
    j = int(np.argmax(y[: i_min + 1] <= level))
    if j == 0:
        return None
    t = (y[j - 1] - level) / (y[j - 1] - y[j]) if y[j - 1] != y[j] else 1.0
    return float(10 ** (x[j - 1] + float(np.clip(t, 0.0, 1.0)) * (x[j] - x[j - 1])))

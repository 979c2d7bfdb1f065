r"""Known failure modes of learning-rate-free optimizers, read from a run's epoch records.

Pure functions over records (``iteration``, ``d``, ``train_loss``); ``fit`` calls
:func:`step_size_flags` after every epoch of a Prodigy / D-Adaptation run
(:mod:`lrlab.train.lrfree`) and writes what fires into the record's ``lrfree_flags``. A flag
is a string ``"<code>: <what happened and what to do>"``; :func:`flag_code` reads the code
back. The rules, for ``d`` the estimate (``d_0`` its start) and ``T`` the planned updates:

``d-stuck``
    ``d = d_0`` after :data:`STUCK_UPDATES` updates. Both estimators move ``d`` as soon as
    the iterate has left ``x_0`` along the gradients (``d̂ = r / ‖s‖₁ > 0`` from the second
    update), so an estimate still at ``d_0`` is not learning anything: gradients that are
    zero or do not reach the parameters, or a ``d_0`` so small that the run is spent before
    it matters — Prodigy #27 ("if ``d`` rises very slowly or not at all, bump up ``d0``").
``d-runaway``
    ``d`` grew more than :data:`RUNAWAY_FACTOR` × after the first :data:`SETTLED_FRACTION`
    of the run (and at least :data:`SETTLED_UPDATES` updates). The estimate is a lower bound
    of the distance to the solution that should settle early; one still growing by an order
    of magnitude late makes the step size rise with the length of training — Prodigy #37
    ("the learning rate rises mechanically" with the number of epochs; lower ``d_coef``,
    decay the LR multiplier).
``d-diverged``
    the training loss became non-finite while ``d`` was adapting — Prodigy #39 (``lr = 1``
    diverging from the start): lower the multiplier ``lr`` or ``d_coef``, set
    ``safeguard_warmup`` with a warm-up, or cap ``growth_rate``.

Schedule-Free's failure (evaluating the training sequence ``y`` instead of the average
``x``) is seen by the loop, not in the records: :data:`SF_TRAIN_MODE_EVAL`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

STUCK_UPDATES = 50
RUNAWAY_FACTOR = 10.0
SETTLED_FRACTION = 0.1
SETTLED_UPDATES = 100

D_STUCK = "d-stuck"
D_RUNAWAY = "d-runaway"
D_DIVERGED = "d-diverged"
SF_TRAIN_MODE_EVAL = "sf-train-mode-eval"
CODES = (D_STUCK, D_RUNAWAY, D_DIVERGED, SF_TRAIN_MODE_EVAL)

Record = Mapping[str, Any]


def flag_code(flag: str) -> str:
    """The code of a flag string (``"d-stuck: ..." -> "d-stuck"``)."""
    return flag.split(":", 1)[0].strip()


def raised(records: Sequence[Record]) -> list[str]:
    """Every flag written into ``records`` (``lrfree_flags``), in order."""
    return [f for r in records for f in (r.get("lrfree_flags") or ())]


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def step_size_flags(
    records: Sequence[Record], d0: float, total_updates: int | None = None
) -> list[str]:
    """The flags the last record of a Prodigy / D-Adaptation run raises (see the module
    docstring), each at most once per run: flags already in ``records`` are not repeated.

    Args:
        records: the epoch records so far, the last one the epoch just finished; each with
            ``iteration`` and ``d`` (records without ``d`` are ignored).
        d0: the estimate's start.
        total_updates: the run's planned updates ``T`` (``None``: unknown; the runaway rule
            then measures from the end of the first epoch).
    """
    rows = [r for r in records if _finite(r.get("d")) is not None]
    if not rows:
        return []
    last = rows[-1]
    it = int(last.get("iteration") or 0)
    d = float(last["d"])
    done = {flag_code(f) for f in raised(records[:-1])}
    out: list[str] = []
    if D_STUCK not in done and it >= STUCK_UPDATES and d <= d0 * (1 + 1e-9):
        out.append(
            f"{D_STUCK}: d is still d0 = {d0:.3g} after {it} updates: the estimate has not "
            "moved (Prodigy #27). Check the gradients reach the parameters, or raise d0 "
            "(e.g. 1e-5 to 1e-4)."
        )
    settle_at = max(SETTLED_FRACTION * (total_updates or 0), SETTLED_UPDATES)
    settled = [r for r in rows if int(r.get("iteration") or 0) >= settle_at]
    if D_RUNAWAY not in done and len(settled) >= 2:
        ref = float(settled[0]["d"])
        if ref > d0 * (1 + 1e-9) and d > RUNAWAY_FACTOR * ref:
            out.append(
                f"{D_RUNAWAY}: d grew {d / ref:.3g}× (to {d:.3g}) after update "
                f"{int(settled[0].get('iteration') or 0)}: the step size still rises late in "
                "the run (Prodigy #37). Lower d_coef (e.g. 0.5), or decay the lr multiplier "
                "(cosine)."
            )
    epoch = int(last.get("epoch", 0))
    diverged = epoch >= 1 and "train_loss" in last and _finite(last["train_loss"]) is None
    if D_DIVERGED not in done and diverged:
        d_lr = _finite(last.get("d_lr"))
        at = f"d·lr = {d_lr:.3g}, " if d_lr is not None else ""
        out.append(
            f"{D_DIVERGED}: training diverged in epoch {epoch} ({at}d = {d:.3g}, "
            f"{d / d0:.3g}× d0) (Prodigy #39). Lower the lr multiplier or d_coef, use a "
            "warm-up with safeguard_warmup=True, or cap growth_rate (e.g. 1.02)."
        )
    return out

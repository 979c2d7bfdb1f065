r"""Smith's cyclical family: ``one_cycle`` (``OneCycleLR``) and ``cyclic`` (``CyclicLR``).

Both move the momentum against the LR (Smith's cyclical momentum). Exactness: for every
``t < total_steps``, ``one_cycle(...)`` equals what ``torch.optim.lr_scheduler.OneCycleLR`` has
set after ``t`` calls to ``step()``, and ``cyclic(...)`` equals ``CyclicLR``, bit for bit; how
the fractional phase ends are kept exact is in ``docs/schedules.md``.

References: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks" (WACV 2017);
L. N. Smith & N. Topin, "Super-Convergence" (2017); L. N. Smith, "A disciplined approach to
neural network hyper-parameters: Part 1" (2018).
"""

from __future__ import annotations

import math

from lrlab import values as _checks
from lrlab.errors import InvalidArgument
from lrlab.schedules.core import Cosine, CyclicWave, Linear, Schedule, join
from lrlab.schedules.hyperschedule import HyperSchedule, record

ANNEAL_STRATEGIES = ("cos", "linear")

# --------------------------------------------------------------------------- one-cycle


def _one_cycle_layout(total_steps: int, pct_start: float, three_phase: bool) -> list[float]:
    """Torch's phase ends: phase k covers the steps ``t`` with ``ends[k-1] < t <= ends[k]``.

    Computed with torch's float operations (``OneCycleLR.__init__``) so that the phase
    boundaries and spans, hence every value, are identical.
    """
    ends = [float(pct_start * total_steps) - 1]
    if three_phase:
        ends.append(float(2 * pct_start * total_steps) - 2)
    ends.append(float(total_steps - 1))
    return ends


def _check_one_cycle_layout(
    ends: list[float], total_steps: int, pct_start: float, three_phase: bool
) -> None:
    """Every phase must contain at least one step, or torch silently skips it (or divides by 0)."""
    if ends[0] <= 0:
        minimum = math.floor(1 / pct_start) + 1
        raise InvalidArgument(
            f"total_steps={total_steps} is too small for pct_start={pct_start}: the warm-up "
            f"phase ends at pct_start * total_steps - 1 = {ends[0]:g}, which must be > 0 (at "
            f"0 torch divides by zero, below 0 it skips the warm-up).",
            hint=f"Use total_steps >= {minimum} or a larger pct_start.",
        )
    for k in range(1, len(ends)):
        first_step = math.floor(ends[k - 1]) + 1  # first integer step of phase k+1
        if first_step > ends[k]:
            name = ("warm-up", "annealing", "final annihilation")[k] if three_phase else "decay"
            raise InvalidArgument(
                f"total_steps={total_steps} with pct_start={pct_start}"
                f"{' and three_phase=True' if three_phase else ''} leaves the {name} phase "
                f"(steps in ({ends[k - 1]:g}, {ends[k]:g}]) without any step, so the schedule "
                f"would never follow it.",
                hint="Increase total_steps or move pct_start away from the edge.",
            )


def _momenta(base_momentum: float, max_momentum: float) -> tuple[float, float]:
    """Both momenta in ``[0, 1)``, ``base <= max``: the momentum moves against the LR."""
    base_momentum = _checks.momentum("base_momentum", base_momentum)
    max_momentum = _checks.momentum("max_momentum", max_momentum)
    if base_momentum > max_momentum:
        raise InvalidArgument(
            f"base_momentum={base_momentum} must be <= max_momentum={max_momentum}: the "
            f"momentum falls to base_momentum while the LR rises to max_lr."
        )
    return base_momentum, max_momentum


def one_cycle(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    cycle_momentum: bool = True,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> HyperSchedule:
    r"""Smith's one-cycle policy, identical to ``torch.optim.lr_scheduler.OneCycleLR``.

    With ``lr0 = max_lr / div_factor`` and ``lr_min = lr0 / final_div_factor``:

    * two phases: ``lr0 → max_lr`` over ``pct_start * T - 1`` steps, then
      ``max_lr → lr_min`` up to step ``T - 1``; momentum ``max_m → base_m → max_m``.
    * three phases (fastai / Smith): ``lr0 → max_lr → lr0`` symmetric around
      ``pct_start * T``, then ``lr0 → lr_min`` (the "annihilation"); momentum
      ``max_m → base_m → max_m`` then flat.

    Each phase anneals by ``anneal`` ("cos": ``end + (start - end) (cos(pi p) + 1) / 2``,
    "linear": ``start + (end - start) p``) with ``p`` the fraction of the phase done.

    Rejected (torch accepts them and does something else than asked): ``pct_start`` outside
    ``(0, 1)``, ``three_phase`` with ``pct_start > 0.5`` (the schedule would end mid-way down),
    a phase with no step (``total_steps`` too small), ``div_factor < 1`` or
    ``final_div_factor < 1`` (the "peak" or the "end" would not be one),
    ``base_momentum > max_momentum``, a momentum outside ``[0, 1)``, ``max_lr <= 0``.

    References: L. N. Smith & N. Topin, "Super-Convergence" (2017); L. N. Smith,
    "A disciplined approach to neural network hyper-parameters" (2018).
    """
    max_lr = _checks.positive("max_lr", max_lr)
    total_steps = _checks.integer("total_steps", total_steps, minimum=2)
    pct_start = _checks.real("pct_start", pct_start)
    if not 0.0 < pct_start < 1.0:
        raise InvalidArgument(f"pct_start={pct_start!r} must be in (0, 1).")
    anneal = _checks.choice("anneal", anneal, ANNEAL_STRATEGIES)
    div_factor = _checks.at_least(
        "div_factor", div_factor, 1.0, "the start LR max_lr / div_factor must not exceed max_lr."
    )
    final_div_factor = _checks.at_least(
        "final_div_factor",
        final_div_factor,
        1.0,
        "the final LR (max_lr / div_factor) / final_div_factor must not exceed the start LR.",
    )
    three_phase = _checks.flag("three_phase", three_phase)
    cycle_momentum = _checks.flag("cycle_momentum", cycle_momentum)
    base_momentum, max_momentum = _momenta(base_momentum, max_momentum)
    if three_phase and pct_start > 0.5:
        raise InvalidArgument(
            f"pct_start={pct_start} must be <= 0.5 with three_phase=True: the LR goes up for "
            f"pct_start and back down for pct_start of the steps, so 2 * pct_start must fit "
            f"in the schedule (torch would end it half-way down).",
        )
    ends = _one_cycle_layout(total_steps, pct_start, three_phase)
    _check_one_cycle_layout(ends, total_steps, pct_start, three_phase)

    initial_lr = max_lr / div_factor  # torch's group["initial_lr"]
    min_lr = initial_lr / final_div_factor  # torch's group["min_lr"]
    if three_phase:
        lr_points = [(initial_lr, max_lr), (max_lr, initial_lr), (initial_lr, min_lr)]
        momentum_points = [
            (max_momentum, base_momentum),
            (base_momentum, max_momentum),
            (max_momentum, max_momentum),
        ]
    else:
        lr_points = [(initial_lr, max_lr), (max_lr, min_lr)]
        momentum_points = [(max_momentum, base_momentum), (base_momentum, max_momentum)]

    piece = Cosine if anneal == "cos" else Linear
    starts = [0.0, *ends[:-1]]
    boundaries = [math.floor(end) + 1 for end in ends[:-1]]
    # Phase k starts at the fractional step starts[k]; joined at boundaries[k-1] it is fed
    # t - boundary, and offset = boundary - start restores t - start exactly.
    offsets = [0.0] + [b - s for b, s in zip(boundaries, starts[1:], strict=True)]
    spans = [end - start for start, end in zip(starts, ends, strict=True)]

    def phases(points: list[tuple[float, float]]) -> Schedule:
        pieces = [
            piece(a, b, span, offset)
            for (a, b), span, offset in zip(points, spans, offsets, strict=True)
        ]
        return join(pieces, boundaries)

    return record(
        one_cycle,
        locals(),
        total_steps=total_steps,
        lr=phases(lr_points),
        momentum=phases(momentum_points) if cycle_momentum else None,
    )


# --------------------------------------------------------------------------- cyclic


def cyclic(
    base_lr: float,
    max_lr: float,
    step_size_up: int,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    cycle_momentum: bool = True,
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
) -> HyperSchedule:
    r"""Smith's cyclical learning rate, identical to ``torch.optim.lr_scheduler.CyclicLR``.

    The LR climbs from ``base_lr`` to ``max_lr`` in ``step_size_up`` steps and back in
    ``step_size_down`` (default: ``step_size_up``), forever; the amplitude is constant
    ("triangular"), halves every cycle ("triangular2") or decays as ``gamma ** t``
    ("exp_range"). The momentum moves the opposite way between ``max_momentum`` and
    ``base_momentum``. Formulas: :class:`lrlab.schedules.core.CyclicWave`.

    Rejected: LRs ``<= 0``, ``max_lr < base_lr``, ``step_size_up < 1``, ``gamma`` outside
    ``(0, 1]`` for "exp_range" (the amplitude would grow without bound), a ``gamma`` other
    than 1 with another mode (torch ignores it silently), ``base_momentum > max_momentum``.

    Reference: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks" (2017).
    """
    base_lr = _checks.positive("base_lr", base_lr)
    max_lr = _checks.positive("max_lr", max_lr)
    if max_lr < base_lr:
        raise InvalidArgument(f"max_lr={max_lr} must be >= base_lr={base_lr}.")
    step_size_up = _checks.integer("step_size_up", step_size_up, minimum=1)
    if step_size_down is not None:
        step_size_down = _checks.integer("step_size_down", step_size_down, minimum=0)
    mode = _checks.choice("mode", mode, ("triangular", "triangular2", "exp_range"))
    gamma = _checks.positive("gamma", gamma)
    if mode == "exp_range" and gamma > 1.0:
        raise InvalidArgument(
            f"gamma={gamma} must be in (0, 1] with mode='exp_range': the amplitude is scaled "
            f"by gamma ** step and would grow without bound."
        )
    if mode != "exp_range" and gamma != 1.0:
        raise InvalidArgument(
            f"gamma={gamma} is only used by mode='exp_range' (mode={mode!r} ignores it).",
            hint="Use mode='exp_range' or drop gamma.",
        )
    cycle_momentum = _checks.flag("cycle_momentum", cycle_momentum)
    base_momentum, max_momentum = _momenta(base_momentum, max_momentum)
    down = step_size_up if step_size_down is None else step_size_down
    lr = CyclicWave(base_lr, max_lr, step_size_up, down, mode, gamma)
    momentum = CyclicWave(base_momentum, max_momentum, step_size_up, down, mode, gamma, True)
    return record(
        cyclic, locals(), total_steps=None, lr=lr, momentum=momentum if cycle_momentum else None
    )

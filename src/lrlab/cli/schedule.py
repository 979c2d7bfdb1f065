"""``lrlab schedule POLICY [options]``: preview a schedule as a table, JSON and a plot.

A thin layer over :func:`lrlab.schedules.build`: the options present on the command line become
the policy's parameters (``--max-lr`` → ``max_lr``); an option the policy does not take is an
error that lists the ones it does. Examples::

    lrlab schedule one-cycle --max-lr 0.1 --steps 1000 --plot one_cycle.png
    lrlab schedule cyclic --base-lr 0.001 --max-lr 0.01 --step-size-up 500 --mode triangular2
    lrlab schedule piecewise-constant --lr 0.1 --milestones 40000,60000 --json
    lrlab schedule wsd --max-lr 3e-4 --steps 10000 --warmup-steps 500 --decay-steps 2000 \
        --decay 1-sqrt --plot wsd.png

Every policy of :data:`lrlab.schedules.POLICIES` previews, except those that wrap another
schedule (``warmup``: use the Python API).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lrlab._io import save_figure
from lrlab.cli._common import QuietOpt, console, err_console, parse_floats
from lrlab.errors import InvalidArgument

if TYPE_CHECKING:  # numpy and the schedules load when the command runs, not for --help
    import numpy as np

    from lrlab.schedules import HyperSchedule

TABLE_ROWS = 11


def _option(param: str) -> str:
    return "--" + param.replace("_", "-")


def _preview_length(sched: HyperSchedule, steps: int | None) -> int:
    """``--steps``, else the schedule's length, else a length that shows its shape."""
    if steps is not None:
        if steps < 1:
            raise InvalidArgument(f"--steps {steps} must be >= 1.")
        return steps
    if sched.total_steps is not None:
        return sched.total_steps
    p = sched.params
    if sched.name == "cyclic":
        down = p["step_size_up"] if p["step_size_down"] is None else p["step_size_down"]
        return 3 * (p["step_size_up"] + down)
    if sched.name == "piecewise-constant" and p["milestones"]:
        return int(p["milestones"][-1] * 1.25) + 1
    if sched.name == "step-decay":
        return 5 * p["step_size"]
    if p.get("warmup_steps"):  # inverse-sqrt: the warm-up and nine times as long after it
        return 10 * p["warmup_steps"]
    return 100


def _table_steps(lrs: np.ndarray) -> list[int]:
    """Evenly spaced steps plus the LR peak, so the table shows the schedule's shape."""
    import numpy as np

    n = len(lrs)
    picks = {round(float(x)) for x in np.linspace(0, n - 1, min(TABLE_ROWS, n))}
    picks.add(int(np.argmax(lrs)))
    return sorted(picks)


def preview(
    policy: str, params: dict[str, Any], steps: int | None
) -> tuple[HyperSchedule, dict[str, Any]]:
    """Build the schedule and its preview payload (pure: no printing, no files)."""
    from lrlab.schedules import build, policy_name, policy_params

    key = policy_name(policy)
    allowed = policy_params(key)
    if "schedule" in allowed:  # a wrapper around another schedule: not expressible as options
        raise InvalidArgument(f"{key!r} wraps another schedule: it is Python-only.")
    if "total_steps" in allowed and "total_steps" not in params and steps is not None:
        params = {**params, "total_steps": steps}  # --steps doubles as the schedule's length
    unknown = [p for p in params if p not in allowed]
    if unknown:
        raise InvalidArgument(
            f"{', '.join(_option(p) for p in unknown)} does not apply to {key}.",
            hint=f"Its options: {', '.join(_option(p) for p in allowed)}.",
        )
    missing = [p for p, spec in allowed.items() if spec.default is spec.empty and p not in params]
    if missing:
        hint = " (or --steps)" if missing == ["total_steps"] else ""
        raise InvalidArgument(f"{key} needs {', '.join(_option(p) for p in missing)}{hint}.")
    sched = build(key, **params)
    n = _preview_length(sched, steps)
    lrs = sched.lrs(n)
    momentums = sched.momentums(n)
    payload = {
        "schedule": sched.to_dict(),
        "total_steps": sched.total_steps,
        "steps": n,
        "lr": lrs.tolist(),
        "momentum": None if momentums is None else momentums.tolist(),
    }
    return sched, payload


def _table(sched: HyperSchedule, payload: dict[str, Any]) -> Table:
    import numpy as np

    table = Table()
    table.add_column("step", justify="right")
    table.add_column("lr", justify="right")
    moms = payload["momentum"]
    if moms is not None:
        table.add_column("momentum", justify="right")
    lrs = np.asarray(payload["lr"])
    for t in _table_steps(lrs):
        row = [str(t), f"{lrs[t]:.6g}"]
        if moms is not None:
            row.append(f"{moms[t]:.4f}")
        table.add_row(*row)
    return table


def _save_plot(sched: HyperSchedule, steps: int, path: Path) -> Path:
    from lrlab.schedules.plot import plot_schedule

    path.parent.mkdir(parents=True, exist_ok=True)
    ax = plot_schedule(sched, steps=steps)
    return save_figure(ax.figure, path, dpi=120)


def schedule(
    policy: Annotated[
        str,
        typer.Argument(
            help="A policy of lrlab.schedules.POLICIES, e.g. one-cycle, cosine, wsd, "
            "warmup-linear; an unknown name lists them all.",
            metavar="POLICY",
        ),
    ],
    steps: Annotated[
        int | None,
        typer.Option("--steps", "-n", help="Steps to preview; also total_steps if not given."),
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="LR (constant, decays).")] = None,
    max_lr: Annotated[float | None, typer.Option("--max-lr", help="Peak LR.")] = None,
    base_lr: Annotated[float | None, typer.Option("--base-lr", help="Cyclic lower LR.")] = None,
    total_steps: Annotated[
        int | None, typer.Option("--total-steps", help="Schedule length in updates.")
    ] = None,
    pct_start: Annotated[
        float | None, typer.Option("--pct-start", help="One-cycle: warm-up share.")
    ] = None,
    anneal: Annotated[str | None, typer.Option("--anneal", help="'cos' or 'linear'.")] = None,
    div_factor: Annotated[
        float | None, typer.Option("--div-factor", help="One-cycle: start = max/this.")
    ] = None,
    final_div_factor: Annotated[
        float | None, typer.Option("--final-div-factor", help="One-cycle: end = start/this.")
    ] = None,
    three_phase: Annotated[
        bool | None, typer.Option("--three-phase/--two-phase", help="One-cycle layout.")
    ] = None,
    cycle_momentum: Annotated[
        bool | None,
        typer.Option("--cycle-momentum/--no-cycle-momentum", help="Move momentum against the LR."),
    ] = None,
    base_momentum: Annotated[
        float | None, typer.Option("--base-momentum", help="Momentum at the LR peak.")
    ] = None,
    max_momentum: Annotated[
        float | None, typer.Option("--max-momentum", help="Momentum at the LR ends.")
    ] = None,
    step_size_up: Annotated[
        int | None, typer.Option("--step-size-up", help="Cyclic: updates base → max.")
    ] = None,
    step_size_down: Annotated[
        int | None, typer.Option("--step-size-down", help="Cyclic: max → base.")
    ] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="triangular | triangular2 | exp_range.")
    ] = None,
    gamma: Annotated[
        float | None, typer.Option("--gamma", help="Decay factor (step-decay, exp_range).")
    ] = None,
    milestones: Annotated[
        str | None, typer.Option("--milestones", help="Steps, e.g. '40000,60000'.")
    ] = None,
    factor: Annotated[
        float | None, typer.Option("--factor", help="LR factor at each milestone.")
    ] = None,
    step_size: Annotated[
        int | None, typer.Option("--step-size", help="Step decay: updates per step.")
    ] = None,
    warmup_steps: Annotated[
        int | None,
        typer.Option(
            "--warmup-steps", help="Linear warm-up (cosine, warmup-*, wsd, inverse-sqrt)."
        ),
    ] = None,
    decay_steps: Annotated[
        int | None, typer.Option("--decay-steps", help="WSD: updates of the final decay.")
    ] = None,
    decay: Annotated[
        str | None, typer.Option("--decay", help="WSD decay: cosine | linear | 1-sqrt.")
    ] = None,
    min_lr_ratio: Annotated[
        float | None, typer.Option("--min-lr-ratio", help="WSD: LR at the ends, x max_lr.")
    ] = None,
    num_cycles: Annotated[
        float | None, typer.Option("--num-cycles", help="Warmup-cosine: waves (0.5: half).")
    ] = None,
    timescale: Annotated[
        int | None, typer.Option("--timescale", help="Inverse-sqrt: default --warmup-steps.")
    ] = None,
    final_lr: Annotated[
        float | None, typer.Option("--final-lr", help="Cosine: LR at the end.")
    ] = None,
    warmup_start_lr: Annotated[
        float | None, typer.Option("--warmup-start-lr", help="Cosine: LR of step 0.")
    ] = None,
    momentum: Annotated[float | None, typer.Option("--momentum", help="Constant's.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG here.")] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print the values as JSON instead of a table.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write schedule.json and schedule.png here."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Preview a learning-rate schedule: LR and momentum per step (table, JSON, plot)."""
    from lrlab import _io
    from lrlab.rundir import check_out_dir, check_out_file

    if out is not None:
        check_out_dir(out)
    if plot is not None:
        check_out_file(plot, option="--plot")

    given = {
        "lr": lr,
        "max_lr": max_lr,
        "base_lr": base_lr,
        "total_steps": total_steps,
        "pct_start": pct_start,
        "anneal": anneal,
        "div_factor": div_factor,
        "final_div_factor": final_div_factor,
        "three_phase": three_phase,
        "cycle_momentum": cycle_momentum,
        "base_momentum": base_momentum,
        "max_momentum": max_momentum,
        "step_size_up": step_size_up,
        "step_size_down": step_size_down,
        "mode": mode,
        "gamma": gamma,
        "milestones": None if milestones is None else parse_floats(milestones, name="--milestones"),
        "factor": factor,
        "step_size": step_size,
        "warmup_steps": warmup_steps,
        "decay_steps": decay_steps,
        "decay": decay,
        "min_lr_ratio": min_lr_ratio,
        "num_cycles": num_cycles,
        "timescale": timescale,
        "final_lr": final_lr,
        "warmup_start_lr": warmup_start_lr,
        "momentum": momentum,
    }
    params = {k: v for k, v in given.items() if v is not None}
    sched, payload = preview(policy, params, steps)

    if json_:
        typer.echo(json.dumps(_io.jsonable(payload)))
    else:
        settings = ", ".join(f"{k}={v}" for k, v in sched.params.items() if v is not None)
        console.print(f"[bold]{sched.name}[/bold]: {settings}", highlight=False)
        console.print(_table(sched, payload))
    written = []
    if out is not None:
        written.append(_io.write_json(out / "schedule.json", payload))
        written.append(_save_plot(sched, payload["steps"], out / "schedule.png"))
    if plot is not None:
        written.append(_save_plot(sched, payload["steps"], plot))
    if not quiet:
        for path in written:
            err_console.print(f"wrote {path}")

"""``lrlab train``: one training run of a task with a schedule, as a one-variant, one-seed
experiment.

The options become an :class:`lrlab.experiment.Experiment`, :func:`lrlab.experiment.
build_trial` builds its objects (the one builder and seeding recipe) and
:func:`lrlab.experiment.trials.train_trial` runs ``lrlab.fit`` into ``--out``.

Examples::

    lrlab train --task digits-mlp --schedule one-cycle --max-lr 0.1 --epochs 10 --out runs/oc
    lrlab train --task digits-mlp --lr 0.01 --epochs 10 --out runs/control      # constant LR
    lrlab train --task mnist1d-cnn --schedule cyclic --base-lr 0.001 --max-lr 0.01 \\
        --param step_size_up=200 --iterations 2000 --optimizer adam
    lrlab train --task digits-mlp ... --out runs/oc --resume    # continue a killed run

The run directory gets ``records.jsonl`` (one line per epoch, as it happens),
``checkpoint.pt`` (every ``--checkpoint-every`` epochs), ``summary.json`` (the
``FitResult``), and ``records.csv`` / ``tensorboard/`` on request. At the end the final
record is printed as a table (stdout).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lrlab.cli._common import (
    DeviceOpt,
    ModelOpt,
    OptionalTaskOpt,
    QuietOpt,
    SeedOpt,
    check_counts,
    check_one_source,
    check_rates,
    console,
    err_console,
)
from lrlab.errors import Diverged, Interrupted, InvalidArgument
from lrlab.rundir import check_out_dir, locked

# The experiment's one variant (and its name: the run directory is --out itself).
RUN = "train"
# Without --schedule: one-cycle when --max-lr is given, constant with --lr, else "none" (the
# task optimizer's own LR throughout).
DEFAULT_SCHEDULE_WITH_MAX_LR = "one-cycle"
DEFAULT_SCHEDULE_WITH_LR = "constant"


def train(
    task: OptionalTaskOpt = None,
    model: ModelOpt = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            "-s",
            help="one-cycle | cyclic | cosine | step-decay | piecewise-constant | constant | "
            "none. Default: one-cycle with --max-lr, constant with --lr, else none (the "
            "task's LR).",
        ),
    ] = None,
    max_lr: Annotated[
        float | None, typer.Option("--max-lr", help="Peak LR (one-cycle, cyclic).")
    ] = None,
    lr: Annotated[
        float | None, typer.Option("--lr", help="LR of constant / decay schedules.")
    ] = None,
    base_lr: Annotated[float | None, typer.Option("--base-lr", help="Cyclic lower LR.")] = None,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Another schedule parameter KEY=VALUE (repeatable), e.g. pct_start=0.25.",
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", "-e", help="Budget in epochs (task default).")
    ] = None,
    iterations: Annotated[
        int | None, typer.Option("--iterations", "-i", help="Budget in optimizer updates.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", "-b", help="Batch size (task default).")
    ] = None,
    optimizer: Annotated[
        str | None, typer.Option("--optimizer", help="sgd | adam | adamw | ... (task default).")
    ] = None,
    momentum: Annotated[
        float | None, typer.Option("--momentum", help="SGD momentum, or Adam's beta1.")
    ] = None,
    weight_decay: Annotated[
        float | None, typer.Option("--weight-decay", help="Weight decay (task default).")
    ] = None,
    grad_clip: Annotated[float | None, typer.Option("--grad-clip", help="Max grad norm.")] = None,
    accumulation_steps: Annotated[
        int, typer.Option("--accumulation-steps", help="Micro-batches per update.")
    ] = 1,
    amp: Annotated[
        str | None, typer.Option("--amp", help="bf16 | fp16 (CUDA) | off; default: the task's.")
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory (default runs/train/<task>)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its checkpoint.")
    ] = False,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", help="Checkpoint every N epochs.")
    ] = 1,
    eval_batches: Annotated[
        int | None, typer.Option("--eval-batches", help="Evaluate on the first N batches.")
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Also write records.csv.")] = False,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Also log to <out>/tensorboard.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Train one model with a learning-rate schedule; records every epoch, resumable."""
    from lrlab.experiment.trials import build_trial, train_trial
    from lrlab.train.budget import check_budget
    from lrlab.values import momentum as check_momentum
    from lrlab.values import non_negative

    # Every number checked here, by its option's name, before anything is built.
    check_counts(epochs=epochs, iterations=iterations, batch_size=batch_size,
                 accumulation_steps=accumulation_steps, checkpoint_every=checkpoint_every,
                 eval_batches=eval_batches)  # fmt: skip
    check_rates(lr=lr, max_lr=max_lr, base_lr=base_lr, grad_clip=grad_clip)
    if momentum is not None:
        check_momentum("--momentum", momentum)
    if weight_decay is not None:
        non_negative("--weight-decay", weight_decay)
    run_dir = check_out_dir(out if out is not None else default_run_dir(task, model))
    spec = schedule_spec(schedule, lr=lr, max_lr=max_lr, base_lr=base_lr, extra=params or [])
    if epochs is not None and iterations is not None:
        check_budget(epochs, iterations)  # the one-line error fit gives
    exp = one_run_experiment(
        task,
        model,
        schedule=spec,
        seed=seed,
        epochs=epochs,
        iterations=iterations,
        batch_size=batch_size,
        optimizer={"name": optimizer, "lr": lr if lr is not None else max_lr,
                   "momentum": momentum, "weight_decay": weight_decay},
        grad_clip=grad_clip,
        accumulation_steps=accumulation_steps,
        amp=amp,
        device=device,
        checkpoint_every=checkpoint_every,
        eval_batches=eval_batches,
    )  # fmt: skip
    with locked(run_dir):  # one writer (fit takes the same lock, re-entrant)
        setup = build_trial(exp, RUN, seed)
        # `--resume` may extend the budget: what a checkpoint must match leaves it out.
        resumable = {k: v for k, v in setup.config.items() if k not in ("fingerprint", "budget")}
        setup = dataclasses.replace(setup, config=resumable)
        result = train_trial(
            exp, setup, run_dir, resume=resume, quiet=quiet, csv=csv, tensorboard=tensorboard
        )
        summary = result.save(run_dir / "summary.json")
    if result.stop_reason == "interrupted":
        raise Interrupted(
            result.message, hint="Run the same command with --resume to continue the run."
        )
    console.print(final_table(result))
    if not quiet:
        err_console.print(f"wrote {summary}", highlight=False)
    if result.stop_reason == "diverged":
        raise Diverged(result.message)


def default_run_dir(task: str | None, model: str | None) -> Path:
    """``runs/train/<task>`` (the task's name without options), or ``runs/train/<module.
    function>`` for ``--model``."""
    name = task.split(":", 1)[0] if task is not None else str(model).replace(":", ".")
    return Path("runs") / "train" / name


def one_run_experiment(
    task: str | None,
    model: str | None,
    *,
    schedule: dict[str, Any] | None,
    seed: int,
    optimizer: dict[str, Any],
    amp: str | None,
    eval_batches: int | None,
    **fields: Any,
) -> Any:
    """The :class:`~lrlab.experiment.Experiment` of one run: variant :data:`RUN` with
    ``schedule`` (``None``: the optimizer's LR), one seed, ``--task`` or ``--model``.

    ``optimizer``: overrides of the task's optimizer (``None`` values keep the task's);
    ``amp``: ``None`` is the task's on CUDA, ``off`` full precision; ``fields``: the
    experiment's other fields (budget, batch size, clipping, device, ...)."""
    from lrlab.experiment import Experiment
    from lrlab.tasks import get_task

    check_one_source(task, model)
    if task is not None:
        get_task(task)  # an unknown name: one line with the closest names, before anything
    precision: Any = amp
    if amp is not None and amp.lower() in ("off", "none", "false"):
        precision = False
    return Experiment(
        name=RUN,
        task=task,
        factory=model,
        seeds=[seed],
        optimizer={k: v for k, v in optimizer.items() if v is not None},
        variants=[{"name": RUN, "schedule": schedule}],
        amp=precision,
        eval={"batches": eval_batches},
        **{k: v for k, v in fields.items() if v is not None},
    )


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["pct_start=0.25", "three_phase=true"]`` → ``{"pct_start": 0.25, "three_phase": True}``
    (values read as YAML scalars; numbers like ``1e-3`` as floats)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not key:
            raise InvalidArgument(
                f"--param {item!r} is not KEY=VALUE.", hint="For example --param pct_start=0.25."
            )
        value: Any = yaml.safe_load(raw)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        out[key] = value
    return out


def schedule_spec(
    name: str | None,
    *,
    lr: float | None,
    max_lr: float | None,
    base_lr: float | None,
    extra: list[str] | dict[str, Any],
) -> dict[str, Any] | None:
    """The schedule the options describe, as a policy and its parameters without its length
    (``None`` for ``--schedule none``): ``--lr`` / ``--max-lr`` / ``--base-lr`` fill the
    parameters of the same name, ``--param KEY=VALUE`` the others; ``fit`` binds
    ``total_steps`` to the run (:func:`lrlab.train.budget.bind_schedule`)."""
    from lrlab.schedules import policy_name, policy_params
    from lrlab.train.budget import LENGTH_PARAMS

    if name is None:
        if max_lr is not None:
            name = DEFAULT_SCHEDULE_WITH_MAX_LR
        elif lr is not None:
            name = DEFAULT_SCHEDULE_WITH_LR
        else:
            return None
    if name.lower() == "none":
        return None
    key = policy_name(name)
    allowed = policy_params(key)
    given = {"lr": lr, "max_lr": max_lr, "base_lr": base_lr}
    params = {k: v for k, v in given.items() if v is not None and k in allowed}
    ignored = [k for k, v in given.items() if v is not None and k not in allowed]
    if "schedule" in allowed:
        raise InvalidArgument(
            f"The {key} policy wraps another schedule, which the command line cannot express.",
            hint="Use --schedule cosine --param warmup_steps=N, or lrlab.schedules.warmup(...) "
            "from Python.",
        )
    if "max_lr" in ignored and "lr" in allowed and "lr" not in params:
        params["lr"] = max_lr  # a policy with one LR (constant, cosine, ...): --max-lr is it
        ignored.remove("max_lr")
    if ignored:
        raise InvalidArgument(
            f"{', '.join('--' + k.replace('_', '-') for k in ignored)} does not apply to the "
            f"{key} schedule.",
            hint=f"Its parameters: {', '.join(allowed)} (others via --param KEY=VALUE).",
        )
    params.update(extra if isinstance(extra, dict) else parse_params(extra))
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise InvalidArgument(
            f"--param {', '.join(unknown)} does not apply to the {key} schedule.",
            hint=f"Its parameters: {', '.join(allowed)}.",
        )
    missing = [
        p
        for p, spec in allowed.items()
        if spec.default is spec.empty and p not in params and p not in LENGTH_PARAMS
    ]
    if missing:
        flags = {"lr": "--lr", "max_lr": "--max-lr", "base_lr": "--base-lr"}
        named = ", ".join(flags.get(p, f"--param {p}=...") for p in missing)
        hint = "lrlab find suggests a max LR." if "max_lr" in missing else None
        raise InvalidArgument(f"The {key} schedule needs {named}.", hint=hint)
    return {"name": key, **params}


def build_schedule(
    name: str | None,
    *,
    lr: float | None,
    max_lr: float | None,
    base_lr: float | None,
    extra: dict[str, Any],
    total_steps: int | None,
) -> Any:
    """The ``HyperSchedule`` the options describe for a run of ``total_steps`` updates
    (:func:`schedule_spec`, bound to its length); ``None`` for ``--schedule none``."""
    from lrlab.train.budget import bind_schedule

    spec = schedule_spec(name, lr=lr, max_lr=max_lr, base_lr=base_lr, extra=extra)
    return bind_schedule(spec, total_steps)


def final_table(result: Any) -> Table:
    """The final record (and the best value of each measurement) as a rich table."""
    from lrlab.train.progress import format_value

    final = result.final
    best = result.best
    title = f"{result.stop_reason}: epoch {result.epochs}, iteration {result.iterations}"
    table = Table(title=title)
    table.add_column("field")
    table.add_column("final", justify="right")
    table.add_column("best (epoch)", justify="right")
    for key, value in final.items():
        if key in ("epoch", "iteration"):
            continue
        b = best.get(key)
        table.add_row(
            key, format_value(value), f"{format_value(b['value'])} ({b['epoch']})" if b else ""
        )
    return table

"""``lrlab train``: one training run of a task with a schedule; a thin layer over ``lrlab.fit``.

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
import math
from collections.abc import Mapping
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
    console,
    err_console,
    load_task_or_factory,
)
from lrlab.errors import Diverged, Interrupted, InvalidArgument

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
        str | None, typer.Option("--amp", help="bf16 | fp16 (CUDA) | off (task default).")
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
    from lrlab.devices import resolve_device
    from lrlab.train import fit

    the_task = load_task_or_factory(task, model, optimizer=optimizer, batch_size=batch_size)
    dev = resolve_device(device)
    data = the_task.data(seed=seed, device=dev)
    net = the_task.model(seed=seed, device=dev)
    opt = the_task.make_optimizer(
        net, lr=lr if lr is not None else max_lr, **_optimizer_overrides(the_task, momentum,
                                                                         weight_decay)
    )  # fmt: skip
    if epochs is None and iterations is None:
        epochs = the_task.epochs
    total = _planned_updates(data.train, epochs, iterations, accumulation_steps)
    sched = build_schedule(
        schedule,
        lr=lr,
        max_lr=max_lr,
        base_lr=base_lr,
        extra=parse_params(params or []),
        total_steps=total,
    )
    run_dir = out if out is not None else Path("runs") / "train" / the_task.name
    # The task's AMP setting is meant for CUDA; an explicit --amp is passed on (fit checks it).
    if amp is None:
        amp_value: Any = the_task.amp if dev.type == "cuda" else False
    else:
        amp_value = False if amp.lower() in ("off", "none", "false") else amp
    config = {
        "task": the_task.name,
        "seed": seed,
        "batch_size": batch_size or the_task.batch_size,
        "optimizer": {"name": type(opt).__name__, **_hyper_defaults(opt)},
    }
    result = fit(
        net,
        opt,
        the_task.criterion(),
        data.train,
        schedule=sched,
        epochs=epochs,
        iterations=iterations,
        eval_data=data.eval,
        metrics=_metrics_of(the_task),
        grad_clip=grad_clip,
        accumulation_steps=accumulation_steps,
        amp=amp_value,
        out_dir=run_dir,
        csv=csv,
        checkpoint_every=checkpoint_every,
        resume=resume,
        quiet=quiet,
        tensorboard=tensorboard,
        eval_batches=eval_batches,
        config=config,
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


def _metrics_of(task: Any) -> Any:
    """A task's metrics as ``fit`` takes them: names, or a user task's ``{name: fn}``."""
    metrics = task.metrics
    return dict(metrics) if isinstance(metrics, Mapping) else list(metrics)


def _optimizer_overrides(
    task: Any, momentum: float | None, weight_decay: float | None
) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if weight_decay is not None:
        overrides["weight_decay"] = weight_decay
    if momentum is not None:
        if task.optimizer.name in ("adam", "adamw", "nadam", "radam"):
            beta2 = tuple(task.optimizer.kwargs.get("betas", (0.9, 0.999)))[1]
            overrides["betas"] = (momentum, beta2)
        else:
            overrides["momentum"] = momentum
    return overrides


def _hyper_defaults(opt: Any) -> dict[str, Any]:
    keys = ("lr", "momentum", "betas", "weight_decay", "nesterov")
    return {k: opt.defaults[k] for k in keys if k in opt.defaults}


def _planned_updates(
    train: Any, epochs: int | None, iterations: int | None, accumulation_steps: int
) -> int | None:
    if iterations is not None:
        return iterations
    try:
        n = len(train)
    except TypeError:
        return None
    return None if epochs is None else epochs * math.ceil(n / max(accumulation_steps, 1))


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


def build_schedule(
    name: str | None,
    *,
    lr: float | None,
    max_lr: float | None,
    base_lr: float | None,
    extra: dict[str, Any],
    total_steps: int | None,
) -> Any:
    """The ``HyperSchedule`` the options describe (``None`` for ``--schedule none``).

    ``--lr`` / ``--max-lr`` / ``--base-lr`` fill the parameters of the same name, and
    ``total_steps`` is the run's number of optimizer updates when the policy takes one.
    """
    from lrlab.schedules import build, policy_name, policy_params

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
    params.update(extra)
    if "total_steps" in allowed and "total_steps" not in params and total_steps is not None:
        params["total_steps"] = total_steps
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise InvalidArgument(
            f"--param {', '.join(unknown)} does not apply to the {key} schedule.",
            hint=f"Its parameters: {', '.join(allowed)}.",
        )
    missing = [p for p, spec in allowed.items() if spec.default is spec.empty and p not in params]
    if missing:
        flags = {"lr": "--lr", "max_lr": "--max-lr", "base_lr": "--base-lr"}
        named = ", ".join(flags.get(p, f"--param {p}=...") for p in missing)
        hint = "lrlab find suggests a max LR." if "max_lr" in missing else None
        raise InvalidArgument(f"The {key} schedule needs {named}.", hint=hint)
    return build(key, **params)


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

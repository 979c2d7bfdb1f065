"""``lrlab scan``: the look-ahead scan on a built-in task or on your own model factory.

A thin layer over :func:`lrlab.scan`: builds the task's model (seeded), data, loss and
optimizer (:mod:`lrlab.tasks`), trains a copy per learning rate for every horizon, prints
the best LR per horizon with its tolerance band, and writes ``scan.json``, ``scan.png``
(one panel per horizon) and ``scan_heatmap.png`` into ``--out``. Examples::

    lrlab scan --task function-log --lrs 1e-6:100:64 --horizons 1,2,4,8 --optimizer adam
    lrlab scan --task mnist1d-mlp --horizons 1,2 --unit epochs --eval-on eval
    lrlab scan --model mypkg.models:factory --lrs 1e-4:1:16 --horizons 10,100 --unit steps
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lrlab.cli._common import (
    DeviceOpt,
    ModelOpt,
    OptionalTaskOpt,
    QuietOpt,
    SeedOpt,
    check_counts,
    console,
    err_console,
    fmt_lr,
    load_task_or_factory,
    parse_range,
)
from lrlab.errors import Interrupted, InvalidArgument
from lrlab.rundir import check_out_dir, locked, save_or_rescue, write_result_files

if TYPE_CHECKING:  # torch-heavy: imported inside the functions so `--help` stays fast
    from rich.table import Table

    from lrlab.scanning import ScanResult

JSON_NAME = "scan.json"
PNG_NAME = "scan.png"
HEATMAP_NAME = "scan_heatmap.png"
DEFAULT_COUNT = 32
EVAL_ON = ("train", "eval")


def parse_lrs(spec: str | None, default: tuple[float, float]) -> list[float]:
    """``"1e-6:100:64"`` → 64 log-spaced LRs; ``"1e-6:100"`` → 32; ``None`` → the task's window.

    The bounds are checked here so that the message names the option.
    """
    if spec is None:
        start, end, count = default[0], default[1], None
    else:
        start, end, count = parse_range(spec, name="--lrs")
    count = DEFAULT_COUNT if count is None else count
    if count < 1:
        raise InvalidArgument(f"--lrs {spec}: the count must be >= 1 (got {count}).")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise InvalidArgument(
            f"--lrs {spec}: learning rates must be finite numbers.",
            hint="For example --lrs 1e-6:100:64.",
        )
    if not (start > 0 and end > 0):
        raise InvalidArgument(
            f"--lrs {spec}: learning rates must be positive.", hint="For example --lrs 1e-6:100:64."
        )
    if start > end:
        raise InvalidArgument(f"--lrs {spec}: START must not exceed END.")
    from lrlab.scanning import log_lrs

    return log_lrs(start, end, count)


def parse_horizons(spec: str) -> list[int]:
    """``"1,2,4,8"`` → ``[1, 2, 4, 8]`` (order and positivity are checked by ``scan``)."""
    try:
        return [int(p) for p in spec.split(",") if p.strip()]
    except ValueError as exc:
        raise InvalidArgument(
            f"--horizons {spec!r} is not a comma-separated list of integers.",
            hint="For example --horizons 1,2,4,8.",
        ) from exc


def load_scan_task(task: str | None, model: str | None) -> Any:
    """The :class:`lrlab.tasks.Task` named by ``--task`` or built from ``--model``."""
    return load_task_or_factory(task, model)


def run_scan(
    task: Any,
    *,
    lrs: list[float],
    horizons: list[int],
    unit: str = "epochs",
    optimizer: str | None = None,
    stop_factor: float | None = 1.1,
    mask_stopped: bool = True,
    eval_on: str = "train",
    method: str = "auto",
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
) -> ScanResult:
    """Build the task's objects (seeded) and scan; no printing, no files.

    Without ``optimizer`` the task's own optimizer (class and hyper-parameters, fresh state)
    is used; a name (``"sgd"``, ``"adam"``, ``"adamw"``) replaces it with torch's defaults.
    """
    from lrlab.devices import resolve_device
    from lrlab.scanning import scan

    if eval_on not in EVAL_ON:
        raise InvalidArgument(f"--eval-on {eval_on!r} must be one of {EVAL_ON}.")
    dev = resolve_device(device)
    model = task.model(seed=seed, device=dev)
    data = task.data(seed=seed, device=dev, batch_size=batch_size)
    if eval_on == "eval" and data.eval is None:
        raise InvalidArgument(
            f"--eval-on eval, but task {task.name!r} has no evaluation data.",
            hint="Use --eval-on train (seed 003 measures on the training data).",
        )
    result = scan(
        model,
        task.criterion(),
        data.train,
        lrs=lrs,
        horizons=horizons,
        unit=unit,
        optimizer=optimizer if optimizer is not None else task.make_optimizer(model),
        eval_data=data.eval if eval_on == "eval" else None,
        metrics=list(task.metrics) or None,
        stop_factor=stop_factor,
        mask_stopped=mask_stopped,
        method=method,
        seed=seed,
        device=dev,
        progress=progress,
    )
    result.config.update({"task": task.name, "eval_on": eval_on, "batch_size": batch_size})
    return result


def write_outputs(result: ScanResult, out: Path) -> tuple[Path, Path, Path]:
    """``scan.json``, ``scan.png`` and ``scan_heatmap.png`` in ``out`` (no pyplot); an
    interrupted scan as ``scan.partial.*``, beside a complete one, never over it."""
    from matplotlib.figure import Figure

    n = len(result.horizons)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.0 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for extra in axes[n:]:
        extra.set_visible(False)
    result.plot(axes=axes[:n])
    heat = Figure(figsize=(8.0, 1.5 + 0.5 * n))
    result.heatmap(ax=heat.add_subplot())
    json_path, png_path, heat_path = write_result_files(
        out, complete=bool(result.complete), save_json=result.save, json_name=JSON_NAME,
        figures=[(PNG_NAME, fig, 110), (HEATMAP_NAME, heat, 110)],
    )  # fmt: skip
    return json_path, png_path, heat_path


def _engine(result: ScanResult) -> str:
    engine = (result.config or {}).get("engine")
    return f" ({engine} engine)" if engine else ""


def summary_table(result: ScanResult, tolerance: float = 0.05) -> Table:
    """Best LR, its band, the loss there, and how many LRs were stopped, per horizon."""
    from rich.table import Table

    title = f"look-ahead scan — {result.config.get('task', '')}".rstrip(" —")
    table = Table(title=title, caption=f"initial loss {fmt_lr(result.initial_loss)}; band: "
                  f"within {tolerance:.0%} of the best loss; method {result.method}"
                  f"{_engine(result)}")  # fmt: skip
    for column in (f"horizon ({result.unit})", "best lr", "band", "loss", "stopped", "diverged"):
        table.add_column(column, justify="right")
    for h, best in enumerate(result.best(tolerance=tolerance)):  # type: ignore[union-attr]
        status = result.status[h]
        table.add_row(
            str(best.horizon),
            f"[bold green]{fmt_lr(best.lr)}[/]",
            f"{fmt_lr(best.low)} – {fmt_lr(best.high)}",
            fmt_lr(best.value),
            str(status.count("stopped")),
            str(status.count("diverged")),
        )
    return table


def scan_command(
    task: OptionalTaskOpt = None,
    model: ModelOpt = None,
    lrs: Annotated[
        str | None,
        typer.Option("--lrs", help="START:END[:COUNT] log-spaced (default: task's window, 32)."),
    ] = None,
    horizons: Annotated[
        str, typer.Option("--horizons", help="Training lengths, increasing: '1,2,4,8'.")
    ] = "1,2,4,8",
    unit: Annotated[str, typer.Option("--unit", help="'epochs' or 'steps'.")] = "epochs",
    optimizer: Annotated[
        str | None,
        typer.Option("--optimizer", help="'sgd', 'adam' or 'adamw' (default: the task's)."),
    ] = None,
    stop_factor: Annotated[
        float,
        typer.Option("--stop-factor", help="Stop an LR above this × initial loss (0: never)."),
    ] = 1.1,
    keep_stopped: Annotated[
        bool,
        typer.Option("--keep-stopped", help="Keep training stopped LRs (measure later horizons)."),
    ] = False,
    eval_on: Annotated[
        str, typer.Option("--eval-on", help="'train' (seed 003) or 'eval' data.")
    ] = "train",
    method: Annotated[
        str, typer.Option("--method", help="'auto', 'batched' or 'sequential'.")
    ] = "auto",
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Training batch size (default: the task's).")
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("runs/scan"),
) -> None:
    """Look-ahead scan: train a copy per LR for each horizon; print the best LR per horizon."""
    check_out_dir(out)  # before any work: a bad --out never costs a scan
    check_counts(batch_size=batch_size)
    spec = load_scan_task(task, model)
    lr_list = parse_lrs(lrs, tuple(spec.lr_range))
    with locked(out):
        result = run_scan(
            spec,
            lrs=lr_list,
            horizons=parse_horizons(horizons),
            unit=unit,
            optimizer=optimizer,
            stop_factor=None if stop_factor == 0 else stop_factor,
            mask_stopped=not keep_stopped,
            eval_on=eval_on,
            method=method,
            batch_size=batch_size,
            seed=seed,
            device=device,
            progress=not quiet,
        )
        console.print(summary_table(result))  # first: shown even when the disk is full
        for note in result.notes:
            err_console.print(f"note: {note}")
        json_path, png_path, heat_path = save_or_rescue(
            lambda d: write_outputs(result, d), out, what="scan"
        )
    if not quiet:
        err_console.print(f"wrote {json_path}, {png_path} and {heat_path}")
    if not result.complete:
        raise Interrupted(
            f"Scan interrupted; the cells measured so far were saved to {json_path} (a complete "
            "scan there is kept).",
            hint="Run the command again for the full grid.",
        )

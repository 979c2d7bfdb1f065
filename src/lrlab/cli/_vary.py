"""``lrlab find --vary NAME=V1,V2,...``: compare range tests across values of one
hyper-parameter (a thin layer over :func:`lrlab.compare.compare_range_tests_on_task`).

Writes ``vary.json`` and ``vary.png`` into ``--out``, prints the ranking as a table, the
verdict, and the max LR each candidate allows. Examples::

    lrlab find --task mnist1d-mlp --vary momentum=0.99,0.97,0.95,0.9
    lrlab find --task mnist1d-mlp --vary weight_decay=1e-3,1e-4,1e-5,1e-6 --confirm-epochs 5
    lrlab find --task digits-mlp --vary batch_size=32,64,128 --workers 2
    lrlab find --task mnist1d-cnn --vary momentum=0.99,0.95,0.9 --repeats 3
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from rich.table import Table

from lrlab.cli._common import fmt_lr
from lrlab.errors import Interrupted, InvalidArgument, LrlabError
from lrlab.rundir import save_or_rescue, write_result_files

JSON_NAME = "vary.json"
PNG_NAME = "vary.png"


def _scalar(text: str) -> Any:
    """``"64"`` → 64, ``"1e-3"`` → 0.001, ``"true"`` → True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return text.strip()


def parse_vary_option(spec: str) -> dict[str, list[Any]]:
    """``"momentum=0.99,0.97"`` → ``{"momentum": [0.99, 0.97]}``."""
    name, eq, rest = spec.partition("=")
    values = [p for p in (v.strip() for v in rest.split(",")) if p]
    if not eq or not name.strip() or not values:
        raise InvalidArgument(
            f"--vary {spec!r} is not NAME=V1,V2,...",
            hint="For example --vary momentum=0.99,0.97,0.95,0.9 or "
            "--vary weight_decay=1e-3,1e-4,1e-5.",
        )
    return {name.strip(): [_scalar(v) for v in values]}


def ranking_table(result: Any) -> Table:
    """One row per candidate, best first: the measures the ranking read and why.

    ``lowest loss``: the smoothed minimum ± its standard error; ``LR limit``: where the loss
    climbs back to the common level (``≥``: not reached in the window); ``max lr``: the
    candidate's own suggestion; ``eval <metric>``: the best reached (metric mode);
    ``1cycle loss``: the eval loss after the confirmation run. The reasons are printed below it
    (:func:`reasons_lines`)."""
    task = result.config.get("task")
    table = Table(title=f"{result.name} comparison" + (f" — {task}" if task else ""))
    ranking = result.ranking
    metric = ranking.settings.get("metric") if ranking else None
    confirmed = any(c.confirmation is not None for c in result.candidates)
    for col in ("#", "value", "lowest loss", "at lr", "LR limit", "max lr"):
        table.add_column(col, justify="left" if col == "value" else "right", no_wrap=True)
    if metric:
        table.add_column(f"eval {metric}", justify="right", no_wrap=True)
    if confirmed:
        table.add_column("1cycle loss", justify="right", no_wrap=True)
    order = ranking.order if ranking else range(len(result.candidates))
    for k in order:
        cand = result.candidates[k]
        m = ranking.measures[k] if ranking else None
        limit = "—"
        if m is not None and m.lr_limit is not None:
            limit = ("≥ " if m.limit_kind == "censored" else "") + fmt_lr(m.lr_limit)
        star = ranking is not None and ranking.recommended == k
        row = [
            str(ranking.ranks[k]) if ranking else "",
            f"[bold green]{cand.value}[/]" if star else str(cand.value),
            "—" if m is None or m.best_loss is None else f"{m.best_loss:.4g} ±{m.se:.2g}",
            fmt_lr(None if m is None else m.lr_best),
            limit,
            fmt_lr(cand.suggested_lr),
        ]
        if metric:
            row.append(fmt_lr(None if m is None else m.metric_best, 4))
        if confirmed:
            conf = cand.confirmation
            row.append("—" if conf is None else fmt_lr(conf.eval_loss, 4))
        table.add_row(*row)
    return table


def reasons_lines(result: Any) -> list[str]:
    """``"1. momentum=0.9: clearly the best loss"`` per candidate, best first."""
    ranking = result.ranking
    if ranking is None:
        return []
    lines = []
    for k in ranking.order:
        why = ranking.reasons[k].split(" — ")[0].split(": ", 1)[-1]
        lines.append(f"{ranking.ranks[k]}. {result.candidates[k].label}: {why}")
    return lines


def write_vary_outputs(
    result: Any, out: Path, *, complete: bool | None = None
) -> tuple[Path, Path]:
    """``vary.json`` and ``vary.png`` in ``out`` (no pyplot state, no global backend); an
    interrupted comparison (or ``complete=False``: some candidates failed) as
    ``vary.partial.*``, never over a complete one."""
    from matplotlib.figure import Figure

    if complete is None:
        complete = result.stop_reason != "interrupted"
    has_metric = any(any(k != "loss" for k in c.range_test.eval) for c in result.candidates)
    fig = Figure(figsize=(8, 7 if has_metric else 5))
    if has_metric:
        ax, metric_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    else:
        ax, metric_ax = fig.add_subplot(), None
    result.plot(ax=ax, metric_ax=metric_ax)
    fig.tight_layout()
    json_path, png_path = write_result_files(
        out, complete=complete, save_json=result.save, json_name=JSON_NAME,
        figures=[(PNG_NAME, fig, 120)],
    )  # fmt: skip
    return json_path, png_path


def run_vary_command(
    task: Any,
    vary: str,
    *,
    out: Path,
    quiet: bool,
    console: Any,
    err_console: Any,
    **options: Any,
) -> None:
    """Run the comparison for ``lrlab find --vary``, print and save it."""
    from lrlab.compare import compare_range_tests_on_task

    spec = parse_vary_option(vary)

    def announce(cand: Any) -> None:
        if not quiet:
            rt = cand.range_test
            runs = f" × {len(cand.runs)} runs" if cand.repeats else ""
            err_console.print(
                f"{cand.label}: {rt.num_steps} steps{runs} ({rt.stop_reason}), "
                f"suggested max lr {fmt_lr(cand.suggested_lr)}"
            )

    try:
        result = compare_range_tests_on_task(task, spec, on_candidate=announce, **options)
    except LrlabError as exc:
        partial = getattr(exc, "partial_result", None)
        if partial is not None:
            json_path, _ = save_or_rescue(  # some candidates failed: not the complete file
                lambda d: write_vary_outputs(partial, d, complete=False), out, what="comparison"
            )
            err_console.print(f"saved the finished candidates to {json_path}")
        raise
    console.print(ranking_table(result))  # first: shown even when the disk is full
    for line in reasons_lines(result):
        console.print(line)
    console.print(f"[bold]verdict[/]: {result.verdict}")
    for note in result.ranking.notes if result.ranking else []:
        console.print(f"note: {note}")
    lrs = ", ".join(f"{c.value}: {fmt_lr(c.suggested_lr)}" for c in result.candidates)
    console.print(f"max lr each {result.name} allows (its suggestion): {lrs}")
    if result.confirmed is not None:
        console.print(
            f"one-cycle confirmation: lowest eval loss with {result.name}={result.confirmed}"
        )
    json_path, png_path = save_or_rescue(
        lambda d: write_vary_outputs(result, d), out, what="comparison"
    )
    if not quiet:
        err_console.print(f"wrote {json_path} and {png_path}")
    if result.stop_reason == "interrupted":
        raise Interrupted(
            f"Comparison interrupted after {len(result.candidates)} candidate(s); what was "
            f"measured was saved to {json_path}.",
            hint="Run the command again for every candidate.",
        )

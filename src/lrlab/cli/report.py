"""``lrlab report RUN_DIR``: one self-contained HTML file from any lrlab run directory.

A thin layer over :func:`lrlab.report.write_report`. ``RUN_DIR`` is what another command
wrote (``lrlab find``, ``scan``, ``train``, ``compare``, ``demo``, ``find --vary``) or a
directory holding several of them; a single result file works too. Examples::

    lrlab report runs/demo                          # -> runs/demo/report.html
    lrlab report runs/find --out find.html
    lrlab report runs/my-experiment --title "One-cycle vs step decay, ResNet-20"

The path of the report is printed on stdout (so ``xdg-open "$(lrlab report DIR -q)"``
works).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lrlab._io import write_text
from lrlab.cli._common import QuietOpt, console, err_console


def report(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="A directory written by lrlab (or one result file).",
            show_default=False,
            metavar="RUN_DIR",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The HTML file to write (default RUN_DIR/report.html)."),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Page title (default: from the contents).")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Write one self-contained HTML report of a run directory.

    Range tests, schedules, training curves (mean ± std over seeds), the comparison table,
    the configuration and the environment; figures are embedded, so the file opens anywhere
    without network. The path of the report is printed."""
    from lrlab.report.html import build_report, default_output
    from lrlab.rundir import check_out_file, save_or_rescue

    target = check_out_file(out if out is not None else default_output(run_dir))
    if not quiet:
        err_console.print(f"Reading {run_dir} ...", highlight=False)
    html = build_report(
        run_dir,
        title=title,  # a damaged file is named, never skipped silently:
        on_problem=lambda p: err_console.print(f"lrlab: warning: {p}", markup=False),
    )
    path = save_or_rescue(lambda d: write_text(d / target.name, html), target.parent, what="report")
    console.print(str(path), highlight=False, markup=False, soft_wrap=True)

"""``lrlab compare --preset NAME --task A[,B...]``: a preset experiment per task, each shown
as ``lrlab compare`` shows one, then the performance profile across the tasks (a thin layer
over :func:`lrlab.experiment.presets.run_preset`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lrlab.cli._common import err_console, print_whole


def run_preset_command(
    preset: str,
    tasks: str | None,
    *,
    epochs: int | None,
    seeds: Sequence[int] | None,
    figures: bool,
    out: Path,
    quiet: bool,
    **run: Any,
) -> None:
    from lrlab.cli.compare import show_experiment
    from lrlab.experiment.presets import run_preset

    names = [t.strip() for t in (tasks or "").split(",") if t.strip()]
    result = run_preset(preset, names, epochs=epochs, seeds=seeds, out=out, quiet=quiet, **run)
    for experiment in result.experiments:
        show_experiment(experiment, figures=figures, quiet=quiet)
    if result.profile_dir is None:
        return
    from lrlab.analysis.profiles import to_rich

    directory = Path(result.profile_dir)
    if figures:
        from lrlab.report.experiment_figures import save_profile_figure

        save_profile_figure(result.profiles, directory / "profile.png")
    table = to_rich(result.profiles)
    print_whole(table)
    if not quiet:
        shown = ", ".join(p.name for p in sorted(directory.iterdir()))
        err_console.print(f"Wrote {shown} to {directory}", highlight=False)

"""The comparison table as text: rows of cells, then rich (terminal), markdown or CSV.

The display formats (rich, markdown) show ``mean ± std`` cells; CSV carries the raw numbers
(``<column>_mean``, ``<column>_std``, ``<column>_n``) for spreadsheets and scripts.
"""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING

from lrlab.analysis.aggregate import Comparison, Stat, VariantSummary

if TYPE_CHECKING:  # rich is a core dependency, but only the terminal format needs it
    from rich.table import Table


def _fmt(value: float, digits: int) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}f}"


def _pm(stat: Stat, digits: int) -> str:
    """``mean ± std`` (just the mean for one seed, ``—`` when nothing was measured)."""
    if stat.n == 0:
        return "—"
    if stat.n == 1 or not math.isfinite(stat.std):
        return _fmt(stat.mean, digits)
    return f"{_fmt(stat.mean, digits)} ± {_fmt(stat.std, digits)}"


def _target_cell(stat: Stat, v: VariantSummary, digits: int) -> str:
    cell = _pm(stat, digits)
    total = len(v.seeds)
    return cell if v.reached == total else f"{cell} ({v.reached}/{total})"


def _columns(c: Comparison, *, compact: bool = False) -> list[tuple[str, str]]:
    """``(column id, header)`` in display order (``compact``: the terminal's short list)."""
    m = c.metric
    cols = [
        ("variant", "variant"),
        ("seeds", "seeds"),
        ("final_metric", f"final {m}"),
        ("best_metric", f"best {m}"),
    ]
    if m != "loss":
        cols += [("final_loss", "final loss"), ("best_loss", "best loss")]
    if c.target is not None:
        cols += [
            ("epochs_to_target", "epochs to target"),
            ("iterations_to_target", "iters to target"),
            ("time_to_target", "time to target (s)"),
        ]
    cols += [("spikes", f"loss spikes (>{c.spike_threshold:.0%})"), ("max_spike", "max spike")]
    if c.chance is not None and m == "accuracy":
        cols.append(("plateau_epochs", "plateau (epochs)"))
    cols += [("epoch_time", "epoch time (s)"), ("total_time", "total time (s)")]
    cols.append(("diverged", "diverged"))
    if compact:
        # A terminal is narrow: drop what the markdown/CSV files still carry.
        drop = {"iterations_to_target", "max_spike", "best_loss"}
        if not any(v.diverged for v in c.variants):
            drop.add("diverged")
        cols = [col for col in cols if col[0] not in drop]
    return cols


def _cell(column: str, v: VariantSummary, c: Comparison) -> str:
    digits = 4
    if column == "variant":
        return f"{v.name} (control)" if v.name == c.control else v.name
    if column == "seeds":
        return str(len(v.seeds))
    if column in ("epochs_to_target", "iterations_to_target"):
        return _target_cell(getattr(v, column), v, 1 if column == "epochs_to_target" else 0)
    if column == "time_to_target":
        return _target_cell(v.time_to_target, v, 1)
    if column == "spikes":
        return _pm(v.spikes, 1)
    if column == "max_spike":
        return "—" if not math.isfinite(v.max_spike) else f"+{v.max_spike:.1%}"
    if column == "plateau_epochs":
        return _pm(v.plateau_epochs, 1)
    if column in ("epoch_time", "total_time"):
        return _pm(getattr(v, column), 2 if column == "epoch_time" else 1)
    if column == "diverged":
        return f"{v.diverged}/{len(v.seeds)}"
    return _pm(getattr(v, column), digits)


def title(c: Comparison) -> str:
    """One line saying what was compared and where the target came from."""
    where = {
        "given": "given",
        "control": f"lowest per-seed best of the control {c.control!r}",
    }.get(c.target_source or "", "")
    target = "" if c.target is None else f"; target {c.metric} {c.target:.4f} ({where})"
    return f"{c.key} over seeds (mean ± std){target}"


def rows(c: Comparison, *, compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """``(headers, rows)`` of display cells (``compact``: fewer columns, for a terminal)."""
    cols = _columns(c, compact=compact)
    return [h for _, h in cols], [[_cell(col, v, c) for col, _ in cols] for v in c.variants]


def to_markdown(c: Comparison) -> str:
    """A GitHub-flavoured markdown table, preceded by the title as a caption line."""
    headers, body = rows(c)
    lines = [f"**{title(c)}**", "", "| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def to_rich(c: Comparison) -> Table:
    """A :class:`rich.table.Table` for the terminal (the compact column set)."""
    from rich.table import Table

    headers, body = rows(c, compact=True)
    table = Table(title=title(c), show_lines=False)
    for i, h in enumerate(headers):
        # Headers may wrap; cells not ("0.6516 ± 0.0009" over two lines is unreadable).
        table.add_column(h, justify="left" if i == 0 else "right", no_wrap=i > 0 or None)
    for r in body:
        table.add_row(*r)
    return table


_CSV_STATS = (
    "final_metric",
    "best_metric",
    "final_loss",
    "best_loss",
    "epochs_to_target",
    "iterations_to_target",
    "time_to_target",
    "spikes",
    "plateau_epochs",
    "epoch_time",
    "total_time",
)


def to_csv(c: Comparison) -> str:
    """Raw numbers, one row per variant (``mean``, ``std``, ``n`` for every statistic)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["variant", "control", "seeds", "metric", "target"]
    for name in _CSV_STATS:
        header += [f"{name}_mean", f"{name}_std", f"{name}_n"]
    header += ["reached", "max_spike", "diverged"]
    writer.writerow(header)

    def num(x: float | None) -> str:
        return "" if x is None or not math.isfinite(x) else repr(float(x))

    for v in c.variants:
        row: list[str] = [
            v.name,
            str(v.name == c.control).lower(),
            " ".join(str(s) for s in v.seeds),
            c.key,
            num(c.target),
        ]
        for name in _CSV_STATS:
            s: Stat = getattr(v, name)
            row += [num(s.mean), num(s.std), str(s.n)]
        row += [str(v.reached), num(v.max_spike), str(v.diverged)]
        writer.writerow(row)
    return buf.getvalue()


def render(c: Comparison, fmt: str = "markdown") -> str:
    """The table as text in ``fmt`` (``"markdown"``, ``"csv"`` or ``"text"``: rich, no colour)."""
    if fmt == "markdown":
        return to_markdown(c)
    if fmt == "csv":
        return to_csv(c)
    if fmt == "text":
        from rich.console import Console

        console = Console(file=io.StringIO(), width=200, color_system=None)
        console.print(to_rich(c))
        return console.file.getvalue()  # type: ignore[attr-defined]
    from lrlab.errors import InvalidArgument

    raise InvalidArgument(f"fmt={fmt!r} is not a table format.", hint="Use markdown, csv or text.")

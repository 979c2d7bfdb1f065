"""Self-contained HTML fragments: how results show themselves in Jupyter, and the pieces the
report is built from.

A result's ``_repr_html_`` is one call to :func:`result_html`: a title, a figure drawn on a
fresh matplotlib ``Figure`` and embedded as a base64 PNG, and a compact table of the key
numbers::

    def _repr_html_(self) -> str:
        from lrlab._html import result_html

        rows = [("max LR", self.lr), ("stop", self.stop_reason)]
        return result_html("Range test", rows, draw=lambda fig: self.plot(ax=fig.subplots()))

The HTML has no script, no stylesheet and no link: it renders offline, in a notebook saved to
disk, on GitHub and in nbviewer, and it cannot restyle the page around it (inline styles
only). All text is escaped here (:func:`esc`), so a variant called ``<b>`` stays text.
matplotlib is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# Inline styles (a notebook page is shared: no <style> block, no class that could clash).
_CELL = "padding:2px 8px;text-align:{align};border-bottom:1px solid #ddd"
_IMG = "max-width:100%;height:auto"


def esc(value: Any) -> str:
    """``value`` as text, HTML-escaped (quotes too: safe inside attributes)."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A compact human form of a number (``—`` for missing / non-finite); other values as
    text. Not escaped: pass the result through :func:`esc` (the table helpers do)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else "—"
    return str(value)


def png_data_uri(fig: Any, *, dpi: int = 110) -> str:
    """The figure as a base64 PNG ``data:`` URI (embedded: the page needs no other file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def html_table(rows: Iterable[Sequence[Any]], headers: Sequence[str] | None = None) -> str:
    """A compact table. Without ``headers`` the first cell of each row is its label (a
    left-aligned ``name | value`` table); under ``headers`` the columns after the first are
    right-aligned (they hold numbers, also formatted ones: ``0.91 ± 0.01``). Cells go
    through :func:`fmt` and :func:`esc`."""
    out = []
    if headers:
        cells = "".join(f'<th style="{_CELL.format(align="left")}">{esc(h)}</th>' for h in headers)
        out.append(f"<thead><tr>{cells}</tr></thead>")
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            style = _CELL.format(align="right" if headers and i > 0 else "left")
            tag = "th" if i == 0 and not headers else "td"
            cells.append(f'<{tag} style="{style}">{esc(fmt(cell))}</{tag}>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    out.append(f"<tbody>{''.join(body)}</tbody>")
    return f'<table style="border-collapse:collapse;margin:4px 0">{"".join(out)}</table>'


def figure_img(
    draw: Callable[[Any], Any],
    *,
    size: tuple[float, float] = (7.0, 4.5),
    alt: str = "",
    dpi: int = 90,
) -> str:
    """``<img>`` of what ``draw(fig)`` puts on a new ``matplotlib.figure.Figure``.

    The figure is detached from pyplot, so a notebook does not show it a second time and
    nothing global (backend, open figures) changes. It is laid out with matplotlib's
    constrained layout unless ``draw`` chose a layout itself (``tight_layout``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    draw(fig)
    if fig.get_layout_engine() is None:
        fig.set_layout_engine("constrained")
    return f'<img src="{png_data_uri(fig, dpi=dpi)}" alt="{esc(alt)}" style="{_IMG}">'


def result_html(
    title: str,
    rows: Iterable[Sequence[Any]],
    *,
    draw: Callable[[Any], Any] | None = None,
    headers: Sequence[str] | None = None,
    notes: Iterable[str] = (),
    size: tuple[float, float] = (7.0, 4.5),
) -> str:
    """A result as one HTML block: the bold ``title``, the figure ``draw(fig)`` makes (see
    :func:`figure_img`; left out when ``draw`` is ``None``), the table of ``rows`` (see
    :func:`html_table`) and one paragraph per note (flags, warnings)."""
    parts = [f"<p style='margin:4px 0'><strong>{esc(title)}</strong></p>"]
    if draw is not None:
        parts.append(figure_img(draw, size=size, alt=title))
    parts.append(html_table(rows, headers))
    parts += [f"<p style='margin:2px 0'>{esc(note)}</p>" for note in notes]
    return f"<div>{''.join(parts)}</div>"

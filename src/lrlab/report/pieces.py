"""The pieces every report section is made of: :class:`Section`, a figure that degrades to a
note when it cannot be drawn, and short formatters for LRs and mean ± std."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lrlab.errors import LrlabError
from lrlab.report import figures
from lrlab.report import markup as m

FIGURE_ERRORS = (LrlabError, ValueError, TypeError, KeyError, IndexError)


RUN_LABEL = "run"


@dataclass(frozen=True)
class Section:
    """One section of the report: ``id`` is its anchor (``#id``), ``body`` trusted HTML."""

    id: str
    title: str
    body: str


def figure_or_note(draw: Callable[[], Any], *, alt: str, caption: str | None = None) -> str:
    """``draw()``'s figure as an embedded image, or a note saying why there is none."""
    try:
        fig = draw()
    except FIGURE_ERRORS as exc:
        return m.note(f"Figure not drawn ({alt}): {exc}", kind="warn")
    if fig is None:
        return ""
    return m.figure(figures.png_data_uri(fig), alt=alt, caption=caption)


def lr_text(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3g}"


def pair_text(pair: Sequence[float] | None) -> str:
    return "—" if not pair else f"{lr_text(pair[0])} – {lr_text(pair[1])}"


def pm_text(stat: Any, digits: int = 4) -> str:
    if stat is None or stat.n == 0:
        return "—"
    if stat.n == 1 or not math.isfinite(stat.std):
        return f"{stat.mean:.{digits}f}"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"


def h3(text: str) -> str:
    return m.tag("h3", m.esc(text))


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={m.fmt(v)}" for k, v in params.items() if v is not None)


def anchor_of(label: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
    return out or "root"

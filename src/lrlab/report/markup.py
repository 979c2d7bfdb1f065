"""Small HTML builders for the report: every piece of text goes through :func:`esc`.

Pure functions returning strings. Nothing here knows about runs or figures; the sections
(:mod:`lrlab.report.sections`) compose them. User text (variant names, task names, paths,
config values, flags) can hold ``<``, ``&`` or quotes, so it is escaped at the one place
where it enters markup, and trusted markup is only ever produced by these helpers.
:func:`esc` and :func:`fmt` live in :mod:`lrlab._html`, next to the notebook displays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Escaping and number formatting are shared with the notebook displays (one place for each).
from lrlab._html import esc, fmt


def tag(name: str, body: str = "", **attrs: Any) -> str:
    """``<name attrs>body</name>``; ``body`` is trusted markup, attribute values are escaped.

    ``class_`` becomes ``class``; ``None`` / ``False`` attributes are left out.
    """
    parts = [name]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        parts.append(key if value is True else f'{key}="{esc(value)}"')
    return f"<{' '.join(parts)}>{body}</{name}>"


def para(text: str, **attrs: Any) -> str:
    """A paragraph of plain text (escaped)."""
    return tag("p", esc(text), **attrs)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str | None = None,
    numeric: Sequence[int] = (),
    class_: str | None = None,
) -> str:
    """A table inside a horizontally scrolling wrapper (a wide table never widens the page
    on a phone). Cells are escaped; columns listed in ``numeric`` are right-aligned."""
    head = "".join(tag("th", esc(h), scope="col") for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            tag("td", esc(fmt(cell)), class_="num" if i in numeric else None)
            for i, cell in enumerate(row)
        )
        body.append(tag("tr", cells))
    inner = (tag("caption", esc(caption)) if caption else "") + tag("thead", tag("tr", head))
    inner += tag("tbody", "".join(body))
    return tag("div", tag("table", inner, class_=class_), class_="table-wrap")


def key_values(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """A two-column table of ``name: value`` pairs (a definition list breaks badly on
    narrow screens when values are long; a table with wrapping cells does not)."""
    pairs = items.items() if isinstance(items, Mapping) else items
    rows = "".join(
        tag("tr", tag("th", esc(k), scope="row") + tag("td", esc(fmt(v)))) for k, v in pairs
    )
    return tag("div", tag("table", tag("tbody", rows), class_="kv"), class_="table-wrap")


def bullets(items: Iterable[str], **attrs: Any) -> str:
    """An unordered list of plain-text items (escaped); empty string for no items."""
    lis = "".join(tag("li", esc(item)) for item in items)
    return tag("ul", lis, **attrs) if lis else ""


def pre(text: str, *, label: str | None = None) -> str:
    """Preformatted text (config files) in a scrolling box, optionally labelled."""
    block = tag("pre", tag("code", esc(text)))
    return (tag("p", esc(label), class_="label") if label else "") + block


def figure(src: str, *, alt: str, caption: str | None = None) -> str:
    """An image (``src``: a ``data:`` URI) with alt text and an optional caption."""
    img = f'<img src="{esc(src)}" alt="{esc(alt)}" loading="eager">'
    cap = tag("figcaption", esc(caption)) if caption else ""
    return tag("figure", img + cap)


def note(text: str, *, kind: str = "info") -> str:
    """A highlighted remark (``kind``: ``info``, ``warn`` or ``ok``)."""
    return tag("p", esc(text), class_=f"note {kind}")


def details(summary: str, body: str) -> str:
    """A collapsible block (no JavaScript: ``<details>``); ``body`` is trusted markup."""
    return tag("details", tag("summary", esc(summary)) + body)

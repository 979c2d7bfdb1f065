"""The HTML fragments results display with (``lrlab._html``): escaped, self-contained, the
figure a real PNG."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest

from fixtures.html import PNG_MAGIC, embedded_pngs
from lrlab._html import esc, fmt, html_table, png_data_uri, result_html


def test_esc_and_fmt():
    assert esc('<a href="x">&</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
    assert [fmt(None), fmt(True), fmt(3), fmt(0.0123456), fmt(float("nan")), fmt("a")] == [
        "—",
        "yes",
        "3",
        "0.01235",
        "—",
        "a",
    ]


def test_table_escapes_cells_labels_rows_and_aligns_number_columns():
    html = html_table([("max <lr>", 0.0123456), ("flags", "a & b")])
    assert "<th" in html and "max &lt;lr&gt;" in html and "a &amp; b" in html
    assert "<lr>" not in html
    assert re.search(r'text-align:left[^"]*">0.01235</td>', html)
    with_headers = html_table([("one-cycle", 0.91)], headers=["variant", "accuracy"])
    assert "<thead>" in with_headers and with_headers.count("<th ") == 2
    assert re.search(r'text-align:left[^"]*">one-cycle</td>', with_headers)
    assert re.search(r'text-align:right[^"]*">0.91</td>', with_headers)


def test_result_html_embeds_the_drawn_figure_as_png():
    def draw(fig):
        fig.subplots().plot([0, 1], [1, 0])

    html = result_html("Run <1>", [("loss", 0.5)], draw=draw, notes=["flag: <x>"])
    (png,) = embedded_pngs(html)
    assert png.startswith(PNG_MAGIC)
    assert "Run &lt;1&gt;" in html and "flag: &lt;x&gt;" in html
    # Self-contained: nothing to fetch, nothing to run.
    assert not re.search(r"<script|<link|https?://|<style", html)


def test_result_html_without_a_figure_and_png_data_uri():
    assert embedded_pngs(result_html("t", [("a", 1)])) == []
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    uri = png_data_uri(fig, dpi=20)
    assert base64.b64decode(uri.split(",", 1)[1]).startswith(PNG_MAGIC)


@pytest.mark.parametrize("module", ["lrlab._html", "lrlab.report.markup"])
def test_importing_the_html_helpers_does_not_import_matplotlib(module):
    code = f"import sys, {module}; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

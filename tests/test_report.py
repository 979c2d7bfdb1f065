"""The HTML report: discovery of results, sections against the library's own numbers,
self-containedness (embedded PNGs, no script, no network), escaping, figures, environment."""

from __future__ import annotations

import base64
import io
import os
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.runs import (
    synthetic_range_test,
    synthetic_scan,
    synthetic_vary,
    tiny_experiment,
    write_range_test_dir,
    write_single_run,
)
from lrlab.errors import InvalidArgument
from lrlab.report import build_report, load_sources, write_report
from lrlab.report import figures as F
from lrlab.report import markup as m
from lrlab.report.environment import environment, git_revision
from lrlab.report.html import default_output

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects what the self-containedness checks need from a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.hrefs: list[str] = []
        self.ids: list[str] = []
        self.data: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        if "href" in a:
            self.hrefs.append(a["href"] or "")
        if "id" in a:
            self.ids.append(a["id"] or "")

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.data.append(data)

    @property
    def text(self) -> str:
        return "".join(self.data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def check_self_contained(html: str) -> _Page:
    """Every image an embedded, decodable PNG; no script, stylesheet link, frame or
    external URL; every in-page link points at a section that exists."""
    import matplotlib.image as mpimg

    page = parse(html)
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    assert page.imgs, "a report without figures"
    for img in page.imgs:
        src = img["src"] or ""
        assert src.startswith("data:image/png;base64,"), src[:40]
        raw = base64.b64decode(src.split(",", 1)[1])
        assert raw.startswith(PNG_SIGNATURE)
        assert mpimg.imread(io.BytesIO(raw), format="png").shape[0] > 50
        assert img["alt"]
    for href in page.hrefs:
        assert href.startswith("#") and href[1:] in page.ids, href
    assert "http://" not in html and "https://" not in html
    return page


# --------------------------------------------------------------------------- markup


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_table_and_attributes_escape_any_text(text):
    html = m.table([text], [[text]], caption=text) + m.tag("a", m.esc(text), href=text)
    page = parse(html)
    # Only the structure we built: user text never becomes markup.
    assert set(page.tags) <= {"div", "table", "caption", "thead", "tr", "th", "tbody", "td", "a"}
    assert page.text == text * 4
    assert page.hrefs == [text]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "—"), (float("nan"), "—"), (float("inf"), "—"), (3, "3"), (0.123456, "0.1235"),
     (True, "yes"), ("x", "x")],
)  # fmt: skip
def test_fmt(value, expected):
    assert m.fmt(value) == expected


# --------------------------------------------------------------------------- discovery


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exp")
    return Path(tiny_experiment(out, seeds=(0,)).dir)


def test_load_sources_finds_every_kind_and_labels_by_path(tmp_path, experiment_dir):
    write_range_test_dir(tmp_path / "find")
    write_single_run(tmp_path / "runs" / "train")
    (tmp_path / "scan").mkdir()
    synthetic_scan().save(tmp_path / "scan" / "scan.json")
    (tmp_path / "vary").mkdir()
    synthetic_vary().save(tmp_path / "vary" / "vary.json")
    os.symlink(experiment_dir, tmp_path / "exp")
    sources = load_sources(tmp_path)
    assert [f.label for f in sources.range_tests] == ["find"]
    assert [f.label for f in sources.runs] == ["runs/train"]
    assert [f.label for f in sources.scans] == ["scan"]
    assert [f.label for f in sources.comparisons] == ["vary"]
    # The experiment's trial directories hold records.jsonl but belong to the experiment.
    assert [f.label for f in sources.experiments] == ["exp"]
    assert sources.problems == []


def test_load_sources_reports_unreadable_files_and_keeps_the_rest(tmp_path):
    write_range_test_dir(tmp_path / "good", metric=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "range_test.json").write_text("{not json", encoding="utf-8")
    sources = load_sources(tmp_path)
    assert [f.label for f in sources.range_tests] == ["good"]
    assert len(sources.problems) == 1 and sources.problems[0].startswith("bad/range_test.json")
    html = build_report(tmp_path)
    assert 'id="problems"' in html and "bad/range_test.json" in html


def test_missing_or_empty_directory_is_one_clear_error(tmp_path):
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_sources(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match=r"holds no lrlab result.*range_test\.json"):
        load_sources(tmp_path / "empty")


def test_a_single_result_file_is_a_report(tmp_path):
    write_range_test_dir(tmp_path)
    sources = load_sources(tmp_path / "range_test.json")
    assert len(sources.range_tests) == 1 and not sources.runs
    (tmp_path / "other.json").write_text('{"kind": "something"}', encoding="utf-8")
    with pytest.raises(InvalidArgument, match="not an lrlab result file"):
        load_sources(tmp_path / "other.json")


# --------------------------------------------------------------------------- reports


def test_range_test_report_shows_the_suggestion_the_flags_and_the_diagnosis(tmp_path):
    write_range_test_dir(tmp_path / "rt")
    result = synthetic_range_test()
    html = build_report(tmp_path / "rt")
    page = check_self_contained(html)
    sug = result.suggestion
    assert f"{sug.lr:.3g}" in page.text and f"{sug.low:.3g} – {sug.high:.3g}" in page.text
    for name, value in sug.rules.items():
        assert f"rule: {name}" in page.text and f"{value:.3g}" in page.text
    for flag in sug.flags:
        assert flag in page.text
    assert f"Curve diagnosis: {result.diagnosis.shape}." in page.text
    assert result.diagnosis.text in page.text
    assert len(page.imgs) == 1


def test_experiment_report_holds_the_comparison_table_of_lrlab_analysis(experiment_dir):
    from lrlab.analysis.table import rows, title
    from lrlab.experiment import ExperimentResult

    html = build_report(experiment_dir)
    page = check_self_contained(html)
    comparison = ExperimentResult.load(experiment_dir).comparison
    headers, body = rows(comparison)
    for cell in [*headers, *(c for r in body for c in r)]:
        assert cell in page.text
    assert title(comparison) in page.text
    # schedules, curves (+ time to target when there is a target), one figure each
    assert len(page.imgs) == (3 if comparison.target is not None else 2)
    for section in ("overview", "schedules-", "curves-", "comparison-", "configuration"):
        assert any(i.startswith(section) for i in page.ids), section
    assert "lrlab compare" in page.text  # how to re-run it
    assert "Best final accuracy" in page.text


def test_scan_and_vary_sections(tmp_path):
    (tmp_path / "scan").mkdir()
    scan = synthetic_scan()
    scan.save(tmp_path / "scan" / "scan.json")
    (tmp_path / "vary").mkdir()
    vary = synthetic_vary()
    vary.save(tmp_path / "vary" / "vary.json")
    page = check_self_contained(build_report(tmp_path))
    # the scan's best LR per horizon is index 3 (1e-2) by construction
    assert [b.lr for b in scan.best()] == [1e-2, 1e-2]
    assert "1 epochs: 0.01, 2 epochs: 0.01" in page.text
    assert f"Verdict: {vary.verdict}" in page.text
    assert "momentum=0.99" in page.text


def test_user_text_is_escaped(tmp_path):
    nasty = 'a<b onmouseover="x">&c'
    write_range_test_dir(tmp_path / nasty, metric=False, task="<script>alert(1)</script>")
    html = build_report(tmp_path)
    page = check_self_contained(html)
    assert nasty in page.text  # shown as text ...
    assert "<b onmouseover" not in html and "<script>" not in html  # ... never as markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_report_without_a_suggestion_still_builds(tmp_path):
    from lrlab.suggest import Suggestion

    result = synthetic_range_test(metric=False)
    result.suggestion = Suggestion(lr=None, flags=["too-short: only 5 points"])
    result.save(tmp_path / "range_test.json")
    page = check_self_contained(build_report(tmp_path))
    assert "none (see the flags)" in page.text and "too-short: only 5 points" in page.text


def test_write_report_default_place_atomic_and_file_input(tmp_path):
    write_range_test_dir(tmp_path / "rt", metric=False)
    path = write_report(tmp_path / "rt")
    assert path == tmp_path / "rt" / "report.html" == default_output(tmp_path / "rt")
    assert default_output(tmp_path / "rt" / "range_test.json") == path
    assert [p.name for p in (tmp_path / "rt").iterdir() if p.name.startswith(".")] == []
    out = write_report(tmp_path / "rt" / "range_test.json", tmp_path / "deep" / "r.html")
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # umask permissions, not mkstemp's


# --------------------------------------------------------------------------- figures


def test_schedule_figure_draws_exactly_the_schedule():
    from lrlab.schedules import one_cycle, step_decay

    oc = one_cycle(max_lr=0.1, total_steps=300)
    sd = step_decay(lr=0.05, step_size=100)
    fig = F.schedules_figure({"oc": (oc, 300), "sd": (sd, 300)})
    ax_lr, ax_mom = fig.axes
    lines = {line.get_label(): line for line in ax_lr.get_lines()}
    np.testing.assert_array_equal(lines["oc"].get_ydata(), oc.lrs(300))
    np.testing.assert_array_equal(lines["sd"].get_ydata(), sd.lrs(300))
    (mom,) = ax_mom.get_lines()  # the step decay leaves momentum alone: one line only
    np.testing.assert_array_equal(mom.get_ydata(), oc.momentums(300))


def test_long_schedules_are_sampled_with_their_ends():
    from lrlab.schedules import one_cycle

    sched = one_cycle(max_lr=0.1, total_steps=50_000)
    t, lrs, moms = F.schedule_points(sched, 50_000)
    assert len(t) <= F.MAX_SCHEDULE_POINTS and t[0] == 0 and t[-1] == 49_999
    assert lrs.tolist() == [sched.lr(int(i)) for i in t]
    assert moms is not None and moms[0] == sched.momentum(0)


def test_range_test_figure_panels_and_suggestion_line():
    with_metric = F.range_test_figure(synthetic_range_test(metric=True))
    without = F.range_test_figure(synthetic_range_test(metric=False))
    assert len(without.axes) == 1
    _, metric_ax = with_metric.axes
    sug = synthetic_range_test().suggestion.lr
    vertical = [ln.get_xdata()[0] for ln in metric_ax.get_lines() if len(ln.get_xdata()) == 2]
    assert sug in vertical
    assert metric_ax.get_xscale() == "log" and metric_ax.get_ylabel() == "eval accuracy"


def test_png_data_uri_has_the_figure_size():
    import matplotlib.image as mpimg

    fig = F.new_figure(4.0, 2.0)
    fig.add_subplot().plot([0, 1], [1, 0])
    raw = base64.b64decode(F.png_data_uri(fig, dpi=50).split(",", 1)[1])
    assert mpimg.imread(io.BytesIO(raw), format="png").shape[:2] == (100, 200)


# --------------------------------------------------------------------------- environment


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_git_revision_of_a_work_tree(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "f.txt").write_text("1", encoding="utf-8")
    _git(repo, "add", "f.txt")
    _git(repo, "commit", "-q", "-m", "one")
    head = _git(repo, "rev-parse", "--short", "HEAD")
    assert git_revision(repo) == head
    (repo / "f.txt").write_text("2", encoding="utf-8")
    assert git_revision(repo) == f"{head}+dirty"
    (tmp_path / "plain").mkdir()
    assert git_revision(tmp_path / "plain") is None


def test_environment_names_versions_without_importing_torch_unless_asked():
    import importlib.metadata as md

    env = environment()
    assert env["torch version"] == md.version("torch")
    assert env["lrlab version"] == md.version("lrlab")
    assert env["CPUs available"] >= 1 and "device" not in env
    assert environment(device="cpu")["device"] == "cpu"

"""``lrlab report``: the path on stdout, ``--out`` and ``--title``, one-line errors."""

from __future__ import annotations

from fixtures.runs import write_range_test_dir, write_single_run
from lrlab.cli.app import main


def test_report_writes_next_to_the_results_and_prints_the_path(tmp_path, capsys):
    write_range_test_dir(tmp_path / "find", metric=False)
    write_single_run(tmp_path / "train")
    assert main(["report", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    path = tmp_path / "report.html"
    assert out.strip() == str(path) and path.is_file()
    assert f"Reading {tmp_path}" in err
    html = path.read_text(encoding="utf-8")
    assert "Range test — find" in html and "Training run — train" in html
    assert "Stopped: completed" in html  # the run's summary.json was read


def test_out_title_and_quiet(tmp_path, capsys):
    write_range_test_dir(tmp_path / "find", metric=False)
    target = tmp_path / "elsewhere" / "r.html"
    args = ["report", str(tmp_path / "find" / "range_test.json"), "-o", str(target)]
    assert main([*args, "--title", "Mine & <yours>", "-q"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(target) and err == ""
    assert "<title>Mine &amp; &lt;yours&gt;</title>" in target.read_text(encoding="utf-8")


def test_an_empty_directory_is_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("lrlab: error:") and "holds no lrlab result" in line
    assert "Point lrlab report at the --out directory" in line

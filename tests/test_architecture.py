"""The layers hold and ``docs/architecture.md`` tells the truth: read from the imports by
``tools/architecture.py`` (every import counts, lazy ones too)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def arch():
    path = ROOT / "tools" / "architecture.py"
    spec = importlib.util.spec_from_file_location("architecture", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_imports_only_go_down_the_layers(arch):
    graph = arch.package_graph(arch.read_modules())
    assert arch.upward(graph) == []


def test_no_package_imports_in_a_circle(arch):
    assert arch.cycles(arch.package_graph(arch.read_modules())) == []


def test_every_package_has_one_layer(arch):
    packages = {m.package for m in arch.read_modules()} - {arch.FACADE}
    placed = [p for _, pkgs, _ in arch.LAYERS for p in pkgs]
    assert len(placed) == len(set(placed)), "a package is in two layers"
    assert packages == set(placed)


def test_the_doc_is_what_the_code_says(arch):
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert arch.generated_part(doc) == arch.render(arch.read_modules()), (
        "docs/architecture.md is stale: run python tools/architecture.py"
    )


def test_the_checks_catch_an_upward_import_a_cycle_and_a_stale_doc(arch, tmp_path):
    """On a tiny made-up tree: train importing experiment goes up; two packages importing
    each other form a circle; a doc without the generated block is stale."""
    src = tmp_path / "src" / "lrlab"
    for pkg, body in {
        "train": "from lrlab.experiment import run\n",
        "experiment": '"""Runs."""\n\ndef run():\n    from lrlab.train import fit\n',
    }.items():
        (src / pkg).mkdir(parents=True)
        (src / pkg / "__init__.py").write_text(body, encoding="utf-8")
    (src / "__init__.py").write_text('"""Facade."""\n', encoding="utf-8")
    doc = tmp_path / "architecture.md"
    doc.write_text("# no generated part\n", encoding="utf-8")
    graph = arch.package_graph(arch.read_modules(src))
    assert graph == {"train": {"experiment"}, "experiment": {"train"}}
    assert arch.upward(graph) == ["train -> experiment"]
    assert arch.cycles(graph) == [["experiment", "train"]]
    found = arch.problems(src, doc)
    assert any("goes up a layer" in p for p in found)
    assert any("in a circle" in p for p in found)
    assert any("is not what the code says" in p for p in found)
    arch.write(src, doc)  # regenerating makes the doc true (the imports stay wrong)
    assert not any("is not what the code says" in p for p in arch.problems(src, doc))


def test_a_lazy_import_and_a_from_import_of_a_module_count(arch, tmp_path):
    src = tmp_path / "src" / "lrlab"
    (src / "cli").mkdir(parents=True)
    (src / "__init__.py").write_text("", encoding="utf-8")
    (src / "stops.py").write_text("", encoding="utf-8")
    (src / "errors.py").write_text("", encoding="utf-8")
    (src / "cli" / "__init__.py").write_text(
        "from lrlab import stops\n\ndef f():\n    import lrlab.errors\n", encoding="utf-8"
    )
    graph = arch.package_graph(arch.read_modules(src))
    assert graph["cli"] == {"stops", "errors"}

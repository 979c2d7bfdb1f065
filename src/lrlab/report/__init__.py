"""Figures and the self-contained HTML report of lrlab run directories.

>>> from lrlab.report import write_report
>>> write_report("runs/demo")                 # -> runs/demo/report.html

``build_report(path)`` returns the HTML as a string; ``load_sources(path)`` finds and loads
every result under a directory (range tests, scans, hyper-parameter comparisons,
experiments, single runs). The figures live in :mod:`lrlab.report.figures` (those of compared
runs in :mod:`lrlab.analysis.plot`). Names are imported on first use, so importing this
package costs nothing (and never imports matplotlib).
"""

from __future__ import annotations

from lrlab._lazy import lazy_exports

_REPORT_EXPORTS: dict[str, str] = {
    "build_report": "lrlab.report.html",
    "write_report": "lrlab.report.html",
    "REPORT_NAME": "lrlab.report.html",
    "load_sources": "lrlab.report.sources",
    "ReportSources": "lrlab.report.sources",
    "environment": "lrlab.report.environment",
    "save_experiment_figures": "lrlab.report.experiment_figures",
}

__all__ = sorted(_REPORT_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _REPORT_EXPORTS, globals())

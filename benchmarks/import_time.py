"""How long does ``import lrlab`` take? Fresh interpreters, side by side with bare Python and torch.

Each variant is one new process (``python -c CODE``), timed from outside (start to exit,
interpreter start-up included), the variants interleaved (A B C A B C …, the order rotating
every round) after a warm-up, medians compared:

* ``python`` — ``pass``: the interpreter's own start-up, the floor;
* ``import lrlab`` — the package (issue 15's target: ≤ 0.3 s);
* ``lrlab CLI`` — ``import lrlab.cli.app``: what ``lrlab --help`` loads (typer and rich);
* ``first use`` — ``import lrlab; lrlab.range_test``: the first public name pulls torch in;
* ``import torch`` — the yardstick.

Printed: the medians, ``import lrlab − python`` (the import alone) and the ratios to bare
Python and to torch; the modules ``import lrlab`` loads (neither torch, numpy nor matplotlib).

    .venv/bin/python benchmarks/import_time.py                # 15 rounds
    .venv/bin/python benchmarks/import_time.py --update-md    # ... and its BENCHMARKS.md section
    .venv/bin/python benchmarks/import_time.py --quick        # 1 round, no warm-up

Writes ``benchmarks/out/import_time.json`` and ``import_time.md`` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    OUT_DIR,
    ROOT,
    interleaved,
    markdown_table,
    provenance,
    provenance_line,
    publish,
    write_report,
)

NAME = "import_time"
VARIANTS = {
    "python": "pass",
    "import lrlab": "import lrlab",
    "lrlab CLI": "import lrlab.cli.app",
    "first use": "import lrlab; lrlab.range_test",
    "import torch": "import torch",
}
TARGET_S = 0.3
HEAVY = ("torch", "numpy", "matplotlib")


def _env() -> dict[str, str]:
    """This checkout's ``src`` first on the path, so the timed lrlab is this one."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _runner(code: str, env: dict[str, str]):
    def run() -> None:
        subprocess.run([sys.executable, "-c", code], env=env, check=True)

    return run


def modules_loaded(env: dict[str, str]) -> dict[str, Any]:
    """What ``import lrlab`` adds to a fresh interpreter's ``sys.modules``."""
    code = (
        "import sys, json; before = set(sys.modules); import lrlab; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    added = json.loads(out.stdout)
    heavy = [m for m in added if m.split(".")[0] in HEAVY]
    return {"count": len(added), "heavy": heavy, "lrlab": [m for m in added if "lrlab" in m]}


def markdown(report: dict[str, Any]) -> str:
    med = report["median_s"]
    base, torch_s = med["python"], med["import torch"]
    rows = [
        [name, f"{med[name]:.3f}", f"{med[name] - base:+.3f}", f"{med[name] / base:.2f}",
         f"{med[name] / torch_s:.2f}"]
        for name in VARIANTS
    ]  # fmt: skip
    mods = report["modules"]
    verdict = "met" if report["import_lrlab_s"] <= TARGET_S else "missed"
    return "\n".join(
        [
            f"Measured with {provenance_line(report)}.",
            "",
            f"Each variant a fresh `python -c CODE` process, timed start to exit; medians over "
            f"{report['repeats']} interleaved round(s) after {report['warmup']} warm-up "
            "round(s).",
            "",
            markdown_table(
                ["variant", "median (s)", "− python (s)", "× python", "× import torch"], rows
            ),
            "",
            f"`import lrlab`: {report['import_lrlab_s']:.3f} s for the whole process, "
            f"{report['import_lrlab_s'] - base:.3f} s over bare Python — target ≤ {TARGET_S} s "
            f"**{verdict}**. It loads {mods['count']} modules ({', '.join(mods['lrlab'])}); "
            f"torch, numpy, matplotlib: {', '.join(mods['heavy']) or 'none'}.",
        ]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--quick", action="store_true", help="1 round, no warm-up")
    p.add_argument("--out", type=Path, default=OUT_DIR / f"{NAME}.json")
    p.add_argument(
        "--update-md",
        action="store_true",
        help=f"rewrite its BENCHMARKS.md section and benchmarks/results/{NAME}.json",
    )
    args = p.parse_args(argv)
    repeats, warmup = (1, 0) if args.quick else (args.repeats, 1)
    env = _env()
    prov = provenance(__file__, argv)
    t0 = time.perf_counter()
    times = interleaved(
        {name: _runner(code, env) for name, code in VARIANTS.items()}, repeats, warmup
    )
    median = {name: statistics.median(ts) for name, ts in times.items()}
    report = {
        **prov,
        "elapsed_s": time.perf_counter() - t0,
        "repeats": repeats,
        "warmup": warmup,
        "variants": VARIANTS,
        "times_s": times,
        "median_s": median,
        "import_lrlab_s": median["import lrlab"],
        "import_lrlab_over_python_s": median["import lrlab"] - median["python"],
        "target_s": TARGET_S,
        "modules": modules_loaded(env),
    }
    md = markdown(report)
    print(md)
    path = write_report(args.out, report, md)
    print(f"\nwrote {path}", file=sys.stderr)
    if args.update_md:
        heading = f"Import time (`benchmarks/{NAME}.py`)"
        updated = publish(NAME, heading, report, md, label="Raw timings", indent=2)
        print(f"updated {updated}", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()

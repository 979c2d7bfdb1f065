"""A controlled experiment from a YAML config, then its HTML report.

Runs ``examples/experiments/digits_onecycle_vs_constant.yaml`` (one-cycle with a fixed and
a range-test max LR against a constant-LR control; every variant of a seed starts from the
same weights and sees the same batches) — the Python equivalent of::

    lrlab compare examples/experiments/digits_onecycle_vs_constant.yaml --out runs/examples
    lrlab report runs/examples/digits-onecycle-vs-constant

``--quick`` keeps one seed and two epochs. Run::

    python examples/experiment_config.py [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lrlab.experiment import Experiment, load_experiment, run_experiment
from lrlab.report import write_report

CONFIG = Path(__file__).parent / "experiments" / "digits_onecycle_vs_constant.yaml"


def main(quick: bool = False, out: Path = Path("runs/examples")) -> Path:
    exp = load_experiment(CONFIG)  # validated: errors name the field
    if quick:
        exp = Experiment(**{**exp.to_dict(), "epochs": 2, "seeds": [0]})  # re-validated
        out = out / "quick"
    result = run_experiment(exp, out=out, executor="sequential", quiet=True)
    print(result.table("text"))  # mean ± std over seeds per variant
    report = write_report(result.dir)
    print("report:", report)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budget (tests)")
    parser.add_argument("--out", type=Path, default=Path("runs/examples"))
    args = parser.parse_args()
    main(quick=args.quick, out=args.out)

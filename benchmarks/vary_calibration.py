"""How often does the comparison's rule invent a winner, and how often does it find a real one?

Synthetic range-test curves (a plateau at 2.3, a sigmoid descent in log LR to a floor, an
exponential blow-up past LR 1, Gaussian noise of standard deviation σ), 100 log-spaced steps
from 1e-6 to 10:

* **false winners**: four candidates with the *same* curve and independent noise; count the
  sets where ``rank_candidates`` recommends one (it should not);
* **power**: two candidates whose floors differ by Δ; count the pairs where the lower one is
  recommended.

    .venv/bin/python benchmarks/vary_calibration.py
    .venv/bin/python benchmarks/vary_calibration.py --quick --out /tmp/cal.json  # smoke run

Pure numpy (no training); a few seconds. Writes ``benchmarks/out/vary_calibration.json``
(``--out`` elsewhere). ``--quick`` runs 4 sets / pairs per cell instead of 40 / 20.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _common import provenance
from lrlab.compare.ranking import CurveInput, rank_candidates


def curve(floor: float, noise: float, seed: int, n: int = 100) -> CurveInput:
    lrs = np.geomspace(1e-6, 10.0, n)
    x = np.log10(lrs)
    y = 2.3 - (2.3 - floor) / (1.0 + np.exp(-(x + 4.0) / 0.3)) + np.exp(x / 0.15)
    y = y + noise * np.random.default_rng(seed).standard_normal(n)
    cut = np.nonzero(y > 23.0)[0]
    if cut.size:
        y, lrs = y[: cut[0] + 1].copy(), lrs[: cut[0] + 1]
        y[-1] = np.nan
    return CurveInput(list(lrs), list(y))


DEFAULT_OUT = Path(__file__).parent / "out" / "vary_calibration.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 sets / pairs per cell")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report path")
    args = ap.parse_args()
    out: dict[str, list[dict[str, float]]] = {"false_winners": [], "power": []}
    for noise in (0.01, 0.05, 0.2):
        sets = 4 if args.quick else 40
        invented = sum(
            rank_candidates(
                [curve(0.5, noise, 1000 * s + j) for j in range(4)], list("abcd")
            ).recommended
            is not None
            for s in range(sets)
        )
        out["false_winners"].append({"noise": noise, "sets": sets, "invented": invented})
        print(f"identical curves, noise {noise}: a winner invented in {invented} of {sets} sets")
    for noise in (0.02, 0.1):
        for delta in (0.02, 0.05, 0.1, 0.2):
            pairs = 4 if args.quick else 20
            found = sum(
                rank_candidates(
                    [curve(0.5, noise, 2 * s), curve(0.5 + delta, noise, 2 * s + 1)], ["a", "b"]
                ).recommended
                == 0
                for s in range(pairs)
            )
            out["power"].append({"noise": noise, "delta": delta, "pairs": pairs, "found": found})
            print(f"noise {noise}, floors {delta} apart: lower one recommended {found}/{pairs}")
    path = args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**provenance(__file__, None), **out}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

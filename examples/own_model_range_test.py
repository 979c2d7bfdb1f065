"""Range test on YOUR model and DataLoader: the suggestion, its range, and the curve.

Any ``nn.Module``, any optimizer, any re-iterable of ``(inputs, targets)`` batches (here a
plain ``torch.utils.data.DataLoader`` over a synthetic 3-class problem) — lrlab snapshots
the model, optimizer and RNG streams and restores them afterwards, so the model you pass in
is untouched. Run::

    python examples/own_model_range_test.py            # ~10 s on a laptop CPU
    python examples/own_model_range_test.py --quick    # a few seconds (what the tests run)

Writes ``runs/examples/own-model/range_test.json``, ``range_test.png`` and ``report.html``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrlab
from lrlab.report import write_report


def spirals(n: int, seed: int = 0) -> TensorDataset:
    """Three interleaved spirals in 2-D: learnable, but not by a linear model."""
    g = torch.Generator().manual_seed(seed)
    per = n // 3
    t = torch.linspace(0.2, 1.0, per).repeat(3)
    k = torch.arange(3).repeat_interleave(per)
    angle = 4.0 * t + k * (2 * torch.pi / 3) + 0.2 * torch.randn(3 * per, generator=g)
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], dim=1)
    return TensorDataset(x, k)


class Net(nn.Module):
    """The user's model: lrlab needs nothing from it but forward()."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 3),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def main(quick: bool = False, out: Path = Path("runs/examples/own-model")) -> lrlab.RangeTestResult:
    torch.manual_seed(0)
    train = DataLoader(spirals(1500), batch_size=50, shuffle=True)
    valid = DataLoader(spirals(600, seed=1), batch_size=200)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    result = lrlab.range_test(
        model, optimizer, nn.CrossEntropyLoss(), train,
        start_lr=1e-4, end_lr=10.0, num_iter=60 if quick else 150,
        eval_data=valid, eval_every=5, eval_batches=2,   # metric mode: accuracy vs LR too
        chance=1 / 3,
    )  # fmt: skip

    # The model is exactly as it was: the range test trained a throw-away copy of its state.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    print(result)  # steps, stop reason, suggestion with its range and flags
    sug = result.suggestion
    print(f"max LR {sug.lr:.3g} (range {sug.low:.3g} – {sug.high:.3g}); one-cycle would start "
          f"at {sug.lr / 25:.3g}")  # fmt: skip
    if result.diagnosis is not None:
        print("diagnosis:", result.diagnosis.text)

    out.mkdir(parents=True, exist_ok=True)
    result.save(out / "range_test.json")  # data first: reload with RangeTestResult.load
    fig = result.plot().fig
    fig.savefig(out / "range_test.png", dpi=110)
    print("report:", write_report(out))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budget (tests)")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/own-model"))
    args = parser.parse_args()
    main(quick=args.quick, out=args.out)

"""One-cycle training with cyclical momentum, from a range test's suggestion.

The workflow of the seed notes on a built-in task (scikit-learn's 8×8 digits, an MLP):
range test → ``suggestion.one_cycle(total_steps)`` → ``lrlab.fit``. The LR warms up from
max/25 to max over the first 30 % of the updates and anneals to max/25/1e4; SGD's momentum
moves the other way, 0.95 → 0.85 → 0.95 (Smith, 2018). Each epoch record holds the LR and
momentum of the last update, so the records show the cycle. Run::

    python examples/one_cycle_training.py [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lrlab
from lrlab.tasks import get_task


def main(quick: bool = False, out: Path = Path("runs/examples/one-cycle")) -> lrlab.FitResult:
    task = get_task("digits-mlp")  # needs the `datasets` extra (scikit-learn)
    data = task.data(seed=0)  # TensorLoaders: data.train, data.eval
    model = task.model(seed=0)  # same seed, same initial weights
    optimizer = task.make_optimizer(model, lr=0.01, momentum=0.9)  # SGD

    found = lrlab.range_test(
        model, optimizer, task.criterion(), data.train,
        start_lr=1e-4, end_lr=10.0, num_iter=50 if quick else 100,
    )  # fmt: skip
    epochs = 3 if quick else 10
    total = epochs * len(data.train)  # optimizer updates in the run
    schedule = found.suggestion.one_cycle(total_steps=total)  # cycle_momentum on by default
    print(f"max LR {found.suggestion.lr:.3g}; schedule {schedule.to_dict()['params']}")

    result = lrlab.fit(
        model, optimizer, task.criterion(), data.train,
        schedule=schedule, epochs=epochs, eval_data=data.eval, metrics=["accuracy"],
        out_dir=out, quiet=True,                  # records.jsonl, checkpoint.pt in out/
    )  # fmt: skip
    for rec in result.records:
        print(f"epoch {rec['epoch']:>2}  lr {rec['lr']:.4g}  momentum {rec['momentum']:.3f}  "
              f"eval accuracy {rec['eval_accuracy']:.3f}")  # fmt: skip
    # The optimizer really saw the cycle: momentum went down while the LR went up.
    assert min(r["momentum"] for r in result.records) < 0.9 < schedule.momentum(0)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budget (tests)")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/one-cycle"))
    args = parser.parse_args()
    main(quick=args.quick, out=args.out)

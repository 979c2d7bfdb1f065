"""Smith's disciplined approach on mnist1d: what do the momentum and weight-decay tests
recommend, and does one-cycle training with the recommendation beat the task's default?

Steps, per task (``mnist1d-mlp``, ``mnist1d-cnn``; Adam, lr 1e-2, batch 100 by default):

1. **Momentum test** (``betas[0]`` of Adam): ``compare_range_tests`` over
   0.99, 0.97, 0.95, 0.9, window 1e-5 → 1, 100 steps, ``--repeats`` data orders per
   candidate, for every test seed (same init and data orders for every candidate within a
   seed; the seeds differ in init and data).
2. **Weight-decay test** with the momentum found in 1 (or the default 0.9 when there was no
   clear winner): 1e-3, 1e-4, 1e-5, 1e-6, plus the one-cycle confirmation
   (``confirm_with_one_cycle``: lowest test loss after a short one-cycle run).
   The value ranked first by most seeds is used (the default when the seeds disagree); for
   weight decay, when the seeds disagree, the one-cycle confirmation's most frequent pick.
3. **Training**, ``--epochs`` epochs, ``--seeds`` training seeds, three arms:

   * ``default``: the task's optimizer as is (Adam lr 1e-2, betas 0.9, no weight decay),
     constant LR;
   * ``one-cycle``: one-cycle to the default optimizer's own suggested max LR (range test
     of the default settings), momentum held at the default (``cycle_momentum=False``);
   * ``one-cycle+rec``: one-cycle to the recommended candidate's suggested max LR, with the
     recommended momentum and weight decay.

   The ``one-cycle`` arm separates what the schedule does from what the recommendation
   does. Reported: final eval accuracy and loss, mean ± std over seeds.

    .venv/bin/python benchmarks/vary_mnist1d.py                 # both tasks, 5 seeds
    .venv/bin/python benchmarks/vary_mnist1d.py --quick --out /tmp/v.json  # smoke run
    .venv/bin/python benchmarks/vary_mnist1d.py --optimizer sgd # SGD instead of Adam
    .venv/bin/python benchmarks/vary_mnist1d.py --ablation      # Adam β1 alone, mnist1d-cnn

Writes ``benchmarks/out/vary_mnist1d.json`` (``vary_mnist1d_sgd.json`` with ``--optimizer
sgd``, ``vary_mnist1d_ablation.json`` with ``--ablation``; ``--out`` elsewhere): every
comparison, every run, the machine. ``--quick`` is a smoke run of every step (mnist1d-mlp, one
test seed and one training seed, 20-step range tests, one data order, 1-epoch confirmation and
training): its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from _common import provenance

MOMENTA = [0.99, 0.97, 0.95, 0.9]
WEIGHT_DECAYS = [1e-3, 1e-4, 1e-5, 1e-6]
WINDOW = {"start_lr": 1e-5, "end_lr": 1.0, "num_iter": 100}
REPEATS = 3  # set from --repeats
CONFIRM_EPOCHS = 5  # epochs of the weight-decay test's one-cycle confirmation (1 with --quick)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _comparison(task: Any, vary: dict[str, list[Any]], seed: int, **kw: Any) -> dict[str, Any]:
    from lrlab.compare import compare_range_tests_on_task

    r = compare_range_tests_on_task(
        task, vary, seed=seed, device="cpu", repeats=REPEATS, **WINDOW, **kw
    )
    out = {
        "seed": seed,
        "recommendation": r.recommendation,
        "verdict": r.verdict,
        "order": [r.candidates[k].value for k in r.ranking.order],
        "max_lrs": {str(c.value): c.suggested_lr for c in r.candidates},
        "best_loss": {
            str(c.value): m.best_loss for c, m in zip(r.candidates, r.ranking.measures, strict=True)
        },
        "lr_limit": {
            str(c.value): m.lr_limit for c, m in zip(r.candidates, r.ranking.measures, strict=True)
        },
        "confirmed": r.confirmed,
        "confirm_eval_loss": {
            str(c.value): (c.confirmation.eval_loss if c.confirmation else None)
            for c in r.candidates
        },
        "elapsed": r.elapsed,
    }
    print(f"  {r.config['task']} seed {seed} {next(iter(vary))}: {r.verdict}")
    print(f"    order {out['order']}; max lrs {out['max_lrs']}")
    if r.confirmed is not None:
        print(f"    one-cycle confirmation: lowest eval loss with {r.confirmed}")
    return out


def _task(task: Any) -> Any:
    from lrlab.tasks import get_task

    return get_task(task) if isinstance(task, str) else task


def _suggested_lr(task: Any, seed: int, **overrides: Any) -> float:
    from lrlab.finder import range_test

    t = _task(task)
    model = t.model(seed=seed)
    data = t.data(seed=seed)
    opt = t.make_optimizer(model, **overrides)
    r = range_test(model, opt, t.criterion(), data.train, **WINDOW)
    return float(r.suggestion.lr)


def _train(task: Any, seed: int, epochs: int, *, max_lr: float | None, **overrides: Any):
    from lrlab.schedules import one_cycle
    from lrlab.train import fit

    t = _task(task)
    model = t.model(seed=seed)
    data = t.data(seed=seed)
    opt = t.make_optimizer(model, **overrides)
    schedule = None
    if max_lr is not None:
        schedule = one_cycle(max_lr, total_steps=epochs * len(data.train), cycle_momentum=False)
    res = fit(
        model, opt, t.criterion(), data.train, schedule=schedule, epochs=epochs,
        eval_data=data.eval, metrics=list(t.metrics), quiet=True,
    )  # fmt: skip
    return {"eval_accuracy": res.final["eval_accuracy"], "eval_loss": res.final["eval_loss"]}


def _pick(comparisons: list[dict[str, Any]], default: Any, *, confirmed: bool = False) -> Any:
    """The value ranked first by most test seeds (with ``confirmed``: the one the one-cycle
    confirmation picked most often), else ``default``. First place counts whether or not the
    seed's verdict was clear: the study asks whether following the test helps; how often the
    verdict was clear is reported next to it."""
    votes = [c["confirmed"] if confirmed else c["order"][0] for c in comparisons]
    votes = [v for v in votes if v is not None]
    if not votes:
        return default
    best = max(set(votes), key=votes.count)
    return best if votes.count(best) > len(comparisons) / 2 else default


def run(task: Any, test_seeds: list[int], train_seeds: list[int], epochs: int) -> dict[str, Any]:
    print(f"== {task.name} ({task.optimizer.name} {dict(task.optimizer.kwargs)})")
    started = time.perf_counter()
    mom = [_comparison(task, {"momentum": MOMENTA}, s) for s in test_seeds]
    momentum = _pick(mom, 0.9)
    clear = sum(c["recommendation"] is not None for c in mom)
    print(f"  -> momentum {momentum} (a clear winner in {clear} of {len(mom)} seeds)")
    base = task
    opt_name = base.optimizer.name
    mom_key = (
        {"betas": (momentum, 0.999)} if opt_name.startswith("adam") else {"momentum": momentum}
    )
    task_m = base.replace(
        optimizer=base.optimizer.__class__(opt_name, {**base.optimizer.kwargs, **mom_key})
    )
    wd = [
        _comparison(
            task_m, {"weight_decay": WEIGHT_DECAYS}, s, confirm_with_one_cycle=CONFIRM_EPOCHS
        )
        for s in test_seeds
    ]
    weight_decay = _pick(wd, None)
    confirmed_wd = _pick(wd, None, confirmed=True)
    chosen_wd = weight_decay if weight_decay is not None else (confirmed_wd or 0.0)
    clear_wd = sum(c["recommendation"] is not None for c in wd)
    print(f"  (weight decay: a clear winner in {clear_wd} of {len(wd)} seeds)")
    print(f"  -> weight decay {weight_decay} (confirmation: {confirmed_wd}); using {chosen_wd}")
    arms: dict[str, list[dict[str, float]]] = {"default": [], "one-cycle": [], "one-cycle+rec": []}
    for s in train_seeds:
        lr_default = _suggested_lr(task, s)
        lr_rec = _suggested_lr(task, s, weight_decay=chosen_wd, **mom_key)
        arms["default"].append(_train(task, s, epochs, max_lr=None))
        arms["one-cycle"].append(_train(task, s, epochs, max_lr=lr_default))
        arms["one-cycle+rec"].append(
            _train(task, s, epochs, max_lr=lr_rec, weight_decay=chosen_wd, **mom_key)
        )
        arms["one-cycle"][-1]["max_lr"] = lr_default
        arms["one-cycle+rec"][-1]["max_lr"] = lr_rec
    summary = {}
    for arm, runs in arms.items():
        acc = _mean_std([r["eval_accuracy"] for r in runs])
        loss = _mean_std([r["eval_loss"] for r in runs])
        summary[arm] = {"eval_accuracy": acc, "eval_loss": loss}
        print(
            f"  {arm:14s} eval accuracy {acc[0]:.4f} ± {acc[1]:.4f}   "
            f"eval loss {loss[0]:.4f} ± {loss[1]:.4f}   (n={len(runs)})"
        )
    return {
        "task": task.name,
        "optimizer": task.optimizer.to_dict(),
        "momentum_tests": mom,
        "weight_decay_tests": wd,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "weight_decay_confirmed": confirmed_wd,
        "weight_decay_used": chosen_wd,
        "runs": arms,
        "summary": summary,
        "epochs": epochs,
        "elapsed": time.perf_counter() - started,
    }


def ablation(task: Any, seeds: list[int], epochs: int) -> dict[str, Any]:
    """Adam's β1 on its own: one-cycle runs at each β1's own suggested max LR (and β1 0.99
    at β1 0.9's), no weight decay — is a β1 the momentum test ranks first better to train?"""
    arms = {
        "beta1=0.9": ({"betas": (0.9, 0.999)}, None),
        "beta1=0.95": ({"betas": (0.95, 0.999)}, None),
        "beta1=0.99": ({"betas": (0.99, 0.999)}, None),
        "beta1=0.99 at the max lr of 0.9": ({"betas": (0.99, 0.999)}, "beta1=0.9"),
        "beta1=0.9, weight decay 1e-4": ({"betas": (0.9, 0.999), "weight_decay": 1e-4}, None),
    }
    runs: dict[str, list[dict[str, float]]] = {a: [] for a in arms}
    for s in seeds:
        lrs: dict[str, float] = {}
        for arm, (overrides, lr_from) in arms.items():
            lrs[arm] = lrs[lr_from] if lr_from else _suggested_lr(task, s, **overrides)
            runs[arm].append({**_train(task, s, epochs, max_lr=lrs[arm], **overrides),
                              "max_lr": lrs[arm]})  # fmt: skip
    print(f"== β1 ablation on {task.name}")
    summary = {}
    for arm, rs in runs.items():
        acc = _mean_std([r["eval_accuracy"] for r in rs])
        summary[arm] = {"eval_accuracy": acc}
        print(f"  {arm:32s} eval accuracy {acc[0]:.4f} ± {acc[1]:.4f}")
    return {"task": task.name, "runs": runs, "summary": summary, "epochs": epochs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (see above)")
    ap.add_argument("--out", type=Path, default=None, help="JSON report path")
    ap.add_argument("--tasks", default="mnist1d-mlp,mnist1d-cnn")
    ap.add_argument("--seeds", type=int, default=5, help="training seeds")
    ap.add_argument("--test-seeds", type=int, default=3, help="seeds of the comparisons")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="data orders per candidate")
    ap.add_argument(
        "--optimizer",
        choices=["default", "sgd"],
        default="default",
        help="sgd: SGD(lr 0.05, momentum 0.9) instead of the task's Adam, window 1e-4 → 10",
    )
    ap.add_argument(
        "--ablation", action="store_true", help="only the Adam β1 ablation on mnist1d-cnn"
    )
    args = ap.parse_args()
    global REPEATS, CONFIRM_EPOCHS
    REPEATS = 1 if args.quick else args.repeats
    if args.quick:
        CONFIRM_EPOCHS = 1
        WINDOW.update(num_iter=20)
    from lrlab.tasks import get_task

    options: dict[str, Any] = {}
    if args.optimizer == "sgd":
        options["optimizer"] = {"name": "sgd", "lr": 0.05, "momentum": 0.9}
        WINDOW.update(start_lr=1e-4, end_lr=10.0)
    torch.set_num_threads(1)
    tasks = ["mnist1d-mlp"] if args.quick else args.tasks.split(",")
    seeds = list(range(1 if args.quick else args.seeds))
    test_seeds = list(range(1 if args.quick else args.test_seeds))
    epochs = 1 if args.quick else args.epochs
    if args.ablation:
        results = [ablation(get_task("mnist1d-cnn"), seeds, epochs)]
        args.optimizer = "ablation"
    else:
        results = [run(get_task(t, **options), test_seeds, seeds, epochs) for t in tasks]
    suffix = "" if args.optimizer == "default" else f"_{args.optimizer}"
    out = args.out or Path(__file__).parent / "out" / f"vary_mnist1d{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        **provenance(__file__, None),
        "threads": 1,
        "repeats": REPEATS,
        "window": WINDOW,
    }
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

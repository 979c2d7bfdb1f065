"""ResNet9 + one-cycle on CIFAR-10: seed 004's / David Page's 24-epoch recipe.

The recipe: batch 512, 24 epochs, random crop of the reflect-padded image (4 px), flips,
one 8×8 cutout, SGD with momentum 0.9 and weight decay 5e-4, a one-cycle LR (linear up to
``--max-lr`` at epoch 5, linear down to ~0 at the end — Page's piecewise-linear schedule;
seed 004 used ``OneCycleLR`` peaking at epoch 6). Two tasks:

* ``cifar10-resnet9-page`` (default): Page's model (no biases, logits × 0.125), nesterov,
  ``--max-lr 0.4`` — Page reports 94 % test accuracy in 24 epochs;
* ``cifar10-resnet9``: the seeds' model (6,575,370 parameters), e.g. ``--max-lr 0.025``
  (seed 004's range-test pick; it reached 90.5 %).

**With the archive** (``--data PATH`` or ``$LRLAB_DATA_DIR`` / ``~/.cache/lrlab``; nothing
is downloaded unless ``--download``), it trains for real with ``lrlab.train.fit`` and
reports test accuracy, epoch times and images/s. **Without it** (no machine here can
download CIFAR-10), it times training steps on CIFAR-shaped synthetic data (random uint8
images, random labels) through the same task pipeline — loader, augmentation, model,
optimizer, schedule — and reports images/s and the projected time of 24 epochs
(``24 × ⌈50000 / batch⌉`` steps + 24 evaluations of 10,000 images).

    .venv/bin/python benchmarks/cifar10_resnet9.py --quick            # a few small steps
    .venv/bin/python benchmarks/cifar10_resnet9.py --device cuda --channels-last --amp bf16
    .venv/bin/python benchmarks/cifar10_resnet9.py --data ~/data/cifar-10-python.tar.gz

Writes ``benchmarks/out/cifar10_resnet9.json`` (configuration, timings, machine, versions).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from _common import provenance
from lrlab._io import write_json
from lrlab.data.base import DatasetSplits
from lrlab.devices import resolve_device
from lrlab.optim.driver import ScheduleDriver
from lrlab.schedules import one_cycle
from lrlab.tasks import get_task

OUT = Path(__file__).resolve().parent / "out" / "cifar10_resnet9.json"
TRAIN, TEST = 50_000, 10_000


def synthetic_cifar(n_train: int = TRAIN, n_eval: int = TEST, seed: int = 0) -> DatasetSplits:
    """CIFAR-shaped random data (uint8 images, labels 0…9): timing only, nothing to learn."""
    g = torch.Generator().manual_seed(seed)
    return DatasetSplits(
        name="cifar10-synthetic",
        x_train=torch.randint(0, 256, (n_train, 3, 32, 32), dtype=torch.uint8, generator=g),
        y_train=torch.randint(0, 10, (n_train,), generator=g),
        x_eval=torch.randint(0, 256, (n_eval, 3, 32, 32), dtype=torch.uint8, generator=g),
        y_eval=torch.randint(0, 10, (n_eval,), generator=g),
        num_classes=10,
    )


def schedule_for(max_lr: float, epochs: int, steps_per_epoch: int):
    """Page's shape: linear 0 → max_lr over the first 5/24 of training, then linear → ~0
    (``one_cycle`` with linear annealing, a large ``div_factor``), momentum left at 0.9."""
    return one_cycle(
        max_lr,
        total_steps=epochs * steps_per_epoch,
        pct_start=5 / 24,
        anneal="linear",
        div_factor=1e3,
        final_div_factor=1e3,
        cycle_momentum=False,
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(task: Any, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Time ``args.steps`` training steps (after ``args.warmup``) and one eval pass."""
    n_train = args.batch_size * (args.warmup + args.steps)
    n_eval = 4 * args.batch_size if args.quick else 2048
    task = task.replace(
        data_fn=synthetic_cifar, data_options={"n_train": n_train, "n_eval": n_eval}
    )
    bundle = task.data(seed=0, device=device, batch_size=args.batch_size)
    model = task.model(seed=0, device=device)
    optimizer = task.make_optimizer(model)
    steps_per_epoch = math.ceil(TRAIN / args.batch_size)
    driver = ScheduleDriver(optimizer, schedule_for(args.max_lr, args.epochs, steps_per_epoch))
    criterion = task.criterion()
    amp_dtype = task.amp_dtype
    model.train()
    times = []
    batches = iter(bundle.train)
    for step in range(args.warmup + args.steps):
        xb, yb = next(batches)
        _sync(device)
        start = time.perf_counter()
        driver.apply(step)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss.detach())  # the loop reads the loss every step, as fit does
        _sync(device)
        times.append(time.perf_counter() - start)
    step_s = sum(times[args.warmup :]) / args.steps
    model.eval()
    _sync(device)
    start = time.perf_counter()
    n_eval = 0
    with (
        torch.no_grad(),
        torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None),
    ):
        for xb, _ in bundle.eval:
            model(xb)
            n_eval += xb.shape[0]
    _sync(device)
    eval_img_s = n_eval / (time.perf_counter() - start)
    train_img_s = args.batch_size / step_s
    projected = args.epochs * (steps_per_epoch * step_s + TEST / eval_img_s)
    return {
        "mode": "synthetic",
        "step_seconds": times,
        "train_images_per_s": train_img_s,
        "eval_images_per_s": eval_img_s,
        "steps_per_epoch": steps_per_epoch,
        "projected_epoch_seconds": steps_per_epoch * step_s + TEST / eval_img_s,
        "projected_total_seconds": projected,
    }


def train_for_real(task: Any, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    from lrlab.train import fit

    bundle = task.data(seed=args.seed, device=device, batch_size=args.batch_size)
    model = task.model(seed=args.seed, device=device)
    optimizer = task.make_optimizer(model)
    schedule = schedule_for(args.max_lr, args.epochs, len(bundle.train))
    start = time.perf_counter()
    result = fit(
        model,
        optimizer,
        task.criterion(),
        bundle.train,
        schedule=schedule,
        epochs=args.epochs,
        eval_data=bundle.eval,
        amp=task.amp or False,
        device=device,
        quiet=args.quiet,
    )
    total = time.perf_counter() - start
    records = [r for r in result.records if r.get("epoch", 0) >= 1]
    epoch_times = [r["epoch_time"] for r in records if r.get("epoch_time") is not None]
    return {
        "mode": "cifar10",
        "stop_reason": result.stop_reason,
        "final": result.final,
        "epoch_seconds": epoch_times,
        "total_seconds": total,
        "train_images_per_s": bundle.n_train / (sum(epoch_times) / len(epoch_times))
        if epoch_times
        else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--task",
        default="cifar10-resnet9-page",
        choices=["cifar10-resnet9-page", "cifar10-resnet9"],
    )
    p.add_argument("--data", default=None, help="cifar-10-python.tar.gz, its folder, or a dir")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 when missing")
    p.add_argument("--synthetic", action="store_true", help="time on synthetic data even if found")
    p.add_argument("--epochs", type=int, default=24)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--max-lr", type=float, default=None, help="default: 0.4 (page), 0.025 (seed)")
    p.add_argument("--steps", type=int, default=5, help="timed steps on synthetic data")
    p.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    p.add_argument("--device", default="auto")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="synthetic, batch 32, 1 + 2 steps")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.quick:
        args.synthetic, args.batch_size, args.warmup, args.steps = True, 32, 1, 2
    if args.max_lr is None:
        args.max_lr = 0.4 if args.task.endswith("page") else 0.025
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    task = get_task(
        args.task,
        path=args.data,
        download=args.download,
        channels_last=args.channels_last,
        amp=args.amp,
        compile=args.compile,
    )
    found = None
    if not args.synthetic:
        from lrlab.data.cifar import find_cifar10

        found = find_cifar10(args.data)
    print(
        f"{args.task}: batch {args.batch_size}, {args.epochs} epochs, max LR {args.max_lr}, "
        f"device {device}, channels_last={args.channels_last}, amp={args.amp}, "
        f"data={'CIFAR-10 at ' + str(found) if found else 'synthetic (CIFAR-shaped)'}",
        file=sys.stderr,
    )
    if found is not None or (args.download and not args.synthetic):
        timing = train_for_real(task, args, device)
        acc = (timing["final"] or {}).get("eval_accuracy")
        print(f"  test accuracy {acc}, {timing['total_seconds']:.0f} s in all")
    else:
        timing = time_steps(task, args, device)
        print(
            f"  train {timing['train_images_per_s']:.0f} images/s, eval "
            f"{timing['eval_images_per_s']:.0f} images/s; projected {args.epochs} epochs: "
            f"{timing['projected_total_seconds'] / 60:.1f} min "
            f"({timing['projected_epoch_seconds']:.1f} s/epoch)"
        )
    result = {
        "benchmark": "cifar10_resnet9",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "result": timing,
        **provenance(__file__, argv),
    }
    write_json(args.out, result)
    print(f"  wrote {args.out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()

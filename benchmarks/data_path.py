"""Data path: lrlab's on-device loader vs a torch DataLoader with per-sample transforms.

Both serve the same CIFAR-shaped uint8 data (N × 3 × 32 × 32, 10 classes) in batches of
512 with the same training augmentation — random 32×32 crop of the image reflect-padded by
4, horizontal flip with p = 1/2, one 8×8 cutout — and the same per-channel normalisation:

* **lrlab**: ``TensorLoader`` (data held as one tensor on the device; a seeded permutation;
  ``Normalize`` + ``ImageAugment`` on whole batches: one gather for crop + flip, one
  ``masked_fill`` for cutout);
* **torch**: ``torch.utils.data.DataLoader(shuffle=True)`` over a ``Dataset`` whose
  ``__getitem__`` normalises, pads, crops, flips and cuts out one image at a time (what a
  torchvision ``Compose`` does), ``default_collate`` stacking them; ``--workers`` worker
  processes (default 0: this machine has two shared cores).

Each side runs one warm-up epoch; then ``--epochs`` rounds each time one epoch of lrlab's
loader and one of the DataLoader, *interleaved*, so that a change in the load of a shared
machine hits both alike. The result is the median batches/s and images/s of each, their
ratio, and the median of the per-round ratios. Everything is printed and written to
``benchmarks/out/data_path.json`` with the configuration, the machine and the versions.

    .venv/bin/python benchmarks/data_path.py            # 10,000 images, 5 timed rounds
    .venv/bin/python benchmarks/data_path.py --quick    # 2,048 images, 1 timed round
    .venv/bin/python benchmarks/data_path.py --device cuda --samples 50000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from _common import provenance
from lrlab._io import write_json
from lrlab.data.augment import ImageAugment, Normalize
from lrlab.data.loader import TensorLoader
from lrlab.devices import resolve_device

OUT = Path(__file__).resolve().parent / "out" / "data_path.json"


class PerSampleCifar(torch.utils.data.Dataset):
    """The DataLoader side: one image at a time, as torchvision-style transforms do."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, norm: Normalize, seed: int = 0):
        self.x, self.y = x, y
        self.mean = torch.tensor(norm.mean).view(3, 1, 1)
        self.std = torch.tensor(norm.std).view(3, 1, 1)
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = (self.x[i].float() / 255 - self.mean) / self.std  # ToTensor + Normalize
        padded = F.pad(img[None], (4, 4, 4, 4), mode="reflect")[0]  # RandomCrop(32, 4, reflect)
        top, left = (int(v) for v in torch.randint(0, 9, (2,), generator=self.gen))
        img = padded[:, top : top + 32, left : left + 32]
        if torch.rand((), generator=self.gen) < 0.5:  # RandomHorizontalFlip
            img = img.flip(-1)
        cy, cx = (int(v) for v in torch.randint(0, 25, (2,), generator=self.gen))  # Cutout(8)
        img = img.clone()
        img[:, cy : cy + 8, cx : cx + 8] = 0
        return img, self.y[i]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(batches: Any) -> None:
    """One untimed pass: allocator, worker start-up, first-call overheads."""
    for xb, _ in batches:
        float(xb[:1].sum())


def time_epoch(batches: Any, device: torch.device, to_device: bool) -> dict[str, float]:
    """One timed pass; each batch is touched (one element read) so lazy work is done, and
    moved to ``device`` when it is not there yet."""
    n_batches = n_images = 0
    _sync(device)
    start = time.perf_counter()
    for xb, yb in batches:
        if to_device:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        float(xb[:1, :1, :1, :1].sum())
        n_batches += 1
        n_images += int(xb.shape[0])
    _sync(device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "batches": n_batches, "images": n_images}


def summarize(epochs: list[dict[str, float]]) -> dict[str, Any]:
    """Median throughput over the timed epochs (robust to a noisy, shared machine)."""
    rates = sorted(e["batches"] / e["seconds"] for e in epochs)
    images = sorted(e["images"] / e["seconds"] for e in epochs)
    return {
        "epochs": epochs,
        "batches": int(sum(e["batches"] for e in epochs)),
        "batches_per_s": statistics.median(rates),
        "images_per_s": statistics.median(images),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", type=int, default=10_000, help="images in the dataset")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--epochs", type=int, default=5, help="timed rounds (after one warm-up)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--device", default="cpu", help="'cpu', 'cuda', 'auto'")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="2,048 images, 1 timed round")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.epochs = min(args.samples, 2048), 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.samples, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (args.samples,), generator=g)
    norm = Normalize.fit(x)
    augment = ImageAugment(padding=4, pad_mode="reflect", flip=True, cutout=8)

    ours = TensorLoader(
        x, y, args.batch_size, seed=0, augment=augment, transform=norm, device=device
    )
    theirs = torch.utils.data.DataLoader(
        PerSampleCifar(x, y, norm),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=args.workers > 0,
    )
    xa, _ = next(iter(ours))
    xb, _ = next(iter(theirs))
    assert xa.shape == xb.shape and xa.dtype == xb.dtype, (xa.shape, xb.shape)

    print(
        f"data path: {args.samples} CIFAR-shaped images, batch {args.batch_size}, "
        f"crop(reflect 4) + flip + cutout 8 + normalise, device {device}, "
        f"{torch.get_num_threads()} torch threads, DataLoader workers {args.workers}",
        file=sys.stderr,
    )
    warm_up(ours)
    warm_up(theirs)
    ours_epochs, theirs_epochs = [], []
    for _ in range(args.epochs):  # interleaved: A, B, A, B, ...
        ours_epochs.append(time_epoch(ours, device, to_device=False))
        theirs_epochs.append(time_epoch(theirs, device, to_device=True))
    r_ours, r_theirs = summarize(ours_epochs), summarize(theirs_epochs)
    ratio = r_ours["batches_per_s"] / r_theirs["batches_per_s"]
    round_ratios = [
        (a["batches"] / a["seconds"]) / (b["batches"] / b["seconds"])
        for a, b in zip(ours_epochs, theirs_epochs, strict=True)
    ]
    for name, r in (("lrlab TensorLoader", r_ours), ("torch DataLoader", r_theirs)):
        print(
            f"  {name:<20} {r['batches_per_s']:9.1f} batches/s  {r['images_per_s']:11.0f} images/s",
        )
    print(
        f"  ratio (lrlab / DataLoader): {ratio:.1f}x "
        f"(per round: {', '.join(f'{v:.1f}' for v in round_ratios)})"
    )
    result = {
        "benchmark": "data_path",
        "config": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "augment": "crop 32 of reflect-pad 4, flip p=0.5, cutout 8x8, normalise",
        },
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "lrlab": r_ours,
        "dataloader": r_theirs,
        "ratio_batches_per_s": ratio,
        "ratio_per_round": round_ratios,
        **provenance(__file__, argv),
    }
    write_json(args.out, result)
    print(f"  wrote {args.out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()

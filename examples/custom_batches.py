"""Batches that are not ``(inputs, targets)``: ``unpack=`` and ``step_fn=``.

Two common shapes of real code:

1. **Dict batches** (``{"features": ..., "mask": ..., "label": ...}``) with a model that
   takes several inputs: ``unpack=`` says which part is the input and which the target
   (a tuple of inputs is passed as ``model(*inputs)``, a dict as ``model(**inputs)``).
2. **A model that computes its own loss** (Hugging Face style, ``model(**batch).loss``):
   ``step_fn(model, batch)`` returns the loss — or a :class:`lrlab.StepOutput` with the
   outputs and targets too, so metrics still work.

Both go through the same range test and training loop as ``(x, y)`` batches. Run::

    python examples/custom_batches.py [--quick]
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import torch
from torch import nn

import lrlab


def dict_batches(n_batches: int, batch_size: int = 64, seed: int = 0) -> list[dict]:
    """A regression with a padding mask: y = sum of the unmasked features."""
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        x = torch.randn(batch_size, 8, generator=g)
        mask = (torch.rand(batch_size, 8, generator=g) > 0.25).float()
        batches.append({"features": x, "mask": mask, "label": (x * mask).sum(1, keepdim=True)})
    return batches


class MaskedRegressor(nn.Module):
    """Takes two inputs: ``forward(features, mask)``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([features * mask, mask], dim=1))


class SelfLossClassifier(nn.Module):
    """Returns an object with ``.loss`` and ``.logits``, like transformers' models."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> SimpleNamespace:
        logits = self.net(features)
        return SimpleNamespace(loss=nn.functional.cross_entropy(logits, labels), logits=logits)


def unpack_masked(batch: dict) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    return (batch["features"], batch["mask"]), batch["label"]


def self_loss_step(model: nn.Module, batch: dict) -> lrlab.StepOutput:
    out = model(features=batch["features"], labels=batch["labels"])
    # Returning outputs and targets as well lets lrlab compute accuracy.
    return lrlab.StepOutput(loss=out.loss, outputs=out.logits, targets=batch["labels"])


def main(quick: bool = False) -> dict:
    torch.manual_seed(0)
    num_iter = 40 if quick else 100

    # 1. dict batches + unpack=
    data = dict_batches(20)
    model = MaskedRegressor()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rt1 = lrlab.range_test(
        model, opt, nn.MSELoss(), data, unpack=unpack_masked,
        start_lr=1e-5, end_lr=1.0, num_iter=num_iter,
    )  # fmt: skip
    print("dict batches:", rt1)
    fit1 = lrlab.fit(
        model, opt, nn.MSELoss(), data, unpack=unpack_masked,
        schedule=rt1.suggestion.one_cycle(total_steps=(2 if quick else 5) * len(data)),
        epochs=2 if quick else 5, eval_data=dict_batches(4, seed=1), quiet=True,
    )  # fmt: skip
    print(f"  eval MSE before {fit1.records[0]['eval_loss']:.3f}, "
          f"after {fit1.final['eval_loss']:.3f}")  # fmt: skip

    # 2. a model that returns its own loss + step_fn=
    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(20):
        x = torch.randn(64, 8, generator=g)
        batches.append({"features": x, "labels": (x[:, 0] + x[:, 1] > 0).long()})
    clf = SelfLossClassifier()
    opt2 = torch.optim.SGD(clf.parameters(), lr=0.01, momentum=0.9)
    rt2 = lrlab.range_test(
        clf, opt2, None, batches, step_fn=self_loss_step,
        start_lr=1e-4, end_lr=10.0, num_iter=num_iter,
    )  # fmt: skip
    print("model with its own loss:", rt2)
    fit2 = lrlab.fit(
        clf, opt2, None, batches, step_fn=self_loss_step,
        schedule=rt2.suggestion.one_cycle(total_steps=3 * len(batches)), epochs=3,
        eval_data=batches[:5], metrics=["accuracy"], quiet=True,
    )  # fmt: skip
    print(f"  accuracy after 3 epochs: {fit2.final['eval_accuracy']:.3f}")
    return {"dict": (rt1, fit1), "self_loss": (rt2, fit2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budget (tests)")
    main(quick=parser.parse_args().quick)

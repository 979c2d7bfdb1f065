"""lrlab's ``find_lr`` inside a Lightning fit: the ``FindLR`` callback.

A LightningModule keeps its learning rate in ``self.lr`` and logs with ``self.log`` as usual.
``FindLR(schedule=True)`` finds, at fit start, the peak LR of the one-cycle this trainer will
run (its length read from ``max_epochs`` and ``accumulate_grad_batches``), sets ``self.lr``,
rebuilds the optimizer and installs the one-cycle; the fit then trains with it. The result is
``finder.result`` and in the CSV log (``find_lr/lr``, ``find_lr/low``, ...). Synthetic data,
no download. Run::

    python examples/lightning_findlr.py [--quick]
"""

from __future__ import annotations

import argparse

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrlab.integrations.lightning import FindLR


def blobs(n: int, seed: int) -> TensorDataset:
    """Four Gaussian blobs in 16 dimensions, two classes (an XOR of the blob's corner)."""
    gen = torch.Generator().manual_seed(seed)
    corner = torch.randint(0, 2, (n, 2), generator=gen)
    centres = torch.cat([corner.float() * 2 - 1, torch.zeros(n, 14)], dim=1) * 2
    x = centres + torch.randn(n, 16, generator=gen)
    return TensorDataset(x, (corner[:, 0] ^ corner[:, 1]).long())


class Blobs(pl.LightningDataModule):
    def __init__(self, n_train: int, batch_size: int = 32) -> None:
        super().__init__()
        self.n_train, self.batch_size = n_train, batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(blobs(self.n_train, 0), batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(blobs(512, 1), batch_size=256)


class Classifier(pl.LightningModule):
    def __init__(self, lr: float = 1e-3) -> None:
        super().__init__()
        self.lr = lr  # FindLR sets it; configure_optimizers reads it
        self.net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 2))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.log_dict({"val_loss": loss, "val_acc": (logits.argmax(1) == y).float().mean()})
        return loss  # find_lr judges its candidates with it

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


def main(quick: bool = False) -> FindLR:
    pl.seed_everything(0, verbose=False)
    finder = FindLR(schedule=True)
    trainer = pl.Trainer(
        max_epochs=3 if quick else 10,
        accumulate_grad_batches=2,
        callbacks=[finder],
        logger=pl.loggers.CSVLogger("runs/examples", name="lightning_findlr"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=10,
    )
    module = Classifier()
    trainer.fit(module, datamodule=Blobs(n_train=1024 if quick else 4096))
    found = finder.result
    print(f"FindLR: {found}")
    print(f"  planned: {found.schedule['name']} over {found.total_steps} optimizer steps")
    print(f"  the module trained at lr={module.lr:.4g} (peak of the installed one-cycle)")
    print(f"  val accuracy after {trainer.current_epoch} epochs: "
          f"{float(trainer.callback_metrics['val_acc']):.3f}")  # fmt: skip
    return finder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budget (tests)")
    main(quick=parser.parse_args().quick)

"""Re-scanning during training: how the sweet spot moves (seed 003's "after training").

Seed 003 scanned the log-function MLP, trained it 50 epochs at 3.2e-2, scanned again, and
found the sweet spot had moved from 1e-2…1e-1 down to 1e-4…1e-3. ``RescanCallback`` does
this inside :func:`lrlab.fit`: every ``every`` epochs (and once before training, with
``at_start``) it runs :func:`lrlab.scan` from the model as it is, keeps the results, adds the
best LR per horizon to the epoch record (``records.jsonl``) and, when the run has an output
directory, saves each scan as ``scans/epoch_NNNN.json``.

The training run is not disturbed: the scan trains copies and restores the random state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lrlab.errors import check
from lrlab.scanning.result import ScanResult
from lrlab.scanning.scan import scan


class RescanCallback:
    """A ``fit`` callback running a look-ahead scan every ``every`` epochs.

    ``criterion`` / ``train_data`` (and ``step_fn``, ``eval_data``, ... in ``scan_kwargs``)
    are what the scan trains and evaluates on — usually the same as the ``fit`` call's.
    ``optimizer`` defaults to the run's optimizer (its class and hyper-parameters; its state
    with ``carry_optimizer_state=True``). ``history`` holds ``(epoch, ScanResult)`` pairs;
    epoch 0 is the scan before training.
    """

    def __init__(
        self,
        criterion: Callable[..., Any] | None,
        train_data: Iterable[Any],
        *,
        every: int = 1,
        at_start: bool = True,
        key: str = "scan",
        **scan_kwargs: Any,
    ) -> None:
        check(int(every) == every and every >= 1, f"{every=} must be a positive integer.")
        self.criterion = criterion
        self.train_data = train_data
        self.every = int(every)
        self.at_start = at_start
        self.key = key
        self.scan_kwargs = scan_kwargs
        self.history: list[tuple[int, ScanResult]] = []

    # -- fit hooks -------------------------------------------------------------------------

    def on_fit_start(self, run: Any) -> None:
        if self.at_start:
            self._scan(run, epoch=0)

    def on_epoch_end(self, run: Any) -> None:
        if run.epoch % self.every == 0:
            result = self._scan(run, epoch=int(run.epoch))
            record = getattr(run, "record", None)
            if record is not None:
                record[f"{self.key}_best_lr"] = {str(h): lr for h, lr in result.best_lr.items()}

    # -- running and reading ---------------------------------------------------------------

    def scan_now(self, model: Any, optimizer: Any = None, epoch: int = 0) -> ScanResult:
        """Scan ``model`` now (used by the hooks; callable directly, e.g. without ``fit``)."""
        kwargs = dict(self.scan_kwargs)
        if optimizer is not None:
            kwargs.setdefault("optimizer", optimizer)
        result = scan(model, self.criterion, self.train_data, **kwargs)
        result.config["epoch"] = epoch
        self.history.append((epoch, result))
        return result

    def _scan(self, run: Any, epoch: int) -> ScanResult:
        result = self.scan_now(run.model, getattr(run, "optimizer", None), epoch)
        out_dir = getattr(run, "out_dir", None)
        if out_dir is not None:
            result.save(Path(out_dir) / "scans" / f"epoch_{epoch:04d}.json")
        return result

    def sweet_spots(self) -> dict[str, Any]:
        """How the best LR moved: ``{"epochs": [...], "best_lr": {horizon: [...]}, "low",
        "high"}`` (one value per scan, NaN where nothing stayed below the threshold)."""
        epochs = [e for e, _ in self.history]
        out: dict[str, Any] = {"epochs": epochs, "best_lr": {}, "low": {}, "high": {}}
        for _, result in self.history:
            for b in result.best():  # type: ignore[union-attr]
                out["best_lr"].setdefault(b.horizon, []).append(b.lr)
                out["low"].setdefault(b.horizon, []).append(b.low)
                out["high"].setdefault(b.horizon, []).append(b.high)
        return out

    def plot(self, ax: Any = None) -> tuple[Any, Any]:
        """Best LR (log axis) against the epoch of each scan, one line per horizon, with the
        tolerance bands shaded; returns ``(figure, axes)``."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(6.0, 3.5))
        else:
            fig = ax.figure
        spots = self.sweet_spots()
        for i, (h, lrs) in enumerate(spots["best_lr"].items()):
            ax.plot(spots["epochs"], lrs, "o-", color=f"C{i}", label=f"horizon {h}")
            ax.fill_between(
                spots["epochs"], spots["low"][h], spots["high"][h], color=f"C{i}", alpha=0.12
            )
        ax.set_yscale("log")
        ax.set_xlabel("epoch of the scan")
        ax.set_ylabel("best learning rate")
        ax.set_title("how the sweet spot moves during training")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        return fig, ax

"""Checkpoints of a ``fit`` run: written atomically at epoch boundaries, read on resume.

A checkpoint holds everything the next epoch depends on, so that a resumed run reproduces an
uninterrupted one bit for bit (on CPU; on CUDA as far as its kernels are deterministic):

- model and optimizer ``state_dict`` (momentum buffers, Adam moments and step counts, the
  param groups' current ``lr`` / ``momentum``), the AMP ``GradScaler`` state;
- the position: ``epoch`` (last finished, 1-based) and ``iteration`` (updates done), which is
  also the schedule's step: the schedule is a pure function of it, nothing else to save;
- RNG streams (python, numpy, torch CPU and CUDA via :func:`lrlab.snapshot.capture_rng`): a
  ``DataLoader`` with ``shuffle=True`` draws its permutation seed from torch's global RNG, and
  dropout / augmentation consume it too;
- the records so far, the elapsed time, callbacks' ``state_dict()``;
- a ``fingerprint`` (schedule, accumulation, the user's ``config``) checked on resume, so a
  run directory is never continued with different settings by mistake.

The file is written to a temporary name in the same directory, fsynced, then renamed over
``checkpoint.pt``: a kill during the write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lrlab._io import atomic_file
from lrlab.errors import InvalidArgument
from lrlab.train.records import RECORDS_JSONL

if TYPE_CHECKING:  # pragma: no cover - typing only
    from lrlab.train.callbacks import CallbackList
    from lrlab.train.runstate import RunState

CHECKPOINT = "checkpoint.pt"
STALE_RECORDS = "records.before-restart.jsonl"
FORMAT_VERSION = 1


def checkpoint_path(out_dir: str | os.PathLike) -> Path:
    """Where a run directory keeps its checkpoint."""
    return Path(out_dir) / CHECKPOINT


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """``torch.save(payload)`` atomically (temporary file, fsync, rename)."""
    with atomic_file(path, "wb", durable=True) as fh:
        torch.save({"format": FORMAT_VERSION, **payload}, fh)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Loaded with ``weights_only=True``: a checkpoint holds only tensors and plain data (the RNG
    states of :func:`lrlab.snapshot.capture_rng` are stored that way), so a run directory cannot
    smuggle in code. A callback's ``state_dict()`` must therefore be plain data too.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which and what to do
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise InvalidArgument(
            f"Cannot read the checkpoint {path} ({type(exc).__name__}: {first_line}).",
            hint="Delete it to restart that run from scratch, or point out_dir elsewhere.",
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise InvalidArgument(
            f"{path} is not an lrlab fit checkpoint (format {FORMAT_VERSION}).",
            hint="Delete it, or use another out_dir.",
        )
    return payload


def check_fingerprint(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """Refuse to resume a run whose settings differ from the checkpoint's."""
    diffs = [k for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]
    if diffs:
        detail = "; ".join(
            f"{k}: checkpoint {saved.get(k)!r}, now {current.get(k)!r}" for k in diffs
        )
        raise InvalidArgument(
            f"Cannot resume from {path}: the run was started with other settings ({detail}).",
            hint="Resume with the original settings, or start a new run in another out_dir.",
        )


def restore_module_state(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """``model.load_state_dict(state)``, or an :class:`InvalidArgument` naming the checkpoint
    when the model does not fit it."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InvalidArgument(
            f"The checkpoint {path} does not fit this model: {exc}",
            hint="Resume with the same model definition, or start a new run in another out_dir.",
        ) from exc


def restore_optimizer_state(
    optimizer: torch.optim.Optimizer, state: dict[str, Any], path: Path
) -> None:
    """``optimizer.load_state_dict(state)``, or an :class:`InvalidArgument` naming the
    checkpoint when the optimizer or its param groups do not fit it."""
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise InvalidArgument(
            f"The checkpoint {path} does not fit this optimizer "
            f"({type(optimizer).__name__}): {exc}",
            hint="Resume with the same optimizer and param groups, or use another out_dir.",
        ) from exc


def prior_checkpoint(out_dir: Path, *, resume: bool) -> dict[str, Any] | None:
    """The checkpoint to resume from, or ``None`` for a fresh start.

    Without ``resume``, a directory that already holds a run (a checkpoint or records) is an
    error rather than silently overwritten. With ``resume`` and no checkpoint, the run starts
    over; records left by the earlier attempt (killed before its first checkpoint, or run
    without checkpoints) are moved to ``records.before-restart.jsonl`` rather than lost.
    """
    ckpt = checkpoint_path(out_dir)
    records = out_dir / RECORDS_JSONL
    if resume:
        if ckpt.exists():
            return load_checkpoint(ckpt)
        if records.exists() and records.stat().st_size > 0:
            kept = out_dir / STALE_RECORDS
            os.replace(records, kept)
            warnings.warn(
                f"resume=True but {out_dir} has no checkpoint: starting over. The earlier "
                f"records were moved to {kept}.",
                UserWarning,
                stacklevel=4,  # the caller of fit (through lrlab.rundir.locks_out_dir)
            )
        return None
    existing = [p.name for p in (ckpt, records) if p.exists()]
    if existing:
        raise InvalidArgument(
            f"out_dir={str(out_dir)!r} already holds a run ({', '.join(existing)}).",
            hint="Pass resume=True (CLI: --resume) to continue it, or choose another out_dir "
            "(or delete this one) to start over.",
        )
    return None


def restore_run(
    payload: dict[str, Any],
    run: RunState,
    *,
    update: Any,
    hooks: CallbackList,
    fingerprint: dict[str, Any],
    out_dir: Path,
) -> float:
    """Put a checkpoint back into the live objects (model, optimizer, scaler, callbacks, the
    run's position and records); return the elapsed time it recorded. The RNG streams are
    restored later, right before the next epoch (where they were captured)."""
    path = checkpoint_path(out_dir)
    check_fingerprint(payload["fingerprint"], fingerprint, path)
    restore_module_state(run.model, payload["model"], path)
    restore_optimizer_state(run.optimizer, payload["optimizer"], path)
    update.load_state_dict(payload.get("scaler"))
    hooks.load_state_dict(payload.get("callbacks") or {})
    run.records = [dict(r) for r in payload["records"]]
    run.epoch = int(payload["epoch"])
    run.iteration = int(payload["iteration"])
    return float(payload["elapsed"])

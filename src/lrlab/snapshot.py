"""Snapshots of a model, an optimizer and the random streams, restored bit for bit.

Anything that trains a user's model only to *measure* (the range test, the look-ahead scan,
comparisons) runs inside :func:`preserved`, so that afterwards the user's objects are exactly
as they were — the complaint users have about LR finders is state leaking out of them::

    with preserved(model, optimizer):
        ...   # train, diverge, raise, or get Ctrl-C: everything below is put back

What a snapshot holds, and why each piece:

* **model** — every parameter and every buffer by name, *including non-persistent buffers*
  that ``state_dict()`` leaves out; gradients (``.grad``, ``None`` stays ``None``);
  ``requires_grad`` of each parameter; the ``training`` flag of every sub-module (a user may
  keep a frozen BatchNorm in eval mode inside a model in train mode).
* **optimizer** — the per-parameter state (momentum buffers, Adam moments, ``step``) and
  every param group's hyper-parameters (``lr``, ``momentum``, ``betas``, ``weight_decay`` …,
  also keys a scheduler added such as ``initial_lr``). Groups and state are restored *in
  place*: the group dicts keep their identity, so a scheduler or user code holding
  ``optimizer.param_groups[0]`` sees the restored values. Parameters the optimizer updates
  but the model does not own are snapshotted too.
* **RNG** — python ``random``, numpy's global generator, torch CPU and every CUDA device
  (and MPS when present): the next random numbers after a restore are those that would have
  come without the work in between.

``optimizer.state_dict()`` / ``model.state_dict()`` return *references* to live tensors
(the next ``optimizer.step()`` would change a "snapshot" made from them), so every tensor is
cloned. Restores copy into the existing tensors (``copy_``), keeping the identity of
parameters that the optimizer, hooks or a scheduler refer to.

``on_disk=True`` writes the tensors to one temporary file (``torch.save``) instead of
keeping clones in memory — for models whose second copy does not fit. The file is deleted
when the snapshot is discarded (end of the ``with`` block, :meth:`Snapshot.discard`, or
garbage collection), also when the block raised.
"""

from __future__ import annotations

import os
import random
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from lrlab.errors import LrlabError

__all__ = ["Snapshot", "capture_rng", "preserved", "restore_rng"]


# ----------------------------------------------------------------------------- RNG streams


def capture_rng() -> dict[str, Any]:
    """The state of every global random stream lrlab's work touches.

    Keys: ``"python"``, ``"numpy"``, ``"torch"``, and ``"cuda"`` (one state per device) when
    CUDA is available, ``"mps"`` when MPS is. The values hold only torch tensors and python
    primitives (numpy's key array is stored as a tensor), so the dict can be written with
    ``torch.save`` and read back with ``torch.load(weights_only=True)`` — e.g. in a checkpoint.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (
            str(kind),
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if _mps_available():
        states["mps"] = torch.mps.get_rng_state()
    return states


def restore_rng(states: Mapping[str, Any]) -> None:
    """Put back the streams captured by :func:`capture_rng` (keys that are absent are left
    alone, so a state captured on a CPU machine restores on a GPU machine and back)."""
    if "python" in states:
        version, internal, gauss = states["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in states:
        kind, keys, pos, has_gauss, cached = states["numpy"]
        keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
        np.random.set_state((kind, keys.astype(np.uint32), int(pos), int(has_gauss), cached))
    if "torch" in states:
        torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        cuda_states = list(states["cuda"])
        # A state captured with more devices than this process sees restores the ones it can.
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    if "mps" in states and _mps_available():
        torch.mps.set_rng_state(states["mps"])


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


# ----------------------------------------------------------------------------- cloning


def _clone(obj: Any) -> Any:
    """Deep copy of tensors inside dicts/lists/tuples; other leaves are shared (immutable
    scalars, strings, ``None``, and objects we cannot and need not copy)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clone(v) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_clone(v) for v in obj)
    return obj


def _assign(current: torch.Tensor, saved: torch.Tensor) -> None:
    """Write ``saved`` into ``current`` in place (keeps the tensor object that others hold);
    if the tensor changed shape, dtype or device meanwhile, swap its data instead."""
    with torch.no_grad():
        if (
            current.shape == saved.shape
            and current.dtype == saved.dtype
            and current.device == saved.device
        ):
            current.copy_(saved)
        else:
            current.data = saved.detach().clone()


# ----------------------------------------------------------------------------- snapshot


@dataclass
class _Tensors:
    """The bulky part of a snapshot (kept in memory or written to a temporary file)."""

    params: dict[str, torch.Tensor] = field(default_factory=dict)
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)
    grads: dict[str, torch.Tensor | None] = field(default_factory=dict)
    extra_params: list[torch.Tensor] = field(default_factory=list)
    extra_grads: list[torch.Tensor | None] = field(default_factory=list)
    # optimizer state per parameter, in the order of the optimizer's parameters
    opt_state: list[dict[str, Any] | None] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "buffers": self.buffers,
            "grads": self.grads,
            "extra_params": self.extra_params,
            "extra_grads": self.extra_grads,
            "opt_state": self.opt_state,
        }


def _remove_file(path: str) -> None:
    with suppress(FileNotFoundError):
        os.remove(path)


class Snapshot:
    """A restorable copy of a model, an optimizer and the RNG streams.

    Build it with :meth:`capture`; :meth:`restore` puts everything back (it may be called
    several times: the snapshot itself is never aliased into the live objects);
    :meth:`discard` frees the memory / deletes the temporary file.
    """

    def __init__(self) -> None:  # use Snapshot.capture(...)
        self.model: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.rng: dict[str, Any] | None = None
        self.on_disk = False
        self.path: str | None = None
        self._tensors: _Tensors | None = None
        self._training: dict[str, bool] = {}
        self._requires_grad: dict[str, bool] = {}
        self._groups: list[dict[str, Any]] = []
        self._opt_params: list[torch.Tensor] = []
        self._extra: list[torch.Tensor] = []
        self._finalizer: weakref.finalize | None = None

    # -- capture ---------------------------------------------------------------------------

    @classmethod
    def capture(
        cls,
        model: nn.Module | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        rng: bool = True,
        on_disk: bool = False,
    ) -> Snapshot:
        """Snapshot ``model`` and ``optimizer`` (either may be ``None``) and, with ``rng``,
        the global random streams. ``on_disk`` keeps the tensors in a temporary file."""
        snap = cls()
        snap.model, snap.optimizer, snap.on_disk = model, optimizer, on_disk
        tensors = _Tensors()
        model_param_ids: set[int] = set()
        if model is not None:
            for name, p in model.named_parameters():
                tensors.params[name] = p.detach().clone()
                tensors.grads[name] = None if p.grad is None else p.grad.detach().clone()
                snap._requires_grad[name] = p.requires_grad
                model_param_ids.add(id(p))
            for name, b in model.named_buffers():
                tensors.buffers[name] = b.detach().clone()
            snap._training = {name: m.training for name, m in model.named_modules()}
        if optimizer is not None:
            snap._opt_params = [p for g in optimizer.param_groups for p in g["params"]]
            snap._groups = [
                {k: _clone(v) for k, v in g.items() if k != "params"}
                for g in optimizer.param_groups
            ]
            for p in snap._opt_params:
                st = optimizer.state.get(p)
                tensors.opt_state.append(None if st is None else _clone(dict(st)))
            # Parameters the optimizer updates that the model does not own: keep them too.
            snap._extra = [p for p in snap._opt_params if id(p) not in model_param_ids]
            tensors.extra_params = [p.detach().clone() for p in snap._extra]
            tensors.extra_grads = [
                None if p.grad is None else p.grad.detach().clone() for p in snap._extra
            ]
        if rng:
            snap.rng = capture_rng()
        if on_disk:
            fd, path = tempfile.mkstemp(prefix="lrlab-snapshot-", suffix=".pt")
            os.close(fd)
            # From here on the file is removed whatever happens (discard, error, GC, exit).
            snap._finalizer = weakref.finalize(snap, _remove_file, path)
            snap.path = path
            try:
                torch.save(tensors.as_dict(), path)
            except BaseException:
                snap.discard()
                raise
        else:
            snap._tensors = tensors
        return snap

    # -- restore ---------------------------------------------------------------------------

    def _load(self) -> _Tensors:
        if self._tensors is not None:
            return self._tensors
        if self.path is None or not os.path.exists(self.path):
            raise LrlabError(
                "This snapshot was discarded (or its file deleted); it can no longer restore.",
                hint="Capture a new Snapshot, and call discard() only when done restoring.",
            )
        # Tensors come back on the devices they were saved from.
        raw = torch.load(self.path, weights_only=True)
        return _Tensors(**raw)

    def restore(self) -> None:
        """Put the model, optimizer and RNG streams back as they were at capture time."""
        tensors = self._load()
        if self.model is not None:
            self._restore_model(self.model, tensors)
        if self.optimizer is not None:
            self._restore_optimizer(self.optimizer, tensors)
        if self.rng is not None:
            restore_rng(self.rng)

    def _restore_model(self, model: nn.Module, tensors: _Tensors) -> None:
        params = dict(model.named_parameters())
        for name, saved in tensors.params.items():
            p = params.get(name)
            if p is None:
                continue  # the module was removed meanwhile; nothing to write into
            _assign(p, saved)
            p.grad = _clone(tensors.grads.get(name))
            p.requires_grad_(self._requires_grad.get(name, p.requires_grad))
        buffers = dict(model.named_buffers())
        for name, saved in tensors.buffers.items():
            b = buffers.get(name)
            if b is not None:
                _assign(b, saved)
        for name, module in model.named_modules():
            if name in self._training:
                # Set the flag itself: .train()/.eval() would recurse into children whose
                # own flags were recorded separately.
                module.training = self._training[name]

    def _restore_optimizer(self, optimizer: torch.optim.Optimizer, tensors: _Tensors) -> None:
        for p, saved, grad in zip(
            self._extra, tensors.extra_params, tensors.extra_grads, strict=True
        ):
            _assign(p, saved)
            p.grad = _clone(grad)
        # Hyper-parameters, in place: the group dicts keep their identity (schedulers and
        # users hold them). Groups added meanwhile (add_param_group) are dropped.
        groups = optimizer.param_groups
        del groups[len(self._groups) :]
        for group, saved in zip(groups, self._groups, strict=True):
            params = group["params"]
            old = {k: v for k, v in group.items() if k != "params"}
            group.clear()
            group["params"] = params
            for key, value in saved.items():
                live = old.get(key)
                if isinstance(live, torch.Tensor) and isinstance(value, torch.Tensor):
                    _assign(live, value)  # e.g. a tensor lr a compiled step refers to
                    group[key] = live
                else:
                    group[key] = _clone(value)
        # Per-parameter state, rebuilt from fresh clones so that the snapshot is never
        # aliased into the optimizer (it can be restored again after more training).
        optimizer.state.clear()
        for p, st in zip(self._opt_params, tensors.opt_state, strict=True):
            if st is not None:
                optimizer.state[p] = _clone(st)

    # -- lifetime --------------------------------------------------------------------------

    def discard(self) -> None:
        """Free the clones / delete the temporary file. The snapshot cannot restore after."""
        self._tensors = None
        if self._finalizer is not None:
            self._finalizer()  # removes the file (idempotent)

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.restore()
        finally:
            self.discard()


@contextmanager
def preserved(
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    rng: bool = True,
    on_disk: bool = False,
) -> Iterator[Snapshot]:
    """Snapshot on entry; restore on exit — normal, exception or ``KeyboardInterrupt`` —
    and discard the snapshot (no temporary file survives the block)."""
    snap = Snapshot.capture(model, optimizer, rng=rng, on_disk=on_disk)
    try:
        yield snap
    finally:
        try:
            snap.restore()
        finally:
            snap.discard()

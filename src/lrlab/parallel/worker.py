"""What a worker does around every job: a pinned thread count, Ctrl-C handling, warm-up.

Thread counts change the order of float reductions, so every executor runs its jobs with
the same count to produce identical records. In a pool worker SIGINT and SIGTERM set
:data:`STOP` (:mod:`lrlab.parallel.pool`), which a running trial reads between steps; jobs
that cannot read it (a range test) use :func:`interruptible`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from lrlab.signals import StopRequest

# This process's stop request: set by SIGINT / SIGTERM once a pool worker installed it.
STOP = StopRequest()


def warm_torch() -> None:
    """What a pool worker does before its first job: import torch and take one optimizer
    step on a throw-away tensor — a first step imports as much again (``torch._dynamo``),
    ~2 s each that would otherwise be paid inside the first job, while the parent waits.
    (A pool's ``warm`` function is pickled by reference: its module, and what that imports,
    is imported too.)"""
    import torch

    weight = torch.zeros(2, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=0.1, momentum=0.9)
    (weight * weight).sum().backward()
    optimizer.step()


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """``torch.set_num_threads(n)`` for the block, then the previous count again.

    Thread counts change the order of float reductions, so every executor runs trials with
    the same count to produce identical records.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Let Ctrl-C raise ``KeyboardInterrupt`` inside the block (pool workers ignore SIGINT
    while idle, so only a running trial reacts, and ``fit`` saves what it finished)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are for the main thread only (e.g. some Ray workers)
        return
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)

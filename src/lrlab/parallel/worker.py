"""What a worker does around every job: a pinned thread count and Ctrl-C handling.

Thread counts change the order of float reductions, so every executor runs its jobs with
the same count to produce identical records; pool workers ignore SIGINT while idle, so only
a running job reacts to Ctrl-C and saves what it finished.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


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

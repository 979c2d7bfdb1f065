"""Running independent jobs: in-process, on a local process pool, or on Ray.

* :mod:`lrlab.parallel.executors` — the executors (``sequential``, ``process``, ``ray``).
* :mod:`lrlab.parallel.worker` — what a worker does around each job (threads, Ctrl-C).

Used by experiments (trials) and by range-test comparisons (candidates).
"""

from lrlab.parallel.executors import (
    EXECUTORS,
    ProcessExecutor,
    RayExecutor,
    SequentialExecutor,
    make_executor,
)

__all__ = ["EXECUTORS", "ProcessExecutor", "RayExecutor", "SequentialExecutor", "make_executor"]

"""Built-in workloads: a dataset, a model, a loss and metrics under one name.

>>> from lrlab.tasks import get_task
>>> task = get_task("mnist1d-cnn")
>>> model = task.model(seed=0)                    # same seed, same weights
>>> data = task.data(seed=0, device="cpu")        # data.train / data.eval TensorLoaders
>>> optimizer = task.make_optimizer(model, lr=1e-2)
"""

from __future__ import annotations

from lrlab.tasks.base import LOSSES, DataBundle, ImagePipeline, Task
from lrlab.tasks.builtin import TASKS
from lrlab.tasks.registry import get_task, known_options, list_tasks, parse_task_spec
from lrlab.tasks.run import RunObjects, build_run
from lrlab.tasks.user import UserTask, load_user_task

__all__ = [
    "LOSSES",
    "TASKS",
    "DataBundle",
    "ImagePipeline",
    "RunObjects",
    "Task",
    "UserTask",
    "build_run",
    "get_task",
    "known_options",
    "list_tasks",
    "load_user_task",
    "parse_task_spec",
]

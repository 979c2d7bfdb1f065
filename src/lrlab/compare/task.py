"""``compare_range_tests_on_task``: the comparison on a built-in task (or a user task from
``lrlab.tasks.load_user_task``), with the task's model, data, loss, optimizer and window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lrlab.compare.result import ComparisonResult


def compare_range_tests_on_task(
    task: Any,
    vary: dict[str, Sequence[Any]],
    *,
    seed: int = 0,
    device: str = "auto",
    batch_size: int | None = None,
    start_lr: float | None = None,
    end_lr: float | None = None,
    num_iter: int = 100,
    eval_every: int | None = None,
    eval_batches: int = 8,
    **kwargs: Any,
) -> ComparisonResult:
    """:func:`lrlab.compare.compare_range_tests` on ``task`` (a name or a
    :class:`~lrlab.tasks.Task`).

    The objects come from :func:`lrlab.tasks.build_run` (so the weights and the order of
    the samples are the same for every candidate and every run with this seed), the
    optimizer is the task's, and the LR window defaults to the task's
    ``lr_range``. Metric mode runs when ``eval_every`` is given. ``kwargs`` go to
    ``compare_range_tests`` (``workers``, ``confirm_with_one_cycle``, ``budget``,
    ``rank_by``...).
    """
    from lrlab.compare.run import compare_range_tests
    from lrlab.errors import InvalidArgument
    from lrlab.tasks import Task, get_task
    from lrlab.tasks.run import build_run

    spec = get_task(task) if isinstance(task, str) else task
    if not isinstance(spec, Task):
        raise InvalidArgument(
            f"task must be a task name or an lrlab.tasks.Task, got {type(task).__name__}.",
            hint="List the built-in tasks with lrlab.list_tasks().",
        )
    run = build_run(spec, seed, device=device, batch_size=batch_size)
    data = run.data
    confirm = kwargs.get("confirm_with_one_cycle")
    wants_eval = eval_every is not None or confirm is not None or kwargs.get("rank_by") == "metric"
    if wants_eval and data.eval is None:
        raise InvalidArgument(
            f"Task {spec.name!r} has no evaluation data, which metric mode and the one-cycle "
            "confirmation need.",
            hint="Drop eval_every / confirm_with_one_cycle, or give the task an eval split.",
        )
    if wants_eval and eval_every is None:
        eval_every = max(1, num_iter // 20)
    low, high = spec.lr_range
    result = compare_range_tests(
        run.model,
        run.optimizer,
        run.criterion,
        data.train,
        vary=vary,
        start_lr=low if start_lr is None else start_lr,
        end_lr=high if end_lr is None else end_lr,
        num_iter=num_iter,
        eval_data=data.eval if wants_eval else None,
        eval_every=eval_every if wants_eval else None,
        eval_batches=eval_batches,
        metrics=list(spec.metrics) if wants_eval else None,
        chance=data.chance_level,
        amp=run.amp,
        **kwargs,
    )
    result.config.update({"task": spec.name, "seed": seed, "optimizer": spec.optimizer.name})
    return result

"""lrlab — a learning-rate laboratory for PyTorch.

Find (``find_lr``, ``range_test``), schedule (``one_cycle``, ``cyclic``, ...), scan
(``scan``) and prove (``fit``, ``run_experiment``). The public names below are imported lazily, so
``import lrlab`` is cheap and pulls neither matplotlib nor optional extras.

Example::

    import lrlab
    result = lrlab.range_test(model, optimizer, criterion, train_loader)
    print(result.suggestion)                  # lr, confidence range, flags
    sched = result.suggestion.one_cycle(total_steps=len(train_loader) * 10)
"""

from __future__ import annotations

from lrlab._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # schedules and applying them
    "HyperSchedule": "lrlab.schedules",
    "one_cycle": "lrlab.schedules",
    "cyclic": "lrlab.schedules",
    "piecewise_constant": "lrlab.schedules",
    "step_decay": "lrlab.schedules",
    "cosine": "lrlab.schedules",
    "constant": "lrlab.schedules",
    "warmup": "lrlab.schedules",
    "warmup_linear": "lrlab.schedules",
    "warmup_cosine": "lrlab.schedules",
    "wsd": "lrlab.schedules",
    "inverse_sqrt": "lrlab.schedules",
    "apply_schedule": "lrlab.optim",
    "ScheduleDriver": "lrlab.optim",
    "LrlabScheduler": "lrlab.optim",
    # state safety
    "preserved": "lrlab.snapshot",
    "Snapshot": "lrlab.snapshot",
    # finding
    "range_test": "lrlab.finder",
    "RangeTestResult": "lrlab.finder",
    "RangeTestSettings": "lrlab.finder",
    "find_lr": "lrlab.finder",
    "FindResult": "lrlab.finder",
    "FindSettings": "lrlab.finder",
    "Suggestion": "lrlab.suggest",
    "diagnose": "lrlab.suggest",
    "compare_range_tests": "lrlab.compare",
    "ComparisonResult": "lrlab.compare",
    # scanning
    "scan": "lrlab.scanning",
    "ScanResult": "lrlab.scanning",
    "RescanCallback": "lrlab.scanning",
    # training and experiments
    "fit": "lrlab.train",
    "FitResult": "lrlab.train",
    "Callback": "lrlab.train",
    "Experiment": "lrlab.experiment",
    "run_experiment": "lrlab.experiment",
    "ExperimentResult": "lrlab.experiment",
    "load_experiment": "lrlab.experiment",
    # reports
    "write_report": "lrlab.report",
    # workloads
    "get_task": "lrlab.tasks",
    "list_tasks": "lrlab.tasks",
    "load_user_task": "lrlab.tasks",
    "TensorLoader": "lrlab.data",
    # helpers
    "seed_everything": "lrlab.seeding",
    "StepOutput": "lrlab.batches",
    "LrlabError": "lrlab.errors",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

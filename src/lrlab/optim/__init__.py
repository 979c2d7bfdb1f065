"""Optimizers and their param groups: the only code that reads or writes ``param_groups``.

* :mod:`lrlab.optim.driver` — writing a schedule's LR (and momentum) into an optimizer
  (``ScheduleDriver``, ``apply_schedule``, ``LrlabScheduler``).
"""

from lrlab.optim.driver import LrlabScheduler, ScheduleDriver, apply_schedule

__all__ = ["LrlabScheduler", "ScheduleDriver", "apply_schedule"]

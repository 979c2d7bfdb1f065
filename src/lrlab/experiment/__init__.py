"""Controlled experiments: variants × seeds from identical initial weights, on any executor.

``run_experiment(Experiment | "config.yaml")`` expands the config into trials (one per
variant and seed), runs them in-process, on a local process pool or on Ray, writes
``runs/<experiment>/<variant>/seed-<n>/`` and returns an :class:`ExperimentResult` with the
comparison (``lrlab.analysis``). See docs/experiments.md.
"""

from __future__ import annotations

from lrlab.experiment.config import (
    AnalysisConfig,
    EvalConfig,
    Experiment,
    OptimizerConfig,
    RangeTestConfig,
    ScheduleConfig,
    Variant,
    load_experiment,
)
from lrlab.experiment.result import ExperimentResult, TrialResult
from lrlab.experiment.runner import run_experiment
from lrlab.experiment.trials import TrialSetup, build_trial, run_trial, trial_dir

__all__ = [
    "AnalysisConfig",
    "EvalConfig",
    "Experiment",
    "ExperimentResult",
    "OptimizerConfig",
    "RangeTestConfig",
    "ScheduleConfig",
    "TrialResult",
    "TrialSetup",
    "Variant",
    "build_trial",
    "load_experiment",
    "run_experiment",
    "run_trial",
    "trial_dir",
]

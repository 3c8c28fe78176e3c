"""Training: ``fit``, ``validate``, ``test``, ``generate`` and checkpoints.

>>> from seqlab.config import resolve_config
>>> from seqlab.training import fit
>>> result = fit(resolve_config(flags={"model.cell": "gru"}))   # doctest: +SKIP
>>> result.headline, result.baseline.value, result.run_dir       # doctest: +SKIP

``fit`` runs in phases, each its own module: :mod:`~seqlab.training.plan` (checks, task
and model; nothing written), :func:`~seqlab.training.rundir.open_run`,
:mod:`~seqlab.training.trainer`, :mod:`~seqlab.training.execute` and
:mod:`~seqlab.training.summary`.
"""

from seqlab.tracking.metrics_csv import CSVMetricsLogger, read_metrics
from seqlab.training.checkpoint import (
    AtomicCheckpointIO,
    LoadedCheckpoint,
    load_checkpoint,
    read_checkpoint,
)
from seqlab.training.data import EpochSampler, ResumableLoader, TrainingData
from seqlab.training.devices import check_devices
from seqlab.training.evaluation import evaluate, test, validate
from seqlab.training.fitting import fit
from seqlab.training.generation import encode_prompt, generate, translate
from seqlab.training.nonfinite import NonFiniteLossPolicy
from seqlab.training.plan import FitPlan, plan_fit
from seqlab.training.result import FitResult, describe
from seqlab.training.resume import resume_config

__all__ = [
    "AtomicCheckpointIO",
    "CSVMetricsLogger",
    "EpochSampler",
    "FitPlan",
    "FitResult",
    "LoadedCheckpoint",
    "NonFiniteLossPolicy",
    "ResumableLoader",
    "TrainingData",
    "check_devices",
    "describe",
    "encode_prompt",
    "evaluate",
    "fit",
    "generate",
    "load_checkpoint",
    "plan_fit",
    "read_checkpoint",
    "read_metrics",
    "resume_config",
    "test",
    "translate",
    "validate",
]

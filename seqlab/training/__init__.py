"""Training: ``fit``, ``validate``, ``test``, ``generate`` and checkpoints.

>>> from seqlab.config import resolve_config
>>> from seqlab.training import fit
>>> result = fit(resolve_config(flags={"model.cell": "gru"}))   # doctest: +SKIP
>>> result.headline, result.baseline.value, result.run_dir       # doctest: +SKIP
"""

from seqlab.training.checkpoint import (
    AtomicCheckpointIO,
    LoadedCheckpoint,
    load_checkpoint,
    read_checkpoint,
)
from seqlab.training.data import EpochSampler, ResumableLoader, TrainingData
from seqlab.training.fitting import (
    FitResult,
    check_devices,
    describe,
    encode_prompt,
    evaluate,
    fit,
    generate,
    test,
    validate,
)
from seqlab.training.logger import CSVMetricsLogger, read_metrics

__all__ = [
    "AtomicCheckpointIO",
    "CSVMetricsLogger",
    "EpochSampler",
    "FitResult",
    "LoadedCheckpoint",
    "ResumableLoader",
    "TrainingData",
    "check_devices",
    "describe",
    "encode_prompt",
    "evaluate",
    "fit",
    "generate",
    "load_checkpoint",
    "read_checkpoint",
    "read_metrics",
    "test",
    "validate",
]

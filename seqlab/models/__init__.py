"""LightningModules: any registered cell, wrapped for each output kind of a task.

>>> from seqlab.config import Config
>>> from seqlab.tasks import create_task
>>> task = create_task("adding", seq_len=20, n_train=64, n_val=32, n_test=32)
>>> model = build_model(Config().model, Config().optim, task.info)
>>> type(model).__name__
'SequenceRegressor'
"""

from __future__ import annotations

from seqlab.config import ModelConfig, OptimConfig
from seqlab.errors import ConfigError
from seqlab.models.base import LossPolicy, SequenceModel
from seqlab.models.classification import SequenceClassifier
from seqlab.models.frontends import check_frontend
from seqlab.models.language_model import LanguageModel, sample_token
from seqlab.models.metrics import METRIC_MODES, METRIC_NAMES
from seqlab.models.pooling import pool
from seqlab.models.regression import SequenceRegressor
from seqlab.models.seq2seq import Seq2Seq
from seqlab.models.tagging import SequenceTagger
from seqlab.tasks.base import TaskInfo

MODELS: dict[str, type[SequenceModel]] = {
    "classification": SequenceClassifier,
    "tagging": SequenceTagger,
    "regression": SequenceRegressor,
    "language_model": LanguageModel,
    "seq2seq": Seq2Seq,
}
"""The model class for each ``TaskInfo.output_kind``."""


def build_model(model: ModelConfig, optim: OptimConfig, info: TaskInfo) -> SequenceModel:
    """The LightningModule for ``info.output_kind``, built from the config sections."""
    cls = MODELS.get(info.output_kind)
    if cls is None:
        raise ConfigError(
            f"no model for output kind '{info.output_kind}'; seqlab models {', '.join(MODELS)}."
        )
    check_frontend(model, info)
    return cls(model, optim, info)


__all__ = [
    "METRIC_MODES",
    "METRIC_NAMES",
    "MODELS",
    "LanguageModel",
    "LossPolicy",
    "Seq2Seq",
    "SequenceClassifier",
    "SequenceModel",
    "SequenceRegressor",
    "SequenceTagger",
    "build_model",
    "pool",
    "sample_token",
]

"""One label per sequence: pooled recurrent outputs (beside an optional front-end's) → a
linear layer → class logits."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric

from seqlab.config import ModelConfig, OptimConfig
from seqlab.models.base import Batch, SequenceModel
from seqlab.models.frontends import build_frontend, check_frontend
from seqlab.models.metrics import classification_metrics
from seqlab.models.pooling import pool
from seqlab.tasks.base import TaskInfo


class SequenceClassifier(SequenceModel):
    """Sequence classification (UCR series, digits read row by row, text sentiment).

    Shapes: ``x`` (B, T, F) or token ids (B, T), ``lengths`` (B,), ``y`` (B,) class ids;
    ``forward`` returns logits (B, num_classes). The sequence is pooled over its valid
    steps (``model.pooling``: last, mean or max) before the linear layer. With
    ``model.frontend: fcn`` the LSTM-FCN convolutional branch (:mod:`seqlab.models.frontends`)
    reads the same ``x`` and its (B, 128) output is concatenated with the pooled recurrent
    output. Loss: cross-entropy. Metrics: ``acc``, macro ``f1``, ``ce``.
    """

    output_kind: ClassVar[str] = "classification"

    def __init__(self, model: ModelConfig, optim: OptimConfig, info: TaskInfo) -> None:
        check_frontend(model, info)  # refuse before building anything
        super().__init__(model, optim, info)
        self.frontend = build_frontend(model, info)
        width = self.recurrent.output_size
        if self.frontend is not None:
            width += self.frontend.output_size
        self.head = nn.Linear(width, info.num_outputs)

    def make_metrics(self) -> dict[str, Metric]:
        return classification_metrics(self.info.num_outputs)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        outputs, _ = self.encode(x, lengths)
        pooled = pool(outputs, lengths, self.model_config.pooling, self.recurrent.num_directions)
        if self.frontend is not None:
            pooled = torch.cat([pooled, self.frontend(x, lengths)], dim=-1)
        return self.head(self.output_dropout(pooled))

    def step(self, batch: Batch) -> tuple[Tensor, Tensor]:
        logits = self(batch["x"], batch["lengths"])
        # Smoothing regularises training only; validation and test losses stay comparable.
        smoothing = self.model_config.label_smoothing if self.training else 0.0
        return F.cross_entropy(logits, batch["y"], label_smoothing=smoothing), logits

    def update_metrics(self, metrics: nn.ModuleDict, batch: Batch, out: Tensor) -> None:
        y = batch["y"]
        metrics["acc"].update(out, y)
        metrics["f1"].update(out, y)
        metrics["ce"].update(F.cross_entropy(out, y, reduction="none"))

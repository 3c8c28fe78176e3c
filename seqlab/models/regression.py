"""One real-valued target per sequence: pooled recurrent outputs → a linear layer."""

from __future__ import annotations

import math
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric

from seqlab.config import ModelConfig, OptimConfig
from seqlab.models.base import Batch, SequenceModel
from seqlab.models.metrics import regression_metrics
from seqlab.models.pooling import pool
from seqlab.tasks.base import TaskInfo


class SequenceRegressor(SequenceModel):
    """Sequence regression (the adding problem, forecasting a horizon of a series).

    Shapes: ``x`` (B, T, F), ``lengths`` (B,), ``y`` (B, *info.target_shape); ``forward``
    returns predictions of the same shape as ``y``. The sequence is pooled over its valid
    steps (``model.pooling``) and mapped to ``prod(target_shape)`` outputs. Loss: mean
    squared error. Metrics over every target element: ``mse``, ``mae``.
    """

    output_kind: ClassVar[str] = "regression"

    def __init__(self, model: ModelConfig, optim: OptimConfig, info: TaskInfo) -> None:
        super().__init__(model, optim, info)
        self.target_shape = tuple(info.target_shape) or (info.num_outputs,)
        self.head = nn.Linear(self.recurrent.output_size, math.prod(self.target_shape))

    def make_metrics(self) -> dict[str, Metric]:
        return regression_metrics()

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        outputs, _ = self.encode(x, lengths)
        pooled = pool(outputs, lengths, self.model_config.pooling, self.recurrent.num_directions)
        return self.head(self.output_dropout(pooled)).view(-1, *self.target_shape)

    def step(self, batch: Batch) -> tuple[Tensor, Tensor]:
        pred = self(batch["x"], batch["lengths"])
        return F.mse_loss(pred, batch["y"].to(pred.dtype)), pred

    def update_metrics(self, metrics: nn.ModuleDict, batch: Batch, out: Tensor) -> None:
        pred, y = out.reshape(-1), batch["y"].reshape(-1).to(out.dtype)
        metrics["mse"].update(pred, y)
        metrics["mae"].update(pred, y)

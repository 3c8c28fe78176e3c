"""One label per step: recurrent outputs → a linear layer at every step → class logits."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric

from seqlab.config import ModelConfig, OptimConfig
from seqlab.models.base import Batch, SequenceModel
from seqlab.models.metrics import classification_metrics
from seqlab.models.pooling import valid_mask
from seqlab.tasks.base import IGNORE_INDEX, TaskInfo


class SequenceTagger(SequenceModel):
    """Per-step classification (the copy task, sequence labelling).

    Shapes: ``x`` (B, T, F) or token ids (B, T), ``lengths`` (B,), ``y`` (B, T) class ids
    with ``IGNORE_INDEX`` (-100) where a step is not scored; ``forward`` returns logits
    (B, T, num_classes). Steps past a sequence's length are never scored. Loss:
    cross-entropy averaged over scored steps. Metrics over scored steps: ``acc``, macro
    ``f1``, ``ce`` (nats per scored step).
    """

    output_kind: ClassVar[str] = "tagging"

    def __init__(self, model: ModelConfig, optim: OptimConfig, info: TaskInfo) -> None:
        super().__init__(model, optim, info)
        self.head = nn.Linear(self.recurrent.output_size, info.num_outputs)

    def make_metrics(self) -> dict[str, Metric]:
        return classification_metrics(self.info.num_outputs)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        outputs, _ = self.encode(x, lengths)
        return self.head(self.output_dropout(outputs))

    @staticmethod
    def scored_targets(batch: Batch) -> Tensor:
        """``y`` with steps past each sequence's length set to IGNORE_INDEX."""
        y = batch["y"]
        mask = valid_mask(batch["lengths"].to(y.device), y.shape[1])
        return y.masked_fill(~mask, IGNORE_INDEX)

    def step(self, batch: Batch) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        logits = self(batch["x"], batch["lengths"])
        y = self.scored_targets(batch)
        flat_logits, flat_y = logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
        loss = F.cross_entropy(flat_logits, flat_y, ignore_index=IGNORE_INDEX)
        return loss, (flat_logits, flat_y)

    def update_metrics(
        self, metrics: nn.ModuleDict, batch: Batch, out: tuple[Tensor, Tensor]
    ) -> None:
        logits, y = out
        metrics["acc"].update(logits, y)
        metrics["f1"].update(logits, y)
        scored = y != IGNORE_INDEX
        metrics["ce"].update(F.cross_entropy(logits[scored], y[scored], reduction="none"))

"""Metrics the models log, by name (the vocabulary of ``TaskInfo.metric``).

Accuracy, macro F1, MSE and MAE are torchmetrics' own; mean cross-entropy is a small
torchmetrics :class:`~torchmetrics.Metric` so that bits per character and perplexity can
be derived from one synchronised sum (correct under DDP: sums and counts are reduced
across processes before dividing).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError

from seqlab.tasks.base import IGNORE_INDEX

METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "classification": ("acc", "f1", "ce"),
    "tagging": ("acc", "f1", "ce"),
    "regression": ("mse", "mae"),
    "language_model": ("ce", "bpc", "ppl"),
}
"""The metrics each output kind logs as ``val_<name>`` and ``test_<name>``."""

METRIC_MODES: dict[str, Literal["min", "max"]] = {
    "acc": "max",
    "f1": "max",
    "ce": "min",
    "bpc": "min",
    "ppl": "min",
    "mse": "min",
    "mae": "min",
}


class MeanCrossEntropy(Metric):
    """Mean of per-item cross-entropies in nats (items: sequences or tokens).

    ``update(losses)`` takes unreduced losses (any shape); ``compute()`` returns their mean.
    """

    full_state_update = False
    higher_is_better = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, losses: Tensor) -> None:
        self.total += losses.detach().float().sum()
        self.count += losses.numel()

    def compute(self) -> Tensor:
        return self.total / self.count.clamp(min=1.0)


def classification_metrics(num_classes: int) -> dict[str, Metric]:
    """Accuracy (micro), macro F1 and cross-entropy; targets equal to IGNORE_INDEX are skipped."""
    return {
        "acc": MulticlassAccuracy(num_classes, average="micro", ignore_index=IGNORE_INDEX),
        "f1": MulticlassF1Score(num_classes, average="macro", ignore_index=IGNORE_INDEX),
        "ce": MeanCrossEntropy(),
    }


def regression_metrics() -> dict[str, Metric]:
    """Mean squared and absolute error over every target element."""
    return {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()}


def derived_from_ce(ce: Tensor) -> dict[str, Tensor]:
    """Bits per character (ce / ln 2) and perplexity (exp ce) from nats."""
    return {"bpc": ce / math.log(2.0), "ppl": torch.exp(ce)}

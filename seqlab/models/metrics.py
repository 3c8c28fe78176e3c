"""Metrics the models log, by name (the vocabulary of ``TaskInfo.metric``).

Accuracy, macro F1, MSE, MAE and BLEU are torchmetrics' own; mean cross-entropy is a small
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
from torchmetrics.text import BLEUScore

from seqlab.tasks.base import IGNORE_INDEX

METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "classification": ("acc", "f1", "ce"),
    "tagging": ("acc", "f1", "ce"),
    "regression": ("mse", "mae"),
    "language_model": ("ce", "bpc", "ppl"),
    "seq2seq": ("exact", "bleu", "acc", "ce"),
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
    "exact": "max",
    "bleu": "max",
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


class ExactMatch(Metric):
    """Fraction of output sequences equal to their reference, token for token.

    ``update(predictions, references)`` takes two lists of token-id lists.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self) -> None:
        super().__init__()
        self.add_state("correct", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, predictions: list[list[int]], references: list[list[int]]) -> None:
        self.correct += sum(p == r for p, r in zip(predictions, references, strict=True))
        self.count += len(references)

    def compute(self) -> Tensor:
        return self.correct / self.count.clamp(min=1.0)


class TokenBLEU(BLEUScore):
    """Corpus BLEU-4 (Papineni et al. 2002) over token ids, one reference per output.

    torchmetrics' :class:`~torchmetrics.text.BLEUScore` on the ids written as words, so
    the task's own tokens (words or characters) are BLEU's tokens.
    """

    def update(self, predictions: list[list[int]], references: list[list[int]]) -> None:  # type: ignore[override]
        super().update(
            [" ".join(map(str, p)) for p in predictions],
            [[" ".join(map(str, r))] for r in references],
        )


def seq2seq_metrics(num_classes: int) -> dict[str, Metric]:
    """Exact sequence match and BLEU of greedy outputs; token accuracy and cross-entropy
    of the teacher-forced next-token predictions (padding skipped)."""
    return {
        "exact": ExactMatch(),
        "bleu": TokenBLEU(n_gram=4),
        "acc": MulticlassAccuracy(num_classes, average="micro", ignore_index=IGNORE_INDEX),
        "ce": MeanCrossEntropy(),
    }

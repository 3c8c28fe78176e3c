"""What ``fit`` returns, and its one-line description."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.tasks import Baseline


@dataclass
class FitResult:
    """What ``fit`` returns (``summary`` is what ``summary.json`` holds).

    ``metrics`` are the best checkpoint's final ``val_*`` and ``test_*`` metrics (plus the
    last ``train_loss``); ``baseline`` is the task's trivial baseline for the split the
    headline metric was measured on.
    """

    run_dir: Path
    metrics: dict[str, float]
    metric: str
    metric_mode: str
    baseline: Baseline | None
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    global_step: int
    epochs: int
    wall_time_s: float
    parameters: dict[str, int]
    summary: dict[str, Any] = field(default_factory=dict)
    is_global_zero: bool = True
    sync_hint: str | None = None  # the `wandb sync` command of an offline W&B run
    stopped_because: str = ""  # why training ended: "max_steps=100 reached (epoch 3)"

    @property
    def headline_key(self) -> str:
        test = f"test_{self.metric}"
        return test if test in self.metrics else f"val_{self.metric}"

    @property
    def headline(self) -> float | None:
        return self.metrics.get(self.headline_key)


#: Within this factor of the baseline (either way) a result is "level with" it.
LEVEL = 1.05


def describe(result: FitResult) -> str:
    """One line: the headline metric next to its baseline, and why training stopped."""
    value = result.headline
    text = f"{result.headline_key} {_fmt(value)}"
    if result.baseline is not None:
        b = result.baseline
        text += f" vs baseline {_fmt(b.value)} ({b.description})"
        if value is not None and math.isfinite(value):
            text += ", " + _against(value, b.value, result.metric_mode)
    if result.stopped_because:
        text += f"; stopped: {result.stopped_because}"
    return text


def _against(value: float, baseline: float, mode: str) -> str:
    """``2.3× lower``, ``level with the baseline`` or ``not better``."""
    better = value < baseline if mode == "min" else value > baseline
    if mode == "min" and value > 0 and baseline > 0:
        ratio = baseline / value
        if 1 / LEVEL <= ratio <= LEVEL:
            return "level with the baseline"
        return f"{ratio:.1f}× lower" if better else "not better"
    if baseline and abs(value - baseline) <= (LEVEL - 1) * abs(baseline):
        return "level with the baseline"
    return "better" if better else "not better"


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


__all__ = ["LEVEL", "FitResult", "describe"]

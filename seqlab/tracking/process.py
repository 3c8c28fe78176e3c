"""This process in a run: whether it is rank 0, the step its metrics go to, where it reports."""

from __future__ import annotations

import sys
from collections.abc import Callable

import lightning as L
from lightning.pytorch.utilities.rank_zero import rank_zero_only

Notify = Callable[[str], None]
"""Where a one-line report goes (``print``-like)."""


def to_stderr(message: str) -> None:
    """The default report: one line on stderr, flushed."""
    print(message, file=sys.stderr, flush=True)


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 (Lightning reads the launcher's RANK/LOCAL_RANK)."""
    return getattr(rank_zero_only, "rank", 0) == 0


def log_step(trainer: L.Trainer) -> int:
    """The step Lightning attaches to the metrics it logs (``trainer/global_step`` in W&B).

    It counts training batches that stepped the optimiser — the index of the current
    batch during its hooks and during the validation that follows it. It equals
    ``trainer.global_step`` with automatic optimisation, but not when a manually
    optimised module steps several times per batch (truncated BPTT), so seqlab's own
    logging uses this to stay on the same axis.
    """
    loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
    return int(getattr(loop, "_batches_that_stepped", trainer.global_step))


__all__ = ["Notify", "is_rank_zero", "log_step", "to_stderr"]

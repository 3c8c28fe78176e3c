"""What a NaN or infinite training loss does: stop the run, or skip the batch."""

from __future__ import annotations

import math
from typing import Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn

from seqlab.errors import ConfigError, NonFiniteLossError
from seqlab.models.base import FiniteFlag
from seqlab.validation import positive_int

_FIXES = (
    "Lower the learning rate (--lr), clip gradients (--gradient-clip 1.0), or check the "
    "data for NaN/Inf"
)


class NonFiniteLossPolicy(Callback):
    """``trainer.nonfinite_loss`` and ``trainer.max_consecutive_skips`` as a callback.

    seqlab's models ask it about every training loss before using it for an update (see
    :class:`seqlab.models.LossPolicy`): with automatic optimisation once per batch, with the
    language model's truncated BPTT once per chunk. A non-finite loss then

    - ``stop``: raises :class:`~seqlab.errors.NonFiniteLossError` naming the step, before
      the update, so the weights and checkpoints hold no NaN/Inf;
    - ``skip``: warns and answers ``False``; the model then makes no update (the
      gradients are dropped, so parameters and optimiser moments stay as they were). More
      than ``max_consecutive_skips`` in a row raise the error anyway.

    Under DDP every process takes the same decision (a loss bad on one process is bad
    on all). ``skipped_batches`` counts the skips of this process (``summary.json``).
    ``fit`` installs one; a plain Lightning Trainer may take one too.
    """

    def __init__(self, mode: Literal["stop", "skip"] = "stop", max_consecutive_skips: int = 10):
        if mode not in ("stop", "skip"):
            raise ConfigError(f"trainer.nonfinite_loss must be 'stop' or 'skip', got {mode!r}.")
        self.mode = mode
        self.max_consecutive_skips = positive_int(
            "trainer.max_consecutive_skips", max_consecutive_skips
        )
        self.skipped_batches = 0
        self.consecutive_skips = 0

    def loss_is_usable(
        self, trainer: L.Trainer, loss: torch.Tensor | FiniteFlag, batch_idx: int
    ) -> bool:
        """Whether ``loss`` is finite on every process; if not, raise or (``skip``) answer
        ``False`` so that the caller makes no update.

        Given a :class:`~seqlab.models.base.FiniteFlag` started earlier, it waits only for
        that flag, not for the device's queue (no full sync per step on a GPU).
        """
        flag = loss if isinstance(loss, FiniteFlag) else FiniteFlag(loss)
        bad = not flag.is_finite()
        if trainer.world_size > 1:  # every process must take the same decision
            bad = bool(trainer.strategy.reduce_boolean_decision(bad, all=False))
        if not bad:
            self.consecutive_skips = 0
            return True
        local = float(flag.loss.float().mean())
        value = f"{local}" if not math.isfinite(local) else "non-finite on another process"
        where = f"at step {trainer.global_step} (epoch {trainer.current_epoch}, batch {batch_idx})"
        if self.mode == "stop":
            raise NonFiniteLossError(
                f"the training loss is {value} {where}. Training stopped before that step's "
                f"update, so the weights and checkpoints hold no NaN/Inf. {_FIXES}, or skip "
                f"such batches with --set trainer.nonfinite_loss=skip."
            )
        return self._skip(value, where)

    def _skip(self, value: str, where: str) -> bool:
        self.consecutive_skips += 1
        self.skipped_batches += 1
        if self.consecutive_skips > self.max_consecutive_skips:
            raise NonFiniteLossError(
                f"the training loss was non-finite for {self.consecutive_skips} batches in a "
                f"row, the last {where} (trainer.nonfinite_loss=skip gives up after "
                f"trainer.max_consecutive_skips={self.max_consecutive_skips}): the model has "
                f"diverged. {_FIXES}."
            )
        rank_zero_warn(
            f"skipped the batch {where}: the training loss is {value}; no update was "
            f"made ({self.consecutive_skips} in a row, "
            f"trainer.max_consecutive_skips={self.max_consecutive_skips})."
        )
        return False


__all__ = ["NonFiniteLossPolicy"]

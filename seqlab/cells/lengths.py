"""Variable lengths in padded batches: which steps of each sequence are real.

A batch-first input (B, T, ·) holds B sequences padded to T steps; ``lengths`` (B,) says
how many steps of each are real. Outputs past a sequence's end are zero and its state is
the one at its last valid step. Cells with a ``forward_sequence`` and the unroller
(:mod:`seqlab.unroll`) build their masks here.
"""

from __future__ import annotations

import torch
from torch import Tensor


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """Boolean (B, steps): True where step t < lengths[b]."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def broadcast_mask(mask: Tensor, like: Tensor) -> Tensor:
    """``mask`` (B,) viewed as (B, 1, …, 1) to broadcast against ``like`` (B, …)."""
    return mask.view(mask.shape[0], *([1] * (like.dim() - 1)))


__all__ = ["broadcast_mask", "length_mask"]

"""One vector per sequence from per-step outputs, over each sequence's valid steps only."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Pooling = Literal["last", "mean", "max"]


def valid_mask(lengths: Tensor, steps: int) -> Tensor:
    """Boolean (B, steps): True at steps before each sequence's length."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def pool(outputs: Tensor, lengths: Tensor, how: Pooling, num_directions: int = 1) -> Tensor:
    """Pool ``outputs`` (B, T, D) to (B, D) over the valid steps given by ``lengths`` (B,).

    - ``last``: the output at each sequence's last valid step. For a bidirectional layer
      (``num_directions == 2``, outputs ``[forward, backward]`` along D) the backward half
      is taken at step 0, where the backward cell has read the whole sequence.
    - ``mean``: the mean over valid steps.
    - ``max``: the elementwise max over valid steps.
    """
    batch, steps, width = outputs.shape
    lengths = lengths.to(outputs.device)
    if how == "last":
        idx = (lengths - 1).clamp(min=0).view(batch, 1, 1).expand(batch, 1, width)
        last = outputs.gather(1, idx).squeeze(1)
        if num_directions == 2:
            half = width // 2
            return torch.cat([last[:, :half], outputs[:, 0, half:]], dim=-1)
        return last
    mask = valid_mask(lengths, steps).unsqueeze(-1)
    if how == "mean":
        total = (outputs * mask).sum(1)
        return total / lengths.clamp(min=1).unsqueeze(-1).to(outputs.dtype)
    if how == "max":
        return outputs.masked_fill(~mask, float("-inf")).amax(1)
    raise ValueError(f"unknown pooling {how!r}; use last, mean or max")

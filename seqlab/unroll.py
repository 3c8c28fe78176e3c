"""Stepping a cell over a sequence: the path every cell without ``forward_sequence`` takes.

The loop does nothing per step but call the cell and keep its output: inputs are split
once with ``unbind`` (indexing ``x[:, t]`` per step makes backward quadratic in T), and
length masks are applied only at steps where some sequence has already ended.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.cells.base import State, like_state, state_tensors
from seqlab.cells.lengths import broadcast_mask, length_mask


def freeze_finished(mask_t: Tensor, new: State, old: State) -> State:
    """Keep ``old`` state for sequences whose mask is False at this step."""
    return like_state(
        new,
        [
            torch.where(broadcast_mask(mask_t, n), n, o)
            for n, o in zip(state_tensors(new), state_tensors(old), strict=True)
        ],
    )


def unroll(
    cell: nn.Module, x: Tensor, state: State, lengths: Tensor | None = None
) -> tuple[Tensor, State]:
    """Step ``cell`` over batch-first ``x`` (B, T, F) from ``state``.

    Returns outputs (B, T, hidden_size), zero past each sequence's length, and the final
    state, which with ``lengths`` is each sequence's state at its last valid step.
    """
    batch, steps = x.shape[0], x.shape[1]
    if steps == 0:
        return x.new_zeros(batch, 0, cell.hidden_size), state
    inputs = x.unbind(1)
    outputs: list[Tensor] = []
    if lengths is None:
        for x_t in inputs:
            h, state = cell(x_t, state)
            outputs.append(h)
        return torch.stack(outputs, 1), state

    lengths = lengths.to(x.device)
    max_len = min(int(lengths.max()), steps)
    min_len = int(lengths.min())
    for x_t in inputs[:min_len]:
        h, state = cell(x_t, state)
        outputs.append(h)
    if min_len < max_len:
        masks = length_mask(lengths, max_len).unbind(1)
        for t in range(min_len, max_len):
            h, new_state = cell(inputs[t], state)
            m = masks[t]
            state = freeze_finished(m, new_state, state)
            outputs.append(h.masked_fill(~broadcast_mask(m, h), 0.0))
    out = torch.stack(outputs, 1) if outputs else x.new_zeros(batch, 0, cell.hidden_size)
    if max_len < steps:
        out = torch.cat([out, out.new_zeros(batch, steps - max_len, out.shape[-1])], 1)
    return out, state


__all__ = ["broadcast_mask", "freeze_finished", "length_mask", "unroll"]

"""Stepping a cell over a sequence: the path every cell without ``forward_sequence`` takes.

The loop does nothing per step but call the cell and keep its output: inputs are split
once with ``unbind`` (indexing ``x[:, t]`` per step makes backward quadratic in T), and
length masks are applied only at steps where some sequence has already ended. A cell with
the optional ``input_projection``/``forward_projected`` pair has its input work done for
all steps at once before the loop (see :func:`step_inputs`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from seqlab.cells.base import State, like_state, state_tensors
from seqlab.cells.lengths import broadcast_mask, length_mask

Step = Callable[[Tensor, State], tuple[Tensor, State]]
"""One time step: ``step(x_t, state) -> (h_t, new_state)``."""


def step_inputs(cell: nn.Module, x: Tensor) -> tuple[Tensor, Step]:
    """The per-step inputs (B, T, P) and the step that reads them.

    A cell with ``input_projection(x)`` (all steps at once, one large matmul) and
    ``forward_projected(p_t, state)`` is stepped on the projections; any other cell on
    ``x`` itself with its ``forward``.
    """
    project = getattr(cell, "input_projection", None)
    if project is None:
        return x, cell
    return project(x), cell.forward_projected


def freeze_finished(mask_t: Tensor, new: State, old: State) -> State:
    """Keep ``old`` state for sequences whose mask is False at this step."""
    return like_state(
        new,
        [
            torch.where(broadcast_mask(mask_t, n), n, o)
            for n, o in zip(state_tensors(new), state_tensors(old), strict=True)
        ],
    )


def masked_step(mask_t: Tensor, h: Tensor, new: State, old: State) -> tuple[Tensor, State]:
    """Output zeroed and state frozen for sequences already past their length."""
    return h.masked_fill(~broadcast_mask(mask_t, h), 0.0), freeze_finished(mask_t, new, old)


def regularised_step(
    step: Step, x_t: Tensor, state: State, rec_mask: Tensor | None, zoneout: float
) -> tuple[Tensor, State]:
    """One step with variational recurrent dropout and zoneout.

    ``rec_mask`` (B, H) scales the first state tensor ``h`` fed to the cell (one mask per
    sequence, drawn once); ``zoneout`` is the probability of keeping each unit of every
    state tensor at its previous value. When the cell's output is its ``h``, the output
    is the zoned-out ``h``, as in Krueger et al. (2017).
    """
    cell_state = state
    if rec_mask is not None:
        parts = state_tensors(state)
        cell_state = like_state(state, [parts[0] * rec_mask, *parts[1:]])
    h, new_state = step(x_t, cell_state)
    if zoneout > 0:
        output_is_state = h is state_tensors(new_state)[0]
        new_parts = []
        for n, o in zip(state_tensors(new_state), state_tensors(state), strict=True):
            keep_old = torch.bernoulli(torch.full_like(n, zoneout)).bool()
            new_parts.append(torch.where(keep_old, o, n))
        new_state = like_state(new_state, new_parts)
        if output_is_state:
            h = new_parts[0]
    return h, new_state


def recurrent_dropout_mask(state: State, p: float) -> Tensor | None:
    """The variational dropout mask (B, H) for the first state tensor, or None for p=0."""
    if p <= 0:
        return None
    h0 = state_tensors(state)[0]
    keep = 1.0 - p
    return torch.bernoulli(torch.full_like(h0, keep)) / keep


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
    projected, step = step_inputs(cell, x)
    inputs = projected.unbind(1)
    outputs: list[Tensor] = []
    if lengths is None:
        for x_t in inputs:
            h, state = step(x_t, state)
            outputs.append(h)
        return torch.stack(outputs, 1), state

    lengths = lengths.to(x.device)
    if torch.compiler.is_exporting():
        # torch.export cannot take loop bounds from tensor values: mask every step.
        min_len, max_len = 0, steps
    else:
        max_len = min(int(lengths.max()), steps)
        min_len = int(lengths.min())
    for x_t in inputs[:min_len]:
        h, state = step(x_t, state)
        outputs.append(h)
    if min_len < max_len:
        masks = length_mask(lengths, max_len).unbind(1)
        for t in range(min_len, max_len):
            h, new_state = step(inputs[t], state)
            h, state = masked_step(masks[t], h, new_state, state)
            outputs.append(h)
    return pad_steps(outputs, x, steps, cell.hidden_size), state


def pad_steps(outputs: list[Tensor], x: Tensor, steps: int, hidden_size: int) -> Tensor:
    """Outputs stacked to (B, T, H) and zero-padded to ``steps``."""
    batch = x.shape[0]
    out = torch.stack(outputs, 1) if outputs else x.new_zeros(batch, 0, hidden_size)
    if out.shape[1] < steps:
        out = torch.cat([out, out.new_zeros(batch, steps - out.shape[1], out.shape[-1])], 1)
    return out


def unroll_regularised(
    cell: nn.Module,
    x: Tensor,
    state: State,
    lengths: Tensor | None = None,
    *,
    rec_mask: Tensor | None = None,
    zoneout: float = 0.0,
    observer: Callable[[int, Tensor], None] | None = None,
) -> tuple[Tensor, State]:
    """:func:`unroll` with recurrent dropout, zoneout and a step observer.

    ``observer(t, h_t)`` sees every step's output before masking: the masked copy is not
    what the recurrence reads, so its gradient would miss what flows back through time.
    """
    steps = x.shape[1]
    projected, step = step_inputs(cell, x)
    masks = length_mask(lengths.to(x.device), steps).unbind(1) if lengths is not None else None
    outputs = []
    for t, x_t in enumerate(projected.unbind(1)):
        h, new_state = regularised_step(step, x_t, state, rec_mask, zoneout)
        if observer is not None:
            observer(t, h)
        if masks is not None:
            h, new_state = masked_step(masks[t], h, new_state, state)
        state = new_state
        outputs.append(h)
    return pad_steps(outputs, x, steps, cell.hidden_size), state

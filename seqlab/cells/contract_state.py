"""The state's contract, as checks: a Tensor or tuple of Tensors, batch in dim 0, kept form.

Shared by :mod:`seqlab.cells.contract` and the conformance suite (:mod:`seqlab.testing`);
each helper raises :class:`~seqlab.cells.contract_target.CheckFailed` with a message that
says what is wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from seqlab.cells.contract_target import CheckFailed

State = Tensor | tuple[Tensor, ...]


def parts(state: State) -> tuple[Tensor, ...]:
    """The state as a tuple of tensors."""
    return (state,) if isinstance(state, Tensor) else tuple(state)


def like(template: State, tensors: Sequence[Tensor]) -> State:
    """``tensors`` packed as ``template`` is (one Tensor or a tuple)."""
    return tensors[0] if isinstance(template, Tensor) else tuple(tensors)


def state_names(state: State) -> list[str]:
    """Names used in messages: ``state`` or ``state[0]``, ``state[1]``…"""
    return ["state"] if isinstance(state, Tensor) else [f"state[{i}]" for i in range(len(state))]


def has_forward_sequence(cell: nn.Module) -> bool:
    return callable(getattr(cell, "forward_sequence", None))


def fmt_shape(t: Tensor) -> str:
    return str(tuple(t.shape))


def validate_state(
    state: object,
    what: str,
    batch: int,
    dtype: torch.dtype | None,
    device: torch.device | None = None,
) -> tuple[Tensor, ...]:
    """Fail unless ``state`` is a Tensor or a tuple of Tensors with batch ``batch`` in dim 0."""
    if isinstance(state, Tensor):
        tensors: tuple[Tensor, ...] = (state,)
    elif isinstance(state, tuple) and state and all(isinstance(t, Tensor) for t in state):
        tensors = state
    else:
        kind = type(state).__name__
        raise CheckFailed(
            f"{what} is a {kind}, not a Tensor or a non-empty tuple of Tensors. The state must "
            f"be one Tensor or a tuple of Tensors (lists, dicts and nested tuples are not "
            f"supported by seqlab's unroller); return e.g. (h, c)."
        )
    names = ["state"] if isinstance(state, Tensor) else [f"[{i}]" for i in range(len(tensors))]
    for name, t in zip(names, tensors, strict=True):
        label = what if isinstance(state, Tensor) else f"{what}{name}"
        _validate_state_tensor(t, label, batch, dtype, device)
    return tensors


def _validate_state_tensor(
    t: Tensor, label: str, batch: int, dtype: torch.dtype | None, device: torch.device | None
) -> None:
    if t.dim() < 1 or t.shape[0] != batch:
        raise CheckFailed(
            f"{label} has shape {fmt_shape(t)}; for a batch of {batch} its first dimension "
            f"must be {batch}. Every state tensor has the batch as dim 0."
        )
    if dtype is not None and t.dtype != dtype:
        raise CheckFailed(
            f"{label} has dtype {t.dtype}, expected {dtype}. Create state tensors with the "
            f"dtype asked for (initial_state's dtype=, or the dtype of x_t) instead of a fixed one."
        )
    if device is not None and t.device.type != device.type:
        raise CheckFailed(
            f"{label} is on device {t.device}, expected {device}. Create state tensors on "
            f"the device asked for (initial_state's device=)."
        )


def same_layout(new: State, old: State, what: str) -> None:
    """Fail unless ``new`` has the form, shapes and dtypes of ``old``."""
    old_t = parts(old)
    if isinstance(old, Tensor) != isinstance(new, Tensor) or len(parts(new)) != len(old_t):
        raise CheckFailed(
            f"{what} has a different form from the state passed in ({describe_state(new)} instead of "
            f"{describe_state(old)}). The new state must have the same structure as the old one so "
            f"that it can be fed back."
        )
    for name, n, o in zip(state_names(old), parts(new), old_t, strict=True):
        if n.shape != o.shape or n.dtype != o.dtype:
            raise CheckFailed(
                f"{what} ({name}) has shape {fmt_shape(n)} and dtype {n.dtype}; the state passed "
                f"in had {fmt_shape(o)} and {o.dtype}. Each state tensor must keep its shape and "
                f"dtype from step to step."
            )


def describe_state(state: object) -> str:
    if isinstance(state, Tensor):
        return f"a Tensor {fmt_shape(state)}"
    if isinstance(state, tuple):
        return f"a tuple of {len(state)}"
    return f"a {type(state).__name__}"


def unpack_step(result: object, what: str) -> tuple[Tensor, State]:
    """``(output, new state)`` from what ``forward`` returned; fail unless it is such a pair."""
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Tensor)):
        raise CheckFailed(
            f"{what} returned {type(result).__name__}"
            + (f" of length {len(result)}" if isinstance(result, tuple) else "")
            + "; it must return the pair (output Tensor, new state)."
        )
    return result[0], result[1]


def require_finite(t: Tensor, what: str) -> None:
    if not bool(torch.isfinite(t).all()):
        raise CheckFailed(
            f"{what} contains NaN or Inf on random inputs of unit variance. "
            f"Check the cell's arithmetic (divisions, logs, exp overflow)."
        )


__all__ = [
    "State",
    "describe_state",
    "fmt_shape",
    "has_forward_sequence",
    "like",
    "parts",
    "require_finite",
    "same_layout",
    "state_names",
    "unpack_step",
    "validate_state",
]

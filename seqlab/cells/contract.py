"""The cell contract's shape and dtype check, for callers below the conformance suite.

:func:`check_cell_contract` is what training runs on a plugin cell before fitting; the
conformance suite's ``check_shapes`` (:mod:`seqlab.testing`) runs :func:`shapes_and_dtypes`
too, so both fail with the same message for the same broken cell.

>>> from seqlab.cells.contract import check_cell_contract
>>> check_cell_contract("gru", input_size=4, hidden_size=6)   # raises CheckFailed if broken
"""

from __future__ import annotations

from typing import Any

import torch

from seqlab.cells.contract_state import (
    fmt_shape,
    has_forward_sequence,
    require_finite,
    same_layout,
    unpack_step,
    validate_state,
)
from seqlab.cells.contract_target import (
    BATCH,
    STEPS,
    CellUnderTest,
    CheckFailed,
    randn_x,
    resolve,
    run_check,
)

DTYPES = (torch.float32, torch.float64)


def shapes_and_dtypes(t: CellUnderTest) -> None:
    """Outputs are (B, H) per step and (B, T, H) per sequence; states keep shape and dtype.

    In float32 and float64: two steps of ``forward`` (the new state fed back) and, when
    present, ``forward_sequence``; outputs have the input's dtype, the new state the form,
    shapes and dtypes of the state passed in, and everything is finite.
    """
    for dtype in DTYPES:
        cell = t.build(dtype).eval()
        with t.doing(f"calling initial_state({BATCH}, dtype={dtype})"):
            state = cell.initial_state(BATCH, dtype=dtype)
        validate_state(state, "initial_state", BATCH, dtype)
        for step in (1, 2):
            state = _one_step(t, cell, state, dtype, step)
        if has_forward_sequence(cell):
            _one_sequence(t, cell, dtype)


def _one_step(t: CellUnderTest, cell: torch.nn.Module, state: Any, dtype: torch.dtype, step: int):
    b, h_size = BATCH, t.hidden_size
    x_t = torch.randn(b, t.input_size, dtype=dtype)
    with t.doing(f"calling forward(x_t, state) in {dtype} (step {step})"):
        h, new = unpack_step(cell(x_t, state), "forward(x_t, state)")
    if h.shape != (b, h_size):
        raise CheckFailed(
            f"forward returned an output of shape {fmt_shape(h)} for x_t of shape "
            f"{fmt_shape(x_t)}; expected ({b}, {h_size}) = (batch, hidden_size). Return "
            f"h_t of width hidden_size."
        )
    if h.dtype != dtype:
        raise CheckFailed(
            f"forward returned an output of dtype {h.dtype} for a {dtype} cell and input; "
            f"expected {dtype}. Do not hard-code dtypes (torch.zeros(..., dtype=...), "
            f".float()); follow the input's and parameters' dtype."
        )
    validate_state(new, f"the new state from forward in {dtype}", b, dtype)
    same_layout(new, state, f"the new state from forward in {dtype}")
    require_finite(h, f"forward's output in {dtype}")
    return new


def _one_sequence(t: CellUnderTest, cell: torch.nn.Module, dtype: torch.dtype) -> None:
    b, h_size = BATCH, t.hidden_size
    x = randn_x(t, dtype=dtype)
    with t.doing(f"calling initial_state({b}, dtype={dtype})"):
        s0 = cell.initial_state(b, dtype=dtype)
    with t.doing(f"calling forward_sequence(x, state) in {dtype}"):
        out, final = unpack_step(cell.forward_sequence(x, s0), "forward_sequence(x, state)")
    if out.shape != (b, STEPS, h_size) or out.dtype != dtype:
        raise CheckFailed(
            f"forward_sequence returned outputs of shape {fmt_shape(out)} and dtype "
            f"{out.dtype} for x of shape {fmt_shape(x)} in {dtype}; expected "
            f"({b}, {STEPS}, {h_size}) = (batch, time, hidden_size) in {dtype}."
        )
    validate_state(final, f"forward_sequence's final state in {dtype}", b, dtype)
    same_layout(final, s0, f"forward_sequence's final state in {dtype}")
    require_finite(out, f"forward_sequence's output in {dtype}")


def check_cell_contract(name: str, *, input_size: int, hidden_size: int, **options: Any) -> None:
    """Raise :class:`CheckFailed` (an ``AssertionError``) unless cell ``name`` keeps the contract's
    shapes and dtypes, built as ``Cls(input_size, hidden_size, **options)``.

    The message is exactly that of the conformance suite's ``check_shapes`` for the same
    cell; mistakes of the caller (an unknown name or option) raise the usual
    :class:`~seqlab.errors.SeqlabError` instead.
    """
    target = resolve(name, input_size, hidden_size, options)
    run_check("check_shapes", shapes_and_dtypes, target)


__all__ = ["DTYPES", "CheckFailed", "check_cell_contract", "shapes_and_dtypes"]

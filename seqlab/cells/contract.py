"""The cell contract's basic checks, for callers below the conformance suite.

:func:`check_cell_contract` is what training runs on a plugin cell before fitting: the
conformance suite's first three checks (``check_constructor``, ``check_initial_state``,
``check_shapes``), in the suite's order and with its messages, so ``seqlab fit`` and
``seqlab cells check`` report the same first failure for the same broken cell. The suite
(:mod:`seqlab.testing`) runs :func:`shapes_and_dtypes` as its ``check_shapes``.

>>> from seqlab.cells.contract import check_cell_contract
>>> check_cell_contract("gru", input_size=4, hidden_size=6)   # raises CheckFailed if broken
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

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


def constructor_and_methods(t: CellUnderTest) -> None:
    """``Cls(input_size, hidden_size, **options)`` builds an ``nn.Module`` that keeps its sizes.

    The first two parameters take the sizes positionally, every option has a default, the
    attributes ``input_size``/``hidden_size`` hold the sizes (at two different pairs of
    sizes, so hard-coded values show), and ``initial_state``/``forward`` exist with the
    contract's signatures (``forward_sequence(x, state, lengths)`` too, when present).
    """
    cls = t.cls
    if not issubclass(cls, nn.Module):
        raise CheckFailed(
            f"{cls.__qualname__} is not a torch.nn.Module subclass. Derive the "
            f"cell from torch.nn.Module (or seqlab.cells.Cell)."
        )
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        params = list(sig.parameters.values())
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(positional) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in params):
            raise CheckFailed(
                f"the constructor {cls.__qualname__}{sig} does not take input_size and "
                f"hidden_size as its first two positional arguments. seqlab builds every cell "
                f"as Cls(input_size, hidden_size, **options)."
            )
        options = positional[2:] + [p for p in params if p.kind is p.KEYWORD_ONLY]
        missing = [p.name for p in options if p.default is p.empty]
        if missing:
            raise CheckFailed(
                f"the option(s) {', '.join(missing)} of {cls.__qualname__}{sig} have no default. "
                f"Give every option a default so that Cls(input_size, hidden_size) builds a "
                f"working cell (the registry, the CLI and configs rely on it)."
            )
    for i, h in ((t.input_size, t.hidden_size), (2 * t.input_size, 2 * t.hidden_size)):
        with t.doing(f"building the cell as Cls({i}, {h}, **options)"):
            cell = cls(i, h, **t.options)
        for attr, want in (("input_size", i), ("hidden_size", h)):
            got = getattr(cell, attr, None)
            if got != want:
                raise CheckFailed(
                    f"Cls({i}, {h}) has {attr} = {got!r}, expected {want}. Store the sizes the "
                    f"cell is built with as the attributes input_size and hidden_size."
                )
    for member in ("initial_state", "forward"):
        if not callable(getattr(cell, member, None)):
            raise CheckFailed(
                f"the cell has no method {member}; see the contract in docs/plugins.md."
            )
    _require_bindable(
        cell.initial_state,
        "initial_state(batch_size, device=..., dtype=...)",
        1,
        device=None,
        dtype=None,
    )
    _require_bindable(cell.forward, "forward(x_t, state)", None, None)
    if has_forward_sequence(cell):
        _require_bindable(
            cell.forward_sequence, "forward_sequence(x, state, lengths)", None, None, None
        )


def _require_bindable(
    method: Callable[..., object], call: str, *args: object, **kwargs: object
) -> None:
    try:
        sig = inspect.signature(method)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise CheckFailed(
            f"{method.__name__}{sig} cannot be called as {call} ({exc}). seqlab calls it that way; "
            f"match the signature in docs/plugins.md."
        ) from None


def initial_states(t: CellUnderTest) -> None:
    """``initial_state(B, device=, dtype=)`` gives Tensors with batch B in dim 0, as asked.

    For cells in float32 and float64, at batch 4 and 1: a Tensor or tuple of Tensors, each
    of dtype ``dtype`` (also when it differs from the parameters'), on ``device`` (the
    ``meta`` device stands in for an accelerator), with the same per-sample shape at any
    batch size, and finite.
    """
    shapes: list[tuple[int, ...]] | None = None
    for dtype in DTYPES:
        cell = t.build(dtype)
        for batch in (BATCH, 1):
            with t.doing(f"calling initial_state({batch}, dtype={dtype})"):
                state = cell.initial_state(batch, dtype=dtype)
            tensors = validate_state(state, f"initial_state({batch}, dtype={dtype})", batch, dtype)
            for k, s in enumerate(tensors):
                require_finite(s, f"initial_state({batch})[{k}]")
            per_sample = [tuple(s.shape[1:]) for s in tensors]
            if shapes is None:
                shapes = per_sample
            elif per_sample != shapes:
                raise CheckFailed(
                    f"the per-sample state shapes change with the batch size or dtype: {shapes} "
                    f"vs {per_sample} (initial_state({batch}, dtype={dtype})). Only dim 0 may "
                    f"depend on batch_size."
                )
        other = torch.float64 if dtype == torch.float32 else torch.float32
        with t.doing(f"calling initial_state({BATCH}, dtype={other}) on a {dtype} cell"):
            state = cell.initial_state(BATCH, dtype=other)
        validate_state(
            state, f"initial_state({BATCH}, dtype={other}) of a {dtype} cell", BATCH, other
        )
        meta = torch.device("meta")
        with t.doing(f"calling initial_state({BATCH}, device='meta', dtype={dtype})"):
            state = cell.initial_state(BATCH, device=meta, dtype=dtype)
        validate_state(state, f"initial_state({BATCH}, device='meta')", BATCH, dtype, meta)


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


#: The checks :func:`check_cell_contract` runs, named and ordered as in the conformance
#: suite (whose first three checks they are), so both report the same first failure.
PREFLIGHT: tuple[tuple[str, Callable[[CellUnderTest], None]], ...] = (
    ("check_constructor", constructor_and_methods),
    ("check_initial_state", initial_states),
    ("check_shapes", shapes_and_dtypes),
)


def check_cell_contract(name: str, *, input_size: int, hidden_size: int, **options: Any) -> None:
    """Raise :class:`CheckFailed` (an ``AssertionError``) unless cell ``name`` keeps the
    contract's basics, built as ``Cls(input_size, hidden_size, **options)``: construction,
    ``initial_state``, and the shapes and dtypes of ``forward`` (and ``forward_sequence``).

    These are the first three checks of the conformance suite, in its order, with its
    messages: the first failure is the one ``seqlab cells check NAME`` reports first.
    Mistakes of the caller (an unknown name or option, a value of the wrong type) raise the
    usual :class:`~seqlab.errors.SeqlabError` instead.
    """
    target = resolve(name, input_size, hidden_size, options)
    for check_name, check in PREFLIGHT:
        run_check(check_name, check, target)


__all__ = [
    "DTYPES",
    "PREFLIGHT",
    "CheckFailed",
    "check_cell_contract",
    "constructor_and_methods",
    "initial_states",
    "shapes_and_dtypes",
]

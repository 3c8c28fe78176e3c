"""Checks of the contract's basics: construction, the initial state, shapes and dtypes."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from seqlab.cells.contract import DTYPES, shapes_and_dtypes
from seqlab.testing._harness import (
    BATCH,
    CellUnderTest,
    CheckFailed,
    as_check,
    has_forward_sequence,
    require_finite,
    validate_state,
)


@as_check
def check_constructor(t: CellUnderTest) -> None:
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


@as_check
def check_initial_state(t: CellUnderTest) -> None:
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


@as_check
def check_shapes(t: CellUnderTest) -> None:
    """Outputs are (B, H) per step and (B, T, H) per sequence; states keep shape and dtype.

    In float32 and float64: two steps of ``forward`` (the new state fed back) and, when
    present, ``forward_sequence``; outputs have the input's dtype, the new state the form,
    shapes and dtypes of the state passed in, and everything is finite. The same check as
    :func:`seqlab.cells.contract.check_cell_contract`, which training runs on plugin cells.
    """
    shapes_and_dtypes(t)

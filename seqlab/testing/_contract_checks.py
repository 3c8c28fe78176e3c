"""Checks of the contract's basics: construction, the initial state, shapes and dtypes."""

from __future__ import annotations

from seqlab.cells.contract import constructor_and_methods, initial_states, shapes_and_dtypes
from seqlab.testing._harness import (
    CellUnderTest,
    as_check,
)


@as_check
def check_constructor(t: CellUnderTest) -> None:
    """``Cls(input_size, hidden_size, **options)`` builds an ``nn.Module`` that keeps its sizes.

    The first two parameters take the sizes positionally, every option has a default, the
    attributes ``input_size``/``hidden_size`` hold the sizes (at two different pairs of
    sizes, so hard-coded values show), and ``initial_state``/``forward`` exist with the
    contract's signatures (``forward_sequence(x, state, lengths)`` too, when present).
    """
    constructor_and_methods(t)


@as_check
def check_initial_state(t: CellUnderTest) -> None:
    """``initial_state(B, device=, dtype=)`` gives Tensors with batch B in dim 0, as asked.

    For cells in float32 and float64, at batch 4 and 1: a Tensor or tuple of Tensors, each
    of dtype ``dtype`` (also when it differs from the parameters'), on ``device`` (the
    ``meta`` device stands in for an accelerator), with the same per-sample shape at any
    batch size, and finite.
    """
    initial_states(t)


@as_check
def check_shapes(t: CellUnderTest) -> None:
    """Outputs are (B, H) per step and (B, T, H) per sequence; states keep shape and dtype.

    In float32 and float64: two steps of ``forward`` (the new state fed back) and, when
    present, ``forward_sequence``; outputs have the input's dtype, the new state the form,
    shapes and dtypes of the state passed in, and everything is finite. The same check as
    :func:`seqlab.cells.contract.check_cell_contract`, which training runs on plugin cells.
    """
    shapes_and_dtypes(t)

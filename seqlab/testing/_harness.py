"""What every conformance check shares: the cell under test, runs, comparisons, failures.

The checks never go through seqlab's own unroller to get a reference: stepping is a plain
loop over ``forward`` written here, so a check tests the cell, not seqlab's machinery.
Only :func:`seqlab.testing.checks.check_chunked_state`, ``check_variable_lengths`` and
``check_recurrent_integration`` run ``seqlab.Recurrent`` on purpose.
"""

from __future__ import annotations

import functools
import unittest
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqlab.cells.contract_state import (
    State,
    describe_state,
    fmt_shape,
    has_forward_sequence,
    like,
    parts,
    require_finite,
    same_layout,
    state_names,
    unpack_step,
    validate_state,
)
from seqlab.cells.contract_target import (
    BATCH,
    HIDDEN_SIZE,
    INPUT_SIZE,
    SEED,
    STEPS,
    CellUnderTest,
    CheckFailed,
    randn_x,
    resolve,
    run_check,
)
from seqlab.recurrent import Recurrent

#: Where ``forward_sequence`` is compared, also this many steps: prime and above the usual
#: chunk sizes (16, 32, 64, 128), so a chunked or parallel scan runs several chunks and a
#: partial one, and a cell that switches method with the length is tested on both.
LONG_STEPS = 131
SEQUENCE_STEPS = (STEPS, LONG_STEPS)
#: Steps run from ``initial_state`` to reach the non-zero state that checks start from.
WARMUP_STEPS = 3

#: Numerical comparisons run in float64 with these tolerances: |a - e| ≤ ATOL + RTOL·|e|.
#: Two correct implementations of the same recurrence (stepped vs fused or scanned, a
#: batch of one vs a batch of four) differ by rounding only, ~1e-15 at these sizes; any
#: bug moves results by far more than 1e-7.
RTOL = 1e-7
ATOL = 1e-9


class CheckSkipped(unittest.SkipTest):
    """The check does not apply to this cell (pytest and unittest report it as skipped)."""


def recurrent_layer(
    target: CellUnderTest, dtype: torch.dtype = torch.float64, **kwargs: Any
) -> nn.Module:
    """A ``seqlab.Recurrent`` layer of ``target``'s cell (``kwargs``: num_layers, bidirectional…)."""
    with target.doing(f"building seqlab.Recurrent({target.label!r}, ..., {kwargs})"):
        layer = Recurrent(
            target.cls, target.input_size, target.hidden_size, **kwargs, **target.options
        )
    return layer.to(dtype)


def as_check(fn: Callable[[CellUnderTest], None]) -> Callable[..., None]:
    """Turn ``fn(target)`` into the public ``check_x(cell, *, input_size, hidden_size, **options)``.

    The check runs as :func:`seqlab.cells.contract_target.run_check` runs it (fixed seed,
    the caller's RNG restored, gradients on); whatever goes wrong becomes one
    ``AssertionError`` starting with the check's name. :class:`CheckSkipped` propagates.
    """
    name = fn.__name__

    @functools.wraps(fn)
    def check(
        cell: Any, *, input_size: int = INPUT_SIZE, hidden_size: int = HIDDEN_SIZE, **options: Any
    ) -> None:
        target = resolve(cell, input_size, hidden_size, options)
        run_check(name, fn, target, passthrough=(CheckSkipped,))

    # The public signature is the wrapper's (cell, *, input_size, hidden_size, **options),
    # not the private fn(target) that functools.wraps would advertise.
    del check.__wrapped__  # type: ignore[attr-defined]
    return check


# -- states and runs ------------------------------------------------------------------------
def rows(state: State, index: slice | Tensor | int) -> State:
    if isinstance(index, int):
        index = slice(index, index + 1)
    return like(state, [t[index] for t in parts(state)])


def step_loop(cell: nn.Module, x: Tensor, state: State) -> tuple[Tensor, State]:
    """The reference: ``forward`` called once per step of ``x`` (B, T, I)."""
    outputs = []
    for t in range(x.shape[1]):
        h, state = cell(x[:, t], state)
        outputs.append(h)
    return torch.stack(outputs, 1), state


Run = Callable[[Tensor, State], tuple[Tensor, State]]
"""Runs a cell over a sequence: ``run(x (B, T, I), state) -> (outputs (B, T, H), final state)``."""


def paths(target: CellUnderTest, cell: nn.Module) -> list[tuple[str, Run]]:
    """The ways of running ``cell`` over a sequence: stepping, and forward_sequence if any."""

    def stepping(x: Tensor, state: State) -> tuple[Tensor, State]:
        with target.doing("stepping the cell with forward(x_t, state)"):
            return step_loop(cell, x, state)

    out: list[tuple[str, Run]] = [("stepping (forward)", stepping)]
    if has_forward_sequence(cell):

        def fused(x: Tensor, state: State) -> tuple[Tensor, State]:
            with target.doing("running forward_sequence(x, state)"):
                return cell.forward_sequence(x, state)

        out.append(("forward_sequence", fused))
    return out


def reachable_state(
    target: CellUnderTest, cell: nn.Module, batch: int, dtype: torch.dtype
) -> State:
    """A non-zero state the cell can reach: ``WARMUP_STEPS`` random steps from its initial state.

    Random states drawn from N(0, 1) could leave a cell's domain (a log-space scan needs a
    positive state); states the cell produced itself never do.
    """
    with target.doing(f"calling initial_state({batch}, dtype={dtype})"):
        state = cell.initial_state(batch, dtype=dtype)
    with target.doing("stepping the cell with forward(x_t, state)"), torch.no_grad():
        for _ in range(WARMUP_STEPS):
            _, state = cell(torch.randn(batch, target.input_size, dtype=dtype), state)
    return like(state, [t.detach().clone() for t in parts(state)])


def weighted_loss(out: Tensor, state: State, weights: list[Tensor]) -> Tensor:
    """A loss using every output and state entry with fixed random weights.

    Random weights (instead of ``sum``) keep gradients from cancelling by symmetry.
    """
    tensors = [out, *parts(state)]
    return sum((t * w).sum() for t, w in zip(tensors, weights, strict=True))  # type: ignore[return-value]


def loss_weights(out: Tensor, state: State) -> list[Tensor]:
    return [torch.randn_like(t) for t in (out, *parts(state))]


# -- comparisons -----------------------------------------------------------------------------
def assert_close(actual: Tensor, expected: Tensor, what: str, fix: str) -> None:
    """Fail unless ``actual`` ≈ ``expected`` within :data:`RTOL`/:data:`ATOL` (NaN never passes)."""
    if actual.shape != expected.shape:
        raise CheckFailed(
            f"{what}: shape {fmt_shape(actual)} instead of {fmt_shape(expected)}. {fix}"
        )
    a, e = actual.detach().double(), expected.detach().double()
    ok = (a - e).abs() <= ATOL + RTOL * e.abs()
    if not bool(ok.all()):
        diff = (a - e).abs()
        worst = diff.nan_to_num(float("inf")).max().item()
        where = tuple(int(i) for i in torch.nonzero(~ok)[0].tolist())
        raise CheckFailed(
            f"{what}: they differ by up to {worst:.3g} (first at index {where}: {a[where].item():.6g} "
            f"vs {e[where].item():.6g}; tolerance {ATOL:g} + {RTOL:g}·|expected|, float64). {fix}"
        )


def assert_equal(actual: Tensor, expected: Tensor, what: str, fix: str) -> None:
    """Fail unless ``actual`` and ``expected`` are bitwise identical."""
    if actual.shape != expected.shape:
        raise CheckFailed(
            f"{what}: shape {fmt_shape(actual)} instead of {fmt_shape(expected)}. {fix}"
        )
    if not torch.equal(actual, expected):
        diff = (actual.detach().double() - expected.detach().double()).abs()
        raise CheckFailed(
            f"{what}: they differ by up to {diff.nan_to_num(float('inf')).max().item():.3g} "
            f"(must be identical). {fix}"
        )


def assert_states_close(actual: State, expected: State, what: str, fix: str) -> None:
    a_parts, e_parts = parts(actual), parts(expected)
    if len(a_parts) != len(e_parts):
        raise CheckFailed(f"{what}: {len(a_parts)} state tensors instead of {len(e_parts)}. {fix}")
    for name, a, e in zip(state_names(expected), a_parts, e_parts, strict=True):
        assert_close(a, e, f"{what} ({name})", fix)


def grads(loss: Tensor, inputs: Sequence[Tensor]) -> list[Tensor]:
    """Gradients of ``loss`` w.r.t. ``inputs``; an unused input gets zeros."""
    got = torch.autograd.grad(loss, list(inputs), allow_unused=True)
    return [torch.zeros_like(i) if g is None else g for g, i in zip(got, inputs, strict=True)]


def trainable(cell: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in cell.named_parameters() if p.requires_grad]


# Re-exported for the checks of this package: the contract's basics live in seqlab.cells.
__all__ = [
    "ATOL",
    "BATCH",
    "HIDDEN_SIZE",
    "INPUT_SIZE",
    "LONG_STEPS",
    "RTOL",
    "SEED",
    "SEQUENCE_STEPS",
    "STEPS",
    "WARMUP_STEPS",
    "CellUnderTest",
    "CheckFailed",
    "CheckSkipped",
    "Run",
    "State",
    "as_check",
    "assert_close",
    "assert_equal",
    "assert_states_close",
    "describe_state",
    "fmt_shape",
    "grads",
    "has_forward_sequence",
    "like",
    "loss_weights",
    "parts",
    "paths",
    "randn_x",
    "reachable_state",
    "recurrent_layer",
    "require_finite",
    "resolve",
    "rows",
    "same_layout",
    "state_names",
    "step_loop",
    "trainable",
    "unpack_step",
    "validate_state",
    "weighted_loss",
]

"""What every conformance check shares: the cell under test, runs, comparisons, failures.

The checks never go through seqlab's own unroller to get a reference: stepping is a plain
loop over ``forward`` written here, so a check tests the cell, not seqlab's machinery.
Only :func:`seqlab.testing.checks.check_chunked_state`, ``check_variable_lengths`` and
``check_recurrent_integration`` run ``seqlab.Recurrent`` on purpose.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import unittest
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigError, did_you_mean

State = Tensor | tuple[Tensor, ...]

#: Default sizes of the cells built by the checks: distinct small primes, so a swapped
#: or transposed dimension shows up as a shape error instead of passing by accident.
INPUT_SIZE = 3
HIDDEN_SIZE = 5
#: Batch size and number of steps of the sequences the checks run.
BATCH = 4
STEPS = 7
#: Where ``forward_sequence`` is compared, also this many steps: prime and above the usual
#: chunk sizes (16, 32, 64, 128), so a chunked or parallel scan runs several chunks and a
#: partial one, and a cell that switches method with the length is tested on both.
LONG_STEPS = 131
SEQUENCE_STEPS = (STEPS, LONG_STEPS)
#: Steps run from ``initial_state`` to reach the non-zero state that checks start from.
WARMUP_STEPS = 3
#: Seed set (inside ``torch.random.fork_rng``, so the caller's RNG is untouched) at the
#: start of every check.
SEED = 0

#: Numerical comparisons run in float64 with these tolerances: |a - e| ≤ ATOL + RTOL·|e|.
#: Two correct implementations of the same recurrence (stepped vs fused or scanned, a
#: batch of one vs a batch of four) differ by rounding only, ~1e-15 at these sizes; any
#: bug moves results by far more than 1e-7.
RTOL = 1e-7
ATOL = 1e-9


class CheckFailed(AssertionError):
    """A check found the cell wrong; the message says what and how to fix it."""


class CheckSkipped(unittest.SkipTest):
    """The check does not apply to this cell (pytest and unittest report it as skipped)."""


@dataclass
class CellUnderTest:
    """The cell class a check runs on, the sizes and options to build it with."""

    label: str
    cls: type[nn.Module]
    input_size: int = INPUT_SIZE
    hidden_size: int = HIDDEN_SIZE
    options: dict[str, Any] = field(default_factory=dict)
    stage: str = "building the cell"

    def describe(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return (
            f"cell {self.label!r} (input_size={self.input_size}, "
            f"hidden_size={self.hidden_size}{opts})"
        )

    def build(self, dtype: torch.dtype = torch.float64) -> nn.Module:
        """A fresh cell in ``dtype``, built as ``Cls(input_size, hidden_size, **options)``."""
        with self.doing("building the cell as Cls(input_size, hidden_size, **options)"):
            cell = self.cls(self.input_size, self.hidden_size, **self.options)
        return cell.to(dtype)

    def recurrent(self, dtype: torch.dtype = torch.float64, **kwargs: Any) -> nn.Module:
        """A ``seqlab.Recurrent`` layer of this cell (``kwargs``: num_layers, bidirectional…)."""
        from seqlab.recurrent import Recurrent

        with self.doing(f"building seqlab.Recurrent({self.label!r}, ..., {kwargs})"):
            layer = Recurrent(self.cls, self.input_size, self.hidden_size, **kwargs, **self.options)
        return layer.to(dtype)

    @contextlib.contextmanager
    def doing(self, stage: str) -> Iterator[None]:
        """Name what the check is doing, for the message if the cell raises meanwhile.

        On an exception the stage is deliberately left set: the message reports it.
        """
        previous, self.stage = self.stage, stage
        yield
        self.stage = previous


def resolve(cell: Any, input_size: int, hidden_size: int, options: dict[str, Any]) -> CellUnderTest:
    """The :class:`CellUnderTest` for a cell class or registry name.

    Raises the usual seqlab errors for mistakes of the caller rather than of the cell: an
    unknown name (with "did you mean"), an instance instead of a class, unknown options.
    """
    if isinstance(cell, str):
        from seqlab.cells.registry import get_cell

        label, cls = cell, get_cell(cell)
    elif inspect.isclass(cell):
        label, cls = cell.__name__, cell
    else:
        raise ConfigError(
            f"the conformance checks take a cell class or a registry name, got "
            f"{type(cell).__name__} instance {cell!r}; pass its class (type(cell)) and the "
            f"options it was built with."
        )
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"the conformance checks need a positive integer {name}, got {value!r}."
            )
    _reject_unknown_options(label, cls, options)
    if options:
        _reject_invalid_options(label, cls, input_size, hidden_size, options)
    return CellUnderTest(label, cls, input_size, hidden_size, dict(options))


def _reject_invalid_options(
    label: str, cls: type, input_size: int, hidden_size: int, options: dict[str, Any]
) -> None:
    """Raise ConfigError when the constructor rejects ``options`` but builds without them.

    That is the caller's mistake, not the cell's: say so once instead of failing every
    check. A cell that cannot be built even with its defaults is left to check_constructor.
    """
    with torch.random.fork_rng(devices=[]):
        try:
            cls(input_size, hidden_size, **options)
        except (ValueError, TypeError) as exc:
            try:
                cls(input_size, hidden_size)
            except Exception:
                return
            raise ConfigError(
                f"cell {label!r} rejected the options {options!r}: {exc} Pass values the cell "
                f"accepts (see `seqlab cells show {label}` or its docstring)."
            ) from exc


def _reject_unknown_options(label: str, cls: type, options: dict[str, Any]) -> None:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    known = [
        n
        for n, p in list(params.items())[2:]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise ConfigError(
            f"cell {label!r} has no option {unknown[0]!r}.{did_you_mean(unknown[0], known)} "
            f"Its options are: {', '.join(known) or '(none)'}."
        )


def as_check(fn: Callable[[CellUnderTest], None]) -> Callable[..., None]:
    """Turn ``fn(target)`` into the public ``check_x(cell, *, input_size, hidden_size, **options)``.

    The check runs under a fixed seed inside ``torch.random.fork_rng`` (the caller's RNG
    state is restored) with gradients enabled. Whatever goes wrong inside — a failed
    comparison or the cell raising — becomes one ``AssertionError`` whose message starts
    with the check's name and says what is wrong and how to fix it.
    """
    name = fn.__name__

    @functools.wraps(fn)
    def check(
        cell: Any, *, input_size: int = INPUT_SIZE, hidden_size: int = HIDDEN_SIZE, **options: Any
    ) -> None:
        target = resolve(cell, input_size, hidden_size, options)
        threads = torch.get_num_threads()
        # The tensors are tiny: intra-op threads only add synchronisation, which on a busy
        # machine made the fused LSTM kernel 50x slower. Restored below.
        torch.set_num_threads(1)
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(SEED)
            try:
                fn(target)
            except CheckSkipped:
                raise
            except CheckFailed as exc:
                raise CheckFailed(f"{name} failed for {target.describe()}: {exc}") from None
            except Exception as exc:
                raise CheckFailed(
                    f"{name} failed for {target.describe()}: the cell raised "
                    f"{type(exc).__name__}: {exc} while {target.stage}. Fix the cell so that it "
                    f"follows the contract in docs/plugins.md (traceback chained below)."
                ) from exc
            finally:
                torch.set_num_threads(threads)

    # The public signature is the wrapper's (cell, *, input_size, hidden_size, **options),
    # not the private fn(target) that functools.wraps would advertise.
    del check.__wrapped__  # type: ignore[attr-defined]
    return check


# -- states ---------------------------------------------------------------------------------
def parts(state: State) -> tuple[Tensor, ...]:
    """The state as a tuple of tensors."""
    return (state,) if isinstance(state, Tensor) else tuple(state)


def like(template: State, tensors: Sequence[Tensor]) -> State:
    """``tensors`` packed as ``template`` is (one Tensor or a tuple)."""
    return tensors[0] if isinstance(template, Tensor) else tuple(tensors)


def state_names(state: State) -> list[str]:
    """Names used in messages: ``state`` or ``state[0]``, ``state[1]``…"""
    return ["state"] if isinstance(state, Tensor) else [f"state[{i}]" for i in range(len(state))]


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


def has_forward_sequence(cell: nn.Module) -> bool:
    return callable(getattr(cell, "forward_sequence", None))


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


def randn_x(
    target: CellUnderTest,
    batch: int = BATCH,
    steps: int = STEPS,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    return torch.randn(batch, steps, target.input_size, dtype=dtype)


def weighted_loss(out: Tensor, state: State, weights: list[Tensor]) -> Tensor:
    """A loss using every output and state entry with fixed random weights.

    Random weights (instead of ``sum``) keep gradients from cancelling by symmetry.
    """
    tensors = [out, *parts(state)]
    return sum((t * w).sum() for t, w in zip(tensors, weights, strict=True))  # type: ignore[return-value]


def loss_weights(out: Tensor, state: State) -> list[Tensor]:
    return [torch.randn_like(t) for t in (out, *parts(state))]


# -- comparisons -----------------------------------------------------------------------------
def fmt_shape(t: Tensor) -> str:
    return str(tuple(t.shape))


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


# -- the state's contract ------------------------------------------------------------------
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
    return tensors


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

"""The cell a contract check runs on, how a check runs, and how it fails.

:func:`resolve` turns a cell class or registry name into a :class:`CellUnderTest`;
:func:`run_check` runs one check on it under a fixed seed and turns whatever goes wrong
into one :class:`CheckFailed` that names the check, the cell and the fix. Used by
:mod:`seqlab.cells.contract` and by every check of the conformance suite
(:mod:`seqlab.testing`).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from seqlab.cells.contract_options import typed_options
from seqlab.errors import ConfigError, did_you_mean

#: Default sizes of the cells built by the checks: distinct small primes, so a swapped
#: or transposed dimension shows up as a shape error instead of passing by accident.
INPUT_SIZE = 3
HIDDEN_SIZE = 5
#: Batch size and number of steps of the sequences the checks run.
BATCH = 4
STEPS = 7
#: Seed set (inside ``torch.random.fork_rng``, so the caller's RNG is untouched) at the
#: start of every check.
SEED = 0


class CheckFailed(AssertionError):
    """A check found the cell wrong; the message says what and how to fix it."""


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

    @contextlib.contextmanager
    def doing(self, stage: str) -> Iterator[None]:
        """Name what the check is doing, for the message if the cell raises meanwhile.

        On an exception the stage is deliberately left set: the message reports it.
        """
        previous, self.stage = self.stage, stage
        yield
        self.stage = previous


def randn_x(
    target: CellUnderTest,
    batch: int = BATCH,
    steps: int = STEPS,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Random inputs (batch, steps, input_size) for ``target``."""
    return torch.randn(batch, steps, target.input_size, dtype=dtype)


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
    options = typed_options(cls, label, options)  # a value that does not fit is the caller's
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


def run_check(
    name: str,
    fn: Callable[[CellUnderTest], None],
    target: CellUnderTest,
    passthrough: tuple[type[BaseException], ...] = (),
) -> None:
    """Run the check ``fn`` called ``name`` on ``target``; any failure becomes one CheckFailed.

    The check runs under :data:`SEED` inside ``torch.random.fork_rng`` (the caller's RNG
    state is restored) with gradients enabled. A failed comparison or the cell raising
    becomes an ``AssertionError`` whose message starts with the check's name and says
    what is wrong and how to fix it; exceptions of the ``passthrough`` classes (a skip)
    propagate unchanged.
    """
    threads = torch.get_num_threads()
    # The tensors are tiny: intra-op threads only add synchronisation, which on a busy
    # machine made the fused LSTM kernel 50x slower. Restored below.
    torch.set_num_threads(1)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(SEED)
        try:
            fn(target)
        except passthrough:
            raise
        except CheckFailed as exc:
            raise CheckFailed(f"{name} failed for {target.describe()}: {exc}") from None
        except Exception as exc:
            raise CheckFailed(
                f"{name} failed for {target.describe()}: the cell raised "
                f"{type(exc).__name__}: {exc} while {target.stage}. Fix the cell so that it "
                f"follows the contract in docs/plugins.md (the cell's traceback is chained to "
                f"this error; the seqlab command shows it with --traceback or SEQLAB_DEBUG=1)."
            ) from exc
        finally:
            torch.set_num_threads(threads)


__all__ = [
    "BATCH",
    "HIDDEN_SIZE",
    "INPUT_SIZE",
    "SEED",
    "STEPS",
    "CellUnderTest",
    "CheckFailed",
    "randn_x",
    "resolve",
    "run_check",
]

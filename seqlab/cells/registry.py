"""The cell registry: built-in cells and plugins from the entry-point group ``seqlab.cells``."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from seqlab.cells.contract_options import typed_options
from seqlab.errors import ConfigError, PluginError, did_you_mean
from seqlab.plugin_registry import Registry, Source

GROUP = "seqlab.cells"


def _validate_cell(name: str, obj: Any, source: Source) -> type[nn.Module]:
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        raise PluginError(
            f"cell '{name}' from distribution '{source.distribution}' ({source.version}, "
            f"entry point '{source.entry_point}') is {obj!r}, not a torch.nn.Module subclass. "
            f"The entry point must name a cell class built as Cls(input_size, hidden_size, "
            f"**options); see docs/plugins.md."
        )
    return obj


def _import_builtin_cells() -> None:
    # Built-in cells register themselves on import; importing the package does it.
    import seqlab.cells  # noqa: F401


REGISTRY: Registry[type[nn.Module]] = Registry(
    "cell", GROUP, validate=_validate_cell, load_builtins=_import_builtin_cells
)


def register_cell(name: str):
    """Class decorator registering a built-in cell under ``name``.

    Third-party packages register through the entry-point group ``seqlab.cells`` instead,
    so that seqlab can list them without importing them.
    """
    return REGISTRY.register(name)


def get_cell(name: str) -> type[nn.Module]:
    """The cell class registered as ``name`` (``"dist:name"`` picks one of two sources)."""
    return REGISTRY.get(name)


def list_cells(pattern: str = "*") -> list[str]:
    """Sorted names of the available cells matching the fnmatch ``pattern``.

    Reads installed metadata only: no plugin module is imported.
    """
    return REGISTRY.names(pattern)


def create_cell(
    name: str | type[nn.Module], input_size: int, hidden_size: int, **options: Any
) -> nn.Module:
    """Build a cell by registry name (or class) with ``options``; bad options name the fix.

    Each option is checked against its constructor parameter (its annotation, else its
    default's type; see :mod:`seqlab.cells.contract_options`), so ``bias="maybe"`` for a
    ``bool`` or ``dt="0.1;gamma=2"`` for a float default is a
    :class:`~seqlab.errors.ConfigError` naming the option, and ``"0.5"`` reaches a float
    option as ``0.5``.
    """
    cls = get_cell(name) if isinstance(name, str) else name
    label = name if isinstance(name, str) else cls.__name__
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        params = sig.parameters
        accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        if not accepts_kwargs:
            known = [
                p
                for p in params
                if p not in ("input_size", "hidden_size")
                and params[p].kind
                in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            ]
            unknown = [k for k in options if k not in known]
            if unknown:
                hint = did_you_mean(unknown[0], known)
                raise ConfigError(
                    f"cell '{label}' has no option {', '.join(repr(u) for u in unknown)}.{hint} "
                    f"Its options are: {', '.join(known) or '(none)'}."
                )
    options = typed_options(cls, label, options)
    try:
        return cls(input_size, hidden_size, **options)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cell '{label}' rejected its options {options!r}: {exc}") from exc
    except Exception as exc:  # a bug of the cell, not of the caller
        if not isinstance(name, str):
            raise
        stage = f"being built as Cls({input_size}, {hidden_size}, **{options!r})"
        raise PluginError(broken_cell_message(name, cell_source(name), stage, exc)) from exc


@dataclass(frozen=True)
class CellInfo:
    """What ``seqlab cells`` shows about one cell at given sizes.

    ``reference`` is the class attribute of that name (``""`` without one: a plain
    ``nn.Module`` may set it too); ``state_shapes`` are the shapes ``initial_state(1)``
    returns; ``flops_per_step`` counts one step's matrix products (``None`` when the
    cell cannot be run under torch's FLOP counter).
    """

    name: str
    source: Source
    cls: type[nn.Module]
    parameters: int
    state_shapes: tuple[tuple[int, ...], ...]
    has_forward_sequence: bool
    reference: str
    flops_per_step: int | None = None


def count_parameters(cell: nn.Module) -> int:
    return sum(p.numel() for p in cell.parameters())


def _state_shapes(cell: nn.Module, batch: int) -> tuple[tuple[int, ...], ...]:
    state = cell.initial_state(batch)
    tensors = (state,) if isinstance(state, torch.Tensor) else tuple(state)
    return tuple(tuple(t.shape) for t in tensors)


def flops_per_step(cell: nn.Module, batch: int = 1) -> int | None:
    """Floating-point operations of one step for one sample (torch's FLOP counter).

    Counts matrix products (the dominant cost); elementwise gate arithmetic is not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    try:
        x = torch.zeros(batch, cell.input_size)
        state = cell.initial_state(batch)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            cell(x, state)
        return int(counter.get_total_flops()) // batch
    except Exception:
        return None


def cell_info(name: str, input_size: int = 32, hidden_size: int = 128, **options: Any) -> CellInfo:
    """Source, parameter count, FLOPs per step and state shapes of cell ``name``.

    Raises :class:`~seqlab.errors.PluginError` naming the cell and its distribution when
    the cell cannot be built with its defaults or breaks the contract on the way (no
    ``initial_state``, say); bad ``options`` are a :class:`~seqlab.errors.ConfigError`.
    """
    cls = get_cell(name)
    source = REGISTRY.source(name)
    cell = create_cell(name, input_size, hidden_size, **options)
    stage = "calling initial_state(1)"
    try:
        shapes = _state_shapes(cell, 1)
    except Exception as exc:
        raise PluginError(broken_cell_message(name, source, stage, exc)) from exc
    return CellInfo(
        name=name,
        source=source,
        cls=cls,
        parameters=count_parameters(cell),
        state_shapes=shapes,
        has_forward_sequence=callable(getattr(cell, "forward_sequence", None)),
        reference=getattr(cls, "reference", "") or "",
        flops_per_step=flops_per_step(cell),
    )


def broken_cell_message(name: str, source: Source, stage: str, exc: BaseException) -> str:
    """One paragraph: cell ``name`` (from ``source``) raised ``exc`` while ``stage``."""
    origin = (
        "the built-in cell"
        if source.builtin
        else f"the cell from '{source.distribution}' "
        f"{source.version} (entry point '{source.entry_point}')"
    )
    owner = "seqlab's authors" if source.builtin else f"the authors of '{source.distribution}'"
    return (
        f"cell '{name}' breaks seqlab's cell contract: {origin} raised "
        f"{type(exc).__name__}: {exc} while {stage}. Run `seqlab cells check {name}` for "
        f"the full report and send it to {owner}; meanwhile pick another cell."
    )


def cell_source(name: str) -> Source:
    """Where cell ``name`` comes from: built-in, or a distribution and its version."""
    return REGISTRY.source(name)

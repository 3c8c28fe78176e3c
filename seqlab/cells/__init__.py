"""Recurrent cells: the contract, the registry and the built-in zoo.

>>> from seqlab.cells import create_cell, list_cells
>>> cell = create_cell("lstm", input_size=32, hidden_size=128)

What ``seqlab cells`` and ``seqlab cells show`` read from a cell class — all optional, and
the same for a plain ``nn.Module`` plugin as for a :class:`Cell` subclass:

- ``reference`` (class attribute, a string such as ``"Cho et al. 2014"``): the reference
  column and line;
- ``state_names`` (class attribute, one name per tensor ``initial_state`` returns, such as
  ``("h", "c")``): the names in the state line; ignored when the count differs;
- ``equations`` (class attribute): printed as the equations, else the whole docstring is;
- an ``Options:`` section in the class docstring — the line ``Options:`` then one indented
  ``name: text`` entry per constructor option, continuation lines indented deeper, ending
  at a blank line — fills the options table's "meaning" column.

Options are typed: :func:`create_cell` checks each value against its constructor
parameter's annotation, or the type of its default when unannotated
(:mod:`seqlab.cells.contract_options`).
"""

from seqlab.cells.base import Cell, State
from seqlab.cells.registry import (
    REGISTRY,
    CellInfo,
    cell_info,
    cell_source,
    count_parameters,
    create_cell,
    flops_per_step,
    get_cell,
    list_cells,
    register_cell,
)

#: Modules of this package that hold no cell: the contract, its checks, the registry.
NON_CELL_MODULES = frozenset(
    {
        "base",
        "contract",
        "contract_options",
        "contract_state",
        "contract_target",
        "equations",
        "lengths",
        "registry",
    }
)


def _import_builtin_cells() -> None:
    """Import every cell module of this package: each registers its cell where defined.

    A new built-in cell is one new file here; nothing else needs editing.
    """
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name not in NON_CELL_MODULES:
            importlib.import_module(f"{__name__}.{module.name}")


_import_builtin_cells()

__all__ = [
    "REGISTRY",
    "Cell",
    "CellInfo",
    "State",
    "cell_info",
    "cell_source",
    "count_parameters",
    "create_cell",
    "flops_per_step",
    "get_cell",
    "list_cells",
    "register_cell",
]

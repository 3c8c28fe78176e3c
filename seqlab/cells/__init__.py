"""Recurrent cells: the contract, the registry and the built-in zoo.

>>> from seqlab.cells import create_cell, list_cells
>>> cell = create_cell("lstm", input_size=32, hidden_size=128)
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
    {"base", "contract", "contract_state", "contract_target", "equations", "lengths", "registry"}
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

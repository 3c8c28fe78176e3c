"""seqlab: a PyTorch Lightning research framework for recurrent cells."""

from seqlab.cells import Cell, create_cell, get_cell, list_cells, register_cell
from seqlab.recurrent import Recurrent
from seqlab.version import __version__

__all__ = [
    "Cell",
    "Recurrent",
    "__version__",
    "create_cell",
    "get_cell",
    "list_cells",
    "register_cell",
]

"""seqlab: a PyTorch Lightning research framework for recurrent cells."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("seqlab")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

from seqlab.cells import Cell, create_cell, get_cell, list_cells, register_cell
from seqlab.recurrent import Recurrent

__all__ = [
    "Cell",
    "Recurrent",
    "__version__",
    "create_cell",
    "get_cell",
    "list_cells",
    "register_cell",
]

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
    "load_pretrained",
    "register_cell",
]


def __getattr__(name: str):
    # load_pretrained pulls in Lightning and the training stack: only on first use, so
    # `import seqlab` stays as light as the cells and the unroller.
    if name == "load_pretrained":
        from seqlab.serving import load_pretrained

        return load_pretrained
    raise AttributeError(f"module 'seqlab' has no attribute {name!r}")

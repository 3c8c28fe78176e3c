"""seqlab's version, read once from the installed distribution's metadata.

The one home of the version: ``seqlab.__version__``, run metadata, checkpoints and the
plugin registry's "built-in" source all read :data:`__version__` from here, so no lower
layer needs to import the ``seqlab`` root package (which imports everything).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str = version("seqlab")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]

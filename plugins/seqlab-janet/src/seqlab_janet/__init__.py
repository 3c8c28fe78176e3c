"""JANET, the forget-gate-only LSTM, as a seqlab cell plugin (no seqlab import needed)."""

from seqlab_janet.cell import JANET

__all__ = ["JANET"]
__version__ = "0.1.0"

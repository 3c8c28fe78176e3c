"""Timing helpers for the benchmark scripts (the implementation lives in seqlab.bench)."""

from seqlab.bench import interleaved_ms as interleaved

__all__ = ["interleaved"]

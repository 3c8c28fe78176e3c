"""Stepping any cell over a padded batch: eagerly (:func:`unroll`) or compiled
(:func:`compiled_unroll`, ``torch.compile`` a chunk of steps at a time)."""

from seqlab.cells.lengths import broadcast_mask, length_mask
from seqlab.unroll.compiled import DEFAULT_CHUNK_STEPS, CompileFallbackWarning, compiled_unroll
from seqlab.unroll.stepping import (
    Step,
    freeze_finished,
    recurrent_dropout_mask,
    regularised_step,
    step_inputs,
    unroll,
    unroll_regularised,
)

__all__ = [
    "DEFAULT_CHUNK_STEPS",
    "CompileFallbackWarning",
    "Step",
    "broadcast_mask",
    "compiled_unroll",
    "freeze_finished",
    "length_mask",
    "recurrent_dropout_mask",
    "regularised_step",
    "step_inputs",
    "unroll",
    "unroll_regularised",
]

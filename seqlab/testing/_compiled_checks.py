"""The optional check that a cell's compiled unroll equals its eager one."""

from __future__ import annotations

import warnings

import torch

from seqlab.cells.contract_state import parts
from seqlab.cells.contract_target import BATCH, STEPS, CellUnderTest, randn_x
from seqlab.testing._harness import (
    as_check,
    assert_close,
    assert_states_close,
    grads,
    recurrent_layer,
)
from seqlab.unroll import CompileFallbackWarning

#: Steps per compiled graph in the check: 7 steps run as two compiled chunks and one
#: eager step, so chunk boundaries, state hand-over and the eager remainder all count.
CHUNK_STEPS = 3
#: Lengths of the batch (BATCH sequences): full, ending inside the first chunk, empty, ending in the second.
LENGTHS = (STEPS, 2, 0, 5)


@as_check
def check_compiled_matches_eager(t: CellUnderTest) -> None:
    """``seqlab.Recurrent(..., compile=True)`` gives the eager stepping's results.

    float64, a 2-layer bidirectional stack, with and without lengths: outputs, final
    states and the gradients of the input and every parameter equal those of eager
    stepping (``fused=False``) within the suite's tolerances. A cell that
    ``torch.compile`` cannot compile fails, with the compiler's reason: seqlab would step
    it eagerly, so it gets no speed-up. Compiling takes seconds per shape, so this check
    is not in the default run: ask for it with ``check_cell(..., compiled=True)``.
    """
    eager = recurrent_layer(t, num_layers=2, bidirectional=True, fused=False).eval()
    compiled = recurrent_layer(
        t,
        num_layers=2,
        bidirectional=True,
        fused=False,
        compile=True,
        compile_chunk_steps=CHUNK_STEPS,
    ).eval()
    compiled.load_state_dict(eager.state_dict())
    x = randn_x(t)
    for lengths in (None, torch.tensor(LENGTHS)):
        label = f"lengths={None if lengths is None else LENGTHS}"
        results = []
        weights = torch.randn(BATCH, STEPS, 2 * t.hidden_size, dtype=torch.float64)
        for name, layer in (("compiled", compiled), ("eager", eager)):
            xg = x.clone().requires_grad_(True)
            with warnings.catch_warnings():
                warnings.simplefilter("error", CompileFallbackWarning)
                with t.doing(f"running seqlab.Recurrent({name}, {label})"):
                    out, finals = layer(xg, lengths)
            loss = (out * weights).sum() + sum(p.sum() for f in finals for p in parts(f))
            results.append((out, finals, grads(loss, [xg, *layer.parameters()])))
        (out_c, finals_c, grads_c), (out_e, finals_e, grads_e) = results
        fix = "The compiled path runs the same forward; a difference is a compiler bug or a cell whose forward depends on Python state changed between calls."
        assert_close(out_c, out_e, f"compiled vs eager outputs ({label})", fix)
        for k, (fc, fe) in enumerate(zip(finals_c, finals_e, strict=True)):
            assert_states_close(fc, fe, f"compiled vs eager final state {k} ({label})", fix)
        names = ["the input", *(n for n, _ in eager.named_parameters())]
        for n, gc, ge in zip(names, grads_c, grads_e, strict=True):
            assert_close(gc, ge, f"compiled vs eager gradient of {n} ({label})", fix)

"""Checks of running sequences: forward_sequence, carried state, lengths, seqlab.Recurrent."""

from __future__ import annotations

import torch
from torch import Tensor

from seqlab.testing._harness import (
    BATCH,
    LONG_STEPS,
    SEQUENCE_STEPS,
    STEPS,
    CellUnderTest,
    CheckFailed,
    CheckSkipped,
    as_check,
    assert_close,
    assert_states_close,
    fmt_shape,
    grads,
    has_forward_sequence,
    like,
    loss_weights,
    parts,
    paths,
    randn_x,
    reachable_state,
    recurrent_layer,
    require_finite,
    rows,
    same_layout,
    state_names,
    trainable,
    validate_state,
    weighted_loss,
)


@as_check
def check_forward_sequence(t: CellUnderTest) -> None:
    """``forward_sequence`` equals calling ``forward`` step by step, values and gradients.

    float64, eval mode, at 7 steps from ``initial_state`` and at 7 and 131 steps from a
    non-zero state: outputs, every final state tensor, and the gradients of a loss over
    outputs and final state w.r.t. the input, the initial state and every parameter agree
    within RTOL/ATOL.
    Skipped for cells without ``forward_sequence``.
    """
    cell = t.build().eval()
    if not has_forward_sequence(cell):
        raise CheckSkipped(f"cell {t.label!r} has no forward_sequence")
    reachable = reachable_state(t, cell, BATCH, torch.float64)
    with t.doing(f"calling initial_state({BATCH}, dtype=torch.float64)"):
        initial = cell.initial_state(BATCH, dtype=torch.float64)
    params = trainable(cell)
    fix = (
        "forward_sequence must compute exactly the recurrence that forward computes one "
        "step at a time, starting from the state passed in."
    )
    cases = [
        (STEPS, initial, "from initial_state()"),
        (STEPS, reachable, "from a non-zero state"),
        (LONG_STEPS, reachable, "from a non-zero state"),
    ]
    for steps, s0, start in cases:
        x = randn_x(t, steps=steps)
        results = {}
        weights: list[Tensor] | None = None
        for label, run in paths(t, cell):
            xg = x.clone().requires_grad_(True)
            sg = like(s0, [s.clone().requires_grad_(True) for s in parts(s0)])
            out, final = run(xg, sg)
            if label == "forward_sequence":
                same_layout(final, s0, f"forward_sequence's final state (T={steps})")
                if out.shape != (BATCH, steps, t.hidden_size):
                    raise CheckFailed(
                        f"forward_sequence returned outputs of shape "
                        f"{fmt_shape(out)}, expected {(BATCH, steps, t.hidden_size)}."
                    )
            weights = weights if weights is not None else loss_weights(out, final)
            loss = weighted_loss(out, final, weights)
            results[label] = (out, final, grads(loss, [xg, *parts(sg), *(p for _, p in params)]))
        (out_s, fin_s, g_s), (out_f, fin_f, g_f) = results.values()
        assert_close(
            out_f,
            out_s,
            f"at T={steps} {start}, forward_sequence's outputs differ from stepping forward",
            fix,
        )
        assert_states_close(
            fin_f,
            fin_s,
            f"at T={steps} {start}, forward_sequence's final state differs from stepping forward",
            fix,
        )
        names = [
            "the input x",
            *(f"the initial {n}" for n in state_names(s0)),
            *(f"parameter {n!r}" for n, _ in params),
        ]
        for name, a, e in zip(names, g_f, g_s, strict=True):
            assert_close(
                a,
                e,
                f"at T={steps} {start}, the gradient w.r.t. {name} through "
                f"forward_sequence differs from the one through stepping",
                fix + " Gradients differ when forward_sequence detaches something, or "
                "uses a custom backward that does not match its forward.",
            )


#: Chunk boundaries of the carried-state check: uneven, with a chunk of one step, at a
#: short and at a long length.
SPLITS = {STEPS: ((0, 3), (3, 4), (4, STEPS)), LONG_STEPS: ((0, 64), (64, 65), (65, LONG_STEPS))}


@as_check
def check_chunked_state(t: CellUnderTest) -> None:
    """Running chunks with the state carried between them equals one run over the whole.

    From a non-zero initial state, float64, eval mode: through ``forward_sequence``
    directly (when present; 7 steps split 3 + 1 + 3 and 131 split 64 + 1 + 66) and through
    a one-layer ``seqlab.Recurrent`` on its fused and its stepping path (7 steps).
    Outputs and final states agree within RTOL/ATOL. This is what truncated
    back-propagation through time and streaming inference rely on.
    """
    fix = (
        "A run must depend only on its input and the state passed in: use the given state "
        "(not zeros) as h_0, return the state after the last step, and keep no hidden "
        "per-call state on the module."
    )
    cell = t.build().eval()
    if has_forward_sequence(cell):
        s0 = reachable_state(t, cell, BATCH, torch.float64)
        for steps in SEQUENCE_STEPS:
            x = randn_x(t, steps=steps)
            split = "+".join(str(b - a) for a, b in SPLITS[steps])
            with torch.no_grad(), t.doing(f"running forward_sequence(x, state) on chunks {split}"):
                full, full_final = cell.forward_sequence(x, s0)
                outs, state = [], s0
                for a, b in SPLITS[steps]:
                    out, state = cell.forward_sequence(x[:, a:b], state)
                    outs.append(out)
            assert_close(
                torch.cat(outs, 1),
                full,
                f"forward_sequence on chunks {split} with the "
                f"state carried gives other outputs than one call over the {steps} steps",
                fix,
            )
            assert_states_close(
                state,
                full_final,
                f"forward_sequence on chunks {split} with the "
                f"state carried ends in another state than one call over the "
                f"{steps} steps",
                fix,
            )
    layer = recurrent_layer(t).eval()
    s0 = reachable_state(t, layer.cells[0], BATCH, torch.float64)
    x = randn_x(t)
    for fused in (True, False) if has_forward_sequence(layer.cells[0]) else (False,):
        layer.fused = fused
        path = "fused" if fused else "stepping"
        with torch.no_grad(), t.doing(f"running seqlab.Recurrent (fused={fused}) on chunks"):
            full, full_final = layer(x, state=[s0])
            outs, state = [], [s0]
            for a, b in SPLITS[STEPS]:
                out, state = layer(x[:, a:b], state=state)
                outs.append(out)
        assert_close(
            torch.cat(outs, 1),
            full,
            f"seqlab.Recurrent ({path} path) on chunks 3+1+3 "
            f"with the state carried gives other outputs than one run",
            fix,
        )
        assert_states_close(
            state[0],
            full_final[0],
            f"seqlab.Recurrent ({path} path) on chunks "
            f"3+1+3 with the state carried ends in another state than one run",
            fix,
        )


#: Lengths of the variable-length check: full, partial, empty; the long batch (fused path
#: only) ends inside and at the edge of 64-step chunks.
LENGTHS = {STEPS: (STEPS, 3, 0, 5), LONG_STEPS: (LONG_STEPS, 64, 0, 129)}


@as_check
def check_variable_lengths(t: CellUnderTest) -> None:
    """With ``lengths``, each sequence's state freezes at its end and outputs past it are zero.

    A bidirectional ``seqlab.Recurrent``, float64, eval mode, non-zero initial states, on
    the fused path (``forward_sequence`` with ``lengths``, when present; lengths
    (7, 3, 0, 5) and, over 131 steps, (131, 64, 0, 129)) and the stepping path (lengths
    (7, 3, 0, 5)). For each sequence b of length n, compared with the same path run on
    that sequence alone truncated to n steps: outputs of the first n steps and the final
    state of both directions agree within RTOL/ATOL; outputs past n are exactly zero; a
    length-0 sequence keeps its initial state; no gradient reaches inputs past the end.
    """
    layer = recurrent_layer(t, bidirectional=True).eval()
    s0 = [reachable_state(t, c, BATCH, torch.float64) for c in layer.cells]
    cases = [(False, STEPS)]
    if has_forward_sequence(layer.cells[0]):
        cases = [(True, steps) for steps in SEQUENCE_STEPS] + cases
    for fused, steps in cases:
        layer.fused = fused
        path = "fused path (forward_sequence with lengths)" if fused else "stepping path"
        _check_lengths(t, layer, s0, randn_x(t, steps=steps), LENGTHS[steps], path)


def _check_lengths(
    t: CellUnderTest,
    layer: torch.nn.Module,
    s0: list,
    x: Tensor,
    lengths: tuple[int, ...],
    path: str,
) -> None:
    steps = x.shape[1]
    direction = ("forward direction", "backward direction")
    fix = (
        "forward_sequence(x, state, lengths) must return each sequence's state at its last "
        "valid step (lengths[b] - 1), not at the last step of the padded batch, and zero "
        "outputs past the end; a sequence of length 0 keeps the state passed in."
    )
    xg = x.clone().requires_grad_(True)
    with t.doing(
        f"running seqlab.Recurrent(bidirectional=True) on the {path} with lengths {list(lengths)}"
    ):
        out, finals = layer(xg, torch.tensor(lengths), state=s0)
    for b, n in enumerate(lengths):
        if n < steps and bool((out[b, n:] != 0).any()):
            raise CheckFailed(
                f"on the {path}, sequence {b} has length {n} but its outputs at steps "
                f"{n}..{steps - 1} are not zero (max |h| = {out[b, n:].abs().max().item():.3g}). "
                + fix
            )
        if n == 0:
            for d, (final, init) in enumerate(zip(finals, s0, strict=True)):
                assert_states_close(
                    rows(final, b),
                    rows(init, b),
                    f"on the {path}, sequence {b} has length 0 but its final "
                    f"state ({direction[d]}) is not the initial state",
                    fix,
                )
            continue
        with torch.no_grad(), t.doing(f"running sequence {b} alone ({n} steps) on the {path}"):
            alone, alone_finals = layer(x[b : b + 1, :n], state=[rows(s, b) for s in s0])
        assert_close(
            out[b, :n],
            alone[0],
            f"on the {path}, the outputs of sequence {b} "
            f"(length {n} of {steps}) differ from running it alone truncated to {n} "
            f"steps",
            fix,
        )
        for d, (final, ref) in enumerate(zip(finals, alone_finals, strict=True)):
            assert_states_close(
                rows(final, b),
                ref,
                f"on the {path}, the final state ({direction[d]}) of sequence "
                f"{b} (length {n} of {steps}) differs from its state after "
                f"running it alone for {n} steps",
                fix,
            )
    loss = (out * torch.randn_like(out)).sum() + sum(
        (s * torch.randn_like(s)).sum() for f in finals for s in parts(f)
    )
    (g,) = grads(loss, [xg])
    for b, n in enumerate(lengths):
        if n < steps and bool((g[b, n:] != 0).any()):
            raise CheckFailed(
                f"on the {path}, gradient reaches the inputs of sequence {b} past its length "
                f"{n} (max {g[b, n:].abs().max().item():.3g}): padding influences the result. "
                + fix
            )


@as_check
def check_recurrent_integration(t: CellUnderTest) -> None:
    """The cell runs inside a 2-layer bidirectional ``seqlab.Recurrent``, with regularisers.

    float64, fused and stepping paths, with and without lengths: outputs (B, T, 2H) and
    finite, one final state per layer and direction with the cell's state layout, layer 2
    built with input 2H, gradient reaching the input. Then in training mode with dropout,
    recurrent dropout and zoneout (which seqlab applies to any cell): same shapes, finite
    outputs and gradients.
    """
    layer = recurrent_layer(t, num_layers=2, bidirectional=True)
    h2 = 2 * t.hidden_size
    for c in layer.cells[2:]:
        if getattr(c, "input_size", None) != h2:
            raise CheckFailed(
                f"the second layer's cell reports input_size={c.input_size!r}, "
                f"expected {h2}. Keep the input_size the cell is built with."
            )
    template = layer.cells[0].initial_state(BATCH, dtype=torch.float64)
    x = randn_x(t)
    runs: list[tuple[str, bool, bool, Tensor | None]] = [
        (f"eval, fused={f}, lengths={lg is not None}", False, f, lg)
        for f in ((True, False) if has_forward_sequence(layer.cells[0]) else (False,))
        for lg in (None, torch.tensor(LENGTHS[STEPS]))
    ]
    runs.append(
        ("training with dropout=0.25, recurrent_dropout=0.25, zoneout=0.25", True, False, None)
    )
    regularised = recurrent_layer(
        t, num_layers=2, bidirectional=True, dropout=0.25, recurrent_dropout=0.25, zoneout=0.25
    )
    for label, training, fused, lengths in runs:
        model = regularised.train() if training else layer.eval()
        model.fused = fused
        xg = x.clone().requires_grad_(True)
        with t.doing(f"running seqlab.Recurrent(num_layers=2, bidirectional=True), {label}"):
            out, finals = model(xg, lengths)
            if out.shape != (BATCH, STEPS, h2):
                raise CheckFailed(
                    f"seqlab.Recurrent ({label}) returned outputs of shape "
                    f"{fmt_shape(out)}, expected {(BATCH, STEPS, h2)}."
                )
            require_finite(out, f"seqlab.Recurrent's output ({label})")
            if len(finals) != 4:
                raise CheckFailed(
                    f"seqlab.Recurrent ({label}) returned {len(finals)} final "
                    f"states, expected 4 (2 layers × 2 directions)."
                )
            for k, final in enumerate(finals):
                validate_state(
                    final, f"final state {k} of seqlab.Recurrent ({label})", BATCH, torch.float64
                )
                same_layout(final, template, f"final state {k} of seqlab.Recurrent ({label})")
            (g,) = grads((out * torch.randn_like(out)).sum(), [xg])
        require_finite(g, f"the input's gradient through seqlab.Recurrent ({label})")
        if not bool((g != 0).any()):
            raise CheckFailed(f"no gradient reaches the input through seqlab.Recurrent ({label}).")

"""Checks of behaviour any model needs: determinism, batch independence, gradients, save/load."""

from __future__ import annotations

import os
import tempfile

import torch
from torch import Tensor

from seqlab.testing._harness import (
    ATOL,
    BATCH,
    SEQUENCE_STEPS,
    STEPS,
    CellUnderTest,
    CheckFailed,
    Run,
    State,
    as_check,
    assert_close,
    assert_equal,
    assert_states_close,
    grads,
    like,
    loss_weights,
    parts,
    paths,
    randn_x,
    reachable_state,
    rows,
    state_names,
    trainable,
    weighted_loss,
)

_FIX_INIT = (
    "The constructor must draw random numbers only from torch's global RNG "
    "(torch.nn.init, torch.rand...), which torch.manual_seed controls — not from "
    "Python's random, NumPy, a torch.Generator of its own or the clock."
)
_FIX_EVAL = (
    "At eval (module.eval()) a cell must be a function of its input, state and "
    "parameters: no sampling, no state kept on the module between calls. Gate "
    "dropout-like noise with self.training."
)


@as_check
def check_determinism(t: CellUnderTest) -> None:
    """The same seed gives the same cell and the same outputs, bitwise.

    Two cells built after ``torch.manual_seed(0)`` have identical parameters and buffers;
    in eval mode two calls on the same input give identical outputs and states (no
    randomness at evaluation); in training mode, two calls after the same
    ``torch.manual_seed`` give identical outputs (randomness only from torch's seeded RNG).
    On every path (stepping; ``forward_sequence`` when present).
    """
    torch.manual_seed(0)
    first = t.build()
    torch.manual_seed(0)
    second = t.build()
    _same_initialisation(first, second)
    x = randn_x(t)
    s0 = reachable_state(t, first, BATCH, torch.float64)
    for (label, run_a), (_, run_b) in zip(
        paths(t, first.eval()), paths(t, second.eval()), strict=True
    ):
        _deterministic_at_eval(label, run_a, run_b, x, s0)
    for label, run in paths(t, first.train()):
        _seeded_in_training(label, run, x, s0)


def _same_initialisation(first: torch.nn.Module, second: torch.nn.Module) -> None:
    """Two cells built after the same seed have the same state_dict, bitwise."""
    a_items = dict(first.state_dict())
    b_items = dict(second.state_dict())
    if list(a_items) != list(b_items):
        raise CheckFailed(
            f"two cells built with the same options have different state_dict "
            f"keys: {sorted(a_items)} vs {sorted(b_items)}. {_FIX_INIT}"
        )
    for name, value in a_items.items():
        assert_equal(
            b_items[name],
            value,
            f"two cells built after torch.manual_seed(0) have different values of {name!r}",
            _FIX_INIT,
        )


def _deterministic_at_eval(label: str, run_a: Run, run_b: Run, x: Tensor, s0: State) -> None:
    """At eval, two calls of one cell agree, and so do two cells built after one seed."""
    with torch.no_grad():
        out1, fin1 = run_a(x, s0)
        out2, fin2 = run_a(x, s0)
        out3, _ = run_b(x, s0)
    assert_equal(
        out2,
        out1,
        f"on the {label} path, two calls in eval mode on the same input "
        f"and state gave different outputs",
        _FIX_EVAL,
    )
    for name, a, b in zip(state_names(fin1), parts(fin1), parts(fin2), strict=True):
        assert_equal(
            b,
            a,
            f"on the {label} path, two calls in eval mode on the same input "
            f"and state ended in different {name}",
            _FIX_EVAL,
        )
    assert_equal(
        out3,
        out1,
        f"on the {label} path, two cells built after the same seed give "
        f"different outputs in eval mode",
        _FIX_INIT,
    )


def _seeded_in_training(label: str, run: Run, x: Tensor, s0: State) -> None:
    """In training, two calls after the same torch.manual_seed agree."""
    with torch.no_grad():
        torch.manual_seed(3)
        out1, _ = run(x, s0)
        torch.manual_seed(3)
        out2, _ = run(x, s0)
    assert_equal(
        out2,
        out1,
        f"on the {label} path, two calls in training mode after the same "
        f"torch.manual_seed gave different outputs",
        "Draw training-time noise from torch's global RNG (torch.rand, "
        "torch.nn.functional.dropout), never from another source.",
    )


@as_check
def check_batch_independence(t: CellUnderTest) -> None:
    """Sample i's outputs, final state and gradients do not depend on any other sample j.

    On every path (stepping at 7 steps; ``forward_sequence``, when present, at 7 and 131
    steps), float64, eval mode: changing the last sample's input and state leaves the
    other samples' outputs and final states unchanged; each sample run alone (a batch of
    1) gives the same result as inside the batch of 4; and the gradient of sample 0's
    outputs reaches no other sample's input or initial state.
    """
    cell = t.build().eval()
    s0 = reachable_state(t, cell, BATCH, torch.float64)
    other = reachable_state(t, cell, BATCH, torch.float64)
    for label, run in paths(t, cell):
        for steps in SEQUENCE_STEPS if label == "forward_sequence" else (STEPS,):
            where = f"on the {label} path (T={steps})"
            _independent_samples(run, randn_x(t, steps=steps), s0, other, where)


def _independent_samples(run: Run, x: Tensor, s0: State, other: State, where: str) -> None:
    fix = (
        "A cell must treat dim 0 as independent samples: no statistics over the batch "
        "(BatchNorm, x.mean(0)), no reshape or view that mixes dim 0 with another dim."
    )
    j = BATCH - 1
    x2 = x.clone()
    x2[j] = torch.randn_like(x2[j])
    s2 = like(s0, [torch.cat([a[:j], b[j:]]) for a, b in zip(parts(s0), parts(other), strict=True)])
    with torch.no_grad():
        out, final = run(x, s0)
        out2, final2 = run(x2, s2)
    keep = slice(0, j)
    assert_close(
        out2[keep],
        out[keep],
        f"{where}, changing sample {j}'s input and state changed the outputs of samples 0..{j - 1}",
        fix,
    )
    assert_states_close(
        rows(final2, keep),
        rows(final, keep),
        f"{where}, changing sample {j}'s "
        f"input and state changed the final states of samples 0..{j - 1}",
        fix,
    )
    for i in range(BATCH):
        with torch.no_grad():
            out_i, final_i = run(x[i : i + 1], rows(s0, i))
        assert_close(
            out_i[0],
            out[i],
            f"{where}, sample {i} run alone (batch of 1) gives other "
            f"outputs than inside a batch of {BATCH}",
            fix,
        )
        assert_states_close(
            final_i,
            rows(final, i),
            f"{where}, sample {i} run alone (batch of 1) "
            f"ends in another state than inside a batch of {BATCH}",
            fix,
        )
    xg = x.clone().requires_grad_(True)
    sg = like(s0, [s.clone().requires_grad_(True) for s in parts(s0)])
    out, _ = run(xg, sg)
    g_x, *g_s = grads((out[0] * torch.randn_like(out[0])).sum(), [xg, *parts(sg)])
    for what, g in (("input", g_x), *zip(state_names(s0), g_s, strict=True)):
        leak = g[1:].abs().max().item()
        if not leak <= ATOL:
            raise CheckFailed(
                f"{where}, the gradient of sample 0's outputs reaches other "
                f"samples' {what} (up to {leak:.3g}). {fix}"
            )


@as_check
def check_gradients(t: CellUnderTest) -> None:
    """A loss over outputs and final state gives every parameter a finite, non-zero gradient.

    float64, training mode, 7 steps, on every path (stepping; ``forward_sequence`` when
    present). From a non-zero initial state, every trainable parameter and the input get
    a gradient that is finite and not all zero; from ``initial_state`` (what a model
    starts from), gradients are finite (a log-space scan must not turn log(0) into NaN).
    """
    cell = t.build().train()
    x = randn_x(t)
    starts = {"a non-zero initial state": reachable_state(t, cell, BATCH, torch.float64)}
    with t.doing(f"calling initial_state({BATCH}, dtype=torch.float64)"):
        starts["initial_state()"] = cell.initial_state(BATCH, dtype=torch.float64)
    params = trainable(cell)
    for label, run in paths(t, cell):
        for start, s0 in starts.items():
            where = f"on the {label} path from {start}"
            xg = x.clone().requires_grad_(True)
            out, final = run(xg, s0)
            loss = weighted_loss(out, final, loss_weights(out, final))
            got = torch.autograd.grad(loss, [xg, *(p for _, p in params)], allow_unused=True)
            for (name, _), g in zip([("the input x", None), *params], got, strict=True):
                _usable_gradient(
                    g,
                    name if name == "the input x" else f"parameter {name!r}",
                    where,
                    nonzero=start != "initial_state()",
                )


@as_check
def check_gradient_through_time(t: CellUnderTest) -> None:
    """The last step's output has a gradient with respect to the first step's input and
    the initial state, on every path: the state carries gradient from step to step.

    float64, training mode, 7 steps. A cell that detaches its state between steps (or
    only on one path) trains as if every step were the first: truncated BPTT of length 1.
    """
    cell = t.build().train()
    x = randn_x(t)
    s0 = reachable_state(t, cell, BATCH, torch.float64)
    for label, run in paths(t, cell):
        xg = x.clone().requires_grad_(True)
        start = like(s0, [p.clone().requires_grad_(True) for p in parts(s0)])
        out, _ = run(xg, start)
        last = (out[:, -1] * torch.randn_like(out[:, -1])).sum()
        got = torch.autograd.grad(last, [xg, *parts(start)], allow_unused=True)
        reached = [g is not None and bool((g != 0).any()) for g in got[1:]]
        first_input = got[0] is not None and bool((got[0][:, 0] != 0).any())
        if not (first_input and any(reached)):
            raise CheckFailed(
                f"on the {label} path, the output at the last of {x.shape[1]} steps has no "
                f"gradient with respect to the first step's input or the initial state: the "
                f"state does not carry gradient through time (a .detach(), .data, "
                f"torch.no_grad() or a copy through NumPy between steps). Return the new state "
                f"as computed, attached to the graph; seqlab detaches it itself where "
                f"truncated BPTT asks for it."
            )


def _usable_gradient(g: Tensor | None, what: str, where: str, nonzero: bool) -> None:
    if g is None:
        raise CheckFailed(
            f"{where}, {what} gets no gradient: it is not used to compute the outputs or the "
            f"state, or only through .detach(), .data or torch.no_grad(). Use it, remove it, "
            f"or set requires_grad=False (or register a buffer) if it is not meant to be learned."
        )
    if not bool(torch.isfinite(g).all()):
        raise CheckFailed(
            f"{where}, the gradient of {what} contains NaN or Inf. Check the "
            f"backward of custom operations and unsafe divisions, logs (of a zero "
            f"state) or square roots; torch.where does not stop NaN gradients of "
            f"the branch it discards."
        )
    if nonzero and not bool((g != 0).any()):
        raise CheckFailed(
            f"{where}, the gradient of {what} is exactly zero on random inputs: it does not "
            f"influence the outputs or the state (multiplied by zero, or cut off). Fix the cell, "
            f"or declare this check an expected failure with the reason if that is intended."
        )


@as_check
def check_state_dict_roundtrip(t: CellUnderTest) -> None:
    """``state_dict`` saved to a file and loaded into a new cell reproduces the outputs exactly.

    Saved with ``torch.save`` and read back with ``torch.load(weights_only=True)`` (the
    safe loader checkpoints use), loaded with ``strict=True`` into a cell built under
    another seed; stepping (and ``forward_sequence``) outputs and final states are bitwise
    identical to the original cell's, in float32 (the dtype models are saved in).
    """
    torch.manual_seed(1)
    original = t.build(torch.float32).eval()
    torch.manual_seed(2)
    copy = t.build(torch.float32).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cell.pt")
        with t.doing("saving state_dict() with torch.save"):
            torch.save(original.state_dict(), path)
        with t.doing("loading the file with torch.load(weights_only=True)"):
            loaded = torch.load(path, weights_only=True)
    with t.doing("loading the state_dict into a new cell with load_state_dict(strict=True)"):
        copy.load_state_dict(loaded, strict=True)
    x = randn_x(t, dtype=torch.float32)
    s0 = reachable_state(t, original, BATCH, torch.float32)
    fix = (
        "Everything that affects the output must be in state_dict: learned tensors as "
        "nn.Parameter, fixed ones with register_buffer (not plain tensor attributes), and "
        "load_state_dict must restore them all (override _load_from_state_dict carefully)."
    )
    for (label, run_a), (_, run_b) in zip(paths(t, original), paths(t, copy), strict=True):
        with torch.no_grad():
            out_a, fin_a = run_a(x, s0)
            out_b, fin_b = run_b(x, s0)
        assert_equal(
            out_b,
            out_a,
            f"on the {label} path, the cell loaded from the saved "
            f"state_dict gives other outputs than the cell it was saved from",
            fix,
        )
        for name, a, b in zip(state_names(fin_a), parts(fin_a), parts(fin_b), strict=True):
            assert_equal(
                b,
                a,
                f"on the {label} path, the loaded cell ends in another {name} than "
                f"the cell it was saved from",
                fix,
            )

"""rnn/lstm/gru equal torch.nn: outputs, final states and parameter gradients (float32, 1e-5).

Both paths are checked: the fused one (torch's sequence kernels; variable lengths run
padded and masked, checked here against torch's packing) and the stepping one
(``fused=False``), for 1 and 2 layers, uni- and bidirectional, with and without variable
lengths.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab import Recurrent, create_cell

TORCH = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}
ATOL = 1e-5

CASES = list(itertools.product(TORCH, (1, 2), (False, True), (False, True), (True, False)))


def _torch_module(kind: str, num_layers: int, bidirectional: bool) -> nn.RNNBase:
    kwargs = dict(
        input_size=5,
        hidden_size=7,
        num_layers=num_layers,
        batch_first=True,
        bidirectional=bidirectional,
    )
    if kind.startswith("rnn"):
        kwargs["nonlinearity"] = kind.split("_")[1]
    return TORCH[kind](**kwargs)


def _ours_state_to_torch(states, kind):
    if kind == "lstm":
        return torch.stack([s[0] for s in states]), torch.stack([s[1] for s in states])
    return torch.stack(states)


@pytest.mark.parametrize(
    ("kind", "num_layers", "bidirectional", "variable", "fused"),
    CASES,
    ids=[
        f"{k}-L{n}-{'bi' if b else 'uni'}-{'var' if v else 'full'}-{'fused' if f else 'step'}"
        for k, n, b, v, f in CASES
    ],
)
def test_matches_torch_nn(kind, num_layers, bidirectional, variable, fused):
    torch.manual_seed(0)
    ref = _torch_module(kind, num_layers, bidirectional)
    ours = Recurrent.from_torch(ref)
    ours.fused = fused
    batch, steps = 4, 9
    x = torch.randn(batch, steps, 5)
    lengths = torch.tensor([9, 4, 6, 1]) if variable else None
    d = 2 if bidirectional else 1
    h0 = torch.randn(num_layers * d, batch, 7)
    c0 = torch.randn(num_layers * d, batch, 7)
    torch_state = (h0, c0) if kind == "lstm" else h0
    our_state = [(h0[i], c0[i]) if kind == "lstm" else h0[i] for i in range(num_layers * d)]

    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    if variable:
        packed = pack_padded_sequence(x_ref, lengths, batch_first=True, enforce_sorted=False)
        out_p, ref_final = ref(packed, torch_state)
        ref_out, _ = pad_packed_sequence(out_p, batch_first=True, total_length=steps)
    else:
        ref_out, ref_final = ref(x_ref, torch_state)
    out, final = ours(x_ours, lengths, our_state)

    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    final_t = _ours_state_to_torch(final, kind)
    for a, b in zip(
        final_t if kind == "lstm" else (final_t,),
        ref_final if kind == "lstm" else (ref_final,),
        strict=True,
    ):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)

    # Gradients of a loss touching outputs and final states.
    w = torch.randn_like(out)
    loss_ref = (ref_out * w).sum() + sum(
        t.sum() for t in (ref_final if kind == "lstm" else (ref_final,))
    )
    loss_ours = (out * w).sum() + sum(t.sum() for t in (final_t if kind == "lstm" else (final_t,)))
    loss_ref.backward()
    loss_ours.backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=ATOL, rtol=0)
    for layer in range(num_layers):
        for di in range(d):
            cell = ours.cells[layer * d + di]
            suffix = f"_l{layer}" + ("_reverse" if di else "")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                torch.testing.assert_close(
                    getattr(cell, name).grad,
                    getattr(ref, name + suffix).grad,
                    atol=ATOL,
                    rtol=0,
                    msg=f"grad of {name}{suffix}",
                )


@pytest.mark.parametrize("kind", list(TORCH))
def test_to_torch_round_trip(kind):
    torch.manual_seed(1)
    ref = _torch_module(kind, 2, True)
    ours = Recurrent.from_torch(ref)
    back = ours.to_torch()
    assert type(back) is type(ref)
    x = torch.randn(3, 6, 5)
    torch.testing.assert_close(back(x)[0], ref(x)[0], atol=0, rtol=0)


def test_from_torch_time_major_module_gives_same_results_on_transposed_input():
    torch.manual_seed(2)
    ref = nn.GRU(5, 7, num_layers=2)  # batch_first=False
    ours = Recurrent.from_torch(ref)
    x = torch.randn(6, 3, 5)  # (T, B, F)
    torch.testing.assert_close(
        ours(x.transpose(0, 1))[0], ref(x)[0].transpose(0, 1), atol=ATOL, rtol=0
    )


@pytest.mark.parametrize(
    ("name", "torch_cls"), [("lstm", nn.LSTMCell), ("gru", nn.GRUCell), ("rnn", nn.RNNCell)]
)
def test_default_initialisation_matches_torch_under_the_same_seed(name, torch_cls):
    options = {"forget_bias": 0.0} if name == "lstm" else {}
    torch.manual_seed(3)
    ours = create_cell(name, 4, 6, **options)
    torch.manual_seed(3)
    ref = torch_cls(4, 6)
    for (n, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=0, rtol=0, msg=n)


def test_forget_bias_is_added_to_the_forget_gate_slice_only():
    torch.manual_seed(4)
    plain = create_cell("lstm", 4, 6, forget_bias=0.0)
    torch.manual_seed(4)
    biased = create_cell("lstm", 4, 6)  # default forget_bias=1.0
    diff = biased.bias_hh.detach() - plain.bias_hh.detach()
    torch.testing.assert_close(diff[6:12], torch.ones(6))
    assert diff[:6].abs().max() == 0 and diff[12:].abs().max() == 0
    torch.testing.assert_close(biased.bias_ih, plain.bias_ih)


def test_irnn_identity_init():
    cell = create_cell("rnn", 3, 5, nonlinearity="relu", init="identity")
    torch.testing.assert_close(cell.weight_hh.detach(), torch.eye(5))
    assert cell.bias_ih.abs().max() == 0 and cell.bias_hh.abs().max() == 0


def test_original_cho_gru_differs_from_torch_form_and_matches_its_equations():
    torch.manual_seed(5)
    cell = create_cell("gru", 3, 4, reset_after=False).double()
    x, h = torch.randn(2, 3, dtype=torch.double), torch.randn(2, 4, dtype=torch.double)
    w_ir, w_iz, w_in = cell.weight_ih.chunk(3)
    w_hr, w_hz, w_hn = cell.weight_hh.chunk(3)
    b_ir, b_iz, b_in = cell.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = torch.sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    n = torch.tanh(x @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
    expected = (1 - z) * n + z * h
    torch.testing.assert_close(cell(x, h)[0], expected)
    cell.reset_after = True
    assert (cell(x, h)[0] - expected).abs().max() > 1e-6


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_a_batch_padded_past_its_longest_sequence_matches_packing(kind):
    # Every length below T (a batch padded to a longer width): the padded run's last steps
    # belong to no sequence, and the final state (the LSTM's rebuilt c too) ignores them.
    torch.manual_seed(6)
    ref = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](5, 7, batch_first=True)
    cell = Recurrent.from_torch(ref).cells[0]
    x = torch.randn(3, 8, 5)
    lengths = torch.tensor([5, 3, 2])
    out, final = cell.forward_sequence(x, None, lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref_packed, ref_final = ref(packed)
    ref_out, _ = pad_packed_sequence(ref_packed, batch_first=True, total_length=8)
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    ours = final if kind == "lstm" else (final,)
    theirs = ref_final if kind == "lstm" else (ref_final,)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b[0], atol=ATOL, rtol=0)
    loss = out.sum() + sum(s.sum() for s in ours)
    ref_loss = ref_out.sum() + sum(s.sum() for s in theirs)
    for a, b in zip(
        torch.autograd.grad(loss, [cell.weight_ih, cell.weight_hh, cell.bias_hh]),
        torch.autograd.grad(ref_loss, [ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_hh_l0]),
        strict=True,
    ):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)

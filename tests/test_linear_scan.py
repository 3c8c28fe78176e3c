"""The scans behind ``forward_sequence`` of minGRU, minLSTM (and SRU without vectors).

``forward_sequence`` must equal the step-by-step recurrence: to rounding in float64, and
within 1e-4 of a float64 reference at T=4096 in float32 — outputs, input gradients and
parameter gradients. Carrying the state across chunks must equal one pass, and with
variable lengths the final state is each sequence's state at its last valid step, with
zeros past the end.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from seqlab.cells import _scan, create_cell
from seqlab.cells._scan import _blocking, blocked_scan, log_scan, resolve_method
from seqlab.unroll import unroll

CELLS = ["mingru", "minlstm"]
METHODS = ["blocked", "log"]


def sig(v: Tensor) -> Tensor:
    return 1.0 / (1.0 + torch.exp(-v))


def g_ref(v: Tensor) -> Tensor:
    return torch.where(v >= 0, v + 0.5, sig(v))


def reference(name: str, weight: Tensor, bias: Tensor, x: Tensor, h: Tensor) -> Tensor:
    """The paper's recurrence stepped in a plain loop (written here, not the cell's code)."""
    outs = []
    for p in (x @ weight.T + bias).unbind(1):
        if name == "mingru":
            k, v = p.chunk(2, -1)
            z = sig(k)
            h = (1 - z) * h + z * g_ref(v)
        else:
            kf, ki, v = p.chunk(3, -1)
            f, i = sig(kf), sig(ki)
            h = f / (f + i) * h + i / (f + i) * g_ref(v)
        outs.append(h)
    return torch.stack(outs, 1)


def dyadic(t: Tensor, step: float) -> Tensor:
    """Round to multiples of ``step`` (a power of two).

    Products and sums of such numbers are exact in float32, so the float32 and float64
    runs see the very same pre-activations; otherwise a pre-activation within rounding
    of 0 could take different sides of g's kink (g' jumps from 1/4 to 1 there) and the
    gradient comparison would measure that, not the scan.
    """
    return torch.round(t / step) * step


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("method", METHODS)
def test_float32_within_1e4_of_float64_at_4096_steps(name, method):
    torch.manual_seed(0)
    batch, steps, inp, hid = 2, 4096, 16, 32
    cell = create_cell(name, inp, hid, scan=method)
    with torch.no_grad():
        cell.weight.copy_(dyadic(cell.weight, 2.0**-6))
        cell.bias.copy_(dyadic(cell.bias, 2.0**-6))
    x = dyadic(torch.randn(batch, steps, inp), 2.0**-3)
    weights = torch.randn(batch, steps, hid, dtype=torch.float64)

    w64 = cell.weight.detach().double().requires_grad_()
    b64 = cell.bias.detach().double().requires_grad_()
    x64 = x.double().requires_grad_()
    ref = reference(name, w64, b64, x64, torch.zeros(batch, hid, dtype=torch.float64))
    (ref * weights).sum().backward()

    x32 = x.clone().requires_grad_()
    out, last = cell.forward_sequence(x32)
    (out * weights.float()).sum().backward()

    errors = {
        "outputs": (out.double() - ref).abs().max().item(),
        "final state": (last.double() - ref[:, -1]).abs().max().item(),
        "dL/dx": (x32.grad.double() - x64.grad).abs().max().item(),
        "dL/dweight": (cell.weight.grad.double() - w64.grad).abs().max().item(),
        "dL/dbias": (cell.bias.grad.double() - b64.grad).abs().max().item(),
    }
    assert max(errors.values()) <= 1e-4, errors
    # the parameter gradients are sums over B·T steps, far from trivially small: their
    # float32 error is summation rounding, ~1e-7 of their size
    assert w64.grad.abs().max() > 50
    assert errors["dL/dweight"] <= 1e-6 * w64.grad.abs().max()


def _run(cell, x, h0, lengths=None):
    return cell.forward_sequence(x, h0, lengths)


def use_segments(monkeypatch: pytest.MonkeyPatch, steps: int | None) -> None:
    """Make the blocked scan run in segments of ``steps`` (``None``: its own choice).

    Segments apply to the blocked scan only: the log scan always takes the whole
    sequence, so it is run once, not once per segment size."""
    if steps is not None:
        monkeypatch.setattr(
            _scan, "segment_steps", lambda method, b, w, t: steps if method == "blocked" else t
        )


SCANS = [("blocked", None), ("blocked", 3), ("log", None)]
SCAN_IDS = ["blocked", "blocked-segments-of-3-steps", "log"]


@pytest.fixture(params=SCANS, ids=SCAN_IDS)
def scan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The scan method, the blocked one also with tiny segments (forced to 3 steps)."""
    method, segment_steps = request.param
    use_segments(monkeypatch, segment_steps)
    return method


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("steps", [1, 2, 5, 16, 17, 50])
def test_forward_sequence_equals_stepping_in_float64(name, scan, steps):
    torch.manual_seed(steps)
    cell = create_cell(name, 3, 5, scan=scan).double()
    x = torch.randn(4, steps, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.rand(4, 5, dtype=torch.float64, requires_grad=True)
    ref, ref_last = unroll(cell, x, h0)
    out, last = _run(cell, x, h0)
    assert (out - ref).abs().max() < 1e-12 and (last - ref_last).abs().max() < 1e-12
    weights, last_weights = torch.randn_like(out), torch.randn_like(last)
    inputs = [x, h0, *cell.parameters()]
    expected = torch.autograd.grad((ref * weights).sum() + (ref_last * last_weights).sum(), inputs)
    actual = torch.autograd.grad((out * weights).sum() + (last * last_weights).sum(), inputs)
    for a, e in zip(actual, expected, strict=True):
        assert (a - e).abs().max() < 1e-10


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("split", [1, 7, 20, 39])
def test_state_carried_across_chunks_equals_one_pass(name, scan, split):
    torch.manual_seed(split)
    cell = create_cell(name, 3, 5, scan=scan).double()
    x = torch.randn(4, 40, 3, dtype=torch.float64, requires_grad=True)
    whole, whole_last = _run(cell, x, None)
    first, mid = _run(cell, x[:, :split], None)
    second, last = _run(cell, x[:, split:], mid)
    assert (torch.cat([first, second], 1) - whole).abs().max() < 1e-12
    assert (last - whole_last).abs().max() < 1e-12
    weights = torch.randn_like(whole)
    (g_whole,) = torch.autograd.grad((whole * weights).sum() + whole_last.sum(), x)
    chunked = (first * weights[:, :split]).sum() + (second * weights[:, split:]).sum() + last.sum()
    (g_chunked,) = torch.autograd.grad(chunked, x)
    assert (g_whole - g_chunked).abs().max() < 1e-12


# SRU's b = (1 - f) W x can be negative, so it has the blocked scan only
LENGTH_CASES = [(n, *s) for n in CELLS for s in SCANS] + [
    ("sru-linear", "blocked", None),
    ("sru-linear", "blocked", 3),
]


@pytest.mark.parametrize(("name", "method", "segment_steps"), LENGTH_CASES)
def test_variable_lengths_freeze_the_state_and_zero_the_outputs(
    name, method, segment_steps, monkeypatch
):
    use_segments(monkeypatch, segment_steps)
    if name == "sru-linear":
        cell = create_cell("sru", 3, 5, recurrent_vectors=False).double()
    else:
        cell = create_cell(name, 3, 5, scan=method).double()
    torch.manual_seed(1)
    steps, lengths = 12, torch.tensor([12, 7, 0, 1, 11])
    x = torch.randn(5, steps, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.rand(5, 5, dtype=torch.float64)
    out, final = cell.forward_sequence(x, h0, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_final = unroll(cell, x[b : b + 1, :n], h0[b : b + 1])
        assert n == 0 or (out[b, :n] - alone[0]).abs().max() < 1e-12
        assert torch.all(out[b, n:] == 0)
        assert (final[b] - alone_final[0]).abs().max() < 1e-12
    # nothing past a sequence's end influences anything
    (grad,) = torch.autograd.grad((out * torch.randn_like(out)).sum() + final.sum(), x)
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(grad[b, n:] == 0)
    # the unroller's masking gives the same
    ref, ref_final = unroll(cell, x, h0, lengths)
    assert (out - ref).abs().max() < 1e-12 and (final - ref_final).abs().max() < 1e-12


@pytest.mark.parametrize("segment_steps", [None, 3], ids=["own-segments", "segments-of-3-steps"])
def test_sru_linear_scan_equals_stepping_across_segments(segment_steps, monkeypatch):
    use_segments(monkeypatch, segment_steps)
    cell = create_cell("sru", 5, 5, recurrent_vectors=False, highway_scale=1.7).double()
    x = torch.randn(3, 23, 5, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(3, 5, dtype=torch.float64)
    ref, ref_c = unroll(cell, x, c0)
    out, c = cell.forward_sequence(x, c0)
    assert (out - ref).abs().max() < 1e-12 and (c - ref_c).abs().max() < 1e-12
    weights = torch.randn_like(out)
    inputs = [x, *cell.parameters()]
    for a, e in zip(
        torch.autograd.grad((out * weights).sum() + c.sum(), inputs),
        torch.autograd.grad((ref * weights).sum() + ref_c.sum(), inputs),
        strict=True,
    ):
        assert (a - e).abs().max() < 1e-10


# -- the kernels themselves ------------------------------------------------------------------
@pytest.mark.parametrize("steps", [1, 3, 4, 5, 9, 31, 64, 97])
def test_blocked_scan_is_the_recurrence_and_its_gradient(steps):
    torch.manual_seed(steps)
    a = torch.rand(2, steps, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, steps, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h, last = blocked_scan(a, b, h0)
    state, expected = h0, []
    for t in range(steps):
        state = a[:, t] * state + b[:, t]
        expected.append(state)
    assert (h - torch.stack(expected, 1)).abs().max() < 1e-13
    assert torch.equal(last, h[:, -1])
    weights = torch.randn_like(h)
    actual = torch.autograd.grad((h * weights).sum() + last.sum(), (a, b, h0))
    expected = torch.autograd.grad(
        (torch.stack(expected, 1) * weights).sum() + state.sum(), (a, b, h0)
    )
    for got, want in zip(actual, expected, strict=True):
        assert (got - want).abs().max() < 1e-12
    if steps <= 9:  # finite differences too (slow for long sequences)
        assert torch.autograd.gradcheck(blocked_scan, (a, b, h0))
        assert torch.autograd.gradcheck(
            lambda a, b, h0: log_scan(a.log(), b.log(), h0),
            (a, b.detach().abs().requires_grad_(), h0),
        )


def test_blocked_scan_survives_zero_and_tiny_coefficients():
    a = torch.tensor([[[0.0], [1e-30], [1e-30], [0.5]]], dtype=torch.float32).expand(1, 4, 1)
    b = torch.tensor([[[1.0], [2.0], [3.0], [4.0]]])
    h, _ = blocked_scan(a.contiguous(), b, torch.tensor([[5.0]]))
    assert torch.allclose(h.flatten(), torch.tensor([1.0, 2.0, 3.0, 5.5]))


def test_blocking_covers_the_steps_with_little_padding():
    for steps in range(1, 5000):
        length, blocks = _blocking(steps)
        assert length * blocks >= steps
        assert length * blocks - steps < length, steps  # less than one block of padding
        assert steps <= 4 or max(length, blocks) <= 2 * steps**0.5 + 2, steps


def test_auto_picks_blocked_on_cpu_and_log_on_cuda():
    assert resolve_method("auto", torch.device("cpu")) == "blocked"
    assert resolve_method("auto", torch.device("cuda")) == "log"
    assert resolve_method("log", torch.device("cpu")) == "log"

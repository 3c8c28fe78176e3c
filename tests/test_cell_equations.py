"""Every zoo cell against a direct transcription of its paper's equations.

The references below are written from the equations (as printed in each cell's docstring
and paper), reading the parameters through the documented gate layout, with σ, tanh and
layer norm spelled out by hand; they share no code with the cells. Parameters are
perturbed away from their initial values (so that, e.g., layer-norm gains of 1 or zero
biases cannot hide a swapped term), and the cells are run for several steps from a
random state in float64.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from seqlab.cells import create_cell, get_cell
from seqlab.cells._common import g, g_backward, g_fused, log_g
from seqlab.errors import ConfigError
from seqlab.unroll import unroll

B, I, H, T = 3, 4, 5, 6  # noqa: E741 (I is the input size, as in the docstrings)
TOL = 1e-12


def sig(v: Tensor) -> Tensor:
    return 1.0 / (1.0 + torch.exp(-v))


def tanh(v: Tensor) -> Tensor:
    return (torch.exp(v) - torch.exp(-v)) / (torch.exp(v) + torch.exp(-v))


def ln(v: Tensor, gain: Tensor, shift: Tensor, eps: float) -> Tensor:
    mu = v.mean(-1, keepdim=True)
    var = ((v - mu) ** 2).mean(-1, keepdim=True)
    return gain * (v - mu) / torch.sqrt(var + eps) + shift


def block(t: Tensor, k: int, h: int = H) -> Tensor:
    """The k-th block of H rows (gate k in the documented layout)."""
    return t[k * h : (k + 1) * h]


def lin(x: Tensor, w: Tensor) -> Tensor:
    return x @ w.T


def g_ref(v: Tensor) -> Tensor:
    """Feng et al.'s g: v + 1/2 for v ≥ 0, σ(v) for v < 0."""
    return torch.where(v >= 0, v + 0.5, sig(v))


# -- references ------------------------------------------------------------------------------
def peephole_lstm(p, x, state, **_):
    h, c = state
    W, U, b = p["weight_ih"], p["weight_hh"], p["bias"]

    def pre(k):
        return lin(x, block(W, k)) + lin(h, block(U, k)) + block(b, k)

    i = sig(pre(0) + p["peephole_i"] * c)
    f = sig(pre(1) + p["peephole_f"] * c)
    gg = tanh(pre(2))
    c_new = f * c + i * gg
    o = sig(pre(3) + p["peephole_o"] * c_new)
    h_new = o * tanh(c_new)
    return h_new, (h_new, c_new)


def cifg_lstm(p, x, state, peepholes=True, **_):
    h, c = state
    W, U, b = p["weight_ih"], p["weight_hh"], p["bias"]

    def pre(k):
        return lin(x, block(W, k)) + lin(h, block(U, k)) + block(b, k)

    f = sig(pre(0) + (p["peephole_f"] * c if peepholes else 0.0))
    i = 1.0 - f
    gg = tanh(pre(1))
    c_new = f * c + i * gg
    o = sig(pre(2) + (p["peephole_o"] * c_new if peepholes else 0.0))
    h_new = o * tanh(c_new)
    return h_new, (h_new, c_new)


def ln_lstm(p, x, state, eps=1e-5, **_):
    h, c = state
    pre = (
        ln(lin(h, p["weight_hh"]), p["ln_hh_weight"], p["ln_hh_bias"], eps)
        + ln(lin(x, p["weight_ih"]), p["ln_ih_weight"], p["ln_ih_bias"], eps)
        + p["bias"]
    )
    i, f, gg, o = (block(pre.T, k).T for k in range(4))
    c_new = sig(f) * c + sig(i) * tanh(gg)
    h_new = sig(o) * tanh(ln(c_new, p["ln_cell_weight"], p["ln_cell_bias"], eps))
    return h_new, (h_new, c_new)


def ln_gru(p, x, h, eps=1e-5, **_):
    W, U = p["weight_ih"], p["weight_hh"]
    gates = ln(lin(h, U[: 2 * H]), p["ln_hh_gates_weight"], p["ln_hh_gates_bias"], eps) + ln(
        lin(x, W[: 2 * H]), p["ln_ih_gates_weight"], p["ln_ih_gates_bias"], eps
    )
    z, r = gates[:, :H], gates[:, H:]
    cand = tanh(
        ln(lin(x, W[2 * H :]), p["ln_ih_cand_weight"], p["ln_ih_cand_bias"], eps)
        + sig(r) * ln(lin(h, U[2 * H :]), p["ln_hh_cand_weight"], p["ln_hh_cand_bias"], eps)
    )
    h_new = (1 - sig(z)) * h + sig(z) * cand
    return h_new, h_new


def mgu(p, x, h, **_):
    W, U, b = p["weight_ih"], p["weight_hh"], p["bias"]
    f = sig(lin(x, block(W, 0)) + lin(h, block(U, 0)) + block(b, 0))
    cand = tanh(lin(x, block(W, 1)) + lin(f * h, block(U, 1)) + block(b, 1))
    h_new = (1 - f) * h + f * cand
    return h_new, h_new


def indrnn(p, x, h, activation="relu", recurrent_max_abs=None, **_):
    u = p["weight_hh"]
    if recurrent_max_abs is not None:
        u = torch.clamp(u, -recurrent_max_abs, recurrent_max_abs)
    pre = lin(x, p["weight_ih"]) + u * h + p["bias"]
    h_new = torch.maximum(pre, torch.zeros_like(pre)) if activation == "relu" else tanh(pre)
    return h_new, h_new


def ugrnn(p, x, h, **_):
    W, U, b = p["weight_ih"], p["weight_hh"], p["bias"]
    c = tanh(lin(x, block(W, 0)) + lin(h, block(U, 0)) + block(b, 0))
    gate = sig(lin(x, block(W, 1)) + lin(h, block(U, 1)) + block(b, 1))
    h_new = gate * h + (1 - gate) * c
    return h_new, h_new


def sru(p, x, c, recurrent_vectors=True, highway_scale=1.0, hidden=H, **_):
    W, b = p["weight"], p["bias"]
    vf = p["vector_f"] * c if recurrent_vectors else 0.0
    vr = p["vector_r"] * c if recurrent_vectors else 0.0
    f = sig(lin(x, block(W, 1, hidden)) + vf + b[:hidden])
    r = sig(lin(x, block(W, 2, hidden)) + vr + b[hidden:])
    c_new = f * c + (1 - f) * lin(x, block(W, 0, hidden))
    highway = x if x.shape[1] == hidden else lin(x, block(W, 3, hidden))
    h_new = r * c_new + (1 - r) * highway_scale * highway
    return h_new, c_new


def mingru(p, x, h, activation="g", **_):
    W, b = p["weight"], p["bias"]
    z = sig(lin(x, block(W, 0)) + block(b, 0))
    v = lin(x, block(W, 1)) + block(b, 1)
    cand = g_ref(v) if activation == "g" else v
    h_new = (1 - z) * h + z * cand
    return h_new, h_new


def minlstm(p, x, h, activation="g", **_):
    W, b = p["weight"], p["bias"]
    f = sig(lin(x, block(W, 0)) + block(b, 0))
    i = sig(lin(x, block(W, 1)) + block(b, 1))
    v = lin(x, block(W, 2)) + block(b, 2)
    cand = g_ref(v) if activation == "g" else v
    f_n, i_n = f / (f + i), i / (f + i)
    h_new = f_n * h + i_n * cand
    return h_new, h_new


REFERENCES = {
    "peephole_lstm": peephole_lstm,
    "cifg_lstm": cifg_lstm,
    "ln_lstm": ln_lstm,
    "ln_gru": ln_gru,
    "mgu": mgu,
    "indrnn": indrnn,
    "ugrnn": ugrnn,
    "sru": sru,
    "mingru": mingru,
    "minlstm": minlstm,
}

CASES = [
    ("peephole_lstm", {}),
    ("peephole_lstm", {"forget_bias": 0.0}),
    ("cifg_lstm", {}),
    ("cifg_lstm", {"peepholes": False}),
    ("ln_lstm", {}),
    ("ln_lstm", {"eps": 1e-3}),
    ("ln_gru", {}),
    ("mgu", {}),
    ("indrnn", {}),
    ("indrnn", {"activation": "tanh"}),
    ("indrnn", {"recurrent_max_abs": 0.7}),
    ("ugrnn", {}),
    ("sru", {}),
    ("sru", {"recurrent_vectors": False}),
    ("sru", {"highway_scale": math.sqrt(3)}),
    ("mingru", {}),
    ("mingru", {"activation": "identity"}),
    ("minlstm", {}),
    ("minlstm", {"activation": "identity"}),
]


def perturbed(name: str, input_size: int = I, hidden_size: int = H, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    cell = create_cell(name, input_size, hidden_size, **options).double()
    with torch.no_grad():
        for param in cell.parameters():
            param.add_(0.5 * torch.randn_like(param))
    return cell


def random_state(cell: torch.nn.Module):
    state = cell.initial_state(B, dtype=torch.float64)
    if isinstance(state, Tensor):
        return torch.randn_like(state)
    return tuple(torch.randn_like(s) for s in state)


def max_diff(a, b) -> float:
    a = (a,) if isinstance(a, Tensor) else a
    b = (b,) if isinstance(b, Tensor) else b
    assert len(a) == len(b)
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_cell_matches_paper_equations(name, options):
    cell = perturbed(name, **options)
    params = dict(cell.named_parameters())
    ref = REFERENCES[name]
    state = random_state(cell)
    ref_state = state
    for _ in range(T):
        x = torch.randn(B, I, dtype=torch.float64)
        h, state = cell(x, state)
        h_ref, ref_state = ref(params, x, ref_state, **options)
        assert max_diff(h, h_ref) < TOL
        assert max_diff(state, ref_state) < TOL


@pytest.mark.parametrize(
    ("name", "options"), [c for c in CASES if c[0] in ("sru", "mingru", "minlstm")]
)
def test_forward_sequence_matches_paper_equations(name, options):
    cell = perturbed(name, **options)
    params = dict(cell.named_parameters())
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(cell)
    if name != "sru":  # g-based states must be reachable: start from a positive state
        state = state.abs()
    out, final = cell.forward_sequence(x, state)
    ref_state = state
    for t in range(T):
        h_ref, ref_state = REFERENCES[name](params, x[:, t], ref_state, **options)
        assert max_diff(out[:, t], h_ref) < TOL
    assert max_diff(final, ref_state) < TOL


@pytest.mark.parametrize("highway_scale", [1.0, 2.0])
def test_sru_highway_is_the_input_when_sizes_match(highway_scale):
    cell = perturbed("sru", H, H, highway_scale=highway_scale)
    assert cell.weight.shape == (3 * H, H) and not cell.projected_highway
    projected = create_cell("sru", I, H)
    assert projected.weight.shape == (4 * H, I) and projected.projected_highway
    params = dict(cell.named_parameters())
    x, c = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    h, c_new = cell(x, c)
    h_ref, c_ref = sru(params, x, c, highway_scale=highway_scale)
    assert max_diff((h, c_new), (h_ref, c_ref)) < TOL
    # with r → 0 (large negative reset bias) the output is α·x itself
    with torch.no_grad():
        cell.bias[H:] = -100.0
    assert torch.allclose(cell(x, c)[0], highway_scale * x, atol=1e-12)


# -- options ---------------------------------------------------------------------------------
FORGET_SLICE = {
    "peephole_lstm": slice(H, 2 * H),
    "cifg_lstm": slice(0, H),
    "ln_lstm": slice(H, 2 * H),
}


@pytest.mark.parametrize("name", sorted(FORGET_SLICE))
def test_forget_bias_is_an_initial_value_of_the_forget_gate_bias(name):
    assert create_cell(name, I, H).forget_bias == 1.0  # Jozefowicz et al. 2015
    built = {}
    for value in (0.0, 2.5):
        torch.manual_seed(3)
        built[value] = create_cell(name, I, H, forget_bias=value)
    zero, shifted = (dict(built[v].named_parameters()) for v in (0.0, 2.5))
    forget = FORGET_SLICE[name]
    for pname, p in zero.items():
        expected = p.detach().clone()
        if pname == "bias":
            expected[forget] += 2.5
        assert torch.equal(shifted[pname].detach(), expected), pname
    if name == "ln_lstm":  # b starts at zero, so the forget slice *is* forget_bias
        b = shifted["bias"].detach()
        assert torch.all(b[forget] == 2.5) and torch.count_nonzero(b) == H
    # it is a parameter, not a constant: the gradient reaches the forget slice
    cell = built[2.5]
    h, (_, c) = cell(torch.randn(B, I), tuple(torch.randn(B, H) for _ in range(2)))
    (h.sum() + c.sum()).backward()
    assert cell.bias.grad[forget].abs().sum() > 0


def test_forget_bias_makes_the_cifg_cell_remember():
    cell = create_cell("cifg_lstm", I, H, forget_bias=40.0, peepholes=False)
    with torch.no_grad():
        cell.weight_ih.zero_()
        cell.weight_hh.zero_()
    c = torch.randn(B, H)
    _, (_, c_new) = cell(torch.randn(B, I), (torch.randn(B, H), c))
    assert torch.allclose(c_new, c, atol=1e-6)  # f = 1, i = 1 - f = 0


def test_indrnn_recurrent_init_and_constraint():
    torch.manual_seed(0)
    cell = create_cell("indrnn", I, 1000)
    u = cell.weight_hh.detach()
    assert u.min() >= 0.0 and u.max() <= 1.0 and u.std() > 0.2  # U(0, 1) by default
    assert torch.count_nonzero(cell.bias) == 0
    cell = create_cell("indrnn", I, 1000, recurrent_init_min=0.9, recurrent_init_max=0.95)
    assert cell.weight_hh.min() >= 0.9 and cell.weight_hh.max() <= 0.95
    # clipping in the forward pass: |u| ≤ recurrent_max_abs, no gradient where clipped
    cell = create_cell("indrnn", I, 4, recurrent_max_abs=2 ** (1 / 100)).double()
    with torch.no_grad():
        cell.weight_hh.copy_(torch.tensor([3.0, -3.0, 0.5, -0.2], dtype=torch.float64))
    bound = 2 ** (1 / 100)
    assert torch.equal(
        cell.recurrent_weight(), torch.tensor([bound, -bound, 0.5, -0.2], dtype=torch.float64)
    )
    x, h = torch.randn(B, I, dtype=torch.float64), torch.rand(B, 4, dtype=torch.float64) + 1
    out, _ = cell(x, h)
    ref, _ = indrnn(dict(cell.named_parameters()), x, h, recurrent_max_abs=bound)
    assert max_diff(out, ref) < TOL
    (out * torch.randn_like(out)).sum().backward()
    assert cell.weight_hh.grad[0] == 0 and cell.weight_hh.grad[1] == 0


def test_indrnn_relu_and_tanh_differ_as_the_equations_say():
    x, h = torch.randn(B, I), torch.randn(B, H)
    torch.manual_seed(1)
    relu_cell = create_cell("indrnn", I, H)
    torch.manual_seed(1)
    tanh_cell = create_cell("indrnn", I, H, activation="tanh")
    pre = x @ relu_cell.weight_ih.T + relu_cell.weight_hh * h + relu_cell.bias
    assert torch.allclose(relu_cell(x, h)[0], torch.relu(pre))
    assert torch.allclose(tanh_cell(x, h)[0], torch.tanh(pre))


BAD_OPTIONS = [
    ("peephole_lstm", {"forget_bias": "1"}, "forget_bias"),
    ("cifg_lstm", {"peepholes": 1}, "peepholes"),
    ("ln_lstm", {"eps": 0.0}, "eps"),
    ("ln_gru", {"eps": -1.0}, "eps"),
    ("indrnn", {"activation": "sigmoid"}, "activation"),
    ("indrnn", {"recurrent_init_min": 0.8, "recurrent_init_max": 0.2}, "recurrent_init_min"),
    ("indrnn", {"recurrent_max_abs": 0.0}, "recurrent_max_abs"),
    ("sru", {"highway_scale": float("nan")}, "highway_scale"),
    ("sru", {"recurrent_vectors": "yes"}, "recurrent_vectors"),
    ("mingru", {"activation": "tanh"}, "activation"),
    ("mingru", {"scan": "fast"}, "scan"),
    ("mingru", {"activation": "identity", "scan": "log"}, "scan"),
    ("minlstm", {"scan": "parallel"}, "scan"),
]


@pytest.mark.parametrize(("name", "options", "word"), BAD_OPTIONS)
def test_bad_options_are_rejected_with_a_clear_error(name, options, word):
    with pytest.raises(ValueError, match=word):
        get_cell(name)(I, H, **options)
    with pytest.raises(ConfigError, match=word):
        create_cell(name, I, H, **options)


# -- minGRU / minLSTM specifics --------------------------------------------------------------
def test_g_is_positive_continuous_and_matches_its_log_and_fused_forms():
    v = torch.cat(
        [
            torch.linspace(-30, 30, 2001, dtype=torch.float64),
            torch.tensor([0.0, -1e-300, 1e-300], dtype=torch.float64),
        ]
    )
    gv = g(v)
    assert torch.all(gv > 0)
    assert g(torch.zeros((), dtype=torch.float64)) == 0.5
    assert torch.allclose(
        g(torch.tensor([-1e-12, 1e-12], dtype=torch.float64)),
        torch.tensor(0.5, dtype=torch.float64),
    )
    assert torch.allclose(gv, g_ref(v), rtol=1e-15, atol=0)  # exp vs torch.sigmoid rounding
    assert torch.allclose(
        g_fused(v, torch.empty_like(v), torch.empty_like(v)), gv, rtol=0, atol=1e-15
    )
    assert torch.allclose(log_g(v), torch.log(gv), rtol=1e-12, atol=1e-12)
    # g' = 1 for v ≥ 0, σ'(v) below, as the fused backward computes it
    v_req = v.clone().requires_grad_()
    grad = torch.randn_like(v)
    (auto,) = torch.autograd.grad((g(v_req) * grad).sum(), v_req)
    fused = g_backward(grad, v, gv, torch.empty_like(v), torch.empty_like(v))
    assert torch.allclose(fused, auto, rtol=1e-12, atol=1e-15)
    assert torch.equal(fused[v >= 0], grad[v >= 0])


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_g_keeps_states_positive_from_a_non_negative_start(name):
    cell = perturbed(name)
    x = 5 * torch.randn(B, 50, I, dtype=torch.float64)
    out, _ = cell.forward_sequence(x, torch.zeros(B, H, dtype=torch.float64))
    assert torch.all(out > 0)
    identity = perturbed(name, activation="identity")
    out, _ = identity.forward_sequence(x, torch.zeros(B, H, dtype=torch.float64))
    assert torch.any(out < 0)


def test_minlstm_gates_are_normalised():
    cell = perturbed("minlstm")
    x = torch.randn(B, I, dtype=torch.float64)
    # with a candidate equal to the state, h stays put only if f' + i' = 1
    v = torch.nn.functional.linear(x, cell.weight, cell.bias).chunk(3, -1)[2]
    h = g(v)
    out, _ = cell(x, h)
    assert torch.allclose(out, h, rtol=0, atol=1e-14)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
@pytest.mark.parametrize("scan", ["blocked", "log"])
def test_forward_sequence_equals_stepping(name, scan):
    cell = perturbed(name, scan=scan)
    x = torch.randn(B, 37, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.rand(B, H, dtype=torch.float64, requires_grad=True)
    ref, ref_last = unroll(cell, x, h0)
    out, last = cell.forward_sequence(x, h0)
    assert max_diff((out, last), (ref, ref_last)) < TOL
    weights = torch.randn_like(out)
    inputs = [x, h0, *cell.parameters()]
    expected = torch.autograd.grad((ref * weights).sum() + ref_last.sum(), inputs)
    actual = torch.autograd.grad((out * weights).sum() + last.sum(), inputs)
    assert max_diff(tuple(actual), tuple(expected)) < 1e-10


# -- parameter counts (the formulas of the docstrings and docs/cells.md) ---------------------
PARAMETER_COUNTS = [
    ("rnn", {}, lambda i, h: h * (i + h) + 2 * h),
    ("lstm", {}, lambda i, h: 4 * h * (i + h) + 8 * h),
    ("gru", {}, lambda i, h: 3 * h * (i + h) + 6 * h),
    ("peephole_lstm", {}, lambda i, h: 4 * h * (i + h) + 4 * h + 3 * h),
    ("cifg_lstm", {}, lambda i, h: 3 * h * (i + h) + 3 * h + 2 * h),
    ("cifg_lstm", {"peepholes": False}, lambda i, h: 3 * h * (i + h) + 3 * h),
    ("ln_lstm", {}, lambda i, h: 4 * h * (i + h) + 22 * h),
    ("ln_gru", {}, lambda i, h: 3 * h * (i + h) + 12 * h),
    ("mgu", {}, lambda i, h: 2 * h * (i + h) + 2 * h),
    ("indrnn", {}, lambda i, h: h * i + 2 * h),
    ("ugrnn", {}, lambda i, h: 2 * h * (i + h) + 2 * h),
    ("sru", {}, lambda i, h: (3 if i == h else 4) * h * i + 4 * h),
    ("sru", {"recurrent_vectors": False}, lambda i, h: (3 if i == h else 4) * h * i + 2 * h),
    ("mingru", {}, lambda i, h: 2 * h * (i + 1)),
    ("minlstm", {}, lambda i, h: 3 * h * (i + 1)),
]


@pytest.mark.parametrize(
    ("name", "options", "formula"),
    PARAMETER_COUNTS,
    ids=[f"{n}-{o}" for n, o, _ in PARAMETER_COUNTS],
)
def test_parameter_count_formulas(name, options, formula):
    from seqlab.cells import count_parameters

    for inp, hid in ((3, 5), (32, 128), (7, 7)):
        assert count_parameters(create_cell(name, inp, hid, **options)) == formula(inp, hid)


# -- the conformance suite on non-default options ---------------------------------------------
VARIANTS = [
    ("mingru", {"scan": "log"}, 3),
    ("mingru", {"activation": "identity"}, 3),
    ("minlstm", {"scan": "log"}, 3),
    ("minlstm", {"activation": "identity"}, 3),
    ("sru", {"recurrent_vectors": False}, 3),
    ("sru", {"recurrent_vectors": False}, 5),
    ("sru", {"highway_scale": 1.7}, 5),
    ("cifg_lstm", {"peepholes": False}, 3),
    ("indrnn", {"activation": "tanh"}, 3),
    ("indrnn", {"recurrent_max_abs": 0.9}, 3),
]


@pytest.mark.parametrize(
    ("name", "options", "input_size"), VARIANTS, ids=[f"{n}-{o}-I{i}" for n, o, i in VARIANTS]
)
def test_option_variants_pass_the_conformance_suite(name, options, input_size):
    from seqlab.testing import check_cell

    check_cell(name, input_size=input_size, hidden_size=5, **options)  # raises on failure

"""seqlab.Recurrent: lengths, bidirectional ends, carried state, regularisers, observers."""

from __future__ import annotations

import pytest
import torch

from seqlab import Recurrent
from seqlab.errors import ConfigError, UnknownNameError

CELLS = ["lstm", "gru", "rnn", "janet"]


def _h(state):
    return state[0] if isinstance(state, tuple) else state


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("fused", [True, False])
def test_variable_lengths_equal_running_each_sequence_alone(cell, fused):
    torch.manual_seed(0)
    layer = Recurrent(cell, 3, 5, num_layers=2, bidirectional=True, fused=fused).double()
    x = torch.randn(4, 7, 3, dtype=torch.double)
    lengths = torch.tensor([7, 2, 5, 3])
    out, finals = layer(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_finals = layer(x[b : b + 1, :n])
        torch.testing.assert_close(out[b, :n], alone[0])
        assert out[b, n:].abs().max() == 0 if n < 7 else True
        for s, s_alone in zip(finals, alone_finals, strict=True):
            torch.testing.assert_close(_h(s)[b], _h(s_alone)[0])


def test_zero_length_sequence_keeps_initial_state_and_zero_outputs():
    layer = Recurrent("lstm", 3, 4)
    x = torch.randn(2, 5, 3)
    state = [(torch.randn(2, 4), torch.randn(2, 4))]
    out, finals = layer(x, torch.tensor([0, 5]), state)
    assert out[0].abs().max() == 0
    torch.testing.assert_close(finals[0][0][0], state[0][0][0])
    torch.testing.assert_close(finals[0][1][0], state[0][1][0])


@pytest.mark.parametrize("cell", CELLS)
def test_state_carried_across_chunks_equals_one_pass(cell):
    torch.manual_seed(1)
    layer = Recurrent(cell, 3, 5, num_layers=2).double()
    x = torch.randn(2, 12, 3, dtype=torch.double)
    full, full_final = layer(x)
    first, state = layer(x[:, :5])
    second, final = layer(x[:, 5:], state=state)
    torch.testing.assert_close(torch.cat([first, second], 1), full)
    for a, b in zip(final, full_final, strict=True):
        torch.testing.assert_close(_h(a), _h(b))
    detached = Recurrent.detach_state(state)
    assert all(not t.requires_grad for s in detached for t in (s if isinstance(s, tuple) else (s,)))


def test_recurrent_dropout_one_mask_per_sequence_and_off_at_eval():
    torch.manual_seed(2)
    layer = Recurrent("rnn", 2, 64, recurrent_dropout=0.5)
    seen = []
    layer.observe_steps(lambda i, t, h: seen.append(h))
    x = torch.zeros(3, 6, 2)
    with torch.no_grad():
        cell = layer.cells[0]
        cell.weight_ih.zero_()
        cell.bias_ih.zero_()
        cell.bias_hh.fill_(0.5)
        cell.weight_hh.copy_(torch.eye(64))
    layer.train()
    layer(x)
    # h_t = tanh(0.5 + mask ⊙ h_{t-1}): units whose mask is 0 stay at tanh(0.5) at every step.
    stuck = [(h - torch.tanh(torch.tensor(0.5))).abs() < 1e-6 for h in seen[1:]]
    for s in stuck[1:]:
        assert torch.equal(s, stuck[0]), "the mask must be the same at every step"
    frac = stuck[0].float().mean().item()
    assert 0.3 < frac < 0.7
    layer.eval()
    seen.clear()
    layer.observe_steps(None)
    out_eval, _ = layer(x)
    layer.recurrent_dropout = 0.0
    out_plain, _ = layer(x)
    torch.testing.assert_close(out_eval, out_plain)


def test_zoneout_keeps_previous_units_in_training_and_is_off_at_eval():
    torch.manual_seed(3)
    layer = Recurrent("lstm", 3, 32, zoneout=0.5)
    x = torch.randn(4, 8, 3)
    layer.train()
    seen = []
    layer.observe_steps(lambda i, t, h: seen.append(h.detach()))
    layer(x)
    same = torch.stack([(seen[t] == seen[t - 1]).float().mean() for t in range(1, 8)])
    assert 0.3 < same.mean().item() < 0.7  # about half the units keep their value each step
    layer.observe_steps(None)
    layer.eval()
    ref = Recurrent("lstm", 3, 32)
    ref.load_state_dict(layer.state_dict())
    ref.eval()
    torch.testing.assert_close(layer(x)[0], ref(x)[0])


def test_fused_path_used_when_possible_and_stepping_when_observed(monkeypatch):
    layer = Recurrent("lstm", 3, 4)
    calls = {"seq": 0, "step": 0}
    cell = layer.cells[0]
    orig_seq, orig_fwd = cell.forward_sequence, cell.forward

    def seq(*a, **k):
        calls["seq"] += 1
        return orig_seq(*a, **k)

    def fwd(*a, **k):
        calls["step"] += 1
        return orig_fwd(*a, **k)

    monkeypatch.setattr(cell, "forward_sequence", seq)
    monkeypatch.setattr(cell, "forward", fwd)
    x = torch.randn(2, 5, 3)
    layer(x)
    assert calls == {"seq": 1, "step": 0}
    grads = {}
    hs = {}

    def observer(i, t, h):
        h.retain_grad()
        hs[t] = h

    layer.observe_steps(observer)
    out, _ = layer(x)
    out[:, -1].sum().backward()
    grads = {t: hs[t].grad.norm().item() for t in hs}
    assert calls["step"] == 5 and len(grads) == 5
    assert all(g > 0 for g in grads.values())  # ∂L/∂h_t flows back through time
    layer.observe_steps(None)
    layer(x)
    assert calls["seq"] == 2


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(4)
    layer = Recurrent("gru", 3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(2, 5, 3)
    layer.eval()
    a, _ = layer(x)
    b, _ = layer(x)
    torch.testing.assert_close(a, b)
    layer.train()
    c, _ = layer(x)
    assert not torch.allclose(a, c)


def test_clear_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'gru'"):
        Recurrent("gur", 3, 4)
    layer = Recurrent("gru", 3, 4, num_layers=2)
    with pytest.raises(ConfigError, match=r"\(batch, time, 3\)"):
        layer(torch.randn(2, 5, 4))
    with pytest.raises(ConfigError, match="lengths must lie in"):
        layer(torch.randn(2, 5, 3), torch.tensor([6, 1]))
    with pytest.raises(ConfigError, match="one cell state per layer"):
        layer(torch.randn(2, 5, 3), state=[torch.zeros(2, 4)])
    with pytest.raises(ConfigError, match="dropout"):
        Recurrent("gru", 3, 4, dropout=1.5)
    with pytest.raises(ConfigError, match="hidden_size"):
        Recurrent("gru", 3, 0)
    with pytest.raises(ConfigError, match="no torch.nn equivalent"):
        Recurrent("janet", 3, 4).to_torch()

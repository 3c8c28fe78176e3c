"""seqlab.models.seq2seq: attention masks, the bridge, decoding (greedy, beam), training."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.config import ModelConfig, OptimConfig
from seqlab.errors import ConfigError
from seqlab.models import Seq2Seq, build_model
from seqlab.models.metrics import ExactMatch, TokenBLEU
from seqlab.models.seq2seq import Carry, beam_search, greedy, make_attention
from seqlab.tasks import create_task
from seqlab.tasks.seq2seq_data import BOS, EOS


@pytest.fixture(scope="module")
def task():
    return create_task("reverse", max_length=6, n_train=64, n_val=16, n_test=16, batch_size=8)


def model_for(task, **kw) -> Seq2Seq:
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=12, **kw)
    model = build_model(config, OptimConfig(), task.info)
    assert isinstance(model, Seq2Seq)
    return model.eval()


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_attention_gives_padded_source_positions_zero_weight(kind):
    torch.manual_seed(0)
    attention = make_attention(kind, 6, 6)
    values = torch.randn(3, 5, 6)
    lengths = torch.tensor([5, 2, 1])
    memory = attention.prepare(values, lengths)
    query = torch.randn(3, 6)
    context, weights = attention(query, memory)
    assert weights.shape == (3, 5)
    assert torch.equal(weights[1, 2:], torch.zeros(3)) and torch.equal(
        weights[2, 1:], torch.zeros(4)
    )
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    # whatever the padded positions hold, the context is the same
    noisy = values.clone()
    noisy[1, 2:] = 100.0
    noisy[2, 1:] = -100.0
    context2, _ = attention(query, attention.prepare(noisy, lengths))
    torch.testing.assert_close(context, context2)


def test_dot_attention_needs_equal_widths():
    with pytest.raises(ConfigError, match="use model.attention=general"):
        make_attention("dot", 8, 16)


@pytest.mark.parametrize(
    ("encoder", "decoder", "bidirectional", "identity"),
    [("gru", None, False, True), ("lstm", "gru", False, False), ("gru", "lstm", True, False)],
)
def test_bridge_maps_encoder_state_to_decoder_state(
    task, encoder, decoder, bidirectional, identity
):
    model = model_for(
        task, cell=encoder, decoder_cell=decoder, bidirectional=bidirectional, num_layers=2
    )
    assert model.bridge.identity is identity
    batch = next(iter(task.val_dataloader()))
    carry, _ = model.start(batch["x"], batch["lengths"])
    for state, template in zip(carry.states, model.decoder_templates(8), strict=True):
        got = state if isinstance(state, tuple) else (state,)
        want = template if isinstance(template, tuple) else (template,)
        assert [t.shape for t in got] == [t.shape for t in want]


@pytest.mark.parametrize(
    ("attention", "query_is_previous_output"), [("additive", True), ("general", False)]
)
def test_additive_is_bahdanaus_decoder_and_general_is_luongs(
    task, attention, query_is_previous_output
):
    # Bahdanau: s_{t-1} queries before the step, so the weights cannot depend on the token
    # read at step t; Luong: h_t (after reading the token) queries, so they do.
    model = model_for(task, attention=attention, bidirectional=True)
    x, lengths = torch.tensor([[3, 4, 5, 6]]), torch.tensor([4])
    with torch.no_grad():
        carry, memory = model.start(x, lengths)
        weights = [model.decode_step(torch.tensor([t]), carry, memory)[2] for t in (BOS, 5)]
    assert weights[0] is not None and weights[1] is not None
    assert torch.equal(weights[0], weights[1]) is query_is_previous_output
    memory_size = model.recurrent.output_size
    embedding = model.target_embedding.embedding_dim
    if query_is_previous_output:  # the context feeds the first layer and the readout
        assert model.combine is None and model.output.in_features == 12 + memory_size
        assert model.decoder_cells[0].input_size == embedding + memory_size
    else:  # h̃_t = tanh(W_c [h_t; c_t]) gives the logits and is fed back
        assert model.combine is not None and model.output.in_features == 12
        assert model.decoder_cells[0].input_size == embedding + 12


@pytest.mark.parametrize(
    ("attention", "bidirectional"), [("none", True), ("additive", True), ("general", False)]
)
def test_a_source_is_translated_the_same_alone_and_padded_in_a_batch(
    task, attention, bidirectional
):
    # The encoder's lengths, the bridge and the attention mask together: padding a short
    # source next to a long one must change neither its logits nor its greedy output.
    model = model_for(task, attention=attention, bidirectional=bidirectional)
    short, long = [4, 5], [3, 4, 5, 6, 7, 8]
    y = torch.tensor([[6, 7, EOS]])
    with torch.no_grad():
        alone = model(torch.tensor([short]), torch.tensor([2]), y)
        padded = model(torch.tensor([short + [0] * 4, long]), torch.tensor([2, 6]), y.repeat(2, 1))
    torch.testing.assert_close(padded[0], alone[0])
    together = model.translate([long, short], max_length=8).tokens
    assert together[1] == model.translate([short], max_length=8).tokens[0]


@pytest.mark.parametrize("attention", ["none", "additive", "dot", "general"])
def test_beam_of_width_one_is_greedy(task, attention):
    model = model_for(task, attention=attention, cell="lstm")
    batch = next(iter(task.val_dataloader()))
    carry, memory = model.start(batch["x"], batch["lengths"])

    def step(tokens, c):
        logits, c, w = model.decode_step(tokens, c, memory)
        return model.output_log_probs(logits), c, w

    with torch.no_grad():
        g = greedy(step, carry, 8, BOS, EOS, 9)
        b = beam_search(step, carry, lambda c, i: c.select(i), 8, 1, BOS, EOS, 9)
    assert g.tokens == b.tokens
    assert model.decode(batch["x"], batch["lengths"], max_length=9).tokens == g.tokens
    wide = model.decode(batch["x"], batch["lengths"], beam=3, length_penalty=0.6)
    assert len(wide.tokens) == 8 and all(EOS not in t for t in wide.tokens)


def test_beam_search_finds_what_greedy_misses():
    # Step 1: "a" (0.6) or "b" (0.4); after "a" every token is 0.2 likely, after "b" EOS is
    # certain: greedy outputs "a ..." (p ≤ 0.6 · 0.2), beam 2 finds "b" (p = 0.4).
    a, b, vocab = 3, 4, 5
    table = torch.full((vocab,), 0.2).log()

    def step(tokens, carry):
        rows = []
        for t in tokens.tolist():
            if t == BOS:
                p = torch.tensor([0, 0, 0, 0.6, 0.4]).clamp(min=1e-9).log()
            elif t == b:
                p = torch.tensor([0, 0, 1.0, 0, 0]).clamp(min=1e-9).log()
            else:
                p = table
            rows.append(p)
        return torch.stack(rows), carry, None

    carry = Carry([torch.zeros(2, 1)], None)
    assert greedy(step, Carry([torch.zeros(1, 1)], None), 1, BOS, EOS, 3).tokens[0][0] == a
    best = beam_search(step, carry, lambda c, i: c.select(i), 1, 2, BOS, EOS, 3)
    assert best.tokens == [[b]]


def test_decoding_encodes_once_and_steps_once_per_token(task):
    model = model_for(task, attention="additive")
    calls = {"encoder": 0, "decoder": 0}
    model.recurrent.register_forward_hook(
        lambda *a: calls.__setitem__("encoder", calls["encoder"] + 1)
    )
    model.decoder_cells[0].register_forward_hook(
        lambda *a: calls.__setitem__("decoder", calls["decoder"] + 1)
    )
    # an untrained model rarely emits EOS: it runs to max_length
    out = model.translate([[3, 4, 5]], max_length=40)
    steps = len(out.tokens[0]) + (1 if len(out.tokens[0]) < 40 else 0)
    assert calls == {"encoder": 1, "decoder": steps}
    assert out.attention is not None and out.attention.shape[1:] == (steps, 3)


def test_training_reduces_the_loss_and_teacher_forcing_ratio_matters(task):
    model = model_for(task, attention="general", teacher_forcing=0.0, label_smoothing=0.1)
    batch = next(iter(task.train_dataloader()))
    model.train()
    free, _ = model.step(batch)
    model.model_config.teacher_forcing = 1.0
    forced, _ = model.step(batch)
    assert not torch.isclose(free, forced)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(50):
        loss, _ = model.step(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.7 * float(forced)


def test_metrics_exact_match_and_bleu():
    exact = ExactMatch()
    exact.update([[1, 2], [3]], [[1, 2], [4]])
    assert float(exact.compute()) == 0.5
    bleu = TokenBLEU(n_gram=4)
    bleu.update([[5, 6, 7, 8, 9]], [[5, 6, 7, 8, 9]])
    assert math.isclose(float(bleu.compute()), 1.0)


def test_validation_metrics_are_logged_for_seq2seq(task):
    model = model_for(task)
    batch = next(iter(task.val_dataloader()))
    _, logits = model.step(batch)
    model.update_metrics(model.val_metrics, batch, logits)
    values = model.compute_metrics(model.val_metrics)
    assert set(values) == {"exact", "bleu", "acc", "ce"}
    assert 0 <= float(values["exact"]) <= 1 and float(values["ce"]) > 0

"""seqlab.models: heads, pooling, masking, metrics, optimisers, TBPTT and sampling."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from seqlab.config import ModelConfig, OptimConfig
from seqlab.errors import ConfigError
from seqlab.models import (
    LanguageModel,
    SequenceClassifier,
    SequenceRegressor,
    SequenceTagger,
    build_model,
    pool,
)
from seqlab.models.metrics import MeanCrossEntropy, classification_metrics
from seqlab.recurrent import Recurrent
from seqlab.tasks.base import IGNORE_INDEX, Baseline, TaskInfo


def info(kind: str, **kw) -> TaskInfo:
    defaults = {
        "classification": dict(
            input_kind="real", input_size=3, num_outputs=4, metric="acc", metric_mode="max"
        ),
        "tagging": dict(
            input_kind="tokens",
            input_size=7,
            vocab_size=7,
            num_outputs=5,
            metric="ce",
            metric_mode="min",
        ),
        "regression": dict(
            input_kind="real",
            input_size=3,
            num_outputs=6,
            target_shape=(2, 3),
            metric="mse",
            metric_mode="min",
        ),
        "language_model": dict(
            input_kind="tokens",
            input_size=11,
            vocab_size=11,
            num_outputs=11,
            metric="ce",
            metric_mode="min",
            itos=tuple("abcdefghijk"),
        ),
    }[kind]
    return TaskInfo(output_kind=kind, **{**defaults, **kw})  # type: ignore[arg-type]


def model_cfg(**kw) -> ModelConfig:
    return ModelConfig(**{"cell": "gru", "hidden_size": 8, **kw})


def real_batch(b=4, t=6, f=3, lengths=(6, 3, 1, 5)):
    torch.manual_seed(0)
    return {"x": torch.randn(b, t, f), "lengths": torch.tensor(lengths)}


# -- construction ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("classification", SequenceClassifier),
        ("tagging", SequenceTagger),
        ("regression", SequenceRegressor),
        ("language_model", LanguageModel),
    ],
)
def test_build_model_picks_the_class_of_the_output_kind(kind, cls):
    model = build_model(model_cfg(), OptimConfig(), info(kind))
    assert type(model) is cls
    assert set(model.val_metrics) | ({"bpc", "ppl"} if kind == "language_model" else set()) >= set(
        model.metric_names
    ) - {"bpc", "ppl"}


def test_token_inputs_go_through_an_embedding_for_every_kind():
    for kind in ("classification", "tagging", "language_model"):
        i = info(kind, input_kind="tokens", input_size=9, vocab_size=9)
        model = build_model(model_cfg(embedding_size=5), OptimConfig(), i)
        assert model.embedding is not None and model.embedding.num_embeddings == 9
        assert model.recurrent.input_size == 5
    real = build_model(model_cfg(), OptimConfig(), info("classification"))
    assert real.embedding is None and real.recurrent.input_size == 3


def test_metric_the_model_cannot_compute_is_a_config_error():
    with pytest.raises(ConfigError, match="headline metric 'mse'"):
        build_model(model_cfg(), OptimConfig(), info("classification", metric="mse"))


def test_bidirectional_language_model_is_refused():
    with pytest.raises(ConfigError) as caught:
        build_model(model_cfg(bidirectional=True), OptimConfig(), info("language_model"))
    assert str(caught.value) == (
        "model.bidirectional cannot be used with a language model: the backward direction "
        "would read the very tokens the model must predict. Drop --bidirectional (or set "
        "model.bidirectional=false)."
    )


# -- pooling and masking ------------------------------------------------------------------------
def test_pooling_uses_only_valid_steps():
    out = torch.arange(2 * 4 * 2, dtype=torch.float).view(2, 4, 2)
    lengths = torch.tensor([4, 2])
    assert torch.equal(pool(out, lengths, "last")[1], out[1, 1])
    assert torch.allclose(pool(out, lengths, "mean")[1], out[1, :2].mean(0))
    assert torch.equal(pool(out, lengths, "max")[1], out[1, :2].amax(0))
    # Garbage past the length changes nothing.
    noisy = out.clone()
    noisy[1, 2:] = 1e6
    for how in ("last", "mean", "max"):
        assert torch.equal(pool(noisy, lengths, how), pool(out, lengths, how))  # type: ignore[arg-type]


def test_bidirectional_last_pooling_takes_the_backward_half_at_step_zero():
    out = torch.randn(2, 5, 6)  # [forward 3 | backward 3]
    lengths = torch.tensor([5, 3])
    pooled = pool(out, lengths, "last", num_directions=2)
    assert torch.equal(pooled[1, :3], out[1, 2, :3])
    assert torch.equal(pooled[1, 3:], out[1, 0, 3:])


def test_classifier_ignores_padding_and_matches_per_sequence_runs():
    model = build_model(model_cfg(pooling="mean"), OptimConfig(), info("classification")).eval()
    batch = real_batch()
    logits = model(batch["x"], batch["lengths"])
    for i, n in enumerate(batch["lengths"].tolist()):
        alone = model(batch["x"][i : i + 1, :n], torch.tensor([n]))
        assert torch.allclose(logits[i], alone[0], atol=1e-6)


def test_tagger_loss_skips_ignored_and_padded_steps():
    model = build_model(model_cfg(), OptimConfig(), info("tagging")).eval()
    x = torch.randint(0, 7, (3, 5))
    y = torch.randint(0, 5, (3, 5))
    y[0, 1] = IGNORE_INDEX
    lengths = torch.tensor([5, 4, 2])
    loss, (_, flat_y) = model.step({"x": x, "y": y, "lengths": lengths})
    logits = model(x, lengths)
    keep = torch.zeros_like(y, dtype=torch.bool)
    for b, n in enumerate(lengths.tolist()):
        keep[b, :n] = True
    keep[0, 1] = False
    expected = F.cross_entropy(logits[keep], y[keep])
    assert torch.allclose(loss, expected)
    assert int((flat_y != IGNORE_INDEX).sum()) == int(keep.sum())


def test_regressor_predicts_the_target_shape():
    model = build_model(model_cfg(), OptimConfig(), info("regression"))
    batch = real_batch()
    batch["y"] = torch.randn(4, 2, 3)
    loss, pred = model.step(batch)
    assert pred.shape == (4, 2, 3) and loss.ndim == 0


# -- metrics -------------------------------------------------------------------------------------
def test_classification_metrics_values():
    metrics = classification_metrics(3)
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    y = torch.tensor([0, 1, 2, IGNORE_INDEX])
    metrics["acc"].update(logits, y)
    metrics["f1"].update(logits, y)
    assert float(metrics["acc"].compute()) == pytest.approx(2 / 3)
    # per-class F1: class 0 → 1, class 1 → 2/3 (precision 1/2, recall 1), class 2 → 0.
    assert float(metrics["f1"].compute()) == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_language_model_metrics_are_ce_bpc_ppl():
    model = build_model(model_cfg(), OptimConfig(), info("language_model"))
    m = model.val_metrics
    m["ce"].update(torch.tensor([1.0, 2.0, 3.0]))
    values = model.compute_metrics(m)
    assert float(values["ce"]) == pytest.approx(2.0)
    assert float(values["bpc"]) == pytest.approx(2.0 / math.log(2))
    assert float(values["ppl"]) == pytest.approx(math.exp(2.0))
    ce = MeanCrossEntropy()
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert float(ce.compute()) == 0.0  # no items: 0, not NaN


# -- optimisers and schedules -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_optimisers_decay_matrices_not_vectors(name):
    model = build_model(
        model_cfg(), OptimConfig(name=name, weight_decay=0.1), info("classification")
    )
    opt = model.make_optimizer()
    assert type(opt).__name__.lower() == name
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    for p in model.parameters():
        assert (id(p) in decayed) == (p.ndim >= 2)


@pytest.fixture(autouse=True)
def _quiet_lightning_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*have no `val_dataloader`.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        yield


def _fit_steps(model, batches, **trainer_kw):
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **trainer_kw,
    )
    trainer.fit(model, train_dataloaders=DataLoader(batches, batch_size=None))
    return trainer


def reg_batches(n=4):
    gen = torch.Generator().manual_seed(0)
    return [
        {
            "x": torch.randn(4, 5, 3, generator=gen),
            "lengths": torch.full((4,), 5),
            "y": torch.randn(4, 2, 3, generator=gen),
        }
        for _ in range(n)
    ]


def test_cosine_schedule_ends_at_min_lr():
    model = build_model(
        model_cfg(), OptimConfig(lr=0.1, scheduler="cosine", min_lr=0.01), info("regression")
    )
    trainer = _fit_steps(model, reg_batches(), max_steps=8, limit_val_batches=0)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01)


def test_plateau_schedule_cuts_after_validations_without_improvement():
    model = build_model(
        model_cfg(),
        OptimConfig(lr=0.1, scheduler="plateau", plateau_patience=0, plateau_factor=0.5),
        info("regression"),
    )
    # Drive the schedule the way on_validation_epoch_end does, with a worsening metric.
    trainer = _fit_steps(model, reg_batches(), max_steps=1, limit_val_batches=0)
    for value in (1.0, 2.0, 3.0):
        model.step_plateau({"val_mse": torch.tensor(value)})
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.025)


# -- language model: TBPTT, clipping, tying, sampling -----------------------------------------------------
def lm_batches(n=3, b=2, t=8, vocab=11):
    """Contiguous batches cut from one token stream per row."""
    gen = torch.Generator().manual_seed(1)
    stream = torch.randint(0, vocab, (b, n * t + 1), generator=gen)
    return [
        {
            "x": stream[:, k * t : (k + 1) * t],
            "y": stream[:, k * t + 1 : (k + 1) * t + 1],
            "lengths": torch.full((b,), t),
        }
        for k in range(n)
    ]


class _Watch(L.Callback):
    def __init__(self):
        self.start_states, self.end_states, self.grad_norms = [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        s = pl_module._train_state
        self.start_states.append(None if s is None else [t.clone() for t in s])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.end_states.append(list(pl_module._train_state))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        norms = [p.grad.norm() for p in pl_module.parameters() if p.grad is not None]
        self.grad_norms.append(float(torch.linalg.vector_norm(torch.stack(norms))))


def test_tbptt_carries_the_detached_state_across_batches_and_chunks():
    model = build_model(
        model_cfg(tbptt_steps=4), OptimConfig(gradient_clip=1e-3), info("language_model")
    )
    watch = _Watch()
    trainer = _fit_steps(model, lm_batches(), max_epochs=1, callbacks=[watch], limit_val_batches=0)
    # Two chunks of 4 steps per batch of 8: one optimiser step per chunk.
    assert trainer.global_step == 6
    assert watch.start_states[0] is None  # reset at the start of the epoch
    for k in (1, 2):  # the next batch starts from the previous batch's final state...
        assert torch.equal(watch.start_states[k][0], watch.end_states[k - 1][0])
        assert not torch.equal(watch.start_states[k][0], torch.zeros_like(watch.start_states[k][0]))
    for states in watch.end_states:  # ...cut from the graph: no backward into earlier chunks
        assert all(s.grad_fn is None and not s.requires_grad for s in states)
    # Manual optimisation clips the gradient norm itself.
    assert len(watch.grad_norms) == 6
    assert max(watch.grad_norms) <= 1e-3 * 1.0001


def test_tied_weights_share_storage_and_projection_bridges_widths():
    tied = build_model(
        model_cfg(tie_weights=True, hidden_size=8, embedding_size=8),
        OptimConfig(),
        info("language_model"),
    )
    assert tied.decoder.weight is tied.embedding.weight
    assert tied.decoder.weight.data_ptr() == tied.embedding.weight.data_ptr()
    assert isinstance(tied.projection, torch.nn.Identity)
    narrow = build_model(
        model_cfg(tie_weights=True, hidden_size=8, embedding_size=4),
        OptimConfig(),
        info("language_model"),
    )
    assert narrow.decoder.weight is narrow.embedding.weight
    assert narrow.projection.in_features == 8 and narrow.projection.out_features == 4
    untied = build_model(model_cfg(), OptimConfig(), info("language_model"))
    assert untied.decoder.weight.data_ptr() != untied.embedding.weight.data_ptr()
    # A shared parameter is counted (and optimised) once.
    assert sum(p.numel() for p in tied.parameters()) < sum(p.numel() for p in untied.parameters())


class _StepCounter:
    """Counts the time steps a Recurrent's cells are run for."""

    def __init__(self, recurrent: Recurrent):
        self.steps = 0
        for cell in recurrent.cells:
            self._wrap(cell)

    def _wrap(self, cell):
        forward, sequence = cell.forward, getattr(cell, "forward_sequence", None)

        def counted_forward(x_t, state):
            self.steps += 1
            return forward(x_t, state)

        def counted_sequence(x, state, lengths=None):
            self.steps += x.shape[1]
            return sequence(x, state, lengths)

        cell.forward = counted_forward
        if sequence is not None:
            cell.forward_sequence = counted_sequence


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_generate_feeds_the_prompt_once_then_one_step_per_token(cell):
    model = build_model(model_cfg(cell=cell, num_layers=2), OptimConfig(), info("language_model"))
    counter = _StepCounter(model.recurrent)
    costs = {}
    for prompt_len, length in [(3, 10), (30, 10), (3, 40)]:
        counter.steps = 0
        out = model.generate(
            [i % 11 for i in range(prompt_len)],
            length,
            temperature=1.0,
            top_k=3,
            generator=torch.Generator().manual_seed(0),
        )
        assert len(out) == length and all(0 <= t < 11 for t in out)
        costs[(prompt_len, length)] = counter.steps
    layers = 2
    # The prompt is read once and every new token but the last costs one step per layer:
    # no re-reading of the prefix, so the cost grows by one step per token, whatever the prompt.
    for (p, n), steps in costs.items():
        assert steps == layers * (p + n - 1)


def test_greedy_generation_matches_a_full_forward_pass():
    model = build_model(model_cfg(num_layers=2), OptimConfig(), info("language_model")).eval()
    prompt = [1, 2, 3, 4]
    out = model.generate(prompt, 12, temperature=0)
    full = torch.tensor([prompt + out[:-1]])
    logits, _ = model(full)
    predicted = logits[0, len(prompt) - 1 :].argmax(-1).tolist()
    assert predicted == out


def test_generate_rejects_bad_arguments():
    model = build_model(model_cfg(), OptimConfig(), info("language_model"))
    for kwargs, match in [
        ({"length": -1}, "length"),
        ({"length": 2, "temperature": -1}, "temperature"),
        ({"length": 2, "top_k": 0}, "top_k"),
    ]:
        with pytest.raises(ConfigError, match=match):
            model.generate([1], **kwargs)
    with pytest.raises(ConfigError, match="empty"):
        model.generate([], 3)
    with pytest.raises(ConfigError, match="ids must lie"):
        model.generate([99], 3)


def test_top_k_beyond_the_vocabulary_is_refused():
    model = build_model(model_cfg(), OptimConfig(), info("language_model"))
    vocab = model.info.num_outputs
    assert len(model.generate([5], 3, top_k=vocab)) == 3  # every token: allowed
    with pytest.raises(ConfigError, match=rf"top_k={vocab + 1} is more than the model's {vocab}"):
        model.generate([5], 3, top_k=vocab + 1)


def test_top_k_one_is_greedy():
    model = build_model(model_cfg(), OptimConfig(), info("language_model"))
    greedy = model.generate([5], 8, temperature=0)
    assert model.generate([5], 8, temperature=1.5, top_k=1) == greedy


def test_baseline_lookup_is_unchanged_by_models():
    i = info("regression", baselines=(Baseline("mse", 0.16, "always 1", "val"),))
    build_model(model_cfg(), OptimConfig(), i)
    assert i.baseline("val").value == 0.16

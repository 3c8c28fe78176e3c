"""The language model's own training path (manual optimisation, truncated BPTT): gradient
accumulation over chunks, clipping of the accumulated gradient, label smoothing of the
training loss only, and the logging cadence. Tiny generated text, a few steps each."""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from seqlab.config import Config
from seqlab.models import LanguageModel, build_model
from seqlab.recurrent import Recurrent
from seqlab.tasks import create_task
from seqlab.training import CSVMetricsLogger, NonFiniteLossPolicy, read_metrics

SEQ_LEN, CHUNK, BATCH = 16, 8, 4


def corpus(tmp_path: Path, chars: int = 4_000) -> Path:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog"]
    rng = random.Random(0)
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(rng.choice(words) for _ in range(chars // 4))[:chars])
    return path


def setup(tmp_path: Path, **model_and_optim) -> tuple[LanguageModel, object]:
    """A small LSTM language model (SGD, no momentum) and its task: two chunks a batch."""
    torch.manual_seed(0)
    task = create_task(
        "charlm", batch_size=BATCH, seed=0, path=str(corpus(tmp_path)), seq_len=SEQ_LEN
    )
    task.setup("fit")
    config = Config()
    config.model.cell, config.model.hidden_size, config.model.embedding_size = "lstm", 16, 8
    config.model.tbptt_steps = CHUNK
    config.optim.name, config.optim.lr, config.optim.momentum = "sgd", 0.5, 0.0
    for key, value in model_and_optim.items():
        section, name = key.split(".")
        setattr(getattr(config, section), name, value)
    model = build_model(config.model, config.optim, task.info)
    assert isinstance(model, LanguageModel)
    return model, task


def trainer(steps: int, **kwargs) -> L.Trainer:
    kwargs.setdefault("limit_val_batches", 0)
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[NonFiniteLossPolicy("stop")],
        **kwargs,
    )


def chunk_gradients(model: LanguageModel, batch: dict, k: int) -> list[torch.Tensor]:
    """By hand: each chunk's mean loss / k, backpropagated within its chunk from the
    detached carried state, summed over the batch's chunks."""
    model.zero_grad()
    state = None
    for start in range(0, SEQ_LEN, CHUNK):
        logits, state = model(batch["x"][:, start : start + CHUNK], state)
        y = batch["y"][:, start : start + CHUNK]
        (F.cross_entropy(logits.flatten(0, 1), y.flatten()) / k).backward()
        state = Recurrent.detach_state(state)
    return [p.grad.clone() for p in model.parameters()]


def test_accumulation_steps_once_per_k_chunks_with_the_summed_gradient(tmp_path):
    model, task = setup(tmp_path, **{"optim.gradient_clip": None})
    model.accumulate_grad_batches = 2
    reference = copy.deepcopy(model)
    batch = next(iter(task.train_dataloader()))
    grads = chunk_gradients(reference, batch, k=2)
    steps = []
    model.on_before_optimizer_step = lambda optimizer: steps.append(1)  # type: ignore[method-assign]
    trainer(1).fit(model, train_dataloaders=task.train_dataloader())
    assert trainer_steps(model) == 1 and len(steps) == 1  # two chunks, one update
    for p, p0, g in zip(model.parameters(), reference.parameters(), grads, strict=True):
        torch.testing.assert_close(p.detach(), p0.detach() - 0.5 * g, atol=1e-6, rtol=1e-5)


def trainer_steps(model: LanguageModel) -> int:
    return int(model.trainer.global_step)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_optimizer_steps_are_chunks_over_k(tmp_path, k):
    model, task = setup(tmp_path)
    model.accumulate_grad_batches = k
    batches = 4  # 8 chunks
    fitted = trainer(-1, max_epochs=1, limit_train_batches=batches)
    fitted.fit(model, train_dataloaders=task.train_dataloader())
    assert fitted.global_step == batches * (SEQ_LEN // CHUNK) // k


def test_clipping_acts_on_the_accumulated_gradient(tmp_path):
    """SGD with lr 1 and a tiny clip moves the weights by exactly the clip norm per step:
    one step for two accumulated chunks (two unaccumulated steps would move up to 2×)."""
    clip = 1e-3
    model, task = setup(tmp_path, **{"optim.gradient_clip": clip, "optim.lr": 1.0})
    model.accumulate_grad_batches = 2
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    trainer(1).fit(model, train_dataloaders=task.train_dataloader())
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(clip, rel=1e-4)


def test_label_smoothing_changes_the_training_loss_only(tmp_path):
    eps = 0.2
    smooth, task = setup(tmp_path, **{"model.label_smoothing": eps})
    plain = copy.deepcopy(smooth)
    plain.model_config = copy.deepcopy(smooth.model_config)
    plain.model_config.label_smoothing = 0.0
    batch = next(iter(task.val_dataloader()))
    vocab = task.info.num_outputs
    # confident, correct logits: smoothing must raise the loss, by its closed form
    logits = F.one_hot(batch["y"], vocab).float() * 8.0
    log_p = logits.log_softmax(-1)
    ce = -log_p.gather(-1, batch["y"][..., None]).mean()
    expected = (1 - eps) * ce + eps * (-log_p.mean(-1)).mean()
    assert float(smooth.training_loss(logits, batch["y"])) == pytest.approx(float(expected))
    assert float(smooth.training_loss(logits, batch["y"])) > float(ce) + 0.5
    assert float(plain.training_loss(logits, batch["y"])) == pytest.approx(float(ce))
    # evaluation (bits per character, nats) is the true cross-entropy with either setting
    smooth.eval(), plain.eval()
    with torch.no_grad():
        a, _ = smooth.step(batch)
        smooth._eval_state = None
        b, _ = plain.step(batch)
    assert float(a) == float(b) and math.isfinite(float(a))


def test_train_loss_is_logged_at_the_logging_cadence(tmp_path):
    """``train_loss`` reaches the logger every ``log_every_n_steps`` batches, and at the
    batch where a callback (a time budget, Ctrl-C) stops training: each row holds its own
    batch's loss, not the last one logged before it."""
    model, task = setup(tmp_path)
    losses: list[float] = []

    class StopAtFifthBatch(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))
            trainer.should_stop = batch_idx == 4

    fitted = trainer(-1, max_epochs=1, limit_train_batches=7, log_every_n_steps=3)
    fitted.loggers = [CSVMetricsLogger(tmp_path / "metrics.csv")]
    fitted.callbacks.append(StopAtFifthBatch())
    fitted.fit(model, train_dataloaders=task.train_dataloader())
    rows = [r for r in read_metrics(tmp_path / "metrics.csv") if r.get("train_loss") is not None]
    assert [r["step"] for r in rows] == [2, 4]  # batch 3 (the cadence), batch 5 (the stop)
    assert [r["train_loss"] for r in rows] == pytest.approx([losses[2], losses[4]])
    assert losses[2] != losses[4]
    assert fitted.global_step == 10 and model._window_chunks == 0


@pytest.mark.parametrize("batches", ["contiguous", "windows"])
def test_state_is_carried_only_when_batches_continue(tmp_path, batches):
    """With charlm's ``batches=windows`` every batch, in training and in evaluation,
    starts from a fresh state; contiguous batches carry it (truncated BPTT)."""
    task = create_task(
        "charlm", batch_size=BATCH, path=str(corpus(tmp_path)), seq_len=SEQ_LEN, batches=batches
    )
    task.setup("fit")
    config = Config()
    config.model.cell, config.model.hidden_size, config.model.embedding_size = "lstm", 16, 8
    model = build_model(config.model, config.optim, task.info)
    fresh: list[bool] = []
    forward = model.forward

    def spy(x, state=None):
        fresh.append(state is None)
        return forward(x, state)

    model.forward = spy  # type: ignore[method-assign]
    fitted = trainer(3, limit_val_batches=3, val_check_interval=3)
    fitted.fit(
        model, train_dataloaders=task.train_dataloader(), val_dataloaders=task.val_dataloader()
    )
    assert len(fresh) == 6  # 3 training batches, then 3 validation batches
    carried = [True, False, False, True, False, False]
    assert fresh == ([True] * 6 if batches == "windows" else carried)

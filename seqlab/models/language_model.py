"""Next-token prediction with truncated backpropagation through time, and sampling.

Batches follow the language-model convention of :mod:`seqlab.tasks.base`: row b of batch
k + 1 continues row b of batch k, so the recurrent state is carried from batch to batch
(and from chunk to chunk within a batch when ``model.tbptt_steps`` splits it) and
detached in between: gradients flow back at most one chunk, the state flows forward
through the whole epoch. Lightning 2 removed its built-in TBPTT; as its documentation
recommends, this module uses manual optimisation with one optimiser step per chunk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric

from seqlab.cells.base import State, like_state, state_tensors
from seqlab.config import ModelConfig, OptimConfig
from seqlab.errors import ConfigError
from seqlab.models.base import Batch, SequenceModel
from seqlab.models.metrics import MeanCrossEntropy, derived_from_ce
from seqlab.recurrent import Recurrent
from seqlab.tasks.base import IGNORE_INDEX, TaskInfo
from seqlab.validation import at_least, int_at_least, positive_int

_STATE_KEY = "seqlab_tbptt_state"


class LanguageModel(SequenceModel):
    """Embedding → ``seqlab.Recurrent`` → (projection →) softmax over the vocabulary.

    Shapes: ``x`` (B, T) int64 token ids, ``y`` (B, T) next-token ids; ``forward(x,
    state)`` returns logits (B, T, vocab) and the final state. With ``model.tie_weights``
    the softmax layer shares the embedding matrix (Press & Wolf 2017; Inan et al. 2017);
    when the recurrent output is not as wide as the embedding, a linear projection maps
    it to the embedding width first.

    Training (manual optimisation): each batch is split along time into chunks of
    ``model.tbptt_steps`` steps (one chunk when unset); for each chunk: forward from the
    carried state, the loss (with ``model.label_smoothing``), backward, detach the state.
    Every :attr:`accumulate_grad_batches` chunks (and at the end of an epoch) the summed
    gradient, each chunk's loss scaled by 1/k, is clipped to ``optim.gradient_clip`` and
    the optimiser steps once; the learning-rate schedule counts these optimiser steps.
    The training state is reset at the start of every epoch and restored exactly on
    resume (it is saved in checkpoints, one per process; a resume inside an accumulation
    window starts a new window). Validation and test carry their own state across their
    batches, reset at each evaluation; they score the plain cross-entropy. When the task's
    batches do not continue one another (``info.batches_continue`` False, e.g. charlm's
    ``batches=windows``), every batch, in training and evaluation, starts from a fresh
    state instead.

    Metrics: ``ce`` (nats per token), ``bpc`` (ce / ln 2), ``ppl`` (exp ce).
    """

    output_kind: ClassVar[str] = "language_model"

    def __init__(self, model: ModelConfig, optim: OptimConfig, info: TaskInfo) -> None:
        if model.bidirectional:
            raise ConfigError(
                "model.bidirectional cannot be used with a language model: the backward "
                "direction would read the very tokens the model must predict. Drop "
                "--bidirectional (or set model.bidirectional=false)."
            )
        if info.input_kind != "tokens":
            raise ConfigError(
                f"a language model needs token inputs, but the task's inputs are "
                f"'{info.input_kind}'."
            )
        super().__init__(model, optim, info)
        self.automatic_optimization = False
        assert self.embedding is not None
        width = self.embedding.embedding_dim
        out = self.recurrent.output_size
        self.projection: nn.Module = nn.Identity()
        if model.tie_weights:
            if out != width:
                self.projection = nn.Linear(out, width)
            self.decoder = nn.Linear(width, info.num_outputs)
            self.decoder.weight = self.embedding.weight
        else:
            self.decoder = nn.Linear(out, info.num_outputs)
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
            # Untied, the embedding only feeds the recurrent layer: PyTorch's N(0, 1) rows.
            # The base's small uniform rows (right for a tied softmax) reach the cell ~17×
            # weaker than its recurrent input, and it learns to read them slowly: measured
            # on the charlm preset (plain loop, 120 steps, nanoGPT's estimator), 2.42
            # nats/char with them, 2.10 with N(0, 1) (an nn.LSTM model: 2.06).
            nn.init.normal_(self.embedding.weight)
        nn.init.zeros_(self.decoder.bias)
        self._train_state: list[State] | None = None
        self._eval_state: list[State] | None = None
        self._restored_state: dict[str, Any] | None = None
        self._chunks_per_batch = 1
        self._accumulate = 1
        self._window_chunks = 0  # chunks whose gradients are summed since the last update
        self._window_usable = True  # False: a loss of this window was NaN/Inf, no update

    @property
    def accumulate_grad_batches(self) -> int:
        """Chunks (of truncated BPTT, one per batch without ``tbptt_steps``) whose gradients
        are summed into one optimiser step: ``trainer.accumulate_grad_batches``, which
        Lightning refuses under manual optimisation, so ``fit`` hands it to the model."""
        return self._accumulate

    @accumulate_grad_batches.setter
    def accumulate_grad_batches(self, value: int) -> None:
        self._accumulate = positive_int("trainer.accumulate_grad_batches", value)

    def make_metrics(self) -> dict[str, Metric]:
        return {"ce": MeanCrossEntropy()}

    def compute_metrics(self, metrics: nn.ModuleDict) -> dict[str, Tensor]:
        ce = metrics["ce"].compute()
        return {"ce": ce, **derived_from_ce(ce)}

    def forward(self, x: Tensor, state: list[State] | None = None) -> tuple[Tensor, list[State]]:
        outputs, state = self.encode(x, None, state)
        logits = self.decoder(self.projection(self.output_dropout(outputs)))
        return logits, state

    def _fits(self, state: list[State] | None, batch_size: int) -> list[State] | None:
        """The carried state if the task's batches continue one another and it belongs
        to batches of this size (else start afresh)."""
        if not self.info.batches_continue:
            return None
        if state is None or state_tensors(state[0])[0].shape[0] != batch_size:
            return None
        return state

    def token_losses(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            y.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="none",
        )

    # -- training: truncated BPTT with manual optimisation --------------------------------------
    def on_train_start(self) -> None:
        if self._restored_state is not None:
            self._train_state = self._unpack_state(self._restored_state)
            self._restored_state = None

    def on_train_epoch_start(self) -> None:
        self._train_state = None

    def training_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Mean cross-entropy of a chunk's logits (B, T, V) against its targets (B, T), with
        ``model.label_smoothing`` (training only: evaluation scores the true distribution)."""
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            y.reshape(-1),
            ignore_index=IGNORE_INDEX,
            label_smoothing=self.model_config.label_smoothing,
        )

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        optimizer = self.optimizers()
        x, y = batch["x"], batch["y"]
        chunk = self.model_config.tbptt_steps or x.shape[1]
        self._chunks_per_batch = max(1, math.ceil(x.shape[1] / chunk))
        state = self._fits(self._train_state, x.shape[0])
        k = self.accumulate_grad_batches
        losses = []
        for start in range(0, x.shape[1], chunk):
            logits, state = self(x[:, start : start + chunk], state)
            loss = self.training_loss(logits, y[:, start : start + chunk])
            # Asked before the backward, so that a "stop" raises with the weights intact;
            # the backward runs either way so that every DDP process joins the all-reduce.
            usable = self.loss_is_usable(loss, batch_idx)
            self.manual_backward(loss / k if k > 1 else loss)
            self._window_chunks += 1
            self._window_usable &= usable
            if usable:
                state = Recurrent.detach_state(state)
                losses.append(loss.detach())
            else:
                state = None  # a carried NaN state would poison every later chunk
            if self._window_chunks >= k:
                self._update(optimizer)
        if batch_idx + 1 >= self.trainer.num_training_batches and self._window_chunks:
            self._update(optimizer)  # the epoch's last batch: no gradient is carried over
        self._train_state = state if self.info.batches_continue else None
        # a batch whose chunks were all skipped logs its NaN/Inf loss: the record says so
        loss = torch.stack(losses).mean() if len(losses) > 1 else (losses or [loss.detach()])[0]
        # Logged at every batch, though Lightning writes it every log.every_n_steps: it also
        # writes a row at the batch a limit stops training, which must hold that batch's
        # loss, not the last one logged. (self.log costs too little to show in a profile.)
        self.log(
            "train_loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=x.shape[0]
        )
        return loss

    def _update(self, optimizer: Any) -> None:
        """End an accumulation window: clip the summed gradient and step (or, when a loss
        of the window was not finite, drop it), then clear the gradients."""
        if self._window_usable:
            clip = self.optim_config.gradient_clip
            if clip is not None:
                self.clip_gradients(
                    optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm"
                )
            # the rate was set by on_before_optimizer_step (base.set_learning_rate); the
            # only scheduler, plateau, is stepped once per validation
            optimizer.step()
        optimizer.zero_grad()
        self._window_chunks, self._window_usable = 0, True

    def total_optimizer_steps(self) -> int:
        trainer = self.trainer
        if trainer.max_epochs == -1 or trainer.num_training_batches == float("inf"):
            return max(1, trainer.max_steps)
        chunks = int(trainer.num_training_batches) * self._chunks_per_batch
        per_epoch = math.ceil(chunks / self.accumulate_grad_batches)
        total = per_epoch * int(trainer.max_epochs)
        return max(1, min(total, trainer.max_steps) if trainer.max_steps != -1 else total)

    # -- evaluation: state carried across the evaluation's batches -------------------------------
    def on_validation_epoch_start(self) -> None:
        self._eval_state = None

    def on_test_epoch_start(self) -> None:
        self._eval_state = None

    def step(self, batch: Batch) -> tuple[Tensor, Tensor]:
        x, y = batch["x"], batch["y"]
        logits, state = self(x, self._fits(self._eval_state, x.shape[0]))
        self._eval_state = Recurrent.detach_state(state)
        losses = self.token_losses(logits, y)
        scored = y.reshape(-1) != IGNORE_INDEX
        return losses[scored].mean(), losses[scored]

    def update_metrics(self, metrics: nn.ModuleDict, batch: Batch, out: Tensor) -> None:
        metrics["ce"].update(out)

    # -- the carried state in checkpoints (exact resume mid-epoch) ---------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Every process runs this (only rank 0 writes), so each process's state is gathered.
        state = self._train_state
        if state is None:
            return
        world = self.trainer.world_size
        tensors = []
        for s in state:
            for t in state_tensors(s):
                gathered = self.all_gather(t) if world > 1 else t.unsqueeze(0)
                tensors.append(gathered.detach().cpu())
        checkpoint[_STATE_KEY] = {
            "world_size": world,
            "arity": [0 if isinstance(s, Tensor) else len(s) for s in state],
            "tensors": tensors,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._restored_state = checkpoint.get(_STATE_KEY)

    def _unpack_state(self, saved: dict[str, Any]) -> list[State] | None:
        if saved.get("world_size") != self.trainer.world_size:
            return None  # a different number of processes reads different streams
        rank = self.trainer.global_rank
        tensors = iter(t[rank].to(self.device) for t in saved["tensors"])
        state: list[State] = []
        for arity in saved["arity"]:
            parts = [next(tensors) for _ in range(max(arity, 1))]
            state.append(parts[0] if arity == 0 else like_state((parts[0],), parts))
        return state

    # -- sampling --------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        prompt: Sequence[int] | Tensor,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Sample ``length`` token ids after ``prompt`` (a non-empty sequence of ids).

        The prompt is read once; then each new token is one recurrent step from the carried
        state, so a token costs the same however long the prompt and the sample are.
        ``temperature`` divides the logits (0: always the most likely token); ``top_k``
        keeps the k most likely tokens before sampling. ``generator`` (a CPU
        ``torch.Generator``) makes sampling reproducible.
        """
        int_at_least("length", length, 0)
        at_least("temperature", temperature, 0)  # 0: always the most likely token
        vocab = self.info.num_outputs
        if top_k is not None:
            positive_int("top_k", top_k, what=f"≤ {vocab}, or None for all")
            if top_k > vocab:
                raise ConfigError(
                    f"top_k={top_k} is more than the model's {vocab} tokens. Pass a k from "
                    f"1 to {vocab}, or None (no --top-k) to sample among all of them."
                )
        ids = torch.as_tensor(prompt, dtype=torch.long, device=self.device).reshape(1, -1)
        if ids.numel() == 0:
            raise ConfigError("the prompt is empty; give at least one token to start from.")
        if int(ids.min()) < 0 or int(ids.max()) >= vocab:
            raise ConfigError(f"prompt token ids must lie in [0, {vocab}), got {ids.tolist()[0]}.")
        was_training = self.training
        self.eval()
        try:
            logits, state = self(ids)
            last = logits[:, -1]
            out: list[int] = []
            for i in range(length):
                token = sample_token(last, temperature, top_k, generator)
                out.append(token)
                if i + 1 < length:
                    step = torch.tensor([[token]], dtype=torch.long, device=self.device)
                    logits, state = self(step, state)
                    last = logits[:, -1]
            return out
        finally:
            self.train(was_training)


def sample_token(
    logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> int:
    """One token id from logits (1, V): greedy at temperature 0, else softmax(logits / T)
    restricted to the ``top_k`` most likely tokens."""
    logits = logits.reshape(-1).float().cpu()
    if temperature == 0:
        return int(torch.argmax(logits))
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))

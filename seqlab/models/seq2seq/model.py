"""The encoder–decoder LightningModule (output kind ``seq2seq``) over any registered cells.

Batches follow :mod:`seqlab.tasks.seq2seq_data`: ``x`` (B, S) source ids (0 = padding),
``lengths`` (B,) source lengths, ``y`` (B, L) target ids ending with ``EOS``, padded with
``IGNORE_INDEX``. The decoder reads ``BOS`` then the previous target token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric

from seqlab.cells.base import State, like_state, state_tensors
from seqlab.cells.registry import create_cell
from seqlab.config import ModelConfig, OptimConfig
from seqlab.errors import ConfigError
from seqlab.models.base import Batch, SequenceModel
from seqlab.models.metrics import seq2seq_metrics
from seqlab.models.seq2seq.attention import Memory, make_attention
from seqlab.models.seq2seq.bridge import Bridge
from seqlab.models.seq2seq.search import Decoded, beam_search, greedy
from seqlab.tasks.base import IGNORE_INDEX, TaskInfo
from seqlab.tasks.seq2seq_data import BOS, EOS, PAD


@dataclass
class Carry:
    """What the decoder keeps between steps: one state per layer and the fed-back vector."""

    states: list[State]
    feed: Tensor | None

    def select(self, index: Tensor) -> Carry:
        """The rows ``index`` of every tensor (beam search reorders hypotheses)."""
        states = [
            like_state(s, [t.index_select(0, index) for t in state_tensors(s)]) for s in self.states
        ]
        feed = self.feed.index_select(0, index) if self.feed is not None else None
        return Carry(states, feed)


class Seq2Seq(SequenceModel):
    """Encoder ``[embedding → seqlab.Recurrent]``, bridge, attention and a stepped decoder.

    The encoder is any registered cell (layers, bidirectional, lengths); the decoder a
    stack of ``model.num_layers`` cells of ``model.decoder_cell`` (default: the encoder's
    cell) of width H = ``model.hidden_size``, stepped one token at a time from the carried
    state. Attention comes in the two classic decoders:

    - ``additive`` (Bahdanau et al. 2015; PyTorch's seq2seq tutorial): the previous top
      output s_{t-1} queries the encoder outputs, the context c_t joins the token's
      embedding as the first layer's input, and the logits read [s_t; c_t];
    - ``dot`` / ``general`` (Luong et al. 2015): the new output h_t queries, h̃_t =
      tanh(W_c [h_t; c_t]) gives the logits and is fed into the next step next to the
      token's embedding (input feeding).

    Without attention the decoder sees the source only through its initial state
    (Sutskever et al. 2014).

    Training: teacher forcing with probability ``model.teacher_forcing`` per step and
    example (else the model's own most likely previous token), cross-entropy with
    ``model.label_smoothing``. Evaluation: teacher-forced token accuracy and
    cross-entropy, and greedy decoding for exact match and BLEU.
    """

    output_kind: ClassVar[str] = "seq2seq"

    def __init__(self, model: ModelConfig, optim: OptimConfig, info: TaskInfo) -> None:
        if info.input_kind != "tokens":
            raise ConfigError("a seq2seq model needs token inputs (a source vocabulary).")
        super().__init__(model, optim, info)
        hidden = model.hidden_size
        width = model.embedding_size or hidden
        self.target_embedding = nn.Embedding(info.num_outputs, width, padding_idx=PAD)
        nn.init.uniform_(self.target_embedding.weight, -0.1, 0.1)
        memory_size = self.recurrent.output_size
        self.attention = make_attention(model.attention, hidden, memory_size)
        # Bahdanau: the context enters the first layer and the readout; Luong: h̃ is fed.
        self.bahdanau = model.attention == "additive"
        luong = self.attention is not None and not self.bahdanau
        feed = memory_size if self.bahdanau else hidden if luong else 0
        name = model.decoder_cell or model.cell
        options = model.cell_options if name == model.cell else {}
        self.decoder_cells = nn.ModuleList(
            create_cell(name, width + feed if i == 0 else hidden, hidden, **options)
            for i in range(model.num_layers)
        )
        self.bridge = Bridge(
            self.recurrent.initial_state(1),
            self.decoder_templates(1),
            self.recurrent.num_directions,
        )
        self.combine = nn.Linear(hidden + memory_size, hidden) if luong else None
        readout = hidden + memory_size if self.bahdanau else hidden
        self.output = nn.Linear(readout, info.num_outputs)
        self.max_length = int(info.extra.get("max_target_length", 50)) + 1

    def decoder_templates(self, batch: int, like: Tensor | None = None) -> list[State]:
        kw = {} if like is None else {"device": like.device, "dtype": like.dtype}
        return [c.initial_state(batch, **kw) for c in self.decoder_cells]

    def make_metrics(self) -> dict[str, Metric]:
        return seq2seq_metrics(self.info.num_outputs)

    # -- the network ------------------------------------------------------------------------
    def start(self, x: Tensor, lengths: Tensor | None) -> tuple[Carry, Memory | None]:
        """Encode the source once: the decoder's first carry and the attention memory."""
        outputs, finals = self.encode(x, lengths)
        states = self.bridge(finals, self.decoder_templates(x.shape[0], outputs))
        if self.attention is None:
            return Carry(states, None), None
        memory = self.attention.prepare(outputs, lengths)
        hidden = self.model_config.hidden_size
        feed = outputs.new_zeros(x.shape[0], hidden)
        top = state_tensors(states[-1])[0]
        if self.bahdanau and top.shape[-1] == hidden:
            feed = top  # the first query: the decoder's initial output (h of GRU and LSTM)
        return Carry(states, feed), memory

    def decode_step(
        self, tokens: Tensor, carry: Carry, memory: Memory | None
    ) -> tuple[Tensor, Carry, Tensor | None]:
        """Logits (N, V) for the next token after ``tokens`` (N,), the new carry, weights."""
        inp = self.target_embedding(tokens)
        if self.attention is None or memory is None or carry.feed is None:
            top, states = self.run_layers(inp, carry.states)
            return self.output(self.output_dropout(top)), Carry(states, None), None
        if self.bahdanau:
            # the query is the previous output s_{t-1}, carried from the last step
            context, weights = self.attention(carry.feed, memory)
            top, states = self.run_layers(torch.cat([inp, context], -1), carry.states)
            readout = torch.cat([top, context], -1)
            return self.output(self.output_dropout(readout)), Carry(states, top), weights
        assert self.combine is not None
        top, states = self.run_layers(torch.cat([inp, carry.feed], -1), carry.states)
        context, weights = self.attention(top, memory)
        attended = torch.tanh(self.combine(torch.cat([top, context], -1)))
        return self.output(self.output_dropout(attended)), Carry(states, attended), weights

    def run_layers(self, inp: Tensor, states: list[State]) -> tuple[Tensor, list[State]]:
        """One step of the decoder's stack: the top output (N, H) and the new states."""
        new_states = []
        last = len(self.decoder_cells) - 1
        for i, (cell, state) in enumerate(zip(self.decoder_cells, states, strict=True)):
            inp, new_state = cell(inp, state)
            new_states.append(new_state)
            if i < last and self.model_config.dropout > 0:
                inp = F.dropout(inp, self.model_config.dropout, self.training)
        return inp, new_states

    def forward(self, x: Tensor, lengths: Tensor | None, y: Tensor) -> Tensor:
        """Logits (B, L, V) for targets ``y`` (B, L), teacher-forced (ratio as configured)."""
        carry, memory = self.start(x, lengths)
        gold = y.masked_fill(y == IGNORE_INDEX, PAD)
        tokens = torch.full_like(gold[:, 0], BOS)
        ratio = self.model_config.teacher_forcing if self.training else 1.0
        logits = []
        for t in range(y.shape[1]):
            out, carry, _ = self.decode_step(tokens, carry, memory)
            logits.append(out)
            tokens = gold[:, t]
            if ratio < 1.0:
                own = out.argmax(-1)
                keep = torch.rand(tokens.shape, device=tokens.device) < ratio
                tokens = torch.where(keep, tokens, own)
        return torch.stack(logits, 1)

    # -- training and evaluation ----------------------------------------------------------------
    def step(self, batch: Batch) -> tuple[Tensor, Tensor]:
        logits = self(batch["x"], batch["lengths"], batch["y"])
        smoothing = self.model_config.label_smoothing if self.training else 0.0
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            batch["y"].reshape(-1),
            ignore_index=IGNORE_INDEX,
            label_smoothing=smoothing,
        )
        return loss, logits

    def update_metrics(self, metrics: nn.ModuleDict, batch: Batch, out: Tensor) -> None:
        y = batch["y"]
        flat_logits, flat_y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
        scored = flat_y != IGNORE_INDEX
        metrics["acc"].update(flat_logits, flat_y)
        losses = F.cross_entropy(flat_logits[scored], flat_y[scored], reduction="none")
        metrics["ce"].update(losses)
        hyps = self.decode(batch["x"], batch["lengths"]).tokens
        refs = [[int(t) for t in row if t != IGNORE_INDEX and t != EOS] for row in y.tolist()]
        metrics["exact"].update(hyps, refs)
        metrics["bleu"].update(hyps, refs)

    # -- decoding -------------------------------------------------------------------------------
    @staticmethod
    def output_log_probs(logits: Tensor) -> Tensor:
        """Log-probabilities (N, V) of the next token; ``<pad>`` and ``<bos>`` are never output."""
        logits = logits.float().clone()
        logits[:, PAD] = float("-inf")
        logits[:, BOS] = float("-inf")
        return logits.log_softmax(-1)

    @torch.no_grad()
    def decode(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        *,
        beam: int = 1,
        max_length: int | None = None,
        length_penalty: float = 0.0,
    ) -> Decoded:
        """Decode a batch of sources ``x`` (B, S): greedy (``beam=1``) or beam search.

        The source is encoded once; each output token is then one decoder step from the
        carried state. ``max_length`` defaults to the longest training target + 1.
        """
        limit = max_length or self.max_length
        carry, memory = self.start(x, lengths)
        if beam == 1:

            def step(tokens: Tensor, c: Carry) -> tuple[Tensor, Carry, Tensor | None]:
                logits, c, w = self.decode_step(tokens, c, memory)
                return self.output_log_probs(logits), c, w

            return greedy(step, carry, x.shape[0], BOS, EOS, limit)
        if not isinstance(beam, int) or beam < 1:
            raise ConfigError(f"beam width must be a positive integer, got {beam!r}.")
        memory_k = memory.repeat(beam) if memory is not None else None
        carry_k = carry.select(torch.arange(x.shape[0], device=x.device).repeat_interleave(beam))

        def beam_step(tokens: Tensor, c: Carry) -> tuple[Tensor, Carry, Tensor | None]:
            logits, c, w = self.decode_step(tokens, c, memory_k)
            return self.output_log_probs(logits), c, w

        return beam_search(
            beam_step,
            carry_k,
            lambda c, index: c.select(index),
            x.shape[0],
            beam,
            BOS,
            EOS,
            limit,
            length_penalty,
        )

    @torch.no_grad()
    def translate(
        self,
        sources: list[list[int]],
        *,
        beam: int = 1,
        max_length: int | None = None,
        length_penalty: float = 0.0,
    ) -> Decoded:
        """Decode source id lists (each non-empty) in one padded batch, in eval mode."""
        if not sources or any(len(s) == 0 for s in sources):
            raise ConfigError("every source must hold at least one token.")
        lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)
        x = torch.zeros(len(sources), int(lengths.max()), dtype=torch.long)
        for i, s in enumerate(sources):
            x[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        was_training = self.training
        self.eval()
        try:
            return self.decode(
                x.to(self.device),
                lengths,
                beam=beam,
                max_length=max_length,
                length_penalty=length_penalty,
            )
        finally:
            self.train(was_training)

    def sample_translations(self, batch: Batch, n: int = 4) -> list[dict[str, Any]]:
        """Greedy outputs for the first ``n`` sources of ``batch``, for people to read.

        Each row: ``source``, ``reference``, ``output`` (text), ``source_tokens``,
        ``output_tokens`` and ``attention`` (len(output_tokens) + 1 rows, the last for
        ``EOS``, of len(source_tokens) weights; ``None`` without attention).
        """
        src_itos, tgt_itos = self.info.itos or (), self.info.extra.get("target_itos", ())
        tokens = str(self.info.extra.get("tokens", "char"))
        join = "".join if tokens == "char" else " ".join
        rows = []
        sources = [
            row[: int(length)].tolist()
            for row, length in zip(batch["x"][:n], batch["lengths"][:n], strict=True)
        ]
        decoded = self.translate(sources)
        for i, (src, out) in enumerate(zip(sources, decoded.tokens, strict=True)):
            ref = [t for t in batch["y"][i].tolist() if t not in (IGNORE_INDEX, EOS)]
            weights = None
            if decoded.attention is not None:
                weights = decoded.attention[i, : len(out) + 1, : len(src)].tolist()
            rows.append(
                {
                    "source": join(src_itos[t] for t in src),
                    "reference": join(tgt_itos[t] for t in ref),
                    "output": join(tgt_itos[t] for t in out),
                    "source_tokens": [src_itos[t] for t in src],
                    "output_tokens": [tgt_itos[t] for t in out],
                    "attention": weights,
                }
            )
        return rows

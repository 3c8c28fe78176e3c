"""Attention over the encoder's outputs: additive (Bahdanau) and dot / general (Luong).

Each variant scores every source position against the decoder's query, masks the padded
positions (their weight is exactly zero) and returns the weighted sum of the encoder
outputs. The part of the score that depends on the source alone is computed once per
source sentence by :meth:`Attention.prepare`, so each decoded token costs one query
projection and one pass over the source positions, never a re-encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqlab.cells.lengths import length_mask
from seqlab.errors import ConfigError

ATTENTIONS = ("none", "additive", "dot", "general")


@dataclass
class Memory:
    """The encoder's outputs as attention reads them.

    Attributes:
        values: encoder outputs (B, S, E), summed with the attention weights.
        keys: what queries are scored against, (B, S, K) (``values`` projected once).
        mask: (B, S) bool, True at valid (non-padded) source positions.
    """

    values: Tensor
    keys: Tensor
    mask: Tensor

    def repeat(self, times: int) -> Memory:
        """Every row repeated ``times`` times in place (rows b*times ... b*times+times-1)."""
        return Memory(
            self.values.repeat_interleave(times, 0),
            self.keys.repeat_interleave(times, 0),
            self.mask.repeat_interleave(times, 0),
        )


class Attention(nn.Module):
    """Base: ``prepare`` once per source, then ``forward(query, memory)`` per target step.

    Shapes: ``query`` (B, H) decoder output; returns ``context`` (B, E) and ``weights``
    (B, S), zero at padded positions, summing to 1 over the valid ones.
    """

    def project_keys(self, values: Tensor) -> Tensor:
        return values

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        raise NotImplementedError

    def prepare(self, values: Tensor, lengths: Tensor | None) -> Memory:
        """Memory for encoder outputs ``values`` (B, S, E) with valid ``lengths`` (B,)."""
        batch, steps = values.shape[0], values.shape[1]
        if lengths is None:
            mask = torch.ones(batch, steps, dtype=torch.bool, device=values.device)
        else:
            mask = length_mask(lengths.to(values.device), steps)
        return Memory(values, self.project_keys(values), mask)

    def forward(self, query: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        scores = self.score(query, memory.keys).masked_fill(~memory.mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights.unsqueeze(1), memory.values).squeeze(1)
        return context, weights


class AdditiveAttention(Attention):
    """Bahdanau et al. (2015): score = vᵀ tanh(W_k k_s + W_q q), with an A-wide layer."""

    def __init__(self, query_size: int, value_size: int, attention_size: int | None = None):
        super().__init__()
        size = attention_size or query_size
        self.key_layer = nn.Linear(value_size, size, bias=False)
        self.query_layer = nn.Linear(query_size, size)
        self.v = nn.Linear(size, 1, bias=False)

    def project_keys(self, values: Tensor) -> Tensor:
        return self.key_layer(values)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return self.v(torch.tanh(keys + self.query_layer(query).unsqueeze(1))).squeeze(-1)


class DotAttention(Attention):
    """Luong et al. (2015), *dot*: score = qᵀ k_s (query and encoder outputs equally wide)."""

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)


class GeneralAttention(DotAttention):
    """Luong et al. (2015), *general*: score = qᵀ W k_s (W k_s computed once per source)."""

    def __init__(self, query_size: int, value_size: int) -> None:
        super().__init__()
        self.key_layer = nn.Linear(value_size, query_size, bias=False)

    def project_keys(self, values: Tensor) -> Tensor:
        return self.key_layer(values)


def make_attention(kind: str, query_size: int, value_size: int) -> Attention | None:
    """The attention named ``kind`` (``None`` for ``"none"``)."""
    if kind == "none":
        return None
    if kind == "additive":
        return AdditiveAttention(query_size, value_size)
    if kind == "general":
        return GeneralAttention(query_size, value_size)
    if kind == "dot":
        if query_size != value_size:
            raise ConfigError(
                f"dot attention needs encoder outputs as wide as the decoder ({query_size}), "
                f"but they are {value_size} wide (a bidirectional encoder doubles them); "
                f"use model.attention=general or additive."
            )
        return DotAttention()
    raise ConfigError(f"unknown attention {kind!r}; use one of {', '.join(ATTENTIONS)}.")

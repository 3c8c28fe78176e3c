"""Batched decoding: greedy and beam search over any step function.

A *step function* takes the previous tokens (N,) and a carry (whatever the decoder keeps
between steps: recurrent states, the input-feeding vector) and returns log-probabilities
(N, V), the new carry and the attention weights (N, S) or ``None``. Each step is one
decoder step from the carried state: a token costs the same however long the output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from seqlab.validation import at_least, positive_int

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any, Tensor | None]]
ReorderFn = Callable[[Any, Tensor], Any]


@dataclass
class Decoded:
    """Decoder outputs for a batch.

    Attributes:
        tokens: per example, the output token ids without the end-of-sequence token.
        attention: (B, L, S) attention weights of greedy decoding at each output step
            (``None`` without attention, or for beam search).
    """

    tokens: list[list[int]]
    attention: Tensor | None = None


def cut_at(ids: list[int], eos: int) -> list[int]:
    """``ids`` up to (without) the first ``eos``."""
    return ids[: ids.index(eos)] if eos in ids else ids


def greedy(
    step: StepFn, carry: Any, batch_size: int, bos: int, eos: int, max_length: int
) -> Decoded:
    """The most likely token at every step, for a whole batch, until all emitted ``eos``."""
    positive_int("max_length", max_length)
    device = _device_of(carry)
    tokens = torch.full((batch_size,), bos, dtype=torch.long, device=device)
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)
    out, weights = [], []
    for _ in range(max_length):
        log_probs, carry, w = step(tokens, carry)
        tokens = log_probs.argmax(-1)
        out.append(tokens)
        if w is not None:
            weights.append(w)
        done |= tokens == eos
        if bool(done.all()):
            break
    ids = torch.stack(out, 1).tolist()
    attention = torch.stack(weights, 1) if weights else None
    return Decoded([cut_at(row, eos) for row in ids], attention)


def beam_search(
    step: StepFn,
    carry: Any,
    reorder: ReorderFn,
    batch_size: int,
    width: int,
    bos: int,
    eos: int,
    max_length: int,
    length_penalty: float = 0.0,
) -> Decoded:
    """The best of ``width`` hypotheses per example (Sutskever et al. 2014; Wu et al. 2016).

    ``carry`` must already hold ``width`` rows per example (rows b*width ... b*width +
    width − 1); ``reorder(carry, index)`` picks rows. Hypotheses are ranked by the sum
    of their log-probabilities while searching and, at the end, by that sum divided by
    the GNMT length penalty ((5 + length) / 6) ** ``length_penalty`` (0: no penalty).
    A finished hypothesis keeps its score. Width 1 is greedy decoding.
    """
    positive_int("beam width", width, what="(1: greedy)")
    positive_int("max_length", max_length)
    at_least("length_penalty", length_penalty, 0)
    device = _device_of(carry)
    k = width
    rows = torch.arange(batch_size, device=device).unsqueeze(1) * k
    tokens = torch.full((batch_size * k,), bos, dtype=torch.long, device=device)
    scores = torch.full((batch_size, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    finished = torch.zeros(batch_size, k, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch_size, k, device=device)
    history: list[tuple[Tensor, Tensor]] = []
    for _ in range(max_length):
        log_probs, carry, _ = step(tokens, carry)
        vocab = log_probs.shape[-1]
        log_probs = log_probs.view(batch_size, k, vocab).float()
        only_eos = torch.full((vocab,), float("-inf"), device=device)
        only_eos[eos] = 0.0
        log_probs = torch.where(finished.unsqueeze(-1), only_eos, log_probs)
        top, index = (scores.unsqueeze(-1) + log_probs).view(batch_size, -1).topk(k, dim=-1)
        beam, token = index // vocab, index % vocab
        was_finished = finished.gather(1, beam)
        lengths = lengths.gather(1, beam) + (~was_finished).float()
        finished = was_finished | (token == eos)
        scores = top
        history.append((beam, token))
        carry = reorder(carry, (beam + rows).reshape(-1))
        tokens = token.reshape(-1)
        if bool(finished.all()):
            break
    normalised = scores / ((5.0 + lengths) / 6.0) ** length_penalty
    best = normalised.argmax(-1, keepdim=True)
    picked = []
    for beam, token in reversed(history):
        picked.append(token.gather(1, best))
        best = beam.gather(1, best)
    ids = torch.cat(picked[::-1], 1).tolist()
    return Decoded([cut_at(row, eos) for row in ids])


def _device_of(carry: Any) -> torch.device:
    """The device of the first tensor found in ``carry`` (CPU when there is none)."""
    stack = [carry]
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            return item.device
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
    return torch.device("cpu")

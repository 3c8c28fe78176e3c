"""What sequence-to-sequence tasks share: vocabularies, tokens, padded pairs, baselines.

Batch convention (output kind ``seq2seq``):

- ``"x"``: (B, S) int64 source token ids, 0 (``<pad>``) past each source's length;
- ``"lengths"``: (B,) int64 source lengths (≥ 1);
- ``"y"``: (B, L) int64 target ids, each target followed by ``EOS`` and padded with
  ``IGNORE_INDEX``. Target ids 0, 1, 2 are ``<pad>``, ``<bos>`` (what the decoder reads
  first) and ``<eos>``.

``info.itos`` is the source vocabulary, ``info.extra["target_itos"]`` the target's;
``info.extra["tokens"]`` (``"char"`` or ``"word"``) and ``info.extra["lowercase"]`` say
how text becomes tokens (:func:`tokenize`), so a checkpoint can encode new sources.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import Tensor
from torchmetrics.functional.text import bleu_score

from seqlab.errors import ConfigError
from seqlab.tasks._data import ArrayTask, SequenceDataset, Splits
from seqlab.tasks.base import IGNORE_INDEX, Baseline, OutputKind, TaskInfo

PAD, BOS, EOS = 0, 1, 2
SOURCE_SPECIALS = ("<pad>",)
TARGET_SPECIALS = ("<pad>", "<bos>", "<eos>")
Tokens = Literal["char", "word"]
Pair = tuple[list[str], list[str]]
_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]", re.UNICODE)


def tokenize(text: str, tokens: str, lowercase: bool = False) -> list[str]:
    """``text`` as tokens: its characters, or words and punctuation marks (``"I'm cold."``
    → ``["I'm", "cold", "."]``)."""
    if lowercase:
        text = text.lower()
    return list(text) if tokens == "char" else _WORD.findall(text)


def detokenize(pieces: Sequence[str], tokens: str) -> str:
    """Text from tokens: characters joined; words joined by spaces, none before , . ! ?"""
    if tokens == "char":
        return "".join(pieces)
    return re.sub(r" ([,.!?;:)])", r"\1", " ".join(pieces))


def encode_source(text: str, itos: Sequence[str], tokens: str, lowercase: bool) -> list[int]:
    """Source ids of ``text``; a ConfigError names the tokens the vocabulary lacks."""
    pieces = tokenize(text, tokens, lowercase)
    if not pieces:
        raise ConfigError("the source is empty; give at least one token, e.g. --prompt 'Go.'.")
    stoi = {s: i for i, s in enumerate(itos) if i >= len(SOURCE_SPECIALS)}
    unknown = sorted({p for p in pieces if p not in stoi})
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10])
        raise ConfigError(
            f"the source holds {len(unknown)} {'character' if tokens == 'char' else 'word'}"
            f"(s) the model never saw: {shown}. Use only tokens of the training sources "
            f"(the model has {len(stoi)})."
        )
    return [stoi[p] for p in pieces]


def vocabularies(pairs: Sequence[Pair]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Source and target vocabularies (specials first, then tokens sorted)."""
    source = sorted({t for s, _ in pairs for t in s})
    target = sorted({t for _, g in pairs for t in g})
    return (*SOURCE_SPECIALS, *source), (*TARGET_SPECIALS, *target)


class PairDataset(SequenceDataset):
    """Source/target pairs as padded tensors; a batch is trimmed on both sides."""

    def trim(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        batch = super().trim(batch)
        longest = int((batch["y"] != IGNORE_INDEX).sum(1).max())
        batch["y"] = batch["y"][:, :longest].contiguous()
        return batch


def pair_dataset(pairs: Sequence[Pair], src_itos: Sequence[str], tgt_itos: Sequence[str]):
    """A :class:`PairDataset` of ``pairs`` (``EOS`` appended to every target)."""
    s_index = {t: i for i, t in enumerate(src_itos)}
    t_index = {t: i for i, t in enumerate(tgt_itos)}
    n = len(pairs)
    src_len = max(len(s) for s, _ in pairs)
    tgt_len = max(len(g) for _, g in pairs) + 1
    x = np.zeros((n, src_len), dtype=np.int64)
    y = np.full((n, tgt_len), IGNORE_INDEX, dtype=np.int64)
    for i, (s, g) in enumerate(pairs):
        x[i, : len(s)] = [s_index[t] for t in s]
        y[i, : len(g) + 1] = [*(t_index[t] for t in g), EOS]
    lengths = torch.tensor([len(s) for s, _ in pairs], dtype=torch.int64)
    return PairDataset(torch.from_numpy(x), lengths, torch.from_numpy(y))


def _ids(rows: Sequence[Sequence[str]], index: dict[str, int]) -> list[str]:
    # BLEU splits on spaces, and character tokens may be spaces: name every token by an id.
    return [" ".join(str(index.setdefault(t, len(index))) for t in row) for row in rows]


def scores(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]], bleu: bool
) -> dict[str, float]:
    """Exact match and (with ``bleu``) corpus BLEU-4 of token lists, as the models score."""
    out = {
        "exact": float(
            np.mean([list(p) == list(r) for p, r in zip(predictions, references, strict=True)])
        )
    }
    if bleu:
        index: dict[str, int] = {}
        preds, refs = _ids(predictions, index), _ids(references, index)
        out["bleu"] = float(bleu_score(preds, [[r] for r in refs], n_gram=4))
    return out


def pair_baselines(
    train: Sequence[Pair], evals: dict[str, Sequence[Pair]], bleu: bool
) -> tuple[Baseline, ...]:
    """Copy the source, and always output the most frequent training target, per split.

    Exact match always; BLEU too with ``bleu`` (torchmetrics' BLEU takes ~0.5 ms a
    sentence, so tasks whose headline is exact match skip it).
    """
    frequent = Counter(tuple(g) for _, g in train).most_common(1)[0][0]
    shown = "".join(frequent) if len(max(frequent, key=len)) == 1 else " ".join(frequent)
    out = []
    for split, pairs in evals.items():
        refs = [g for _, g in pairs]
        for label, preds in (
            ("copy the source", [s for s, _ in pairs]),
            (f"the most frequent training target {shown[:40]!r}", [frequent] * len(refs)),
        ):
            for metric, value in scores(preds, refs, bleu).items():
                out.append(Baseline(metric, value, label, split))
    return tuple(sorted(out, key=lambda b: -b.value))


class PairTask(ArrayTask):
    """Base of seq2seq tasks: subclasses return their three splits of token pairs."""

    # "seq2seq" joins OutputKind in seqlab.tasks.base (until then, the ignores below).
    output_kind: ClassVar[OutputKind | None] = "seq2seq"
    tokens: Tokens = "char"
    lowercase: bool = False
    metric: str = "exact"

    def make_pairs(self) -> tuple[list[Pair], list[Pair], list[Pair]]:
        raise NotImplementedError

    def build(self) -> tuple[TaskInfo, Splits]:
        train, val, test = self.make_pairs()
        src_itos, tgt_itos = vocabularies([*train, *val, *test])
        splits = Splits(*(pair_dataset(p, src_itos, tgt_itos) for p in (train, val, test)))
        info = TaskInfo(
            output_kind="seq2seq",
            input_kind="tokens",
            input_size=len(src_itos),
            num_outputs=len(tgt_itos),
            vocab_size=len(src_itos),
            metric=self.metric,
            metric_mode="max",
            baselines=pair_baselines(train, {"val": val, "test": test}, self.metric == "bleu"),
            itos=src_itos,
            extra={
                "target_itos": tgt_itos,
                "tokens": self.tokens,
                "lowercase": self.lowercase,
                "max_source_length": max(len(s) for p in (train, val, test) for s, _ in p),
                "max_target_length": max(len(g) for p in (train, val, test) for _, g in p),
                "sizes": splits.sizes(),
            },
        )
        return info, splits

"""Decoding with a checkpoint: sampling from a language model, translating with a seq2seq
model (``generate``, ``translate``, ``encode_prompt``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from seqlab.errors import CheckpointError, ConfigError
from seqlab.models import LanguageModel, Seq2Seq
from seqlab.tasks.seq2seq_data import detokenize, encode_source
from seqlab.training.checkpoint import LoadedCheckpoint, load_checkpoint


def encode_prompt(prompt: str, itos: Sequence[str]) -> list[int]:
    """Token ids of ``prompt``: per character for character vocabularies, else per word."""
    stoi = {s: i for i, s in enumerate(itos)}
    chars = all(len(s) == 1 for s in itos)
    pieces = list(prompt) if chars else prompt.split()
    unknown = sorted({p for p in pieces if p not in stoi})
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10])
        raise ConfigError(
            f"the prompt holds {len(unknown)} {'character' if chars else 'word'}(s) the model "
            f"never saw: {shown}. Use only the training text's "
            f"{'characters' if chars else 'vocabulary'}."
        )
    return [stoi[p] for p in pieces]


def generate(
    ckpt: str | Path,
    prompt: str,
    length: int | None = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    *,
    seed: int | None = None,
    trust: bool = False,
    beam: int = 1,
    length_penalty: float = 0.0,
) -> str:
    """Decode with a checkpoint: ``prompt`` followed by ``length`` sampled tokens of a
    language model, or the translation of ``prompt`` by a seq2seq model (see
    :func:`translate`; ``length`` caps its output, ``temperature``, ``top_k`` and ``seed``
    do not apply). ``top_k`` 0 or ``None``: sample among all tokens."""
    loaded = load_checkpoint(ckpt, trust=trust)
    if isinstance(loaded.model, Seq2Seq):
        return translate_loaded(loaded, prompt, beam, length, length_penalty)
    model = loaded.model
    if not isinstance(model, LanguageModel):
        raise ConfigError(
            f"checkpoint {loaded.path} is a {loaded.info.output_kind} model of task "
            f"'{loaded.config.task.name}'; seqlab generate needs a language model (e.g. charlm) "
            f"or a seq2seq model (e.g. dates, translate)."
        )
    itos = loaded.info.itos
    if not itos:
        raise CheckpointError(
            f"checkpoint {loaded.path} records no vocabulary (itos) to decode with."
        )
    if not prompt:
        raise ConfigError(
            "the prompt is empty; give at least one character, e.g. --prompt 'ROMEO:'."
        )
    ids = encode_prompt(prompt, itos)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    out = model.generate(
        ids,
        500 if length is None else length,
        temperature=temperature,
        top_k=top_k or None,  # 0 is how the command line says "all tokens"
        generator=gen,
    )
    if all(len(s) == 1 for s in itos):
        return prompt + "".join(itos[i] for i in out)
    return " ".join([prompt, *(itos[i] for i in out)])


def translate(
    ckpt: str | Path,
    source: str,
    beam: int = 1,
    max_length: int | None = None,
    length_penalty: float = 0.0,
    *,
    trust: bool = False,
) -> str:
    """The output of a seq2seq checkpoint for ``source`` text: greedy (``beam=1``) or beam
    search of width ``beam``, at most ``max_length`` tokens (default: the longest training
    target + 1), hypotheses ranked with the GNMT ``length_penalty``."""
    loaded = load_checkpoint(ckpt, trust=trust)
    if not isinstance(loaded.model, Seq2Seq):
        raise ConfigError(
            f"checkpoint {loaded.path} is a {loaded.info.output_kind} model of task "
            f"'{loaded.config.task.name}'; translating needs a seq2seq model (e.g. dates)."
        )
    return translate_loaded(loaded, source, beam, max_length, length_penalty)


def translate_loaded(
    loaded: LoadedCheckpoint,
    source: str,
    beam: int,
    max_length: int | None,
    length_penalty: float,
) -> str:
    """:func:`translate` with a checkpoint already loaded."""
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
        raise ConfigError(f"--beam must be a positive integer (1: greedy), got {beam!r}.")
    if max_length is not None and max_length < 1:
        raise ConfigError(f"--length must be a positive integer, got {max_length!r}.")
    info = loaded.info
    itos, target_itos = info.itos, info.extra.get("target_itos")
    if not itos or not target_itos:
        raise CheckpointError(
            f"checkpoint {loaded.path} records no source or target vocabulary to decode with."
        )
    tokens = str(info.extra.get("tokens", "char"))
    ids = encode_source(source, itos, tokens, bool(info.extra.get("lowercase", False)))
    decoded = loaded.model.translate(
        [ids], beam=beam, max_length=max_length, length_penalty=length_penalty
    )
    return detokenize([target_itos[i] for i in decoded.tokens[0]], tokens)


__all__ = ["encode_prompt", "generate", "translate", "translate_loaded"]

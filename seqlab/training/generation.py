"""Sampling text from a language-model checkpoint: ``generate`` and ``encode_prompt``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from seqlab.errors import CheckpointError, ConfigError
from seqlab.models import LanguageModel
from seqlab.training.checkpoint import load_checkpoint


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
    length: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    *,
    seed: int | None = None,
    trust: bool = False,
) -> str:
    """``prompt`` followed by ``length`` sampled tokens of a language-model checkpoint."""
    loaded = load_checkpoint(ckpt, trust=trust)
    model = loaded.model
    if not isinstance(model, LanguageModel):
        raise ConfigError(
            f"checkpoint {loaded.path} is a {loaded.info.output_kind} model of task "
            f"'{loaded.config.task.name}'; seqlab generate needs a language model (e.g. charlm)."
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
    out = model.generate(ids, length, temperature=temperature, top_k=top_k, generator=gen)
    if all(len(s) == 1 for s in itos):
        return prompt + "".join(itos[i] for i in out)
    return " ".join([prompt, *(itos[i] for i in out)])


__all__ = ["encode_prompt", "generate"]

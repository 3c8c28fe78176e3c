"""Text samples from language models at every validation: a W&B table and ``samples.jsonl``.

Any LightningModule that has a vocabulary ``info.itos`` (index → token string) and a method

    generate(prompt: list[int], length: int, temperature: float = 1.0, top_k: int | None = None,
             generator: torch.Generator | None = None) -> list[int]

(seqlab's :class:`~seqlab.models.LanguageModel`) gets samples: for each prompt and
temperature, after every validation (not the sanity check), on global rank 0, the callback
encodes the prompt (per character for character vocabularies, else per whitespace-separated
word), samples ``length`` tokens, decodes them, appends one JSON line per sample to
``<run_dir>/samples.jsonl`` and logs the rows as a W&B table ``samples`` (columns prompt,
temperature, text, step) when a W&B logger is present. ``text`` is the continuation, without
the prompt. Other modules are left alone; prompts the vocabulary cannot encode are skipped.

Sampling runs in eval mode, without gradients, under a forked random-number generator and
with a ``generator`` seeded from the step (when ``generate`` takes one): samples are
reproducible, and training's own random stream (dropout, shuffling) is the same whether
samples are drawn or not.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from seqlab.errors import ConfigError
from seqlab.tracking.process import log_step
from seqlab.validation import positive, positive_int

DEFAULT_PROMPTS = ("The ", "\n")
DEFAULT_TEMPERATURES = (0.5, 1.0)
TABLE_KEY = "samples"
COLUMNS = ["prompt", "temperature", "text", "step"]


def _is_char_vocab(itos: Sequence[str]) -> bool:
    return all(len(tok) == 1 for tok in itos)


def encode(prompt: str, itos: Sequence[str]) -> list[int] | None:
    """Token ids of ``prompt`` (None when it is empty or holds a token outside ``itos``)."""
    stoi = {tok: i for i, tok in enumerate(itos)}
    pieces = list(prompt) if _is_char_vocab(itos) else prompt.split()
    if not pieces or any(p not in stoi for p in pieces):
        return None
    return [stoi[p] for p in pieces]


def decode(ids: Sequence[int], itos: Sequence[str]) -> str:
    """The text of token ids: characters joined, words joined by spaces."""
    tokens = [itos[int(i)] for i in ids]
    return "".join(tokens) if _is_char_vocab(itos) else " ".join(tokens)


class TextSamples(Callback):
    """Log generated text at the end of every validation (language models only).

    Args:
        run_dir: where ``samples.jsonl`` is appended.
        prompts: the prompts; those the vocabulary cannot encode are skipped (the first
            vocabulary entry is the prompt if none is left).
        temperatures: softmax temperatures, one sample per prompt and temperature.
        length: tokens to generate per sample.
        top_k: sample among the k most likely tokens only (``None``: all).
        seed: base seed; the sample at log step s uses ``seed + s``.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        prompts: Sequence[str] = DEFAULT_PROMPTS,
        temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
        length: int = 200,
        top_k: int | None = None,
        seed: int = 0,
    ) -> None:
        positive_int("samples: length", length)
        if not temperatures:
            raise ConfigError("samples: give at least one temperature, e.g. temperatures=(1.0,).")
        for i, t in enumerate(temperatures):
            positive(f"samples: temperatures[{i}]", t)
        if top_k is not None:
            positive_int("samples: top_k", top_k, what="or None for all tokens")
        if not prompts:
            raise ConfigError("samples: give at least one prompt.")
        self.path = Path(run_dir) / "samples.jsonl"
        self.prompts = [str(p) for p in prompts]
        self.temperatures = [float(t) for t in temperatures]
        self.length = length
        self.top_k = top_k
        self.seed = seed

    def generate_rows(self, pl_module: L.LightningModule, step: int) -> list[dict[str, Any]]:
        """One ``{"prompt", "temperature", "text", "step"}`` row per prompt and temperature."""
        generate = getattr(pl_module, "generate", None)
        itos = getattr(getattr(pl_module, "info", None), "itos", None)
        if not callable(generate) or not itos:
            return []
        encoded = [(p, ids) for p in self.prompts if (ids := encode(p, itos)) is not None]
        if not encoded:
            encoded = [(itos[0], [0])]
        takes_generator = "generator" in inspect.signature(generate).parameters
        device = pl_module.device
        devices = []
        if device.type == "cuda":
            devices = [device.index if device.index is not None else torch.cuda.current_device()]
        was_training = pl_module.training
        rows = []
        pl_module.eval()
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                torch.manual_seed(self.seed + step)
                extra = (
                    {"generator": torch.Generator().manual_seed(self.seed + step)}
                    if takes_generator
                    else {}
                )
                for prompt, ids in encoded:
                    for temperature in self.temperatures:
                        out = generate(
                            ids, self.length, temperature=temperature, top_k=self.top_k, **extra
                        )
                        rows.append(
                            {
                                "prompt": prompt,
                                "temperature": temperature,
                                "text": decode(out, itos),
                                "step": step,
                            }
                        )
        finally:
            pl_module.train(was_training)
        return rows

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        step = log_step(trainer)
        rows = self.generate_rows(pl_module, step)
        if not rows:
            return
        record_rows(trainer, self.path, rows, TABLE_KEY, COLUMNS, step)


def record_rows(
    trainer: L.Trainer,
    path: Path,
    rows: Sequence[dict[str, Any]],
    table: str,
    columns: Sequence[str],
    step: int,
) -> None:
    """Append ``rows`` (with the epoch) to the JSON-lines file ``path`` and log them as the
    W&B table ``table`` when a W&B logger is attached: the record of every sample table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({**row, "epoch": trainer.current_epoch}, ensure_ascii=False) + "\n")
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_table(
                table,
                columns=list(columns),
                data=[[r[c] for c in columns] for r in rows],
                step=step,
            )


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file written by :func:`record_rows` (empty when absent)."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def read_samples(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``<run_dir>/samples.jsonl`` (empty when the run drew no samples)."""
    return read_rows(Path(run_dir) / "samples.jsonl")


__all__ = [
    "COLUMNS",
    "DEFAULT_PROMPTS",
    "DEFAULT_TEMPERATURES",
    "TABLE_KEY",
    "TextSamples",
    "decode",
    "encode",
    "read_rows",
    "read_samples",
    "record_rows",
]

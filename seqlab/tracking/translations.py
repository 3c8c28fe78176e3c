"""Sample outputs of sequence-to-sequence models at every validation: a W&B table and
``translations.jsonl``, the counterpart of the language models' text samples.

Any LightningModule with a method ``sample_translations(batch, n) -> list[dict]`` (rows
with ``source``, ``reference`` and ``output`` text; seqlab's ``Seq2Seq``) gets them:
after every validation (not the sanity check), on global rank 0, the callback decodes
the first ``n`` sources of the first validation batch — the same examples every time,
so their outputs can be followed through training — appends one JSON line per example
to ``<run_dir>/translations.jsonl`` and logs the rows as the W&B table ``translations``
(columns source, reference, output, step) when a W&B logger is present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from seqlab.tracking.process import log_step
from seqlab.tracking.samples import read_rows, record_rows
from seqlab.validation import positive_int

TABLE_KEY = "translations"
COLUMNS = ["source", "reference", "output", "step"]


def first_validation_batch(trainer: L.Trainer, device: torch.device) -> dict[str, Any] | None:
    """The first batch of the trainer's (first) validation loader, on ``device``."""
    loaders = trainer.val_dataloaders
    if isinstance(loaders, (list, tuple)):
        loaders = loaders[0] if loaders else None
    if loaders is None:
        return None
    batch = next(iter(loaders), None)
    if batch is None:
        return None
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def sample_rows(trainer: L.Trainer, pl_module: L.LightningModule, n: int) -> list[dict[str, Any]]:
    """``pl_module.sample_translations`` of the first validation examples (or nothing)."""
    sample = getattr(pl_module, "sample_translations", None)
    if not callable(sample):
        return []
    batch = first_validation_batch(trainer, pl_module.device)
    if batch is None:
        return []
    was_training = pl_module.training
    pl_module.eval()
    try:
        with torch.no_grad():
            return list(sample(batch, n))
    finally:
        pl_module.train(was_training)


class TranslationSamples(Callback):
    """Log ``n`` sample outputs at the end of every validation (seq2seq models only).

    Args:
        run_dir: where ``translations.jsonl`` is appended.
        n: examples per validation.
    """

    def __init__(self, run_dir: str | Path, n: int = 5) -> None:
        self.path = Path(run_dir) / "translations.jsonl"
        self.n = positive_int("translations: n", n)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        rows = sample_rows(trainer, pl_module, self.n)
        if not rows:
            return
        step = log_step(trainer)
        rows = [{c: r[c] for c in COLUMNS[:-1]} | {"step": step} for r in rows]
        record_rows(trainer, self.path, rows, TABLE_KEY, COLUMNS, step)


def read_translations(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``<run_dir>/translations.jsonl`` (empty when there are none)."""
    return read_rows(Path(run_dir) / "translations.jsonl")


__all__ = ["COLUMNS", "TABLE_KEY", "TranslationSamples", "read_translations", "sample_rows"]

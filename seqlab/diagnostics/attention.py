"""Attention maps of a few validation examples at every validation, as PNG files in the
run directory and W&B images.

For models with ``sample_translations`` (seqlab's ``Seq2Seq`` with attention), after
every validation (not the sanity check), on global rank 0: the first ``n`` examples of
the first validation batch are decoded greedily and each one's weights — one row per
output token (the last for the end of sequence), one column per source token — are
drawn as a heat map, ``<run_dir>/attention/step-<step>-<i>.png``, and logged as the W&B
images ``attention`` when a W&B logger is present. Models without attention get nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from seqlab.tracking.process import log_step
from seqlab.tracking.translations import sample_rows
from seqlab.validation import positive_int

IMAGE_KEY = "attention"


def plot_attention(
    weights: Sequence[Sequence[float]],
    source: Sequence[str],
    output: Sequence[str],
    path: str | Path,
    title: str = "",
) -> Path:
    """Draw ``weights`` (len(output) [+ 1 for EOS] rows × len(source) columns) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [*output, "<eos>"][: len(weights)]
    width = max(3.0, 0.35 * len(source) + 1.5)
    height = max(2.5, 0.35 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(width, height))
    try:
        ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source)), [repr(s)[1:-1] for s in source], rotation=90)
        ax.set_yticks(range(len(rows)), [repr(s)[1:-1] for s in rows])
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        if title:
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path


class AttentionMaps(Callback):
    """Save and log the attention maps of ``n`` validation examples per validation."""

    def __init__(self, run_dir: str | Path, n: int = 3) -> None:
        self.dir = Path(run_dir) / "attention"
        self.n = positive_int("attention maps: n", n)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        rows = [r for r in sample_rows(trainer, pl_module, self.n) if r.get("attention")]
        if not rows:
            return
        step = log_step(trainer)
        paths = [
            plot_attention(
                r["attention"],
                r["source_tokens"],
                r["output_tokens"],
                self.dir / f"step-{step:07d}-{i}.png",
                title=f"{r['source'][:40]} → {r['output'][:40]}",
            )
            for i, r in enumerate(rows)
        ]
        from lightning.pytorch.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(IMAGE_KEY, [str(p) for p in paths], step=step)


__all__ = ["IMAGE_KEY", "AttentionMaps", "plot_attention"]

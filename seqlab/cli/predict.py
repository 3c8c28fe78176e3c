"""``seqlab predict``: a trained model's predictions for a file of inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.progress import Progress

from seqlab.cli.app import app, err_console
from seqlab.cli.checkpoint_options import trust_option

_CKPT_HELP = (
    "A checkpoint file, a run directory (its best checkpoint), or a directory written by "
    "seqlab export (or one model file in it)."
)
_INPUT_HELP = (
    "A CSV/TSV/JSONL file in the form the model's task reads: the text column for text "
    "models, the series' columns for forecasts, else a column x of sequences."
)


@app.command("predict")
def predict_cmd(
    ckpt: Path = typer.Option(..., "--ckpt", help=_CKPT_HELP),
    inputs: Path = typer.Option(..., "--input", help=_INPUT_HELP),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write .csv, .tsv or .jsonl (default: CSV on stdout)."
    ),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Sequences per batch."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    trust_checkpoint: bool = trust_option(),
) -> None:
    """Predict with a trained model: labels and probabilities, or values, per input.

    The inputs are prepared as the training run prepared its data (vocabulary and
    tokeniser, scaler, normalisation, all read from the checkpoint).
    """
    from seqlab.serving import format_rows, predict

    with Progress(console=err_console, transient=True, disable=quiet) as bar:
        task = bar.add_task("predicting", total=None)
        rows = predict(
            ckpt,
            inputs,
            output,
            batch_size=batch_size,
            trust=trust_checkpoint,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if output is None:
        sys.stdout.write(format_rows(rows, ".csv"))
    elif not quiet:
        err_console.print(f"{len(rows):,} predictions → {output}", highlight=False)

"""``seqlab generate``: decode with a checkpoint (sample text from a language model)."""

from __future__ import annotations

from pathlib import Path

import typer

from seqlab.cli.app import app
from seqlab.cli.checkpoint_options import ckpt_option, trust_option


@app.command("generate")
def generate_cmd(
    ckpt: Path = ckpt_option(),
    prompt: str = typer.Option("\n", "--prompt", help="Text to start from."),
    length: int = typer.Option(500, "--length", help="Tokens to sample."),
    temperature: float = typer.Option(
        0.8, "--temperature", help="Softmax temperature (0: greedy)."
    ),
    top_k: int | None = typer.Option(
        None, "--top-k", help="Sample among the k most likely tokens."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the sampling."),
    trust_checkpoint: bool = trust_option(),
) -> None:
    """Sample text from a language-model checkpoint (e.g. charlm)."""
    from seqlab.training import generate

    text = generate(ckpt, prompt, length, temperature, top_k, seed=seed, trust=trust_checkpoint)
    typer.echo(text)

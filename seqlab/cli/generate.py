"""``seqlab generate``: decode with a checkpoint (sample text from a language model, or
translate with a seq2seq model)."""

from __future__ import annotations

from pathlib import Path

import typer

from seqlab.cli.app import app
from seqlab.cli.checkpoint_options import ckpt_option, trust_option


@app.command("generate")
def generate_cmd(
    ckpt: Path = ckpt_option(),
    prompt: str = typer.Option(
        "\n", "--prompt", help="Text to start from (language model) or to translate (seq2seq)."
    ),
    length: int | None = typer.Option(
        None,
        "--length",
        help="Tokens to sample (language model, default 500); the most tokens to output "
        "(seq2seq, default: the longest training target + 1).",
    ),
    temperature: float = typer.Option(
        0.8, "--temperature", help="Softmax temperature (0: greedy; language model)."
    ),
    top_k: int | None = typer.Option(
        None,
        "--top-k",
        min=0,
        help="Sample among the k most likely tokens (language model; 1 to the vocabulary "
        "size; 0 or leave it out: all).",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the sampling."),
    beam: int = typer.Option(1, "--beam", help="Beam width (seq2seq; 1: greedy)."),
    length_penalty: float = typer.Option(
        0.0,
        "--length-penalty",
        help="Beam search: rank hypotheses by log-probability / ((5 + length) / 6) ** this.",
    ),
    trust_checkpoint: bool = trust_option(),
) -> None:
    """Sample text from a language model (e.g. charlm) or translate with a seq2seq model."""
    from seqlab.training import generate

    text = generate(
        ckpt,
        prompt,
        length,
        temperature,
        top_k,
        seed=seed,
        trust=trust_checkpoint,
        beam=beam,
        length_penalty=length_penalty,
    )
    typer.echo(text)

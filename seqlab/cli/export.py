"""``seqlab export``: a checkpoint as ONNX, TorchScript or safetensors, checked numerically."""

from __future__ import annotations

from pathlib import Path

import typer

from seqlab.cli.app import app, console
from seqlab.cli.checkpoint_options import ckpt_option, trust_option


@app.command("export")
def export_cmd(
    ckpt: Path = ckpt_option(),
    fmt: str = typer.Option(
        ..., "--format", help="onnx (run by onnxruntime), torchscript or safetensors."
    ),
    out: Path = typer.Option(..., "--out", help="The directory to write (with config.json)."),
    seq_len: int | None = typer.Option(
        None,
        "--seq-len",
        min=1,
        help="Padded length the graph takes (default: the task's longest sequence).",
    ),
    trust_checkpoint: bool = trust_option(),
) -> None:
    """Export a model with its preprocessing (config.json); the export is compared with
    the PyTorch model on random inputs of variable lengths before anything is written."""
    from seqlab.serving import check_format, export

    report = export(ckpt, check_format(fmt), out, seq_len=seq_len, trust=trust_checkpoint)
    how = f" (exporter: {report.exporter}; {report.note})" if report.note else ""
    console.print(
        f"wrote {report.path} and {report.path.parent / 'config.json'}: matches PyTorch "
        f"within {report.max_abs_diff:.2g} on random inputs of 1–{report.seq_len} steps{how}.",
        highlight=False,
        soft_wrap=True,
    )

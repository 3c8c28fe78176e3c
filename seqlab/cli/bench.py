"""``seqlab bench``: throughput of cells as a table and CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from seqlab.cli.app import app, console, err_console


@app.command("bench")
def bench_cmd(
    cells: str = typer.Option(
        "rnn,lstm,gru",
        "--cells",
        help="Comma-separated cell names, each optionally with options: 'lstm[forget_bias=0],gru'.",
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    seq_len: int = typer.Option(100, "--seq-len", min=1),
    input_size: int = typer.Option(32, "--input-size", min=1),
    hidden_size: int = typer.Option(128, "--hidden-size", min=1),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Interleaved rounds of timing."),
    compile_steps: bool = typer.Option(
        False, "--compile", help="Step the cells through torch.compile (compiles first, untimed)."
    ),
    csv_path: Path | None = typer.Option(None, "--csv", help="Also write the rows to this CSV."),
) -> None:
    """Fwd+bwd time, samples/s and ratio to torch.nn.LSTM (median and IQR over rounds)."""
    from seqlab.bench import bench_cells, load_warning
    from seqlab.compare.plan import parse_cells

    # Unknown names and bad options fail before any timing, with "did you mean".
    specs = [(s.name, dict(s.options)) for s in parse_cells(cells)]
    if device.startswith("cuda"):
        import torch

        from seqlab.errors import ConfigError

        if not torch.cuda.is_available():
            raise ConfigError(
                "--device cuda was asked for but no CUDA GPU is available; use --device cpu."
            )
    rows = bench_cells(
        specs,
        batch_size=batch_size,
        seq_len=seq_len,
        input_size=input_size,
        hidden_size=hidden_size,
        device=device,
        rounds=rounds,
        compile=compile_steps,
        progress=lambda n: err_console.print(f"timing {escape(n)}…", style="dim"),
    )
    title = (
        f"fwd+bwd, B={batch_size}, T={seq_len}, input {input_size}, hidden {hidden_size}, {device}"
    )
    table = Table(title=title + (", compiled" if compile_steps else ""))
    for col in ("cell", "params", "ms", "samples/s", "× torch.nn.LSTM", "IQR"):
        table.add_column(col, justify="left" if col == "cell" else "right")
    for r in rows:
        table.add_row(
            escape(r.cell),  # not rich markup: lstm[forget_bias=0]
            f"{r.parameters:,}",
            f"{r.fwd_bwd_ms:.1f}",
            f"{r.samples_per_s:,.0f}",
            f"{r.ratio_to_lstm:.2f}",
            f"{r.ratio_q1:.2f}–{r.ratio_q3:.2f}",
        )
    console.print(table)
    warning = load_warning(rows)
    if warning:
        err_console.print(f"warning: {warning}", style="yellow")
    if csv_path is not None:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with csv_path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0].as_dict()))
            writer.writeheader()
            writer.writerows(r.as_dict() for r in rows)
        console.print(f"wrote {csv_path}")

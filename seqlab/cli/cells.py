"""``seqlab cells``: the registry as a table."""

from __future__ import annotations

import warnings

import typer
from rich.table import Table

from seqlab.cli.app import app, console, parse_key_values

cells_app = typer.Typer(help="List the available cells (built-in and plugins).", no_args_is_help=False)
app.add_typer(cells_app, name="cells")


def _fmt_int(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n:,}"


def cells_table(pattern: str = "*", input_size: int = 32, hidden_size: int = 128) -> Table:
    """The rich table of every cell matching ``pattern`` at the given sizes.

    Broken plugins are reported as warnings and left out; the others are still listed.
    """
    from seqlab.cells import REGISTRY, cell_info

    table = Table(title=f"seqlab cells (input {input_size}, hidden {hidden_size})")
    for col in ("name", "source", "params", "FLOPs/step", "state", "forward_sequence", "reference"):
        table.add_column(col, justify="right" if col in ("params", "FLOPs/step") else "left")
    for name in REGISTRY.names(pattern):
        try:
            info = cell_info(name, input_size, hidden_size)
        except Exception as exc:  # a plugin that fails must not hide the others
            warnings.warn(str(exc), stacklevel=1)
            continue
        state = " ".join("×".join(str(d) for d in shape[1:]) for shape in info.state_shapes)
        table.add_row(
            name, str(info.source), _fmt_int(info.parameters), _fmt_int(info.flops_per_step),
            state, "yes" if info.has_forward_sequence else "no", info.reference,
        )
    return table


@cells_app.callback(invoke_without_command=True)
def cells(
    ctx: typer.Context,
    pattern: str = typer.Option("*", "--pattern", "-p", help="fnmatch pattern of names."),
    input_size: int = typer.Option(32, "--input-size", min=1),
    hidden_size: int = typer.Option(128, "--hidden-size", min=1),
) -> None:
    """Table of cells: name, source, parameters, FLOPs per step, state, reference."""
    if ctx.invoked_subcommand is None:
        console.print(cells_table(pattern, input_size, hidden_size))


__all__ = ["cells_app", "cells_table", "parse_key_values"]

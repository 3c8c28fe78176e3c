"""``seqlab cells``: the registry as a table; ``cells show NAME``; ``cells check NAME``."""

from __future__ import annotations

import inspect
import re
import warnings
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from seqlab.cli.app import app, console, parse_key_values
from seqlab.cli.tables import Column, fitted_table

cells_app = typer.Typer(
    help="The available cells (built-in and plugins): a table; `show NAME`; `check NAME`.",
    no_args_is_help=False,
)
app.add_typer(cells_app, name="cells")

_CELL_OPT_HELP = (
    "A cell option KEY=VALUE (repeatable; values read as YAML), e.g. --cell-opt forget_bias=0."
)


def _fmt_int(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n:,}"


_CELL_COLUMNS = (
    Column("name"),
    Column("source"),
    Column("params", justify="right", importance=1),
    Column("FLOPs/step", justify="right", importance=5),
    Column("state", importance=2),
    Column("forward_sequence", importance=4),
    Column("reference", wrap=True, importance=3),
)


def cells_rows(pattern: str, input_size: int, hidden_size: int) -> list[list[str]]:
    """One row per cell matching ``pattern`` (:data:`_CELL_COLUMNS`' order).

    A cell that cannot be loaded or described keeps its row, marked broken, and the
    reason is a warning naming the cell and its distribution; the others are still listed.
    """
    from seqlab.cells import REGISTRY, cell_info

    rows = []
    for name in REGISTRY.names(pattern):
        try:
            info = cell_info(name, input_size, hidden_size)
        except Exception as exc:  # a plugin that fails must not hide the others
            warnings.warn(str(exc), stacklevel=1)
            source = " / ".join(str(s) for s in REGISTRY.sources(name)) or "?"
            rows.append([name, source, "—", "—", "BROKEN", "—", "broken: see the warning above"])
            continue
        state = " ".join("×".join(str(d) for d in shape[1:]) for shape in info.state_shapes)
        rows.append(
            [
                name,
                str(info.source),
                _fmt_int(info.parameters),
                _fmt_int(info.flops_per_step),
                state,
                "yes" if info.has_forward_sequence else "no",
                info.reference,
            ]
        )
    return rows


def cells_table(
    pattern: str = "*", input_size: int = 32, hidden_size: int = 128, width: int | None = None
) -> Table:
    """The rich table of every cell matching ``pattern`` at the given sizes, fitted to
    ``width`` characters (default: the console's): the columns that do not fit are left
    out (named in the caption), no word is split. Broken cells are rows marked broken."""
    return fitted_table(
        _CELL_COLUMNS,
        cells_rows(pattern, input_size, hidden_size),
        console.width if width is None else width,
        title=f"seqlab cells (input {input_size}, hidden {hidden_size})",
        hint="`seqlab cells show NAME` shows everything about one cell",
    )


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


# -- seqlab cells show -------------------------------------------------------------------------
def option_help(doc: str) -> dict[str, str]:
    """``name: text`` entries of the ``Options:`` section of a docstring (continuations joined)."""
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Options:"), None)
    if start is None:
        return out
    current = None
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        match = re.match(r"^\s+(\w+):\s*(.*)$", line)
        indent = len(line) - len(line.lstrip())
        if match and (current is None or indent <= 4):
            current = match.group(1)
            out[current] = match.group(2).strip()
        elif current is not None:
            out[current] += " " + line.strip()
    return out


def cell_options(cls: type) -> list[tuple[str, str, str]]:
    """(name, type, default) of each constructor option of ``cls``, from its signature."""
    try:
        sig = inspect.signature(cls, eval_str=True)
    except Exception:  # annotations that cannot be evaluated: show them as written
        try:
            sig = inspect.signature(cls)
        except (TypeError, ValueError):
            return []
    out = []
    for p in list(sig.parameters.values())[2:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            out.append((("*" if p.kind is p.VAR_POSITIONAL else "**") + p.name, "", ""))
            continue
        ann = p.annotation
        if ann is p.empty:
            kind = (
                type(p.default).__name__
                if p.default is not p.empty and p.default is not None
                else ""
            )
        else:
            kind = ann if isinstance(ann, str) else getattr(ann, "__name__", None) or str(ann)
        default = "(required)" if p.default is p.empty else repr(p.default)
        out.append((p.name, str(kind).replace("typing.", ""), default))
    return out


def show_cell(name: str, input_size: int, hidden_size: int, options: dict[str, Any]) -> None:
    """Print one cell: source, reference, equations, options, and its sizes as built."""
    from seqlab.cells import cell_info, get_cell
    from seqlab.cells.registry import cell_source

    cls = get_cell(name)
    source = cell_source(name)
    info = cell_info(name, input_size, hidden_size, **options)
    doc = inspect.getdoc(cls) or ""
    equations = inspect.cleandoc(getattr(cls, "equations", "") or "")
    origin = "built-in" if source.builtin else f"plugin {source}, entry point {source.entry_point}"
    console.print(
        f"[bold]{escape(name)}[/] — {escape(cls.__module__)}.{escape(cls.__qualname__)} "
        f"({escape(origin)})",
        highlight=False,
    )
    if equations:  # the docstring is printed whole below otherwise; its summary is enough here
        console.print(escape(doc.split("\n\n", 1)[0].replace("\n", " ")), highlight=False)
    if info.reference:
        console.print(f"[bold]reference:[/] {escape(info.reference)}", highlight=False)
    console.print("\n[bold]equations[/]" + ("" if equations else " (the docstring)"))
    console.print(escape(equations or doc or "(none documented)"), highlight=False)
    console.print()
    helps = option_help(cls.__doc__ or "")
    rows = [[opt, kind, default, helps.get(opt, "")] for opt, kind, default in cell_options(cls)]
    columns = (
        Column("option"),
        Column("type", wrap=True),
        Column("default"),
        Column("meaning", wrap=True),
    )
    console.print(fitted_table(columns, rows, console.width, title="options"))
    names = getattr(cls, "state_names", None)
    state = ", ".join(
        (f"{names[i]} " if names and len(names) == len(info.state_shapes) else "")
        + "(B, "
        + ", ".join(str(d) for d in shape[1:])
        + ")"
        for i, shape in enumerate(info.state_shapes)
    )
    facts = Table(
        title=f"built as ({input_size}, {hidden_size}"
        + "".join(f", {k}={v!r}" for k, v in options.items())
        + ")",
        title_justify="left",
        show_header=False,
    )
    facts.add_column("key")
    facts.add_column("value", overflow="fold")
    facts.add_row("parameters", f"{info.parameters:,}")
    facts.add_row(
        "FLOPs per step", _fmt_int(info.flops_per_step) + " (matrix products, per sample)"
    )
    facts.add_row("state", state)
    facts.add_row("forward_sequence", "yes" if info.has_forward_sequence else "no (stepped)")
    console.print(facts)


def _cell_opt_option() -> Any:
    return typer.Option(None, "--cell-opt", "-o", help=_CELL_OPT_HELP)


@cells_app.command("show")
def show(
    name: str = typer.Argument(..., help="Registry name of the cell."),
    input_size: int = typer.Option(32, "--input-size", min=1),
    hidden_size: int = typer.Option(128, "--hidden-size", min=1),
    cell_opt: list[str] = _cell_opt_option(),
) -> None:
    """Equations, options (types, defaults), parameters, state shapes and reference of one cell."""
    show_cell(name, input_size, hidden_size, parse_key_values(cell_opt, "--cell-opt"))


# -- seqlab cells check ------------------------------------------------------------------------
_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "xfailed": "yellow",
    "xpassed": "bold red",
}


@cells_app.command("check")
def check(
    name: str = typer.Argument(..., help="Registry name of the cell."),
    input_size: int = typer.Option(
        3, "--input-size", min=1, help="Input size the cells are built with."
    ),
    hidden_size: int = typer.Option(
        5, "--hidden-size", min=1, help="Hidden size the cells are built with."
    ),
    cell_opt: list[str] = _cell_opt_option(),
) -> None:
    """Run the conformance suite (seqlab.testing) on one cell: a pass/fail table; exit 1 on failure."""
    from seqlab.testing import run_checks

    options = parse_key_values(cell_opt, "--cell-opt")
    results = run_checks(name, input_size=input_size, hidden_size=hidden_size, **options)
    opts = "".join(f", {k}={v!r}" for k, v in options.items())
    table = Table(
        title=f"conformance of {name!r} (input_size={input_size}, hidden_size={hidden_size}{opts})"
    )
    for col in ("check", "result", "seconds", "details"):
        table.add_column(col, justify="right" if col == "seconds" else "left", overflow="fold")
    for r in results:
        detail = r.message.split(": ", 1)[-1] if r.status == "failed" else r.message
        table.add_row(
            r.check,
            f"[{_STYLE[r.status]}]{r.status.upper()}[/]",
            f"{r.seconds:.2f}",
            escape(detail[:160] + ("…" if len(detail) > 160 else "")),
        )
    console.print(table)
    failed = [r for r in results if not r.ok]
    for r in failed:
        console.print(f"\n[bold red]{r.check}[/]", highlight=False)
        console.print(escape(r.message), highlight=False, soft_wrap=True)
        if r.status == "failed":
            _print_traceback(r.check, name, input_size, hidden_size, options)
    counts = {s: sum(r.status == s for r in results) for s in _STYLE}
    console.print(
        "\n" + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + f" ({len(results)} checks).",
        highlight=False,
    )
    if failed:
        raise typer.Exit(1)


def _print_traceback(
    check: str, name: str, input_size: int, hidden_size: int, options: dict[str, Any]
) -> None:
    """With ``--traceback`` (or ``SEQLAB_DEBUG=1``): run the failed ``check`` again and print
    its traceback, with the cell's own exception chained to it."""
    import traceback

    from seqlab.cli import debugging
    from seqlab.testing import get_check

    if not debugging():
        return
    try:
        get_check(check)(name, input_size=input_size, hidden_size=hidden_size, **options)
    except AssertionError as exc:
        text = "".join(traceback.format_exception(exc))
        console.print(escape(text), highlight=False, soft_wrap=True)


__all__ = [
    "cell_options",
    "cells_app",
    "cells_table",
    "option_help",
    "parse_key_values",
    "show_cell",
]

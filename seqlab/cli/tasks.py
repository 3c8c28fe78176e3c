"""``seqlab tasks``: the task registry as a table; ``seqlab tasks show NAME``: one task."""

from __future__ import annotations

import inspect
import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

import typer
from rich.table import Table

from seqlab.cli.app import app, console, parse_key_values

tasks_app = typer.Typer(
    help="List the available tasks (built-in and plugins).", no_args_is_help=False
)
app.add_typer(tasks_app, name="tasks")

_COMMON = ("self", "batch_size", "seed", "num_workers")


@dataclass(frozen=True)
class TaskOption:
    name: str
    default: Any
    annotation: str
    help: str


def _option_help(doc: str) -> dict[str, str]:
    """``name: text`` entries of the ``Options:`` section of a docstring."""
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Options:")
    except StopIteration:
        return out
    current = None
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        match = re.match(r"^\s{4}(\w+):\s*(.*)$", line)
        if match:
            current = match.group(1)
            out[current] = match.group(2).strip()
        elif current and line.startswith(" " * 8):
            out[current] += " " + line.strip()
        else:
            break
    return out


def task_options(cls: type) -> list[TaskOption]:
    """The task-specific constructor options of ``cls`` with defaults, types and help."""
    helps = _option_help(cls.__doc__ or "")
    out = []
    for p in inspect.signature(cls).parameters.values():
        if p.name in _COMMON or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        ann = p.annotation
        ann = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
        default = None if p.default is inspect.Parameter.empty else p.default
        out.append(
            TaskOption(
                p.name,
                default,
                "" if ann is inspect.Parameter.empty else ann,
                helps.get(p.name, ""),
            )
        )
    return out


def _fmt_default(value: Any) -> str:
    return (
        "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    )


def tasks_table(pattern: str = "*") -> Table:
    """The rich table of every task matching ``pattern`` (broken plugins warn, are skipped)."""
    from seqlab.tasks import REGISTRY

    table = Table(title="seqlab tasks")
    for col in ("name", "output", "description", "options (defaults)", "source"):
        table.add_column(col, overflow="fold")
    for name in REGISTRY.names(pattern):
        try:
            cls = REGISTRY.get(name)
            source = REGISTRY.source(name)
        except Exception as exc:  # a plugin that fails must not hide the others
            warnings.warn(str(exc), stacklevel=1)
            continue
        options = ", ".join(f"{o.name}={_fmt_default(o.default)}" for o in task_options(cls))
        kind = getattr(cls, "output_kind", None) or "?"
        table.add_row(
            name,
            kind,
            getattr(cls, "description", "") or "",
            options or "(none)",
            "built-in" if source.builtin else f"plugin: {source}",
        )
    return table


def _shape(t: Any) -> str:
    return f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}"


def show_task(name: str, options: dict[str, Any], setup: bool = True) -> None:
    """Print one task: description, options, and (with ``setup``) its info, sizes,
    first training batch's shapes and baselines on the configuration given."""
    from seqlab.tasks import REGISTRY, create_task

    cls = REGISTRY.get(name)
    source = REGISTRY.source(name)
    console.print(
        f"[bold]{name}[/] ({'built-in' if source.builtin else source}): "
        f"{getattr(cls, 'description', '')}",
        highlight=False,
    )
    opts = Table(title="options", title_justify="left")
    for col in ("option", "type", "default", "meaning"):
        opts.add_column(col, overflow="fold")
    opts.add_row("batch_size", "int", "32", "sequences per batch")
    opts.add_row("seed", "int", "0", "seed of the data (splits, generation, shuffling)")
    opts.add_row("num_workers", "int", "0", "DataLoader worker processes")
    for o in task_options(cls):
        opts.add_row(o.name, o.annotation, _fmt_default(o.default), o.help)
    console.print(opts)
    available = getattr(cls, "available_datasets", None)
    if callable(available):
        console.print(f"datasets (dataset=NAME): {', '.join(available())}", highlight=False)
    if not setup:
        return
    start = time.perf_counter()
    task = create_task(name, **options)
    task.setup("fit")
    elapsed = time.perf_counter() - start
    info = task.info
    batch = next(iter(task.train_dataloader()))
    facts = Table(
        title=f"configuration {options or '(defaults)'} — set up in {elapsed:.2f} s",
        title_justify="left",
        show_header=False,
    )
    facts.add_column("key")
    facts.add_column("value", overflow="fold")
    facts.add_row("output kind", info.output_kind)
    facts.add_row(
        "input",
        f"{info.input_kind}, input_size {info.input_size}"
        + (f", vocab_size {info.vocab_size}" if info.vocab_size else ""),
    )
    facts.add_row(
        "outputs",
        f"num_outputs {info.num_outputs}"
        + (f", target_shape {info.target_shape}" if info.target_shape else ""),
    )
    facts.add_row("metric", f"{info.metric} ({info.metric_mode})")
    for key, value in batch.items():
        facts.add_row(f"batch {key}", _shape(value))
    for key, value in info.extra.items():
        if key not in ("classes",) or len(value) <= 20:
            facts.add_row(key, str(value))
    console.print(facts)
    base = Table(title="baselines", title_justify="left")
    for col in ("split", "metric", "value", "baseline"):
        base.add_column(col)
    for b in info.baselines:
        base.add_row(b.split, b.metric, f"{b.value:.4f}", b.description)
    console.print(base)


@tasks_app.callback(invoke_without_command=True)
def tasks(
    ctx: typer.Context,
    pattern: str = typer.Option("*", "--pattern", "-p", help="fnmatch pattern of names."),
) -> None:
    """Table of tasks: name, output kind, description, options with defaults, source."""
    if ctx.invoked_subcommand is None:
        console.print(tasks_table(pattern))


@tasks_app.command("show")
def show(
    name: str = typer.Argument(..., help="Task name (see `seqlab tasks`)."),
    opt: list[str] = typer.Option(
        None, "--opt", "-o", "--task-opt", help="Task option KEY=VALUE (repeatable)."
    ),
    setup: bool = typer.Option(
        True, "--setup/--no-setup", help="Load the data to show shapes, sizes and baselines."
    ),
) -> None:
    """One task: its options, and on the given configuration its shapes, sizes and baselines."""
    show_task(name, parse_key_values(opt, "--opt"), setup=setup)


__all__ = ["show_task", "task_options", "tasks_app", "tasks_table"]

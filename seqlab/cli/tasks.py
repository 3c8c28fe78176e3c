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
from seqlab.cli.tables import Column, fitted_table

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


#: Paragraphs of a task's docstring that ``seqlab tasks show`` prints in full, by the word
#: they begin with: how data is scaled and the defaults the task supplies (its recipe).
SHOWN_PARAGRAPHS = ("Normalisation", "Recipe")


def doc_paragraphs(doc: str, starts: tuple[str, ...] = SHOWN_PARAGRAPHS) -> list[str]:
    """The paragraphs of ``doc`` beginning with one of ``starts``, each on one line."""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(doc or ""))
    return [
        " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
        if p.strip().startswith(starts)
    ]


def recipe_rows(name: str, options: dict[str, Any]) -> list[list[str]]:
    """``[key, value]`` rows of task ``name``'s recipe for ``options`` (none if it has none)."""
    from seqlab.training.task import task_recipe

    return [[key, str(value)] for key, value in task_recipe(name, options).items()]


def _print_recipe(name: str, cls: type, options: dict[str, Any]) -> None:
    for paragraph in doc_paragraphs(cls.__doc__ or ""):
        console.print(re.sub(r"``(.+?)``", r"\1", paragraph), highlight=False, soft_wrap=True)
    rows = recipe_rows(name, options)
    if rows:
        columns = (Column("key"), Column("value", wrap=True))
        title = f"recipe for {options or '(defaults)'}: what fit uses unless you set it"
        console.print(fitted_table(columns, rows, console.width, title=title))


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


_TASK_COLUMNS = (
    Column("name"),
    Column("output", importance=2),
    Column("description", wrap=True, importance=1),
    Column("options (defaults)", wrap=True, importance=3),
    Column("source", importance=4),
)


def tasks_table(pattern: str = "*", width: int | None = None) -> Table:
    """The rich table of every task matching ``pattern``, fitted to ``width`` characters
    (default: the console's; columns that do not fit are left out and named, no word is
    split). A plugin that cannot be loaded keeps its row, marked broken, and warns."""
    from seqlab.tasks import REGISTRY

    rows = []
    for name in REGISTRY.names(pattern):
        try:
            cls = REGISTRY.get(name)
            source = REGISTRY.source(name)
        except Exception as exc:  # a plugin that fails must not hide the others
            warnings.warn(str(exc), stacklevel=1)
            sources = " / ".join(str(s) for s in REGISTRY.sources(name)) or "?"
            rows.append([name, "?", "BROKEN: see the warning above", "—", f"plugin: {sources}"])
            continue
        options = ", ".join(f"{o.name}={_fmt_default(o.default)}" for o in task_options(cls))
        kind = getattr(cls, "output_kind", None) or "?"
        rows.append(
            [
                name,
                kind,
                getattr(cls, "description", "") or "",
                options or "(none)",
                "built-in" if source.builtin else f"plugin: {source}",
            ]
        )
    return fitted_table(
        _TASK_COLUMNS,
        rows,
        console.width if width is None else width,
        title="seqlab tasks",
        hint="`seqlab tasks show NAME` shows everything about one task",
    )


def common_options() -> list[tuple[str, str, str, str]]:
    """(option, type, default, meaning) of the options every task takes, with the defaults
    ``seqlab fit`` gives them (its config's, not the task classes')."""
    from seqlab.config import Config

    config = Config()
    return [
        (
            "batch_size",
            "int",
            str(config.task.batch_size),
            "sequences per batch (task.batch_size, --batch-size)",
        ),
        (
            "seed",
            "int",
            str(config.trainer.seed),
            "seed of the data: splits, generation, shuffling (trainer.seed, --seed)",
        ),
        (
            "num_workers",
            "int",
            str(config.task.num_workers),
            "DataLoader worker processes (task.num_workers)",
        ),
    ]


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
    common = common_options()
    rows = [list(row) for row in common]
    rows += [[o.name, o.annotation, _fmt_default(o.default), o.help] for o in task_options(cls)]
    columns = (
        Column("option"),
        Column("type", wrap=True),
        Column("default"),
        Column("meaning", wrap=True),
    )
    console.print(fitted_table(columns, rows, console.width, title="options"))
    _print_recipe(name, cls, options)
    available = getattr(cls, "available_datasets", None)
    if callable(available):
        console.print(f"datasets (dataset=NAME): {', '.join(available())}", highlight=False)
    if not setup:
        return
    start = time.perf_counter()
    defaults = {option: int(default) for option, _, default, _ in common}
    task = create_task(name, **{**defaults, **options})  # as `seqlab fit` makes it
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


__all__ = [
    "doc_paragraphs",
    "recipe_rows",
    "show_task",
    "task_options",
    "tasks_app",
    "tasks_table",
]

"""MkDocs hook: the CLI reference page, generated from the typer app at build time.

Nothing in ``reference/cli.md`` is written by hand: this hook imports every module of
the ``seqlab.cli`` package (each adds its commands to ``seqlab.cli.app`` when imported,
exactly as ``seqlab.cli.main`` does before it runs), turns the typer app into its click
command with ``typer.main.get_command`` and renders every command, sub-command, argument
and option — names, types, defaults, help — as markdown. A command or option added,
renamed or removed in the code changes the page on the next build; a command without a
help text fails ``mkdocs build --strict``.

Registered in ``mkdocs.yml`` under ``hooks:``.
"""

from __future__ import annotations

import html
import importlib
import logging
import pkgutil
import re
from typing import Any

log = logging.getLogger("mkdocs.hooks.cli_reference")

PAGE = "reference/cli.md"


def load_app() -> Any:
    """The typer app with every command registered (what ``seqlab.cli.main`` runs)."""
    import seqlab.cli as cli

    loader = getattr(cli, "load_commands", None)  # a public loader, once seqlab has one
    if callable(loader):
        loader()
    else:  # the equivalent of seqlab.cli._import_commands(), recursively
        for module in pkgutil.walk_packages(cli.__path__, f"{cli.__name__}."):
            if not module.name.rsplit(".", 1)[-1].startswith("_"):
                importlib.import_module(module.name)
    return cli.app


def _summary(command: Any) -> str:
    """The first paragraph of a command's help, on one line."""
    return " ".join((command.help or "").replace("\b", "").strip().split("\n\n")[0].split())


def _click_context(command: Any, name: str, parent: Any = None) -> Any:
    # typer may run on a vendored copy of click: build the context class the command uses
    return command.context_class(command, info_name=name, parent=parent)


def _markdown(text: str) -> str:
    """Help text as literal markdown: code spans kept, markup characters escaped.

    Help strings are written for a terminal (rich escapes ``[`` as ``\\[``); on the page
    ``<run-dir>``, ``*`` or ``_`` must print as they are, not become HTML or emphasis.
    """
    text = str(text).replace("\\[", "[")
    parts = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(parts), 2):  # the even parts are outside code spans
        part = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts[i] = re.sub(r"([\\*_\[\]])", r"\\\1", part)
    return "".join(parts)


def _cell(text: str) -> str:
    return _markdown(" ".join(str(text).split())).replace("|", "\\|")


def _row(param: Any, ctx: Any) -> str:
    record = param.get_help_record(ctx)
    kind = "argument" if getattr(param, "param_type_name", "") == "argument" else "option"
    if record is None:  # click gives arguments no help record
        record = (
            str(getattr(param, "human_readable_name", param.name)),
            getattr(param, "help", None) or "",
        )
    opts, help_text = record
    help_text = help_text or ""
    if getattr(param, "required", False) and "required" not in help_text:
        help_text = f"{help_text}  [required]".strip()
    # <code> rather than backticks: a | in a code span cannot be escaped in a table cell
    opts = html.escape(" ".join(str(opts).split())).replace("|", "&#124;")
    return f"| <code>{opts}</code> | {kind} | {_cell(help_text)} |"


def _params_tables(command: Any, ctx: Any) -> list[str]:
    """One table per help panel (as ``--help`` groups them), then the hidden aliases."""
    panels: dict[str, list[str]] = {}
    hidden: list[str] = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            hidden.extend(o for o in getattr(param, "opts", []) if o.startswith("-"))
            continue
        panel = getattr(param, "rich_help_panel", None) or (
            "Arguments" if getattr(param, "param_type_name", "") == "argument" else "Options"
        )
        panels.setdefault(panel, []).append(_row(param, ctx))
    out: list[str] = []
    for panel, rows in panels.items():
        if len(panels) > 1:
            out += [f"**{_markdown(panel)}**", ""]
        out += ["| name | kind | meaning |", "|---|---|---|", *rows, ""]
    if hidden:
        out += [
            "Also accepted, not listed by `--help` (the dotted config key of a flag above): "
            + ", ".join(f"`{o}`" for o in hidden)
            + ".",
            "",
        ]
    return out


# The order of the page: the workflow first; commands not named here follow alphabetically.
ORDER = ("fit", "validate", "test", "generate", "compare", "sweep", "bench", "cells", "tasks")


def _ordered(commands: dict[str, Any]) -> list[str]:
    known = [name for name in ORDER if name in commands]
    return known + sorted(name for name in commands if name not in ORDER)


def _render(
    command: Any, path: list[str], parent_ctx: Any, out: list[str], missing: list[str]
) -> None:
    ctx = _click_context(command, path[-1], parent_ctx)
    title = " ".join(path)
    level = "#" * min(len(path) + 1, 4)
    out.append(f"{level} `{title}`")
    out.append("")
    help_text = (command.help or "").strip()
    if not help_text:
        missing.append(title)
    else:
        # typer keeps the docstring's paragraphs; \b (click's no-rewrap marker) is noise here
        paragraphs = help_text.replace("\b", "").split("\n\n")
        out.extend(f"{_markdown(' '.join(p.split()))}\n" for p in paragraphs if p.strip())
    usage = command.get_usage(ctx).strip()
    out.append("```text")
    out.append(usage)
    out.append("```")
    out.append("")
    out.extend(_params_tables(command, ctx))
    subcommands = getattr(command, "commands", None) or {}
    for name in _ordered(subcommands):
        sub = subcommands[name]
        if getattr(sub, "hidden", False):
            continue
        _render(sub, [*path, name], ctx, out, missing)


def render_cli_reference() -> tuple[str, list[str]]:
    """The markdown of the CLI reference, and the commands that have no help text."""
    import typer.main

    command = typer.main.get_command(load_app())
    out = [
        "# Command-line reference",
        "",
        "Generated from the `seqlab` typer application when the site is built "
        "(`docs/hooks/cli_reference.py`): every command, argument and option, with the "
        "help text, type and default the code declares. `seqlab COMMAND --help` prints "
        "the same. Options of `seqlab fit` and `seqlab compare` that set config keys are "
        "explained with the config in [Training](../training.md); precedence is defaults "
        "< `--config` < flags < `--set`.",
        "",
    ]
    for name in _ordered(command.commands):
        sub = command.commands[name]
        if not getattr(sub, "hidden", False):
            anchor = f"seqlab-{name}"
            out.append(f"- [`seqlab {name}`](#{anchor}): {_markdown(_summary(sub))}")
    out.append("")
    missing: list[str] = []
    body: list[str] = []
    _render(command, ["seqlab"], None, body, missing)
    # the top-level entry's heading is the page title already
    out.extend(body[2:])
    return "\n".join(out) + "\n", missing


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    content, missing = render_cli_reference()
    for title in missing:
        log.warning("cli_reference: the command '%s' has no help text", title)
    existing = files.get_file_from_path(PAGE)
    if existing is not None:
        files.remove(existing)
    files.append(File.generated(config, PAGE, content=content))
    return files

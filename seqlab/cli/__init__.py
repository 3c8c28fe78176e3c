"""The ``seqlab`` command line: a thin typer layer over plain Python functions.

Each module of this package adds its commands to :data:`app` when imported; errors a user
can fix (:class:`seqlab.errors.SeqlabError`) become one paragraph on stderr and exit 2.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from seqlab.cli.app import app, console, err_console, new_app
from seqlab.errors import Interrupted, SeqlabError

if TYPE_CHECKING:
    from seqlab.config import Config


def _exception_classes() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """Usage-error and abort classes of whichever click typer runs on (it may vendor one)."""
    errors: list[type[BaseException]] = []
    aborts: list[type[BaseException]] = [typer.Abort]
    try:
        import typer._click.exceptions as vendored

        errors.append(vendored.ClickException)
        aborts.append(getattr(vendored, "Abort", typer.Abort))
    except ImportError:
        pass
    try:
        import click

        errors.append(click.ClickException)
        aborts.append(click.exceptions.Abort)
    except ImportError:
        pass
    return tuple(errors), tuple(aborts)


_CLICK_ERRORS, _ABORTS = _exception_classes()

__all__ = ["app", "build_app", "console", "err_console", "main"]


def _import_commands() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name != "app":
            importlib.import_module(f"{__name__}.{module.name}")


def build_app(schema: type[Config]) -> typer.Typer:
    """A new app holding the commands that take a config (``fit``, ``compare``, ``sweep``),
    their options generated from ``schema`` (a :class:`~seqlab.config.Config` subclass)."""
    from seqlab.cli.options import add_schema_commands

    _import_commands()
    return add_schema_commands(new_app(), schema)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    _import_commands()
    warnings.formatwarning = _format_warning
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = app(args=args, prog_name="seqlab", standalone_mode=False)
    except SeqlabError as exc:
        label = "[bold yellow]interrupted:" if isinstance(exc, Interrupted) else "[bold red]error:"
        err_console.print(f"{label}[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        code = exc.exit_code
    except _CLICK_ERRORS as exc:
        exc.show()
        code = exc.exit_code
    except _ABORTS:
        err_console.print("Aborted.")
        code = 130
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        code = 130
    except typer.Exit as exc:
        code = exc.exit_code
    else:
        code = rv if isinstance(rv, int) else 0
    if argv is None:
        sys.exit(code)
    return code

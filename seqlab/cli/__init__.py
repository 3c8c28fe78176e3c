"""The ``seqlab`` command line: a thin typer layer over plain Python functions.

Each module of this package adds its commands to :data:`app` when imported; errors a user
can fix (:class:`seqlab.errors.SeqlabError`) become one paragraph on stderr and exit 2.
``--traceback`` anywhere on the command line (or ``SEQLAB_DEBUG=1`` in the environment)
adds the error's traceback, with the exceptions chained to it, after that paragraph.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback
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

__all__ = ["DEBUG_ENV", "TRACEBACK_FLAG", "app", "build_app", "console", "err_console", "main"]

DEBUG_ENV = "SEQLAB_DEBUG"
TRACEBACK_FLAG = "--traceback"


def debugging() -> bool:
    """Whether tracebacks are wanted (``--traceback`` given, or ``SEQLAB_DEBUG=1``)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _import_commands() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name != "app":
            importlib.import_module(f"{__name__}.{module.name}")


def build_app(schema: type[Config]) -> typer.Typer:
    """A new app holding the commands that take a config (``fit``, ``compare``, ``sweep``, ``tune``),
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
    wanted = TRACEBACK_FLAG in args[: args.index("--") if "--" in args else len(args)]
    previous = os.environ.get(DEBUG_ENV)
    if wanted:
        args.remove(TRACEBACK_FLAG)
        os.environ[DEBUG_ENV] = "1"  # read by the commands that can show more
    try:
        code = _run(args)
    finally:
        if wanted and previous is None:
            del os.environ[DEBUG_ENV]
        elif wanted:
            os.environ[DEBUG_ENV] = previous
    if argv is None:
        sys.exit(code)
    return code


def _run(args: list[str]) -> int:
    try:
        rv = app(args=args, prog_name="seqlab", standalone_mode=False)
    except SeqlabError as exc:
        label = "[bold yellow]interrupted:" if isinstance(exc, Interrupted) else "[bold red]error:"
        err_console.print(f"{label}[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        if debugging():
            err_console.print()
            err_console.print(
                escape("".join(traceback.format_exception(exc))), highlight=False, soft_wrap=True
            )
        return exc.exit_code
    except _CLICK_ERRORS as exc:
        exc.show()
        return exc.exit_code
    except _ABORTS:
        err_console.print("Aborted.")
        return 130
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    return rv if isinstance(rv, int) else 0

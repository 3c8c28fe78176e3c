"""The typer application object and the consoles every command module shares."""

from __future__ import annotations

import typer
from rich.console import Console


def _print_version(value: bool) -> None:
    if value:
        from seqlab.version import __version__

        typer.echo(f"seqlab {__version__}")
        raise typer.Exit()


def _options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print seqlab's version and exit.",
    ),
) -> None:
    """seqlab: recurrent cells, trained, tracked and compared."""


def new_app() -> typer.Typer:
    """An empty ``seqlab`` application (commands are added by the modules of this package)."""
    app = typer.Typer(
        name="seqlab",
        help=(
            "seqlab: recurrent cells, trained, tracked and compared. Add --traceback (or "
            "SEQLAB_DEBUG=1) to any command to see an error's traceback."
        ),
        no_args_is_help=True,
        # `seqlab --install-completion` / `--show-completion` (bash, zsh, fish, PowerShell).
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_options)
    return app


app = new_app()
console = Console()
err_console = Console(stderr=True)


def parse_key_values(items: list[str] | None, flag: str) -> dict[str, object]:
    """Parse ``["a=1", "b=x"]`` into ``{"a": 1, "b": "x"}`` (values read as YAML scalars)."""
    from seqlab.config import split_key_value
    from seqlab.errors import ConfigError

    out: dict[str, object] = {}
    for item in items or []:
        pair = split_key_value(item)
        if pair is None:
            raise ConfigError(
                f"{flag} expects KEY=VALUE, got {item!r}; for example {flag} seq_len=200."
            )
        out[pair[0]] = pair[1]
    return out

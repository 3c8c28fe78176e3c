"""The exceptions seqlab raises for problems a user can fix.

Every message is one paragraph that names the problem and the fix. The CLI turns any
:class:`SeqlabError` into that paragraph on stderr and exit code 2, with no traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SeqlabError(Exception):
    """Base class of errors caused by user input (names, options, files, plugins)."""

    exit_code: int = 2


class UnknownNameError(SeqlabError, KeyError):
    """A cell, task or other registered name that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(SeqlabError):
    """Two installed sources provide the same registry name."""


class PluginError(SeqlabError):
    """A plugin could not be imported or does not follow the contract."""


class ConfigError(SeqlabError, ValueError):
    """An option, config file or command-line value is invalid."""


class DataError(SeqlabError, ValueError):
    """A data file or data set is missing, empty, malformed or unusable."""


class CheckpointError(SeqlabError):
    """A checkpoint is missing, corrupt, foreign or needs an uninstalled plugin."""


class MissingDependencyError(SeqlabError, ImportError):
    """An optional dependency is needed for what was asked and is not installed."""


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``" Did you mean 'a' or 'b'?"`` for close matches of ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    if not close:
        return ""
    quoted = [f"'{c}'" for c in close]
    joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" Did you mean {joined}?"

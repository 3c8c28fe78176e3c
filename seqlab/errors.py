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


class NonFiniteLossError(SeqlabError, FloatingPointError):
    """Training produced a NaN or infinite loss (the run stopped before that update)."""


class RunInUseError(SeqlabError):
    """Another process is writing the run directory."""


class Interrupted(SeqlabError):
    """Training was stopped by SIGINT or SIGTERM after saving a checkpoint to resume from.

    Exit code 130, the shell's code for a program ended by Ctrl-C.
    """

    exit_code = 130


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: a swap of neighbours ("gur" → "gru") costs 1."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``" Did you mean 'a' or 'b'?"`` for close matches of ``name``, or ``""``.

    Candidates are difflib's close matches plus names within a small edit distance
    (typos, swapped letters, case), best first.
    """
    choices = list(choices)
    lowered = name.lower()
    limit = max(1, len(name) // 3)
    close = set(difflib.get_close_matches(name, choices, n=n * 2, cutoff=0.6))
    close |= {c for c in choices if _edit_distance(lowered, c.lower()) <= limit}
    if not close:
        return ""
    ranked = sorted(
        close,
        key=lambda c: (
            _edit_distance(lowered, c.lower()),
            -difflib.SequenceMatcher(None, name, c).ratio(),
            c,
        ),
    )[:n]
    quoted = [f"'{c}'" for c in ranked]
    joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" Did you mean {joined}?"

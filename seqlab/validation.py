"""Range checks of user-given values: the one home of "must be positive" and its kin.

Every layer (config, cells, the unroller, tasks, runners, the CLI) checks numbers with
these, so a bad value reads the same wherever it is caught. Each raises
:class:`~seqlab.errors.ConfigError` (or the ``error`` class given) with a message that
names the key and the value; callers add context with ``key`` ("--workers",
"model.hidden_size", "LSTM: hidden_size").

>>> positive_int("--workers", 2)
2
>>> positive("optim.lr", 0)
Traceback (most recent call last):
...
seqlab.errors.ConfigError: optim.lr must be positive, got 0.
"""

from __future__ import annotations

import math
from typing import Any

from seqlab.errors import ConfigError


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive(key: str, value: Any, *, error: type[Exception] = ConfigError) -> Any:
    """``value`` if it is a finite number > 0."""
    if not (_is_number(value) and value > 0):
        raise error(f"{key} must be positive, got {value!r}.")
    return value


def at_least(key: str, value: Any, minimum: float, *, error: type[Exception] = ConfigError) -> Any:
    """``value`` if it is a finite number ≥ ``minimum``."""
    if not (_is_number(value) and value >= minimum):
        raise error(f"{key} must be ≥ {minimum}, got {value!r}.")
    return value


def probability(key: str, value: Any, *, error: type[Exception] = ConfigError) -> Any:
    """``value`` if it lies in [0, 1) (dropout-like rates; 1 would drop everything)."""
    if not (_is_number(value) and 0.0 <= value < 1.0):
        raise error(f"{key} must be a probability in [0, 1), got {value!r}.")
    return value


def positive_int(
    key: str, value: Any, *, what: str = "", error: type[Exception] = ConfigError
) -> int:
    """``value`` if it is an integer > 0 (``what`` adds a hint such as "0: in this process")."""
    if not (_is_int(value) and value > 0):
        hint = f" ({what})" if what else ""
        raise error(f"{key} must be a positive integer{hint}, got {value!r}.")
    return value


def int_at_least(
    key: str, value: Any, minimum: int, *, what: str = "", error: type[Exception] = ConfigError
) -> int:
    """``value`` if it is an integer ≥ ``minimum``."""
    if not (_is_int(value) and value >= minimum):
        hint = f" ({what})" if what else ""
        raise error(f"{key} must be an integer ≥ {minimum}{hint}, got {value!r}.")
    return value


def in_range(
    key: str,
    value: Any,
    low: float,
    high: float,
    *,
    closed: bool = False,
    error: type[Exception] = ConfigError,
) -> Any:
    """``value`` if ``low < value < high`` (``closed``: ``low ≤ value ≤ high``)."""
    ok = _is_number(value) and (low <= value <= high if closed else low < value < high)
    if not ok:
        interval = f"[{low}, {high}]" if closed else f"({low}, {high})"
        raise error(f"{key} must lie in {interval}, got {value!r}.")
    return value


__all__ = ["at_least", "in_range", "int_at_least", "positive", "positive_int", "probability"]

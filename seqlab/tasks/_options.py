"""Validation of task options: each failure is a ConfigError naming option, value and range.

Options arrive from Python keyword arguments or from ``--task-opt KEY=VALUE`` (read as YAML
scalars), so a number may come as ``int``, ``float`` or ``bool``; these helpers accept the
sensible spellings and reject the rest with the valid range in the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from seqlab.errors import ConfigError, did_you_mean
from seqlab.validation import in_range, int_at_least, probability


class _OutOfRange(Exception):
    """Raised by a :mod:`seqlab.validation` rule here, re-raised as the task's message."""


def _passes(rule: Callable[..., Any], *args: Any) -> bool:
    """Whether ``rule(key, value, ...)`` from :mod:`seqlab.validation` accepts the value."""
    try:
        rule(*args, error=_OutOfRange)
    except _OutOfRange:
        return False
    return True


def _fail(task: str, option: str, value: Any, must: str, example: Any) -> ConfigError:
    return ConfigError(
        f"task '{task}': option {option}={value!r} is invalid: it must be {must}. "
        f"Pass a valid value, e.g. {option}={example}."
    )


def check_int(
    task: str,
    option: str,
    value: Any,
    *,
    minimum: int,
    maximum: int | None = None,
    example: int | None = None,
) -> int:
    """``value`` as an int in ``[minimum, maximum]`` (bools and fractional floats rejected)."""
    must = f"an integer ≥ {minimum}" + (f" and ≤ {maximum}" if maximum is not None else "")
    example = minimum if example is None else example
    if isinstance(value, bool):
        raise _fail(task, option, value, must, example)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _passes(int_at_least, option, value, minimum) or (
        maximum is not None and value > maximum
    ):
        raise _fail(task, option, value, must, example)
    return value


def check_fraction(
    task: str,
    option: str,
    value: Any,
    *,
    allow_zero: bool = False,
    example: float = 0.1,
) -> float:
    """``value`` as a float in ``(0, 1)`` (or ``[0, 1)`` with ``allow_zero``)."""
    must = "a number in [0, 1)" if allow_zero else "a number strictly between 0 and 1"
    ok = (
        _passes(probability, option, value)
        if allow_zero
        else _passes(in_range, option, value, 0.0, 1.0)
    )
    if not ok:
        raise _fail(task, option, value, must, example)
    return float(value)


def check_bool(task: str, option: str, value: Any) -> bool:
    """``value`` as a bool (``true``/``false``, ``1``/``0`` and ``yes``/``no`` spellings)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise _fail(task, option, value, "true or false", "true")


def check_choice(task: str, option: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` as one of ``choices`` (with a did-you-mean suggestion)."""
    if not isinstance(value, str) or value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise ConfigError(
            f"task '{task}': option {option}={value!r} is invalid.{hint} "
            f"It must be one of: {', '.join(choices)}."
        )
    return value


def check_fractions_sum(task: str, **fractions: float) -> None:
    """The held-out fractions must leave a training part."""
    total = sum(fractions.values())
    if total >= 1.0:
        named = " + ".join(f"{k}={v:g}" for k, v in fractions.items())
        raise ConfigError(
            f"task '{task}': {named} = {total:g} leaves no training data; "
            f"the held-out fractions must sum to less than 1 (e.g. val_fraction=0.1)."
        )


def check_name_list(task: str, option: str, value: Any) -> list[str] | None:
    """A list of column names from a list or a comma-separated string (``None`` stays)."""
    if value is None:
        return None
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, Iterable):
        names = [str(part).strip() for part in value]
    else:
        raise _fail(task, option, value, "a column name or a comma-separated list of names", "a,b")
    if not names or any(not n for n in names):
        raise _fail(task, option, value, "a column name or a comma-separated list of names", "a,b")
    if len(set(names)) != len(names):
        raise _fail(task, option, value, "a list of distinct column names", "a,b")
    return names


def check_common(task: str, batch_size: Any, seed: Any, num_workers: Any) -> tuple[int, int, int]:
    """The options every task takes: ``batch_size`` ≥ 1, ``seed`` ≥ 0, ``num_workers`` ≥ 0."""
    return (
        check_int(task, "batch_size", batch_size, minimum=1, example=32),
        check_int(task, "seed", seed, minimum=0, example=0),
        check_int(task, "num_workers", num_workers, minimum=0, example=2),
    )

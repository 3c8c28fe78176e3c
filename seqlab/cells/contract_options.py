"""A cell's options, typed: each value checked (and converted) before the cell is built.

A cell is built as ``Cls(input_size, hidden_size, **options)``. Options typed on the
command line arrive as YAML scalars (``1`` an int, ``true`` a bool, ``high`` a string), so
a value that does not fit the option is the user's mistake, named with the option, not
something the cell should trip over. Each option is checked against its constructor
parameter:

- an annotated parameter against its annotation, which states the type: checked, not
  converted. ``bool`` takes a bool; ``int`` an integer (``3.0`` reads as 3, ``3.5`` and
  ``"3"`` are refused); ``float`` any number; ``str`` a string (numbers are written out:
  ``5`` → ``"5"``); a ``Literal`` one of its values; ``X | None`` also ``None``
  (``null``/``none``); anything else is passed through for the cell to check;
- an unannotated parameter (a plain ``nn.Module`` plugin) by the type of its default,
  converting what reads as that type (``"0.5"`` → 0.5, ``"no"``/``0`` → False); an ``int``
  default also takes a float, since ``def __init__(..., dt=1)`` often means a number; no
  default or a ``None`` default: unchecked.

>>> from seqlab.cells.contract_options import typed_options
>>> from seqlab.cells import get_cell
>>> typed_options(get_cell("lstm"), "lstm", {"bias": False, "forget_bias": 1})
{'bias': False, 'forget_bias': 1.0}
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from seqlab.errors import ConfigError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null", "~"}
_PASS = object()  # a value that fits the annotation as it is


class _Mismatch(Exception):
    """The value does not fit; the argument says what it must be."""


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The constructor options of ``cls`` (all but the sizes and ``*args``/``**kwargs``)."""
    try:
        params = inspect.signature(cls, eval_str=True).parameters
    except Exception:  # annotations that cannot be evaluated are not checked
        try:
            params = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            return {}
    return {
        name: p
        for name, p in params.items()
        if name not in ("input_size", "hidden_size")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def option_hints(cls: type) -> dict[str, Any]:
    """The type each constructor option of ``cls`` is checked against (``Any``: none).

    Annotations win; an unannotated option is typed by its default's type.
    """
    out: dict[str, Any] = {}
    for name, p in _parameters(cls).items():
        if p.annotation is not p.empty and not isinstance(p.annotation, str):
            out[name] = p.annotation
        elif p.default is not p.empty and type(p.default) in (bool, int, float, str):
            # an int default often stands for any number (def __init__(..., dt=1))
            out[name] = float | int if type(p.default) is int else type(p.default)
        else:
            out[name] = Any
    return out


def typed_options(cls: type, label: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` converted to the types of ``cls``'s constructor parameters.

    Raises :class:`~seqlab.errors.ConfigError` naming the option, the value and what it
    must be when a value does not fit. Options ``cls`` does not declare pass unchanged
    (a cell taking ``**kwargs`` checks those itself).
    """
    hints = option_hints(cls)
    params = _parameters(cls)
    out = dict(options)
    for key, value in options.items():
        if key not in hints:
            continue
        # An annotation is the author's statement of the type: checked, not converted
        # (only int → float widens). A plain default only hints at a type: converted.
        annotated = params[key].annotation is not inspect.Parameter.empty
        try:
            converted = _convert(value, hints[key], strict=annotated)
        except _Mismatch as exc:
            default = _parameters(cls)[key].default
            example = "" if default is inspect.Parameter.empty else f" (its default is {default!r})"
            raise ConfigError(
                f"cell '{label}': option {key}={value!r} {exc.args[0]}.{_separator_hint(value)}"
                f" Give {key} a value of that kind{example}, e.g. --cell-opt {key}=VALUE or, "
                f"in compare's --cells, {label}[{key}=VALUE,...]."
            ) from None
        if converted is not _PASS:
            out[key] = converted
    return out


def _separator_hint(value: Any) -> str:
    if isinstance(value, str) and ";" in value and "=" in value:
        return " Options in NAME[...] are separated by commas, not semicolons."
    return ""


def _convert(value: Any, hint: Any, *, strict: bool = False) -> Any:
    """``value`` as ``hint`` (``_PASS`` when it fits as it is), or raise :class:`_Mismatch`.
    ``strict``: only a value of the type itself fits (an int for a float too)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return _PASS
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return _convert_union(value, typing.get_args(hint), strict)
    if origin is Literal:
        return _convert_choice(value, typing.get_args(hint))
    if strict and isinstance(value, str) and hint in (bool, int, float):
        raise _Mismatch(_EXPECTED[hint])
    if hint is bool:
        if strict and not isinstance(value, bool):
            raise _Mismatch(_EXPECTED[bool])
        return _to_bool(value)
    if hint is int:
        return _to_int(value)
    if hint is float:
        return _to_float(value)
    if hint is str:
        if isinstance(value, (bool, int, float)):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if not isinstance(value, str):
            raise _Mismatch(f"must be a string, not {type(value).__name__}")
        return _PASS
    return _PASS  # a type seqlab cannot read from the command line: the cell checks it


def _convert_union(value: Any, args: tuple[Any, ...], strict: bool = False) -> Any:
    members = [a for a in args if a is not type(None)]
    if len(members) < len(args) and (
        value is None or (isinstance(value, str) and value.strip().lower() in _NONE)
    ):
        return None
    if set(members) == {float, int} and not (strict and isinstance(value, str)):
        return _to_number(value)
    problems = []
    for member in members:
        try:
            return _convert(value, member, strict=strict)
        except _Mismatch as exc:
            problems.append(exc.args[0])
    if len(members) < len(args):
        problems.append("or null")
    raise _Mismatch(" ".join(problems) if len(problems) <= 2 else "; ".join(problems))


def _convert_choice(value: Any, choices: tuple[Any, ...]) -> Any:
    for choice in choices:
        if value == choice or (isinstance(value, str) and str(choice) == value.strip()):
            return choice
    raise _Mismatch(f"must be one of {', '.join(str(c) for c in choices)}")


_EXPECTED = {
    bool: "must be true or false",
    int: "must be an integer",
    float: "must be a number",
}


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return _PASS
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Mismatch("must be true or false (also yes/no, on/off, 1/0 for an unannotated option)")


def _to_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return _PASS
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Mismatch("must be an integer")


def _to_float(value: Any) -> Any:
    if isinstance(value, float):
        return _PASS
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
        else:
            if not math.isnan(number):
                return number
    raise _Mismatch("must be a number")


def _to_number(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _PASS
    converted = _to_float(value)
    return int(converted) if float(converted).is_integer() and "." not in str(value) else converted


__all__ = ["option_hints", "typed_options"]

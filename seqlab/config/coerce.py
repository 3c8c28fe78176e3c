"""Type checking of config values against the schema's type hints, gently converting.

``"1e-3"`` becomes a float where a float is expected (YAML 1.1 reads it as a string),
``3.0`` an int where an int is, ``"a,b"`` a list where a list is; anything else of the
wrong type is a :class:`~seqlab.errors.ConfigError` naming the key, the layer it came from
and the type it must have.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from seqlab.errors import ConfigError, did_you_mean


class Mismatch(Exception):
    """``value`` does not have (and cannot be read as) the type asked for."""


def type_name(hint: Any) -> str:
    """``hint`` in words: ``an integer or null``, ``'adam' or 'sgd'``, ``a mapping``."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is dict:
        return "a mapping"
    if origin is list:
        return "a list"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _union(value: Any, hint: Any, key: str, source: str) -> Any:
    args = typing.get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise Mismatch
    # Exact type matches first, so that 5 stays an int in `float | int`.
    for arg in args:
        if arg in (int, float, str, bool) and type(value) is arg:
            return value
    for arg in args:
        if arg is type(None):
            continue
        try:
            return coerce(value, arg, key, source)
        except Mismatch:
            continue
    raise Mismatch


def _literal(value: Any, hint: Any, key: str, source: str) -> Any:
    choices = typing.get_args(hint)
    if value in choices and type(value) is type(choices[0]):
        return value
    hint_text = did_you_mean(str(value), [str(c) for c in choices])
    raise ConfigError(
        f"{key}={value!r} (from {source}) is not allowed.{hint_text} "
        f"Choose one of: {', '.join(str(c) for c in choices)}."
    )


def _container(value: Any, hint: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise Mismatch
        return build(hint, value, f"{key}.", source)
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise Mismatch
        return copy.deepcopy(dict(value))
    # a list
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise Mismatch
    (item,) = typing.get_args(hint) or (Any,)
    return [coerce(v, item, key, source) for v in value]


def _number(value: Any, kind: type) -> Any:
    """``value`` as an int or float (``kind``), from a number or its text."""
    if isinstance(value, bool):
        raise Mismatch
    if kind is int and isinstance(value, int):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
        try:
            return kind(value.strip())
        except ValueError:
            pass
    raise Mismatch


def _scalar(value: Any, hint: Any) -> Any:
    if value is None:
        raise Mismatch
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise Mismatch
    if hint in (int, float):
        return _number(value, hint)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise Mismatch


def coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """``value`` checked against (and gently converted to) the type ``hint``.

    Raises :class:`Mismatch` when it has the wrong type (the caller words the error), or
    :class:`ConfigError` for a value outside a ``Literal``'s choices.
    """
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        return _union(value, hint, key, source)
    if origin is Literal:
        return _literal(value, hint, key, source)
    if dataclasses.is_dataclass(hint) or origin in (dict, list):
        return _container(value, hint, key, source)
    if hint in (bool, int, float, str):
        return _scalar(value, hint)
    raise ConfigError(f"{key}: unsupported type {hint!r} in the config schema.")  # a bug here


def build(cls: type, data: Mapping[str, Any], prefix: str, source: str) -> Any:
    """The dataclass ``cls`` from ``data`` (missing keys keep their defaults), every value
    checked; errors name the dotted key (``prefix`` + name) and ``source``."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    check_keys(data, names, prefix, source)
    kwargs = {}
    for name in names:
        if name not in data:
            continue
        key = f"{prefix}{name}"
        try:
            kwargs[name] = coerce(data[name], hints[name], key, source)
        except Mismatch:
            raise ConfigError(
                f"{key}={data[name]!r} (from {source}) has the wrong type: it must be "
                f"{type_name(hints[name])}."
            ) from None
    return cls(**kwargs)


#: Names other libraries (Keras, PyTorch Lightning, Hugging Face) use for seqlab's keys:
#: their "did you mean" when spelling alone does not find them.
ALIASES = {
    "learning_rate": "lr",
    "learningrate": "lr",
    "epochs": "max_epochs",
    "num_epochs": "max_epochs",
    "steps": "max_steps",
    "num_steps": "max_steps",
    "train_steps": "max_steps",
    "layers": "num_layers",
    "n_layers": "num_layers",
    "hidden": "hidden_size",
    "units": "hidden_size",
    "hidden_dim": "hidden_size",
    "optimizer": "name",
    "clip": "gradient_clip",
    "grad_clip": "gradient_clip",
    "gradient_clip_val": "gradient_clip",
    "clipnorm": "gradient_clip",
    "gpus": "devices",
    "cell_type": "cell",
    "rnn_type": "cell",
    "bidirectional_rnn": "bidirectional",
    "embedding_dim": "embedding_size",
    "workers": "num_workers",
}


def _alias_hint(name: str, names: list[str]) -> str:
    target = ALIASES.get(name.lower().replace("-", "_"))
    return f" Did you mean '{target}'?" if target in names else ""


def check_keys(data: Mapping[str, Any], names: list[str], prefix: str, source: str) -> None:
    """Raise a :class:`ConfigError` naming any key of ``data`` not in ``names``."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{prefix.rstrip('.') or 'the config'} (from {source}) must be a mapping of keys to "
            f"values, got {type(data).__name__}."
        )
    unknown = [k for k in data if k not in names]
    if unknown:
        first = str(unknown[0])
        full = ", ".join(f"'{prefix}{k}'" for k in unknown)
        section = f"'{prefix.rstrip('.')}'" if prefix else "the top level"
        hint = did_you_mean(first, names) or _alias_hint(first, names)
        if hint:
            hint = hint.replace("'", f"'{prefix}", 1) if prefix else hint
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {full} (from {source}).{hint} "
            f"The keys of {section} are: {', '.join(names)}."
        )


__all__ = ["ALIASES", "Mismatch", "build", "check_keys", "coerce", "type_name"]

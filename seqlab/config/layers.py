"""Config layers as plain nested dicts: merging, dotted overrides, YAML files, KEY=VALUE.

A file states whole mappings (``task.options`` in a YAML replaces the lower layers'
options); dotted keys add to them key by key. Options belong to what they configure: when
a layer changes ``task.name`` without giving ``task.options``, the options of the lower
layers (meant for the other task) are dropped; ``model.cell`` and ``model.cell_options``
behave the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from seqlab.config.coerce import check_keys
from seqlab.errors import ConfigError

# (section, key) → the options key that belongs to it
OWNED_OPTIONS = {("task", "name"): "options", ("model", "cell"): "cell_options"}

# The limits of a run's budget, each with the value meaning "no limit". A layer that sets
# some limits and not the others lifts the others: the budget given is the budget (a
# ``--max-steps 100`` or ``--max-time 60`` must not lose to the default ``max_epochs``).
BUDGET_KEYS = {
    ("trainer", "max_steps"): -1,
    ("trainer", "max_epochs"): None,
    ("trainer", "max_time"): None,
}


def merge_layer(
    base: dict[str, Any], layer: Mapping[str, Any], source: str, *, merge_dicts: bool = False
) -> dict[str, Any]:
    """``layer`` (nested dicts) over ``base``; ``merge_dicts``: mappings are added to key by
    key (dotted overrides) instead of replaced (files)."""
    if not isinstance(layer, Mapping):
        raise ConfigError(
            f"{source} must hold a mapping of sections (model, task, optim, trainer, run, log), "
            f"got {type(layer).__name__}."
        )
    check_keys(layer, list(base), "", source)
    out = copy.deepcopy(base)
    for section, values in layer.items():
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"section '{section}' (from {source}) must be a mapping of keys to values, "
                f"got {values!r}."
            )
        check_keys(values, list(out[section]), f"{section}.", source)
        for key, value in values.items():
            owned = OWNED_OPTIONS.get((section, key))
            if owned is not None and value != out[section][key]:
                out[section][owned] = {}  # the lower layers' options were for another one
        _lift_other_limit(out, section, values)
        for key, value in values.items():
            if (
                merge_dicts
                and isinstance(out[section].get(key), dict)
                and isinstance(value, Mapping)
            ):
                out[section][key] = {**out[section][key], **copy.deepcopy(dict(value))}
            else:
                out[section][key] = copy.deepcopy(value)
    return out


def _lift_other_limit(out: dict[str, Any], section: str, values: Mapping[str, Any]) -> None:
    """A layer giving budget limits (not "no limit") and not the others: the others are
    lifted, so the limits given are the ones that stop the run."""
    given = {
        key
        for (sec, key), unlimited in BUDGET_KEYS.items()
        if sec == section and key in values and values[key] != unlimited
    }
    if given:
        for (sec, key), unlimited in BUDGET_KEYS.items():
            if sec == section and key not in values:
                out[sec][key] = unlimited


def apply_dotted(base: dict[str, Any], items: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Apply ``{"a.b": v, "task.options.seq_len": 200}`` as one layer over ``base``."""
    layer: dict[str, Any] = {}
    for dotted, value in items.items():
        parts = [p for p in str(dotted).split(".")]
        if len(parts) < 2 or not all(parts):
            raise ConfigError(
                f"{source} key {dotted!r} must be SECTION.KEY (e.g. optim.lr=3e-4 or "
                f"task.options.seq_len=200); the sections are: {', '.join(base)}."
            )
        section, key, rest = parts[0], parts[1], parts[2:]
        check_keys({section: None}, list(base), "", source)
        check_keys({key: None}, list(base[section]), f"{section}.", source)
        target = layer.setdefault(section, {})
        if rest:
            if not isinstance(base[section][key], dict):
                raise ConfigError(
                    f"{source} key {dotted!r}: {section}.{key} is not a mapping, so it has no "
                    f"sub-key {'.'.join(rest)!r}."
                )
            node = target.setdefault(key, {})
            for part in rest[:-1]:
                node = node.setdefault(part, {})
            node[rest[-1]] = value
        else:
            target[key] = value
    return merge_layer(base, layer, source, merge_dicts=True)


def parse_scalar(raw: str) -> Any:
    """``raw`` read as a YAML scalar (``"3"`` → 3, ``"null"`` → None), else the text itself."""
    if not raw.strip():
        return ""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def split_key_value(item: str) -> tuple[str, Any] | None:
    """``"a.b=1"`` → ``("a.b", 1)``, the value read as a YAML scalar; ``None`` if not KEY=VALUE.

    The one reader of every KEY=VALUE on the command line (``--set``, ``--task-opt``,
    ``--cell-opt``, compare's ``lstm[forget_bias=0]``); callers word their own error.
    """
    key, sep, raw = str(item).partition("=")
    if not sep or not key.strip():
        return None
    return key.strip(), parse_scalar(raw)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c.d=x"]`` → ``{"a.b": 1, "c.d": "x"}``; values are read as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        pair = split_key_value(item)
        if pair is None:
            raise ConfigError(
                f"--set expects SECTION.KEY=VALUE, got {item!r}; for example --set optim.lr=3e-4."
            )
        out[pair[0]] = pair[1]
    return out


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """The mapping a YAML config holds (``{}`` when empty); errors name ``source``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{source} is not valid YAML{where}: {problem}. Fix the file (YAML mappings are "
            f"'key: value', nested by indentation with spaces)."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must hold a mapping of sections (model, task, optim, trainer, run, log), "
            f"got a {type(data).__name__}."
        )
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping the YAML file ``path`` holds; a missing, binary or malformed file is a
    :class:`ConfigError` naming it."""
    p = Path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        raise ConfigError(
            f"config file {str(p)!r} {what}; pass a YAML file, e.g. --config configs/adding-t100.yaml."
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {str(p)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}). "
            f"Pass a YAML file (see configs/), or re-encode this one as UTF-8."
        ) from None
    return parse_yaml(text, f"config file {str(p)!r}")


__all__ = [
    "BUDGET_KEYS",
    "OWNED_OPTIONS",
    "apply_dotted",
    "merge_layer",
    "parse_overrides",
    "parse_scalar",
    "parse_yaml",
    "read_yaml",
    "split_key_value",
]

"""The keys of the config schema, described: dotted name, type, default, meaning, flags.

What a front end (the command line) needs to offer every key without restating it: the
meaning of each key is its class docstring's ``Attributes:`` entry, its short flags the
field's ``metadata["flag"]``.

>>> key = next(k for k in config_keys() if k.key == "model.hidden_size")
>>> key.flags, key.default, key.help
(('--hidden-size',), 128, 'units per layer and direction.')
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any

from seqlab.config.experiment import Config

_ENTRY = re.compile(r"^(\w+)(?: \([^)]*\))?:\s*(.*)$")


def _own_attribute_docs(doc: str) -> dict[str, str]:
    docs: dict[str, str] = {}
    inside, indent, current = False, 0, None
    for line in doc.splitlines():
        stripped = line.strip()
        if not inside:
            inside = stripped == "Attributes:"
            continue
        if not stripped:
            continue
        depth = len(line) - len(line.lstrip())
        if depth == 0:  # the next section (or prose) ends it
            break
        match = _ENTRY.match(stripped)
        if match and (current is None or depth <= indent):
            indent, current = depth, match.group(1)
            docs[current] = match.group(2)
        elif current is not None:
            docs[current] += " " + stripped
    return docs


def attribute_docs(cls: type) -> dict[str, str]:
    """``{name: text}`` from the ``Attributes:`` sections of the docstrings of ``cls`` and its
    bases (Google style: ``name: text``, continuation lines indented deeper), each entry
    joined into one line; a subclass's entry wins."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_own_attribute_docs(inspect.cleandoc(klass.__dict__.get("__doc__") or "")))
    return docs


@dataclass(frozen=True)
class ConfigKey:
    """One settable key of a config schema.

    Attributes:
        key: the dotted name (``model.hidden_size``).
        section: its section (``model``); ``section_doc``: that section's one-line summary.
        hint: its type hint; ``default``: its default value (``None`` for a factory's).
        help: its meaning, from its class docstring (empty when undocumented).
        flags: its short command-line flags from the field's metadata (may be empty).
    """

    key: str
    section: str
    section_doc: str
    hint: Any
    default: Any
    help: str
    flags: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def config_keys(schema: type = Config) -> list[ConfigKey]:
    """Every key of every section of ``schema`` (a dataclass of section dataclasses), in
    declaration order."""
    out = []
    section_hints = typing.get_type_hints(schema)
    for section in dataclasses.fields(schema):
        cls = section_hints[section.name]
        summary = (inspect.getdoc(cls) or "").split("\n", 1)[0]
        docs = attribute_docs(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            flags = f.metadata.get("flag", ())
            out.append(
                ConfigKey(
                    key=f"{section.name}.{f.name}",
                    section=section.name,
                    section_doc=summary,
                    hint=hints[f.name],
                    default=_default(f),
                    help=docs.get(f.name, ""),
                    flags=(flags,) if isinstance(flags, str) else tuple(flags),
                )
            )
    return out


__all__ = ["ConfigKey", "attribute_docs", "config_keys"]

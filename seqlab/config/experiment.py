"""The whole experiment config and its resolution from layers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqlab.config.coerce import build
from seqlab.config.layers import (
    apply_dotted,
    merge_layer,
    parse_overrides,
    parse_yaml,
    read_yaml,
)
from seqlab.config.sections import (
    LogConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TaskConfig,
    TrainerConfig,
)


@dataclass
class Config:
    """A whole experiment: ``model``, ``task``, ``optim``, ``trainer``, ``run``, ``log``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    run: RunConfig = field(default_factory=RunConfig)
    log: LogConfig = field(default_factory=LogConfig)

    # -- conversions ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts of YAML scalars (what ``config.yaml`` and checkpoints hold)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> Config:
        """Build and check a config from nested dicts; missing keys keep their defaults."""
        merged = merge_layer(cls().to_dict(), data, source)
        return build(cls, merged, "", source)

    @classmethod
    def from_yaml(cls, text: str, source: str = "YAML") -> Config:
        return cls.from_dict(parse_yaml(text, source), source)

    @classmethod
    def load(cls, path: str | Path) -> Config:
        return cls.from_dict(read_yaml(path), str(path))

    def validate(self) -> Config:
        """Check value ranges of every section (types are checked when built)."""
        for section in dataclasses.fields(self):
            check = getattr(getattr(self, section.name), "validate", None)
            if check is not None:
                check()
        return self

    def replace(
        self, overrides: Iterable[str] | Mapping[str, Any], source: str = "--set"
    ) -> Config:
        """A copy with dotted overrides applied (``["optim.lr=0.01"]`` or ``{"optim.lr": 0.01}``);
        errors say the values came from ``source``."""
        items = (
            parse_overrides(overrides) if not isinstance(overrides, Mapping) else dict(overrides)
        )
        data = apply_dotted(self.to_dict(), items, source)
        return build(type(self), data, "", source).validate()


#: A task's recipe: ``(task name, task options) → {dotted key: value}``, the defaults suited
#: to that task (see :meth:`seqlab.tasks.base.Task.recipe`).
Recipe = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
RECIPE_SOURCE = "the task's recipe"

_recipe: list[Recipe] = []  # the one registered recipe source (the training layer's)


def set_recipe_source(source: Recipe | None) -> None:
    """Register where :func:`resolve_config` gets task recipes from (``None``: nowhere).

    The config layer knows no tasks; the layer that does (``seqlab.training``, the CLI)
    registers its lookup here when imported.
    """
    _recipe[:] = [] if source is None else [source]


def no_recipe(task: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A recipe source giving nothing (the built-in defaults alone)."""
    return {}


def resolve_config(
    config_file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    *,
    base: Config | Mapping[str, Any] | None = None,
    override_source: str = "--set",
    schema: type[Config] | None = None,
    recipe: Recipe | None = None,
) -> Config:
    """The experiment config from its layers: ``base`` (default: the defaults, then the
    task's recipe) < the YAML ``config_file`` < ``flags`` (dotted keys, ``None`` values
    ignored) < dotted ``overrides``.

    The recipe is the task's own defaults for the task and options the other layers name
    (``recipe``, default: the registered source, :func:`set_recipe_source`); it is used
    only over the built-in defaults, never over a ``base`` (a resumed run's config).
    ``override_source`` names where the overrides came from in errors (a sweep file, say);
    ``schema`` is the config class (default: the class of ``base``, else :class:`Config`).
    """
    if schema is None:
        schema = type(base) if isinstance(base, Config) else Config
    if overrides is not None and not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)  # once: the layers may be applied twice
    if isinstance(base, Config):
        data = base.to_dict()
    elif base is not None:
        data = merge_layer(schema().to_dict(), base, "base config")
    else:
        data = schema().to_dict()
    file_layer = None if config_file is None else read_yaml(config_file)
    user = _user_layers(schema, data, file_layer, config_file, flags, overrides, override_source)
    source = recipe or (_recipe[0] if _recipe else None)
    if base is None and source is not None:
        items = dict(source(user["task"]["name"], dict(user["task"]["options"])))
        if items:
            data = apply_dotted(data, items, RECIPE_SOURCE)
            build(schema, data, "", RECIPE_SOURCE)
            user = _user_layers(
                schema, data, file_layer, config_file, flags, overrides, override_source
            )
    return build(schema, user, "", override_source if overrides else "the config").validate()


def _user_layers(
    schema: type[Config],
    data: dict[str, Any],
    file_layer: Mapping[str, Any] | None,
    config_file: str | Path | None,
    flags: Mapping[str, Any] | None,
    overrides: Iterable[str] | Mapping[str, Any] | None,
    override_source: str,
) -> dict[str, Any]:
    """``data`` with the user's layers over it: the file, the flags, the overrides."""
    if file_layer is not None:
        source = f"config file {str(config_file)!r}"
        data = merge_layer(data, file_layer, source)
        build(schema, data, "", source)  # type errors name the layer that made them
    if flags:
        given = {k: v for k, v in flags.items() if v is not None}
        data = apply_dotted(data, given, "command-line flags")
        build(schema, data, "", "command-line flags")
    if overrides:
        assert isinstance(overrides, Mapping)
        data = apply_dotted(data, overrides, override_source)
    return data


__all__ = [
    "RECIPE_SOURCE",
    "Config",
    "Recipe",
    "no_recipe",
    "resolve_config",
    "set_recipe_source",
]

"""The task registry: built-in tasks and plugins from the entry-point group ``seqlab.tasks``."""

from __future__ import annotations

import inspect
from typing import Any

from seqlab.errors import ConfigError, PluginError, did_you_mean
from seqlab.plugin_registry import Registry, Source
from seqlab.tasks.base import Task

GROUP = "seqlab.tasks"


def _validate_task(name: str, obj: Any, source: Source) -> type[Task]:
    if not (inspect.isclass(obj) and issubclass(obj, Task)):
        raise PluginError(
            f"task '{name}' from distribution '{source.distribution}' ({source.version}, "
            f"entry point '{source.entry_point}') is {obj!r}, not a seqlab.tasks.Task subclass."
        )
    return obj


def _import_builtin_tasks() -> None:
    # Built-in tasks register themselves on import; importing the package does it.
    import seqlab.tasks  # noqa: F401


REGISTRY: Registry[type[Task]] = Registry(
    "task", GROUP, validate=_validate_task, load_builtins=_import_builtin_tasks
)


def register_task(name: str):
    """Class decorator registering a built-in task under ``name``."""

    def decorator(cls: type[Task]) -> type[Task]:
        cls.name = name
        return REGISTRY.register(name)(cls)

    return decorator


def get_task(name: str) -> type[Task]:
    return REGISTRY.get(name)


def list_tasks(pattern: str = "*") -> list[str]:
    return REGISTRY.names(pattern)


def create_task(
    name: str, *, batch_size: int = 32, seed: int = 0, num_workers: int = 0, **options: Any
) -> Task:
    """Build task ``name`` with ``options``; unknown options are named with a suggestion."""
    cls = get_task(name)
    sig = inspect.signature(cls)
    params = sig.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        known = [p for p in params if p not in ("self", "batch_size", "seed", "num_workers")]
        unknown = [k for k in options if k not in known]
        if unknown:
            raise ConfigError(
                f"task '{name}' has no option {', '.join(repr(u) for u in unknown)}."
                f"{did_you_mean(unknown[0], known)} Its options are: {', '.join(known) or '(none)'}."
            )
    return cls(batch_size=batch_size, seed=seed, num_workers=num_workers, **options)

"""Tasks: data modules plus what models need to know about them, in a registry."""

from seqlab.tasks._files import Table, read_table
from seqlab.tasks.base import IGNORE_INDEX, Baseline, Task, TaskInfo
from seqlab.tasks.registry import REGISTRY, create_task, get_task, list_tasks, register_task

__all__ = [
    "IGNORE_INDEX",
    "REGISTRY",
    "Baseline",
    "Table",
    "Task",
    "TaskInfo",
    "create_task",
    "get_task",
    "list_tasks",
    "read_table",
    "register_task",
]


def _import_builtin_tasks() -> None:
    """Import every task module of this package: each registers its task where defined."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name not in ("base", "registry"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_builtin_tasks()

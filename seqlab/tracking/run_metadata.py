"""What seqlab records about a run next to its config: versions, git commit, cell, sizes, task."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from torch import nn

from seqlab.version import __version__


def git_commit(path: Path) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding ``path``, or None (no git, no repo)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=3,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=3,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())} if commit else None


def describe_run(
    model: nn.Module | None = None,
    *,
    cell: str | None = None,
    task: str | None = None,
    task_info: Any = None,
) -> dict[str, Any]:
    """What seqlab records about a run next to its config (the ``meta`` section in W&B).

    Args:
        model: the LightningModule (for parameter counts: total, trainable and inside
            ``seqlab.Recurrent`` layers).
        cell: the cell's registry name (for its source distribution and version).
        task: the task's registry name.
        task_info: the task's :class:`~seqlab.tasks.base.TaskInfo` (metric and baseline).
    """
    import lightning
    import torch

    from seqlab.recurrent import Recurrent

    meta: dict[str, Any] = {
        "seqlab_version": __version__,
        "torch_version": torch.__version__,
        "lightning_version": lightning.__version__,
        "python_version": sys.version.split()[0],
    }
    git = git_commit(Path(__file__).resolve().parents[1])
    if git is not None:
        meta["seqlab_git"] = git
    if cell is not None:
        from seqlab.cells.registry import cell_source

        source = cell_source(cell)
        meta["cell"] = {
            "name": cell,
            "source": source.distribution,
            "version": source.version,
            "builtin": source.builtin,
        }
    if model is not None:
        params = list(model.parameters())
        recurrent = {
            id(p) for m in model.modules() if isinstance(m, Recurrent) for p in m.parameters()
        }
        meta["parameters"] = {
            "total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad),
            "recurrent": sum(p.numel() for p in params if id(p) in recurrent),
        }
    if task is not None or task_info is not None:
        entry: dict[str, Any] = {"name": task}
        if task_info is not None:
            entry.update(
                metric=task_info.metric,
                metric_mode=task_info.metric_mode,
                output_kind=task_info.output_kind,
            )
            baseline = task_info.baseline("val") if hasattr(task_info, "baseline") else None
            if baseline is not None:
                entry["baseline"] = {
                    "metric": baseline.metric,
                    "value": baseline.value,
                    "description": baseline.description,
                    "split": baseline.split,
                }
        meta["task"] = entry
    return meta


__all__ = ["describe_run", "git_commit"]

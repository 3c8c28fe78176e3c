"""The run directories ``seqlab fit`` leaves in a job's slot: finished, resumable, stopped.

A job whose command is ``seqlab fit --set run.dir=SLOT --set run.name=RUN_ID`` writes
``SLOT/RUN_ID-<YYYYmmdd-HHMMSS>[-n]/`` with ``config.yaml``, ``checkpoints/last.ckpt``
(from the first checkpoint on) and ``summary.json`` (once finished). A rerun reuses a
finished one, continues a resumable one with ``seqlab fit --resume DIR``, and deletes
the others (stopped before their first checkpoint: nothing to continue).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path


def run_dirs(slot: Path, run_id: str) -> list[Path]:
    """seqlab fit's run directories in ``slot`` (``<run_id>-<YYYYmmdd-HHMMSS>[-n]``), oldest first."""
    if not slot.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(run_id)}-\d{{8}}-\d{{6}}(-\d+)?$")
    found = [p for p in slot.iterdir() if p.is_dir() and pattern.match(p.name)]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def finished_dir(slot: Path, run_id: str) -> Path | None:
    """The newest run directory of the slot holding a readable ``summary.json``."""
    for d in reversed(run_dirs(slot, run_id)):
        try:
            json.loads((d / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return d
    return None


def resumable_dir(slot: Path, run_id: str) -> Path | None:
    """The newest run directory that has a config and a last checkpoint (ask after
    :func:`finished_dir` found none: a finished one qualifies too)."""
    for d in reversed(run_dirs(slot, run_id)):
        if (d / "config.yaml").is_file() and (d / "checkpoints" / "last.ckpt").is_file():
            return d
    return None


def remove_stopped(slot: Path, run_id: str, keep: Path | None = None) -> None:
    """Delete the slot's run directories other than ``keep`` (the one to resume)."""
    for d in run_dirs(slot, run_id):
        if d != keep:
            shutil.rmtree(d)


__all__ = ["finished_dir", "remove_stopped", "resumable_dir", "run_dirs"]

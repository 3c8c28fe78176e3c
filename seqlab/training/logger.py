"""``metrics.csv``: the run's local metric record, written as metrics arrive.

A small Lightning logger (rather than Lightning's CSVLogger) so that the file sits at the
top of the run directory, is readable while training runs (every row is on disk once
logged), and is continued — not overwritten — when a run resumes: rows logged after the
checkpoint by the interrupted process are dropped, so the resumed record has each step
once.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only


class CSVMetricsLogger(Logger):
    """Rows of ``step`` plus every metric logged at that call, in ``path`` (CSV)."""

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.columns: list[str] = ["step"]
        self.rows: list[dict[str, Any]] = []
        self._resuming = resume
        if resume and self.path.is_file():  # keep the record so far
            with self.path.open(newline="") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or ["step"])
                self.rows = [dict(r) for r in reader]

    @property
    def name(self) -> str:
        return "csv"

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return str(self.path.parent)

    @property
    def log_dir(self) -> str:
        return str(self.path.parent)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The run directory's config.yaml holds the hyperparameters."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if self._resuming:
            # The first row of the resumed run: anything at or after its step was logged
            # by the interrupted process after its last checkpoint.
            self._resuming = False
            if step is not None:
                self.truncate_from(step)
        row: dict[str, Any] = {"step": step}
        for key, value in metrics.items():
            v = float(value)
            row[key] = v if math.isfinite(v) else str(v)
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new or not self.path.exists():
            self.columns += new
            self._rewrite()
        else:
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.columns).writerow(row)

    def truncate_from(self, step: int) -> None:
        """Drop rows logged at ``step`` or later."""
        kept = [r for r in self.rows if r.get("step") in (None, "") or int(float(r["step"])) < step]
        if len(kept) != len(self.rows):
            self.rows = kept
            self._rewrite()

    def _rewrite(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)


def read_metrics(path: str | Path) -> list[dict[str, float | None]]:
    """The rows of a ``metrics.csv`` with numbers parsed (empty cells are ``None``)."""
    out = []
    with Path(path).open(newline="") as f:
        for row in csv.DictReader(f):
            out.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items()})
    return out

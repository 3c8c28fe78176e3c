"""``metrics.csv``: a run's local metric record, written as metrics arrive.

One writer, :class:`CSVMetricsLogger`, a small Lightning logger (rather than Lightning's
CSVLogger) so that the file sits at the top of the run directory, is readable while
training runs (every row is on disk once logged), and is continued — not overwritten —
when a run resumes: rows logged after the checkpoint by the interrupted process are
dropped, so the resumed record has each step once.

:class:`RunCSVLogger` is the same writer set up for a run directory: ``<run_dir>/metrics.csv``
continued as it is (rows are only ever appended), and the hyperparameters Lightning logs
saved, scrubbed of credentials, to ``<run_dir>/hparams.yaml``. It is what
:func:`seqlab.tracking.loggers.build_loggers` uses when the caller brings no CSV logger.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from seqlab.tracking.secrets import scrub

METRICS_FILE = "metrics.csv"
HPARAMS_FILE = "hparams.yaml"


class CSVMetricsLogger(Logger):
    """Rows of ``step`` plus every metric logged at that call, in ``path`` (CSV).

    Without ``resume`` an existing file is replaced at the first row; with ``resume`` its
    rows are kept, except those at or after the first step logged now.
    """

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.columns: list[str] = ["step"]
        self.rows: list[dict[str, Any]] = []
        self._resuming = resume
        if resume:  # keep the record so far
            self._load()

    def _load(self) -> None:
        if self.path.is_file():
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


class RunCSVLogger(CSVMetricsLogger):
    """``<run_dir>/metrics.csv``, continued when it exists, and ``<run_dir>/hparams.yaml``.

    ``name`` and ``version`` are empty, so Lightning's ``trainer.log_dir`` and its default
    checkpoint directory (``<run_dir>/checkpoints``) sit in the run directory itself.
    Rows are written as they are logged; ``flush_logs_every_n_steps`` is accepted for
    Lightning's CSVLogger's signature and has nothing to do.
    """

    def __init__(self, run_dir: str | Path, flush_logs_every_n_steps: int = 100) -> None:
        super().__init__(Path(run_dir) / METRICS_FILE)
        self.flush_logs_every_n_steps = flush_logs_every_n_steps
        self.hparams: dict[str, Any] = {}
        self._load()  # rows are appended to the record so far, none dropped

    @property
    def name(self) -> str:
        return ""

    @rank_zero_only
    def log_hyperparams(self, params: Any = None, *args: Any, **kwargs: Any) -> None:
        """Merge ``params`` (scrubbed of credentials) into ``<run_dir>/hparams.yaml``."""
        from lightning.fabric.utilities.logger import _convert_params

        params = _convert_params(params)
        if params:
            self.hparams.update(scrub(dict(params)))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            save_hparams_to_yaml(self.path.parent / HPARAMS_FILE, self.hparams)


def read_metrics(path: str | Path) -> list[dict[str, float | None]]:
    """The rows of a ``metrics.csv`` with numbers parsed (empty cells are ``None``)."""
    out = []
    with Path(path).open(newline="") as f:
        for row in csv.DictReader(f):
            out.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items()})
    return out


__all__ = ["HPARAMS_FILE", "METRICS_FILE", "CSVMetricsLogger", "RunCSVLogger", "read_metrics"]

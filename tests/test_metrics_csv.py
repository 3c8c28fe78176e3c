"""``metrics.csv``: one writer (seqlab.tracking.metrics_csv) for fits and for build_loggers."""

from __future__ import annotations

import csv
from pathlib import Path

import seqlab
from seqlab.tracking.loggers import RunCSVLogger as ReExported
from seqlab.tracking.metrics_csv import CSVMetricsLogger, RunCSVLogger, read_metrics
from seqlab.tracking.secrets import MASK
from seqlab.version import __version__


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_one_writer_two_names() -> None:
    assert ReExported is RunCSVLogger and issubclass(RunCSVLogger, CSVMetricsLogger)


def test_rows_are_on_disk_as_they_are_logged_with_new_columns(tmp_path: Path) -> None:
    logger = CSVMetricsLogger(tmp_path / "metrics.csv")
    logger.log_metrics({"train_loss": 1.5}, step=0)
    assert _rows(tmp_path / "metrics.csv") == [{"step": "0", "train_loss": "1.5"}]
    logger.log_metrics({"val_loss": float("nan")}, step=1)
    rows = read_metrics(tmp_path / "metrics.csv")
    assert rows[0] == {"step": 0.0, "train_loss": 1.5, "val_loss": None}
    assert rows[1]["step"] == 1.0 and rows[1]["val_loss"] != rows[1]["val_loss"]  # NaN


def test_resume_drops_rows_logged_after_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    first = CSVMetricsLogger(path)
    for step in range(4):
        first.log_metrics({"train_loss": float(step)}, step=step)
    resumed = CSVMetricsLogger(path, resume=True)
    resumed.log_metrics({"train_loss": 9.0}, step=2)
    assert [(r["step"], r["train_loss"]) for r in read_metrics(path)] == [
        (0.0, 0.0),
        (1.0, 1.0),
        (2.0, 9.0),
    ]
    fresh = CSVMetricsLogger(path)  # without resume the record starts again
    fresh.log_metrics({"x": 1.0}, step=0)
    assert _rows(path) == [{"step": "0", "x": "1.0"}]


def test_run_logger_continues_the_record_and_scrubs_hparams(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("epoch,step,train_loss\n0,5,1.5\n")
    logger = RunCSVLogger(tmp_path)
    assert logger.name == "" and logger.version == "" and Path(logger.log_dir) == tmp_path
    logger.log_metrics({"val_loss": 0.5}, step=3)  # appended, even at an earlier step
    assert [r["step"] for r in _rows(tmp_path / "metrics.csv")] == ["5", "3"]
    logger.log_hyperparams({"lr": 0.1, "api_token": "hp-secret-value-123"})
    logger.log_hyperparams({"layers": 2})
    hparams = (tmp_path / "hparams.yaml").read_text()
    assert "lr: 0.1" in hparams and "layers: 2" in hparams
    assert "hp-secret-value-123" not in hparams and f"api_token: '{MASK}'" in hparams


def test_the_version_has_one_home() -> None:
    assert seqlab.__version__ == __version__

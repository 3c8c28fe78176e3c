"""Runs used from anywhere (data paths stored resolved, a moved file given again), finished
runs left alone on resume, wall time over all segments, and ``--resume auto``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.config import Config

REPO = Path(__file__).resolve().parents[1]
SENTIMENT = REPO / "seqlab" / "configs" / "data" / "sentiment-example.tsv"

ADDING = [
    "--hidden-size",
    "8",
    "--batch-size",
    "32",
    "--task-opt",
    "n_train=64",
    "--task-opt",
    "n_val=32",
    "--task-opt",
    "n_test=32",
    "--task-opt",
    "seq_len=5",
    "--set",
    "trainer.num_sanity_val_steps=0",
    "--quiet",
]
TEXT = [
    "--task",
    "text",
    "--hidden-size",
    "8",
    "--batch-size",
    "32",
    "--max-steps",
    "2",
    "--set",
    "trainer.num_sanity_val_steps=0",
    "--quiet",
]


def runs(root: Path) -> list[Path]:
    return sorted(root.iterdir()) if root.exists() else []


def snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_resuming_a_finished_run_does_nothing_and_touches_nothing(tmp_path, capsys):
    root = tmp_path / "runs"
    assert main(["fit", "--run-dir", str(root), "--max-steps", "3", *ADDING]) == 0
    (run,) = runs(root)
    before = snapshot(run)
    capsys.readouterr()
    assert main(["fit", "--resume", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out.replace("\n", "")
    assert f"{run} already finished (step 3); nothing to do" in out
    assert snapshot(run) == before  # summary.json, config.yaml, metrics.csv untouched


def test_after_a_resume_wall_time_is_the_total_over_segments(tmp_path):
    root = tmp_path / "runs"
    assert main(["fit", "--run-dir", str(root), "--max-steps", "2", *ADDING]) == 0
    (run,) = runs(root)
    first = json.loads((run / "summary.json").read_text())
    assert main(["fit", "--resume", str(run), "--max-steps", "4", "--quiet"]) == 0
    second = json.loads((run / "summary.json").read_text())
    segments = [json.loads(ln) for ln in (run / "segments.jsonl").read_text().splitlines()]
    assert len(segments) == 2 and second["global_step"] == 4
    assert "train_loss" in second["metrics"]
    assert second["wall_time_s"] == pytest.approx(
        segments[0]["wall_time_s"] + second["segment_wall_time_s"], abs=2e-3
    )
    assert second["wall_time_s"] > first["wall_time_s"]


def test_resume_auto_continues_the_unfinished_run_or_starts_one(tmp_path):
    root = tmp_path / "runs"
    auto = ["fit", "--resume", "auto", "--run-dir", str(root), "--name", "job"]
    assert main([*auto, "--max-steps", "2", *ADDING]) == 0  # nothing to resume: a new run
    (run,) = runs(root)
    assert main([*auto, "--max-steps", "4", *ADDING]) == 0  # the requeued job continues it
    assert runs(root) == [run]
    assert json.loads((run / "summary.json").read_text())["global_step"] == 4
    other = [*auto, "--max-steps", "4", *ADDING, "--hidden-size", "16"]
    assert main(other) == 0  # another experiment under the same name: a new run
    assert len(runs(root)) == 2


@pytest.mark.slow
def test_a_run_is_usable_from_another_directory_and_with_a_moved_file(
    tmp_path, monkeypatch, capsys
):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    (work / "data").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(SENTIMENT, work / "data" / "x.tsv")
    monkeypatch.chdir(work)
    assert main(["fit", "--task-opt", "path=data/x.tsv", "--run-dir", "runs", *TEXT]) == 0
    (run,) = runs(work / "runs")
    saved = Config.load(run / "config.yaml")
    assert saved.task.options["path"] == str((work / "data" / "x.tsv").resolve())
    assert "given as 'data/x.tsv'" in (run / "config.yaml").read_text()

    monkeypatch.chdir(elsewhere)
    run = run.resolve()
    assert main(["test", "--ckpt", str(run), "--quiet"]) == 0

    moved = elsewhere / "moved.tsv"
    (work / "data" / "x.tsv").rename(moved)
    before = snapshot(run)
    capsys.readouterr()
    assert main(["test", "--ckpt", str(run), "--quiet"]) == 2
    assert "--data FILE" in capsys.readouterr().err
    assert snapshot(run) == before
    assert main(["test", "--ckpt", str(run), "--data", str(moved), "--quiet"]) == 0
    assert "test_acc" in capsys.readouterr().out
    resume = ["fit", "--resume", str(run), "--task-opt", f"path={moved}", "--max-steps", "3"]
    assert main([*resume, "--quiet"]) == 0
    assert json.loads((run / "summary.json").read_text())["global_step"] == 3

"""Presets ship as package data: ``seqlab configs`` lists them, ``--config NAME`` runs one
from any directory (its shipped data included), and an installed wheel has them too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.cli.configs import preset_names, presets_dir

REPO = Path(__file__).resolve().parents[1]
QUICK = [
    "--max-steps",
    "1",
    "--hidden-size",
    "8",
    "--set",
    "trainer.limit_val_batches=1",
    "--set",
    "trainer.limit_test_batches=1",
    "--set",
    "trainer.num_sanity_val_steps=0",
    "--set",
    "log.logger=csv",
    "--quiet",
]


def test_the_presets_are_the_package_data_and_configs_lists_them(capsys):
    assert presets_dir() == REPO / "seqlab" / "configs"
    assert (REPO / "configs").resolve() == presets_dir()  # a clone's configs/ links to it
    names = preset_names()
    assert {"adding-t100", "text-sentiment", "charlm-shakespeare"} <= set(names)
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in names)


@pytest.mark.slow
def test_config_by_name_runs_the_preset_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", "adding-t100", "--run-dir", "runs", *QUICK]
    assert main([*args, "--task-opt", "n_train=64", "--task-opt", "n_val=32"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    saved = json.loads((run / "summary.json").read_text())
    assert saved["task"]["name"] == "adding" and saved["task"]["options"]["seq_len"] == 100


def test_a_preset_finds_its_shipped_data_outside_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", "text-sentiment", "--run-dir", "runs", *QUICK]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    config = (run / "config.yaml").read_text()
    assert str(presets_dir() / "data" / "sentiment-example.tsv") in config


def test_unknown_preset_names_suggest_the_close_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", "adding-t10", "--run-dir", "runs"]) == 2
    err = capsys.readouterr().err
    assert "no such file, and no preset of that name" in err and "adding-t100" in err
    assert not (tmp_path / "runs").exists()


def test_a_preset_whose_corpus_is_not_shipped_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # ../shared/data/tinyshakespeare.txt is not here
    assert main(["fit", "--config", "charlm-shakespeare", "--run-dir", "runs", *QUICK]) == 2
    err = capsys.readouterr().err
    assert "tinyshakespeare.txt" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_an_installed_wheel_has_the_presets(tmp_path):
    """``pip wheel .`` installed (not editable) into a fresh virtualenv; torch and the other
    dependencies come from this environment (--system-site-packages), nothing is downloaded."""
    wheels, venv, work = tmp_path / "wheels", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    source = tmp_path / "source"  # a copy, so that the build leaves the checkout alone
    shutil.copytree(
        REPO / "seqlab", source / "seqlab", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    build = [*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(wheels)]
    subprocess.run(build, check=True, env=env, cwd=work)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    (wheel,) = wheels.glob("seqlab-*.whl")
    install = [str(python), "-m", "pip", "-q", "install", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, env=env)

    def seqlab(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(venv / "bin" / "seqlab"), *args],
            cwd=work,
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )

    where = subprocess.run(
        [str(python), "-c", "import seqlab; print(seqlab.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert str(venv) in where.stdout, "the wheel's seqlab, not the editable checkout"
    listed = seqlab("configs")
    assert listed.returncode == 0, listed.stderr
    assert all(name in listed.stdout for name in preset_names())
    fitted = seqlab(
        "fit",
        "--config",
        "adding-t100",
        "--max-steps",
        "5",
        "--run-dir",
        "runs",
        # keep the test short: the preset's full validation and test sets take minutes here
        "--set",
        "trainer.limit_val_batches=1",
        "--set",
        "trainer.limit_test_batches=1",
        "--quiet",
    )
    assert fitted.returncode == 0, fitted.stderr
    (run,) = (work / "runs").iterdir()
    assert json.loads((run / "summary.json").read_text())["global_step"] == 5


def test_shell_completion_is_offered(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--install-completion" in out and "--show-completion" in out

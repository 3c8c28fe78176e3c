"""The ``seqlab fit|validate|test|generate`` commands: thin, clear, exit 2 on bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.config import Config

TINY = [
    "--hidden-size",
    "8",
    "--batch-size",
    "32",
    "--max-steps",
    "3",
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


def runs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "runs").iterdir()) if (tmp_path / "runs").exists() else []


def test_fit_prints_the_result_next_to_the_baseline_and_the_run(tmp_path, capsys):
    code = main(
        ["fit", "--cell", "gru", "--run-dir", str(tmp_path / "runs"), "--name", "demo", *TINY]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    (run,) = runs(tmp_path)
    assert run.name.startswith("demo-")
    summary = json.loads((run / "summary.json").read_text())
    assert f"test_mse {summary['result']['value']:.4g}" in out
    assert f"vs baseline {summary['result']['baseline']:.4g} (always predict 1)" in out
    assert f"run: {run}" in out.replace("\n", "")


def test_flags_override_the_config_file_and_set_overrides_flags(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  hidden_size: 32\n  num_layers: 2\noptim:\n  lr: 0.5\n")
    code = main(
        [
            "fit",
            "--config",
            str(cfg),
            "--run-dir",
            str(tmp_path / "runs"),
            *TINY,
            "--lr",
            "0.1",
            "--set",
            "optim.lr=0.01",
            "--cell-opt",
            "bias=false",
            "--seed",
            "3",
        ]
    )
    assert code == 0, capsys.readouterr()
    saved = Config.load(runs(tmp_path)[0] / "config.yaml")
    assert saved.model.hidden_size == 8  # flag over file
    assert saved.model.num_layers == 2  # file over default
    assert saved.optim.lr == 0.01  # --set over flag
    assert saved.model.cell_options == {"bias": False}
    assert saved.trainer.seed == 3 and saved.run.quiet is True


def test_validate_test_and_resume_commands(tmp_path, capsys):
    assert main(["fit", "--run-dir", str(tmp_path / "runs"), *TINY]) == 0
    (run,) = runs(tmp_path)
    capsys.readouterr()
    assert main(["validate", "--ckpt", str(run / "checkpoints" / "best.ckpt"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "val_mse" in out and "always predict 1" in out
    assert main(["test", "--ckpt", str(run), "--quiet", "--limit-batches", "1"]) == 0
    assert "test_mse" in capsys.readouterr().out
    assert main(["fit", "--resume", str(run), "--max-steps", "5", "--quiet"]) == 0
    assert runs(tmp_path) == [run]  # continued in place
    assert json.loads((run / "summary.json").read_text())["global_step"] == 5
    assert Config.load(run / "config.yaml").trainer.max_steps == 5  # the limits it ran under


@pytest.mark.slow
def test_generate_command_samples_text(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be that is the question " * 300, encoding="utf-8")
    assert (
        main(
            [
                "fit",
                "--task",
                "charlm",
                "--task-opt",
                f"path={corpus}",
                "--task-opt",
                "seq_len=16",
                "--batch-size",
                "8",
                "--hidden-size",
                "16",
                "--max-steps",
                "3",
                "--set",
                "trainer.limit_val_batches=2",
                "--set",
                "trainer.num_sanity_val_steps=0",
                "--run-dir",
                str(tmp_path / "runs"),
                "--quiet",
            ]
        )
        == 0
    )
    (run,) = runs(tmp_path)
    capsys.readouterr()
    assert (
        main(
            [
                "generate",
                "--ckpt",
                str(run),
                "--prompt",
                "to be",
                "--length",
                "30",
                "--temperature",
                "0.8",
                "--top-k",
                "5",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("to be") and len(text) == 35


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--cell", "gruu"], "Did you mean 'gru'"),
        (["fit", "--task", "addin"], "Did you mean 'adding'"),
        (
            ["fit", "--task", "charlm", "--bidirectional"],
            "task 'charlm' cannot be used with a bidirectional model (--bidirectional): its "
            "model predicts what comes next, so it must not see the future. Drop "
            "--bidirectional (model.bidirectional=false).",
        ),
        (["fit", "--accelerator", "cpu", "--devices", "999"], "asks for 999 devices"),
        (["fit", "--strategy", "dpp"], "Did you mean 'ddp'"),
        (["fit", "--set", "optim.lr=abc"], "optim.lr='abc'"),
        (["fit", "--set", "model.hiden_size=3"], "Did you mean 'model.hidden_size'"),
        (["fit", "--task-opt", "seq_len"], "--task-opt expects KEY=VALUE"),
        (["fit", "--task-opt", "sequence_length=5"], "has no option 'sequence_length'"),
        (["validate", "--ckpt", "nope.ckpt"], "does not exist"),
        (["generate", "--ckpt", "nope.ckpt"], "does not exist"),
        (["fit", "--resume", "no/such/run"], "does not exist"),
    ],
)
def test_bad_input_is_one_paragraph_and_exit_2(tmp_path, capsys, args, message):
    code = main([*args, "--run-dir", str(tmp_path / "runs")] if args[0] == "fit" else args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err.replace("\n", " ")
    assert "Traceback" not in err
    assert runs(tmp_path) == []  # nothing was started


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model:\n  hiden_size: 3\ntrainer:\n  max_epoch: 2\n", "'model.hiden_size'"),
        ("model: [unclosed\n", "is not valid YAML"),
        ("task: 3\n", "section 'task'"),
    ],
)
def test_bad_yaml_config_exits_2_naming_the_problem(tmp_path, capsys, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    assert main(["fit", "--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(f) in err.replace("\n", "")


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert main(["fit", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_fit_help_lists_the_flags(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no option name cut short by the table
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    # the whole flags of the option column: `--task` is not found inside `--task-opt`
    listed = set(re.findall(r"^│ (--[\w.-]+)", out, re.MULTILINE))
    assert len(listed) > 40, out
    expected = {
        "--cell",
        "--task",
        "--hidden-size",
        "--num-layers",
        "--bidirectional",
        "--dropout",
        "--batch-size",
        "--lr",
        "--max-epochs",
        "--max-steps",
        "--seed",
        "--accelerator",
        "--devices",
        "--strategy",
        "--num-nodes",
        "--precision",
        "--gradient-clip",
        "--run-dir",
        "--name",
        "--task-opt",
        "--cell-opt",
        "--config",
        "--set",
        "--resume",
        "--quiet",
    }
    assert expected <= listed, sorted(expected - listed)

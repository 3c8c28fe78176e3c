"""`seqlab fit` with tracking: W&B offline read back, gradient flow, samples, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.diagnostics.grad_flow import gradient_ratio, load_grad_flow
from seqlab.tracking.read_offline import read_run

TINY = [
    "--hidden-size",
    "8",
    "--batch-size",
    "16",
    "--quiet",
    "--set",
    "trainer.num_sanity_val_steps=0",
    "--set",
    "log.every_n_steps=1",
]


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No credentials, no network, nothing outside tmp_path."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_dir(root: Path) -> Path:
    (run,) = [p for p in (root / "runs").iterdir() if p.is_dir()]
    return run


@pytest.mark.slow
def test_fit_logs_config_history_and_grad_flow_to_an_offline_wandb_run(
    offline, capsys, monkeypatch
):
    monkeypatch.setenv("WANDB_API_KEY", "")  # an empty key is no credential
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdef-123456")
    code = main(
        [
            "fit",
            "--cell",
            "lstm",
            "--task",
            "adding",
            "--task-opt",
            "seq_len=8",
            "--task-opt",
            "n_train=128",
            "--task-opt",
            "n_val=32",
            "--task-opt",
            "n_test=32",
            "--max-steps",
            "8",
            "--set",
            "trainer.val_check_interval=4",
            "--logger",
            "wandb",
            "--wandb-tags",
            "a,b",
            "--grad-flow",
            "every=3",
            *TINY,
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    run = _run_dir(offline)
    assert "wandb sync" in out.out  # the upload command is printed at the end
    wb = read_run(run)
    assert wb.config["model"]["cell"] == "lstm"  # the nested, resolved config
    assert wb.config["task"]["options"]["seq_len"] == 8
    assert wb.config["meta"]["cell"]["builtin"] is True
    assert wb.config["meta"]["parameters"]["total"] > 0
    assert wb.config["meta"]["task"]["baseline"]["metric"] == "mse"
    assert wb.tags == ["a", "b"]
    # validation at steps 4 and 8 (Lightning logs it on the step of the batch before it)
    assert [s for s, _ in wb.metric("val_mse")] == [3, 7]
    ratios = wb.metric("grad_flow/ratio_l0")
    assert [s for s, _ in ratios] == [0, 3, 6]
    # the saved norms give the very ratios logged to W&B
    saved = load_grad_flow(run)["l0"]
    assert saved.steps == [0, 3, 6]
    assert [gradient_ratio(n) for n in saved.norms] == pytest.approx([r for _, r in ratios])
    assert (run / "grad_flow" / "heatmap_l0.png").stat().st_size > 1000
    assert any("grad_flow/heatmap_l0" in row for row in wb.history)
    # the final summary reaches W&B too
    summary = json.loads((run / "summary.json").read_text())
    assert wb.summary["result"]["value"] == pytest.approx(summary["result"]["value"])
    # secrets from the environment never reach the run directory
    for path in run.rglob("*"):
        if path.is_file():
            assert b"tok-abcdef-123456" not in path.read_bytes(), path


@pytest.mark.slow
def test_language_model_fit_logs_a_samples_table(offline, capsys):
    text = offline / "tiny.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 200, encoding="utf-8")
    code = main(
        [
            "fit",
            "--cell",
            "gru",
            "--task",
            "charlm",
            "--task-opt",
            f"path={text}",
            "--task-opt",
            "seq_len=16",
            "--max-steps",
            "6",
            "--set",
            "trainer.val_check_interval=3",
            "--set",
            "trainer.limit_val_batches=2",
            "--logger",
            "wandb",
            *TINY,
        ]
    )
    assert code == 0, capsys.readouterr().err
    run = _run_dir(offline)
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert rows and {"prompt", "temperature", "text"} <= set(rows[0])
    wb = read_run(run)
    tables = [row for row in wb.history if any("samples" in k for k in row)]
    assert tables, "a W&B table of samples is logged at each validation"


def test_unknown_logger_is_a_clear_error(offline, capsys):
    assert main(["fit", "--logger", "wandbb", "--max-steps", "1"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "log.logger='wandbb'" in err and "Did you mean 'wandb'?" in err, err
    assert "Traceback" not in err


def test_positional_overrides_equal_set(offline):
    code = main(
        [
            "fit",
            "--cell",
            "gru",
            "--task-opt",
            "seq_len=5",
            "--task-opt",
            "n_train=32",
            "--task-opt",
            "n_val=16",
            "--task-opt",
            "n_test=16",
            "--max-steps",
            "1",
            "model.hidden_size=4",
            "optim.lr=0.01",
            *TINY,
        ]
    )
    assert code == 0
    import yaml

    cfg = yaml.safe_load((_run_dir(offline) / "config.yaml").read_text())
    assert cfg["model"]["hidden_size"] == 4  # like --set, positional overrides beat flags
    assert cfg["optim"]["lr"] == 0.01


TOKEN_CELL = """
import torch

class TokenGRU(torch.nn.Module):
    '''A GRU cell with a credential option, as a cell fetching weights from a hub might have.'''

    def __init__(self, input_size, hidden_size, api_token: str = ""):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.cell = torch.nn.GRUCell(input_size, hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        h = self.cell(x, h)
        return h, h
"""


def test_a_credential_option_is_never_written_and_is_asked_for_on_resume(
    offline, make_distribution, capsys
):
    make_distribution(
        "hub-cells",
        "0.1",
        {"seqlab.cells": {"token_gru": "token_cell:TokenGRU"}},
        {"token_cell": TOKEN_CELL},
    )
    secret = "hub-credential-0123456789"
    args = ["fit", "--cell", "token_gru", "--cell-opt", f"api_token={secret}", *TINY]
    args += ["--max-steps", "2", "--run-dir", str(offline / "runs"), "--logger", "csv"]
    assert main(args) == 0, capsys.readouterr().err
    (run,) = (offline / "runs").iterdir()
    for path in run.rglob("*"):  # config.yaml, checkpoints, metrics, summary
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert "api_token: '***'" in (run / "config.yaml").read_text()

    capsys.readouterr()
    assert main(["fit", "--resume", str(run), "--max-steps", "4", "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "holds credentials that seqlab masked" in err and "model.cell_options.api_token" in err
    resumed = ["fit", "--resume", str(run), "--max-steps", "4", "--quiet"]
    assert main([*resumed, "--set", f"model.cell_options.api_token={secret}"]) == 0
    assert json.loads((run / "summary.json").read_text())["global_step"] == 4
    assert secret.encode() not in (run / "config.yaml").read_bytes()

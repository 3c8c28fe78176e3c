"""``seqlab export``: ONNX and TorchScript graphs that match PyTorch on inputs of variable
lengths, safetensors rebuilt by ``load_pretrained``, predictions that agree, and clear
errors for what cannot be exported."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.config import resolve_config
from seqlab.errors import SeqlabError
from seqlab.serving import ExportError, export, load_pretrained, open_model, predict
from seqlab.serving.export import random_inputs
from seqlab.training import fit, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
SENTIMENT = REPO / "seqlab" / "configs" / "data" / "sentiment-example.tsv"
TINY = [
    "trainer.max_steps=2",
    "trainer.max_epochs=null",
    "trainer.num_sanity_val_steps=0",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "model.hidden_size=8",
    "run.quiet=true",
    "log.logger=csv",
]
ADDING = [
    "task.options.seq_len=12",
    "task.options.n_train=64",
    "task.options.n_val=32",
    "task.options.n_test=32",
]


def tiny_fit(root: Path, *overrides: str) -> Path:
    return fit(resolve_config(overrides=[*TINY, f"run.dir={root}", *overrides])).run_dir


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("text")
    return tiny_fit(root, "task.name=text", f"task.options.path={SENTIMENT}", "model.cell=lstm")


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "gru", "mgu"])
def test_graph_exports_match_pytorch_on_variable_lengths(cell, tmp_path):
    run = tiny_fit(tmp_path / "runs", f"model.cell={cell}", *ADDING)
    loaded = load_checkpoint(run)
    for fmt in ("onnx", "torchscript"):
        report = export(run, fmt, tmp_path / fmt)
        assert report.seq_len == 12 and report.max_abs_diff <= 1e-5
        if fmt == "onnx":  # torch.export traces the recurrent layer: no TorchScript fallback
            assert report.exporter == "dynamo", report
        exported = open_model(tmp_path / fmt)
        assert exported.kind == fmt
        x, lengths = random_inputs(loaded, 9, 12, seed=123)
        assert len(set(lengths.tolist())) > 3  # variable lengths, 1 and 12 among them
        with torch.no_grad():
            want = loaded.model(x, lengths)
        assert torch.allclose(exported.forward(x, lengths), want, atol=1e-5, rtol=0)


def test_safetensors_export_is_rebuilt_by_load_pretrained(text_run, tmp_path):
    assert (
        main(
            [
                "export",
                "--ckpt",
                str(text_run),
                "--format",
                "safetensors",
                "--out",
                str(tmp_path / "st"),
            ]
        )
        == 0
    )
    rebuilt, original = load_pretrained(tmp_path / "st"), load_checkpoint(text_run)
    assert rebuilt.config.to_dict() == original.config.to_dict()
    assert rebuilt.info.itos == original.info.itos
    a, b = rebuilt.model.state_dict(), original.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_predictions_of_every_export_agree_with_the_checkpoint(text_run, tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("".join(SENTIMENT.read_text().splitlines(keepends=True)[:40]))
    want = [r["label"] for r in predict(text_run, src)]
    for fmt in ("onnx", "torchscript", "safetensors"):
        export(text_run, fmt, tmp_path / "out")  # one directory may hold all three
        got = predict(
            tmp_path
            / "out"
            / {"onnx": "model.onnx", "torchscript": "model.pt", "safetensors": "model.safetensors"}[
                fmt
            ],
            src,
        )
        assert [r["label"] for r in got] == want, fmt
    assert (tmp_path / "out" / "config.json").is_file()


def test_unknown_format_is_a_clear_error_and_writes_nothing(text_run, tmp_path, capsys):
    assert (
        main(["export", "--ckpt", str(text_run), "--format", "onxx", "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown export format 'onxx'" in err and "Did you mean 'onnx'" in err
    assert not (tmp_path / "o").exists()


_BRANCHY = """
import torch
from torch import nn

class Branchy(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1)))
        if float(h.detach().sum()) > 0:  # Python control flow on a tensor's value
            h = h * 0.5
        return h, h
"""


def test_a_plugin_cell_with_python_control_flow_is_reported_not_exported(
    make_distribution, tmp_path
):
    make_distribution(
        "branchy-cells",
        "0.1",
        {"seqlab.cells": {"branchy": "branchy_mod:Branchy"}},
        {"branchy_mod": _BRANCHY},
    )
    run = tiny_fit(tmp_path / "runs", "model.cell=branchy", "model.fused=false", *ADDING)
    with pytest.raises(
        ExportError, match=r"branchy.*from branchy-cells 0\.1.*does not match PyTorch"
    ) as err:
        export(run, "torchscript", tmp_path / "ts")
    assert "--format safetensors" in str(err.value)
    assert not (tmp_path / "ts").exists()
    export(run, "safetensors", tmp_path / "st")  # the weights always export


def test_a_cell_running_its_own_autograd_function_cannot_be_traced(tmp_path):
    run = tiny_fit(tmp_path / "runs", "model.cell=mingru", *ADDING)
    with pytest.raises(
        SeqlabError, match="could not export the model \\(cell 'mingru'\\) to torchscript"
    ):
        export(run, "torchscript", tmp_path / "ts")
    assert not (tmp_path / "ts").exists()

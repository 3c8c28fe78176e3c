"""The Hugging Face Hub: save_pretrained / from_pretrained on local directories, the model
card, and push_to_hub with the Hub client stubbed (offline: no test reaches the network)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from seqlab.config import resolve_config
from seqlab.serving import SeqlabModel, predict
from seqlab.training import fit

pytest.importorskip("huggingface_hub")
pytestmark = pytest.mark.slow  # the fixture trains with W&B offline (~10 s)

TINY = [
    "trainer.max_steps=2",
    "trainer.max_epochs=null",
    "trainer.num_sanity_val_steps=0",
    "task.options.seq_len=6",
    "task.options.n_train=64",
    "task.options.n_val=32",
    "task.options.n_test=32",
    "model.hidden_size=8",
    "run.quiet=true",
]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    # W&B offline (no credentials are needed): the card names the run.
    overrides = [*TINY, f"run.dir={root}", "log.logger=wandb", "log.wandb_mode=offline"]
    return fit(resolve_config(overrides=overrides)).run_dir


def test_save_and_from_pretrained_round_trip_with_a_model_card(run, tmp_path):
    SeqlabModel.from_checkpoint(run).save_pretrained(tmp_path / "shared")
    files = {p.name for p in (tmp_path / "shared").iterdir()}
    assert files == {"README.md", "config.json", "model.safetensors"}
    back = SeqlabModel.from_pretrained(tmp_path / "shared")
    original = SeqlabModel.from_checkpoint(run).loaded.model.state_dict()
    restored = back.loaded.model.state_dict()
    assert all(torch.equal(original[k], restored[k]) for k in original)

    card = (tmp_path / "shared" / "README.md").read_text()
    summary = json.loads((run / "summary.json").read_text())
    assert card.startswith("---\nlibrary_name: seqlab\n")
    assert "# adding with the gru cell" in card
    assert f"| test_mse | {summary['metrics']['test_mse']:.4g} | " in card
    assert "always predict 1" in card  # the task's trivial baseline
    assert "hidden_size: 8" in card  # the config
    assert "W&B run `" in card and "offline" in card


def test_a_shared_model_predicts_like_its_checkpoint(run, tmp_path):
    SeqlabModel.from_checkpoint(run).save_pretrained(tmp_path / "shared")
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(
            json.dumps({"x": [[0.5, float(i == 1)] for i in range(6)]}) + "\n" for _ in range(3)
        )
    )
    assert predict(tmp_path / "shared", src) == predict(run, src)


def test_push_to_hub_uploads_weights_config_and_card(run, monkeypatch):
    from huggingface_hub import HfApi

    uploaded: dict[str, str] = {}

    def create_repo(self, repo_id, **kwargs):
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        uploaded.update(
            {p.name: p.read_text(errors="replace") for p in Path(folder_path).iterdir()}
        )
        return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    url = SeqlabModel.from_checkpoint(run).push_to_hub("someone/adding-gru")
    assert url.startswith("https://huggingface.co/someone/adding-gru")
    assert set(uploaded) == {"README.md", "config.json", "model.safetensors"}
    assert json.loads(uploaded["config.json"])["config"]["model"]["cell"] == "gru"

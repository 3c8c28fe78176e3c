"""Every preset in configs/ runs: a couple of steps of each, with tiny limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqlab.config import Config, resolve_config
from seqlab.training import fit

REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted((REPO / "configs").glob("*.yaml"))
SHAKESPEARE = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
TATOEBA = REPO.parent / "shared" / "data" / "eng-fra-tatoeba-5k.tsv"

# Keep each run to a couple of steps and a couple of evaluation batches.
TINY = [
    "trainer.max_steps=2",
    "trainer.max_epochs=null",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.num_sanity_val_steps=0",
    "trainer.val_check_interval=null",
    "trainer.check_val_every_n_epoch=1",
    "run.quiet=true",
]


def test_every_task_has_a_preset():
    names = {p.name for p in PRESETS}
    assert {
        "adding-t100.yaml",
        "copy-t100.yaml",
        "digits-rows.yaml",
        "ucr-gunpoint.yaml",
        "text-sentiment.yaml",
        "charlm-shakespeare.yaml",
        "forecast-sunspots.yaml",
        "addition.yaml",
        "dates.yaml",
        "reverse-sort.yaml",
        "translate-tatoeba.yaml",
    } <= names


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_is_commented_and_valid(preset):
    text = preset.read_text()
    comments = [ln for ln in text.splitlines() if ln.lstrip().startswith("#") or " # " in ln]
    assert len(comments) >= 5, "presets explain their choices in comments"
    assert f"--config configs/{preset.name}" in text, "presets show how to run them"
    cfg = resolve_config(preset)
    assert isinstance(cfg, Config)


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_runs_a_couple_of_steps(preset, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # presets name their data relative to the repository root
    overrides = [*TINY, f"run.dir={tmp_path / 'runs'}", "task.batch_size=8"]
    cfg = resolve_config(preset, overrides=overrides)
    if cfg.task.name == "charlm":
        if not SHAKESPEARE.exists():  # the project must not need the shared file
            corpus = tmp_path / "corpus.txt"
            corpus.write_text("the quick brown fox jumps over the lazy dog. " * 400)
            overrides.append(f"task.options.path={corpus}")
        cfg = resolve_config(preset, overrides=overrides)
    if cfg.task.name == "translate" and not TATOEBA.exists():  # nor this shared file
        pairs = tmp_path / "pairs.tsv"
        pairs.write_text("".join(f"I am {n}.\tJe suis {n}.\tCC-BY\n" for n in range(200)))
        overrides.append(f"task.options.path={pairs}")
        cfg = resolve_config(preset, overrides=overrides)
    if cfg.task.name in ("adding", "copy", "addition", "dates", "reverse", "sort"):
        # generated data: make less of it
        cfg = resolve_config(
            preset,
            overrides=[
                *overrides,
                "task.options.n_train=64",
                "task.options.n_val=16",
                "task.options.n_test=16",
            ],
        )
    result = fit(cfg)
    assert result.global_step == 2
    assert result.headline is not None and result.baseline is not None
    assert (result.run_dir / "checkpoints" / "last.ckpt").is_file()

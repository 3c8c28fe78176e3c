"""seq2seq end to end: ``seqlab fit`` on a seq2seq task, ``seqlab generate`` with its
checkpoint (greedy and beam), bad input (exit 2), and the diagnostics callbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.config import resolve_config
from seqlab.diagnostics.attention import AttentionMaps
from seqlab.tracking.translations import TranslationSamples, read_translations
from seqlab.training import fit
from seqlab.training.generation import translate

pytestmark = pytest.mark.slow

TINY = [
    "--set",
    "trainer.limit_val_batches=1",
    "--set",
    "trainer.num_sanity_val_steps=0",
    "--set",
    "trainer.test=false",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    code = main(
        [
            "fit",
            "--task",
            "addition",
            "--task-opt",
            "digits=2",
            "--task-opt",
            "n_train=256",
            "--task-opt",
            "n_val=16",
            "--task-opt",
            "n_test=16",
            "--cell",
            "lstm",
            "--set",
            "model.decoder_cell=gru",
            "--set",
            "model.attention=additive",
            "--hidden-size",
            "16",
            "--max-steps",
            "4",
            *TINY,
            "--run-dir",
            str(runs),
            "--quiet",
        ]
    )
    assert code == 0
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir


def test_generate_translates_with_greedy_and_beam_search(run, capsys):
    capsys.readouterr()
    assert main(["generate", "--ckpt", str(run), "--prompt", "12+7"]) == 0
    greedy = capsys.readouterr().out.strip()
    assert set(greedy) <= set("0123456789") and len(greedy) <= 4
    assert main(["generate", "--ckpt", str(run), "--prompt", "12+7", "--beam", "3"]) == 0
    assert set(capsys.readouterr().out.strip()) <= set("0123456789")
    assert translate(run, "12+7", beam=1) == greedy


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "12+x"], "never saw: 'x'"),
        (["--prompt", "12+7", "--beam", "0"], "--beam must be a positive integer"),
        (["--prompt", ""], "the source is empty"),
    ],
)
def test_generate_bad_input_exits_2(run, capsys, args, message):
    assert main(["generate", "--ckpt", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_diagnostics_write_translations_and_attention_maps(tmp_path):
    config = resolve_config(
        overrides=[
            "task.name=reverse",
            "task.options={max_length: 5, n_train: 64, n_val: 8, n_test: 8}",
            "task.batch_size=8",
            "model.hidden_size=8",
            "trainer.max_steps=2",
            "trainer.max_epochs=null",
            "trainer.num_sanity_val_steps=0",
            "trainer.test=false",
            f"run.dir={tmp_path / 'runs'}",
            "run.quiet=true",
        ]
    )
    diag = tmp_path / "diag"
    fit(config, callbacks=[TranslationSamples(diag, n=2), AttentionMaps(diag, n=2)])
    rows = read_translations(diag)
    assert len(rows) == 2 and {"source", "reference", "output", "step"} <= set(rows[0])
    assert rows[0]["reference"] == rows[0]["source"][::-1]
    pngs = sorted((diag / "attention").glob("*.png"))
    assert len(pngs) == 2 and pngs[0].read_bytes()[:4] == b"\x89PNG"

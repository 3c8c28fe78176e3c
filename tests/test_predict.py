"""``seqlab predict``: the run's preprocessing applied to new inputs, rows per output kind,
and clear errors (exit 2, nothing overwritten) for bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.cli import main
from seqlab.config import resolve_config
from seqlab.serving import predict
from seqlab.tasks.text import tokenize
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


def tiny_fit(root: Path, *overrides: str) -> Path:
    cfg = resolve_config(overrides=[*TINY, f"run.dir={root}", *overrides])
    return fit(cfg).run_dir


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("text")
    return tiny_fit(root, "task.name=text", f"task.options.path={SENTIMENT}")


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory) -> Path:
    return tiny_fit(tmp_path_factory.mktemp("forecast"), "task.name=forecast")


def write_texts(path: Path, texts: list[str], column: str = "text") -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([column])
        writer.writerows([t] for t in texts)
    return path


def test_text_predictions_use_the_runs_vocabulary_and_give_probabilities(text_run, tmp_path):
    texts = ["A fresh and moving film.", "Zyzzyva qwerty never seen words!"]
    out = tmp_path / "pred.csv"
    rows = predict(text_run, write_texts(tmp_path / "in.csv", texts), out)
    loaded = load_checkpoint(text_run)
    stoi = {t: i for i, t in enumerate(loaded.info.itos)}
    for row, text in zip(rows, texts, strict=True):
        ids = torch.tensor([[stoi.get(t, stoi["<unk>"]) for t in tokenize(text, "word", True)]])
        with torch.no_grad():
            want = loaded.model(ids, torch.tensor([ids.shape[1]])).softmax(-1)[0]
        classes = loaded.info.extra["classes"]
        got = torch.tensor([row[f"prob_{c}"] for c in classes])
        assert torch.allclose(got, want, atol=1e-6)
        assert row["label"] == classes[int(want.argmax())]
    written = list(csv.DictReader(out.open()))
    assert [r["line"] for r in written] == ["2", "3"]
    assert set(written[0]) == {"line", "label", *(f"prob_{c}" for c in classes)}


def test_predict_command_writes_jsonl_and_batches(text_run, tmp_path):
    texts = [f"the film is great {i}" for i in range(7)]
    out = tmp_path / "pred.jsonl"
    src = write_texts(tmp_path / "in.csv", texts)
    args = ["predict", "--ckpt", str(text_run), "--input", str(src), "--output", str(out)]
    assert main([*args, "--batch-size", "3", "-q"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 7 and all(
        abs(sum(v for k, v in r.items() if k.startswith("prob_")) - 1) < 1e-5 for r in rows
    )
    # batching changes nothing but rounding (matrix products of other batch shapes)
    assert rows == [pytest.approx(r, abs=1e-6) for r in predict(text_run, src, batch_size=100)]


def test_forecast_predictions_are_in_the_datas_units(forecast_run, tmp_path):
    series = np.linspace(10.0, 80.0, 40)
    src = tmp_path / "series.csv"
    src.write_text("SUNACTIVITY\n" + "\n".join(f"{v}" for v in series) + "\n")
    rows = predict(forecast_run, src)
    loaded = load_checkpoint(forecast_run)
    scaler, context = loaded.info.extra["scaler"], loaded.info.extra["context"]
    assert len(rows) == len(series) - context + 1
    x = torch.tensor(
        (series[-context:] - scaler["mean"][0]) / scaler["std"][0], dtype=torch.float32
    )
    with torch.no_grad():
        scaled = loaded.model(x[None, :, None], torch.tensor([context]))
    want = float(scaled.reshape(-1)[0]) * scaler["std"][0] + scaler["mean"][0]
    assert rows[-1]["SUNACTIVITY_t+1"] == pytest.approx(want, rel=1e-5)
    assert rows[-1]["after_line"] == len(series) + 1  # the header is line 1


def test_bad_inputs_are_one_clear_error_and_overwrite_nothing(
    text_run, forecast_run, tmp_path, capsys
):
    out = tmp_path / "keep.csv"
    out.write_text("precious\n")
    wrong = write_texts(tmp_path / "wrong.csv", ["hello"], column="review")
    cases = [
        (["--ckpt", str(text_run), "--input", str(wrong)], "no column 'text'"),
        (["--ckpt", str(forecast_run), "--input", str(wrong)], "no column 'SUNACTIVITY'"),
        (["--ckpt", str(tmp_path / "nope"), "--input", str(wrong)], "does not exist"),
    ]
    for args, message in cases:
        assert main(["predict", *args, "--output", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    bad_suffix = [
        "predict",
        "--ckpt",
        str(text_run),
        "--input",
        str(wrong),
        "-o",
        str(tmp_path / "p.txt"),
    ]
    assert main(bad_suffix) == 2 and ".csv, .tsv or .jsonl" in capsys.readouterr().err
    assert out.read_text() == "precious\n"


def test_a_language_model_checkpoint_is_refused_with_the_command_to_use(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be " * 200)
    run = tiny_fit(
        tmp_path / "runs",
        "task.name=charlm",
        f"task.options.path={corpus}",
        "task.options.seq_len=8",
        "task.batch_size=4",
    )
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"x": [1, 2, 3]}) + "\n")
    assert main(["predict", "--ckpt", str(run), "--input", str(src), "-q"]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "'language_model' model" in err and "seqlab generate" in err


def test_sequence_to_sequence_predictions_are_decoded_text(tmp_path, capsys):
    from seqlab.tasks.seq2seq_data import detokenize

    run = tiny_fit(
        tmp_path / "runs",
        "task.name=reverse",
        "task.options.n_train=64",
        "task.options.n_val=32",
        "task.options.n_test=32",
    )
    src = tmp_path / "in.csv"
    src.write_text("source\nabcd\nbad\n")
    rows = predict(run, src)
    loaded = load_checkpoint(run)
    stoi = {t: i for i, t in enumerate(loaded.info.itos)}
    decoded = loaded.model.translate([[stoi[c] for c in "abcd"], [stoi[c] for c in "bad"]])
    itos = loaded.info.extra["target_itos"]
    want = [detokenize([itos[i] for i in ids], "char") for ids in decoded.tokens]
    assert [r["output"] for r in rows] == want
    assert [r["source"] for r in rows] == ["abcd", "bad"]
    src.write_text("source\nab1\n")
    assert main(["predict", "--ckpt", str(run), "--input", str(src), "-q"]) == 2
    assert "never saw: '1'" in capsys.readouterr().err


def test_ucr_predictions_scale_raw_series_as_training_did(tmp_path):
    # Covid3Month_disc's counts get normalize=series+scale: one raw channel in the file,
    # four inputs to the model (the series z-normalised, its level, spread and length).
    pytest.importorskip("aeon")
    run = tiny_fit(tmp_path / "runs", "task.name=ucr", "task.options.dataset=Covid3Month_disc")
    loaded = load_checkpoint(run)
    assert loaded.info.input_size == 4 and loaded.info.extra["channels"] == 1
    raw = [np.linspace(0.0, 300.0, 84), np.zeros(84) + 2.0]
    src = tmp_path / "series.csv"
    src.write_text("x\n" + "\n".join(" ".join(f"{v:g}" for v in s) for s in raw) + "\n")
    rows = predict(run, src)
    from seqlab.tasks.series_scaling import normalize_like_training

    x = normalize_like_training([s[:, None].astype(np.float32) for s in raw], loaded.info.extra)
    with torch.no_grad():
        logits = loaded.model(torch.from_numpy(np.stack(x)), torch.tensor([84, 84]))
    probs = torch.softmax(logits, -1)
    classes = loaded.info.extra["classes"]
    for row, p in zip(rows, probs, strict=True):
        assert row["label"] == classes[int(p.argmax())]
        assert row[f"prob_{classes[0]}"] == pytest.approx(float(p[0]), abs=1e-5)

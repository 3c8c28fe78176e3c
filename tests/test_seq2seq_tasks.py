"""The seq2seq tasks: addition, dates, reverse/sort, translate; their data and bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from seqlab.errors import ConfigError, DataError
from seqlab.tasks import create_task
from seqlab.tasks.base import IGNORE_INDEX
from seqlab.tasks.seq2seq_data import EOS, detokenize, encode_source, tokenize


def texts(task, split):
    info, ds = task.info, getattr(task.splits, split)
    tgt = info.extra["target_itos"]
    out = []
    for x, n, y in zip(ds.x, ds.lengths, ds.y, strict=True):
        src = "".join(info.itos[int(t)] for t in x[: int(n)])
        ids = [int(t) for t in y if int(t) != IGNORE_INDEX]
        assert ids[-1] == EOS
        out.append((src, "".join(tgt[t] for t in ids[:-1])))
    return out


def test_addition_sums_are_right_and_splits_disjoint():
    task = create_task("addition", digits=2, n_train=300, n_val=50, n_test=50)
    train = texts(task, "train")
    for question, answer in train:
        a, b = question.split("+")
        assert int(a) + int(b) == int(answer) and len(a) <= 2
    held_out = {q for q, _ in texts(task, "val") + texts(task, "test")}
    assert not held_out & {q for q, _ in train}
    assert task.info.output_kind == "seq2seq" and task.info.metric == "exact"
    reversed_task = create_task(
        "addition", digits=2, reverse=True, n_train=300, n_val=50, n_test=50
    )
    assert [q[::-1] for q, _ in texts(reversed_task, "train")] == [q for q, _ in train]


def test_addition_refuses_more_questions_than_exist():
    with pytest.raises(ConfigError, match="distinct questions"):
        create_task("addition", digits=1, n_train=100)


def test_dates_targets_are_iso_8601_of_the_source_date():
    task = create_task("dates", n_train=200, n_val=20, n_test=20, seed=3)
    pairs = texts(task, "train")
    assert len({s for s, _ in pairs}) == len(pairs)
    for source, target in pairs:
        date = dt.date.fromisoformat(target)
        assert 1950 <= date.year <= 2049
        assert str(date.day) in source  # every format writes the day
    again = create_task("dates", n_train=200, n_val=20, n_test=20, seed=3)
    assert texts(again, "train") == pairs


@pytest.mark.parametrize(("name", "op"), [("reverse", lambda s: s[::-1]), ("sort", sorted)])
def test_reverse_and_sort(name, op):
    task = create_task(name, min_length=3, max_length=7, n_train=100, n_val=10, n_test=10)
    for source, target in texts(task, "train"):
        assert 3 <= len(source) <= 7 and target == "".join(op(source))
    with pytest.raises(ConfigError, match="max_length=2 is below min_length=3"):
        create_task(name, min_length=3, max_length=2)


def test_translate_reads_tsv_ignoring_extra_columns_and_splits_with_a_seed(tmp_path):
    path = tmp_path / "pairs.tsv"
    lines = [f"I see {i} cats.\tJe vois {i} chats.\tCC-BY attribution #{i}" for i in range(40)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = create_task("translate", path=str(path), seed=1)
    info = task.info
    assert info.metric == "bleu" and info.extra["tokens"] == "word"
    assert task.splits.sizes() == {"train": 32, "val": 4, "test": 4}
    assert "cats" in info.itos and "chats" in info.extra["target_itos"]
    assert "attribution" not in info.itos
    assert any(b.description == "copy the source" for b in info.baselines)
    other = create_task("translate", path=str(path), seed=2)
    assert texts(other, "val") != texts(task, "val")


def test_translate_reads_csv_and_jsonl(tmp_path):
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("".join(f'"Hi, {i}",Salut {i}\n' for i in range(20)), encoding="utf-8")
    assert "," in create_task("translate", path=str(csv_path)).info.itos
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        "".join(f'{{"source": "go {i}", "target": "va {i}", "x": 1}}\n' for i in range(20)),
        encoding="utf-8",
    )
    task = create_task("translate", path=str(jsonl), tokens="char")
    assert task.info.extra["tokens"] == "char" and "g" in task.info.itos


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("Go.\tVa !\nno tab here\n", {}, "line 2 has no tab between source and target"),
        ("Go.\tVa !\n\tVa !\n", {}, "line 2: the source is empty"),
        ("Go.\tVa !\nGo.\t \n", {}, "line 2: the target is empty"),
        ("Go.\tVa !\nGo.\ta b c d e\n", {"max_length": 3}, "the target has 5 tokens"),
    ],
)
def test_translate_bad_files_name_the_line_and_the_fix(tmp_path, content, options, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        create_task("translate", path=str(path), **options).setup()


def test_translate_length_filter_drops_long_pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    rows = [f"go {i}\tva {i}" for i in range(30)] + ["a b c d e\tf g h i j"] * 5
    path.write_text("\n".join(rows), encoding="utf-8")
    task = create_task("translate", path=str(path), max_length=3, drop_long=True)
    assert sum(task.splits.sizes().values()) == 30


def test_translate_needs_a_path():
    with pytest.raises(DataError, match="needs a file of pairs"):
        create_task("translate")


def test_tokens_round_trip_and_unseen_tokens_are_named():
    assert tokenize("I'm cold.", "word") == ["I'm", "cold", "."]
    assert detokenize(["je", "suis", "là", "!"], "word") == "je suis là!"
    itos = ("<pad>", "cold", "i'm", ".")
    assert encode_source("I'm cold.", itos, "word", lowercase=True) == [2, 1, 3]
    with pytest.raises(ConfigError, match="never saw: 'hot'"):
        encode_source("I'm hot.", itos, "word", lowercase=True)
    with pytest.raises(ConfigError, match="source is empty"):
        encode_source("  ", itos, "word", lowercase=True)

"""Every task: the batch convention, determinism, workers, baselines, registry and CLI."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.cli import main
from seqlab.cli.app import console
from seqlab.errors import ConfigError
from seqlab.tasks import IGNORE_INDEX, REGISTRY, Task, TaskInfo, create_task, get_task, list_tasks

BUILTIN = {"adding", "charlm", "copy", "digits", "forecast", "text", "ucr"}
SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


def write_reviews(path: Path, n: int = 120, seed: int = 0) -> Path:
    """A small sentiment CSV: the label is decided by the words in the text."""
    rng = np.random.default_rng(seed)
    good, bad = ["great", "fine", "lovely", "superb"], ["awful", "dull", "poor", "bad"]
    filler = ["the", "film", "was", "really", "quite", "a", "plot", "and", "cast"]
    rows = ["text,label"]
    for i in range(n):
        label = "pos" if i % 3 else "neg"
        words = list(rng.choice(filler, size=int(rng.integers(3, 30))))
        words.insert(
            int(rng.integers(0, len(words))), str(rng.choice(good if label == "pos" else bad))
        )
        rows.append(f'"{" ".join(words).capitalize()}, really!",{label}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_series_csv(path: Path, n: int = 200) -> Path:
    """A CSV with a date column and two numeric series."""
    t = np.arange(n)
    a = np.sin(t / 5.0) + 0.01 * t
    b = np.cos(t / 7.0)
    lines = ["date,a,b"] + [f"2000-01-{i % 28 + 1:02d},{a[i]:.6f},{b[i]:.6f}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def charlm_prefix(tmp_path: Path, chars: int = 60_000) -> Path:
    """The first ``chars`` characters of the charlm text, for tests that walk every batch."""
    path = tmp_path / "prefix.txt"
    path.write_text(charlm_path(tmp_path).read_text(encoding="utf-8")[:chars], encoding="utf-8")
    return path


def charlm_path(tmp_path: Path) -> Path:
    """The shared Tiny Shakespeare when present, else a generated English-like text."""
    if SHAKESPEARE.is_file():
        return SHAKESPEARE
    rng = np.random.default_rng(0)
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "'tis"]
    text = "\n".join(" ".join(rng.choice(words, size=12)) for _ in range(4000))
    path = tmp_path / "generated.txt"
    path.write_text(text, encoding="utf-8")
    return path


# name → options builder (tmp_path → options); small sizes keep every test fast.
CASES: dict[str, Callable[[Path], dict]] = {
    "adding": lambda tmp: {"seq_len": 12, "n_train": 100, "n_val": 40, "n_test": 40},
    "copy": lambda tmp: {"delay": 5, "n_train": 100, "n_val": 40, "n_test": 40},
    "digits-rows": lambda tmp: {},
    "digits-pixels": lambda tmp: {"layout": "pixels", "permute": True},
    "ucr-univariate": lambda tmp: {"dataset": "ItalyPowerDemand"},
    "ucr-multivariate": lambda tmp: {"dataset": "BasicMotions"},
    "ucr-variable-length": lambda tmp: {"dataset": "JapaneseVowels"},
    "text-word": lambda tmp: {"path": str(write_reviews(tmp / "reviews.csv")), "max_len": 12},
    "text-char": lambda tmp: {"path": str(write_reviews(tmp / "reviews.csv")), "tokens": "char"},
    "charlm": lambda tmp: {"path": str(charlm_prefix(tmp)), "seq_len": 32},
    "forecast-sunspots": lambda tmp: {"context": 10, "horizon": 3},
    "forecast-csv": lambda tmp: {"path": str(write_series_csv(tmp / "s.csv")), "target": "a"},
}


def build(case: str, tmp_path: Path, **common) -> Task:
    task = create_task(case.split("-")[0], **CASES[case](tmp_path), **common)
    task.setup("fit")
    return task


def check_batch(batch: dict, info: TaskInfo, batch_size: int) -> None:
    """The batch convention of seqlab/tasks/base.py."""
    assert set(batch) == {"x", "lengths", "y"}
    x, lengths, y = batch["x"], batch["lengths"], batch["y"]
    b = x.shape[0]
    assert 1 <= b <= batch_size
    assert lengths.dtype == torch.int64 and lengths.shape == (b,)
    t = x.shape[1]
    assert int(lengths.min()) >= 1 and int(lengths.max()) == t  # padding trimmed per batch
    if info.input_kind == "tokens":
        assert x.dtype == torch.int64 and x.dim() == 2
        assert int(x.min()) >= 0 and int(x.max()) < info.vocab_size == info.input_size
    else:
        assert x.dtype == torch.float32 and x.shape == (b, t, info.input_size)
        assert torch.isfinite(x).all()
    # Padding is zero past each sequence's length.
    pad = torch.arange(t)[None, :] >= lengths[:, None]
    assert (x[pad] == 0).all()
    kind = info.output_kind
    if kind == "classification":
        assert y.dtype == torch.int64 and y.shape == (b,)
        assert int(y.min()) >= 0 and int(y.max()) < info.num_outputs
    elif kind == "regression":
        assert y.dtype == torch.float32 and y.shape == (b, *info.target_shape)
        assert math.prod(info.target_shape) == info.num_outputs
    elif kind in ("tagging", "language_model"):
        assert y.dtype == torch.int64 and y.shape == (b, t)
        scored = y[y != IGNORE_INDEX]
        assert int(scored.min()) >= 0 and int(scored.max()) < info.num_outputs
    else:  # pragma: no cover
        raise AssertionError(kind)


def batches(loader) -> list[dict]:
    return list(loader)


def same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        all(torch.equal(p[k], q[k]) for k in ("x", "lengths", "y"))
        for p, q in zip(a, b, strict=True)
    )


# -- registry -------------------------------------------------------------------------
def test_builtin_tasks_are_registered_with_static_facts():
    assert set(list_tasks()) >= BUILTIN
    for name in BUILTIN:
        cls = get_task(name)
        assert issubclass(cls, Task) and cls.name == name
        assert cls.description and cls.output_kind in (
            "classification",
            "tagging",
            "regression",
            "language_model",
        )
        assert REGISTRY.source(name).builtin
    assert get_task("charlm").supports_bidirectional is False


def test_unknown_task_option_names_the_options():
    with pytest.raises(ConfigError) as exc:
        create_task("adding", seqlen=10)
    assert "seqlen" in str(exc.value) and "seq_len" in str(exc.value)


def test_third_party_task_found_through_a_real_entry_point(make_distribution, tmp_path):
    make_distribution(
        "acme-tasks",
        "0.3.1",
        {"seqlab.tasks": {"parity": "acme_parity:Parity"}},
        {
            "acme_parity": """
            import torch
            from torch.utils.data import DataLoader, TensorDataset
            from seqlab.tasks import Task, TaskInfo

            class Parity(Task):
                '''Parity of a bit string.'''
                description = "parity of bits"
                output_kind = "classification"

                def __init__(self, batch_size=32, seed=0, num_workers=0, bits=8):
                    super().__init__(batch_size, seed, num_workers)
                    self.bits = bits

                def setup(self, stage=None):
                    g = torch.Generator().manual_seed(self.seed)
                    self.x = torch.randint(0, 2, (64, self.bits, 1), generator=g).float()
                    self.info = TaskInfo("classification", "real", 1, 2, "acc", "max")

                def train_dataloader(self):
                    y = self.x.sum((1, 2)).long() % 2
                    lengths = torch.full((64,), self.bits)
                    return [{"x": self.x, "lengths": lengths, "y": y}]
        """
        },
    )
    assert "parity" in list_tasks()
    src = REGISTRY.source("parity")
    assert not src.builtin and src.distribution == "acme-tasks" and src.version == "0.3.1"
    task = create_task("parity", bits=5)
    assert type(task).__module__ == "acme_parity"
    info = task.info  # runs the plugin's setup
    check_batch(task.train_dataloader()[0], info, 64)


# -- the batch convention, for every task ---------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_every_split_follows_the_batch_convention(case, tmp_path):
    task = build(case, tmp_path, batch_size=16)
    info = task.info
    assert info.metric in ("mse", "acc", "ce")
    assert info.metric_mode == ("max" if info.metric == "acc" else "min")
    for split in ("val", "test"):
        b = info.baseline(split)
        assert b is not None and b.split == split and b.metric == info.metric
        assert math.isfinite(b.value)
    sizes = info.extra["sizes"]
    for split in ("train", "val", "test"):
        seen = 0
        for batch in getattr(task, f"{split}_dataloader")():
            check_batch(batch, info, 16)
            seen += len(batch["y"])
        if info.extra.get("size_unit") != "characters":
            assert seen == sizes[split]


@pytest.mark.parametrize("case", list(CASES))
def test_same_seed_same_batches_in_the_same_order(case, tmp_path):
    a, b = build(case, tmp_path, seed=3), build(case, tmp_path, seed=3)
    la, lb = a.train_dataloader(), b.train_dataloader()
    first_a, second_a = batches(la), batches(la)
    assert same(first_a, batches(lb)) and same(second_a, batches(lb))
    assert same(batches(a.val_dataloader()), batches(b.val_dataloader()))
    assert same(batches(a.test_dataloader()), batches(b.test_dataloader()))
    other = batches(build(case, tmp_path, seed=4).train_dataloader())
    if case == "charlm":
        # Contiguous batches are never shuffled: the data do not depend on the seed.
        assert same(first_a, other) and same(first_a, second_a)
    else:
        assert not same(first_a, other)
        assert not same(first_a, second_a)  # a new order every epoch


@pytest.mark.parametrize(
    "case",
    ["adding", "copy", "ucr-variable-length", "text-word", "charlm", "forecast-csv", "digits-rows"],
)
def test_workers_give_the_same_batches(case, tmp_path):
    single = build(case, tmp_path, seed=1, batch_size=8)
    multi = build(case, tmp_path, seed=1, batch_size=8, num_workers=2)
    assert same(batches(single.train_dataloader()), batches(multi.train_dataloader()))
    assert same(batches(single.val_dataloader()), batches(multi.val_dataloader()))


# -- adding ---------------------------------------------------------------------------
def test_adding_generator_and_its_baseline():
    task = create_task("adding", seq_len=30, n_train=1, n_val=20_000, n_test=20_000, seed=5)
    val = task.splits.val
    values, markers = val.x[..., 0], val.x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert (markers[:, :15].sum(1) == 1).all() and (markers[:, 15:].sum(1) == 1).all()
    assert torch.allclose(val.y[:, 0], (values * markers).sum(1), atol=1e-6)
    # Always predicting 1 has MSE Var(a + b) = 1/6 (sd of the estimate at n=20000: 0.0014).
    for split in ("val", "test"):
        assert task.info.baseline(split).value == pytest.approx(1 / 6, abs=0.006)
    # The baseline is the one a model would see from the loader.
    ys = torch.cat([b["y"] for b in task.val_dataloader()])
    assert task.info.baseline("val").value == pytest.approx(float(((ys - 1) ** 2).mean()))


def test_adding_val_data_do_not_depend_on_the_training_size():
    a = create_task("adding", n_train=10, seed=2).splits.val
    b = create_task("adding", n_train=50, seed=2).splits.val
    assert torch.equal(a.x, b.x)


# -- copy -----------------------------------------------------------------------------
@pytest.mark.parametrize("delay", [1, 10, 50])
def test_copy_layout_and_baseline_closed_form(delay):
    task = create_task("copy", delay=delay, n_train=10, n_val=200, n_test=50)
    x, y = task.splits.val.x, task.splits.val.y
    t = delay + 20
    assert x.shape == y.shape == (200, t)
    assert ((x[:, :10] >= 1) & (x[:, :10] <= 8)).all()
    assert (x[:, 10 : 9 + delay] == 0).all() and (x[:, 9 + delay] == 9).all()
    assert (x[:, 10 + delay :] == 0).all()
    assert (y[:, : 10 + delay] == 0).all() and torch.equal(y[:, -10:], x[:, :10])
    for split in ("val", "test"):
        assert task.info.baseline(split).value == pytest.approx(10 * math.log(8) / t, rel=1e-12)
    assert task.info.num_outputs == 9 and task.info.vocab_size == 10


# -- digits ---------------------------------------------------------------------------
def test_digits_layouts_scaling_and_stratified_split():
    rows = create_task("digits", seed=7)
    pixels = create_task("digits", seed=7, layout="pixels")
    assert torch.equal(rows.splits.train.x.reshape(-1, 64), pixels.splits.train.x.reshape(-1, 64))
    assert rows.splits.train.x.shape[1:] == (8, 8) and pixels.splits.train.x.shape[1:] == (64, 1)
    assert float(rows.splits.train.x.min()) == 0.0 and float(rows.splits.train.x.max()) == 1.0
    sizes = rows.info.extra["sizes"]
    assert sizes == {"train": 1258, "val": 180, "test": 359}
    overall = (
        torch.bincount(
            torch.cat([rows.splits.train.y, rows.splits.val.y, rows.splits.test.y]), minlength=10
        )
        / 1797
    )
    for split in (rows.splits.val, rows.splits.test):
        share = torch.bincount(split.y, minlength=10) / len(split)
        assert (share - overall).abs().max() < 0.01  # stratified
    majority = int(torch.bincount(rows.splits.train.y).argmax())
    assert rows.info.baseline("test").value == pytest.approx(
        float((rows.splits.test.y == majority).double().mean())
    )
    assert not torch.equal(create_task("digits", seed=8).splits.val.x, rows.splits.val.x)


def test_digits_permutation_is_fixed_across_seeds():
    plain = create_task("digits", layout="pixels", seed=0).splits.train
    perm_a = create_task("digits", layout="pixels", permute=True, seed=0).splits.train
    perm_b = create_task("digits", layout="pixels", permute=True, seed=1)
    other = create_task("digits", layout="pixels", permute=True, permute_seed=9).splits.train
    order = np.random.default_rng(0).permutation(64)
    assert torch.equal(perm_a.x[:, :, 0], plain.x[:, order, 0])
    # The permutation does not follow the split seed: same image → same permuted pixels.
    plain_b = create_task("digits", layout="pixels", seed=1).splits.train
    assert torch.equal(perm_b.splits.train.x[:, :, 0], plain_b.x[:, order, 0])
    assert not torch.equal(other.x, perm_a.x)


# -- ucr ------------------------------------------------------------------------------
def test_ucr_gunpoint_split_reference_and_znorm():
    task = create_task("ucr", dataset="GunPoint", seed=0)
    info = task.info
    assert info.extra["sizes"] == {"train": 40, "val": 10, "test": 150}
    assert info.extra["classes"] == ["1", "2"] and info.num_outputs == 2
    assert info.extra["reference"]["value"] == 0.907
    assert info.extra["reference"]["split"] == "test"
    x = task.splits.test.x[..., 0]
    assert torch.allclose(x.mean(1), torch.zeros(150), atol=1e-4)
    assert torch.allclose(x.std(1, unbiased=False), torch.ones(150), atol=1e-3)
    # val is stratified (5 + 5) and changes with the seed; train and val are disjoint.
    assert torch.bincount(task.splits.val.y).tolist() == [5, 5]
    other = create_task("ucr", dataset="GunPoint", seed=1)
    assert not torch.equal(other.splits.val.x, task.splits.val.x)
    joined = torch.cat([task.splits.train.x, task.splits.val.x]).reshape(50, -1)
    assert len(torch.unique(joined, dim=0)) == 50


def test_ucr_variable_length_is_padded_not_truncated():
    from aeon.datasets import load_classification

    from seqlab.tasks.ucr import aeon_data_dir

    task = create_task("ucr", dataset="JapaneseVowels", normalize="none")
    raw_train, _ = load_classification(
        "JapaneseVowels", split="train", extract_path=str(aeon_data_dir())
    )
    raw_test, _ = load_classification(
        "JapaneseVowels", split="test", extract_path=str(aeon_data_dir())
    )
    s = task.splits
    assert int(s.train.lengths.sum() + s.val.lengths.sum()) == sum(r.shape[1] for r in raw_train)
    assert sorted(s.test.lengths.tolist()) == sorted(r.shape[1] for r in raw_test)
    assert task.info.extra["variable_length"] and task.info.input_size == 12
    assert task.info.extra["min_len"] == 7 and task.info.extra["max_len"] == 29
    # Each test series is stored exactly, in order, followed by zeros.
    for i in (0, 100, 369):
        n = int(s.test.lengths[i])
        assert torch.equal(s.test.x[i, :n], torch.from_numpy(raw_test[i].T.astype(np.float32)))
        assert (s.test.x[i, n:] == 0).all()
    assert "reference" not in task.info.extra


# -- text -----------------------------------------------------------------------------
def test_text_vocabulary_is_built_on_train_only(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [
        {
            "text": f"common words here {'good' if i % 2 else 'bad'}",
            "label": i % 2,
            "split": "train",
        }
        for i in range(20)
    ]
    rows += [
        {"text": "zebra common", "label": 1, "split": "test"},
        {"text": "quokka words", "label": 0, "split": "test"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    task = create_task("text", path=str(path), split_column="split", val_fraction=0.2)
    info = task.info
    assert info.itos[:2] == ("<pad>", "<unk>")
    assert "zebra" not in info.itos and "quokka" not in info.itos and "common" in info.itos
    test = task.splits.test
    assert test.x[0, 0] == 1 and test.x[1, 0] == 1  # unseen words → <unk>
    assert info.extra["sizes"] == {"train": 16, "val": 4, "test": 2}
    assert info.extra["classes"] == ["0", "1"]
    assert torch.bincount(task.splits.val.y).tolist() == [2, 2]


def test_text_truncates_long_texts_and_caps_the_vocabulary(tmp_path):
    path = tmp_path / "t.tsv"
    lines = ["label\ttext"] + [
        f"{'a' if i % 2 else 'b'}\t" + " ".join(f"w{j}" for j in range(i + 1)) for i in range(40)
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    task = create_task("text", path=str(path), max_len=7, max_vocab=5)
    info = task.info
    assert len(info.itos) == 5 and info.vocab_size == 5
    for split in (task.splits.train, task.splits.val, task.splits.test):
        assert int(split.lengths.max()) <= 7 and split.x.shape[1] <= 7
    # The most frequent training tokens are w0, w1, w2 (in every text / nearly every text).
    assert info.itos[2:] == ("w0", "w1", "w2")
    assert info.extra["truncated_texts"] == 33


def test_text_char_tokens_and_lowercase(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "text,label\nAbC,x\nabc,y\nABC,x\naBc,y\nabc,x\nCab,y\nbca,x\nacb,y\ncba,x\nbac,y\n",
        encoding="utf-8",
    )
    task = create_task("text", path=str(path), tokens="char", val_fraction=0.2, test_fraction=0.2)
    assert set(task.info.itos[2:]) == {"a", "b", "c"}
    upper = create_task(
        "text", path=str(path), tokens="char", lowercase=False, val_fraction=0.2, test_fraction=0.2
    )
    assert {"A", "B", "C"} & set(upper.info.itos)


def test_text_from_a_hugging_face_dataset(monkeypatch):
    import types

    class Split:
        def __init__(self, texts, labels):
            self.data = {"sentence": texts, "label": labels}
            self.column_names = ["sentence", "label"]
            self.features = {
                "sentence": object(),
                "label": types.SimpleNamespace(names=["negative", "positive"]),
            }

        def __getitem__(self, column):
            return self.data[column]

    fake = types.ModuleType("datasets")
    fake.load_dataset = lambda name, config=None: {
        "train": Split(
            [f"good film {i}" if i % 2 else f"bad film {i}" for i in range(20)],
            [i % 2 for i in range(20)],
        ),
        "validation": Split(["good", "bad"], [1, 0]),
        "test": Split(["bad bad", "good good", "meh"], [0, 1, 0]),
        "unsupervised": Split(["x"], [0]),
    }
    monkeypatch.setitem(__import__("sys").modules, "datasets", fake)
    task = create_task("text", hf_dataset="fake/sst2", text_column="sentence")
    assert task.info.extra["classes"] == ["negative", "positive"]
    assert task.info.extra["sizes"] == {"train": 20, "val": 2, "test": 3}


# -- charlm ---------------------------------------------------------------------------
def test_charlm_batches_are_contiguous_and_split_like_nanogpt(tmp_path):
    path = charlm_prefix(tmp_path, 200_000)
    task = create_task("charlm", path=str(path), batch_size=4, seq_len=16)
    info = task.info
    text = path.read_text(encoding="utf-8")
    chars = sorted(set(text))
    assert info.itos == tuple(chars) and info.vocab_size == len(chars) == info.num_outputs
    n = len(text)
    assert info.extra["sizes"] == {"train": int(n * 0.9), "val": n - int(n * 0.9)}
    stoi = {c: i for i, c in enumerate(chars)}
    train = [b for b in task.train_dataloader()]
    for k in range(len(train) - 1):
        assert torch.equal(train[k]["x"][:, 1:], train[k]["y"][:, :-1])
        assert torch.equal(train[k + 1]["x"][:, 0], train[k]["y"][:, -1])  # rows continue
    stream0 = torch.cat([b["x"][0] for b in train]).tolist()
    assert "".join(chars[i] for i in stream0) == text[: len(stream0)]
    stream_len = (int(n * 0.9) - 1) // 4
    row2 = torch.cat([b["x"][2] for b in train]).tolist()
    assert [stoi[c] for c in text[2 * stream_len : 2 * stream_len + 32]] == row2[:32]
    assert len(train) == stream_len // 16


def test_charlm_baselines_and_test_is_val(tmp_path):
    task = create_task("charlm", path=str(charlm_path(tmp_path)), batch_size=8, seq_len=32)
    info = task.info
    train_ids = task.data["train"]
    ys = torch.cat([b["y"].reshape(-1) for b in task.val_dataloader()])
    counts = torch.bincount(train_ids, minlength=info.vocab_size).double() + 1
    expected = float(-(counts / counts.sum()).log()[ys].mean())
    assert info.baseline("val").value == pytest.approx(expected, rel=1e-9)
    assert info.baseline("val").description.startswith("unigram")
    uniform = [b for b in info.baselines if b.description.startswith("uniform")]
    assert uniform[0].value == pytest.approx(math.log(info.vocab_size))
    assert info.baseline("val").value < uniform[0].value
    assert info.extra["test_is_val"]
    assert same(batches(task.test_dataloader()), batches(task.val_dataloader()))
    with_test = create_task("charlm", path=str(charlm_path(tmp_path)), test_fraction=0.05)
    assert not with_test.info.extra["test_is_val"]
    assert set(with_test.data) == {"train", "val", "test"}


def test_charlm_ranks_read_their_own_contiguous_streams(tmp_path):
    """Under DDP (world 2), rank r reads rows r·B..(r+1)·B-1 of the 2B-stream layout."""
    from types import SimpleNamespace

    path = str(charlm_prefix(tmp_path, 200_000))
    whole = batches(create_task("charlm", path=path, batch_size=6, seq_len=16).train_dataloader())
    per_rank = []
    for rank in (0, 1):
        task = create_task("charlm", path=path, batch_size=3, seq_len=16)
        task.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        per_rank.append(batches(task.train_dataloader()))
    assert len(per_rank[0]) == len(per_rank[1]) == len(whole)
    for k, full in enumerate(whole):
        assert torch.equal(per_rank[0][k]["x"], full["x"][:3])
        assert torch.equal(per_rank[1][k]["x"], full["x"][3:])


def test_charlm_random_windows_like_nanogpt(tmp_path):
    task = create_task("charlm", path=str(charlm_path(tmp_path)), seed=2)
    windows = task.random_windows("val", num_batches=20, batch_size=12, seq_len=64)
    assert len(windows) == 20
    for w in windows:
        assert w["x"].shape == w["y"].shape == (12, 64)
        assert torch.equal(w["x"][:, 1:], w["y"][:, :-1])
    again = task.random_windows("val", num_batches=20, batch_size=12, seq_len=64)
    assert same(windows, again)


def test_charlm_windows_stand_alone_and_every_epoch_reads_each_once(tmp_path):
    from seqlab.training.data import TrainingData

    path = charlm_prefix(tmp_path, 50_000)
    task = create_task("charlm", path=str(path), batch_size=8, seq_len=16, batches="windows")
    assert task.info.batches_continue is False and task.info.extra["batches"] == "windows"
    assert create_task("charlm", path=str(path)).info.batches_continue is True
    train = task.data["train"]
    n_windows = (len(train) - 1) // 16

    def epoch(seed: int, number: int) -> list[dict]:
        data = TrainingData(task, seed=seed)
        loader = data.train_dataloader()
        loader.sampler.set_epoch(number)
        return list(loader.loader)

    first = epoch(0, 0)
    assert len(first) == n_windows // 8 and all(b["x"].shape == (8, 16) for b in first)
    grid = Counter(tuple(train[i : i + 17].tolist()) for i in range(0, n_windows * 16, 16))
    read = Counter()
    for b in first:
        assert torch.equal(b["lengths"], torch.full((8,), 16))
        for x, y in zip(b["x"], b["y"], strict=True):
            read[(*x.tolist(), int(y[-1]))] += 1
            assert torch.equal(x[1:], y[:-1])
    # every row is a window of the grid (with its next character), none read twice
    assert not read - grid and sum(read.values()) == len(first) * 8
    assert same(first, epoch(0, 0)) and not same(first, epoch(0, 1))  # seeded by the epoch
    assert not same(first, epoch(1, 0))
    # Evaluation reads every window once, in order (none dropped).
    val = batches(task.val_dataloader())
    assert sum(len(b["x"]) for b in val) == (len(task.data["val"]) - 1) // 16
    assert torch.equal(val[0]["x"][1], task.data["val"][16:32])


def test_charlm_batches_option_is_checked(tmp_path):
    from seqlab.errors import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'windows'"):
        create_task("charlm", path=str(charlm_path(tmp_path)), batches="window")


# -- forecast -------------------------------------------------------------------------
def test_forecast_sunspots_windows_scaler_and_naive_baseline():
    from statsmodels.datasets import sunspots

    raw = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    task = create_task("forecast", context=10, horizon=3)
    info = task.info
    steps = info.extra["split_steps"]
    assert steps == {"train": 216, "val": 47, "test": 46}  # round(0.7·309), round(0.85·309)
    mean, std = raw[:216].mean(), raw[:216].std()
    assert info.extra["scaler"]["mean"] == [pytest.approx(mean)]
    assert info.extra["scaler"]["std"] == [pytest.approx(std)]
    s = task.splits
    assert info.target_shape == (3, 1) and info.num_outputs == 3
    # Train window i forecasts steps 10+i..12+i from steps i..9+i.
    scaled = torch.from_numpy(((raw - mean) / std).astype(np.float32))
    assert torch.allclose(s.train.x[5, :, 0], scaled[5:15]) and torch.allclose(
        s.train.y[5, :, 0], scaled[15:18]
    )
    assert len(s.train) == 216 - 10 - 3 + 1
    # Val windows forecast from step 216 on; their context may reach back into train.
    assert torch.allclose(s.val.y[0, :, 0], scaled[216:219])
    assert torch.allclose(s.val.x[0, :, 0], scaled[206:216])
    assert len(s.val) == 47 - 3 + 1 and len(s.test) == 46 - 3 + 1
    naive = s.test.x[:, -1:, :].expand(-1, 3, -1)
    assert info.baseline("test").value == pytest.approx(
        float(((s.test.y - naive) ** 2).mean()), rel=1e-5
    )
    mae = next(b for b in info.baselines if b.metric == "mae" and b.split == "test")
    assert mae.value == pytest.approx(float((s.test.y - naive).abs().mean()), rel=1e-5)


def test_forecast_csv_multivariate_with_a_target_column(tmp_path):
    path = write_series_csv(tmp_path / "s.csv", n=100)
    task = create_task("forecast", path=str(path), target="b", context=5, horizon=2, scale="none")
    info = task.info
    assert info.extra["columns"] == ["a", "b"]  # the date column is skipped
    assert info.input_size == 2 and info.target_shape == (2, 1)
    raw = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2))
    s = task.splits
    assert np.allclose(s.train.x[0].numpy(), raw[:5], atol=1e-6)
    assert np.allclose(s.train.y[0, :, 0].numpy(), raw[5:7, 1], atol=1e-6)
    # Chronological: every val target comes after every train target.
    assert info.extra["split_steps"] == {"train": 70, "val": 15, "test": 15}
    assert s.train.y.shape[0] == 70 - 5 - 2 + 1


def test_forecast_co2_gaps_are_interpolated():
    task = create_task("forecast", dataset="co2")
    assert "interpolated" in task.info.extra["source"]
    for split in (task.splits.train, task.splits.val, task.splits.test):
        assert torch.isfinite(split.x).all() and torch.isfinite(split.y).all()


def test_forecast_airline_from_aeon():
    task = create_task("forecast", dataset="airline", context=12)
    assert task.info.extra["steps"] == 144 and task.info.extra["split_steps"]["train"] == 101


# -- CLI ------------------------------------------------------------------------------
def test_cli_lists_tasks_and_shows_one(monkeypatch, capsys):
    monkeypatch.setattr(console, "_width", 200)  # restored to None (auto) after
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN:
        assert name in out
    assert "seq_len=50" in out and "built-in" in out and "language_model" in out
    assert main(["tasks", "show", "adding", "-o", "seq_len=20", "-o", "n_train=64"]) == 0
    out = capsys.readouterr().out
    assert "(64, 20, 2) float32" in out and "always predict 1" in out
    assert main(["tasks", "show", "ucr", "--no-setup"]) == 0
    assert "GunPoint" in capsys.readouterr().out
    assert main(["tasks", "show", "adding", "-o", "seq_len=0"]) == 2
    err = capsys.readouterr().err
    assert "seq_len=0" in err and "≥ 2" in err
    assert main(["tasks", "show", "addding"]) == 2
    assert "Did you mean 'adding'" in capsys.readouterr().err


def test_cli_lists_a_plugin_task_as_a_plugin(make_distribution, monkeypatch, capsys):
    make_distribution(
        "acme-tasks",
        "1.0",
        {"seqlab.tasks": {"echo": "acme_echo:Echo"}},
        {
            "acme_echo": """
                          from seqlab.tasks import Task

                          class Echo(Task):
                              description = "echo the input"
                              output_kind = "tagging"

                              def __init__(self, batch_size=32, seed=0, num_workers=0, n=3):
                                  super().__init__(batch_size, seed, num_workers)
                      """
        },
    )
    monkeypatch.setattr(console, "_width", 200)  # restored to None (auto) after
    assert main(["tasks", "-p", "echo"]) == 0
    out = capsys.readouterr().out
    assert "echo the input" in out and "plugin: acme-tasks 1.0" in out and "n=3" in out


# -- Lightning ------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["adding", "charlm"])
def test_a_lightning_trainer_sees_the_task_batches_in_order(case, tmp_path):
    import lightning as L
    from torch import nn

    class Probe(L.LightningModule):
        def __init__(self, info: TaskInfo):
            super().__init__()
            self.info_ = info
            self.emb = nn.Embedding(info.vocab_size, 4) if info.input_kind == "tokens" else None
            self.head = nn.Linear(4 if self.emb else info.input_size, info.num_outputs)
            self.seen: list[torch.Tensor] = []

        def loss(self, batch):
            x = self.emb(batch["x"]) if self.emb else batch["x"]
            out = self.head(x)
            if self.info_.output_kind == "language_model":
                return nn.functional.cross_entropy(out.flatten(0, 1), batch["y"].flatten())
            return ((out.mean(1) - batch["y"]) ** 2).mean()

        def training_step(self, batch, index):
            self.seen.append(batch["x"].clone())
            return self.loss(batch)

        def validation_step(self, batch, index):
            self.log("val_loss", self.loss(batch))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    task = build(case, tmp_path, batch_size=8)
    probe = Probe(task.info)
    L.Trainer(
        max_steps=4,
        limit_val_batches=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    ).fit(probe, datamodule=task)
    expected = batches(build(case, tmp_path, batch_size=8).train_dataloader())[:4]
    assert len(probe.seen) == 4
    assert all(torch.equal(s, e["x"]) for s, e in zip(probe.seen, expected, strict=True))

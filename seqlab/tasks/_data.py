"""In-memory sequence data sets, their loaders, seeded splits and shared baselines.

Every task whose splits fit in memory (all but ``charlm``) stores each split as padded
tensors in a :class:`SequenceDataset` and derives from :class:`ArrayTask`, which turns them
into loaders that follow the batch convention of :mod:`seqlab.tasks.base`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from seqlab.errors import DataError, MissingDependencyError
from seqlab.tasks._options import check_common
from seqlab.tasks.base import Baseline, Task, TaskInfo

Batch = dict[str, Tensor]


class SequenceDataset(Dataset):
    """One split as padded tensors: ``x`` (N, T, ...), ``lengths`` (N,), ``y`` (N, ...).

    Fetching a list of indices (what a DataLoader does, through ``__getitems__``) gathers
    the whole batch with one indexing operation per tensor and trims the padding to the
    longest sequence in the batch, so variable-length data costs no more than it must.

    Args:
        x: inputs, padded along dim 1 (float32 features or int64 token ids).
        lengths: valid steps of each sequence (int64, ≥ 1).
        y: targets; per step (padded along dim 1 like ``x``) when ``per_step_targets``.
    """

    def __init__(self, x: Tensor, lengths: Tensor, y: Tensor, *, per_step_targets: bool = False):
        if not (len(x) == len(lengths) == len(y)):
            raise ValueError(f"x, lengths, y disagree on N: {len(x)}, {len(lengths)}, {len(y)}")
        if len(lengths) and int(lengths.min()) < 1:
            raise ValueError("every sequence needs at least one step")
        self.x = x
        self.lengths = lengths.to(torch.int64)
        self.y = y
        self.per_step_targets = per_step_targets

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> Batch:
        n = int(self.lengths[index])
        y = self.y[index][:n] if self.per_step_targets else self.y[index]
        return {"x": self.x[index][:n], "lengths": self.lengths[index], "y": y}

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return self.trim({"x": self.x[idx], "lengths": self.lengths[idx], "y": self.y[idx]})

    def trim(self, batch: Batch) -> Batch:
        """Drop padding past the longest sequence of ``batch``."""
        longest = int(batch["lengths"].max())
        if longest < batch["x"].shape[1]:
            batch["x"] = batch["x"][:, :longest].contiguous()
            if self.per_step_targets:
                batch["y"] = batch["y"][:, :longest].contiguous()
        return batch


@dataclass(frozen=True)
class _Collate:
    """Batch from ``__getitems__`` as is; a list of single items padded and stacked."""

    per_step_targets: bool

    def __call__(self, data: Batch | list[Batch]) -> Batch:
        if isinstance(data, dict):
            return data
        lengths = torch.stack([d["lengths"] for d in data])
        longest = int(lengths.max())

        def pad(t: Tensor) -> Tensor:
            out = t.new_zeros((longest, *t.shape[1:]))
            out[: len(t)] = t
            return out

        x = torch.stack([pad(d["x"]) for d in data])
        if self.per_step_targets:
            y = torch.stack([pad(d["y"]) for d in data])
        else:
            y = torch.stack([d["y"] for d in data])
        return {"x": x, "lengths": lengths, "y": y}


def make_loader(
    dataset: SequenceDataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    num_workers: int,
) -> DataLoader:
    """A DataLoader over ``dataset``; shuffled by a generator seeded with ``seed``.

    The generator is created here, so every call (every run) draws the same sequence of
    epoch orders; the order does not depend on ``num_workers`` because the sampler runs in
    the main process.
    """
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        collate_fn=_Collate(dataset.per_step_targets),
        persistent_workers=num_workers > 0,
    )


@dataclass(frozen=True)
class Splits:
    train: SequenceDataset
    val: SequenceDataset
    test: SequenceDataset

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


class ArrayTask(Task):
    """A task whose three splits are :class:`SequenceDataset` s built by :meth:`build`."""

    def __init__(self, batch_size: int = 32, seed: int = 0, num_workers: int = 0) -> None:
        batch_size, seed, num_workers = check_common(self.name, batch_size, seed, num_workers)
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        self._splits: Splits | None = None

    def build(self) -> tuple[TaskInfo, Splits]:
        """Load or generate the data: return the task's info and its three splits."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Build the data once; later calls (one per Lightning stage) do nothing."""
        if self._splits is not None:
            return
        info, splits = self.build()
        self._splits = splits
        self.info = info

    @property
    def splits(self) -> Splits:
        if self._splits is None:
            self.setup("fit")
        assert self._splits is not None
        return self._splits

    def train_dataloader(self) -> DataLoader:
        return make_loader(
            self.splits.train,
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return make_loader(
            self.splits.val,
            self.batch_size,
            shuffle=False,
            seed=self.seed,
            num_workers=self.num_workers,
        )

    def test_dataloader(self) -> DataLoader:
        return make_loader(
            self.splits.test,
            self.batch_size,
            shuffle=False,
            seed=self.seed,
            num_workers=self.num_workers,
        )


# -- seeded randomness ----------------------------------------------------------------------
def split_rngs(seed: int, n: int = 3) -> list[np.random.Generator]:
    """``n`` independent generators from ``seed`` (one per split, so that changing the
    size of one split leaves the data of the others unchanged)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def stratified_split(
    labels: np.ndarray,
    fractions: Sequence[float],
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Split indices of ``labels`` into ``len(fractions) + 1`` stratified parts.

    Part ``j`` gets ``round(fractions[j] * N)`` examples, spread over the classes in
    proportion to their sizes (largest remainders); the last part gets the rest and keeps
    at least one example of every class. Indices in each part are sorted.
    """
    labels = np.asarray(labels)
    classes, inverse = np.unique(labels, return_inverse=True)
    n, k = len(labels), len(classes)
    class_sizes = np.bincount(inverse, minlength=k)
    counts = np.zeros((len(fractions), k), dtype=np.int64)
    for j, frac in enumerate(fractions):
        quota = frac * class_sizes
        counts[j] = np.floor(quota).astype(np.int64)
        missing = round(frac * n) - int(counts[j].sum())
        order = np.argsort(-(quota - counts[j]), kind="stable")
        for c in order[: max(missing, 0)]:
            counts[j, c] += 1
    # Keep one example of each class for the last part (the training part).
    for c in range(k):
        while counts[:, c].sum() > class_sizes[c] - 1 and counts[:, c].sum() > 0:
            counts[int(np.argmax(counts[:, c])), c] -= 1
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for c in range(k):
        members = rng.permutation(np.flatnonzero(inverse == c))
        start = 0
        for j in range(len(fractions)):
            parts[j].append(members[start : start + counts[j, c]])
            start += counts[j, c]
        parts[-1].append(members[start:])
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]


# -- labels and baselines -------------------------------------------------------------------
def natural_key(label: str) -> tuple[int, float, str]:
    """Sort key putting numeric labels in numeric order ('2' < '10') before other labels."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def encode_labels(task: str, labels: Sequence[str], what: str) -> tuple[np.ndarray, list[str]]:
    """Class ids (natural order of the label strings) and the class names.

    Raises DataError when there is only one class: a classifier needs two.
    """
    names = sorted({str(v) for v in labels}, key=natural_key)
    if len(names) < 2:
        only = names[0] if names else "(none)"
        raise DataError(
            f"task '{task}': {what} has a single class ('{only}') in all {len(labels)} "
            f"examples; classification needs at least two. Check that the right label "
            f"column is selected and that the file holds examples of every class."
        )
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[str(v)] for v in labels], dtype=np.int64), names


def majority_baselines(
    train_y: Tensor,
    evals: dict[str, Tensor],
    class_names: Sequence[str],
) -> tuple[Baseline, ...]:
    """Accuracy of always predicting the most frequent *training* class, per split."""
    counts = torch.bincount(train_y, minlength=len(class_names))
    majority = int(torch.argmax(counts))  # ties → the smallest id
    return tuple(
        Baseline(
            "acc",
            float((y == majority).double().mean()),
            f"majority class of train ('{class_names[majority]}')",
            split,
        )
        for split, y in evals.items()
    )


def pad_sequences(
    seqs: Sequence[np.ndarray],
    dtype: torch.dtype,
    max_len: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Stack arrays of shape (T_i, ...) into (N, max T_i, ...) zero-padded, plus lengths."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    longest = int(lengths.max()) if max_len is None else max_len
    trailing = seqs[0].shape[1:]
    out = np.zeros((len(seqs), longest, *trailing), dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return torch.from_numpy(out).to(dtype), torch.from_numpy(lengths)


def require(module: str, task: str, purpose: str) -> ModuleType:
    """Import an optional dependency or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        package = {"sklearn": "scikit-learn"}.get(top, top)
        raise MissingDependencyError(
            f"task '{task}' needs {package} for {purpose}, and it is not installed "
            f"({exc}). Install seqlab's data extra: pip install 'seqlab[data]'."
        ) from exc


def describe_sizes(sizes: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sizes.items())

"""Character-level language modelling on a UTF-8 text file, batched for truncated BPTT."""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from seqlab.errors import DataError
from seqlab.tasks._data import Batch
from seqlab.tasks._files import read_utf8, shared_data_file
from seqlab.tasks._options import (
    check_choice,
    check_common,
    check_fraction,
    check_fractions_sum,
    check_int,
)
from seqlab.tasks.base import Baseline, OutputKind, Task, TaskInfo
from seqlab.tasks.registry import register_task

DEFAULT_FILE = "tinyshakespeare.txt"
BATCH_LAYOUTS = ("contiguous", "windows")


class ContiguousBatches(IterableDataset):
    """Language-model batches laid out for truncated BPTT.

    The token stream is cut into ``batch_size * world_size`` equal parallel streams; this
    rank reads its own ``batch_size`` of them (streams ``rank * batch_size`` to
    ``(rank + 1) * batch_size - 1``). Batch k holds chunk k of every stream: ``x`` (B, T)
    = stream[:, kT : kT + T] and ``y`` the same shifted by one step, so row b of batch
    k + 1 continues row b of batch k. The last partial chunk of each stream is dropped.
    Every rank gets the same number of batches (DDP needs that).

    With DataLoader workers, worker w yields batches w, w + n, w + 2n, ...; the
    DataLoader interleaves workers round-robin, so the order is unchanged.

    Being an IterableDataset, Lightning does not wrap it in a DistributedSampler (which
    would break the contiguity); the rank is chosen here instead.
    """

    def __init__(
        self, ids: Tensor, batch_size: int, seq_len: int, rank: int = 0, world_size: int = 1
    ) -> None:
        streams = batch_size * world_size
        stream_len = (len(ids) - 1) // streams  # each stream also needs its next token
        self.seq_len = seq_len
        self.num_batches = stream_len // seq_len
        starts = (torch.arange(batch_size) + rank * batch_size) * stream_len
        span = self.num_batches * seq_len + 1
        self.streams = ids[starts[:, None] + torch.arange(span)[None, :]]  # (B, span)

    def __len__(self) -> int:
        return self.num_batches

    def batch(self, k: int) -> Batch:
        t = self.seq_len
        chunk = self.streams[:, k * t : (k + 1) * t + 1]
        return {
            "x": chunk[:, :-1].clone(),
            "lengths": torch.full((len(chunk),), t, dtype=torch.int64),
            "y": chunk[:, 1:].clone(),
        }

    def targets(self) -> Tensor:
        """Every target token this dataset yields, (B, num_batches * seq_len)."""
        return self.streams[:, 1:]

    def __iter__(self):
        worker = get_worker_info()
        first, step = (0, 1) if worker is None else (worker.id, worker.num_workers)
        for k in range(first, self.num_batches, step):
            yield self.batch(k)


class Windows(Dataset):
    """The text cut into non-overlapping windows of ``seq_len`` tokens, each on its own.

    Item i is the window starting at ``i * seq_len``: ``x`` (seq_len,) and ``y`` the same
    shifted by one token. Read in a fresh order every epoch (``shuffle=True``, which
    seqlab's training loader seeds by (seed, epoch) and shards among DDP processes), an
    epoch still reads every token once; a model reads each window from a fresh state.
    """

    def __init__(self, ids: Tensor, seq_len: int) -> None:
        self.seq_len = seq_len
        self.num_windows = (len(ids) - 1) // seq_len
        span = self.num_windows * seq_len
        self.x = ids[:span].view(self.num_windows, seq_len)
        self.y = ids[1 : span + 1].view(self.num_windows, seq_len)

    def __len__(self) -> int:
        return self.num_windows

    def __getitem__(self, i: int) -> Batch:
        return {"x": self.x[i], "lengths": torch.tensor(self.seq_len), "y": self.y[i]}

    def targets(self) -> Tensor:
        """Every target token this dataset yields, (num_windows, seq_len)."""
        return self.y


def _identity(batch: Batch) -> Batch:
    return batch


def unigram_cross_entropy(train: Tensor, targets: Tensor, vocab_size: int) -> float:
    """Nats per token of predicting every target from the training token frequencies
    (add-one smoothed, since the vocabulary is the whole file's)."""
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    log_p = counts.log() - counts.sum().log()
    return float(-log_p[targets.reshape(-1)].mean())


@register_task("charlm")
class CharLM(Task):
    """Character-level language modelling on any UTF-8 text file.

    Source: ``path=FILE``; by default ``tinyshakespeare.txt`` from ``../shared/data/``
    (looked up relative to the working directory, then to the repository). The split
    follows nanoGPT's shakespeare_char so numbers compare: the first 90% of the
    characters train, the last 10% validate (``val_fraction``); with ``test_fraction`` >
    0 a test part is cut from the end, otherwise the test loader serves the validation
    part (``info.extra["test_is_val"]``). As in nanoGPT, the vocabulary is every character
    of the whole file, sorted by code point (``info.itos``), so val holds no unknown
    characters.

    Batches are contiguous (truncated BPTT): the training stream is cut into
    ``batch_size`` parallel streams and batch k is chunk k of every stream, so row b of
    batch k + 1 continues row b of batch k and a model may carry its state across
    batches. Validation and test batches are laid out the same way. The order is fixed
    (shuffling would break the contiguity), so the data do not depend on ``seed``.
    Under DDP each rank reads its own ``batch_size`` streams (``batch_size`` is per
    rank); the rank is read from the attached trainer (or torch.distributed) when the
    loaders are built. Lightning leaves these loaders alone (no DistributedSampler is
    injected into an IterableDataset).

    With ``batches=windows`` every row is a window of ``seq_len`` characters of its own,
    read from a fresh state (``info.batches_continue`` is False): training reads the
    non-overlapping windows of its part in a new random order each epoch (seeded by
    ``seed`` and the epoch, and shared out among DDP processes by seqlab's training
    loader), validation and test read all of theirs in order. That is how nanoGPT trains
    and estimates its loss, so a model trained so is scored on the situation it learned:
    on the charlm preset's budget a plain loop ended 0.044 nats/char lower by nanoGPT's
    estimator than the same model trained on contiguous batches (which never sees a fresh
    state after its first batch).

    Shapes: ``x`` (B, seq_len) int64 character ids, ``lengths`` (B,) = seq_len, ``y``
    (B, seq_len) int64 next-character ids. Output kind ``language_model``, metric ``ce``
    (nats per character; bits = ce / ln 2).

    Baselines on the val (and test) targets: the unigram model (training character
    frequencies, add-one smoothed) and the uniform guess ln(vocab size).
    :meth:`random_windows` gives nanoGPT's ``estimate_loss`` batches (random windows) for
    numbers comparable with nanoGPT's.

    Options:
        path: the UTF-8 text file (default: ../shared/data/tinyshakespeare.txt).
        seq_len: characters per chunk (the truncated-BPTT length).
        val_fraction: fraction of the characters (from the end) that validate.
        test_fraction: fraction of the characters (from the very end) held out for test;
            0 serves the validation part as test.
        batches: ``contiguous`` (truncated BPTT, the state carried across batches) or
            ``windows`` (independent windows, each from a fresh state; training order
            shuffled every epoch).
    """

    description: ClassVar[str] = "Character language model on a UTF-8 text file (nanoGPT split)"
    output_kind: ClassVar[OutputKind] = "language_model"
    supports_bidirectional: ClassVar[bool] = False

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        path: str | None = None,
        seq_len: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        batches: str = "contiguous",
    ) -> None:
        batch_size, seed, num_workers = check_common(self.name, batch_size, seed, num_workers)
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        self.path = None if path is None else str(path)
        self.seq_len = check_int(self.name, "seq_len", seq_len, minimum=1, example=64)
        self.val_fraction = check_fraction(self.name, "val_fraction", val_fraction)
        self.test_fraction = check_fraction(
            self.name, "test_fraction", test_fraction, allow_zero=True
        )
        check_fractions_sum(
            self.name, val_fraction=self.val_fraction, test_fraction=self.test_fraction
        )
        self.batches = check_choice(self.name, "batches", batches, BATCH_LAYOUTS)
        self.data: dict[str, Tensor] = {}

    def _resolve_path(self) -> Path:
        if self.path is not None:
            return Path(self.path)
        found = shared_data_file(DEFAULT_FILE)
        if found is None:
            raise DataError(
                f"task 'charlm': no path= was given and the default {DEFAULT_FILE} was not "
                f"found in ../shared/data/ (relative to the working directory or to the "
                f"seqlab checkout). Pass a UTF-8 text file: path=FILE (e.g. --task-opt "
                f"path=input.txt)."
            )
        return found

    def setup(self, stage: str | None = None) -> None:
        """Read and encode the file once; later calls do nothing."""
        if self.data:
            return
        path = self._resolve_path()
        text = read_utf8(self.name, path)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        alphabet = np.unique(codes)
        ids = torch.from_numpy(np.searchsorted(alphabet, codes).astype(np.int64))
        n = len(ids)
        # nanoGPT: train = data[:int(n * 0.9)], val = data[int(n * 0.9):].
        train_end = int(n * (1.0 - self.val_fraction - self.test_fraction))
        val_end = int(n * (1.0 - self.test_fraction)) if self.test_fraction else n
        data = {"train": ids[:train_end], "val": ids[train_end:val_end]}
        if self.test_fraction:
            data["test"] = ids[val_end:]
        need = self.batch_size * self.seq_len + 1
        for split, part in data.items():
            if len(part) < need:
                raise DataError(
                    f"task 'charlm': the {split} part of {path} has {len(part)} characters, "
                    f"but one batch of batch_size={self.batch_size} rows of seq_len="
                    f"{self.seq_len} needs {need}. Use a longer file, a smaller batch_size or "
                    f"seq_len, or a larger {split}_fraction."
                )
        itos = tuple(chr(c) for c in alphabet)
        vocab = len(itos)
        baselines = []
        unigram: dict[str, float] = {}
        for split in ("val", "test"):
            source = split if split in data else "val"
            if source not in unigram:
                targets = self._dataset(data[source], 0, 1).targets()
                unigram[source] = unigram_cross_entropy(data["train"], targets, vocab)
            baselines += [
                Baseline("ce", unigram[source], "unigram (training character frequencies)", split),
                Baseline("ce", math.log(vocab), "uniform over the vocabulary", split),
            ]
        self.data = data
        self.info = TaskInfo(
            output_kind="language_model",
            input_kind="tokens",
            input_size=vocab,
            num_outputs=vocab,
            vocab_size=vocab,
            metric="ce",
            metric_mode="min",
            baselines=tuple(baselines),
            itos=itos,
            batches_continue=self.batches == "contiguous",
            extra={
                "path": str(path),
                "seq_len": self.seq_len,
                "sizes": {k: len(v) for k, v in data.items()},
                "size_unit": "characters",
                "batches": self.batches,
                "test_is_val": "test" not in data,
            },
        )

    # -- loaders ----------------------------------------------------------------------
    def _rank_and_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return int(trainer.global_rank), int(trainer.world_size)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _dataset(self, part: Tensor, rank: int, world: int) -> ContiguousBatches | Windows:
        if self.batches == "windows":
            return Windows(part, self.seq_len)
        return ContiguousBatches(part, self.batch_size, self.seq_len, rank, world)

    def _loader(self, split: str) -> DataLoader:
        if not self.data:
            self.setup("fit")
        rank, world = self._rank_and_world()
        part = self.data.get(split, self.data["val"])
        data = self._dataset(part, rank, world)
        if len(data) < 1:
            raise DataError(
                f"task 'charlm': the {split} part has {len(part)} characters, too few for "
                f"{world} processes × batch_size={self.batch_size} × seq_len={self.seq_len}; "
                f"use fewer processes or a smaller batch_size or seq_len."
            )
        if isinstance(data, Windows):
            # Map-style: seqlab's training loader seeds the order by (seed, epoch) and
            # shards it among processes; evaluation reads every window once, in order.
            training = split == "train"
            return DataLoader(
                data,
                batch_size=self.batch_size,
                shuffle=training,
                drop_last=training and len(data) >= self.batch_size,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
            )
        return DataLoader(
            data,
            batch_size=None,
            num_workers=self.num_workers,
            collate_fn=_identity,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def random_windows(
        self,
        split: str = "val",
        num_batches: int = 20,
        batch_size: int = 12,
        seq_len: int | None = None,
        seed: int | None = None,
    ) -> list[Batch]:
        """nanoGPT's ``estimate_loss`` batches: ``num_batches`` batches of ``batch_size``
        windows at uniformly random offsets (``torch.randint(len(data) - seq_len, ...)``,
        x = data[i : i + seq_len], y = data[i + 1 : i + 1 + seq_len]).

        The mean loss over them estimates the split's loss the way nanoGPT reports it
        (its shakespeare_char config uses eval_iters=200, batch_size=64, block_size=256).
        Seeded by ``seed`` (default: the task's seed), so the windows are reproducible.
        """
        if not self.data:
            self.setup("fit")
        data = self.data.get(split, self.data["val"])
        t = self.seq_len if seq_len is None else seq_len
        if len(data) <= t:
            raise DataError(
                f"task 'charlm': the {split} part has {len(data)} characters; "
                f"windows of seq_len={t} need more."
            )
        gen = torch.Generator().manual_seed(self.seed if seed is None else seed)
        out = []
        for _ in range(num_batches):
            ix = torch.randint(len(data) - t, (batch_size,), generator=gen)
            window = data[ix[:, None] + torch.arange(t + 1)[None, :]]
            out.append(
                {"x": window[:, :-1], "lengths": torch.full((batch_size,), t), "y": window[:, 1:]}
            )
        return out

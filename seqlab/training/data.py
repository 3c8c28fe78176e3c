"""Training data that resumes exactly mid-epoch, under one process or many.

:class:`TrainingData` wraps a task (a LightningDataModule) for the Trainer. Its training
loader is a :class:`ResumableLoader`:

- the order of epoch e is a pure function of (seed, e) — a permutation drawn from a
  generator seeded with ``seed + e``, not from a generator whose state depends on how
  many epochs this process has already run — so a resumed run sees the same order;
- under DDP each process reads its own share of that permutation (DistributedSampler's
  layout: padded to a multiple of the world size, then every world-size-th index), so
  seqlab shards the data itself and Lightning's sampler injection is turned off;
- it is *stateful* (Lightning's ``state_dict``/``load_state_dict`` protocol for loaders):
  checkpoints record the epoch and the batches consumed in it, and a resumed run skips
  exactly those batches instead of restarting the epoch.

Loaders seqlab cannot re-sample (an IterableDataset such as charlm's contiguous batches,
or a custom sampler) keep their own order and sharding; they are still resumed by
skipping the batches already consumed, which is exact when their order within an epoch
is fixed (as charlm's is).

Validation and test loaders are used as the task builds them; under DDP every process
evaluates all of them (metrics are synchronised, so they come out exact, not padded).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from seqlab.tasks.base import Task


class EpochSampler(Sampler[int]):
    """Indices of one epoch for one process: seeded by (seed, epoch), sharded by rank.

    Args:
        size: number of examples.
        shuffle: a fresh permutation each epoch (``torch.randperm`` seeded with
            ``seed + epoch``) or the examples in order.
        seed: the run's seed.
        rank, world_size: this process and how many share the data.
    """

    def __init__(
        self, size: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.size / self.world_size)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=gen).tolist()
        else:
            order = list(range(self.size))
        if self.world_size > 1:
            total = len(self) * self.world_size
            order = (order * math.ceil(total / max(len(order), 1)))[:total]
            order = order[self.rank : total : self.world_size]
        return iter(order)


def _resampled(loader: DataLoader, sampler: EpochSampler, batch_size: int | None) -> DataLoader:
    kwargs: dict[str, Any] = dict(
        batch_size=batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator,
        persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device,
    )
    if loader.num_workers > 0:
        kwargs["prefetch_factor"] = loader.prefetch_factor
    return DataLoader(loader.dataset, **kwargs)


def resample(
    loader: DataLoader, seed: int, rank: int, world_size: int
) -> tuple[DataLoader, EpochSampler | None]:
    """``loader`` rebuilt around an :class:`EpochSampler` when its sampling is standard.

    Standard: a map-style data set read in order or shuffled once per epoch without
    replacement (torch's SequentialSampler/RandomSampler), batched by torch's BatchSampler
    or not batched at all. Anything else is returned unchanged, with ``None``.
    """
    if not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset):
        return loader, None
    sampler = loader.sampler
    if type(sampler) is RandomSampler:
        if sampler.replacement or sampler.num_samples != len(loader.dataset):
            return loader, None
        shuffle = True
    elif type(sampler) is SequentialSampler:
        shuffle = False
    else:
        return loader, None
    batch_sampler = loader.batch_sampler
    if batch_sampler is not None and (
        type(batch_sampler) is not BatchSampler or loader.batch_size is None
    ):
        return loader, None
    epoch_sampler = EpochSampler(len(loader.dataset), shuffle, seed, rank, world_size)
    return _resampled(loader, epoch_sampler, loader.batch_size), epoch_sampler


class ResumableLoader:
    """An epoch-aware iterable over a DataLoader that checkpoints its position.

    ``epoch`` and ``epoch_batches`` are callables reading the Trainer: the epoch being run
    and how many batches Lightning takes from an epoch (with ``limit_train_batches``).
    Iterating starts the epoch's order (``sampler.set_epoch``) lazily, at the first batch,
    after Lightning has advanced its epoch counter.
    """

    def __init__(
        self,
        loader: DataLoader | Any,
        sampler: EpochSampler | None,
        epoch: Callable[[], int],
        epoch_batches: Callable[[], float],
    ) -> None:
        self.loader = loader
        self.sampler = sampler
        self._epoch_fn = epoch
        self._epoch_batches_fn = epoch_batches
        self._epoch = 0
        self._consumed = 0
        self._resume: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def dataset(self) -> Any:
        return getattr(self.loader, "dataset", None)

    def __iter__(self) -> Iterator[Any]:
        epoch = int(self._epoch_fn())
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        skip = 0
        if self._resume is not None and int(self._resume.get("epoch", -1)) == epoch:
            skip = int(self._resume.get("batches", 0))
            if skip >= self._epoch_batches_fn():
                skip = 0  # the checkpoint closed that epoch
        self._resume = None
        self._epoch, self._consumed = epoch, skip
        batches = iter(self.loader)
        if skip:
            # Draw (and drop) the batches the checkpointed run had already trained on.
            next(itertools.islice(batches, skip - 1, skip), None)
        for batch in batches:
            self._consumed += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._epoch, "batches": self._consumed}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._resume = dict(state_dict)


class TrainingData(L.LightningDataModule):
    """A task as the Trainer sees it: resumable, seeded, sharded training batches.

    Everything else (``prepare_data``, ``setup``, evaluation loaders, state) is the task's.
    The task is attached to the same Trainer, so tasks that read the process rank from
    their trainer (charlm) shard their own loaders correctly.
    """

    def __init__(self, task: Task, seed: int) -> None:
        super().__init__()
        self.task = task
        self.seed = seed
        self.train_sampler: EpochSampler | None = None

    def prepare_data(self) -> None:
        self.task.prepare_data()

    def setup(self, stage: str) -> None:
        self.task.trainer = self.trainer
        self.task.setup(stage)

    def teardown(self, stage: str) -> None:
        self.task.teardown(stage)

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def train_dataloader(self) -> ResumableLoader:
        loader = self.task.train_dataloader()
        rank, world = self._rank_world()
        loader, sampler = resample(loader, self.seed, rank, world)
        if (
            sampler is None
            and world > 1
            and isinstance(loader, DataLoader)
            and not isinstance(loader.dataset, IterableDataset)
        ):
            warnings.warn(
                f"task '{self.task.name}' samples its training data in its own way "
                f"({type(loader.sampler).__name__}); seqlab cannot shard it, so each of the "
                f"{world} processes reads all of it.",
                stacklevel=2,
            )
        self.train_sampler = sampler
        trainer = self.trainer
        return ResumableLoader(
            loader,
            sampler,
            epoch=lambda: trainer.current_epoch if trainer is not None else 0,
            epoch_batches=lambda: (
                trainer.num_training_batches if trainer is not None else float("inf")
            ),
        )

    def val_dataloader(self) -> Any:
        return self.task.val_dataloader()

    def test_dataloader(self) -> Any:
        return self.task.test_dataloader()

    def state_dict(self) -> dict[str, Any]:
        return self.task.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.task.load_state_dict(state_dict)

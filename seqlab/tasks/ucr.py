"""Time-series classification from the UCR/UEA archive, as bundled with aeon."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from seqlab.errors import (
    ConfigError,
    DataError,
    MissingDependencyError,
    UnknownNameError,
    did_you_mean,
)
from seqlab.tasks._data import (
    ArrayTask,
    SequenceDataset,
    Splits,
    encode_labels,
    majority_baselines,
    pad_sequences,
    require,
    split_rngs,
    stratified_split,
)
from seqlab.tasks._options import check_bool, check_choice, check_fraction
from seqlab.tasks.base import OutputKind, TaskInfo
from seqlab.tasks.registry import register_task
from seqlab.tasks.series_scaling import (
    NORMALIZATIONS,
    Normalization,
    is_znormalised,
)

# Published 1-NN DTW test accuracies (UCR/UEA archive results, as aeon reports them), to
# read a model's test accuracy against a strong classical method.
REFERENCE_1NN_DTW: dict[str, float] = {
    "GunPoint": 0.907,
    "ItalyPowerDemand": 0.950,
    "BasicMotions": 0.975,
}


def aeon_data_dir() -> Path:
    """aeon's bundled data directory, found without importing aeon (which is slow)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "task 'ucr' reads the UCR/UEA data sets bundled with aeon, and aeon is not "
            "installed. Install seqlab's data extra: pip install 'seqlab[data]'."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _is_classification(train_file: Path) -> bool:
    """Whether a .ts file's header declares class labels (``@classLabel true``)."""
    with train_file.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            words = line.strip().lower().split()
            if not words:
                continue
            if words[0] == "@data":
                return False
            if words[0] == "@classlabel":
                return len(words) > 1 and words[1] == "true"
    return False


def bundled_classification_datasets() -> list[str]:
    """Names of the classification data sets aeon ships with its package (no download)."""
    root = aeon_data_dir()
    names = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        train, test = d / f"{d.name}_TRAIN.ts", d / f"{d.name}_TEST.ts"
        if train.is_file() and test.is_file() and _is_classification(train):
            names.append(d.name)
    return names


def auto_normalization(train: list[np.ndarray]) -> str:
    """``normalize=auto`` for the training series ``train``: multivariate sets per channel;
    univariate sets per series, with each series' scale given back as input
    (``series+scale``) unless the archive z-normalised them already (then there is none)."""
    if train[0].shape[1] > 1:
        return "channel"
    return "series" if is_znormalised(train) else "series+scale"


@dataclass(frozen=True)
class ArchiveShape:
    """What the recipe needs to know of a data set, read from its ``_TRAIN.ts`` header and
    lines without loading it: training series, longest length, channels."""

    n_train: int
    max_len: int
    channels: int

    @classmethod
    def read(cls, dataset: str) -> ArchiveShape:
        path = aeon_data_dir() / dataset / f"{dataset}_TRAIN.ts"
        n, longest, channels, in_data = 0, 0, 1, False
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if not in_data:
                    in_data = line.lower().startswith("@data")
                    continue
                dims = line.split(":")[:-1]  # the last field is the label
                n, channels = n + 1, max(len(dims), 1)
                longest = max([longest, *(d.count(",") + 1 for d in dims)])
        return cls(n, longest, channels)


# The default recipe's rule (see UCRClassification.recipe). Budget: about STEPS_X_LENGTH
# time steps per series summed over the optimiser steps (a step's CPU time grows with the
# series length, hardly with the batch: the recurrence is sequential), at least MIN_STEPS
# and at most MAX_STEPS optimiser steps, rounded up to whole epochs.
STEPS_X_LENGTH = 200_000
MIN_STEPS, MAX_STEPS = 150, 800
MAX_BATCH = 16
BIDIRECTIONAL_MAX_LEN = 512  # longer series: one direction (half the recurrent cost)


def ucr_recipe(shape: ArchiveShape, val_fraction: float) -> dict[str, Any]:
    """The default config for a data set of ``shape`` (dotted keys → values)."""
    n_fit = max(1, shape.n_train - max(1, round(shape.n_train * val_fraction)))
    # The largest batch up to 16 that leaves two batches an epoch. Measured on ArrowHead
    # (29 training series, 800 steps, gru): batch 4 (Wang et al.'s n/10) test 0.594 with
    # the training loss still at 0.67, batch 8 0.720, batch 16 0.749 (loss 0.07): on a
    # CPU a larger batch costs little more per step, and the batch norm of the
    # convolutional branch needs more than 4 series for its statistics.
    batch = max(1, min(MAX_BATCH, n_fit // 2))
    steps = round(STEPS_X_LENGTH / shape.max_len)
    steps = min(MAX_STEPS, max(MIN_STEPS, steps))
    epochs = math.ceil(steps / math.ceil(n_fit / batch))
    return {
        "task.batch_size": batch,
        "trainer.max_epochs": epochs,
        "trainer.max_steps": -1,
        # Validate once, at the end: the model tested is the schedule's final one. On
        # validation sets of 8-54 series accuracy saturates and ties within a few epochs,
        # and the best-checkpoint rule then keeps an early, undertrained model (measured:
        # ItalyPowerDemand's epoch 0 of 73, test 0.88 against DTW's 0.95).
        "trainer.check_val_every_n_epoch": epochs,
        "model.frontend": "fcn",
        "model.hidden_size": 64,
        "model.bidirectional": shape.max_len <= BIDIRECTIONAL_MAX_LEN,
        "model.pooling": "mean",
        "model.dropout": 0.2,
        "optim.name": "adam",
        "optim.lr": 1e-3,
        "optim.scheduler": "cosine",
        "optim.min_lr": 1e-5,
    }


@register_task("ucr")
class UCRClassification(ArrayTask):
    """Time-series classification on a UCR/UEA archive data set bundled with aeon.

    Source: ``aeon.datasets.load_classification(dataset, split=...)`` reading aeon's own
    package data (never the network; the names available offline are listed by
    ``seqlab tasks show ucr`` and in the error for an unknown name). Univariate sets give
    one feature per step, multivariate ones (BasicMotions: 6 channels) several.
    Variable-length sets (JapaneseVowels: 7–26 steps) are zero-padded, with their true
    lengths in ``lengths``; nothing is truncated.

    Splits: the archive's own train/test split; validation is carved from train,
    stratified by class and seeded by ``seed`` (``val_fraction``).

    Shapes: ``x`` (B, T, C) float32 (T the longest series in the batch), ``lengths`` (B,),
    ``y`` (B,) int64 class ids; class names (natural order of the archive's labels) in
    ``info.extra["classes"]``. Output kind ``classification``, metric ``acc``.

    Baseline: accuracy of always predicting the most frequent training class. For
    GunPoint, ItalyPowerDemand and BasicMotions, ``info.extra["reference"]`` also holds
    the published 1-NN DTW test accuracy.

    Normalisation (``normalize``), as the literature does it: ``auto`` (default) scales
    univariate sets per series (z-normalised over its own steps, as the UCR archive
    publishes them) and multivariate sets per channel with the training split's mean and
    standard deviation, computed on the training split only and applied to validation, test
    and prediction inputs (a channel's level often identifies the class there; per-series
    scaling would erase it). Univariate sets the archive did not z-normalise (raw counts,
    accelerations) get ``series+scale``: per series, with each series' level, spread and length
    given back as constant input channels (:mod:`seqlab.tasks.series_scaling`).
    ``info.extra["normalize"]`` holds what was applied; ``info.extra["channels"]`` the
    data's own channels (``info.input_size`` counts the added ones).

    Recipe (the defaults ``seqlab fit --task ucr`` uses unless a config file, flag or
    ``--set`` says otherwise; general rules, no per-data-set table): batch size
    min(16, n/2) (n: training series after the validation split: at least two batches an
    epoch); 200,000 / length optimiser steps (a step's time grows with the length), at
    least 150 and at most 800, in whole epochs, validated once at the end (the final model is
    the one tested: tiny validation sets tie early); the LSTM-FCN convolutional branch
    (``model.frontend: fcn``, Karim et al. 2017) beside the cell, the same for every cell;
    hidden size 64, mean pooling, dropout 0.2, bidirectional for series of at most 512
    steps; Adam at 1e-3 with a cosine schedule to 1e-5.

    Options:
        dataset: the data set's archive name, e.g. GunPoint, ItalyPowerDemand,
            BasicMotions, JapaneseVowels.
        val_fraction: fraction of the archive's train split held out for validation.
        normalize: auto (univariate: per series, with its scale and length as input
            where the archive did not z-normalise; multivariate: per channel with training
            statistics), series, series+scale, channel or none.
        znorm: deprecated alias: true is normalize=series, false is normalize=none.
    """

    description: ClassVar[str] = (
        "UCR/UEA time-series classification bundled with aeon (dataset=NAME)"
    )
    output_kind: ClassVar[OutputKind] = "classification"

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        dataset: str = "GunPoint",
        val_fraction: float = 0.2,
        normalize: str = "auto",
        znorm: bool | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        available = bundled_classification_datasets()
        if dataset not in available:
            raise UnknownNameError(
                f"task 'ucr': unknown dataset '{dataset}'.{did_you_mean(str(dataset), available)} "
                f"The classification data sets bundled with aeon (usable offline) are: "
                f"{', '.join(available)}. Pass dataset=NAME with one of them."
            )
        self.dataset = dataset
        self.val_fraction = check_fraction(self.name, "val_fraction", val_fraction, example=0.2)
        self.normalize = check_choice(self.name, "normalize", normalize, NORMALIZATIONS)
        if znorm is not None:
            alias = "series" if check_bool(self.name, "znorm", znorm) else "none"
            if self.normalize not in ("auto", alias):
                raise ConfigError(
                    f"task 'ucr': znorm={znorm} (normalize={alias}) contradicts "
                    f"normalize={self.normalize}; znorm is a deprecated alias, give only "
                    f"normalize=..."
                )
            self.normalize = alias

    @classmethod
    def recipe(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The recipe of the class docstring for ``options`` (``{}`` for a name that is
        not bundled: building the task then explains)."""
        dataset = str(options.get("dataset", "GunPoint"))
        if dataset not in bundled_classification_datasets():
            return {}
        val_fraction = check_fraction("ucr", "val_fraction", options.get("val_fraction", 0.2))
        return ucr_recipe(ArchiveShape.read(dataset), val_fraction)

    @classmethod
    def available_datasets(cls) -> list[str]:
        """The names ``dataset=`` accepts: aeon's bundled classification sets."""
        return bundled_classification_datasets()

    def _load(self, split: str) -> tuple[list[np.ndarray], np.ndarray]:
        datasets = require("aeon.datasets", self.name, "the UCR/UEA archive data it bundles")
        # extract_path pins aeon to its bundled copy, which __init__ checked is there.
        X, y = datasets.load_classification(
            self.dataset, split=split, extract_path=str(aeon_data_dir())
        )
        series = [np.asarray(s, dtype=np.float32).T for s in X]  # (C, T) → (T, C)
        for i, s in enumerate(series):
            bad = np.argwhere(~np.isfinite(s))
            if len(bad):
                t, c = bad[0]
                raise DataError(
                    f"task 'ucr': {self.dataset} ({split} split) has a missing or infinite "
                    f"value in series {i}, step {t}, channel {c} ({len(bad)} in that series); "
                    f"this task needs complete series, choose another data set."
                )
        return series, np.asarray(y).astype(str)

    def build(self) -> tuple[TaskInfo, Splits]:
        train_series, train_labels = self._load("train")
        test_series, test_labels = self._load("test")
        ids, class_names = encode_labels(
            self.name,
            np.concatenate([train_labels, test_labels]).tolist(),
            f"data set {self.dataset}",
        )
        train_ids, test_ids = ids[: len(train_labels)], ids[len(train_labels) :]
        val_idx, fit_idx = stratified_split(
            train_ids, (self.val_fraction,), split_rngs(self.seed, 1)[0]
        )
        if len(val_idx) == 0:
            raise DataError(
                f"task 'ucr': val_fraction={self.val_fraction} of {self.dataset}'s "
                f"{len(train_ids)} training series leaves no validation series; raise "
                f"val_fraction (e.g. val_fraction=0.2)."
            )
        channels = int(train_series[0].shape[1])
        # Statistics of the series the model trains on only; validation and test reuse them.
        fit_series = [train_series[i] for i in fit_idx]
        how = self.normalize
        if how == "auto":
            how = auto_normalization(fit_series)
        norm = Normalization.fit(how, fit_series)
        train_series, test_series = norm.apply(train_series), norm.apply(test_series)

        def dataset(series: list[np.ndarray], labels: np.ndarray) -> SequenceDataset:
            x, lengths = pad_sequences(series, torch.float32)
            return SequenceDataset(x, lengths, torch.from_numpy(labels))

        splits = Splits(
            dataset([train_series[i] for i in fit_idx], train_ids[fit_idx]),
            dataset([train_series[i] for i in val_idx], train_ids[val_idx]),
            dataset(test_series, test_ids),
        )
        all_lengths = [len(s) for s in train_series + test_series]
        extra: dict[str, Any] = {
            "dataset": self.dataset,
            "classes": class_names,
            "sizes": splits.sizes(),
            "channels": channels,
            "min_len": min(all_lengths),
            "max_len": max(all_lengths),
            "variable_length": min(all_lengths) != max(all_lengths),
            "normalize": norm.to_dict(),
        }
        if self.dataset in REFERENCE_1NN_DTW:
            extra["reference"] = {
                "metric": "acc",
                "split": "test",
                "value": REFERENCE_1NN_DTW[self.dataset],
                "description": "1-NN DTW, published UCR/UEA archive result (as reported by aeon)",
            }
        info = TaskInfo(
            output_kind="classification",
            input_kind="real",
            input_size=norm.channels_out(channels),
            num_outputs=len(class_names),
            metric="acc",
            metric_mode="max",
            baselines=majority_baselines(
                splits.train.y, {"val": splits.val.y, "test": splits.test.y}, class_names
            ),
            extra=extra,
        )
        return info, splits

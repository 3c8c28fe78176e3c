"""Time-series classification from the UCR/UEA archive, as bundled with aeon."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from seqlab.errors import DataError, MissingDependencyError, UnknownNameError, did_you_mean
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
from seqlab.tasks._options import check_bool, check_fraction
from seqlab.tasks.base import OutputKind, TaskInfo
from seqlab.tasks.registry import register_task

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


def znormalise(series: list[np.ndarray]) -> list[np.ndarray]:
    """Each series (T_i, C) to zero mean, unit variance per channel over its own steps
    (a constant channel becomes zeros)."""
    out = []
    for s in series:
        std = s.std(axis=0, keepdims=True)
        out.append((s - s.mean(axis=0, keepdims=True)) / np.where(std > 1e-8, std, 1.0))
    return out


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

    Options:
        dataset: the data set's archive name, e.g. GunPoint, ItalyPowerDemand,
            BasicMotions, JapaneseVowels.
        val_fraction: fraction of the archive's train split held out for validation.
        znorm: z-normalise every series (per channel, over its valid steps); most
            univariate UCR sets are already z-normalised.
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
        znorm: bool = True,
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
        self.znorm = check_bool(self.name, "znorm", znorm)

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
        if self.znorm:
            train_series, test_series = znormalise(train_series), znormalise(test_series)
        val_idx, fit_idx = stratified_split(
            train_ids, (self.val_fraction,), split_rngs(self.seed, 1)[0]
        )
        if len(val_idx) == 0:
            raise DataError(
                f"task 'ucr': val_fraction={self.val_fraction} of {self.dataset}'s "
                f"{len(train_ids)} training series leaves no validation series; raise "
                f"val_fraction (e.g. val_fraction=0.2)."
            )

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
            "channels": int(train_series[0].shape[1]),
            "min_len": min(all_lengths),
            "max_len": max(all_lengths),
            "variable_length": min(all_lengths) != max(all_lengths),
            "znorm": self.znorm,
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
            input_size=int(train_series[0].shape[1]),
            num_outputs=len(class_names),
            metric="acc",
            metric_mode="max",
            baselines=majority_baselines(
                splits.train.y, {"val": splits.val.y, "test": splits.test.y}, class_names
            ),
            extra=extra,
        )
        return info, splits

"""Time-series forecasting: bundled series (sunspots, co2, airline) or a user's CSV."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from seqlab.errors import ConfigError, DataError, UnknownNameError, did_you_mean
from seqlab.tasks._data import ArrayTask, SequenceDataset, Splits, require
from seqlab.tasks._files import Table, read_table
from seqlab.tasks._options import (
    check_choice,
    check_fraction,
    check_fractions_sum,
    check_int,
    check_name_list,
)
from seqlab.tasks.base import Baseline, OutputKind, TaskInfo
from seqlab.tasks.registry import register_task

_MISSING = {"", "nan", "na", "n/a", "null", "none", "-"}


def _sunspots(task: str) -> tuple[np.ndarray, list[str], str]:
    module = require("statsmodels.datasets.sunspots", task, "the sunspots data set")
    frame = module.load_pandas().data
    return (
        frame[["SUNACTIVITY"]].to_numpy(np.float64),
        ["SUNACTIVITY"],
        "statsmodels sunspots: yearly sunspot numbers 1700–2008 (309 values)",
    )


def _co2(task: str) -> tuple[np.ndarray, list[str], str]:
    module = require("statsmodels.datasets.co2", task, "the co2 data set")
    series = module.load_pandas().data["co2"]
    missing = int(series.isna().sum())
    # The record has gaps (weeks without a measurement); a window must not hold NaN.
    filled = series.interpolate(method="linear", limit_direction="both")
    return (
        filled.to_numpy(np.float64)[:, None],
        ["co2"],
        f"statsmodels co2: weekly Mauna Loa CO2 (ppm) 1958–2001 ({len(series)} values; "
        f"the {missing} missing weeks are linearly interpolated)",
    )


def _airline(task: str) -> tuple[np.ndarray, list[str], str]:
    module = require("aeon.datasets", task, "the airline data set")
    values = np.asarray(module.load_airline(), dtype=np.float64)
    return (
        values[:, None],
        ["passengers"],
        "aeon airline: monthly international airline passengers 1949–1960 (144 values)",
    )


BUILTIN_SERIES: dict[str, Callable[[str], tuple[np.ndarray, list[str], str]]] = {
    "airline": _airline,
    "co2": _co2,
    "sunspots": _sunspots,
}


def windows(
    series: np.ndarray, targets: Sequence[int], context: int, horizon: int, first: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every window whose forecast starts at t ∈ [first, stop - horizon]:
    x = series[t - context : t] (n, context, S), y = series[t : t + horizon, targets]."""
    starts = np.arange(max(first, context), stop - horizon + 1)
    x_idx = starts[:, None] + np.arange(-context, 0)[None, :]
    y_idx = starts[:, None] + np.arange(horizon)[None, :]
    return series[x_idx], series[y_idx][:, :, list(targets)]


@register_task("forecast")
class Forecast(ArrayTask):
    """Forecast the next ``horizon`` steps of a series from the last ``context`` steps.

    Sources (``dataset=NAME``, all bundled with their packages, nothing is downloaded):
    ``sunspots`` (statsmodels, yearly, 309 values; the default), ``co2`` (statsmodels,
    weekly, 2,284 values; its 59 missing weeks are linearly interpolated) and ``airline``
    (aeon, monthly, 144 values). Or ``path=FILE``: a CSV/TSV/JSON-lines file, one row per
    time step in time order, with the numeric ``columns`` to use (default: every column
    whose values are mostly numbers, so a date column is skipped, plus the ``target``
    columns). A missing or non-numeric value in a column read (``"high"``, ``"1,234.5"``)
    is an error naming its line and column: fill, fix or drop it first.

    Split and scaling: the series is split chronologically into train, val and test
    parts (the last ``val_fraction + test_fraction`` of the steps are held out). A
    window belongs to the part its forecast steps fall in; its context may reach back
    into the previous part (that past is observed, so nothing leaks). With
    ``scale="standard"`` every column is standardised by the mean and standard deviation
    of the *training part only* (``info.extra["scaler"]``); inputs, targets, metrics and
    baselines are all in that scaled space (multiply by std and add mean to get back).

    Shapes: ``x`` (B, context, n_series) float32; ``lengths`` (B,) = context; ``y``
    (B, horizon, n_targets) float32 (``info.target_shape`` = (horizon, n_targets)).
    Output kind ``regression``, metric ``mse``.

    Baselines on val and test, in the scaled space: the naive last-value forecast
    (every forecast step repeats the last context value), as ``mse`` and ``mae``.

    Options:
        dataset: a bundled series: sunspots, co2 or airline (default sunspots).
        path: a CSV/TSV/JSONL file instead of dataset.
        columns: the columns of path to read (comma-separated), default every numeric one.
        target: the columns to forecast (comma-separated), default every column read.
        context: steps of history in each input window.
        horizon: steps to forecast.
        val_fraction: fraction of the steps (after train) for validation.
        test_fraction: fraction of the steps (at the end) for testing.
        scale: "standard" (train mean/std per column) or "none".
    """

    description: ClassVar[str] = "Series forecasting: sunspots, co2, airline or a CSV (path=FILE)"
    output_kind: ClassVar[OutputKind] = "regression"

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        dataset: str | None = None,
        path: str | None = None,
        columns: str | Sequence[str] | None = None,
        target: str | Sequence[str] | None = None,
        context: int = 24,
        horizon: int = 1,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        scale: Literal["standard", "none"] = "standard",
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        if dataset is not None and path is not None:
            raise ConfigError(
                f"task 'forecast': pass either dataset=NAME or path=FILE, not both (got "
                f"dataset={dataset!r} and path={path!r})."
            )
        if path is None:
            dataset = "sunspots" if dataset is None else dataset
            if dataset not in BUILTIN_SERIES:
                names = sorted(BUILTIN_SERIES)
                raise UnknownNameError(
                    f"task 'forecast': unknown dataset '{dataset}'."
                    f"{did_you_mean(str(dataset), names)} The bundled series are: "
                    f"{', '.join(names)}; or pass path=FILE for your own CSV."
                )
            if columns is not None:
                raise ConfigError(
                    "task 'forecast': columns= selects columns of a path=FILE; "
                    f"the bundled '{dataset}' series has one column."
                )
        self.dataset = dataset
        self.path = None if path is None else str(path)
        self.columns = check_name_list(self.name, "columns", columns)
        self.target = check_name_list(self.name, "target", target)
        self.context = check_int(self.name, "context", context, minimum=1, example=24)
        self.horizon = check_int(self.name, "horizon", horizon, minimum=1, example=1)
        self.val_fraction = check_fraction(self.name, "val_fraction", val_fraction, example=0.15)
        self.test_fraction = check_fraction(self.name, "test_fraction", test_fraction, example=0.15)
        check_fractions_sum(
            self.name, val_fraction=self.val_fraction, test_fraction=self.test_fraction
        )
        self.scale = check_choice(self.name, "scale", scale, ("standard", "none"))

    @classmethod
    def available_datasets(cls) -> list[str]:
        """The names ``dataset=`` accepts (or pass ``path=FILE``)."""
        return sorted(BUILTIN_SERIES)

    # -- loading ----------------------------------------------------------------------
    def _from_file(self) -> tuple[np.ndarray, list[str], str]:
        assert self.path is not None
        table = read_table(self.name, self.path)
        chosen = self.columns if self.columns is not None else self._inferred_columns(table)
        values = np.empty((len(table), len(chosen)), dtype=np.float64)
        for j, name in enumerate(chosen):
            raw = table.column(self.name, name, "columns")
            for i, v in enumerate(raw):
                number = _to_float(v)
                if number is None or not math.isfinite(number):
                    raise DataError(
                        f"task 'forecast': column '{name}' of {table.path} is "
                        f"{_bad_value_kind(v, number)} at line {table.lines[i]}"
                        f"{_count_more(raw, i)}. Fill or interpolate missing values (or "
                        f"drop the column) before forecasting."
                    )
                values[i, j] = number
        return values, chosen, f"{table.path} (columns {', '.join(chosen)})"

    def _inferred_columns(self, table: Table) -> list[str]:
        """The columns to read when ``columns=`` is not given: every column whose values
        are mostly numbers (so a date or label column is skipped, but a numeric column
        with a stray word is read, and its bad value reported), plus the ``target``
        columns, which are always read (a target that is not numeric is reported)."""
        wanted = set(self.target or ())
        chosen = [c for c in table.columns if c in wanted or _mostly_numeric(table.data[c])]
        if not chosen:
            raise DataError(
                f"task 'forecast': {table.path} has no column of only numbers (columns: "
                f"{', '.join(table.columns)}). Fix the values or pass columns=NAME,..."
            )
        return chosen

    def build(self) -> tuple[TaskInfo, Splits]:
        if self.path is not None:
            series, names, source = self._from_file()
        else:
            assert self.dataset is not None
            series, names, source = BUILTIN_SERIES[self.dataset](self.name)
        targets = self._target_indices(names)
        n = len(series)
        need = self.context + self.horizon
        if n < need:
            raise DataError(
                f"task 'forecast': the series ({source}) has {n} steps, shorter than "
                f"context + horizon = {self.context} + {self.horizon} = {need}. Use a longer "
                f"series or a smaller context/horizon."
            )
        train_end = round(n * (1.0 - self.val_fraction - self.test_fraction))
        val_end = round(n * (1.0 - self.test_fraction))
        if train_end < need:
            raise DataError(
                f"task 'forecast': the training part has {train_end} of the series' {n} steps "
                f"(val_fraction={self.val_fraction}, test_fraction={self.test_fraction}), "
                f"fewer than context + horizon = {need} for even one window. Lower context "
                f"or horizon, or the held-out fractions."
            )
        for split, size in (("val", val_end - train_end), ("test", n - val_end)):
            if size < self.horizon:
                raise DataError(
                    f"task 'forecast': the {split} part has {size} steps, fewer than "
                    f"horizon={self.horizon}; raise {split}_fraction or lower horizon."
                )
        mean = series[:train_end].mean(axis=0)
        std = series[:train_end].std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)  # a constant column is only centred
        if self.scale == "none":
            mean, std = np.zeros_like(mean), np.ones_like(std)
        scaled = ((series - mean) / std).astype(np.float32)
        datasets, baselines = [], []
        for split, (first, stop) in {
            "train": (0, train_end),
            "val": (train_end, val_end),
            "test": (val_end, n),
        }.items():
            x, y = windows(scaled, targets, self.context, self.horizon, first, stop)
            lengths = torch.full((len(x),), self.context, dtype=torch.int64)
            datasets.append(SequenceDataset(torch.from_numpy(x), lengths, torch.from_numpy(y)))
            if split != "train":
                naive = x[:, -1:, targets]  # the last context value, repeated over horizon
                err = (y - naive).astype(np.float64)
                baselines += [
                    Baseline("mse", float((err**2).mean()), "naive last value", split),
                    Baseline("mae", float(np.abs(err).mean()), "naive last value", split),
                ]
        splits = Splits(*datasets)
        extra: dict[str, Any] = {
            "source": source,
            "columns": names,
            "targets": [names[i] for i in targets],
            "context": self.context,
            "horizon": self.horizon,
            "steps": n,
            "split_steps": {"train": train_end, "val": val_end - train_end, "test": n - val_end},
            "sizes": splits.sizes(),
            "size_unit": "windows",
            "scaler": {"kind": self.scale, "mean": mean.tolist(), "std": std.tolist()},
        }
        info = TaskInfo(
            output_kind="regression",
            input_kind="real",
            input_size=len(names),
            num_outputs=self.horizon * len(targets),
            target_shape=(self.horizon, len(targets)),
            metric="mse",
            metric_mode="min",
            baselines=tuple(baselines),
            extra=extra,
        )
        return info, splits

    def _target_indices(self, names: list[str]) -> list[int]:
        if self.target is None:
            return list(range(len(names)))
        missing = [t for t in self.target if t not in names]
        if missing:
            raise DataError(
                f"task 'forecast': target column '{missing[0]}' is not among the columns "
                f"read ({', '.join(names)}).{did_you_mean(missing[0], names)} Pass target=NAME "
                f"with one of them (and add it to columns= if you restricted those)."
            )
        return [names.index(t) for t in self.target]


def _to_float(value: Any) -> float | None:
    """A table value as a float; ``None`` for blanks and non-numbers."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.lower() in _MISSING:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _mostly_numeric(values: list[Any]) -> bool:
    """Whether a column holds numbers: at least half of its non-blank values are numbers.

    A column of dates or labels has none; a numeric column with a stray word ("high") is
    numeric, so that the word is reported instead of the column silently dropped.
    """
    numbers = others = 0
    for v in values:
        if v is None or (isinstance(v, str) and v.strip().lower() in _MISSING):
            continue
        if _to_float(v) is None:
            others += 1
        else:
            numbers += 1
    return numbers > 0 and numbers >= others


_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d*)?$")


def _bad_value_kind(value: Any, number: float | None) -> str:
    """What is wrong with a table value that is not a finite number, for messages."""
    if number is not None:
        return "missing (NaN)" if math.isnan(number) else "infinite"
    if value is None or str(value).strip().lower() in _MISSING:
        return "missing (NaN)"
    if _THOUSANDS.match(str(value).strip()):
        return f"not a number ({value!r}; remove the thousands separators)"
    return f"not a number ({value!r})"


def _count_more(raw: list[Any], first: int) -> str:
    more = sum(1 for v in raw[first + 1 :] if (f := _to_float(v)) is None or not math.isfinite(f))
    return f" (and {more} more bad values in that column)" if more else ""

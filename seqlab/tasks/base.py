"""What a task is: a LightningDataModule plus what a model needs to know about it.

Batch convention (every task's dataloaders yield dicts):

- ``"x"``: inputs, batch-first. Real-valued features (B, T, F) float32, or token ids
  (B, T) int64 when ``info.input_kind == "tokens"``.
- ``"lengths"``: (B,) int64 valid steps per sequence (always present; equal to T when
  nothing is padded).
- ``"y"``: targets, by ``info.output_kind``:
    - ``"classification"``: (B,) int64 class ids, one label per sequence;
    - ``"tagging"``: (B, T) int64, one label per step, ``IGNORE_INDEX`` where not scored;
    - ``"regression"``: (B, *info.target_shape) float32, one target per sequence;
    - ``"language_model"``: (B, T) int64 next-token ids for inputs ``x`` (B, T) int64.
      Batches are laid out contiguously: row b of batch k+1 continues row b of batch k
      within an epoch, so a model may carry its state across batches (truncated BPTT);
      unless ``info.batches_continue`` is False: then every row is a sequence of its
      own, to be read from a fresh state;
    - ``"seq2seq"``: (B, L) int64 target ids, each target followed by ``<eos>`` and padded
      with ``IGNORE_INDEX``, for source ids ``x`` (B, S) int64 (0 = ``<pad>`` past
      ``lengths``); ``info.itos`` is the source vocabulary, ``info.extra["target_itos"]``
      the target's (see :mod:`seqlab.tasks.seq2seq_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import lightning as L

OutputKind = Literal["classification", "tagging", "regression", "language_model", "seq2seq"]
InputKind = Literal["real", "tokens"]
IGNORE_INDEX = -100


@dataclass(frozen=True)
class Baseline:
    """A trivial baseline, computed on the task's own evaluation data.

    ``metric`` uses the name models log (``"mse"``, ``"acc"``, ``"ce"``...), ``value`` is
    its value for ``split`` (``"val"`` or ``"test"``), ``description`` says what it is
    ("always predict 1", "naive last value", "majority class").
    """

    metric: str
    value: float
    description: str
    split: str = "val"


@dataclass(frozen=True)
class TaskInfo:
    """What a model needs to know about a task.

    Attributes:
        output_kind: see the module docstring.
        input_kind: ``"real"`` features or ``"tokens"`` (ids < ``vocab_size``).
        input_size: features per step for real inputs; for tokens, ``vocab_size``.
        num_outputs: classes (classification/tagging), vocabulary size (language model) or
            the number of regression targets (``prod(target_shape)``).
        target_shape: shape of one regression target, e.g. (horizon, n_series).
        vocab_size: number of token ids for token inputs (``None`` for real inputs).
        metric: the task's headline metric as models log it (e.g. ``"mse"``, ``"acc"``).
        metric_mode: ``"min"`` or ``"max"``: which direction is better.
        baselines: trivial baselines on the task's val (and test) data.
        itos: token strings for token tasks (index → string), for decoding samples.
        batches_continue: for language models, whether row b of batch k + 1 continues
            row b of batch k (the state is carried across batches: truncated BPTT) or
            every row stands alone (read from a fresh state).
        extra: anything else a task wants to publish (class names, scaler stats...).
    """

    output_kind: OutputKind
    input_kind: InputKind
    input_size: int
    num_outputs: int
    metric: str
    metric_mode: Literal["min", "max"]
    target_shape: tuple[int, ...] = ()
    vocab_size: int | None = None
    baselines: tuple[Baseline, ...] = ()
    itos: tuple[str, ...] | None = None
    batches_continue: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def baseline(self, split: str = "val") -> Baseline | None:
        """The baseline for ``split`` (falls back to any baseline of the headline metric)."""
        for b in self.baselines:
            if b.split == split and b.metric == self.metric:
                return b
        return next((b for b in self.baselines if b.metric == self.metric), None)


class Task(L.LightningDataModule):
    """Base class of tasks: a LightningDataModule with :attr:`info` after :meth:`setup`.

    Subclasses are built as ``Cls(batch_size=..., seed=..., num_workers=..., **options)``,
    validate their options in ``__init__`` (raising :class:`seqlab.errors.ConfigError`),
    load or generate data in :meth:`setup` (raising :class:`seqlab.errors.DataError` for bad
    data), and set ``self.info``. Same seed → same data and same batches in the same order.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # What ``info.output_kind`` will be, declared on the class so that listings
    # (``seqlab tasks``) need not load any data; ``None`` when it depends on options.
    output_kind: ClassVar[OutputKind | None] = None
    # Options a model cannot be combined with (e.g. bidirectional for a language model).
    supports_bidirectional: ClassVar[bool] = True

    def __init__(self, batch_size: int = 32, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self._info: TaskInfo | None = None

    @classmethod
    def recipe(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Config defaults suited to this task with ``options``: dotted keys of the
        experiment config (``"trainer.max_epochs"``, ``"model.pooling"``) → values.

        Applied as a layer just above the built-in defaults, below a config file, flags and
        ``--set`` (whatever the user sets wins); the run's ``config.yaml`` holds the result.
        Must be cheap (no data loading beyond a header) and describe its rule in the class
        docstring (a ``Recipe`` paragraph, shown by ``seqlab tasks show``). Default: none.
        """
        return {}

    @property
    def info(self) -> TaskInfo:
        if self._info is None:
            self.setup("fit")
        assert self._info is not None
        return self._info

    @info.setter
    def info(self, value: TaskInfo) -> None:
        self._info = value

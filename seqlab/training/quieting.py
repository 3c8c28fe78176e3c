"""Quieting Lightning: warnings that do not apply to seqlab's runs, and its chatter."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_NOISE = (
    r".*does not have many workers.*",
    r".*is smaller than the logging interval.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r".*LeafSpec.*is deprecated.*",
    # Evaluation metrics are torchmetrics objects, already reduced across processes.
    r".*recommended to use `self.log\(.*sync_dist=True\)`.*",
    # Tasks with contiguous batches (charlm) split their streams among workers themselves.
    r".*`IterableDataset` has `__len__` defined.*",
    # A run stopped by max_steps before its first validation has no score to rank yet.
    r".*could not find the monitored key in the returned metrics.*",
)

_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


@contextmanager
def lightning_output(quiet: bool) -> Iterator[None]:
    """Drop warnings that do not apply to seqlab's in-memory tasks; with ``quiet``, also
    Lightning's informational messages (devices found, model summary...)."""
    levels = {n: logging.getLogger(n).level for n in _LOGGERS}
    with warnings.catch_warnings():
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        if quiet:
            for n in _LOGGERS:
                logging.getLogger(n).setLevel(logging.WARNING)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)


@contextmanager
def silenced() -> Iterator[None]:
    """No Lightning warning or message at all (for work done twice, such as a check)."""
    levels = {n: logging.getLogger(n).level for n in _LOGGERS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in _LOGGERS:
            logging.getLogger(n).setLevel(logging.ERROR)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)


__all__ = ["lightning_output", "silenced"]

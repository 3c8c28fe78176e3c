"""Quieting Lightning: warnings that do not apply to seqlab's runs, and its chatter."""

from __future__ import annotations

import logging
import re
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

# Lightning's informational lines that say nothing about a seqlab run: tips, the echo of
# default settings, the checkpoint restored twice by the final measurement (seqlab says
# which checkpoint it measured), and the stop message (seqlab's summary says why).
_CHATTER = re.compile(
    r"(💡 Tip|Tip:|was configured so 100%|Restoring states from the checkpoint|"
    r"Loaded model weights from the checkpoint|`Trainer\.fit` stopped|"
    r"TPU available|HPU available)"
)


class ChatterFilter(logging.Filter):
    """Drops Lightning's messages matching :data:`_CHATTER`; keeps everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _CHATTER.search(record.getMessage()) is None


@contextmanager
def without_chatter() -> Iterator[None]:
    """Lightning's handlers drop its chatter (see :class:`ChatterFilter`) meanwhile."""
    chatter = ChatterFilter()
    handlers = {h for n in _LOGGERS for h in logging.getLogger(n).handlers}
    for h in handlers:
        h.addFilter(chatter)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(chatter)


@contextmanager
def lightning_output(quiet: bool) -> Iterator[None]:
    """Drop warnings that do not apply to seqlab's in-memory tasks and Lightning's chatter
    (tips, echoed defaults, checkpoint restores); with ``quiet``, also the rest of its
    informational messages."""
    levels = {n: logging.getLogger(n).level for n in _LOGGERS}
    with warnings.catch_warnings(), without_chatter():
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


__all__ = ["ChatterFilter", "lightning_output", "silenced", "without_chatter"]

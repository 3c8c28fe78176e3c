"""Human-written dates → ISO 8601 (``"Tuesday, 3 March 1987"`` → ``"1987-03-03"``);
registered as ``dates``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from seqlab.tasks._options import check_int
from seqlab.tasks.registry import register_task
from seqlab.tasks.seq2seq_data import Pair, PairTask

# English names written out here: strftime's %B and %A follow the process's locale.
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


FORMATS: tuple[Callable[[dt.date], str], ...] = (
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()][:3]} {MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",
    lambda d: f"{d.day}.{d.month}.{d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3].lower()} {d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]}. {d.day} {d.year}",
    lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1].upper()} {d.day} {d.year}",
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.day:02d}-{MONTHS[d.month - 1][:3]}-{d.year}",
    lambda d: f"{_ordinal(d.day)} {MONTHS[d.month - 1]}, {d.year}",
)
"""Ways of writing a date; ``%m/%d/%y`` assumes 19xx for ≥ 50, else 20xx."""


def date_pairs(n: int, rng: np.random.Generator) -> list[Pair]:
    """``n`` distinct (written date, ISO date) pairs, dates uniform over 1950–2049."""
    seen: set[tuple[int, int]] = set()
    pairs: list[Pair] = []
    first, last = dt.date(1950, 1, 1).toordinal(), dt.date(2049, 12, 31).toordinal()
    while len(pairs) < n:
        day, fmt = int(rng.integers(first, last + 1)), int(rng.integers(len(FORMATS)))
        if (day, fmt) in seen:
            continue
        seen.add((day, fmt))
        date = dt.date.fromordinal(day)
        pairs.append((list(FORMATS[fmt](date)), list(date.isoformat())))
    return pairs


@register_task("dates")
class DatesTask(PairTask):
    """Dates written by people, in 14 formats, to be rewritten as ISO 8601.

    The classic demonstration of attention (e.g. the deeplearning.ai "neural machine
    translation" exercise): each output character comes from a few source characters
    whose place depends on the format. Dates are uniform over 1950–2049, generated with
    the standard library from the seed; (date, format) pairs are distinct and the splits
    disjoint. Two-digit years (one format) are read as 1950–2049.

    Shapes: ``x`` (B, S ≤ 37) character ids, ``y`` (B, 11): ``YYYY-MM-DD`` then ``EOS``.
    Output kind ``seq2seq``, metric ``exact``.

    Options:
        n_train: training dates.
        n_val: validation dates.
        n_test: test dates.
    """

    description: ClassVar[str] = "Dates in 14 human formats → ISO 8601 (attention demo)"

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        n_train: int = 20_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        self.n_train = check_int(self.name, "n_train", n_train, minimum=1, maximum=400_000)
        self.n_val = check_int(self.name, "n_val", n_val, minimum=1, maximum=50_000)
        self.n_test = check_int(self.name, "n_test", n_test, minimum=1, maximum=50_000)

    def make_pairs(self) -> tuple[list[Pair], list[Pair], list[Pair]]:
        rng = np.random.default_rng(self.seed)
        pairs = date_pairs(self.n_train + self.n_val + self.n_test, rng)
        a, b = self.n_train, self.n_train + self.n_val
        return pairs[:a], pairs[a:b], pairs[b:]

"""Which trial of a cell's study the tune reports: the best on validation, unless it beats
the base config's trial by no more than validation can tell apart.

The base trial (the task's recipe with the user's file and flags, trial 0 of a study this
tune started) is the untuned default the search has to beat. On small validation splits
(the UCR sets hold out 7-54 series) accuracy moves in steps of one series, and a search
trial one series ahead of the base trial is as likely luck as skill: measured on
Covid3Month_disc, 28 validation series, search trials that predicted the majority class
for every series scored 0.536 against the recipe's 0.500 and then tested at the majority
baseline, 0.525, against the recipe's 0.590. So a search trial replaces the base trial
only when it is better by more than ``min_gain`` (:func:`resolution`: one validation
example for accuracy; 0 for other metrics, where any improvement counts).

What this rule cannot fix: a validation split too small to rank trials at all. On the
same data set with the recipe's inputs now (``series+scale``), one tune's 18 trials scored
0.36-0.57 on validation and 0.52-0.70 on test, uncorrelated. Requiring the winner to
beat the trivial baseline as well was tried there and lost: it kept a base trial that
tested at 0.57 over a search trial at 0.67.
"""

from __future__ import annotations

from typing import Any

import optuna

from seqlab.tasks import TaskInfo

#: The user attribute marking the base config's trial.
BASE_ATTR = "base"


def resolution(info: TaskInfo) -> float:
    """The smallest difference in the task's validation metric that is more than one
    example: ``1 / n_val`` for accuracy of a classification task whose validation split
    has ``n_val`` examples (``info.extra["sizes"]["val"]``), else 0."""
    sizes = info.extra.get("sizes") if isinstance(info.extra, dict) else None
    n_val = sizes.get("val") if isinstance(sizes, dict) else None
    if info.metric != "acc" or info.output_kind != "classification" or not n_val:
        return 0.0
    return 1.0 / int(n_val)


def chosen_trial(study: optuna.Study, min_gain: float = 0.0) -> Any | None:
    """The trial to report for ``study``: its best complete trial, or its base trial when
    the best is not better than it by more than ``min_gain``; ``None`` when none completed."""
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.value is not None
    ]
    if not complete:
        return None
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
    best = max(complete, key=lambda t: (sign * t.value, -t.number))  # ties: the earliest
    base = next((t for t in complete if t.user_attrs.get(BASE_ATTR)), None)
    # float32 metrics: a difference of exactly one example must not read as a hair more
    if base is not None and sign * (best.value - base.value) <= min_gain + 1e-6:
        return base
    return best


__all__ = ["BASE_ATTR", "chosen_trial", "resolution"]

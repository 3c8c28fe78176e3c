"""The trial loop of one cell's study: budget, sampler, pruner, progress lines.

A cell's loop stops when its study holds ``--trials`` counted trials (see
:mod:`seqlab.tune.study`), when its share of ``--time-budget`` is spent (a trial is not
started with less than :data:`MIN_TRIAL_S` left; a running trial is stopped at the
deadline by its ``trainer.max_time`` and by the reporter callback), or on Ctrl-C.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from seqlab.config import Config
from seqlab.errors import Interrupted, SeqlabError
from seqlab.tune.objective import TrialOutcome, run_trial, suggest, tell, trial_config
from seqlab.tune.selection import BASE_ATTR, chosen_trial
from seqlab.tune.space import Dimension
from seqlab.tune.study import counted_trials, discard, place_of

#: A trial is not started with less than this many seconds of the budget left.
MIN_TRIAL_S = 1.0
#: Nor, under a time budget alone, with a share under this fraction of the median search
#: trial's time (the base trial, on its own budget, is not among them).
SHORTEST_TRIAL = 0.5
#: Without ``--trials``, a time budget is planned as this many trials per cell.
PLANNED_TRIALS = 10
#: Random trials before TPE models the space (fewer than Optuna's 10: budgets are small).
STARTUP_TRIALS = 5
PRUNERS = ("median", "halving", "none")


def make_pruner(name: str | optuna.pruners.BasePruner) -> optuna.pruners.BasePruner:
    """``median`` (the median of earlier trials at the same validation, after 3 trials and
    1 validation), ``halving`` (asynchronous successive halving) or ``none``."""
    if isinstance(name, optuna.pruners.BasePruner):
        return name
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    from seqlab.errors import ConfigError, did_you_mean

    raise ConfigError(
        f"--pruner {name!r} is not a pruner.{did_you_mean(name, PRUNERS)} "
        f"Choose one of: {', '.join(PRUNERS)}."
    )


def make_sampler(seed: int, trials_so_far: int) -> optuna.samplers.TPESampler:
    """TPE seeded by ``seed`` and the trial count, so a resumed or a second process does
    not repeat the first's random start."""
    return optuna.samplers.TPESampler(
        seed=seed * 100_003 + trials_so_far, n_startup_trials=STARTUP_TRIALS
    )


@dataclass
class CellLoop:
    """What one cell's loop needs.

    Attributes:
        study: the cell's study. cell: its cell. dims: the search space.
        base: the base config. monitor: the objective (``val_<metric>``).
        runs: the directory of the cell's trial runs.
        trials: the study's size (``None``: until the deadline).
        deadline: :func:`time.monotonic` time to stop (``None``: no time budget).
        seed: the sampler's seed. notify: receives the progress lines.
        durations: the seconds of this process's search trials so far (not the base's).
        started_from_base: this process queued the base config as trial 0.
        min_gain: how much better than the base trial a search trial must be to be the
            best (:mod:`seqlab.tune.selection`).
    """

    study: optuna.Study
    cell: str
    dims: list[Dimension]
    base: Config
    monitor: str
    runs: Path
    trials: int | None
    deadline: float | None
    seed: int = 0
    notify: Callable[[str], None] = print
    durations: list[float] = field(default_factory=list)
    started_from_base: bool = False
    min_gain: float = 0.0

    def is_base(self, trial: optuna.Trial) -> bool:
        """Whether ``trial`` is the base config's, queued by this process."""
        return self.started_from_base and trial.number == 0

    def left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def trial_time(self, base: bool = False) -> float | None:
        """The next trial's training time: an equal share of what the cell has left for
        the trials still to run, this one included (without ``trials``: as if
        :data:`PLANNED_TRIALS`, and never more than half), so one slow trial cannot take
        the whole budget. The base config's trial (``base``) trains on its own budget,
        bounded only by the cell's: it is the untuned default the search must beat, and
        cut short it would be a weaker one."""
        left = self.left()
        if left is None or base:
            return left
        return self._share(left, len(counted_trials(self.study)) - 1)  # it is counted

    def _share(self, left: float, before: int) -> float:
        """A trial's equal share of ``left`` seconds when ``before`` trials came first."""
        if self.trials is not None:
            to_run = max(1, self.trials - before)
        else:
            to_run = max(2, PLANNED_TRIALS - before)
        return max(left, 0.0) / to_run

    def more(self) -> bool:
        """Whether to start another trial: not past ``trials``, and with a time budget, not
        with less than :data:`MIN_TRIAL_S` left, nor (without ``trials``) when its share
        (:meth:`trial_time`) would be under half the median of this process's search
        trials so far (a much shorter trial trains less and cannot compete with them)."""
        if self.trials is not None and len(counted_trials(self.study)) >= self.trials:
            return False
        left = self.left()
        if left is None:
            return True
        if left < MIN_TRIAL_S:
            return False
        if self.trials is not None or not self.durations:
            return True
        share = self._share(left, len(counted_trials(self.study)))
        return share >= SHORTEST_TRIAL * statistics.median(self.durations)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _eta(loop: CellLoop, done: int) -> str:
    eta = math.inf
    if loop.durations and loop.trials is not None:
        mean = sum(loop.durations) / len(loop.durations)
        eta = max(0, loop.trials - done) * mean
    left = loop.left()
    if left is not None:
        eta = min(eta, max(0.0, left))
    return "?" if math.isinf(eta) else f"{eta:.0f} s"


def progress_line(loop: CellLoop, number: int, params: dict[str, Any], outcome: Any) -> str:
    """``lstm trial 3/10 (#2) lr=0.001 hidden_size=64 → val_acc 0.91; best 0.93 (#1); 4.2 s, ETA 30 s``"""
    done = len(counted_trials(loop.study))
    total = loop.trials if loop.trials is not None else "?"
    varied = {k: v for k, v in params.items() if not _fixed(loop.dims, k)}
    shown = " ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in varied.items())
    if outcome.error:
        what = f"failed: {outcome.error[:200]}"
    else:
        what = f"{loop.monitor} {_fmt(outcome.value)}" + (" (pruned)" if outcome.pruned else "")
    best = chosen_trial(loop.study, loop.min_gain)
    best_text = (
        "no complete trial yet" if best is None else f"best {_fmt(best.value)} (#{best.number})"
    )
    return (
        f"{loop.cell} trial {done}/{total} (#{number}) {shown} → {what}; {best_text}; "
        f"{outcome.seconds:.1f} s, ETA {_eta(loop, done)}"
    )


def _fixed(dims: list[Dimension], key: str) -> bool:
    return any(d.key == key and d.fixed for d in dims)


def _one_trial(loop: CellLoop, trial: optuna.Trial) -> tuple[dict[str, Any], TrialOutcome]:
    params = suggest(trial, loop.dims)
    seconds = loop.trial_time(base=loop.is_base(trial))
    try:
        config = trial_config(loop.base, loop.cell, params, loop.runs, trial.number, seconds)
    except SeqlabError as exc:  # a combination of values the config refuses
        return params, TrialOutcome(None, False, None, None, 0.0, str(exc))
    return params, run_trial(trial, config, loop.monitor, loop.deadline)


def base_values(base: Config, dims: list[Dimension]) -> dict[str, Any]:
    """The base config's own values of the searched dimensions that the space holds."""
    values = {}
    for d in dims:
        value: Any = base
        for part in d.key.split("."):  # sections are dataclasses, task.options a dict
            value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if not d.fixed and d.holds(value):
            values[d.key] = value
    return values


def start_from_base(loop: CellLoop) -> None:
    """Make the base config (the task's recipe, the user's file and flags) the study's
    first trial, so tuning starts from the untuned default and can only choose past it
    on validation. A study that already has trials (resumed, or shared with another
    process) is left as it is."""
    values = base_values(loop.base, loop.dims)
    if values and not loop.study.get_trials(deepcopy=False):
        loop.study.enqueue_trial(values, user_attrs={BASE_ATTR: True}, skip_if_exists=True)
        loop.started_from_base = True


def run_cell(loop: CellLoop) -> bool:
    """Run trials until the cell's budget is spent; ``False`` when Ctrl-C stopped it (the
    running trial is discarded: it does not count and a resumed tune replaces it)."""
    study = loop.study
    start_from_base(loop)
    while loop.more():
        study.sampler = make_sampler(loop.seed, len(study.get_trials(deepcopy=False)))
        trial = study.ask()
        if loop.trials is not None and place_of(study, trial.number) >= loop.trials:
            discard(study, trial, "surplus")  # another process took the last place
            break
        try:
            params, outcome = _one_trial(loop, trial)
        except (Interrupted, KeyboardInterrupt):
            discard(study, trial, "interrupted")
            return False
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        tell(study, trial, outcome)
        if not loop.is_base(trial):  # it trains on its own budget: not a peer's length
            loop.durations.append(outcome.seconds)
        loop.notify(progress_line(loop, trial.number, params, outcome))
    return True


__all__ = ["MIN_TRIAL_S", "PRUNERS", "CellLoop", "make_pruner", "make_sampler", "run_cell"]

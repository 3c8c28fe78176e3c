"""``seqlab tune``: hyperparameter search within a budget, on Optuna.

>>> from seqlab.tune import tune
>>> result = tune(config, cells=["lstm", "gru"], time_budget=300, out="tunes/x")  # doctest: +SKIP
>>> [(b.cell, b.val, b.test) for b in result.best]                              # doctest: +SKIP

Decisions (docs/tune.md says the same for users):

- One Optuna study per cell (``<name>-<cell>``), TPE sampler: each cell gets the same
  budget and its own search, so the per-cell bests answer "which cell" fairly.
- A trial is :func:`seqlab.training.fit` in this process, quiet, with ``trainer.test``
  off; its value is the best checkpoint's validation metric, in the task's direction.
  Test data is used once per cell at the end, on the best trial's best checkpoint.
- The best trial: the best on validation, but the base config's trial (the first) stays
  the best unless a search trial beats it by more than one validation example
  (:mod:`seqlab.tune.selection`): tiny validation splits cannot tell one series apart.
- Pruning: each validation reports the metric (step = validations so far) to the pruner
  (median by default); a pruned trial stops training and counts as a trial.
- Budget: ``trials`` is the size of each cell's study, counting trials already in it
  (so a rerun resumes, and processes sharing a study share it exactly);
  ``time_budget`` is the wall time of the whole call, shared equally among the cells in
  turn (time a cell leaves over goes to the next); each trial's ``trainer.max_time`` is at
  most what its cell has left. With neither, :data:`DEFAULT_TRIALS` trials per cell.
- Storage: SQLite in ``out`` unless ``storage`` names another Optuna storage URL; the
  studies record the task, base config and space, and a storage holding a tune of
  another task (or config, or space) is refused before anything is written.
- Ctrl-C stops the running trial at its next step (Lightning's graceful stop); that trial
  is discarded, the report covers the finished ones, and rerunning resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from seqlab.config import Config, resolve_config
from seqlab.errors import ConfigError
from seqlab.tasks import TaskInfo
from seqlab.tune.report import (
    PLOT,
    TRIALS_CSV,
    CellBest,
    cell_best,
    plot_search,
    trial_rows,
    write_trials_csv,
)
from seqlab.tune.running import CellLoop, make_pruner, run_cell
from seqlab.tune.selection import resolution
from seqlab.tune.space import (
    Dimension,
    check_space,
    default_space,
    load_space,
    parse_space,
    space_as_dict,
)
from seqlab.tune.study import check_studies, open_study, storage_url
from seqlab.validation import positive, positive_int

#: Trials per cell when neither ``trials`` nor ``time_budget`` is given.
DEFAULT_TRIALS = 20


@dataclass
class TuneResult:
    """What :func:`tune` returns.

    Attributes:
        out: the output directory. storage: the studies' storage URL. study: their name
            prefix. metric, mode: the objective (``val_<metric>``) and its direction.
        best: the best trial of each cell. info: the task's description (baselines...).
        trials_csv, plot: the files written (``plot`` ``None`` without matplotlib).
        interrupted: Ctrl-C stopped the search (rerun the same call to resume).
    """

    out: Path
    storage: str
    study: str
    metric: str
    mode: str
    best: list[CellBest]
    info: TaskInfo
    trials_csv: Path
    plot: Path | None
    interrupted: bool = False
    space: dict[str, Any] = field(default_factory=dict)


def plain_base(base: Config) -> Config:
    """``base`` without what tune sets per trial (run directory, name, quiet, resume)."""
    config = resolve_config(base=base)
    defaults = Config().run
    config.run.dir, config.run.name = defaults.dir, defaults.name
    config.run.quiet, config.run.resume = defaults.quiet, None
    return config


def resolve_space(
    space: str | Path | Mapping[str, Any] | None, base: Config, info: TaskInfo
) -> list[Dimension]:
    """The dimensions of ``space`` (a YAML file or its mapping; ``None``: the default of
    the task's kind, its fixed values applied only to keys ``base`` leaves at their
    defaults), checked against the schema and ``base``."""
    if isinstance(space, Mapping):
        dims = parse_space(space, "search space", type(base))
    elif space is not None:
        dims = load_space(space, type(base))
    else:
        defaults = Config().to_dict()
        given = base.to_dict()

        def untouched(key: str) -> bool:
            section, name = key.split(".", 1)
            return given[section].get(name) == defaults[section].get(name)

        data = {
            k: v
            for k, v in default_space(info.output_kind, info.input_kind).items()
            if "value" not in v or untouched(k)
        }
        dims = parse_space(data, f"the default space for {info.output_kind} tasks", type(base))
    check_space(dims, base)
    return dims


#: Keys that change where and how visibly a trial runs, not what it learns: a resumed
#: tune may change them (another logger, more workers, another device).
RUN_ONLY_KEYS = {
    "trainer": ("accelerator", "devices", "strategy", "num_nodes"),
    "task": ("num_workers",),
}


def what_trains(base: Config) -> dict[str, Any]:
    """``base`` as stored with the studies: what decides the trials' results (not the
    ``run`` and ``log`` sections, nor :data:`RUN_ONLY_KEYS`)."""
    data = base.to_dict()
    for section in ("run", "log"):
        data.pop(section, None)
    for section, keys in RUN_ONLY_KEYS.items():
        for key in keys:
            data.get(section, {}).pop(key, None)
    return data


def check_budget(trials: int | None, time_budget: float | None) -> int | None:
    """``trials`` checked (``DEFAULT_TRIALS`` when no budget is given at all)."""
    if trials is not None:
        positive_int("--trials", trials)
    if time_budget is not None:
        positive("--time-budget", time_budget)
    return DEFAULT_TRIALS if trials is None and time_budget is None else trials


def check_cells(cells: Sequence[str]) -> list[str]:
    from seqlab.cells import get_cell

    if not cells:
        raise ConfigError("--cells is empty; name at least one cell, e.g. --cells lstm,gru.")
    for cell in cells:
        get_cell(cell)  # an unknown name fails with "did you mean"
    return list(dict.fromkeys(cells))


@dataclass
class Plan:
    """Everything checked before anything is written."""

    base: Config
    cells: list[str]
    dims: list[Dimension]
    info: TaskInfo
    trials: int | None
    url: str
    name: str
    attrs: dict[str, Any]


def plan_tune(
    base: Config | None,
    cells: Sequence[str] | None,
    space: str | Path | Mapping[str, Any] | None,
    trials: int | None,
    time_budget: float | None,
    out: Path,
    storage: str | None,
    name: str | None,
) -> Plan:
    """Check every input and the storage; build the task once for its metric and baselines."""
    from seqlab.training.task import task_from_config

    base = plain_base((base if base is not None else Config()).validate())
    trials = check_budget(trials, time_budget)
    cells = check_cells(list(cells) if cells is not None else [base.model.cell])
    info = task_from_config(base).info
    dims = resolve_space(space, base, info)
    url = storage_url(out, storage)
    task = {"name": base.task.name, "options": base.task.options}
    attrs = {"task": task, "base": what_trains(base), "space": space_as_dict(dims)}
    check_studies(url, attrs, f"the storage of --out {str(out)!r}" if not storage else url)
    name = name or out.resolve().name or "tune"
    return Plan(base, cells, dims, info, trials, url, name, attrs)


def tune(
    base: Config | None = None,
    *,
    cells: Sequence[str] | None = None,
    space: str | Path | Mapping[str, Any] | None = None,
    trials: int | None = None,
    time_budget: float | None = None,
    out: str | Path = "tunes/tune",
    storage: str | None = None,
    pruner: str | optuna.pruners.BasePruner = "median",
    seed: int = 0,
    name: str | None = None,
    notify: Callable[[str], None] = print,
) -> TuneResult:
    """Search ``space`` for the best config of each cell of ``cells`` on ``base``'s task.

    Args:
        base: the config every trial starts from (default: the defaults).
        cells: the cells, each tuned in its own study (default: ``base.model.cell``).
        space: a YAML file or a mapping (see :mod:`seqlab.tune.space`); default: the
            space for the task's kind of output.
        trials: trials per cell, counting those already in the study.
        time_budget: wall seconds for the whole call, shared equally among the cells.
        out: the output directory (runs, storage, trials.csv, best-<cell>.yaml, plot).
        storage: an Optuna storage URL (default: ``sqlite:///<out>/study.db``).
        pruner: ``median``, ``halving``, ``none`` or an Optuna pruner.
        seed: the sampler's seed. name: the studies' name prefix (default: ``out``'s name).
        notify: receives one progress line per trial.

    Raises :class:`~seqlab.errors.ConfigError` for bad input, before anything is written.
    """
    started = time.monotonic()  # the budget covers the whole call, planning included
    out = Path(out).expanduser()
    plan = plan_tune(base, cells, space, trials, time_budget, out, storage, name)
    pruner = make_pruner(pruner)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if plan.base.log.logger == "wandb" and not plan.base.log.wandb_group:
        plan.base.log.wandb_group = plan.name  # W&B groups the trials of the tune
    out.mkdir(parents=True, exist_ok=True)
    studies, interrupted = {}, False
    for i, cell in enumerate(plan.cells):
        study = open_study(
            plan.url,
            f"{plan.name}-{cell}",
            "minimize" if plan.info.metric_mode == "min" else "maximize",
            {**plan.attrs, "cell": cell},
            optuna.samplers.TPESampler(seed=seed),
            pruner,
        )
        studies[cell] = study
        deadline = None
        if time_budget is not None:
            left = time_budget - (time.monotonic() - started)
            deadline = time.monotonic() + left / (len(plan.cells) - i)
        loop = CellLoop(
            study, cell, plan.dims, plan.base, f"val_{plan.info.metric}", out / "runs" / cell,
            plan.trials, deadline, seed, notify,
            min_gain=resolution(plan.info),
        )  # fmt: skip
        if not run_cell(loop):
            interrupted = True
            break
    return report(plan, studies, out, interrupted)


def report(
    plan: Plan, studies: dict[str, optuna.Study], out: Path, interrupted: bool
) -> TuneResult:
    """Write trials.csv, best-<cell>.yaml and the plot; measure each cell's best on test."""
    monitor, metric = f"val_{plan.info.metric}", plan.info.metric
    rows = trial_rows(studies, monitor)
    csv_path = write_trials_csv(rows, out / TRIALS_CSV)
    val_baseline = plan.info.baseline("val")
    plot = plot_search(
        rows,
        monitor,
        plan.info.metric_mode,
        out / PLOT,
        val_baseline.value if val_baseline is not None else None,
    )
    gain = resolution(plan.info)
    best = [cell_best(c, s, plan.base, plan.dims, out, metric, gain) for c, s in studies.items()]
    return TuneResult(
        out, plan.url, plan.name, metric, plan.info.metric_mode, best, plan.info, csv_path,
        plot, interrupted, space_as_dict(plan.dims),
    )  # fmt: skip


__all__ = [
    "DEFAULT_TRIALS",
    "CellBest",
    "Dimension",
    "TuneResult",
    "default_space",
    "load_space",
    "parse_space",
    "tune",
]

"""Planning a comparison: which runs (cell × seed), with which config, under which budget.

Every run of a comparison shares the base config (task, sizes, optimiser, everything but
the cell) and the budget. Runs of the same seed use the same ``trainer.seed``, which
seeds the task's data generation and the order of its batches, so every cell of a seed
sees the same sequences in the same order (initialisation differs by construction: the
cells have different parameters).

Cells are given as registry names, optionally with options in brackets, so one cell can
be compared with itself under different options::

    lstm,gru,rnn
    lstm[forget_bias=0],lstm[forget_bias=1]

Matched parameter counts (``match_params`` / ``param_budget``): the hidden size of each
cell is chosen so that the **whole model** — embedding, recurrent stack and output head,
built exactly as ``seqlab fit`` builds it for the task — has the parameter count closest
to the target (the first cell's count at the base hidden size, or ``param_budget``). The
count is the one ``summary.json`` reports as ``parameters.total``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from seqlab.config import Config, split_key_value
from seqlab.errors import ConfigError, did_you_mean

# Keys of the config that say how a run is stored and logged, not what it computes: runs
# that differ only in these are the same experiment.
_NOT_THE_EXPERIMENT = ("run", "log")
_MAX_HIDDEN = 1 << 16


@dataclass(frozen=True)
class CellSpec:
    """A cell to compare: registry ``name`` and its ``options`` (e.g. ``forget_bias=0``)."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``lstm`` or ``lstm[forget_bias=0]``: how the cell is shown in tables and plots."""
        if not self.options:
            return self.name
        inner = ",".join(f"{k}={_show(v)}" for k, v in self.options)
        return f"{self.name}[{inner}]"

    @property
    def slug(self) -> str:
        """The label made safe as a directory name: ``lstm-forget_bias-0``."""
        return re.sub(r"[^A-Za-z0-9_.]+", "-", self.label).strip("-.") or "cell"

    @property
    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)


def _show(value: Any) -> str:
    return (
        json.dumps(value)
        if isinstance(value, str | list | dict) and not _plain_word(value)
        else str(value)
    )


def _plain_word(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_.+-]+", value) is not None


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets: ``"a[x=1,y=2],b"`` → ``["a[x=1,y=2]", "b"]``."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"--cells {text!r}: a ']' has no matching '['.")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise ConfigError(f"--cells {text!r}: a '[' is not closed; write e.g. lstm[forget_bias=0].")
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_cells(text: str | Sequence[str]) -> list[CellSpec]:
    """Parse ``--cells``: comma-separated registry names, each optionally with
    ``[key=value,...]`` cell options. Unknown names fail here, with suggestions."""
    from seqlab.cells import get_cell, list_cells
    from seqlab.cells.contract_options import typed_options

    items = _split_top_level(text) if isinstance(text, str) else [str(t).strip() for t in text]
    items = [i for i in items if i]
    if not items:
        raise ConfigError(
            f"--cells is empty; name at least one cell, e.g. --cells rnn,lstm,gru "
            f"(available: {', '.join(list_cells())})."
        )
    specs: list[CellSpec] = []
    for item in items:
        m = re.fullmatch(r"([^\[\]]+?)\s*(?:\[(.*)\])?", item)
        if m is None:
            raise ConfigError(f"--cells: cannot read {item!r}; write NAME or NAME[key=value,...].")
        name, inner = m.group(1).strip(), m.group(2)
        cls = get_cell(name)  # UnknownNameError with "did you mean" and the list of cells
        options: dict[str, Any] = {}
        for part in _split_top_level(inner) if inner else []:
            pair = split_key_value(part)
            if pair is None:
                raise ConfigError(
                    f"--cells: the option {part!r} of {name} is not KEY=VALUE; write e.g. "
                    f"{name}[forget_bias=0]."
                )
            options[pair[0]] = pair[1]
        # A value that does not fit its option fails here; the spec keeps the values as
        # written (its label names the runs' directories) and the cell converts them.
        typed_options(cls, name, options)
        spec = CellSpec(name, tuple(sorted(options.items())))
        if spec in specs:
            raise ConfigError(f"--cells names {spec.label} twice; list each cell once.")
        specs.append(spec)
    return specs


def parse_seeds(seeds: int | None, seed_list: str | Sequence[int] | None) -> list[int]:
    """``--seeds N`` → 0..N-1, or ``--seed-list 0,1,2``; one of them (default: 3 seeds)."""
    if seeds is not None and seed_list is not None:
        raise ConfigError("give either --seeds N (seeds 0..N-1) or --seed-list 0,1,2, not both.")
    if seed_list is not None:
        raw = seed_list.split(",") if isinstance(seed_list, str) else list(seed_list)
        out: list[int] = []
        for item in raw:
            text = str(item).strip()
            if not text:
                continue
            if not text.isdigit():
                raise ConfigError(
                    f"--seed-list takes non-negative integers such as 0,1,2; got {item!r}."
                )
            out.append(int(text))
        if not out:
            raise ConfigError(
                "--seed-list is empty; give at least one seed, e.g. --seed-list 0,1,2."
            )
        if len(set(out)) != len(out):
            raise ConfigError(f"--seed-list {seed_list!r} repeats a seed; list each seed once.")
        return out
    n = 3 if seeds is None else seeds
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"--seeds must be at least 1 (seeds 0..N-1), got {seeds!r}.")
    return list(range(n))


@dataclass(frozen=True)
class Budget:
    """What stops every run: ``max_steps`` optimiser steps or ``time_budget_s`` seconds of
    training wall clock (exactly one of them)."""

    max_steps: int | None = None
    time_budget_s: float | None = None

    def __post_init__(self) -> None:
        if (self.max_steps is None) == (self.time_budget_s is None):
            raise ConfigError(
                "give exactly one budget for every run: --max-steps N (optimiser steps) or "
                "--time-budget SECONDS (training wall clock); "
                + ("both were given." if self.max_steps is not None else "neither was given.")
            )
        if self.max_steps is not None and (isinstance(self.max_steps, bool) or self.max_steps < 1):
            raise ConfigError(f"--max-steps must be a positive integer, got {self.max_steps!r}.")
        if self.time_budget_s is not None and not (
            math.isfinite(self.time_budget_s) and self.time_budget_s > 0
        ):
            raise ConfigError(
                f"--time-budget must be a positive number of seconds, got {self.time_budget_s!r}."
            )

    def describe(self) -> str:
        if self.max_steps is not None:
            return f"{self.max_steps:,} optimiser steps"
        return f"{self.time_budget_s:g} s of training wall clock"


@dataclass
class RunPlan:
    """One run of a comparison.

    ``config`` is the complete resolved config the run trains with; ``parameters`` and
    ``flops_per_step`` are measured on the model built from it before training.
    """

    cell: CellSpec
    seed: int
    hidden_size: int
    config: Config
    parameters: int
    flops_per_step: int | None

    @property
    def run_id(self) -> str:
        return f"{self.cell.slug}-s{self.seed}"

    def signature(self, budget: Budget) -> dict[str, Any]:
        """What makes this run the experiment it is (for detecting changed commands)."""
        data = self.config.to_dict()
        for key in _NOT_THE_EXPERIMENT:
            data.pop(key, None)
        data["budget"] = {"max_steps": budget.max_steps, "time_budget_s": budget.time_budget_s}
        return json.loads(json.dumps(data, default=str))


@dataclass
class ComparisonPlan:
    """All runs of a comparison plus what they share."""

    name: str
    cells: list[CellSpec]
    seeds: list[int]
    budget: Budget
    base: Config
    runs: list[RunPlan]
    grad_flow_every: int | None
    match: str  # "none", "first cell" or "N parameters"
    target_parameters: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def runs_of(self, cell: CellSpec) -> list[RunPlan]:
        return [r for r in self.runs if r.cell == cell]


# -- models, parameter counts and FLOPs ------------------------------------------------------------
class _ModelProbe:
    """Builds the model a config trains (on the task's info, made once) to count it."""

    def __init__(self, base: Config) -> None:
        from seqlab.tasks import create_task

        task = create_task(
            base.task.name,
            batch_size=base.task.batch_size,
            seed=base.trainer.seed,
            num_workers=0,
            **base.task.options,
        )
        self.info = task.info
        self._cache: dict[tuple[str, int], tuple[int, int | None]] = {}

    def measure(self, config: Config) -> tuple[int, int | None]:
        """``(parameters of the whole model, FLOPs per time step of its recurrent stack)``."""
        key = (
            json.dumps(config.model.__dict__, sort_keys=True, default=str),
            config.model.hidden_size,
        )
        if key not in self._cache:
            from seqlab.cells.registry import flops_per_step
            from seqlab.models import build_model

            model = build_model(config.model, config.optim, self.info)
            params = sum(p.numel() for p in model.parameters())
            flops: int | None = 0
            for cell in model.recurrent.cells:
                f = flops_per_step(cell)
                flops = None if f is None or flops is None else flops + f
            self._cache[key] = (params, flops)
        return self._cache[key]

    def parameters(self, config: Config) -> int:
        return self.measure(config)[0]


def _with_hidden(config: Config, hidden: int) -> Config:
    data = config.to_dict()
    data["model"]["hidden_size"] = hidden
    return Config.from_dict(data, "--match-params")


def match_hidden_size(probe: _ModelProbe, config: Config, target: int) -> int:
    """The hidden size whose model parameter count is closest to ``target`` (ties: smaller).

    Parameter counts grow with the hidden size for every cell seqlab knows, so the
    search brackets the target by doubling and then bisects.
    """

    def count(h: int) -> int | None:
        try:
            return probe.parameters(_with_hidden(config, h))
        except ConfigError:
            return None  # e.g. a cell that needs an even size: skipped

    lo = 1
    if (c := count(lo)) is not None and c >= target:
        return lo
    hi = 2
    while True:
        c = count(hi)
        if c is not None and c >= target:
            break
        if hi >= _MAX_HIDDEN:
            raise ConfigError(
                f"--match-params: cell {config.model.cell} has fewer than {target:,} parameters "
                f"even at hidden size {_MAX_HIDDEN:,}; lower --param-budget."
            )
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        c = count(mid)
        if c is not None and c >= target:
            hi = mid
        else:
            lo = mid
    candidates = [
        (abs(c - target), h) for h in range(max(1, lo - 2), hi + 3) if (c := count(h)) is not None
    ]
    if not candidates:
        raise ConfigError(
            f"--match-params: no hidden size near {hi} builds cell {config.model.cell}."
        )
    return min(candidates)[1]


# -- the plan ------------------------------------------------------------------------------------
def run_config(
    base: Config,
    cell: CellSpec,
    seed: int,
    budget: Budget,
    *,
    global_cell_options: Mapping[str, Any],
    hidden_size: int | None = None,
    default_val_every: bool = True,
) -> Config:
    """``base`` with the run's cell, seed, budget (and hidden size) filled in."""
    data = copy.deepcopy(base.to_dict())
    model = data["model"]
    # Options in the base config belong to the base config's cell (as in seqlab fit).
    options = dict(model["cell_options"]) if model["cell"] == cell.name else {}
    options.update(global_cell_options)
    options.update(cell.option_dict)
    model["cell"] = cell.name
    model["cell_options"] = options
    if hidden_size is not None:
        model["hidden_size"] = hidden_size
    trainer = data["trainer"]
    trainer["seed"] = seed
    trainer["max_epochs"] = None
    if budget.max_steps is not None:
        trainer["max_steps"] = budget.max_steps
        if default_val_every and trainer["val_check_interval"] is None:
            # About ten validations per run: the points of the learning curves.
            trainer["val_check_interval"] = max(1, budget.max_steps // 10)
    # Enough points of training loss per curve however short the budget: ~50 for a step
    # budget; for a time budget (steps unknown) every 10 steps (a CSV row is cheap).
    log = data["log"]
    wanted = 10 if budget.max_steps is None else max(1, budget.max_steps // 50)
    log["every_n_steps"] = min(log["every_n_steps"], wanted)
    interval = trainer["val_check_interval"]
    if isinstance(interval, int) and not isinstance(interval, bool):
        # Runs are bounded by steps or time, not epochs: count the batches between
        # validations across epoch boundaries.
        trainer["check_val_every_n_epoch"] = None
    else:
        trainer["max_steps"] = -1  # the wall-clock budget stops it (a Timer callback)
        trainer["max_epochs"] = 1_000_000
    return Config.from_dict(data, "the comparison").validate()


def build_plan(
    base: Config,
    cells: Sequence[CellSpec],
    seeds: Sequence[int],
    budget: Budget,
    *,
    name: str,
    cell_options: Mapping[str, Any] | None = None,
    match_params: bool = False,
    param_budget: int | None = None,
    grad_flow: str | int | None = "auto",
) -> ComparisonPlan:
    """Every cell × seed as a :class:`RunPlan`, each config checked and its model measured.

    Args:
        base: the shared config (task, sizes, optimiser...); its cell and seed are replaced.
        match_params: choose each cell's hidden size so that its model has as many
            parameters as the first cell's model at the base hidden size.
        param_budget: choose each cell's hidden size to match this many parameters.
        grad_flow: ``"auto"`` (every max(max_steps // 20, 1) steps; every 25 steps under a
            time budget), ``"off"``, or a number of steps (``every=N`` also accepted).
    """
    if not cells:
        raise ConfigError("no cells to compare; give --cells, e.g. --cells rnn,lstm,gru.")
    if not seeds:
        raise ConfigError("no seeds; give --seeds N (at least 1).")
    if param_budget is not None and (isinstance(param_budget, bool) or param_budget < 1):
        raise ConfigError(
            f"--param-budget must be a positive number of parameters, got {param_budget!r}."
        )
    if match_params and param_budget is not None:
        raise ConfigError(
            "--match-params matches the first cell's parameter count and --param-budget a "
            "given count: use one of them."
        )
    options = dict(cell_options or {})
    every = grad_flow_every(grad_flow, budget)
    probe = _ModelProbe(base)

    def configured(cell: CellSpec, seed: int, hidden: int | None = None) -> Config:
        return run_config(base, cell, seed, budget, global_cell_options=options, hidden_size=hidden)

    hidden_of: dict[CellSpec, int] = {c: base.model.hidden_size for c in cells}
    target: int | None = None
    match = "none"
    if match_params or param_budget is not None:
        first = configured(cells[0], seeds[0])
        target = param_budget if param_budget is not None else probe.parameters(first)
        match = (
            f"{target:,} parameters"
            if param_budget is not None
            else f"the first cell ({cells[0].label})"
        )
        for cell in cells:
            if cell == cells[0] and param_budget is None:
                continue
            hidden_of[cell] = match_hidden_size(probe, configured(cell, seeds[0]), target)
    runs = []
    for cell in cells:
        for seed in seeds:
            cfg = configured(cell, seed, hidden_of[cell])
            params, flops = probe.measure(cfg)
            runs.append(RunPlan(cell, seed, cfg.model.hidden_size, cfg, params, flops))
    return ComparisonPlan(
        name=name,
        cells=list(cells),
        seeds=list(seeds),
        budget=budget,
        base=base,
        runs=runs,
        grad_flow_every=every,
        match=match,
        target_parameters=target,
        extra={"task_info_metric": probe.info.metric},
    )


def grad_flow_every(option: str | int | None, budget: Budget) -> int | None:
    """Steps between gradient-flow measurements for ``--grad-flow`` (None: off)."""
    if option is None:
        return None
    text = str(option).strip().lower()
    if text in ("off", "none", "false", "0", ""):
        return None
    if text == "auto":
        return max(budget.max_steps // 20, 1) if budget.max_steps is not None else 25
    value = text.split("=", 1)[1] if text.startswith("every=") else text
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(
            f"--grad-flow {option!r}: expected auto, off or every=N (N training steps between "
            f"measurements).{did_you_mean(text, ['auto', 'off'])}"
        )
    return int(value)


__all__ = [
    "Budget",
    "CellSpec",
    "ComparisonPlan",
    "RunPlan",
    "build_plan",
    "grad_flow_every",
    "match_hidden_size",
    "parse_cells",
    "parse_seeds",
    "run_config",
]

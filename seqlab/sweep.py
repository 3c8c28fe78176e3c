"""Sweeps over cells and hyperparameters: registered with W&B, or run locally, one process per run.

A sweep file is a W&B sweep configuration whose parameter names are seqlab's dotted config
keys (the keys ``--set`` takes)::

    name: cells-vs-lr
    method: grid                 # grid | random (| bayes: W&B server only)
    metric: {name: val_mse, goal: minimize}
    parameters:
      model.cell: {values: [lstm, gru, mingru]}
      optim.lr: {values: [0.001, 0.003]}
      trainer.max_epochs: {value: 5}
    # command: defaults to [${env}, ${interpreter}, -m, seqlab, fit, --logger, wandb, ${args_no_hyphens}]

**Registered** (:func:`register_sweep`): the file goes to ``wandb.sweep`` as it is, with the
command above when it has none; W&B's agent then runs ``seqlab fit --logger wandb
model.cell=gru optim.lr=0.003 ...`` — ``${args_no_hyphens}`` expands to ``key=value`` words,
which ``seqlab fit`` takes as positional overrides, exactly like ``--set key=value``.

**Local** (:func:`run_local`): no W&B server. The grid is expanded (or ``count`` random
configurations are drawn with a seed, from ``values`` or W&B's distributions), and each
run is a separate process ``python -m seqlab fit --set key=value ... --set
run.dir=OUT/run-003 --set run.name=run-003 --set run.quiet=true`` (``workers`` at a time),
its output in ``OUT/run-003/output.log``. Then ``OUT/summary.csv`` and ``summary.md`` hold
one row per run: status, the swept parameters, the final metrics from the run's
``summary.json`` (nested keys flattened with dots) and the run directory. Runs already
finished in ``OUT`` with the same parameters are reused, so an interrupted sweep continues
where it stopped.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import random
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqlab.errors import ConfigError, did_you_mean

METHODS = ("grid", "random", "bayes")
LOCAL_METHODS = ("grid", "random")
DEFAULT_WANDB_COMMAND = [
    "${env}",
    "${interpreter}",
    "-m",
    "seqlab",
    "fit",
    "--logger",
    "wandb",
    "${args_no_hyphens}",
]
TOP_LEVEL_KEYS = (
    "name",
    "description",
    "method",
    "metric",
    "parameters",
    "command",
    "program",
    "early_terminate",
    "run_cap",
    "project",
    "entity",
)
DISTRIBUTIONS = (
    "constant",
    "categorical",
    "int_uniform",
    "uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
    "q_log_uniform",
    "q_log_uniform_values",
    "inv_log_uniform",
    "inv_log_uniform_values",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
)
_DISCRETE = ("constant", "categorical", "int_uniform")


def default_command() -> list[str]:
    """``python -m seqlab fit`` with this interpreter: what each local run executes."""
    return [sys.executable, "-m", "seqlab", "fit"]


@dataclass
class SweepSpec:
    """A checked sweep file. ``parameters`` maps dotted config keys to W&B parameter specs."""

    name: str
    method: str
    parameters: dict[str, dict[str, Any]]
    metric: dict[str, Any] | None = None
    command: list[str] | None = None
    run_cap: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    source: str = "sweep file"

    @property
    def swept_keys(self) -> list[str]:
        """The parameters that take more than one value (the columns worth showing)."""
        return [k for k, p in self.parameters.items() if not _is_constant(p)]


def _is_constant(spec: Mapping[str, Any]) -> bool:
    if "value" in spec or spec.get("distribution") == "constant":
        return True
    return "values" in spec and len(spec["values"]) == 1


# -- reading and checking -----------------------------------------------------------------------
def parse_sweep(data: Mapping[str, Any], source: str = "sweep file") -> SweepSpec:
    """Check a sweep configuration (a parsed YAML mapping) and return its :class:`SweepSpec`."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source} must hold a mapping (method, metric, parameters...), got {type(data).__name__}."
        )
    unknown = [k for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {unknown[0]!r}.{did_you_mean(str(unknown[0]), TOP_LEVEL_KEYS)} "
            f"A sweep file has: {', '.join(TOP_LEVEL_KEYS)}."
        )
    method = str(data.get("method", "grid"))
    if method not in METHODS:
        raise ConfigError(
            f"{source}: method {method!r} is not a sweep method.{did_you_mean(method, METHODS)} "
            f"Choose one of: {', '.join(METHODS)}."
        )
    params = data.get("parameters")
    if not isinstance(params, Mapping) or not params:
        raise ConfigError(
            f"{source}: 'parameters' must map config keys to values, e.g. "
            f"parameters: {{model.cell: {{values: [lstm, gru]}}}}."
        )
    parameters = {str(k): _check_parameter(str(k), v, source) for k, v in params.items()}
    metric = data.get("metric")
    if metric is not None:
        if not isinstance(metric, Mapping) or "name" not in metric:
            raise ConfigError(
                f"{source}: metric must be a mapping with a name, e.g. {{name: val_mse, goal: minimize}}."
            )
        goal = metric.get("goal", "minimize")
        if goal not in ("minimize", "maximize"):
            raise ConfigError(f"{source}: metric goal must be minimize or maximize, got {goal!r}.")
        metric = {"name": str(metric["name"]), "goal": goal}
    command = data.get("command")
    if command is not None and (
        not isinstance(command, list) or not all(isinstance(c, str) for c in command)
    ):
        raise ConfigError(
            f"{source}: command must be a list of strings, e.g. {DEFAULT_WANDB_COMMAND}."
        )
    run_cap = data.get("run_cap")
    if run_cap is not None and (
        isinstance(run_cap, bool) or not isinstance(run_cap, int) or run_cap < 1
    ):
        raise ConfigError(f"{source}: run_cap must be a positive integer, got {run_cap!r}.")
    return SweepSpec(
        name=str(data.get("name") or "sweep"),
        method=method,
        parameters=parameters,
        metric=metric,
        command=command,
        run_cap=run_cap,
        raw=dict(data),
        source=source,
    )


def _check_parameter(key: str, spec: Any, source: str) -> dict[str, Any]:
    where = f"{source}: parameter {key!r}"
    if "." not in key or not all(key.split(".")):
        raise ConfigError(
            f"{where}: parameter names are dotted config keys such as model.cell, optim.lr or "
            f"task.options.seq_len (they are passed to seqlab fit as --set KEY=VALUE)."
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where} must be a mapping such as {{values: [...]}} or {{value: 3}}, got {spec!r}."
        )
    if "parameters" in spec:
        raise ConfigError(
            f"{where}: nested parameters are not supported; name each leaf with its dotted key "
            f"instead (e.g. {key}.hidden_size: {{values: [64, 128]}})."
        )
    spec = dict(spec)
    if "values" in spec:
        if not isinstance(spec["values"], list) or not spec["values"]:
            raise ConfigError(f"{where}: values must be a non-empty list.")
        probs = spec.get("probabilities")
        if probs is not None and (len(probs) != len(spec["values"]) or abs(sum(probs) - 1) > 1e-6):
            raise ConfigError(
                f"{where}: probabilities must give one weight per value and sum to 1."
            )
        spec.setdefault("distribution", "categorical")
    elif "value" in spec:
        spec.setdefault("distribution", "constant")
    elif "min" in spec and "max" in spec:
        ints = all(
            isinstance(spec[b], int) and not isinstance(spec[b], bool) for b in ("min", "max")
        )
        spec.setdefault("distribution", "int_uniform" if ints else "uniform")
    elif "distribution" not in spec or spec["distribution"] not in (
        "normal",
        "log_normal",
        "q_normal",
        "q_log_normal",
    ):
        raise ConfigError(
            f"{where} needs values (a list), value (one value), or min and max with an optional "
            f"distribution (uniform, log_uniform_values, int_uniform...)."
        )
    dist = spec.get("distribution")
    if dist not in DISTRIBUTIONS:
        raise ConfigError(
            f"{where}: distribution {dist!r} is unknown.{did_you_mean(str(dist), DISTRIBUTIONS)} "
            f"Choose one of: {', '.join(DISTRIBUTIONS)}."
        )
    if "min" in spec and "max" in spec and not spec["min"] <= spec["max"]:
        raise ConfigError(f"{where}: min ({spec['min']}) is larger than max ({spec['max']}).")
    if (
        dist in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values")
        and spec["min"] <= 0
    ):
        raise ConfigError(f"{where}: {dist} needs min > 0, got {spec['min']}.")
    return spec


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep YAML file."""
    from seqlab.config import read_yaml  # its errors name the file, line and column

    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"sweep file {str(p)!r} does not exist; pass a YAML file such as configs/sweep-cells.yaml."
        )
    return parse_sweep(read_yaml(p), f"sweep file {str(p)!r}")


# -- the runs -----------------------------------------------------------------------------------
def expand_grid(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every combination of the parameters' values, in file order (last key varies fastest)."""
    axes = []
    for key, p in spec.parameters.items():
        dist = p["distribution"]
        if dist == "constant":
            axes.append([p["value"]])
        elif dist == "categorical":
            axes.append(list(p["values"]))
        elif dist == "int_uniform":
            axes.append(list(range(int(p["min"]), int(p["max"]) + 1)))
        else:
            raise ConfigError(
                f"{spec.source}: parameter {key!r} has the continuous distribution {dist}, which a "
                f"grid cannot enumerate; give it values: [...] or use method: random with --count."
            )
    keys = list(spec.parameters)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]


def _sample(p: Mapping[str, Any], rng: random.Random) -> Any:
    dist = p["distribution"]
    lo, hi = p.get("min"), p.get("max")
    q = p.get("q", 1)
    mu, sigma = p.get("mu", 0.0), p.get("sigma", 1.0)

    def quantise(x: float) -> float:
        return round(x / q) * q

    if dist == "constant":
        return p["value"]
    if dist == "categorical":
        return rng.choices(p["values"], weights=p.get("probabilities"))[0]
    if dist == "int_uniform":
        return rng.randint(int(lo), int(hi))
    if dist == "uniform":
        return rng.uniform(lo, hi)
    if dist == "q_uniform":
        return quantise(rng.uniform(lo, hi))
    if dist == "log_uniform":  # W&B: min and max are natural-log exponents
        return math.exp(rng.uniform(lo, hi))
    if dist == "q_log_uniform":
        return quantise(math.exp(rng.uniform(lo, hi)))
    if dist == "log_uniform_values":
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if dist == "q_log_uniform_values":
        return quantise(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if dist == "inv_log_uniform":
        return 1.0 / math.exp(rng.uniform(lo, hi))
    if dist == "inv_log_uniform_values":
        return 1.0 / math.exp(rng.uniform(math.log(1.0 / hi), math.log(1.0 / lo)))
    if dist == "normal":
        return rng.gauss(mu, sigma)
    if dist == "q_normal":
        return quantise(rng.gauss(mu, sigma))
    if dist == "log_normal":
        return math.exp(rng.gauss(mu, sigma))
    if dist == "q_log_normal":
        return quantise(math.exp(rng.gauss(mu, sigma)))
    raise AssertionError(dist)  # parse_sweep admits only the distributions above


def sample_random(spec: SweepSpec, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` configurations drawn independently (reproducible for a given ``seed``)."""
    rng = random.Random(seed)
    return [{k: _sample(p, rng) for k, p in spec.parameters.items()} for _ in range(count)]


def plan_runs(spec: SweepSpec, count: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The parameter sets a local sweep runs: the grid (first ``count`` of it), or ``count`` draws."""
    if spec.method not in LOCAL_METHODS:
        raise ConfigError(
            f"{spec.source}: method {spec.method} needs W&B's sweep server to choose the next run; "
            f"register it with seqlab sweep --register, or use method grid or random to run locally."
        )
    if count is not None and (isinstance(count, bool) or count < 1):
        raise ConfigError(f"--count must be a positive integer, got {count!r}.")
    count = count if count is not None else spec.run_cap
    if spec.method == "grid":
        grid = expand_grid(spec)
        return grid[:count] if count is not None else grid
    if count is None:
        raise ConfigError(
            f"{spec.source}: a random sweep needs the number of runs; pass --count N (or set run_cap)."
        )
    return sample_random(spec, count, seed)


def format_value(value: Any) -> str:
    """``value`` written so that YAML (how ``--set`` reads values) gives it back unchanged."""
    if isinstance(value, str):
        try:
            same = yaml.safe_load(value) == value
        except yaml.YAMLError:
            same = False
        return value if same and value.strip() == value and value else json.dumps(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        if e and "." not in mantissa:  # YAML 1.1 reads 1e-05 as a string, 1.0e-05 as a float
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def set_arguments(params: Mapping[str, Any]) -> list[str]:
    """``["--set", "model.cell=gru", "--set", "optim.lr=0.003", ...]``."""
    out: list[str] = []
    for key, value in params.items():
        out += ["--set", f"{key}={format_value(value)}"]
    return out


def check_runs(runs: Iterable[Mapping[str, Any]]) -> None:
    """Resolve every run's config now, so a bad key or value fails before anything runs."""
    from seqlab.config import resolve_config

    for i, params in enumerate(runs):
        try:
            resolve_config(
                overrides={k: yaml.safe_load(format_value(v)) for k, v in params.items()}
            )
        except ConfigError as exc:
            raise ConfigError(f"sweep run {i} ({_describe(params)}): {exc}") from None


def _describe(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in params.items())


# -- running locally ----------------------------------------------------------------------------
@dataclass
class RunResult:
    """One local run: what was run and what came out."""

    index: int
    run_id: str
    params: dict[str, Any]
    status: str  # "ok", "failed", "reused"
    returncode: int | None
    run_dir: Path | None
    metrics: dict[str, Any]
    log: Path
    seconds: float = 0.0


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts → ``{"a.b": value}``; only scalar leaves are kept."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif value is None or isinstance(value, bool | int | float | str):
            out[name] = value
    return out


def _find_summary(base: Path) -> Path | None:
    found = [p for p in base.rglob("summary.json") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _read_result(base: Path) -> tuple[Path | None, dict[str, Any]]:
    summary = _find_summary(base)
    if summary is None:
        dirs = [p for p in base.iterdir() if p.is_dir()] if base.is_dir() else []
        return (dirs[0] if len(dirs) == 1 else None), {}
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return summary.parent, {}
    return summary.parent, flatten(data) if isinstance(data, Mapping) else {}


def run_local(
    spec: SweepSpec,
    out_dir: str | Path,
    *,
    runs: Sequence[Mapping[str, Any]] | None = None,
    command: Sequence[str] | None = None,
    count: int | None = None,
    seed: int = 0,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    notify: Callable[[str], None] = print,
    poll_s: float = 0.1,
) -> list[RunResult]:
    """Run the sweep here, each run a separate process, ``workers`` at a time.

    Args:
        spec: the checked sweep.
        out_dir: one ``run-NNN`` directory per run is made here, plus the summary files.
        runs: the parameter sets (default: :func:`plan_runs` with ``count`` and ``seed``).
        command: the program each run executes, before its ``--set`` arguments (default
            ``python -m seqlab fit``).
        workers: runs at a time. Each gets ``OMP_NUM_THREADS`` = cores / workers unless the
            environment sets it.
        env: the environment of the runs (default: this process's), plus
            ``WANDB_RUN_GROUP`` = the sweep's name when unset.
        notify: progress messages.

    Returns the results in run order; the summary is written by :func:`write_summary`.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be a positive integer, got {workers!r}.")
    plan = [dict(p) for p in (runs if runs is not None else plan_runs(spec, count, seed))]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base_cmd = list(command) if command is not None else default_command()
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("WANDB_RUN_GROUP", spec.name)
    if workers > 1 and "OMP_NUM_THREADS" not in run_env:
        run_env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    width = max(3, len(str(len(plan) - 1)))

    results: dict[int, RunResult] = {}
    pending: list[tuple[int, str, list[str]]] = []
    for i, params in enumerate(plan):
        run_id = f"run-{i:0{width}d}"
        run_base = out / run_id
        params_file = run_base / "params.json"
        if params_file.is_file():
            previous = json.loads(params_file.read_text(encoding="utf-8"))
            if previous != json.loads(json.dumps(params)):
                raise ConfigError(
                    f"{run_base} holds a run of another sweep ({previous}); choose a new --out "
                    f"directory or delete the old one."
                )
            run_dir, metrics = _read_result(run_base)
            if metrics:
                results[i] = RunResult(
                    i, run_id, params, "reused", 0, run_dir, metrics, run_base / "output.log"
                )
                continue
        run_base.mkdir(parents=True, exist_ok=True)
        params_file.write_text(json.dumps(params, indent=1) + "\n", encoding="utf-8")
        cmd = [
            *base_cmd,
            *set_arguments(params),
            "--set",
            f"run.dir={run_base}",
            "--set",
            f"run.name={run_id}",
            "--set",
            "run.quiet=true",
        ]
        (run_base / "command.txt").write_text(shlex.join(cmd) + "\n", encoding="utf-8")
        pending.append((i, run_id, cmd))
    if len(results):
        notify(f"{len(results)} of {len(plan)} runs already finished in {out}; reusing them.")

    running: list[tuple[int, str, subprocess.Popen[bytes], Any, float]] = []
    try:
        while pending or running:
            while pending and len(running) < workers:
                i, run_id, cmd = pending.pop(0)
                log = (out / run_id / "output.log").open("wb")
                notify(f"[{i + 1}/{len(plan)}] {run_id}: {_describe(plan[i])}")
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=run_env)
                running.append((i, run_id, proc, log, time.monotonic()))
            still = []
            for i, run_id, proc, log, started in running:
                code = proc.poll()
                if code is None:
                    still.append((i, run_id, proc, log, started))
                    continue
                log.close()
                run_dir, metrics = _read_result(out / run_id)
                status = "ok" if code == 0 else "failed"
                results[i] = RunResult(
                    i,
                    run_id,
                    plan[i],
                    status,
                    code,
                    run_dir,
                    metrics,
                    out / run_id / "output.log",
                    time.monotonic() - started,
                )
                notify(
                    f"{run_id} {status}"
                    + (f" (exit {code}, see {out / run_id / 'output.log'})" if code else "")
                )
            running = still
            if running:
                time.sleep(poll_s)
    except BaseException:
        for _i, _run_id, proc, _log, _started in running:
            proc.terminate()
        for _i, _run_id, proc, log, _started in running:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
        raise
    return [results[i] for i in sorted(results)]


# summary.json keys shown next to the metrics (seqlab fit's layout), and their column names
_EXTRA_COLUMNS = {
    "result.baseline": "baseline",
    "parameters.total": "parameters",
    "wall_time_s": "wall_time_s",
}


def metric_value(metrics: Mapping[str, Any], name: str) -> Any:
    """A run's value of ``name``: the flattened key itself, or ``metrics.<name>`` (seqlab fit's layout)."""
    return metrics[name] if name in metrics else metrics.get(f"metrics.{name}")


def _metric_columns(results: Sequence[RunResult], metric: str | None) -> list[tuple[str, str]]:
    """``(column, flattened key)`` pairs: ``metrics.*`` of seqlab fit's summary.json plus a few
    extras, or every numeric value of a summary laid out otherwise; the sweep's metric first."""
    keys: list[str] = []
    for r in results:
        keys += [k for k in r.metrics if k not in keys]
    if any(k.startswith("metrics.") for k in keys):
        cols = sorted((k.removeprefix("metrics."), k) for k in keys if k.startswith("metrics."))
        cols += [(name, k) for k, name in _EXTRA_COLUMNS.items() if k in keys]
    else:
        numeric = {
            k
            for r in results
            for k, v in r.metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        cols = sorted((k, k) for k in keys if k in numeric)
    if metric is not None:
        first = [c for c in cols if metric in c]
        cols = first[:1] + [c for c in cols if c not in first[:1]]
    return cols


def best_run(results: Sequence[RunResult], metric: Mapping[str, Any] | None) -> RunResult | None:
    """The run with the best value of the sweep's metric (None without a metric or values)."""
    if not metric:
        return None
    name = metric["name"]
    scored = [
        r
        for r in results
        if isinstance(metric_value(r.metrics, name), int | float)
        and math.isfinite(metric_value(r.metrics, name))
    ]
    if not scored:
        return None
    pick = min if metric.get("goal", "minimize") == "minimize" else max
    return pick(scored, key=lambda r: metric_value(r.metrics, name))


def summary_rows(
    spec: SweepSpec, results: Sequence[RunResult]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The summary table: columns and one row per run (swept parameters, metrics, run dir)."""
    metric_name = spec.metric["name"] if spec.metric else None
    params = spec.swept_keys or list(spec.parameters)
    metrics = _metric_columns(results, metric_name)
    columns = ["run", "status", *params, *[c for c, _ in metrics], "seconds", "run_dir"]
    rows = []
    for r in results:
        row: dict[str, Any] = {"run": r.run_id, "status": r.status}
        row.update({k: _plain(r.params.get(k)) for k in params})
        row.update({c: r.metrics.get(k) for c, k in metrics})
        row["seconds"] = round(r.seconds, 1)
        row["run_dir"] = str(r.run_dir) if r.run_dir else ""
        rows.append(row)
    return columns, rows


def _plain(value: Any) -> Any:
    """Lists and mappings as JSON text (CSV and Markdown cells hold strings)."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def _md(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def write_summary(
    spec: SweepSpec, results: Sequence[RunResult], out_dir: str | Path
) -> tuple[Path, Path]:
    """Write ``summary.csv`` and ``summary.md`` (best run marked) into ``out_dir``."""
    out = Path(out_dir)
    columns, rows = summary_rows(spec, results)
    csv_path, md_path = out / "summary.csv", out / "summary.md"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    best = best_run(results, spec.metric)
    lines = [
        f"# Sweep {spec.name}",
        "",
        f"{len(results)} runs, method {spec.method}"
        + (f", metric {spec.metric['name']} ({spec.metric['goal']})" if spec.metric else "")
        + ".",
        "",
    ]
    if best is not None:
        swept = {k: best.params[k] for k in spec.swept_keys} or best.params
        lines += [
            f"Best: **{best.run_id}** ({_describe(swept)}), "
            f"{spec.metric['name']} = {_md(metric_value(best.metrics, spec.metric['name']))}.",
            "",
        ]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for r, row in zip(results, rows, strict=True):
        cells = [_md(row[c]) for c in columns]
        if best is not None and r is best:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, md_path


# -- W&B ----------------------------------------------------------------------------------------
def wandb_sweep_config(spec: SweepSpec) -> dict[str, Any]:
    """The configuration sent to ``wandb.sweep``: the file, with seqlab's default command."""
    config = {k: v for k, v in spec.raw.items() if k not in ("project", "entity")}
    config.setdefault("name", spec.name)
    config.setdefault("method", spec.method)
    config.setdefault("command", list(DEFAULT_WANDB_COMMAND))
    return config


def register_sweep(
    spec: SweepSpec,
    *,
    project: str | None = None,
    entity: str | None = None,
    mode: str | None = None,
) -> tuple[str, str]:
    """Register the sweep with W&B; returns ``(sweep_id, "wandb agent ENTITY/PROJECT/ID")``.

    Raises ConfigError when W&B is not online (no credentials, no network, offline or
    disabled mode): a sweep lives on the W&B server.
    """
    from seqlab.tracking.wandb_mode import resolve_wandb_mode

    resolved, reason = resolve_wandb_mode(mode)
    if resolved != "online":
        raise ConfigError(
            f"registering a W&B sweep needs a W&B account and network, but {reason.rstrip('.')}. "
            f"Log in with `wandb login`, or run the sweep here with seqlab sweep --local."
        )
    import wandb

    project = project or spec.raw.get("project") or os.environ.get("WANDB_PROJECT") or "seqlab"
    entity = entity or spec.raw.get("entity") or os.environ.get("WANDB_ENTITY")
    sweep_id = wandb.sweep(sweep=wandb_sweep_config(spec), project=project, entity=entity)
    path = "/".join(p for p in (entity, project, sweep_id) if p)
    return sweep_id, f"wandb agent {path}"


__all__ = [
    "DEFAULT_WANDB_COMMAND",
    "RunResult",
    "SweepSpec",
    "best_run",
    "check_runs",
    "default_command",
    "expand_grid",
    "flatten",
    "format_value",
    "load_sweep",
    "metric_value",
    "parse_sweep",
    "plan_runs",
    "register_sweep",
    "run_local",
    "sample_random",
    "set_arguments",
    "summary_rows",
    "wandb_sweep_config",
    "write_summary",
]

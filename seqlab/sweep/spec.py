"""Sweep files: reading and checking a W&B sweep configuration over seqlab's config keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.errors import ConfigError, did_you_mean
from seqlab.validation import positive_int

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
    if run_cap is not None:
        positive_int(f"{source}: run_cap", run_cap)
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


__all__ = [
    "DEFAULT_WANDB_COMMAND",
    "DISTRIBUTIONS",
    "LOCAL_METHODS",
    "METHODS",
    "TOP_LEVEL_KEYS",
    "SweepSpec",
    "load_sweep",
    "parse_sweep",
]

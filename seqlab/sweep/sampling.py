"""The runs of a local sweep: the grid, random draws, and their ``--set`` arguments."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from seqlab.errors import ConfigError
from seqlab.sweep.spec import LOCAL_METHODS, SweepSpec
from seqlab.validation import positive_int

if TYPE_CHECKING:
    from seqlab.config import Config


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
    if count is not None:
        positive_int("--count", count)
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


def check_runs(
    runs: Iterable[Mapping[str, Any]], base: Config | None = None, source: str = "the sweep file"
) -> None:
    """Resolve every run's config now (over ``base``, the sweep's base config, when given),
    so a bad key or value fails before anything runs; errors name ``source``."""
    from seqlab.config import resolve_config

    for i, params in enumerate(runs):
        try:
            resolve_config(
                base=base,
                overrides={k: yaml.safe_load(format_value(v)) for k, v in params.items()},
                override_source=source,
            )
        except ConfigError as exc:
            raise ConfigError(f"sweep run {i} ({describe_params(params)}): {exc}") from None


def describe_params(params: Mapping[str, Any]) -> str:
    """``model.cell=gru, optim.lr=0.003``."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in params.items())


__all__ = [
    "check_runs",
    "describe_params",
    "expand_grid",
    "format_value",
    "plan_runs",
    "sample_random",
    "set_arguments",
]

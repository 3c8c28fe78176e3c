"""Search spaces: which config keys a tune varies, and over what.

A space maps seqlab's dotted config keys (the same keys as ``--set``) to a dimension,
written in YAML::

    optim.lr: {low: 1.0e-4, high: 1.0e-2, log: true}   # a float, log-uniform
    model.num_layers: {low: 1, high: 3}                # integers: both ends integers
    model.dropout: {low: 0.0, high: 0.5, step: 0.1}    # a float on a grid
    model.hidden_size: {values: [64, 128, 256]}        # one of these
    trainer.max_epochs: {value: 50}                    # fixed for every trial

Every key is checked against the config schema (an unknown one is named with a "did you
mean"), and every value a dimension can take (both ends of a range, every choice) is
applied to the base config and validated, so a dropout of 1.5 fails before any trial
runs. Mapping keys take their entries: ``model.cell_options.forget_bias``,
``task.options.seq_len``. ``model.cell`` is not a dimension: ``--cells`` tunes each cell
in its own study, for a fair "which cell" answer.

Defaults come per kind of task (:func:`default_space`); a space file replaces them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seqlab.config import Config, config_keys, resolve_config
from seqlab.errors import ConfigError, did_you_mean

#: Mapping-valued keys: their entries (``task.options.seq_len``) may be dimensions.
MAPPING_KEYS = ("task.options", "model.cell_options")
#: Keys tune sets itself for every trial.
OWNED_KEYS = ("model.cell", "run.dir", "run.name", "run.quiet", "run.resume", "trainer.test")
DIMENSION_FIELDS = frozenset({"low", "high", "log", "step", "values", "value"})


@dataclass(frozen=True)
class Dimension:
    """One key of a search space.

    Attributes:
        key: the dotted config key (``optim.lr``).
        low, high: the range of a numeric dimension (ints when both are ints).
        log: sample the range log-uniformly (``low`` > 0).
        step: the grid of the range (``None``: continuous floats, or every integer).
        values: the choices of a categorical dimension (``value:`` gives one: fixed).
    """

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    values: tuple[Any, ...] = ()

    @property
    def fixed(self) -> bool:
        return len(self.values) == 1

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def candidates(self) -> list[Any]:
        """The values to check against the schema: both ends of a range, every choice."""
        return list(self.values) if self.values else [self.low, self.high]

    def suggest(self, trial: Any) -> Any:
        """This dimension's value for an Optuna ``trial`` (a fixed value is not suggested)."""
        if self.fixed:
            return self.values[0]
        if self.values:
            return trial.suggest_categorical(self.key, list(self.values))
        if self.is_int:
            step = int(self.step) if self.step else 1
            return trial.suggest_int(self.key, self.low, self.high, step=step, log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def holds(self, value: Any) -> bool:
        """Whether ``value`` is one this dimension can take (so a trial may be given it)."""
        if self.values:
            return any(value == v and type(value) is type(v) for v in self.values)
        if not _number(value) or not self.low <= value <= self.high:
            return False
        if self.is_int:
            return isinstance(value, int) and (value - self.low) % int(self.step or 1) == 0
        return self.step is None or math.isclose(
            (value - self.low) / self.step, round((value - self.low) / self.step)
        )

    def describe(self) -> str:
        if self.values:
            return f"{self.values[0]!r}" if self.fixed else f"one of {list(self.values)}"
        scale = ", log" if self.log else (f", step {self.step}" if self.step else "")
        return f"[{self.low}, {self.high}{scale}]"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _range(key: str, spec: Mapping[str, Any], where: str) -> Dimension:
    low, high = spec.get("low"), spec.get("high")
    if not (_number(low) and _number(high)) or low > high:
        raise ConfigError(
            f"{where}: {key} needs numbers low ≤ high, got low={low!r}, high={high!r}; for "
            f"example {key}: {{low: 1.0e-4, high: 1.0e-2, log: true}}."
        )
    log, step = bool(spec.get("log", False)), spec.get("step")
    if log and low <= 0:
        raise ConfigError(f"{where}: {key} has log: true, so low must be > 0 (got {low!r}).")
    if step is not None and (not _number(step) or step <= 0 or log):
        raise ConfigError(
            f"{where}: {key}: step must be a positive number and cannot go with log: true "
            f"(got step={step!r})."
        )
    return Dimension(key, low=low, high=high, log=log, step=step)


def parse_dimension(key: str, spec: Any, where: str) -> Dimension:
    """One entry of a space (``spec`` as read from YAML)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}: {key} must map to {{low, high[, log, step]}}, {{values: [...]}} or "
            f"{{value: V}}, got {spec!r}; for example {key}: {{values: [{spec!r}]}}."
        )
    unknown = sorted(set(spec) - DIMENSION_FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}: {key} has an unknown field {unknown[0]!r}."
            f"{did_you_mean(str(unknown[0]), sorted(DIMENSION_FIELDS))} A dimension is "
            f"{{low, high[, log, step]}}, {{values: [...]}} or {{value: V}}."
        )
    if "value" in spec:
        return Dimension(key, values=(spec["value"],))
    if "values" in spec:
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: {key}: values must be a non-empty list, got {values!r}.")
        return Dimension(key, values=tuple(values))
    return _range(key, spec, where)


def _check_key(key: str, schema: type[Config], where: str) -> None:
    keys = [k.key for k in config_keys(schema)]
    if key in OWNED_KEYS:
        raise ConfigError(
            f"{where}: {key} is set by seqlab tune itself (cells: --cells; run directories: "
            f"--out); remove it from the space."
        )
    if key in keys and key not in MAPPING_KEYS:
        return
    if any(key.startswith(f"{m}.") and len(key) > len(m) + 1 for m in MAPPING_KEYS):
        return
    raise ConfigError(
        f"{where}: {key!r} is not a config key.{did_you_mean(key, keys)} Space keys are "
        f"seqlab's dotted config keys (seqlab fit --help lists them), e.g. optim.lr; "
        f"entries of {' and '.join(MAPPING_KEYS)} as {MAPPING_KEYS[0]}.seq_len."
    )


def parse_space(
    data: Any, where: str = "search space", schema: type[Config] = Config
) -> list[Dimension]:
    """The dimensions of a space read from YAML, keys checked against ``schema``."""
    if data is None or (isinstance(data, Mapping) and not data):
        raise ConfigError(
            f"{where} is empty: give at least one key, e.g. optim.lr: "
            f"{{low: 1.0e-4, high: 1.0e-2, log: true}} (or leave out --space for the "
            f"task's default space)."
        )
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must map config keys to dimensions, got {type(data).__name__}.")
    dims = []
    for key, spec in data.items():
        _check_key(str(key), schema, where)
        dims.append(parse_dimension(str(key), spec, where))
    if all(d.fixed for d in dims):
        raise ConfigError(
            f"{where} fixes every key ({', '.join(d.key for d in dims)}): there is nothing to "
            f"search. Give at least one range or list of values."
        )
    return dims


def load_space(path: str | Path, schema: type[Config] = Config) -> list[Dimension]:
    """The space of a YAML file (see the module docstring)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"--space {str(path)!r} is not a file; pass a YAML search space.")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"search space {str(path)!r} is not valid YAML: {exc}") from None
    return parse_space(data, f"search space {str(path)!r}", schema)


def check_space(dims: list[Dimension], base: Config, where: str = "search space") -> None:
    """Apply every value each dimension can take to ``base`` and validate the config."""
    for dim in dims:
        for value in dim.candidates():
            try:
                resolve_config(overrides={dim.key: value}, base=base).validate()
            except ConfigError as exc:
                raise ConfigError(
                    f"{where}: {dim.key}={value!r} is not a valid value: {exc}"
                ) from None


def space_as_dict(dims: list[Dimension]) -> dict[str, dict[str, Any]]:
    """The space in its YAML form (stored with the study, printed by the CLI)."""
    out: dict[str, dict[str, Any]] = {}
    for d in dims:
        if d.values:
            out[d.key] = {"value": d.values[0]} if d.fixed else {"values": list(d.values)}
        else:
            spec: dict[str, Any] = {"low": d.low, "high": d.high}
            if d.log:
                spec["log"] = True
            if d.step:
                spec["step"] = d.step
            out[d.key] = spec
    return out


_COMMON: dict[str, Any] = {
    "optim.lr": {"low": 3e-4, "high": 1e-2, "log": True},
    "model.hidden_size": {"values": [32, 64, 128, 256]},
    "model.dropout": {"low": 0.0, "high": 0.4},
}
# UCR-style classification: small training sets; the frontend (LSTM-FCN's convolutional
# branch) and pooling matter as much as the cell. The batch size and the training budget
# are not searched: they come from the base config, i.e. from the task's recipe where it
# has one (UCR scales both to the data set; a batch of 64 on 36 series would make every
# epoch one step and cut a trial's training to a few dozen updates).
_CLASSIFICATION: dict[str, Any] = {
    **_COMMON,
    "model.num_layers": {"values": [1, 2]},
    "model.bidirectional": {"values": [False, True]},
    "model.pooling": {"values": ["last", "mean", "max"]},
    "model.frontend": {"values": ["none", "fcn"]},
    "optim.weight_decay": {"values": [0.0, 1e-5, 1e-4, 1e-3]},
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "classification": _CLASSIFICATION,
    "regression": {**_COMMON, "model.num_layers": {"values": [1, 2]}},
    "tagging": {**_COMMON, "model.bidirectional": {"values": [False, True]}},
    "language_model": {**_COMMON, "model.hidden_size": {"values": [128, 256, 512]}},
    "seq2seq": {**_COMMON, "model.attention": {"values": ["none", "additive", "general"]}},
}


def default_space(output_kind: str, input_kind: str = "real") -> dict[str, Any]:
    """The default space (YAML form) for a task whose models predict ``output_kind`` from
    ``input_kind`` inputs (the convolutional frontend takes real-valued series only)."""
    space = dict(_DEFAULTS.get(output_kind, _COMMON))
    if input_kind != "real":
        space.pop("model.frontend", None)
    return space


__all__ = [
    "MAPPING_KEYS",
    "OWNED_KEYS",
    "Dimension",
    "check_space",
    "default_space",
    "load_space",
    "parse_dimension",
    "parse_space",
    "space_as_dict",
]

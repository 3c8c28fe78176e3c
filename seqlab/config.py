"""The experiment configuration: nested dataclasses whose type hints are the schema.

Layers, lowest first: the defaults written here < a YAML config file (``--config``) <
command-line flags (``--hidden-size 64``) < dotted overrides (``--set optim.lr=3e-4``).
Every layer is checked as it is applied: an unknown key is named with a suggestion and
the keys that exist, a value of the wrong type is named with the type it must have.

Options belong to what they configure: when a layer changes ``task.name`` without giving
``task.options``, the options of the lower layers (meant for the other task) are dropped;
``model.cell`` and ``model.cell_options`` behave the same way.

>>> cfg = resolve_config(overrides=["model.hidden_size=64", "optim.lr=3e-4"])
>>> cfg.model.hidden_size, cfg.optim.lr
(64, 0.0003)
>>> Config.from_yaml(cfg.to_yaml()) == cfg
True
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from seqlab.errors import ConfigError, did_you_mean

# The default job of `seqlab fit`: the adding problem at T=50 with 5,000 training
# sequences, 10 epochs. The default GRU (128 units, Adam 3e-3) drives the test MSE from the
# 0.167 baseline to 0.0009-0.0023 (seeds 0-3) in about 40 s on 2 idle CPU cores
# (docs/training.md has the measurements).
DEFAULT_TASK = "adding"
DEFAULT_TASK_OPTIONS: dict[str, Any] = {
    "seq_len": 50,
    "n_train": 5000,
    "n_val": 1000,
    "n_test": 1000,
}


@dataclass
class ModelConfig:
    """The network: a recurrent stack of any registered cell plus a task-specific head.

    Attributes:
        cell: registry name of the recurrent cell (``seqlab cells`` lists them).
        hidden_size: units per layer and direction.
        num_layers: stacked recurrent layers.
        bidirectional: add a backward-running cell per layer (not with language models).
        dropout: dropout between stacked layers and before the output head.
        recurrent_dropout: variational dropout on the state fed back at each step.
        zoneout: probability of keeping each state unit at its previous value per step.
        cell_options: keyword options of the cell (e.g. ``forget_bias: 0`` for lstm).
        pooling: how a sequence becomes one vector for classification and regression:
            the output at the last valid step, or the mean or max over valid steps.
        embedding_size: width of the token embedding for token inputs (default:
            ``hidden_size``).
        tie_weights: language models: share the embedding matrix with the softmax layer.
        tbptt_steps: language models: split each batch into chunks of this many steps,
            one optimiser step per chunk, state carried across chunks (``None``: one
            chunk per batch).
        fused: use a cell's fused ``forward_sequence`` when it has one.
    """

    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    cell_options: dict[str, Any] = field(default_factory=dict)
    pooling: Literal["last", "mean", "max"] = "last"
    embedding_size: int | None = None
    tie_weights: bool = False
    tbptt_steps: int | None = None
    fused: bool = True

    def validate(self) -> None:
        _positive("model.hidden_size", self.hidden_size)
        _positive("model.num_layers", self.num_layers)
        for key in ("dropout", "recurrent_dropout", "zoneout"):
            _probability(f"model.{key}", getattr(self, key))
        if self.embedding_size is not None:
            _positive("model.embedding_size", self.embedding_size)
        if self.tbptt_steps is not None:
            _positive("model.tbptt_steps", self.tbptt_steps)


@dataclass
class TaskConfig:
    """The data: a registered task and its options (``seqlab tasks`` lists them).

    Attributes:
        name: registry name of the task.
        options: keyword options of the task (``seq_len``, ``path``, ``dataset``...).
        batch_size: sequences per batch (per device under DDP).
        num_workers: DataLoader worker processes (0: load in the main process).
    """

    name: str = DEFAULT_TASK
    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TASK_OPTIONS))
    batch_size: int = 64
    num_workers: int = 0

    def validate(self) -> None:
        if not self.name:
            raise ConfigError(
                "task.name is empty; name a task, e.g. --task adding (seqlab tasks lists them)."
            )
        _positive("task.batch_size", self.batch_size)
        _at_least("task.num_workers", self.num_workers, 0)


@dataclass
class OptimConfig:
    """The optimiser, its learning-rate schedule and gradient clipping.

    Attributes:
        name: adam, adamw, sgd or rmsprop.
        lr: learning rate (the peak rate with a schedule).
        weight_decay: L2 penalty (decoupled for adamw), applied to weight matrices only,
            not to biases or other vectors.
        momentum: momentum of sgd and rmsprop.
        scheduler: ``none``; ``cosine`` annealing from ``lr`` to ``min_lr`` over the run's
            optimiser steps; ``plateau``: multiply the rate by ``plateau_factor`` when the
            task's validation metric has not improved for ``plateau_patience`` validations.
        min_lr: the final rate of the cosine schedule.
        plateau_factor: the factor of the plateau schedule.
        plateau_patience: validations without improvement before the plateau schedule cuts.
        gradient_clip: clip the global gradient norm to this value (``None``: no clipping).
    """

    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: Literal["none", "cosine", "plateau"] = "none"
    min_lr: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    gradient_clip: float | None = 1.0

    def validate(self) -> None:
        _positive("optim.lr", self.lr)
        _at_least("optim.weight_decay", self.weight_decay, 0)
        _at_least("optim.momentum", self.momentum, 0)
        _at_least("optim.min_lr", self.min_lr, 0)
        if not 0 < self.plateau_factor < 1:
            raise ConfigError(
                f"optim.plateau_factor must lie in (0, 1), got {self.plateau_factor!r}."
            )
        _at_least("optim.plateau_patience", self.plateau_patience, 0)
        if self.gradient_clip is not None:
            _positive("optim.gradient_clip", self.gradient_clip)


PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64")


@dataclass
class TrainerConfig:
    """How long, where and how reproducibly to train (Lightning's Trainer arguments).

    Attributes:
        max_epochs: stop after this many epochs (``None``: only ``max_steps`` stops).
        max_steps: stop after this many optimiser steps (-1: no limit).
        accelerator: ``auto``, ``cpu``, ``gpu``/``cuda`` or ``mps``.
        devices: devices per node: a count, ``auto``, or a list such as ``"0,1"``.
        strategy: ``auto``, ``ddp``, ``ddp_spawn``, ``fsdp``... (Lightning's names).
        num_nodes: machines taking part (multi-node: see docs/training.md).
        precision: ``32-true``, ``16-mixed``, ``bf16-mixed``...
        seed: seeds data generation, initialisation, shuffling and dropout.
        val_check_interval: validate every this fraction of an epoch (float) or every
            this many training batches (int); ``None`` means once per epoch.
        check_val_every_n_epoch: validate every this many epochs (``None``: by batches only).
        limit_train_batches: batches per training epoch (fraction or count).
        limit_val_batches: batches per validation (fraction or count).
        limit_test_batches: batches of the final test (fraction or count).
        num_sanity_val_steps: validation batches run before training to catch errors.
        deterministic: ask torch for deterministic algorithms (slower on GPU).
        test: evaluate the best checkpoint on the task's test split at the end of fit.
        nonfinite_loss: what a NaN or infinite training loss does: ``stop`` (the default)
            ends the run with an error naming the step, before that step's update, so no
            checkpoint ever holds the damage; ``skip`` drops the batch (no update) and goes on.
        max_consecutive_skips: with ``skip``, this many non-finite batches in a row stop
            the run anyway (a diverged model gives nothing else).
    """

    max_epochs: int | None = 10
    max_steps: int = -1
    accelerator: str = "auto"
    devices: int | str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    seed: int = 0
    val_check_interval: float | int | None = None
    check_val_every_n_epoch: int | None = 1
    limit_train_batches: float | int = 1.0
    limit_val_batches: float | int = 1.0
    limit_test_batches: float | int = 1.0
    num_sanity_val_steps: int = 2
    deterministic: bool = False
    test: bool = True
    nonfinite_loss: Literal["stop", "skip"] = "stop"
    max_consecutive_skips: int = 10

    def validate(self) -> None:
        if self.max_epochs is not None:
            _positive("trainer.max_epochs", self.max_epochs)
        if self.max_steps != -1:
            _positive("trainer.max_steps", self.max_steps)
        if self.max_epochs is None and self.max_steps == -1:
            raise ConfigError(
                "trainer.max_epochs is null and trainer.max_steps is -1: the run would never "
                "stop. Set one of them, e.g. --max-epochs 10 or --max-steps 1000."
            )
        if isinstance(self.devices, int) and self.devices != -1:
            _positive("trainer.devices", self.devices)
        _positive("trainer.num_nodes", self.num_nodes)
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"trainer.precision={self.precision!r} is not a precision Lightning knows."
                f"{did_you_mean(self.precision, PRECISIONS)} Choose one of: {', '.join(PRECISIONS)}."
            )
        _at_least("trainer.seed", self.seed, 0)
        if self.val_check_interval is not None:
            _positive("trainer.val_check_interval", self.val_check_interval)
        if self.check_val_every_n_epoch is not None:
            _positive("trainer.check_val_every_n_epoch", self.check_val_every_n_epoch)
        for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
            value = getattr(self, key)
            if isinstance(value, float) and not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"trainer.{key}={value!r}: a fraction must lie in [0, 1]; use an integer "
                    f"for a number of batches."
                )
            _at_least(f"trainer.{key}", value, 0)
        _at_least("trainer.num_sanity_val_steps", self.num_sanity_val_steps, -1)
        _positive("trainer.max_consecutive_skips", self.max_consecutive_skips)


@dataclass
class RunConfig:
    """Where a run is stored and how it talks.

    Attributes:
        dir: the directory holding run directories (each run: ``<dir>/<name>-<timestamp>``).
        name: the run's name (default: ``<task>-<cell>``).
        quiet: no progress bar and minimal output (for scripts).
        resume: a run directory to continue from its ``checkpoints/last.ckpt``.
    """

    dir: str = "runs"
    name: str | None = None
    quiet: bool = False
    resume: str | None = None


@dataclass
class LogConfig:
    """Metric logging and diagnostics. A local ``metrics.csv`` is always written.

    Attributes:
        logger: where metrics go next to the CSV record: ``wandb`` (Weights & Biases,
            offline automatically when no account is configured), ``tensorboard`` (needs
            the tensorboard extra), ``csv`` or ``none`` (the CSV record only).
        every_n_steps: log training metrics every this many steps.
        wandb_project: W&B project (default: ``WANDB_PROJECT`` or ``seqlab``).
        wandb_entity: W&B entity (user or team); ``None``: the account's default.
        wandb_group: W&B group (``seqlab compare`` sets it to the comparison's name).
        wandb_tags: W&B tags.
        wandb_mode: ``online``, ``offline`` or ``disabled``; ``None`` decides from
            ``WANDB_MODE`` and whether credentials exist (never prompting).
        log_model: upload the best and last checkpoints as W&B artifacts.
        grad_flow: gradient flow through time, e.g. ``every=50``: measure ‖∂L/∂h_t‖ for
            every step t every 50 training steps (``None``: off).
        samples: language models: log generated samples at each validation.
    """

    logger: Literal["wandb", "csv", "tensorboard", "none"] = "csv"
    every_n_steps: int = 50
    wandb_project: str | None = None
    wandb_entity: str | None = None
    wandb_group: str | None = None
    wandb_tags: list[str] = field(default_factory=list)
    wandb_mode: Literal["online", "offline", "disabled"] | None = None
    log_model: bool = False
    grad_flow: str | None = None
    samples: bool = True

    def validate(self) -> None:
        _positive("log.every_n_steps", self.every_n_steps)
        if self.grad_flow is not None:
            from seqlab.diagnostics.grad_flow import GradientFlow

            GradientFlow.from_option(self.grad_flow, Path("."))  # raises ConfigError if malformed


@dataclass
class Config:
    """A whole experiment: ``model``, ``task``, ``optim``, ``trainer``, ``run``, ``log``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    run: RunConfig = field(default_factory=RunConfig)
    log: LogConfig = field(default_factory=LogConfig)

    # -- conversions ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts of YAML scalars (what ``config.yaml`` and checkpoints hold)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> Config:
        """Build and check a config from nested dicts; missing keys keep their defaults."""
        merged = _merge(Config().to_dict(), data, source)
        return _build(cls, merged, "", source)

    @classmethod
    def from_yaml(cls, text: str, source: str = "YAML") -> Config:
        return cls.from_dict(parse_yaml(text, source), source)

    @classmethod
    def load(cls, path: str | Path) -> Config:
        return cls.from_dict(read_yaml(path), str(path))

    def validate(self) -> Config:
        """Check value ranges of every section (types are checked when built)."""
        for section in dataclasses.fields(self):
            check = getattr(getattr(self, section.name), "validate", None)
            if check is not None:
                check()
        return self

    def replace(self, overrides: Iterable[str] | Mapping[str, Any]) -> Config:
        """A copy with dotted overrides applied (``["optim.lr=0.01"]`` or ``{"optim.lr": 0.01}``)."""
        items = (
            parse_overrides(overrides) if not isinstance(overrides, Mapping) else dict(overrides)
        )
        data = _apply_dotted(self.to_dict(), items, "--set")
        return _build(Config, data, "", "--set").validate()


# -- building and checking ----------------------------------------------------------------------
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is dict:
        return "a mapping"
    if origin is list:
        return "a list"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


class _Mismatch(Exception):
    pass


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """``value`` checked against (and gently converted to) the type ``hint``."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None:
            if type(None) in args:
                return None
            raise _Mismatch
        # Exact type matches first, so that 5 stays an int in `float | int`.
        for arg in args:
            if arg in (int, float, str, bool) and type(value) is arg:
                return value
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, source)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        choices = typing.get_args(hint)
        if value in choices and type(value) is type(choices[0]):
            return value
        hint_text = did_you_mean(str(value), [str(c) for c in choices])
        raise ConfigError(
            f"{key}={value!r} (from {source}) is not allowed.{hint_text} "
            f"Choose one of: {', '.join(str(c) for c in choices)}."
        )
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise _Mismatch
        return _build(hint, value, f"{key}.", source)
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise _Mismatch
        return copy.deepcopy(dict(value))
    if origin is list:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise _Mismatch
        (item,) = typing.get_args(hint) or (Any,)
        return [_coerce(v, item, key, source) for v in value]
    if value is None:
        raise _Mismatch
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if hint is int:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _Mismatch
    if hint is float:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _Mismatch
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _Mismatch
    raise ConfigError(f"{key}: unsupported type {hint!r} in the config schema.")  # a bug here


def _build(cls: type, data: Mapping[str, Any], prefix: str, source: str) -> Any:
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    _check_keys(data, names, prefix, source)
    kwargs = {}
    for name in names:
        if name not in data:
            continue
        key = f"{prefix}{name}"
        try:
            kwargs[name] = _coerce(data[name], hints[name], key, source)
        except _Mismatch:
            raise ConfigError(
                f"{key}={data[name]!r} (from {source}) has the wrong type: it must be "
                f"{_type_name(hints[name])}."
            ) from None
    return cls(**kwargs)


def _check_keys(data: Mapping[str, Any], names: list[str], prefix: str, source: str) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{prefix.rstrip('.') or 'the config'} (from {source}) must be a mapping of keys to "
            f"values, got {type(data).__name__}."
        )
    unknown = [k for k in data if k not in names]
    if unknown:
        first = str(unknown[0])
        full = ", ".join(f"'{prefix}{k}'" for k in unknown)
        section = f"'{prefix.rstrip('.')}'" if prefix else "the top level"
        hint = did_you_mean(first, names)
        if hint:
            hint = hint.replace("'", f"'{prefix}", 1) if prefix else hint
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {full} (from {source}).{hint} "
            f"The keys of {section} are: {', '.join(names)}."
        )


# -- layers ----------------------------------------------------------------------------------
_OWNED_OPTIONS = {("task", "name"): "options", ("model", "cell"): "cell_options"}


def _merge(
    base: dict[str, Any], layer: Mapping[str, Any], source: str, *, merge_dicts: bool = False
) -> dict[str, Any]:
    """``layer`` (nested dicts) over ``base``.

    A file states whole mappings (``task.options`` in a YAML replaces the lower layers'
    options); dotted keys (``merge_dicts``) add to them key by key.
    """
    if not isinstance(layer, Mapping):
        raise ConfigError(
            f"{source} must hold a mapping of sections (model, task, optim, trainer, run, log), "
            f"got {type(layer).__name__}."
        )
    _check_keys(layer, list(base), "", source)
    out = copy.deepcopy(base)
    for section, values in layer.items():
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"section '{section}' (from {source}) must be a mapping of keys to values, "
                f"got {values!r}."
            )
        _check_keys(values, list(out[section]), f"{section}.", source)
        for key, value in values.items():
            owned = _OWNED_OPTIONS.get((section, key))
            if owned is not None and value != out[section][key]:
                out[section][owned] = {}  # the lower layers' options were for another one
        for key, value in values.items():
            if (
                merge_dicts
                and isinstance(out[section].get(key), dict)
                and isinstance(value, Mapping)
            ):
                out[section][key] = {**out[section][key], **copy.deepcopy(dict(value))}
            else:
                out[section][key] = copy.deepcopy(value)
    return out


def _apply_dotted(base: dict[str, Any], items: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Apply ``{"a.b": v, "task.options.seq_len": 200}`` as one layer over ``base``."""
    layer: dict[str, Any] = {}
    for dotted, value in items.items():
        parts = [p for p in str(dotted).split(".")]
        if len(parts) < 2 or not all(parts):
            raise ConfigError(
                f"{source} key {dotted!r} must be SECTION.KEY (e.g. optim.lr=3e-4 or "
                f"task.options.seq_len=200); the sections are: {', '.join(base)}."
            )
        section, key, rest = parts[0], parts[1], parts[2:]
        _check_keys({section: None}, list(base), "", source)
        _check_keys({key: None}, list(base[section]), f"{section}.", source)
        target = layer.setdefault(section, {})
        if rest:
            if not isinstance(base[section][key], dict):
                raise ConfigError(
                    f"{source} key {dotted!r}: {section}.{key} is not a mapping, so it has no "
                    f"sub-key {'.'.join(rest)!r}."
                )
            node = target.setdefault(key, {})
            for part in rest[:-1]:
                node = node.setdefault(part, {})
            node[rest[-1]] = value
        else:
            target[key] = value
    return _merge(base, layer, source, merge_dicts=True)


def split_key_value(item: str) -> tuple[str, Any] | None:
    """``"a.b=1"`` → ``("a.b", 1)``, the value read as a YAML scalar; ``None`` if not KEY=VALUE.

    The one reader of every KEY=VALUE on the command line (``--set``, ``--task-opt``,
    ``--cell-opt``, compare's ``lstm[forget_bias=0]``); callers word their own error.
    """
    key, sep, raw = str(item).partition("=")
    if not sep or not key.strip():
        return None
    return key.strip(), _yaml_scalar(raw)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c.d=x"]`` → ``{"a.b": 1, "c.d": "x"}``; values are read as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        pair = split_key_value(item)
        if pair is None:
            raise ConfigError(
                f"--set expects SECTION.KEY=VALUE, got {item!r}; for example --set optim.lr=3e-4."
            )
        out[pair[0]] = pair[1]
    return out


def _yaml_scalar(raw: str) -> Any:
    if not raw.strip():
        return ""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{source} is not valid YAML{where}: {problem}. Fix the file (YAML mappings are "
            f"'key: value', nested by indentation with spaces)."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must hold a mapping of sections (model, task, optim, trainer, run, log), "
            f"got a {type(data).__name__}."
        )
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        raise ConfigError(
            f"config file {str(p)!r} {what}; pass a YAML file, e.g. --config configs/adding-t100.yaml."
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {str(p)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}). "
            f"Pass a YAML file (see configs/), or re-encode this one as UTF-8."
        ) from None
    return parse_yaml(text, f"config file {str(p)!r}")


def resolve_config(
    config_file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    *,
    base: Config | Mapping[str, Any] | None = None,
) -> Config:
    """The experiment config from its layers: ``base`` (default: the defaults) < the YAML
    ``config_file`` < ``flags`` (dotted keys, ``None`` values ignored) < dotted ``overrides``.
    """
    if isinstance(base, Config):
        data = base.to_dict()
    elif base is not None:
        data = _merge(Config().to_dict(), base, "base config")
    else:
        data = Config().to_dict()
    if config_file is not None:
        source = f"config file {str(config_file)!r}"
        data = _merge(data, read_yaml(config_file), source)
        _build(Config, data, "", source)  # type errors name the layer that made them
    if flags:
        given = {k: v for k, v in flags.items() if v is not None}
        data = _apply_dotted(data, given, "command-line flags")
        _build(Config, data, "", "command-line flags")
    if overrides:
        items = overrides if isinstance(overrides, Mapping) else parse_overrides(overrides)
        data = _apply_dotted(data, items, "--set")
    return _build(Config, data, "", "--set" if overrides else "the config").validate()


# -- range helpers ----------------------------------------------------------------------------
def _positive(key: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{key} must be positive, got {value!r}.")


def _at_least(key: str, value: float, minimum: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= minimum):
        raise ConfigError(f"{key} must be ≥ {minimum}, got {value!r}.")


def _probability(key: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value < 1.0):
        raise ConfigError(f"{key} must be a probability in [0, 1), got {value!r}.")


__all__ = [
    "DEFAULT_TASK",
    "DEFAULT_TASK_OPTIONS",
    "Config",
    "LogConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TaskConfig",
    "TrainerConfig",
    "parse_overrides",
    "parse_yaml",
    "read_yaml",
    "resolve_config",
    "split_key_value",
]

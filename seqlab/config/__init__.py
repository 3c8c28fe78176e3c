"""The experiment configuration: nested dataclasses whose type hints are the schema.

Layers, lowest first: the defaults written here < a YAML config file (``--config``) <
command-line flags (``--hidden-size 64``) < dotted overrides (``--set optim.lr=3e-4``).
Every layer is checked as it is applied: an unknown key is named with a suggestion and
the keys that exist, a value of the wrong type is named with the type it must have.

Options belong to what they configure: when a layer changes ``task.name`` without giving
``task.options``, the options of the lower layers (meant for the other task) are dropped;
``model.cell`` and ``model.cell_options`` behave the same way.

The parts: :mod:`~seqlab.config.sections` (the schema: one dataclass per section, each
key documented in its docstring), :mod:`~seqlab.config.coerce` (type checking),
:mod:`~seqlab.config.layers` (merging layers, YAML, KEY=VALUE),
:mod:`~seqlab.config.experiment` (:class:`Config` and :func:`resolve_config`) and
:mod:`~seqlab.config.keys` (the keys described, for the command line).

>>> cfg = resolve_config(overrides=["model.hidden_size=64", "optim.lr=3e-4"])
>>> cfg.model.hidden_size, cfg.optim.lr
(64, 0.0003)
>>> Config.from_yaml(cfg.to_yaml()) == cfg
True
"""

from __future__ import annotations

from seqlab.config.experiment import Config, resolve_config
from seqlab.config.keys import ConfigKey, attribute_docs, config_keys
from seqlab.config.layers import (
    parse_overrides,
    parse_scalar,
    parse_yaml,
    read_yaml,
    split_key_value,
)
from seqlab.config.sections import (
    DEFAULT_TASK,
    DEFAULT_TASK_OPTIONS,
    PRECISIONS,
    GradFlowOption,
    LogConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TaskConfig,
    TrainerConfig,
    parse_grad_flow,
)

__all__ = [
    "DEFAULT_TASK",
    "DEFAULT_TASK_OPTIONS",
    "PRECISIONS",
    "Config",
    "ConfigKey",
    "GradFlowOption",
    "LogConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TaskConfig",
    "TrainerConfig",
    "attribute_docs",
    "config_keys",
    "parse_grad_flow",
    "parse_overrides",
    "parse_scalar",
    "parse_yaml",
    "read_yaml",
    "resolve_config",
    "split_key_value",
]

"""Command-line options generated from the config schema, and the option blocks commands share.

Every key of the config schema (:mod:`seqlab.config.sections`) becomes options of each
command that takes a config, with the help text of its class docstring's ``Attributes:``
entry, grouped in one help panel per section: the short flags its dataclass field names in
its metadata (``--hidden-size``; booleans as switches, ``--bidirectional/--no-bidirectional``)
and a long flag of its dotted name taking a value (``--optim.weight_decay 0.01``,
``--model.fused false``; hidden from the help when the key has short flags). A command
declares none of this; it asks for the blocks it uses by the types of its parameters and
receives each block's values as one object::

    @schema_command("fit", ConfigBlock(exclude=("run.resume",), positional=True))
    def fit_cmd(args: ConfigArgs, resume: Path | None = typer.Option(None, "--resume")):
        cfg = args.resolve()  # defaults < --config < flags < --set / KEY=VALUE

Adding a field (with its docstring entry) to a config section adds its flag to every such
command. A flag the command declares itself wins over a generated short flag of the same
name (``sweep --seed`` seeds the random draws; ``--trainer.seed`` still sets the key);
``exclude`` drops the keys a command sets itself (compare's cell, seed and budget).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import typer
from rich.markup import escape

from seqlab.cli.app import app, parse_key_values
from seqlab.config import Config, ConfigKey, config_keys, parse_scalar, resolve_config
from seqlab.errors import ConfigError

CONFIG_PANEL = "Config"
RUNNER_PANEL = "Running"
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


# -- the options of one config key --------------------------------------------------------------
def _value_type(hint: Any) -> tuple[Any, Callable[[str], Any] | None, str | None] | None:
    """``(annotation, parser, metavar)`` of an option giving a value of type ``hint``;
    ``None`` for mappings (``--task-opt`` and ``--cell-opt`` set those). The config checks
    every value and names the key in its errors."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
    else:
        args = [hint]
    if len(args) > 1:
        if str in args:  # devices: a count or text; the config reads the text
            return str, None, None
        # 5 batches or a 0.5 fraction: read as YAML, so the type tells which
        return (Any, parse_scalar, "NUMBER") if set(args) <= {int, float} else None
    (one,) = args
    if one is bool:  # --model.fused false (the short flags of booleans are switches)
        return Any, parse_scalar, "BOOL"
    if one in (int, float, str):
        return one, None, None
    if typing.get_origin(one) is Literal:
        return str, None, "CHOICE"
    if typing.get_origin(one) is list:
        return str, None, "A,B,..."  # the config splits it at commas
    return None


def _help_text(key: ConfigKey) -> str:
    text = re.sub(r"``(.+?)``", r"\1", key.help) or key.key
    text = text[:1].upper() + text[1:]
    if typing.get_origin(key.hint) is Literal:
        choices = [str(c) for c in typing.get_args(key.hint)]
        if not all(c in text for c in choices):
            text += f" One of: {', '.join(choices)}."
    default = key.default
    if default is not None and default != [] and not isinstance(default, dict):
        text += f" Default: {str(default).lower() if isinstance(default, bool) else default}."
    return escape(text)


def _param_name(key: str, short: bool = False) -> str:
    return ("short__" if short else "cfg__") + key.replace(".", "__")


def _names(decl: str) -> list[str]:
    return [part for part in decl.split("/") if part.startswith("-")]


def _switch(hint: Any) -> bool:
    """Whether ``hint`` is a boolean (maybe optional): its short flags are on/off switches."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else ()
    return hint is bool or set(args) == {bool, type(None)}


@dataclass(frozen=True)
class KeyOptions:
    """The options that set one config key: its short flags from the field's metadata, shown
    in the help (booleans as switches: ``--bidirectional/--no-bidirectional``), and the long
    flag ``--<key> VALUE`` (hidden from the help when short flags are shown; the commands'
    epilog says every key has one)."""

    key: ConfigKey
    parameters: tuple[inspect.Parameter, ...]

    @classmethod
    def of(cls, key: ConfigKey, taken: set[str] = frozenset()) -> KeyOptions | None:
        """The options of ``key``, minus short flags the command has ``taken`` for itself
        (``None`` for keys holding mappings)."""
        kind = _value_type(key.hint)
        if kind is None:
            return None
        annotation, parser, metavar = kind
        common = {
            "help": _help_text(key),
            "rich_help_panel": f"{CONFIG_PANEL}: {key.section}",
            "show_default": False,
        }
        short = [f for f in key.flags if f not in taken]
        params = []
        if short and _switch(key.hint):
            decls = [f"{f}/--no-{f[2:]}" if f.startswith("--") else f for f in short]
            option = typer.Option(None, *decls, **common)
            params.append(_parameter(_param_name(key.key, True), bool | None, option))
        elif short:
            option = typer.Option(None, *short, parser=parser, metavar=metavar, **common)
            params.append(_parameter(_param_name(key.key, True), _optional(annotation), option))
        long_option = typer.Option(
            None, f"--{key.key}", hidden=bool(short), parser=parser, metavar=metavar, **common
        )
        params.append(_parameter(_param_name(key.key), _optional(annotation), long_option))
        return cls(key, tuple(params))

    def value(self, values: dict[str, Any]) -> Any:
        """The key's value from the command line (``None``: not given)."""
        given = [values[p.name] for p in self.parameters if values[p.name] is not None]
        if len({repr(v) for v in given}) > 1:
            flags = " and ".join(_flag_names(p)[0] for p in self.parameters)
            raise ConfigError(
                f"{flags} both set {self.key.key}, to different values; give one of them."
            )
        return given[0] if given else None


def _parameter(name: str, hint: Any, option: Any) -> inspect.Parameter:
    return inspect.Parameter(name, _KEYWORD, default=option, annotation=hint)


def _optional(annotation: Any) -> Any:
    return Any if annotation is Any else annotation | None


def _flag_names(param: inspect.Parameter) -> list[str]:
    return [n for decl in getattr(param.default, "param_decls", None) or () for n in _names(decl)]


# -- blocks -------------------------------------------------------------------------------------
def _option(name: str, hint: Any, default: Any, *decls: str, **kw: Any) -> inspect.Parameter:
    return _parameter(name, hint, typer.Option(default, *decls, **kw))


@dataclass(frozen=True)
class Bound:
    """A block's options for one command and schema, and how their values become the
    object the command receives."""

    parameters: list[inspect.Parameter]
    build: Callable[[dict[str, Any]], Any]


@dataclass
class ConfigArgs:
    """What a command's config options were given (only the flags given are in ``flags``)."""

    schema: type[Config] = Config
    config_file: Path | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    cell_options: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)

    @property
    def given(self) -> bool:
        """Whether any config option was given (else the config is the defaults)."""
        return any(
            (self.config_file, self.flags, self.task_options, self.cell_options, self.overrides)
        )

    def layer(self, *, cell_options: bool = True) -> dict[str, Any]:
        """The command-line flags as one layer of dotted keys (``--task-opt`` as
        ``task.options.*``; ``--cell-opt`` as ``model.cell_options.*`` unless not wanted)."""
        out = dict(self.flags)
        out.update({f"task.options.{k}": v for k, v in self.task_options.items()})
        if cell_options:
            out.update({f"model.cell_options.{k}": v for k, v in self.cell_options.items()})
        return out

    def use_presets(self) -> None:
        """Read ``--config NAME`` as a shipped preset, pointed at its shipped data (the
        task options given on the command line still win); idempotent."""
        from seqlab.cli.configs import preset_file, shipped_data

        self.config_file = preset_file(self.config_file)
        self.task_options = {
            **shipped_data(self.config_file, self.task_options),
            **self.task_options,
        }

    def resolve(self, base: Config | None = None, *, cell_options: bool = True) -> Config:
        """The config: ``base`` (default: the defaults) < --config (a file or a preset's
        name) < flags < --set."""
        self.use_presets()
        return resolve_config(
            self.config_file,
            self.layer(cell_options=cell_options),
            self.overrides or None,
            base=base,
            schema=self.schema,
        )


@dataclass(frozen=True)
class ConfigBlock:
    """``--config``, ``--set``, ``--task-opt``, ``--cell-opt``, the options of every config key
    not in ``exclude`` and (``positional``) KEY=VALUE arguments; the command receives
    :class:`ConfigArgs`."""

    exclude: tuple[str, ...] = ()
    positional: bool = False
    cell_opt_help: str = "Cell option KEY=VALUE (repeatable)."
    target: typing.ClassVar[type] = ConfigArgs

    def _shared(self) -> list[inspect.Parameter]:
        shared = (
            ("config_file", Path | None, "--config", "A YAML config (see configs/)."),
            ("set_", list[str] | None, "--set", "Override SECTION.KEY=VALUE (repeatable)."),
            ("task_opt", list[str] | None, "--task-opt", "Task option KEY=VALUE (repeatable)."),
            ("cell_opt", list[str] | None, "--cell-opt", self.cell_opt_help),
        )
        params = [
            _parameter(
                name, hint, typer.Option(None, flag, help=text, rich_help_panel=CONFIG_PANEL)
            )
            for name, hint, flag, text in shared
        ]
        if self.positional:
            argument = typer.Argument(
                None,
                help="KEY=VALUE overrides, the same as --set (W&B sweep agents pass these).",
                show_default=False,
                metavar="KEY=VALUE",
            )
            params.append(_parameter("overrides", list[str] | None, argument))
        return params

    def bind(self, schema: type[Config], taken: set[str]) -> Bound:
        keys = config_keys(schema)
        unknown = set(self.exclude) - {k.key for k in keys}
        if unknown:
            raise ValueError(f"exclude names keys the schema lacks: {sorted(unknown)}")
        generated = [KeyOptions.of(k, taken) for k in keys if k.key not in self.exclude]
        options = [o for o in generated if o is not None]

        def build(values: dict[str, Any]) -> ConfigArgs:
            flags = {o.key.key: o.value(values) for o in options}
            positional = [o.lstrip("-") for o in values.get("overrides") or []]
            return ConfigArgs(
                schema=schema,
                config_file=values["config_file"],
                flags={k: v for k, v in flags.items() if v is not None},
                task_options=parse_key_values(values["task_opt"], "--task-opt"),
                cell_options=parse_key_values(values["cell_opt"], "--cell-opt"),
                overrides=[*(values["set_"] or []), *positional],
            )

        return Bound([*self._shared(), *(p for o in options for p in o.parameters)], build)


@dataclass
class RunnerArgs:
    """How a command runs its jobs: ``workers`` at a time, with ``threads`` torch threads
    each, on a launcher (``local`` processes or ``slurm`` through submitit) with options."""

    workers: int = 1
    threads: int | None = None
    launcher: str = "local"
    launcher_options: dict[str, Any] = field(default_factory=dict)


_THREADS_HELP = "torch threads per run (default: cores / workers)."
_LAUNCHER_HELP = "Where runs go: processes here, or SLURM jobs through submitit."
_LAUNCHER_OPT_HELP = (
    "submitit option KEY=VALUE for --launcher slurm (repeatable), e.g. slurm_partition=gpu, "
    "timeout_min=60; cluster=local runs submitit's local executor."
)


@dataclass(frozen=True)
class RunnerBlock:
    """``--workers`` (at least ``min_workers``), ``--threads``, ``--launcher`` and
    ``--launcher-opt``; the command receives :class:`RunnerArgs`."""

    min_workers: int = 1
    workers_help: str = "Runs at a time, one process each."
    target: typing.ClassVar[type] = RunnerArgs

    def bind(self, schema: type[Config], taken: set[str]) -> Bound:
        from seqlab.jobs import LAUNCHERS, check_launcher

        panel = {"rich_help_panel": RUNNER_PANEL}
        launchers = f"[{'|'.join(LAUNCHERS)}]"
        params = [
            _option(
                "workers",
                int,
                1,
                "--workers",
                min=self.min_workers,
                help=self.workers_help,
                **panel,
            ),
            _option("threads", int | None, None, "--threads", help=_THREADS_HELP, **panel),
            _option(
                "launcher",
                str,
                "local",
                "--launcher",
                metavar=launchers,
                help=_LAUNCHER_HELP,
                **panel,
            ),
            _option(
                "launcher_opt",
                list[str] | None,
                None,
                "--launcher-opt",
                help=_LAUNCHER_OPT_HELP,
                **panel,
            ),
        ]

        def build(values: dict[str, Any]) -> RunnerArgs:
            options = parse_key_values(values["launcher_opt"], "--launcher-opt")
            check_launcher(values["launcher"], options)
            return RunnerArgs(values["workers"], values["threads"], values["launcher"], options)

        return Bound(params, build)


Block = ConfigBlock | RunnerBlock


# -- commands -----------------------------------------------------------------------------------
def with_options(
    func: Callable[..., Any], blocks: Sequence[Block], schema: type[Config] = Config
) -> Callable[..., Any]:
    """``func`` as a typer callback whose options are its own plus those of ``blocks``: each
    parameter of ``func`` annotated with a block's target type receives that block's value."""
    hints = typing.get_type_hints(func)
    own: list[inspect.Parameter] = []
    targets: dict[str, Block] = {}
    for p in inspect.signature(func).parameters.values():
        block = next((b for b in blocks if hints.get(p.name) is b.target), None)
        if block is not None:
            targets[p.name] = block
        else:
            own.append(p.replace(kind=_KEYWORD, annotation=hints.get(p.name, p.annotation)))
    if len(targets) != len(blocks):
        raise TypeError(f"{func.__name__}: one parameter per block's type is needed: {blocks}")
    taken = {n for p in own for n in _flag_names(p)}
    bound = {name: block.bind(schema, taken) for name, block in targets.items()}
    params = [*own, *(p for b in bound.values() for p in b.parameters)]
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise TypeError(f"{func.__name__}: parameter names collide: {sorted(names)}")

    def callback(**values: Any) -> Any:
        kwargs = {p.name: values[p.name] for p in own}
        for name, b in bound.items():
            kwargs[name] = b.build({p.name: values[p.name] for p in b.parameters})
        return func(**kwargs)

    returns = hints.get("return", inspect.Signature.empty)
    callback.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    callback.__annotations__ = {p.name: p.annotation for p in params}
    for attr in ("__name__", "__qualname__", "__module__", "__doc__"):
        setattr(callback, attr, getattr(func, attr))
    return callback


EPILOG = (
    "Every config key is also a flag of its dotted name: --model.hidden_size 64, "
    "--model.fused false."
)

# name → (command function, its blocks): what add_schema_commands builds for another schema
SCHEMA_COMMANDS: dict[str, tuple[Callable[..., Any], tuple[Block, ...]]] = {}


def schema_command(name: str, *blocks: Block) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the command ``name`` of the app, with the options
    of ``blocks`` generated from :class:`~seqlab.config.Config`."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        SCHEMA_COMMANDS[name] = (func, blocks)
        app.command(name, epilog=EPILOG)(with_options(func, blocks))
        return func

    return register


def add_schema_commands(target: typer.Typer, schema: type[Config]) -> typer.Typer:
    """Add every registered schema command to ``target``, its options generated from ``schema``."""
    for name, (func, blocks) in SCHEMA_COMMANDS.items():
        target.command(name, epilog=EPILOG)(with_options(func, blocks, schema))
    return target


__all__ = [
    "ConfigArgs",
    "ConfigBlock",
    "KeyOptions",
    "RunnerArgs",
    "RunnerBlock",
    "add_schema_commands",
    "schema_command",
    "with_options",
]

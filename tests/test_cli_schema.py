"""One schema, one pipeline: the config dataclasses define every option of fit, compare and sweep.

The central check: a new config key (a dataclass field with its docstring entry) shows up
in the help of all three commands and sets the key, without any change to the CLI.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from seqlab.cli import build_app, main
from seqlab.cli.compare import console_table
from seqlab.config import (
    Config,
    GradFlowOption,
    OptimConfig,
    attribute_docs,
    config_keys,
    parse_grad_flow,
    resolve_config,
)
from seqlab.errors import ConfigError

# The flags users had before the schema generated them: each must stay (fit has all).
SHORT_FLAGS = (
    "--cell",
    "--task",
    "--hidden-size",
    "--num-layers",
    "--bidirectional",
    "--no-bidirectional",
    "--dropout",
    "--batch-size",
    "--lr",
    "--max-epochs",
    "--max-steps",
    "--seed",
    "--accelerator",
    "--devices",
    "--strategy",
    "--num-nodes",
    "--precision",
    "--gradient-clip",
    "--run-dir",
    "--name",
    "--logger",
    "--wandb-project",
    "--wandb-entity",
    "--wandb-group",
    "--wandb-tags",
    "--wandb-mode",
    "--log-model",
    "--no-log-model",
    "--grad-flow",
    "--quiet",
    "-q",
)
COMPARE_FLAGS = (
    *("--cells", "--task", "--seeds", "--seed-list", "--max-steps", "--time-budget"),
    *("--match-params", "--param-budget", "--out", "--report-dir", "--name", "--workers"),
    *("--threads", "--force", "--grad-flow", "--hidden-size", "--num-layers"),
    *("--bidirectional", "--dropout", "--batch-size", "--lr", "--accelerator", "--precision"),
    *("--gradient-clip", "--task-opt", "--cell-opt", "--config", "--set", "--logger"),
    *("--wandb-project", "--wandb-entity", "--wandb-tags", "--wandb-mode", "--quiet"),
    *("--launcher", "--launcher-opt"),
)
SWEEP_FLAGS = (
    *("--local", "--register", "--count", "--seed", "--workers", "--out", "--wandb-project"),
    *("--wandb-entity", "--wandb-mode", "--dry-run", "--config", "--set", "--task-opt"),
    *("--cell-opt", "--threads", "--launcher", "--launcher-opt", "--trainer.seed"),
)
GRID = {
    "name": "grid",
    "method": "grid",
    "parameters": {"model.cell": {"values": ["lstm", "gru"]}, "trainer.max_epochs": {"value": 2}},
}


@dataclass
class WarmupOptim(OptimConfig):
    """The optimiser, with a key the CLI has never heard of.

    Attributes:
        lookahead_steps: look this many steps ahead of the fast weights.
    """

    lookahead_steps: int = 0


@dataclass
class WarmupConfig(Config):
    optim: WarmupOptim = field(default_factory=WarmupOptim)


class Captured(Exception):
    """Raised by a stand-in to hand back the config a command built."""

    def __init__(self, config: Config) -> None:
        super().__init__("captured")
        self.config = config


def _help(app, command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _captured(app, args: list[str]) -> Config:
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, Captured), (result.output, result.exception)
    return result.exception.config


def _sweep_file(tmp_path: Path, data: dict = GRID) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# -- a new key reaches every command ----------------------------------------------------------
def test_a_new_config_key_shows_up_in_the_help_of_every_command() -> None:
    app = build_app(WarmupConfig)
    for command in ("fit", "compare", "sweep"):
        out = _help(app, command)
        assert "--optim.lookahead_steps" in out, command
        assert "Look this many steps ahead of the fast weights." in out, command
        assert "Config: optim" in out, command  # grouped with its section
    assert "--optim.lookahead_steps" not in _help(build_app(Config), "fit")


def test_the_new_flag_sets_the_key_in_fit(monkeypatch) -> None:
    import seqlab.training

    def fake_fit(config, resume=None):
        raise Captured(config)

    monkeypatch.setattr(seqlab.training, "fit", fake_fit)
    cfg = _captured(
        build_app(WarmupConfig), ["fit", "--optim.lookahead_steps", "7", "--lr", "0.01", "--quiet"]
    )
    assert isinstance(cfg, WarmupConfig)
    assert cfg.optim.lookahead_steps == 7 and cfg.optim.lr == 0.01 and cfg.run.quiet is True


def test_the_new_flag_sets_the_key_in_compare(monkeypatch) -> None:
    import seqlab.compare

    def fake_build_plan(base, *args, **kwargs):
        raise Captured(base)

    monkeypatch.setattr(seqlab.compare, "build_plan", fake_build_plan)
    args = ["compare", "--cells", "rnn", "--max-steps", "2", "--optim.lookahead_steps", "5"]
    cfg = _captured(build_app(WarmupConfig), args)
    assert cfg.optim.lookahead_steps == 5


def test_the_new_flag_sets_the_key_in_sweep(monkeypatch, tmp_path: Path) -> None:
    import seqlab.sweep

    def fake_check_runs(runs, base=None, source=None):
        raise Captured(base)

    monkeypatch.setattr(seqlab.sweep, "check_runs", fake_check_runs)
    args = ["sweep", str(_sweep_file(tmp_path)), "--local", "--optim.lookahead_steps", "3"]
    cfg = _captured(build_app(WarmupConfig), args)
    assert cfg.optim.lookahead_steps == 3


# -- the flags ----------------------------------------------------------------------------------
def test_short_flags_come_from_field_metadata_and_every_key_has_a_long_flag(capsys) -> None:
    declared = {flag for key in config_keys() for flag in key.flags}
    assert {f for f in SHORT_FLAGS if not f.startswith("--no-")} <= declared
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    # whole flags: `--task` must not pass as the start of `--task-opt`
    shown = set(re.findall(r"(?<![\w-])--?[\w-]+(?![\w.-])", out))
    assert set(SHORT_FLAGS) <= shown, sorted(set(SHORT_FLAGS) - shown)
    app = build_app(Config)
    wide = _help(app, "fit")
    for key in config_keys():
        if not isinstance(key.default, dict) and key.key != "run.resume":  # fit's --resume
            assert f"--{key.key}" in wide or key.flags, key.key


def test_compare_and_sweep_keep_their_flags() -> None:
    app = build_app(Config)
    compare, sweep = _help(app, "compare"), _help(app, "sweep")
    for flag in COMPARE_FLAGS:
        assert flag in compare, flag
    for flag in SWEEP_FLAGS:
        assert flag in sweep, flag
    # keys compare sets itself are not offered as config flags
    for owned in ("--model.cell", "--trainer.seed", "--trainer.max_steps", "--run.dir"):
        assert owned not in compare, owned


def test_every_help_text_is_the_docstring_entry() -> None:
    for key in config_keys():
        if not isinstance(key.default, dict):
            assert key.help, f"{key.key} has no Attributes: entry in its class docstring"
    assert attribute_docs(WarmupOptim)["lr"] == "learning rate (the peak rate with a schedule)."


def test_long_flags_take_values_and_short_booleans_stay_switches(monkeypatch) -> None:
    import seqlab.training

    def fake_fit(config, resume=None):
        raise Captured(config)

    monkeypatch.setattr(seqlab.training, "fit", fake_fit)
    app = build_app(Config)
    cfg = _captured(
        app,
        [
            "fit",
            *("--model.fused", "false", "--bidirectional", "--trainer.limit_train_batches", "5"),
            *("--trainer.val_check_interval", "0.25", "--wandb-tags", "a, b", "--devices", "2"),
            *("--model.hidden_size", "16", "--set", "model.num_layers=3"),
        ],
    )
    assert cfg.model.fused is False and cfg.model.bidirectional is True
    assert cfg.trainer.limit_train_batches == 5 and isinstance(cfg.trainer.limit_train_batches, int)
    assert cfg.trainer.val_check_interval == 0.25
    assert cfg.log.wandb_tags == ["a", "b"]
    assert cfg.trainer.devices == "2"  # as --devices always gave it
    assert cfg.model.hidden_size == 16 and cfg.model.num_layers == 3


def test_a_short_and_long_flag_disagreeing_is_an_error(capsys) -> None:
    assert main(["fit", "--hidden-size", "8", "--model.hidden_size", "9"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "--hidden-size and --model.hidden_size" in err and "give one of them" in err


def test_a_bad_boolean_value_names_the_key(capsys) -> None:
    assert main(["fit", "--model.fused", "maybe"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "model.fused='maybe' (from command-line flags)" in err and "true or false" in err


# -- sweep's base config ------------------------------------------------------------------------
def test_sweep_builds_a_base_config_from_file_flags_and_set(monkeypatch, tmp_path: Path) -> None:
    import seqlab.sweep

    seen: dict = {}

    def fake_run_local(spec, out_dir, **kwargs):
        seen.update(kwargs)
        raise Captured(kwargs["base"])

    monkeypatch.setattr(seqlab.sweep, "run_local", fake_run_local)
    base_file = tmp_path / "base.yaml"
    base_file.write_text("model:\n  hidden_size: 32\n  num_layers: 2\noptim:\n  lr: 0.5\n")
    args = [
        *("sweep", str(_sweep_file(tmp_path)), "--local", "--config", str(base_file)),
        *("--hidden-size", "8", "--lr", "0.1", "--set", "optim.lr=0.01", "--seed", "4"),
        *("--trainer.seed", "9", "--task-opt", "seq_len=7", "--workers", "2", "--threads", "1"),
    ]
    cfg = _captured(build_app(Config), args)
    assert cfg.model.hidden_size == 8  # flag over file
    assert cfg.model.num_layers == 2  # file over default
    assert cfg.optim.lr == 0.01  # --set over flag
    assert cfg.trainer.seed == 9  # --seed is the sweep's draw seed; --trainer.seed the key
    assert cfg.task.options["seq_len"] == 7
    assert seen["workers"] == 2 and seen["threads"] == 1 and seen["launcher"] == "local"
    assert seen["launcher_options"] == {}


def test_sweep_without_config_options_has_no_base(monkeypatch, tmp_path: Path) -> None:
    import seqlab.sweep

    def fake_run_local(spec, out_dir, **kwargs):
        raise Captured(kwargs["base"])

    monkeypatch.setattr(seqlab.sweep, "run_local", fake_run_local)
    assert _captured(build_app(Config), ["sweep", str(_sweep_file(tmp_path)), "--local"]) is None


def test_sweep_dry_run_names_the_base_config_and_never_mentions_wandb(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    sweep = str(_sweep_file(tmp_path))
    out = tmp_path / "out"
    assert main(["sweep", sweep, "--dry-run", "--out", str(out), "--hidden-size", "8"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if "--set" in line]
    assert len(lines) == 2
    assert f"--config {out / 'base.yaml'} --set model.cell=lstm" in lines[0]
    assert "W&B" not in captured.err and "wandb" not in captured.err.lower()
    assert main(["sweep", sweep, "--register", "--dry-run"]) == 0  # registers nothing
    assert "nothing was run" in capsys.readouterr().out


def test_sweep_keeps_workers_at_least_one_and_checks_the_launcher(tmp_path: Path, capsys) -> None:
    sweep = str(_sweep_file(tmp_path))
    assert main(["sweep", sweep, "--local", "--dry-run", "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(["sweep", sweep, "--local", "--dry-run", "--launcher", "slurmm"]) == 2
    assert "Did you mean 'slurm'" in capsys.readouterr().err


def test_registering_refuses_a_base_config(tmp_path: Path, capsys) -> None:
    assert main(["sweep", str(_sweep_file(tmp_path)), "--register", "--lr", "0.1"]) == 2
    assert "--local" in capsys.readouterr().err


def test_errors_name_the_layer_the_overrides_came_from() -> None:
    with pytest.raises(ConfigError, match=r"'model\.cel' \(from sweep file 's\.yaml'\)"):
        resolve_config(overrides={"model.cel": "lstm"}, override_source="sweep file 's.yaml'")
    with pytest.raises(ConfigError, match=r"\(from --set\)"):
        resolve_config(overrides=["model.hidden_size=abc"])


# -- compare ------------------------------------------------------------------------------------
def test_compare_table_picks_its_columns_by_name() -> None:
    header = ["samples/s", "cell", "extra", "test_mse (mean ± std)", "hidden", "parameters"]
    header += ["baseline", "train time (s)", "grad-flow ratio (end)"]
    row = [f"v{i}" for i in range(len(header))]
    table = console_table("t", header, [row], width=200)
    names = [str(c.header) for c in table.columns]
    assert names == [
        "cell",
        "hidden",
        "parameters",
        "test_mse (mean ± std)",
        "baseline",
        "train time (s)",
        "samples/s",
        "grad-flow ratio (end)",
    ]
    assert list(table.columns[0].cells) == ["v1"]


def test_compare_checks_the_launcher(tmp_path: Path, capsys) -> None:
    args = ["compare", "--cells", "rnn", "--max-steps", "2", "--out", str(tmp_path / "o")]
    assert main([*args, "--launcher", "locall"]) == 2
    assert "Did you mean 'local'" in capsys.readouterr().err
    assert main([*args, "--launcher-opt", "timeout_min"]) == 2
    assert "--launcher-opt expects KEY=VALUE" in capsys.readouterr().err
    assert main([*args, "--launcher-opt", "timeout_min=60"]) == 2  # for slurm only
    assert "timeout_min" in capsys.readouterr().err


# -- the gradient-flow option lives in the config layer -----------------------------------------
def test_grad_flow_option_is_parsed_by_the_config_layer() -> None:
    assert parse_grad_flow("every=50") == GradFlowOption(50)
    assert parse_grad_flow("7") == GradFlowOption(7)
    assert parse_grad_flow("off") is None and parse_grad_flow(None) is None
    for bad in ("every=x", "every=0", "-3"):
        with pytest.raises(ConfigError, match="every"):
            parse_grad_flow(bad)
    with pytest.raises(ConfigError, match="--grad-flow 'sometimes'"):
        resolve_config(flags={"log.grad_flow": "sometimes"})


def test_config_imports_only_the_bottom_layer() -> None:
    allowed = ("seqlab.config", "seqlab.errors", "seqlab.validation", "seqlab.version")
    for path in sorted((Path(__file__).parents[1] / "seqlab" / "config").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("seqlab"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"

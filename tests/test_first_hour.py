"""What a new user hits in the first hour (issue 18) and typed plugin options (issue 14):
each test reproduces one report and asserts the fixed behaviour."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seqlab.cells import REGISTRY, create_cell, get_cell
from seqlab.cli import main
from seqlab.errors import ConfigError, DataError, DuplicateNameError, PluginError

# A plain nn.Module plugin: no annotations, options typed only by their defaults.
PLAIN_CELL = """
import torch
from torch import nn

class Plain(nn.Module):
    def __init__(self, input_size, hidden_size, dt=0.1, steps=2, gated=True, mode="a"):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.dt, self.steps, self.gated, self.mode = dt, steps, gated, mode
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        h = h + self.dt * torch.tanh(self.lin(torch.cat([x, h], 1)))
        return h, h
"""

NO_INITIAL_STATE = """
import torch
from torch import nn

class Stateless(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1)))
        return h, h
"""


@pytest.fixture
def plain(make_distribution):
    make_distribution(
        "plain-cells",
        "0.2",
        {"seqlab.cells": {"plain": "plain_mod:Plain"}},
        {"plain_mod": PLAIN_CELL},
    )
    return "plain"


def _one_paragraph(err: str) -> str:
    assert "Traceback" not in err and err.startswith("error:"), err
    assert "\n\n" not in err.strip(), err
    return " ".join(err.split())


# -- 1: a non-numeric value in an inferred column ---------------------------------------------
def _series(path: Path, bad_line: int, bad: str, column: int) -> Path:
    lines = ["date,temp,humidity,load"]
    lines += [f"2000-01-{i % 28 + 1:02d},{i % 30},{i % 7},{i * 2}" for i in range(300)]
    fields = lines[bad_line - 1].split(",")
    fields[column] = bad
    lines[bad_line - 1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_word_in_an_inferred_numeric_column_is_an_error_not_a_dropped_column(tmp_path):
    from seqlab.tasks import create_task

    path = _series(tmp_path / "weather.csv", 201, "high", 2)
    with pytest.raises(DataError) as exc:
        create_task("forecast", path=str(path)).setup("fit")
    assert "column 'humidity'" in str(exc.value)
    assert "is not a number ('high') at line 201" in str(exc.value)
    # the date column (no numbers at all) is still skipped quietly
    good = _series(tmp_path / "good.csv", 2, "5", 2)
    task = create_task("forecast", path=str(good))
    task.setup("fit")
    assert task.info.extra["columns"] == ["temp", "humidity", "load"]


def test_a_thousands_separator_in_the_target_names_the_value(tmp_path):
    from seqlab.tasks import create_task

    path = _series(tmp_path / "s.csv", 21, '"1,234.5"', 3)
    with pytest.raises(DataError) as exc:
        create_task("forecast", path=str(path), target="load").setup("fit")
    msg = str(exc.value)
    assert "column 'load'" in msg and "not a number ('1,234.5'" in msg and "line 21" in msg
    assert "thousands separators" in msg and "not among the columns" not in msg


# -- 9 and issue 14: options are typed -----------------------------------------------------------
def test_plain_module_options_are_coerced_by_their_defaults_type(plain):
    cell = create_cell(plain, 3, 4, dt="0.5", steps="3", gated="no", mode=7)
    assert (cell.dt, cell.steps, cell.gated, cell.mode) == (0.5, 3, False, "7")
    assert create_cell(plain, 3, 4, steps=2.5).steps == 2.5  # an int default takes a number
    with pytest.raises(ConfigError) as exc:
        create_cell(plain, 3, 4, dt="0.034;gamma=1.3")
    msg = str(exc.value)
    assert "option dt='0.034;gamma=1.3' must be a number" in msg
    assert "separated by commas" in msg and "contract" not in msg


def test_compare_cells_spec_with_a_semicolon_is_the_users_error(plain, capsys):
    code = main(["compare", "--cells", f"{plain}[dt=0.034;gamma=1.3]", "--max-steps", "1"])
    err = _one_paragraph(capsys.readouterr().err)
    assert code == 2
    assert f"cell '{plain}': option dt='0.034;gamma=1.3' must be a number" in err


@pytest.mark.parametrize("value", [True, False])
def test_annotated_bool_accepts_a_bool(value):
    assert create_cell("lstm", 3, 4, bias=value).bias is value


@pytest.mark.parametrize("value", ["maybe", 2, "tru", 0.5, "yes", 1, "true"])
def test_annotated_bool_refuses_anything_else(value):
    with pytest.raises(ConfigError, match=r"option bias=.* must be true or false"):
        create_cell("lstm", 3, 4, bias=value)


def test_annotated_choice_int_and_optional():
    assert create_cell("mingru", 3, 4, activation="identity") is not None
    with pytest.raises(ConfigError, match=r"activation='relu' must be one of g, identity"):
        create_cell("mingru", 3, 4, activation="relu")
    with pytest.raises(ConfigError, match=r"t_max=3.5 must be an integer"):
        create_cell("janet", 3, 4, t_max=3.5)
    assert create_cell("indrnn", 3, 4, recurrent_max_abs="null") is not None
    with pytest.raises(ConfigError, match=r"recurrent_max_abs='big' must be a number or null"):
        create_cell("indrnn", 3, 4, recurrent_max_abs="big")


def test_cells_show_checks_annotated_options(capsys):
    assert main(["cells", "show", "lstm", "--cell-opt", "bias=maybe"]) == 2
    err = _one_paragraph(capsys.readouterr().err)
    assert "option bias='maybe' must be true or false" in err


def test_compare_console_table_keeps_the_cell_options_in_the_label():
    from rich.console import Console

    from seqlab.cli.compare import console_table

    header = [
        "cell",
        "hidden",
        "parameters",
        "val_mse (mean ± std)",
        "runs",
        "baseline",
        "FLOPs/step",
        "train time (s)",
        "samples/s",
        "peak memory (MB)",
        "grad-flow ratio (end)",
        "grad-flow ratio (start)",
    ]
    row = [
        "lstm[forget_bias=0]",
        "8",
        "1,361",
        "0.1 ± 0.01",
        "2",
        "0.2",
        "1",
        "3",
        "4",
        "5",
        "6",
        "7",
    ]
    console = Console(width=80, record=True)
    console.print(console_table("t", header, [row], width=80))
    text = console.export_text()
    assert "lstm[forget_bias=0]" in text


# -- 6: two distributions, one name ---------------------------------------------------------------
@pytest.fixture
def twins(make_distribution):
    make_distribution(
        "first-dist", "1.0", {"seqlab.cells": {"dup": "dup_a:Plain"}}, {"dup_a": PLAIN_CELL}
    )
    make_distribution(
        "second-dist", "2.0", {"seqlab.cells": {"dup": "dup_b:Plain"}}, {"dup_b": PLAIN_CELL}
    )


def test_duplicate_suggests_disabling_a_distribution_not_the_name(twins):
    with pytest.raises(DuplicateNameError) as exc:
        get_cell("dup")
    msg = str(exc.value)
    suggested = re.search(r"SEQLAB_DISABLE_PLUGINS=([\w-]+)", msg)
    assert suggested is not None and suggested.group(1) in ("first-dist", "second-dist")
    assert "SEQLAB_DISABLE_PLUGINS=dup" not in msg


def test_the_suggested_variable_leaves_the_other_distribution(twins, monkeypatch):
    monkeypatch.setenv("SEQLAB_DISABLE_PLUGINS", "second-dist")
    assert get_cell("dup").__module__ == "dup_a"


def test_qualified_picks_the_recorded_distribution_only_when_needed(twins):
    assert REGISTRY.qualified("dup", "second-dist") == "second-dist:dup"
    assert get_cell(REGISTRY.qualified("dup", "first-dist")).__module__ == "dup_a"
    assert REGISTRY.qualified("lstm", "seqlab") == "lstm"  # one source: the plain name
    assert REGISTRY.qualified("dup", None) == "dup"


# -- 7: a plugin without initial_state ----------------------------------------------------------
@pytest.fixture
def stateless(make_distribution):
    make_distribution(
        "stateless-cells",
        "0.1",
        {"seqlab.cells": {"stateless": "stateless_mod:Stateless"}},
        {"stateless_mod": NO_INITIAL_STATE},
    )
    return "stateless"


def test_cells_keeps_a_broken_plugins_row_and_names_it(stateless, capsys, monkeypatch):
    from seqlab.cli.app import console

    monkeypatch.setattr(console, "_width", 200)
    with pytest.warns(UserWarning) as caught:
        assert main(["cells"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if f" {stateless} " in line)
    assert "BROKEN" in row and "stateless-cells" in row
    assert "lstm" in out
    texts = " ".join(str(w.message) for w in caught)
    assert f"cell '{stateless}'" in texts and "stateless-cells" in texts
    assert "initial_state" in texts


def test_cells_show_of_a_broken_plugin_is_one_paragraph(stateless, capsys):
    assert main(["cells", "show", stateless]) == 2
    err = _one_paragraph(capsys.readouterr().err)
    assert f"cell '{stateless}' breaks seqlab's cell contract" in err
    assert "stateless-cells" in err and "initial_state" in err
    assert f"seqlab cells check {stateless}" in err


# -- 8: import errors inside the plugin, and --traceback ---------------------------------------------
def test_a_missing_helper_module_of_the_plugin_is_named(make_distribution):
    make_distribution(
        "helper-cells",
        "0.1",
        {"seqlab.cells": {"helped": "helper_cell_mod:Plain"}},
        {"helper_cell_mod": "import helper_cell_mod_utils\n" + PLAIN_CELL},
    )
    with pytest.raises(PluginError) as exc:
        get_cell("helped")
    msg = str(exc.value)
    assert "needs the module 'helper_cell_mod_utils'" in msg
    assert "helper_cell_mod.py:1" in msg  # where it was imported
    assert "its module 'helper_cell_mod' is not importable" not in msg


def test_the_entry_points_own_module_missing_is_still_said_so(make_distribution):
    make_distribution("ghost-cells", "0.1", {"seqlab.cells": {"ghost": "ghost_mod_nowhere:X"}})
    with pytest.raises(PluginError, match="its module 'ghost_mod_nowhere' is not importable"):
        get_cell("ghost")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_traceback_flag_or_env_shows_the_chained_traceback(
    make_distribution, capsys, monkeypatch, how
):
    make_distribution(
        "boom-cells",
        "0.1",
        {"seqlab.cells": {"boom": "boom_mod:X"}},
        {"boom_mod": "def helper():\n    raise RuntimeError('boom')\nhelper()\n"},
    )
    assert main(["cells", "show", "boom"]) == 2
    plain_err = capsys.readouterr().err
    assert "Traceback" not in plain_err and "--traceback" in " ".join(plain_err.split())
    if how == "flag":
        argv = ["--traceback", "cells", "show", "boom"]
    else:
        monkeypatch.setenv("SEQLAB_DEBUG", "1")
        argv = ["cells", "show", "boom"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" in err
    assert "RuntimeError: boom" in err and "boom_mod.py" in err


# -- 5: the budget given is the budget ----------------------------------------------------------------
def test_max_steps_alone_lifts_the_default_max_epochs():
    from seqlab.config import resolve_config

    cfg = resolve_config(flags={"trainer.max_steps": 100})
    assert (cfg.trainer.max_epochs, cfg.trainer.max_steps) == (None, 100)
    cfg = resolve_config(flags={"trainer.max_epochs": 3})
    assert (cfg.trainer.max_epochs, cfg.trainer.max_steps) == (3, -1)
    cfg = resolve_config(flags={"trainer.max_epochs": 3, "trainer.max_steps": 5})
    assert (cfg.trainer.max_epochs, cfg.trainer.max_steps) == (3, 5)
    cfg = resolve_config(overrides=["trainer.max_steps=7"])
    assert cfg.trainer.max_epochs is None


def test_max_time_alone_is_the_budget_and_lifts_what_a_file_gave(tmp_path):
    from seqlab.config import resolve_config

    cfg = resolve_config(flags={"trainer.max_time": 60})
    t = cfg.trainer
    assert (t.max_time, t.max_epochs, t.max_steps) == (60, None, -1)
    path = tmp_path / "c.yaml"
    path.write_text("trainer:\n  max_time: 105\n  max_steps: 3000\n")
    t = resolve_config(path).trainer
    assert (t.max_time, t.max_epochs, t.max_steps) == (105, None, 3000)
    t = resolve_config(path, {"trainer.max_steps": 3}).trainer
    assert (t.max_time, t.max_epochs, t.max_steps) == (None, None, 3)
    t = resolve_config(path, {"trainer.max_time": 5, "trainer.max_epochs": 2}).trainer
    assert (t.max_time, t.max_epochs, t.max_steps) == (5, 2, -1)


def test_a_file_giving_both_limits_keeps_both_until_a_flag_gives_one(tmp_path):
    from seqlab.config import resolve_config

    path = tmp_path / "c.yaml"
    path.write_text("trainer:\n  max_epochs: 2\n  max_steps: 50\n")
    assert resolve_config(path).trainer.max_epochs == 2
    cfg = resolve_config(path, {"trainer.max_steps": 100})
    assert (cfg.trainer.max_epochs, cfg.trainer.max_steps) == (None, 100)


# -- 14: describe --------------------------------------------------------------------------------------
def _result(value: float, baseline: float, mode: str = "min", stopped: str = ""):
    from seqlab.tasks.base import Baseline
    from seqlab.training.result import FitResult

    return FitResult(
        run_dir=Path("."),
        metrics={"test_mse": value},
        metric="mse",
        metric_mode=mode,
        baseline=Baseline("mse", baseline, "always predict 1", "test"),
        best_checkpoint=None,
        last_checkpoint=None,
        global_step=1,
        epochs=1,
        wall_time_s=1.0,
        parameters={},
        stopped_because=stopped,
    )


def test_describe_says_level_with_the_baseline_instead_of_one_times_lower():
    from seqlab.training import describe

    assert "level with the baseline" in describe(_result(0.168, 0.170))
    assert "1.0×" not in describe(_result(0.168, 0.170))
    assert "2.0× lower" in describe(_result(0.085, 0.170))
    assert "not better" in describe(_result(0.3, 0.17))
    text = describe(_result(0.1, 0.17, stopped="max_steps=100 reached (epoch 3)"))
    assert text.endswith("; stopped: max_steps=100 reached (epoch 3)")


def test_compare_numbers_are_formatted_one_way():
    from seqlab.compare.report import fmt

    assert fmt(1361.0, 6) == "1,361" and fmt(1117.0, 6) == "1,117"
    assert fmt(11170.4) == "11,170" and fmt(1361.4) == "1,361"
    assert fmt(12.3456) == "12.35" and fmt(0.00123) == "0.00123"


# -- 15: did you mean for other libraries' names ------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "meant"),
    [("optim.learning_rate", "optim.lr"), ("trainer.epochs", "trainer.max_epochs")],
)
def test_other_libraries_names_get_a_did_you_mean(given, meant):
    from seqlab.config import resolve_config

    with pytest.raises(ConfigError, match=re.escape(f"Did you mean '{meant}'")):
        resolve_config(overrides=[f"{given}=1"])


def test_tasks_show_gives_the_batch_size_fit_uses(capsys, monkeypatch):
    from seqlab.cli.app import console
    from seqlab.config import Config

    monkeypatch.setattr(console, "_width", 200)
    assert main(["tasks", "show", "adding", "--no-setup"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "batch_size" in line)
    assert f" {Config().task.batch_size} " in row


# -- 12: tables at 80 columns -----------------------------------------------------------------------
def _words(text: str) -> set[str]:
    return set(re.split(r"[\s│┃]+", text))


def test_cells_and_tasks_tables_fit_80_columns_without_splitting_a_word():
    from rich.console import Console

    from seqlab.cli.cells import cells_rows, cells_table
    from seqlab.cli.tasks import tasks_table

    console = Console(width=80, record=True)
    console.print(cells_table(width=80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    shown = _words(text)
    for row in cells_rows("*", 32, 128):
        for value in (row[0], row[1], *row[6].split()):
            for word in value.split():
                assert word in shown, f"{word!r} split or missing at 80 columns"
    console = Console(width=80, record=True)
    console.print(tasks_table(width=80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert "label_column=label," in text  # a token is never split


def test_choose_widths_keeps_important_columns_and_names_the_others():
    from seqlab.cli.tables import Column, choose_widths, fitted_table

    columns = [
        Column("name"),
        Column("a very long header", importance=2),
        Column("x", importance=1),
    ]
    rows = [["lstm", "short", "1"]]
    assert set(choose_widths(columns, rows, 20)) == {0, 2}
    assert set(choose_widths(columns, rows, 200)) == {0, 1, 2}
    table = fitted_table(columns, rows, 20)
    assert "a very long header" in str(table.caption)


# -- 13: plain progress lines in logs, no chatter -------------------------------------------------
@pytest.mark.slow
def test_fit_in_a_log_has_plain_lines_no_chatter_and_says_why_it_stopped(tmp_path, capsys):
    from test_cli_train import TINY

    argv = [a for a in TINY if a != "--quiet"]
    code = main(["fit", "--run-dir", str(tmp_path), *argv, "--set", "log.logger=csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "\r" not in out and "\x1b[" not in out
    assert "stopped: max_steps=3 reached" in out
    for chatter in ("Tip", "was configured so 100%", "Restoring states", "Total FLOPs"):
        assert chatter not in out + err
    assert re.search(r"epoch 0 step \d+/3", out)
    summary = next(tmp_path.glob("*/summary.json")).read_text()
    assert '"stopped_because": "max_steps=3 reached' in summary


@pytest.mark.parametrize(
    ("message", "dropped"),
    [
        ("💡 Tip: For seamless cloud logging, try installing litlogger", True),
        (
            "`Trainer(limit_val_batches=1.0)` was configured so 100% of the batches will be used..",
            True,
        ),
        ("Restoring states from the checkpoint path at runs/x/checkpoints/best.ckpt", True),
        ("Loaded model weights from the checkpoint at runs/x/checkpoints/best.ckpt", True),
        ("GPU available: False, used: False", False),
        ("a real warning about your data", False),
    ],
)
def test_lightning_chatter_is_filtered_and_the_rest_kept(message, dropped):
    import logging

    from seqlab.training.quieting import ChatterFilter

    record = logging.LogRecord("lightning.pytorch", logging.INFO, __file__, 1, message, (), None)
    assert ChatterFilter().filter(record) is not dropped


def test_cells_check_runs_typed_options():
    from seqlab.testing import run_checks

    results = run_checks("lstm", bias=False)
    assert all(r.ok for r in results[:3])
    with pytest.raises(ConfigError, match="must be true or false"):
        run_checks("lstm", bias="maybe")


# -- 14: compare ------------------------------------------------------------------------------------
def test_compare_logs_often_enough_for_a_curve_however_short_the_budget():
    from seqlab.compare.plan import Budget, CellSpec, run_config
    from seqlab.config import Config

    def every(budget: Budget) -> int:
        cfg = run_config(Config(), CellSpec("gru", ()), 0, budget, global_cell_options={})
        return cfg.log.every_n_steps

    assert every(Budget(max_steps=100)) == 2
    assert every(Budget(max_steps=100_000)) == 50  # the default stays the ceiling
    assert every(Budget(time_budget_s=30)) == 10


def test_best_cell_is_not_declared_when_the_spreads_overlap():
    from types import SimpleNamespace

    from seqlab.compare.numbers import best_cell_sentence
    from seqlab.compare.plan import CellSpec

    cells = [CellSpec("lstm", ()), CellSpec("gru", ())]

    def results(values: dict[str, list[float]]) -> list:
        return [
            SimpleNamespace(plan=SimpleNamespace(cell=c), row={"val_mse": v})
            for c in cells
            for v in values[c.name]
        ]

    plan = SimpleNamespace(cells=cells)
    close = best_cell_sentence(
        plan, results({"lstm": [0.10, 0.14], "gru": [0.12, 0.16]}), "val_mse", "min"
    )
    assert "**lstm**" in close and "overlaps that of gru" in close and "not a clear winner" in close
    clear = best_cell_sentence(
        plan, results({"lstm": [0.10, 0.11], "gru": [0.30, 0.31]}), "val_mse", "min"
    )
    assert clear == "Best mean val_mse: **lstm**."


RAISING_CELL = PLAIN_CELL.replace(
    "h = h + self.dt", "raise RuntimeError('boom in forward')\n        h = h + self.dt"
)


def test_cells_check_shows_the_cells_traceback_only_when_asked(
    make_distribution, capsys, monkeypatch
):
    from seqlab.cli.app import console

    make_distribution(
        "raising-cells",
        "0.1",
        {"seqlab.cells": {"raising": "raising_mod:Plain"}},
        {"raising_mod": RAISING_CELL},
    )
    monkeypatch.setattr(console, "_width", 200)
    assert main(["cells", "check", "raising"]) == 1
    out = capsys.readouterr().out
    assert "boom in forward" in out and "Traceback" not in out
    assert "--traceback" in " ".join(out.split())
    assert main(["cells", "check", "raising", "--traceback"]) == 1
    out = capsys.readouterr().out
    assert "Traceback" in out and "raising_mod.py" in out


# -- 4: Lightning's val_check_interval rule, checked before anything is written ----------------
@pytest.mark.parametrize(
    ("settings", "ok"),
    [
        ({"trainer.val_check_interval": 2}, True),  # = the 2 batches of an epoch
        ({"trainer.val_check_interval": 3}, False),
        ({"trainer.val_check_interval": 3, "trainer.check_val_every_n_epoch": "null"}, True),
        ({"trainer.val_check_interval": 0.5}, True),
    ],
)
def test_val_check_interval_is_checked_in_the_plan(tmp_path, settings, ok):
    from seqlab.config import resolve_config
    from seqlab.training.plan import plan_fit

    flags = {
        "run.dir": str(tmp_path / "runs"),
        "run.quiet": True,
        "task.batch_size": 32,
        "task.options.n_train": 64,
        "task.options.n_val": 32,
        "task.options.n_test": 32,
        "trainer.max_steps": 3,
    }
    config = resolve_config(flags=flags, overrides=[f"{k}={v}" for k, v in settings.items()])
    if ok:
        plan_fit(config)
    else:
        with pytest.raises(ConfigError, match="more than the 2 training batches of one epoch"):
            plan_fit(config)
    assert not (tmp_path / "runs").exists()


# -- seqlab --version ----------------------------------------------------------------------------
def test_version_flag_prints_the_installed_version(capsys):
    from seqlab.version import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"seqlab {__version__}"

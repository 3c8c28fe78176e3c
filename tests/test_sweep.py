"""Sweeps: reading, grid/random plans, value formatting, local runs (a fake fit, and one real grid), W&B registration."""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from seqlab import sweep as sw
from seqlab.cli import main
from seqlab.config import parse_overrides
from seqlab.errors import ConfigError

# A stand-in for `seqlab fit`: reads --set KEY=VALUE, writes <run.dir>/<run.name>-<stamp>/summary.json
# with a metric computed from the parameters, counts its invocations, fails for cell "broken".
FAKE_FIT = textwrap.dedent("""
    import json, sys, yaml
    from pathlib import Path
    args = sys.argv[1:]
    sets = dict(a.split("=", 1) for a in args[1::2])
    assert all(flag == "--set" for flag in args[::2]), args
    values = {k: yaml.safe_load(v) for k, v in sets.items()}
    base = Path(values["run.dir"])
    with open(base.parent / "invocations.txt", "a") as f:
        f.write(values["run.name"] + "\\n")
    if values["model.cell"] == "broken":
        print("cell broken exploded", file=sys.stderr)
        sys.exit(3)
    run_dir = base / (values["run.name"] + "-20260101-000000")
    run_dir.mkdir(parents=True)
    score = values["optim.lr"] * 10 + (0.0 if values["model.cell"] == "gru" else 1.0)
    summary = {"run_dir": str(run_dir), "cell": {"name": values["model.cell"]},  # seqlab fit's layout
               "metrics": {"val_mse": score, "test_mse": score + 0.5},
               "parameters": {"total": 10}, "epochs": values.get("trainer.max_epochs"), "history": [1, 2]}
    (run_dir / "summary.json").write_text(json.dumps(summary))
""")

GRID = {
    "name": "cells-lr",
    "method": "grid",
    "metric": {"name": "val_mse", "goal": "minimize"},
    "parameters": {
        "model.cell": {"values": ["lstm", "gru"]},
        "optim.lr": {"values": [0.001, 0.01]},
        "trainer.max_epochs": {"value": 2},
    },
}


@pytest.fixture
def fake_fit(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_fit.py"
    script.write_text(FAKE_FIT)
    return [sys.executable, str(script)]


def _write(tmp_path: Path, data: dict, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- reading and planning ---------------------------------------------------------------------
def test_grid_expands_in_file_order() -> None:
    spec = sw.parse_sweep(GRID)
    runs = sw.plan_runs(spec)
    assert runs == [
        {"model.cell": "lstm", "optim.lr": 0.001, "trainer.max_epochs": 2},
        {"model.cell": "lstm", "optim.lr": 0.01, "trainer.max_epochs": 2},
        {"model.cell": "gru", "optim.lr": 0.001, "trainer.max_epochs": 2},
        {"model.cell": "gru", "optim.lr": 0.01, "trainer.max_epochs": 2},
    ]
    assert spec.swept_keys == ["model.cell", "optim.lr"]
    assert sw.plan_runs(spec, count=3) == runs[:3]
    int_grid = sw.parse_sweep({"parameters": {"model.num_layers": {"min": 1, "max": 3}}})
    assert sw.plan_runs(int_grid) == [{"model.num_layers": n} for n in (1, 2, 3)]


def test_random_draws_are_seeded_and_follow_the_distributions() -> None:
    spec = sw.parse_sweep(
        {
            "method": "random",
            "parameters": {
                "optim.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                "model.hidden_size": {"distribution": "int_uniform", "min": 16, "max": 64},
                "model.dropout": {"distribution": "q_uniform", "min": 0.0, "max": 0.5, "q": 0.1},
                "model.cell": {"values": ["lstm", "gru"], "probabilities": [0.9, 0.1]},
                "optim.momentum": {"distribution": "log_uniform", "min": -2.0, "max": 0.0},
            },
        }
    )
    runs = sw.plan_runs(spec, count=200, seed=7)
    assert runs == sw.plan_runs(spec, count=200, seed=7)
    assert runs != sw.plan_runs(spec, count=200, seed=8)
    assert all(1e-4 <= r["optim.lr"] <= 1e-1 for r in runs)
    assert all(
        isinstance(r["model.hidden_size"], int) and 16 <= r["model.hidden_size"] <= 64 for r in runs
    )
    assert all(abs(r["model.dropout"] * 10 - round(r["model.dropout"] * 10)) < 1e-9 for r in runs)
    assert all(math.exp(-2) <= r["optim.momentum"] <= 1 for r in runs)
    lstm_share = sum(r["model.cell"] == "lstm" for r in runs) / len(runs)
    assert 0.8 < lstm_share < 0.97
    # log-uniform: about a third of the draws in each decade
    assert 40 < sum(r["optim.lr"] < 1e-3 for r in runs) < 95


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"parameters": {"cell": {"values": ["lstm"]}}}, "dotted config keys"),
        (
            {"parameters": {"model": {"parameters": {"cell": {"values": ["a"]}}}}},
            "dotted config keys",
        ),
        (
            {"parameters": {"model.x": {"parameters": {"cell": {"values": ["a"]}}}}},
            "nested parameters",
        ),
        ({"parameters": {"optim.lr": {"min": 0.1, "max": 0.5}}}, "grid cannot enumerate"),
        ({"method": "bayes", "parameters": {"optim.lr": {"values": [1]}}}, "W&B's sweep server"),
        ({"method": "random", "parameters": {"optim.lr": {"values": [1]}}}, "--count"),
        ({"method": "grdi", "parameters": {"optim.lr": {"values": [1]}}}, "Did you mean 'grid'"),
        ({"paramters": {}}, "Did you mean 'parameters'"),
        (
            {"parameters": {"optim.lr": {"distribution": "log_unifrom", "min": 1, "max": 2}}},
            "log_uniform",
        ),
        ({"parameters": {"optim.lr": {"values": []}}}, "non-empty"),
        ({"parameters": {"optim.lr": {"min": 2, "max": 1}}}, "larger than max"),
        (
            {
                "parameters": {"optim.lr": {"values": [1]}},
                "metric": {"name": "x", "goal": "lowest"},
            },
            "minimize",
        ),
    ],
)
def test_bad_sweep_files_are_config_errors(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sw.plan_runs(sw.parse_sweep(data))


@pytest.mark.parametrize(
    "value",
    [
        1e-5,
        0.001,
        3.0,
        -2.5e10,
        7,
        0,
        True,
        False,
        None,
        "lstm",
        "1e-3",
        "yes",
        "null",
        "3",
        "",
        " padded",
        "a: b",
        [1, 2],
        {"forget_bias": 1.0},
        ["lstm", "gru"],
        math.inf,
    ],
)
def test_values_survive_the_command_line(value) -> None:
    assert yaml.safe_load(sw.format_value(value)) == value
    assert parse_overrides([f"optim.lr={sw.format_value(value)}"])["optim.lr"] == value


def test_wandb_agent_arguments_parse_as_the_same_overrides() -> None:
    """W&B's ${args_no_hyphens} words are what seqlab fit must accept as positional overrides."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    params = {
        "model.cell": "gru",
        "optim.lr": 0.003,
        "model.bidirectional": True,
        "model.cell_options": {"forget_bias": 1.0},
        "trainer.max_epochs": 5,
        "optim.min_lr": 1e-05,
    }
    words = create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})[
        "args_no_hyphens"
    ]
    assert words[0] == "model.cell=gru"
    assert parse_overrides(words) == {**params, "optim.min_lr": "1e-05"}  # YAML 1.1: a string
    from seqlab.config import resolve_config

    assert resolve_config(overrides=words).optim.min_lr == 1e-05  # the config turns it into a float


# -- local runs ---------------------------------------------------------------------------------
def test_local_grid_runs_each_config_in_its_own_process(
    tmp_path: Path, fake_fit: list[str]
) -> None:
    spec = sw.parse_sweep(
        {
            **GRID,
            "parameters": {
                **GRID["parameters"],
                "model.cell": {"values": ["lstm", "gru", "broken"]},
            },
        }
    )
    out = tmp_path / "out"
    messages: list[str] = []
    results = sw.run_local(spec, out, command=fake_fit, workers=2, notify=messages.append)
    assert [r.run_id for r in results] == [f"run-{i:03d}" for i in range(6)]
    assert [r.status for r in results] == ["ok"] * 4 + ["failed"] * 2
    assert results[4].returncode == 3 and "exploded" in results[4].log.read_text()
    assert sorted((out / "invocations.txt").read_text().split()) == [r.run_id for r in results]
    ok = results[2]  # gru, lr 0.001
    assert ok.params == {"model.cell": "gru", "optim.lr": 0.001, "trainer.max_epochs": 2}
    assert ok.metrics["metrics.val_mse"] == pytest.approx(0.01) and ok.metrics["cell.name"] == "gru"
    assert "history" not in ok.metrics  # lists are not summary values
    assert ok.run_dir == out / "run-002" / "run-002-20260101-000000"
    command = (out / "run-002" / "command.txt").read_text()
    assert "--set model.cell=gru --set optim.lr=0.001 --set trainer.max_epochs=2" in command

    csv_path, md_path = sw.write_summary(spec, results, out)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "run",
        "status",
        "model.cell",
        "optim.lr",
        "val_mse",
        "test_mse",
        "parameters",
        "seconds",
        "run_dir",
    ]  # constant parameters are left out
    assert [(r["model.cell"], r["status"]) for r in rows][2:5] == [
        ("gru", "ok"),
        ("gru", "ok"),
        ("broken", "failed"),
    ]
    assert float(rows[2]["val_mse"]) == pytest.approx(0.01) and rows[4]["val_mse"] == ""
    assert rows[2]["run_dir"] == str(ok.run_dir)
    md = md_path.read_text()
    assert "Best: **run-002** (model.cell=gru, optim.lr=0.001), val_mse = 0.01." in md
    assert "| **run-002** | ok | gru | 0.001 | 0.01 | 0.51 | 10 |" in md

    # a second call reuses the finished runs and retries only the failed ones
    again = sw.run_local(spec, out, command=fake_fit, workers=1, notify=messages.append)
    assert [r.status for r in again] == ["reused"] * 4 + ["failed"] * 2
    assert len((out / "invocations.txt").read_text().split()) == 8
    other = sw.parse_sweep(
        {**GRID, "parameters": {"model.cell": {"values": ["rnn"]}, "optim.lr": {"value": 1}}}
    )
    with pytest.raises(ConfigError, match="another sweep"):
        sw.run_local(other, out, command=fake_fit)


def test_summary_of_other_layouts_shows_numeric_values() -> None:
    spec = sw.parse_sweep({**GRID, "metric": {"name": "score", "goal": "maximize"}})
    results = [
        sw.RunResult(
            i,
            f"run-{i}",
            params,
            "ok",
            0,
            None,
            {"score": float(i), "name": "x", "a.b": 2},
            Path("log"),
        )
        for i, params in enumerate(sw.plan_runs(spec))
    ]
    columns, rows = sw.summary_rows(spec, results)
    assert columns == [
        "run",
        "status",
        "model.cell",
        "optim.lr",
        "score",
        "a.b",
        "seconds",
        "run_dir",
    ]
    assert [r["score"] for r in rows] == [0.0, 1.0, 2.0, 3.0]
    assert sw.best_run(results, spec.metric) is results[-1]


def test_cli_runs_locally_when_wandb_is_offline(
    tmp_path: Path, fake_fit: list[str], monkeypatch, capsys
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr(sw, "default_command", lambda: fake_fit)
    config = _write(tmp_path, GRID)
    out = tmp_path / "cli-out"
    assert main(["sweep", str(config), "--out", str(out), "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert "running the sweep locally" in captured.err
    assert "summary.csv" in captured.out and "gru" in captured.out
    with open(out / "summary.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4


def test_cli_dry_run_and_config_checks(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert main(["sweep", str(_write(tmp_path, GRID)), "--local", "--dry-run"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "--set" in line]
    assert len(lines) == 4 and lines[0].endswith(
        "-m seqlab fit --set model.cell=lstm --set optim.lr=0.001 --set trainer.max_epochs=2"
    )
    bad = _write(tmp_path, {**GRID, "parameters": {"model.cel": {"values": ["lstm"]}}}, "bad.yaml")
    assert main(["sweep", str(bad), "--local", "--dry-run"]) == 2
    assert "model.cel" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_register_needs_wandb_online(tmp_path: Path, monkeypatch, capsys) -> None:
    for var in [k for k in os.environ if k.startswith("WANDB_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    assert main(["sweep", str(_write(tmp_path, GRID)), "--register"]) == 2
    err = capsys.readouterr().err
    assert "needs a W&B account" in err and "--local" in err


def test_register_sends_the_sweep_with_seqlabs_command(monkeypatch) -> None:
    import wandb

    import seqlab.tracking.wandb_mode as wm

    sent = {}
    monkeypatch.setattr(wm, "resolve_wandb_mode", lambda mode=None: ("online", "test"))
    monkeypatch.setattr(
        wandb,
        "sweep",
        lambda sweep, project=None, entity=None: (
            sent.update(sweep=sweep, project=project, entity=entity) or "abc123"
        ),
    )
    spec = sw.parse_sweep({**GRID, "project": "cells"})
    sweep_id, agent = sw.register_sweep(spec, entity="lab")
    assert (sweep_id, agent) == ("abc123", "wandb agent lab/cells/abc123")
    assert sent["project"] == "cells" and sent["entity"] == "lab"
    assert sent["sweep"]["command"] == sw.DEFAULT_WANDB_COMMAND
    assert sent["sweep"]["parameters"] == GRID["parameters"]
    assert "project" not in sent["sweep"]
    assert (
        json.loads(json.dumps(sent["sweep"])) == sent["sweep"]
    )  # plain data, as wandb.sweep needs


# -- resume, Ctrl-C, base config, ETA, SLURM (seqlab.jobs) --------------------------------------
# A stand-in for `seqlab fit` that checkpoints: a run dir with config.yaml and
# checkpoints/last.ckpt first, summary.json at the end. `--resume DIR` continues DIR.
# FAKE_FIT_WAIT=1: after the checkpoint, wait for SIGINT/SIGTERM and exit 130 (like fit).
RESUMABLE_FIT = textwrap.dedent("""
    import json, os, signal, sys, time, yaml
    from pathlib import Path
    args = sys.argv[1:]
    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out
    if args[0] == "--resume":
        run_dir, resumed = Path(args[1]), True
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
    else:
        config, resumed = {}, False
        for flag, value in zip(args[::2], args[1::2]):
            if flag == "--config":
                config.update(flat(yaml.safe_load(Path(value).read_text())))
            else:
                key, raw = value.split("=", 1)
                config[key] = yaml.safe_load(raw)
        run_dir = Path(config["run.dir"]) / (config["run.name"] + "-20260101-000000")
        (run_dir / "checkpoints").mkdir(parents=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
        (run_dir / "checkpoints" / "last.ckpt").write_text("step 4")
    with open(run_dir.parent.parent / "invocations.txt", "a") as f:
        f.write(f"{config['run.name']} {'resume' if resumed else 'start'}\\n")
    if os.environ.get("FAKE_FIT_WAIT"):
        got = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda s, f: got.append(s))
        (run_dir / "waiting").write_text("")
        while not got:
            time.sleep(0.02)
        (run_dir / "signals").write_text(str(len(got)))
        sys.exit(130)
    summary = {"metrics": {"val_mse": config["optim.lr"] * 10}, "resumed": resumed,
               "hidden_size": config.get("model.hidden_size")}
    (run_dir / "summary.json").write_text(json.dumps(summary))
""")

THREE = {
    "name": "three",
    "metric": {"name": "val_mse", "goal": "minimize"},
    "parameters": {"model.cell": {"values": ["lstm", "gru", "rnn"]}, "optim.lr": {"value": 0.1}},
}

INTERRUPTED_SWEEP = textwrap.dedent("""
    import sys
    from seqlab import sweep as sw
    spec = sw.parse_sweep({spec!r})
    try:
        sw.run_local(spec, {out!r}, command={command!r}, workers=2, poll_s=0.02)
    except KeyboardInterrupt:
        print("interrupted")
        sys.exit(130)
""")


@pytest.fixture
def resumable_fit(tmp_path: Path) -> list[str]:
    script = tmp_path / "resumable_fit.py"
    script.write_text(RESUMABLE_FIT)
    return [sys.executable, str(script)]


def _invocations(out: Path) -> list[str]:
    return (out / "invocations.txt").read_text().splitlines()


def test_ctrl_c_stops_a_sweep_and_rerunning_resumes_it(
    tmp_path: Path, resumable_fit: list[str]
) -> None:
    import signal
    import subprocess
    import time

    out = tmp_path / "out"
    script = tmp_path / "sweep.py"
    script.write_text(INTERRUPTED_SWEEP.format(spec=THREE, out=str(out), command=resumable_fit))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "FAKE_FIT_WAIT": "1"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("run-*/run-*/waiting"))) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the runs did not start"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and "interrupted" in stdout
    for run in ("run-000", "run-001"):  # each got one signal, checkpointed, no summary
        run_dir = out / run / f"{run}-20260101-000000"
        assert (run_dir / "signals").read_text() == "1"
        assert not (run_dir / "summary.json").exists()
    assert sorted(_invocations(out)) == ["run-000 start", "run-001 start"]
    assert not (out / "run-002" / "output.log").exists()  # never started
    # run-001 stopped before its first checkpoint: it starts again instead of resuming
    (out / "run-001" / "run-001-20260101-000000" / "checkpoints" / "last.ckpt").unlink()

    messages: list[str] = []
    spec = sw.parse_sweep(THREE)
    results = sw.run_local(spec, out, command=resumable_fit, workers=1, notify=messages.append)
    assert [(r.run_id, r.status) for r in results] == [
        ("run-000", "resumed"),
        ("run-001", "ok"),
        ("run-002", "ok"),
    ]
    assert _invocations(out)[2:] == ["run-000 resume", "run-001 start", "run-002 start"]
    assert all(r.metrics["metrics.val_mse"] == pytest.approx(1.0) for r in results)
    assert results[0].metrics["resumed"] is True and results[1].metrics["resumed"] is False
    command = (out / "run-000" / "command.txt").read_text()
    assert f"--resume {out / 'run-000' / 'run-000-20260101-000000'}" in command
    assert [p.name for p in (out / "run-001").iterdir() if p.is_dir()] == [
        "run-001-20260101-000000"
    ]
    assert any("ETA" in m for m in messages)  # progress messages carry an ETA
    assert "run-002 ok in" in " ".join(messages)
    again = sw.run_local(spec, out, command=resumable_fit, notify=messages.append)
    assert [r.status for r in again] == ["reused"] * 3
    assert "3 of 3 runs already finished" in messages[-1]


def test_base_config_is_written_once_and_passed_to_every_run(
    tmp_path: Path, resumable_fit: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqlab.config import resolve_config

    base = resolve_config(flags={"model.hidden_size": 7})
    spec = sw.parse_sweep(
        {**THREE, "parameters": {**THREE["parameters"], "model.cell": {"values": ["gru"]}}}
    )
    out = tmp_path / "out"
    (result,) = sw.run_local(spec, out, command=resumable_fit, base=base, notify=lambda m: None)
    assert result.status == "ok" and result.metrics["hidden_size"] == 7
    assert resolve_config(out / "base.yaml").model.hidden_size == 7
    command = (out / "run-000" / "command.txt").read_text()
    assert f"--config {out / 'base.yaml'} --set model.cell=gru --set optim.lr=0.1" in command
    other = resolve_config(flags={"model.hidden_size": 9})
    with pytest.raises(ConfigError, match=r"another sweep.*model\.hidden_size"):
        sw.run_local(spec, out, command=resumable_fit, base=other)
    with pytest.raises(ConfigError, match="base config"):
        sw.run_local(spec, out, command=resumable_fit)
    (again,) = sw.run_local(spec, out, command=resumable_fit, base=base, notify=lambda m: None)
    assert again.status == "reused"

    import seqlab.config

    seen = []
    real = seqlab.config.resolve_config
    monkeypatch.setattr(
        seqlab.config,
        "resolve_config",
        lambda *a, base=None, **k: seen.append(base) or real(*a, base=base, **k),
    )
    sw.check_runs(sw.plan_runs(spec), base=base)
    assert seen == [base]
    with pytest.raises(ConfigError, match="model.cel"):
        sw.check_runs([{"model.cel": "gru"}], base=base)


def test_sweep_runs_on_the_slurm_launcher(tmp_path: Path, fake_fit: list[str]) -> None:
    pytest.importorskip("submitit")
    spec = sw.parse_sweep(
        {
            **GRID,
            "parameters": {
                "model.cell": {"values": ["gru", "broken"]},
                "optim.lr": {"value": 0.01},
            },
        }
    )
    out = tmp_path / "out"
    results = sw.run_local(
        spec,
        out,
        command=fake_fit,
        workers=2,
        launcher="slurm",
        launcher_options={"cluster": "local", "timeout_min": 5},
        notify=lambda m: None,
    )
    assert [(r.status, r.returncode) for r in results] == [("ok", 0), ("failed", 3)]
    assert results[0].metrics["metrics.val_mse"] == pytest.approx(0.1)
    assert "exploded" in results[1].log.read_text()
    assert (out / "submitit").is_dir()
    with pytest.raises(ConfigError, match="Did you mean 'slurm'"):
        sw.run_local(spec, out, command=fake_fit, launcher="slrm")


@pytest.mark.slow
def test_real_two_run_grid_through_the_sweep_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``seqlab sweep --local`` running the real ``python -m seqlab fit`` twice (no fake)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two runs at a time on a small machine
    fixed = {
        "task.name": "adding",
        "task.options.seq_len": 6,
        "task.options.n_train": 64,
        "task.options.n_val": 16,
        "task.options.n_test": 16,
        "task.batch_size": 16,
        "model.hidden_size": 4,
        "trainer.max_steps": 4,
        "trainer.max_epochs": None,
        "trainer.num_sanity_val_steps": 0,
        "log.logger": "csv",
    }
    grid = {
        "name": "real-grid",
        "method": "grid",
        "metric": {"name": "val_mse", "goal": "minimize"},
        "parameters": {
            "model.cell": {"values": ["rnn", "gru"]},
            **{key: {"value": value} for key, value in fixed.items()},
        },
    }
    out = tmp_path / "out"
    code = main(
        ["sweep", str(_write(tmp_path, grid)), "--local", "--out", str(out), "--workers", "2"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["run"], r["status"], r["model.cell"]) for r in rows] == [
        ("run-000", "ok", "rnn"),
        ("run-001", "ok", "gru"),
    ]
    for row in rows:
        run_dir = Path(row["run_dir"])
        assert run_dir.parent == out / row["run"]
        # what seqlab fit itself wrote: the swept value reached it, and the table shows its numbers
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["model"]["cell"] == row["model.cell"]
        assert config["model"]["hidden_size"] == 4
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["global_step"] == 4
        assert float(row["val_mse"]) == pytest.approx(summary["metrics"]["val_mse"])
        assert float(row["test_mse"]) == pytest.approx(summary["metrics"]["test_mse"])
        assert int(row["parameters"]) == summary["parameters"]["total"]
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    rnn, gru = (int(r["parameters"]) for r in rows)
    # hidden 4, input 2: the GRU's three gates have three times the RNN's recurrent weights
    assert gru - rnn == 2 * (4 * 2 + 4 * 4 + 2 * 4)
    best = min(rows, key=lambda r: float(r["val_mse"]))
    assert f"Best: **{best['run']}**" in (out / "summary.md").read_text()

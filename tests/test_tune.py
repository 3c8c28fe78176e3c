"""``seqlab tune``: spaces, the function API, resuming, pruning, bad input, two processes.

Every tune here is the adding task at T=10 with a few hundred sequences and a few steps
per trial, so a trial takes well under a second.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from seqlab.cli import main
from seqlab.config import Config, resolve_config
from seqlab.errors import ConfigError
from seqlab.tune import tune
from seqlab.tune.objective import PruningReporter
from seqlab.tune.space import default_space, parse_space
from seqlab.tune.study import DISCARDED

TASK_FLAGS = [
    *("--task", "adding", "--batch-size", "32", "--max-steps", "10"),
    *("--task-opt", "seq_len=10", "--task-opt", "n_train=200"),
    *("--task-opt", "n_val=64", "--task-opt", "n_test=64"),
]
SPACE = {
    "optim.lr": {"low": 1e-3, "high": 1e-2, "log": True},
    "model.hidden_size": {"values": [8, 16]},
}


def tiny_base() -> Config:
    return resolve_config(
        overrides={
            "task.name": "adding",
            "task.options": {"seq_len": 10, "n_train": 200, "n_val": 64, "n_test": 64},
            "task.batch_size": 32,
            "trainer.max_steps": 10,
        }
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> tuple[Path, object]:
    """Two trials of gru, then the same tune resumed to three."""
    out = tmp_path_factory.mktemp("tune") / "out"
    first = tune(tiny_base(), cells=["gru"], space=SPACE, trials=2, out=out, notify=lambda _: None)
    assert len(read_rows(first.trials_csv)) == 2
    lines: list[str] = []
    again = tune(tiny_base(), cells=["gru"], space=SPACE, trials=3, out=out, notify=lines.append)
    assert len(lines) == 1, lines  # the resumed study ran only the missing trial
    return out, again


# -- spaces ------------------------------------------------------------------------------------
def test_space_dimensions_and_their_checks():
    dims = {d.key: d for d in parse_space({**SPACE, "trainer.max_epochs": {"value": 3}})}
    assert dims["optim.lr"].log and not dims["optim.lr"].is_int
    assert dims["model.hidden_size"].values == (8, 16)
    assert dims["trainer.max_epochs"].fixed
    assert parse_space({"task.options.seq_len": {"low": 5, "high": 9}})[0].is_int
    with pytest.raises(ConfigError, match="Did you mean 'optim.lr'"):
        parse_space({"optim.lrr": {"low": 1e-3, "high": 1e-2}})
    with pytest.raises(ConfigError, match="is empty"):
        parse_space({})
    with pytest.raises(ConfigError, match="low ≤ high"):
        parse_space({"optim.lr": {"low": 1e-2, "high": 1e-3}})
    with pytest.raises(ConfigError, match="nothing to search"):
        parse_space({"optim.lr": {"value": 1e-3}})
    with pytest.raises(ConfigError, match="--cells"):
        parse_space({"model.cell": {"values": ["gru", "lstm"]}})


def test_default_classification_space_covers_the_ucr_recipe():
    space = default_space("classification")
    for key in (
        *("optim.lr", "model.hidden_size", "model.dropout", "model.num_layers"),
        *("model.bidirectional", "model.pooling", "model.frontend", "optim.weight_decay"),
    ):
        assert key in space, key
    # batch and budget come from the base config (the task's recipe scales them)
    assert not {"task.batch_size", "trainer.max_epochs", "trainer.max_steps"} & set(space)
    assert all(not d.fixed for d in parse_space(space))


# -- the function API --------------------------------------------------------------------------
def test_tune_writes_trials_best_config_and_plot(tuned):
    out, result = tuned
    rows = read_rows(out / "trials.csv")
    assert [r["trial"] for r in rows] == ["0", "1", "2"]
    assert {r["state"] for r in rows} == {"complete"}
    assert {r["model.hidden_size"] for r in rows} <= {"8", "16"}
    assert all(1e-3 <= float(r["optim.lr"]) <= 1e-2 for r in rows)
    values = [float(r["val_mse"]) for r in rows]
    (best,) = result.best
    assert best.cell == "gru" and best.trials == {"complete": 3}
    assert best.val == pytest.approx(min(values))
    assert rows[best.number]["val_mse"] == str(best.val)
    # the best trial's value is its run's validation metric; test was measured only here
    summary = yaml.safe_load((Path(best.run_dir) / "summary.json").read_text())
    assert summary["metrics"]["val_mse"] == pytest.approx(best.val)
    assert "test_mse" not in summary["metrics"]
    assert best.test is not None and best.test > 0
    saved = yaml.safe_load(best.config_file.read_text())
    assert saved["model"]["cell"] == "gru"
    assert saved["optim"]["lr"] == pytest.approx(best.params["optim.lr"])
    assert saved["model"]["hidden_size"] == best.params["model.hidden_size"]
    assert saved["trainer"]["test"] is True and saved["run"]["dir"] == "runs"
    assert (out / "search.png").stat().st_size > 1000


def test_best_yaml_is_runnable_by_fit(tuned, tmp_path, capsys):
    _, result = tuned
    config = result.best[0].config_file
    code = main(["fit", "--config", str(config), "--run-dir", str(tmp_path), "--max-steps", "2"])
    assert code == 0, capsys.readouterr()
    (run,) = tmp_path.iterdir()
    trained = yaml.safe_load((run / "config.yaml").read_text())
    assert trained["model"]["hidden_size"] == result.best[0].params["model.hidden_size"]


def test_pruned_trials_stop_training_and_count(tmp_path):
    # mse is never below 0: every trial is pruned at its first validation (step 7 of 20)
    base = resolve_config(overrides={"trainer.max_steps": 20}, base=tiny_base())
    result = tune(
        base,
        space=SPACE,
        trials=2,
        out=tmp_path,
        pruner=optuna.pruners.ThresholdPruner(upper=0.0),
        notify=lambda _: None,
    )
    rows = read_rows(result.trials_csv)
    assert [r["state"] for r in rows] == ["pruned", "pruned"]
    for row in rows:
        summary = yaml.safe_load((Path(row["run_dir"]) / "summary.json").read_text())
        assert summary["global_step"] < 20  # stopped by the pruner, not by max_steps
    assert result.best[0].number is None and result.best[0].config_file is None


def test_time_budget_bounds_the_whole_search(tmp_path):
    # without the budget every trial would train 1,000 epochs
    base = resolve_config(
        overrides={"trainer.max_steps": -1, "trainer.max_epochs": 1000}, base=tiny_base()
    )
    started = time.monotonic()
    result = tune(base, space=SPACE, time_budget=3, out=tmp_path, notify=lambda _: None)
    searched = time.monotonic() - started
    rows = read_rows(result.trials_csv)
    assert rows and {r["state"] for r in rows} <= {"complete", "pruned"}
    assert sum(float(r["seconds"]) for r in rows) < 3.0 + 3.0  # + the last validation
    assert searched < 3.0 + 20.0  # the report's test evaluation comes after the budget


def test_reporter_reports_each_validation_and_stops_when_told():
    class FakeTrial:
        def __init__(self) -> None:
            self.reported: list[tuple[float, int]] = []

        def report(self, value: float, step: int) -> None:
            self.reported.append((value, step))

        def should_prune(self) -> bool:
            return len(self.reported) >= 2

    class FakeTrainer:
        def __init__(self) -> None:
            self.sanity_checking = False
            self.should_stop = False
            self.callback_metrics = {"val_mse": 0.5}

    trial, trainer = FakeTrial(), FakeTrainer()
    reporter = PruningReporter(trial, "val_mse")
    reporter.on_validation_end(trainer, None)
    assert trial.reported == [(0.5, 1)] and not trainer.should_stop
    reporter.on_validation_end(trainer, None)
    assert trial.reported == [(0.5, 1), (0.5, 2)] and trainer.should_stop
    assert reporter.pruned_at == 2


# -- the command line: bad input ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trials", "0"], "--trials must be a positive integer"),
        (["--time-budget", "-5"], "--time-budget must be positive"),
        (["--time-budget", "0"], "--time-budget must be positive"),
        (["--space", "SPACE_UNKNOWN"], "Did you mean 'model.hidden_size'"),
        (["--space", "SPACE_EMPTY"], "is empty"),
        (["--task-opt", "seq_len=12", "--trials", "4"], "is a tune of task"),
        (["--cells", "gur"], "gru"),
        (["--pruner", "medain"], "Did you mean 'median'"),
        (["--dropout", "0.1"], "another base config or space (model.dropout: 0.0 then, 0.1 now)"),
    ],
)
def test_bad_input_exits_2_and_overwrites_nothing(tuned, tmp_path, capsys, extra, message):
    out, _ = tuned
    spaces = {"SPACE_UNKNOWN": "model.hiden_size: {values: [8]}\n", "SPACE_EMPTY": "{}\n"}
    for name, text in spaces.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    extra = [str(tmp_path / f"{a}.yaml") if a in spaces else a for a in extra]
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    before = snapshot(out)
    argv = ["tune", *TASK_FLAGS, "--space", str(space), "--out", str(out), "--cells", "gru"]
    code = main([*argv, *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in " ".join(err.split())
    assert "Traceback" not in err
    assert snapshot(out) == before


# -- two processes on one SQLite study ---------------------------------------------------------
@pytest.mark.slow
def test_two_processes_share_one_sqlite_study(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    out = tmp_path / "shared"
    argv = [sys.executable, "-m", "seqlab", "tune", *TASK_FLAGS]
    argv += ["--space", str(space), "--out", str(out), "--cells", "gru", "--trials", "4"]
    argv += ["--pruner", "none"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    progress = [line for _, err in outputs for line in err.splitlines() if " trial " in line]
    assert len(progress) == 4, progress  # each trial was run by exactly one process
    study = optuna.load_study(study_name="shared-gru", storage=f"sqlite:///{out / 'study.db'}")
    counted = [t for t in study.trials if DISCARDED not in t.user_attrs]
    assert sorted(t.number for t in counted) == sorted({t.number for t in counted})
    assert len(counted) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in counted)
    assert len({t.user_attrs["run_dir"] for t in counted}) == 4
    assert len(read_rows(out / "trials.csv")) == 4


def test_the_first_trial_is_the_base_config(tmp_path):
    # The base's values that the space holds are trial 0's; a value outside the space
    # (hidden_size 64 against [8, 16]) is left to the sampler.
    base = tiny_base()
    base.optim.lr = 2e-3
    base.task.options["seq_len"] = 8
    space = {**SPACE, "task.options.seq_len": {"low": 6, "high": 10}}
    result = tune(base, cells=["gru"], space=space, trials=1, out=tmp_path / "t", notify=print)
    (row,) = read_rows(result.trials_csv)
    assert float(row["optim.lr"]) == 2e-3 and int(row["task.options.seq_len"]) == 8, row
    study = optuna.load_study(study_name=f"{result.study}-gru", storage=result.storage)
    assert study.trials[0].user_attrs.get("base") is True  # what the selection rule reads
    base.model.hidden_size = 16
    result = tune(base, cells=["gru"], space=space, trials=1, out=tmp_path / "u", notify=print)
    (row,) = read_rows(result.trials_csv)
    assert int(row["model.hidden_size"]) == 16, row


def test_no_trial_much_shorter_than_its_peers_is_started(tmp_path):
    from seqlab.tune.running import CellLoop

    study = optuna.create_study()
    loop = CellLoop(study, "gru", [], tiny_base(), "val_mse", tmp_path, None, None)
    loop.durations = [10.0, 12.0, 10.0]  # median 10 s: no trial under 5 s
    for _ in range(8):  # two of the planned ten left: the next gets half of what is left
        study.tell(study.ask(), 1.0)
    loop.deadline = time.monotonic() + 9.0
    assert not loop.more()
    loop.deadline = time.monotonic() + 11.0
    assert loop.more()
    loop.trials, loop.deadline = 10, time.monotonic() + 2.0  # a trial count: run them all
    assert loop.more()


def test_the_base_trial_trains_on_its_own_budget(tmp_path):
    from seqlab.tune.running import PLANNED_TRIALS, CellLoop

    loop = CellLoop(optuna.create_study(), "gru", [], tiny_base(), "val_mse", tmp_path, None, None)
    loop.study.ask()  # the trial being planned is running when its time is asked
    loop.deadline = time.monotonic() + 100.0
    assert loop.trial_time() == pytest.approx(100.0 / PLANNED_TRIALS, rel=0.05)
    assert loop.trial_time(base=True) == pytest.approx(100.0, rel=0.05)


def test_the_base_trial_does_not_set_the_length_of_its_peers(tmp_path, monkeypatch):
    import seqlab.tune.running as running
    from seqlab.tune.objective import TrialOutcome

    def fake_trial(loop, trial):
        seconds = 50.0 if loop.is_base(trial) else 5.0
        return {}, TrialOutcome(1.0, False, None, None, seconds)

    monkeypatch.setattr(running, "_one_trial", fake_trial)
    dims = parse_space(SPACE)
    loop = running.CellLoop(
        optuna.create_study(), "gru", dims, tiny_base(), "val_mse", tmp_path, None, None
    )
    loop.notify = lambda _: None
    loop.deadline = time.monotonic() + 60.0  # shares of ~6 s: fine against 5 s peers
    running.start_from_base(loop)
    assert loop.started_from_base
    loop.trials = 4
    assert running.run_cell(loop)
    assert loop.durations == [5.0, 5.0, 5.0]  # the base trial's 50 s is not among them


def test_a_search_trial_must_beat_the_base_trial_by_more_than_one_example():
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from seqlab.tasks import TaskInfo
    from seqlab.tune.selection import BASE_ATTR, chosen_trial, resolution

    def study_of(values, direction="maximize", base=True):
        study = optuna.create_study(direction=direction)
        for i, value in enumerate(values):
            study.add_trial(
                create_trial(
                    params={"x": 0.5},
                    distributions={"x": FloatDistribution(0, 1)},
                    value=value,
                    user_attrs={BASE_ATTR: True} if base and i == 0 else {},
                )
            )
        return study

    # 28 validation series (Covid3Month_disc): one series is 1/28 of accuracy.
    info = TaskInfo("classification", "real", 1, 3, "acc", "max", extra={"sizes": {"val": 28}})
    gain = resolution(info)
    assert gain == pytest.approx(1 / 28)
    one_ahead = study_of([14 / 28, 13 / 28, 15 / 28])
    assert chosen_trial(one_ahead, gain).number == 0  # one series ahead: the base stays
    assert chosen_trial(one_ahead, 0.0).number == 2  # Optuna's plain best
    two_ahead = study_of([14 / 28, 16 / 28, 15 / 28])
    assert chosen_trial(two_ahead, gain).number == 1
    assert chosen_trial(study_of([0.3, 0.2], "minimize"), 0.05).number == 1
    assert chosen_trial(study_of([0.3, 0.26], "minimize"), 0.05).number == 0
    # Without a base trial (a study another process started) the best is the best.
    assert chosen_trial(study_of([14 / 28, 15 / 28], base=False), gain).number == 1
    assert chosen_trial(study_of([0.9]), gain).number == 0
    assert chosen_trial(study_of([0.3, 0.2], "minimize"), 0.0).number == 1  # lower is better
    assert chosen_trial(optuna.create_study(), gain) is None
    # Metrics that are not a count of examples have no step: any gain counts.
    assert resolution(TaskInfo("regression", "real", 1, 1, "mse", "min")) == 0.0
    assert resolution(TaskInfo("classification", "real", 1, 3, "acc", "max")) == 0.0  # no sizes

"""seqlab compare: a real tiny comparison, its files, resume, matched parameters, errors."""

from __future__ import annotations

import csv
import json
import math
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.compare import Budget, build_plan, parse_cells, parse_seeds, run_comparison
from seqlab.compare.plan import CellSpec, grad_flow_every
from seqlab.compare.runner import finished_dir
from seqlab.config import resolve_config
from seqlab.errors import ConfigError, UnknownNameError

TINY_TASK = [
    "--task",
    "adding",
    "--task-opt",
    "seq_len=8",
    "--task-opt",
    "n_train=128",
    "--task-opt",
    "n_val=32",
    "--task-opt",
    "n_test=32",
]
# One torch thread: on a shared 2-core machine two spinning OpenMP threads are far slower.
TINY = [
    *TINY_TASK,
    "--threads",
    "1",
    "--hidden-size",
    "6",
    "--batch-size",
    "32",
    "--max-steps",
    "8",
    "--grad-flow",
    "every=4",
    "--set",
    "trainer.val_check_interval=4",
    "--set",
    "trainer.num_sanity_val_steps=0",
]
# Faster still where learning curves and gradient flow are not looked at.
BARE = [
    *TINY[:-6],
    "--grad-flow",
    "off",
    "--set",
    "trainer.val_check_interval=8",
    "--set",
    "trainer.num_sanity_val_steps=0",
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _valid_png(path: Path) -> None:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100, (path, image.shape)
    assert image[..., :3].std() > 0.01, f"{path} is blank"


def _peak_rss_mb(status: str = "/proc/self/status") -> float:
    """A process's peak resident set size in MiB, read from the kernel's ``VmHWM``.

    Independent of seqlab's own measurement (``getrusage``), to check it against."""
    for line in Path(status).read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM in {status}")


_TINY_PEAK: dict[str, float] = {}


def _count_fits(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record every fit the in-process worker starts (its ``resume`` argument)."""
    import seqlab.training

    calls: list[object] = []
    real = seqlab.training.fit

    def counting(config, *, resume=None, callbacks=()):
        calls.append(resume)
        return real(config, resume=resume, callbacks=callbacks)

    monkeypatch.setattr(seqlab.training, "fit", counting)
    return calls


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 cells × 2 seeds, 8 steps each, run in this process (the CLI's --workers 0)."""
    out = tmp_path_factory.mktemp("compare") / "tiny"
    _TINY_PEAK["before"] = _peak_rss_mb()
    code = main(
        [
            "compare",
            "--cells",
            "rnn,lstm",
            "--seeds",
            "2",
            *TINY,
            "--out",
            str(out),
            "--workers",
            "0",
            "--quiet",
        ]
    )
    assert code == 0
    return out


@pytest.mark.slow  # shares the module's tiny comparison (about 10 s)
def test_results_csv_has_one_row_per_run_with_every_metric(tiny: Path) -> None:
    rows = _rows(tiny / "results.csv")
    assert [(r["cell"], r["seed"]) for r in rows] == [
        ("rnn", "0"),
        ("rnn", "1"),
        ("lstm", "0"),
        ("lstm", "1"),
    ]
    for column in (
        "cell",
        "seed",
        "hidden_size",
        "parameters",
        "val_mse",
        "val_mae",
        "test_mse",
        "test_mae",
        "train_time_s",
        "samples_per_s",
        "peak_memory_mb",
        "flops_per_step",
        "grad_flow_ratio",
        "baseline",
    ):
        assert column in rows[0], column
        assert all(r[column] != "" for r in rows), column
    for r in rows:
        summary = json.loads((Path(r["run_dir"]) / "summary.json").read_text())
        assert float(r["test_mse"]) == pytest.approx(summary["metrics"]["test_mse"])
        assert int(r["parameters"]) == summary["parameters"]["total"]
        assert int(r["hidden_size"]) == 6 and int(summary["global_step"]) == 8
        resources = json.loads((Path(r["run_dir"]) / "resources.json").read_text())
        assert resources["samples"] == 8 * 32  # every training batch, whichever checkpoint was best
        assert float(r["samples_per_s"]) == pytest.approx(
            8 * 32 / float(r["train_time_s"]), rel=2e-2
        )
        # in this process (--workers 0): its peak, which the kernel reports alike, can only
        # have grown from before the comparison to now
        assert resources["pid"] == os.getpid()
        peak = float(r["peak_memory_mb"])
        assert _TINY_PEAK["before"] - 0.1 <= peak <= _peak_rss_mb() + 0.1
        assert 0 < float(r["grad_flow_ratio"]) < 10
    rnn, lstm = rows[0], rows[2]
    # an LSTM step is four RNN-sized matrix products (one per gate)
    assert int(lstm["flops_per_step"]) == 4 * int(rnn["flops_per_step"])
    assert int(lstm["parameters"]) > int(rnn["parameters"])


@pytest.mark.slow  # shares the module's tiny comparison (about 10 s)
def test_same_seed_means_same_data_for_every_cell(tiny: Path) -> None:
    rows = _rows(tiny / "results.csv")
    by = {(r["cell"], r["seed"]): float(r["baseline"]) for r in rows}
    assert by[("rnn", "0")] == by[("lstm", "0")]  # the baseline is computed on the data
    assert by[("rnn", "0")] != by[("rnn", "1")]


@pytest.mark.slow  # shares the module's tiny comparison (about 10 s)
def test_report_has_mean_std_baseline_and_plots(tiny: Path) -> None:
    report = (tiny / "report.md").read_text()
    rows = _rows(tiny / "results.csv")
    lstm = [float(r["test_mse"]) for r in rows if r["cell"] == "lstm"]
    mean = sum(lstm) / 2
    std = math.sqrt(sum((v - mean) ** 2 for v in lstm))  # sample std of two values
    line = next(x for x in report.splitlines() if x.startswith("| lstm |"))
    assert f"{mean:.4g} ± {std:.2g}" in line
    assert "always predict 1" in report and "Trivial baseline" in report
    baseline = (float(rows[2]["baseline"]) + float(rows[3]["baseline"])) / 2  # per seed's data
    assert f"| {baseline:.4g} |" in line
    for name in (
        "learning_curves.png",
        "metric_vs_parameters.png",
        "grad_flow_heatmaps.png",
        "grad_flow_profiles.png",
    ):
        assert f"]({name})" in report
        _valid_png(tiny / name)


@pytest.mark.slow  # shares the module's tiny comparison (about 10 s)
def test_rerun_reuses_finished_runs(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_fits(monkeypatch)
    stamps = {p: p.stat().st_mtime_ns for p in tiny.glob("runs/*/*/summary.json")}
    assert len(stamps) == 4
    code = main(
        [
            "compare",
            "--cells",
            "rnn,lstm",
            "--seeds",
            "2",
            *TINY,
            "--out",
            str(tiny),
            "--workers",
            "0",
            "--quiet",
        ]
    )
    assert code == 0
    assert calls == []
    assert {p: p.stat().st_mtime_ns for p in tiny.glob("runs/*/*/summary.json")} == stamps
    assert len(_rows(tiny / "results.csv")) == 4


def test_interrupted_runs_are_resumed_or_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cmp"
    args = [
        "compare",
        "--cells",
        "gru",
        "--seed-list",
        "3,4",
        *BARE,
        "--out",
        str(out),
        "--workers",
        "0",
        "--quiet",
    ]
    assert main(args) == 0
    s3, s4 = (
        finished_dir(out / "runs" / "gru-s3", "gru-s3"),
        finished_dir(out / "runs" / "gru-s4", "gru-s4"),
    )
    assert s3 is not None and s4 is not None
    # s3 was interrupted after its last checkpoint; s4 before its first one.
    (s3 / "summary.json").unlink()
    (s3 / "resources.json").unlink()
    (s4 / "summary.json").unlink()
    shutil.rmtree(s4 / "checkpoints")
    calls = _count_fits(monkeypatch)
    assert main(args) == 0
    assert calls == [str(s3), None]  # s3 continued from its checkpoint, s4 started afresh
    s4_new = finished_dir(out / "runs" / "gru-s4", "gru-s4")  # may reuse the name within a second
    assert s4_new is not None and (s4_new / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((s4_new / "summary.json").read_text())["resumed"] is False
    assert len(list((out / "runs" / "gru-s4").glob("gru-s4-*"))) == 1  # the stopped one is gone
    summary = json.loads((s3 / "summary.json").read_text())
    assert summary["resumed"] is True and summary["global_step"] == 8
    assert len(_rows(out / "results.csv")) == 2


def test_changed_command_is_an_error_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    base = [
        "compare",
        "--cells",
        "rnn",
        "--seeds",
        "1",
        *BARE,
        "--out",
        str(out),
        "--workers",
        "0",
        "--quiet",
    ]
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--lr", "0.01"]) == 2
    err = capsys.readouterr().err
    assert "different comparison" in err and "optim.lr" in err and "--force" in err
    assert main([*base, "--lr", "0.01", "--force"]) == 0
    run = finished_dir(out / "runs" / "rnn-s0", "rnn-s0")
    assert run is not None
    assert "lr: 0.01" in (run / "config.yaml").read_text()


def test_time_budget_stops_training_by_wall_clock(tmp_path: Path) -> None:
    base = resolve_config(
        flags={
            "task.name": "adding",
            "task.options.seq_len": 8,
            "task.options.n_train": 1024,
            "task.options.n_val": 32,
            "task.options.n_test": 32,
            "model.hidden_size": 4,
            "task.batch_size": 32,
            "trainer.num_sanity_val_steps": 0,
        }
    )
    plan = build_plan(
        base, parse_cells("rnn"), [0], Budget(time_budget_s=1.5), name="t", grad_flow="off"
    )
    assert plan.runs[0].config.trainer.max_steps == -1
    result = run_comparison(plan, tmp_path / "t", workers=0, threads=1)
    (row,) = [r.row for r in result.results]
    assert (
        1.5
        <= row["train_time_s"]
        + json.loads((Path(row["run_dir"]) / "resources.json").read_text())["val_time_s"]
        < 6
    )
    assert row["global_step"] > 10  # thousands of epochs allowed: only the clock stopped it


def test_match_params_equalises_whole_model_parameter_counts() -> None:
    base = resolve_config(
        flags={
            "task.name": "adding",
            "task.options.seq_len": 8,
            "task.options.n_train": 32,
            "task.options.n_val": 16,
            "task.options.n_test": 16,
            "model.hidden_size": 64,
        }
    )
    plan = build_plan(
        base, parse_cells("rnn,lstm,gru"), [0, 1], Budget(max_steps=5), name="m", match_params=True
    )
    counts = {r.cell.name: r.parameters for r in plan.runs}
    hidden = {r.cell.name: r.hidden_size for r in plan.runs}
    assert hidden["rnn"] == 64
    assert hidden["lstm"] < hidden["gru"] < 64
    for name in ("lstm", "gru"):
        assert abs(counts[name] - counts["rnn"]) / counts["rnn"] < 0.03, (name, counts)
    # the counts are those of the model fit builds (head included), not of the cell alone
    from seqlab.cells import count_parameters, create_cell

    assert counts["rnn"] > count_parameters(create_cell("rnn", 2, 64))
    budget = build_plan(
        base, parse_cells("lstm,gru"), [0], Budget(max_steps=5), name="b", param_budget=20_000
    )
    assert all(abs(r.parameters - 20_000) / 20_000 < 0.03 for r in budget.runs)


def test_cell_options_in_brackets() -> None:
    specs = parse_cells("lstm[forget_bias=0],lstm[forget_bias=1],gru")
    assert specs[0] == CellSpec("lstm", (("forget_bias", 0),))
    assert [s.label for s in specs] == ["lstm[forget_bias=0]", "lstm[forget_bias=1]", "gru"]
    assert specs[0].slug == "lstm-forget_bias-0"
    base = resolve_config(
        flags={
            "task.name": "adding",
            "task.options.seq_len": 8,
            "task.options.n_train": 32,
            "task.options.n_val": 16,
            "task.options.n_test": 16,
            "model.hidden_size": 8,
        }
    )
    plan = build_plan(base, specs[:2], [0], Budget(max_steps=5), name="fb")
    assert [r.config.model.cell_options for r in plan.runs] == [
        {"forget_bias": 0},
        {"forget_bias": 1},
    ]
    assert plan.runs[0].run_id != plan.runs[1].run_id


@pytest.mark.slow
def test_two_worker_processes(tmp_path: Path) -> None:
    out = tmp_path / "w2"
    code = main(
        [
            "compare",
            "--cells",
            "rnn,gru",
            "--seeds",
            "1",
            *BARE,
            "--out",
            str(out),
            "--workers",
            "2",
            "--quiet",
        ]
    )
    assert code == 0
    rows = _rows(out / "results.csv")
    assert [r["cell"] for r in rows] == ["rnn", "gru"]
    pids = {json.loads((Path(r["run_dir"]) / "resources.json").read_text())["pid"] for r in rows}
    assert len(pids) == 2  # each run had its own process
    # measured apart: a process that only imports the worker (torch, Lightning, seqlab)
    # peaks below a run; the largest finished child of this process peaks above any run
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import seqlab.compare.worker, sys\n"
            "for line in open('/proc/self/status'):\n"
            "    line.startswith('VmHWM:') and print(int(line.split()[1]) / 1024)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    imports_only = float(probe.stdout)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for r in rows:
        assert (Path(r["run_dir"]).parent / "output.log").is_file()
        assert 0.9 * imports_only <= float(r["peak_memory_mb"]) <= children + 0.1, (
            imports_only,
            children,
        )


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cells", "lstn,gru"], "Did you mean 'lstm'"),
        (["--cells", " , "], "--cells is empty"),
        (["--cells", "lstm[forget_bias=0"], "not closed"),
        (["--cells", "lstm,lstm"], "twice"),
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--seeds", "2", "--seed-list", "0,1"], "not both"),
        (["--seed-list", "0,x"], "non-negative integers"),
        (["--time-budget", "10"], "both were given"),
        (["--grad-flow", "sometimes"], "every=N"),
        (["--match-params", "--param-budget", "1000"], "use one of them"),
    ],
)
def test_bad_input_is_a_clear_error(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "compare",
        *TINY_TASK,
        "--max-steps",
        "2",
        "--out",
        str(tmp_path / "o"),
        "--workers",
        "0",
    ]
    code = main([*base, *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err.replace("\n", " "), err
    assert "Traceback" not in err


def test_neither_budget_and_unwritable_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", *TINY_TASK, "--out", str(tmp_path / "o")]) == 2
    assert "neither was given" in capsys.readouterr().err.replace("\n", " ")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert (
        main(
            [
                "compare",
                "--cells",
                "rnn",
                "--seeds",
                "1",
                *BARE,
                "--out",
                str(blocker / "sub"),
                "--workers",
                "0",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.replace("\n", " ")
    assert "not a writable directory" in err


def test_plan_helpers() -> None:
    assert parse_seeds(None, None) == [0, 1, 2]
    assert parse_seeds(2, None) == [0, 1]
    assert parse_seeds(None, "5, 7") == [5, 7]
    assert grad_flow_every("auto", Budget(max_steps=1000)) == 50
    assert grad_flow_every("auto", Budget(max_steps=10)) == 1
    assert grad_flow_every("every=7", Budget(max_steps=10)) == 7
    assert grad_flow_every("off", Budget(max_steps=10)) is None
    with pytest.raises(UnknownNameError):
        parse_cells("nope")
    with pytest.raises(ConfigError):
        Budget(max_steps=0)


def test_resource_meter_keeps_final_counts_when_best_checkpoint_is_restored() -> None:
    """fit evaluates the best checkpoint after training; restoring it must not roll back
    the counts to that checkpoint's step (it did: samples/s came out of the wrong step)."""
    import torch

    from seqlab.compare.worker import ResourceMeter

    class Trainer:
        sanity_checking = False

    meter = ResourceMeter()
    meter.load_state_dict({"train_time_s": 2.0, "samples": 64, "tokens": 640})  # a resumed fit
    meter.on_train_start(Trainer(), None)
    batch = {"x": torch.zeros(32, 10, 2), "lengths": torch.full((32,), 10)}
    for i in range(3):
        meter.on_train_batch_end(Trainer(), None, None, batch, i)
    early = meter.state_dict()
    meter.on_train_end(Trainer(), None)
    assert (meter.samples, meter.tokens) == (64 + 96, 640 + 960)
    final = meter.train_time_s
    assert final >= 2.0 and early["samples"] == 160
    meter.load_state_dict({"train_time_s": 0.5, "samples": 32, "tokens": 320})  # best.ckpt
    assert (meter.samples, meter.train_time_s) == (160, final)


# -- the job runner (seqlab.jobs) -----------------------------------------------------------------
def _tiny_plan(name: str):
    base = resolve_config(
        flags={
            "task.name": "adding",
            "task.options.seq_len": 8,
            "task.options.n_train": 128,
            "task.options.n_val": 32,
            "task.options.n_test": 32,
            "model.hidden_size": 4,
            "task.batch_size": 32,
            "trainer.val_check_interval": 4,
            "trainer.num_sanity_val_steps": 0,
        }
    )
    return build_plan(
        base, parse_cells("rnn"), [0], Budget(max_steps=4), name=name, grad_flow="off"
    )


def test_unknown_launcher_fails_before_anything_is_written(tmp_path: Path) -> None:
    import importlib.util

    plan = _tiny_plan("l")
    with pytest.raises(ConfigError, match="Did you mean 'slurm'"):
        run_comparison(plan, tmp_path / "l", launcher="slurn")
    with pytest.raises(ConfigError, match="applies to --launcher slurm"):
        run_comparison(plan, tmp_path / "l", launcher_options={"timeout_min": 5})
    with pytest.raises(
        ConfigError, match=r"--workers must be an integer ≥ 0 \(0: in this process\)"
    ):
        run_comparison(plan, tmp_path / "l", workers=-1)
    if importlib.util.find_spec("submitit") is not None:
        with pytest.raises(ConfigError, match="--launcher slurm needs --workers 1 or more"):
            run_comparison(plan, tmp_path / "l", workers=0, launcher="slurm")
    assert not (tmp_path / "l").exists()


@pytest.mark.slow  # one worker process through submitit's local executor (about 10 s)
def test_comparison_runs_on_the_slurm_launcher(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    plan = _tiny_plan("sl")
    options = {"cluster": "local", "timeout_min": 10}
    out = tmp_path / "sl"
    result = run_comparison(plan, out, threads=1, launcher="slurm", launcher_options=options)
    (outcome,) = result.outcomes
    assert (outcome.job_id, outcome.status, outcome.returncode, outcome.ok) == (
        "rnn-s0",
        "ran",
        0,
        True,
    )
    assert outcome.seconds > 0 and outcome.log == out / "runs" / "rnn-s0" / "output.log"
    (row,) = [r.row for r in result.results]
    assert row["global_step"] == 4
    assert json.loads((Path(row["run_dir"]) / "resources.json").read_text())["threads"] == 1
    assert (out / "submitit").is_dir()
    again = run_comparison(plan, out, threads=1, launcher="slurm", launcher_options=options)
    assert [o.status for o in again.outcomes] == ["reused"]


def test_parameter_counts_are_printed_exactly():
    from seqlab.compare.numbers import fmt_count

    # 6 significant digits printed both of these as 1,221,250
    assert fmt_count(1_221_249) == "1,221,249"
    assert fmt_count(1_221_250.0) == "1,221,250"
    assert fmt_count(None) == "–"

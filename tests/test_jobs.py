"""seqlab.jobs: the one job runner of compare and sweep (local processes, in-process,
submitit), its progress and ETA, and its Ctrl-C/SIGTERM handling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from seqlab.errors import ConfigError, DataError, MissingDependencyError
from seqlab.jobs import (
    LAUNCHERS,
    ConsoleProgress,
    Job,
    JobOutcome,
    Progress,
    check_launcher,
    estimate_eta,
    finished_dir,
    format_duration,
    remove_stopped,
    resumable_dir,
    run_jobs,
    worker_threads,
)


def _job(tmp_path: Path, job_id: str, code: str, **kwargs) -> Job:
    slot = tmp_path / job_id
    return Job(job_id, slot, [sys.executable, "-c", code], slot / "output.log", **kwargs)


class Recorder(Progress):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, total: int, done: int) -> None:
        self.events.append(("start", total, done))

    def run_started(self, job_id: str, running: Sequence[str]) -> None:
        self.events.append(("started", job_id, list(running)))

    def run_ended(self, outcome, done: int, total: int, eta_s: float | None) -> None:
        self.events.append(("ended", outcome.job_id, outcome.status, done, total, eta_s))

    def stop(self) -> None:
        self.events.append(("stop",))


ENV_PRINTER = "import os; print(os.environ.get('OMP_NUM_THREADS'), os.environ.get('SEQLAB_TEST'))"


# -- local processes ----------------------------------------------------------------------------
def test_local_jobs_run_workers_at_a_time_with_outcomes_and_progress(tmp_path: Path) -> None:
    jobs = [
        _job(tmp_path, "a", "print('hello from a')"),
        _job(tmp_path, "b", "import sys; print('b exploded', file=sys.stderr); sys.exit(3)"),
        _job(tmp_path, "c", ENV_PRINTER),
    ]
    progress = Recorder()
    outcomes = run_jobs(
        jobs,
        workers=2,
        threads=1,
        env={**os.environ, "SEQLAB_TEST": "group-x"},
        progress=progress,
        finished=1,
        poll_s=0.02,
    )
    assert [o.job_id for o in outcomes] == ["a", "b", "c"]  # job order, whatever the end order
    assert [(o.status, o.returncode, o.ok) for o in outcomes] == [
        ("ok", 0, True),
        ("failed", 3, False),
        ("ok", 0, True),
    ]
    assert all(isinstance(o, JobOutcome) and o.seconds > 0 for o in outcomes)
    assert outcomes[0].log.read_text() == "hello from a\n"
    assert "b exploded" in outcomes[1].log.read_text()
    assert outcomes[2].log.read_text().split() == ["1", "group-x"]  # threads → OMP_NUM_THREADS
    events = progress.events
    assert events[0] == ("start", 4, 1) and events[-1] == ("stop",)
    started = [e for e in events if e[0] == "started"]
    assert [e[1] for e in started] == ["a", "b", "c"]
    assert max(len(e[2]) for e in started) == 2  # never more than `workers` at a time
    ended = [e for e in events if e[0] == "ended"]
    assert [e[3] for e in ended] == [2, 3, 4] and all(e[4] == 4 for e in ended)
    assert ended[0][5] is not None and ended[-1][5] == 0  # an ETA from the first end on


def test_default_threads_are_cores_per_worker_unless_the_environment_sets_them(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    cores = os.cpu_count() or 1
    assert worker_threads(None, 2, env) == max(1, cores // 2)
    assert worker_threads(None, 1, env) is None
    assert worker_threads(None, 2, {**env, "OMP_NUM_THREADS": "3"}) is None
    assert worker_threads(4, 2, env) == 4
    assert worker_threads(None, 2, env, "slurm", {"cpus_per_task": "6"}) == 6
    assert worker_threads(None, 2, env, "slurm", {}) is None
    with pytest.raises(ConfigError, match="--threads must be a positive integer, got 0"):
        worker_threads(0, 1, env)
    (job,) = run_jobs([_job(tmp_path, "e", ENV_PRINTER)], workers=2, env=env, poll_s=0.02)
    assert job.log.read_text().split()[0] == str(max(1, cores // 2))


def test_in_process_jobs_with_workers_0(tmp_path: Path) -> None:
    calls: list[str] = []

    def crash() -> None:
        calls.append("crash")
        raise RuntimeError("boom")

    jobs = [
        _job(tmp_path, "x", "raise SystemExit(9)", call=lambda: calls.append("x")),
        _job(tmp_path, "y", "", call=crash),
    ]
    progress = Recorder()
    outcomes = run_jobs(jobs, workers=0, progress=progress)
    assert calls == ["x", "crash"]  # the calls ran here, not the commands
    assert [(o.status, o.returncode) for o in outcomes] == [("ok", 0), ("failed", 1)]
    assert outcomes[1].log.read_text() == "RuntimeError: boom\n"
    assert [e[0] for e in progress.events] == [
        "start",
        "started",
        "ended",
        "started",
        "ended",
        "stop",
    ]

    def user_error() -> None:
        raise DataError("no such data set")

    with pytest.raises(DataError):  # the same for every job: stop at once
        run_jobs([_job(tmp_path, "z", "", call=user_error)], workers=0)


def test_a_custom_outcome_is_what_the_runner_returns(tmp_path: Path) -> None:
    seen = []

    def outcome(job: Job, code: int | None, seconds: float) -> JobOutcome:
        seen.append((job.job_id, code))
        return JobOutcome(job.job_id, "ran" if code == 0 else "failed", seconds, code, job.log)

    (result,) = run_jobs([_job(tmp_path, "o", "pass")], outcome=outcome, poll_s=0.02)
    assert seen == [("o", 0)] and result.status == "ran"


def test_estimate_eta() -> None:
    assert estimate_eta([], 4, [], 2, None) is None  # nothing to go by yet
    assert estimate_eta([], 2, [], 1, 10.0) == pytest.approx(24.0)  # the budget, +20 %
    # mean 10 s: 3 pending (30 s) + a running job 4 s in (6 s left), over 2 workers
    assert estimate_eta([8.0, 12.0], 3, [4.0], 2, None) == pytest.approx(18.0)
    assert estimate_eta([5.0], 0, [], 4, None) == 0
    assert [format_duration(s) for s in (None, 4.4, 65, 3720)] == ["?", "4s", "1m05s", "1h02m"]


def test_launchers_and_their_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert LAUNCHERS == ("local", "slurm")
    assert check_launcher("local") == "local"
    with pytest.raises(ConfigError, match="Did you mean 'slurm'"):
        check_launcher("slrum")
    job = _job(tmp_path, "l", "pass")
    with pytest.raises(ConfigError, match="applies to --launcher slurm"):
        run_jobs([job], launcher_options={"timeout_min": 5})
    with pytest.raises(ConfigError, match="--launcher slurm needs --workers 1 or more"):
        run_jobs([job], workers=0, launcher="slurm", launcher_options={"cluster": "local"})
    with pytest.raises(ConfigError, match="--workers must be an integer ≥ 0"):
        run_jobs([job], workers=-1)
    with pytest.raises(ConfigError, match="--launcher-opt"):
        run_jobs([job], launcher="slurm", launcher_options={"cluster": "local", "bogus": 1})
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    with pytest.raises(ConfigError, match="sbatch"):
        run_jobs([job], launcher="slurm", folder=tmp_path / "s")
    monkeypatch.setitem(sys.modules, "submitit", None)  # not installed
    with pytest.raises(MissingDependencyError, match=r'pip install "seqlab\[cluster\]"'):
        check_launcher("slurm")


def test_console_progress_prints_one_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    progress = ConsoleProgress()
    progress.start(3, 1)
    progress.run_started("a", ["a"])
    progress.run_ended(JobOutcome("a", "ran", 65.0, 0, Path("a.log")), 2, 3, 30.0)
    progress.run_ended(JobOutcome("b", "failed", 2.0, 1, Path("b.log")), 3, 3, 0.0)
    progress.stop()
    err = capsys.readouterr().err
    assert "1 of 3 runs already finished; reusing them." in err
    assert "started a" in err
    assert "[2/3] a ran in 1m05s; ETA 30s" in err
    assert "[3/3] b failed in 2s (exit 1; see b.log); ETA done" in err
    ConsoleProgress(quiet=True).start(2, 1)
    assert capsys.readouterr().err == ""


# -- submitit ("slurm" launcher), exercised with submitit's local executor ----------------------
def test_slurm_launcher_runs_jobs_through_submitit(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    jobs = [
        _job(tmp_path, "s1", ENV_PRINTER),
        _job(tmp_path, "s2", "import sys; print('s2 exploded'); sys.exit(4)"),
    ]
    progress = Recorder()
    outcomes = run_jobs(
        jobs,
        workers=2,
        threads=1,
        env={**os.environ, "SEQLAB_TEST": "on-the-cluster"},
        launcher="slurm",
        launcher_options={"cluster": "local", "timeout_min": "5"},
        folder=tmp_path / "submitit",
        progress=progress,
    )
    assert [(o.job_id, o.status, o.returncode) for o in outcomes] == [
        ("s1", "ok", 0),
        ("s2", "failed", 4),
    ]
    # the environment this process adds reaches the job (and OMP_NUM_THREADS from threads)
    assert outcomes[0].log.read_text().split() == ["1", "on-the-cluster"]
    assert "s2 exploded" in outcomes[1].log.read_text()
    assert any((tmp_path / "submitit").iterdir())  # submitit's own files
    assert [e[1] for e in progress.events if e[0] == "ended"] in (["s1", "s2"], ["s2", "s1"])


# -- Ctrl-C and SIGTERM ---------------------------------------------------------------------------
# A job that records the signals it gets, then exits 130 the way seqlab fit does.
SIGNAL_JOB = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    mark = Path(sys.argv[1])
    got = []
    def handler(signum, frame):
        got.append(signal.Signals(signum).name)
        mark.with_suffix(".signals").write_text(" ".join(got))
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    mark.write_text("running")
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # "finishing the batch and saving a checkpoint"; a second signal is recorded
    sys.exit(130)
""")

RUNNER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from seqlab.jobs import Job, run_jobs
    root, launcher = Path(sys.argv[1]), sys.argv[2]
    jobs = [Job(n, root / n, [sys.executable, str(root / "job.py"), str(root / n / "mark")],
                root / n / "output.log") for n in ("j1", "j2", "j3")]
    options = {"cluster": "local"} if launcher == "slurm" else None
    try:
        run_jobs(jobs, workers=2, poll_s=0.02, launcher=launcher, launcher_options=options,
                 folder=root / "submitit")
    except KeyboardInterrupt as exc:
        print(json.dumps({"interrupted": type(exc).__name__}))
        sys.exit(130)
""")


def _interrupt(tmp_path: Path, group: bool, sig: int, launcher: str = "local") -> tuple[int, str]:
    (tmp_path / "job.py").write_text(SIGNAL_JOB)
    (tmp_path / "runner.py").write_text(RUNNER)
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "runner.py"), str(tmp_path), launcher],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / j / "mark").is_file() for j in ("j1", "j2")):
            assert proc.poll() is None and time.monotonic() < deadline, "the jobs did not start"
            time.sleep(0.05)
        if group:  # a terminal's Ctrl-C: the whole foreground process group
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out


@pytest.mark.parametrize(
    ("group", "sig", "received"),
    [
        (True, signal.SIGINT, "SIGINT"),  # Ctrl-C reached the jobs: they are not signalled again
        (False, signal.SIGTERM, "SIGTERM"),  # a SIGTERM to the runner alone is passed on
    ],
)
def test_stop_signals_stop_the_jobs_gracefully_once(
    tmp_path: Path, group: bool, sig: int, received: str
) -> None:
    code, out = _interrupt(tmp_path, group, sig)
    assert code == 130 and json.loads(out) == {"interrupted": "Terminated"}
    for job in ("j1", "j2"):  # each got exactly one signal and could finish its "batch"
        assert (tmp_path / job / "mark.signals").read_text() == received
    assert not (tmp_path / "j3").exists()  # the pending job never started


def test_a_stop_on_the_slurm_launcher_cancels_the_submitted_jobs(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    code, out = _interrupt(tmp_path, False, signal.SIGTERM, launcher="slurm")
    assert code == 130 and json.loads(out) == {"interrupted": "Terminated"}
    for job in ("j1", "j2"):  # cancelled: the command got one SIGTERM to stop gracefully
        deadline = time.monotonic() + 10
        while not (tmp_path / job / "mark.signals").is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / job / "mark.signals").read_text() == "SIGTERM"
    assert not (tmp_path / "j3").exists()  # never submitted


# -- seqlab fit's run directories in a slot -------------------------------------------------------
def test_run_directories_finished_resumable_and_stopped(tmp_path: Path) -> None:
    slot = tmp_path / "gru-s0"
    old, new, other = (slot / f"gru-s0-20260101-00000{i}" for i in (1, 2, 3))
    for d in (old, new):
        (d / "checkpoints").mkdir(parents=True)
        (d / "config.yaml").write_text("{}")
        (d / "checkpoints" / "last.ckpt").write_text("")
    other.mkdir()
    (slot / "not-a-run").mkdir()
    os.utime(old, (1, 1))
    assert finished_dir(slot, "gru-s0") is None
    assert resumable_dir(slot, "gru-s0") == new
    remove_stopped(slot, "gru-s0", keep=new)
    assert sorted(p.name for p in slot.iterdir()) == ["gru-s0-20260101-000002", "not-a-run"]
    (new / "summary.json").write_text("{}")
    assert finished_dir(slot, "gru-s0") == new

"""Faults, with real processes and real signals.

All tests but one run ``python -m seqlab ...`` in a subprocess and do to it what happens
to real runs: SIGKILL in the middle of an epoch, SIGKILL of a whole ``seqlab compare``
process group, a real file-size limit (``RLIMIT_FSIZE``) that makes the kernel fail
checkpoint writes (EFBIG, as a full disk does), Ctrl-C (SIGINT), and a second
``--resume`` of a run that is still being trained. The interrupted runs must then finish
exactly like an uninterrupted run with the same seed (bit-identical on CPU; compared here
to 1e-6 relative).

The exception is ``test_unwritable_checkpoint_directory_keeps_the_previous_checkpoint``:
it runs ``fit`` in this process and *simulates* a full disk (ENOSPC, by patching the
checkpoint module's ``open`` with a file that accepts only so many bytes, as the kernel
does) and a read-only directory (EROFS, by patching ``os.replace``). A real full or
read-only file system needs a mount, which an unprivileged test cannot make, and a
read-only directory (``chmod``) does not stop root, which containers and many CI jobs run
as; the real-kernel counterpart of the full disk is the file-size-limit test.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import seqlab
import seqlab.training.checkpoint as checkpoint_module
from seqlab.cli import main
from seqlab.compare.runner import finished_dir
from seqlab.config import resolve_config
from seqlab.errors import CheckpointError
from seqlab.training import fit, load_checkpoint, read_checkpoint

T = TypeVar("T")

REPO = Path(seqlab.__file__).resolve().parents[1]
WAIT_S = 120.0  # the longest any single wait may take before the test fails (never hang)

# 640 sequences of 16: 40 batches an epoch, 3 epochs = 120 steps (about 2-3 s of training
# after about 5 s of imports); a validation and last.ckpt every 5 batches.
STEPS = 120
FIT = [
    "fit",
    "--cell",
    "gru",
    "--hidden-size",
    "16",
    "--batch-size",
    "16",
    "--max-epochs",
    "3",
    "--seed",
    "0",
    "--task-opt",
    "n_train=640",
    "--task-opt",
    "n_val=64",
    "--task-opt",
    "n_test=64",
    "--task-opt",
    "seq_len=20",
    "--set",
    "trainer.val_check_interval=5",
    "--set",
    "trainer.num_sanity_val_steps=0",
    "--set",
    "log.every_n_steps=1",
    "--quiet",
]
# seqlab compare: 3 runs of 8 steps each, one worker process at a time.
COMPARE = [
    "compare",
    "--cells",
    "rnn,gru,lstm",
    "--seeds",
    "1",
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
    "--threads",
    "1",
    "--hidden-size",
    "6",
    "--batch-size",
    "32",
    "--max-steps",
    "8",
    "--grad-flow",
    "off",
    "--set",
    "trainer.val_check_interval=8",
    "--set",
    "trainer.num_sanity_val_steps=0",
    "--workers",
    "1",
]
# A fit of a few steps for the disk-full tests (2 batches an epoch).
TINY = [
    "fit",
    "--cell",
    "gru",
    "--hidden-size",
    "8",
    "--batch-size",
    "32",
    "--task-opt",
    "n_train=64",
    "--task-opt",
    "n_val=32",
    "--task-opt",
    "n_test=32",
    "--task-opt",
    "seq_len=5",
    "--set",
    "trainer.num_sanity_val_steps=0",
    "--set",
    "log.every_n_steps=1",
    "--quiet",
]


# -- processes -----------------------------------------------------------------------------------
def _env(**extra: str) -> dict[str, str]:
    """The test's environment, plus: this checkout's seqlab, unbuffered output, one torch
    thread (two spinning OpenMP threads are much slower on a shared 2-core machine) and a
    wide console (rich must not wrap the paths the tests look for)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    env["COLUMNS"] = "500"
    env.update(extra)
    return env


class Proc:
    """A ``python -m seqlab ...`` process; its stdout and stderr go to files (no pipe can fill)."""

    def __init__(
        self,
        args: list[str],
        logs: Path,
        *,
        new_session: bool = False,
        preexec_fn: Callable[[], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        n = len(list(logs.glob("*.out")))
        self.out_path, self.err_path = logs / f"{n}.out", logs / f"{n}.err"
        self.new_session = new_session
        self.args = args
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "seqlab", *args],
                stdout=out,
                stderr=err,
                env=env or _env(),
                start_new_session=new_session,
                preexec_fn=preexec_fn,
            )
        self.pid = self.popen.pid

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def describe(self) -> str:
        return (
            f"`seqlab {' '.join(self.args)}` (pid {self.pid}, exit {self.popen.returncode})\n"
            f"--- stdout ---\n{self.out[-3000:]}\n--- stderr ---\n{self.err[-6000:]}"
        )

    def wait(self, timeout: float = WAIT_S) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"still running after {timeout:.0f} s: {self.describe()}")

    def kill(self) -> None:
        """SIGKILL the process (its whole group if it leads one) and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.popen.poll() is None:
                os.kill(self.pid, signal.SIGCONT)  # in case a test stopped it
                os.kill(self.pid, signal.SIGKILL)
            if self.new_session:  # the workers it started, even when it is gone
                os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=30)


class Procs:
    """Starts processes for a test and kills whatever is left at its end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Proc] = []

    def start(self, args: list[str], **kwargs: Any) -> Proc:
        proc = Proc([str(a) for a in args], self.logs, **kwargs)
        self.started.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.started:
            proc.kill()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    started = Procs(tmp_path / "logs")
    try:
        yield started
    finally:
        started.kill_all()


def wait_for(
    probe: Callable[[], T | None], what: str, proc: Proc | None = None, timeout: float = WAIT_S
) -> T:
    """Poll ``probe`` until it returns something truthy; fail if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if proc is not None and proc.popen.poll() is not None:
            value = probe()
            if value:
                return value
            pytest.fail(f"the process ended before {what}: {proc.describe()}")
        if time.monotonic() > deadline:
            if proc is not None:
                proc.kill()
            pytest.fail(
                f"waited {timeout:.0f} s for {what}" + (f": {proc.describe()}" if proc else "")
            )
        time.sleep(0.01)


def flat(text: str) -> str:
    return " ".join(text.split())


# -- run directories ---------------------------------------------------------------------------
def the_run(root: Path) -> Path | None:
    """The one run directory under ``--run-dir root`` (None before it is made)."""
    found = [p for p in root.glob("*") if p.is_dir()] if root.is_dir() else []
    assert len(found) <= 1, found
    return found[0] if found else None


def train_curve(run: Path) -> list[tuple[int, float]]:
    """(step, train_loss) of every complete row of ``metrics.csv`` (readable while it grows)."""
    try:
        text = (run / "metrics.csv").read_text()
    except OSError:
        return []
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]  # being written
    out = []
    for row in csv.DictReader(io.StringIO("".join(lines))):
        if row.get("train_loss") not in (None, ""):
            out.append((int(float(row["step"])), float(row["train_loss"])))
    return out


def last_step(run: Path) -> int:
    curve = train_curve(run)
    return curve[-1][0] if curve else -1


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tmp_files(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").glob(".*.tmp"))


def assert_same_result(run: Path, reference: Path) -> None:
    """``run`` (resumed) finished exactly like ``reference`` (uninterrupted, same seed)."""
    got = json.loads((run / "summary.json").read_text())
    want = json.loads((reference / "summary.json").read_text())
    assert got["resumed"] is True and want["resumed"] is False
    assert got["global_step"] == want["global_step"] == STEPS
    evaluated = sorted(k for k in want["metrics"] if k.startswith(("val_", "test_")))
    assert (
        evaluated
        and sorted(k for k in got["metrics"] if k.startswith(("val_", "test_"))) == evaluated
    )
    for key in evaluated:
        assert got["metrics"][key] == pytest.approx(want["metrics"][key], rel=1e-6, abs=1e-9), key
    assert got["best_val"]["value"] == pytest.approx(want["best_val"]["value"], rel=1e-6)
    # metrics.csv: each step once (what the killed process logged after its checkpoint was
    # dropped and trained again), with the uninterrupted run's loss at every step
    resumed_curve, full_curve = train_curve(run), train_curve(reference)
    assert [s for s, _ in resumed_curve] == [s for s, _ in full_curve] == list(range(STEPS))
    for (step, a), (_, b) in zip(resumed_curve, full_curve, strict=True):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9), f"train_loss at step {step}"
    a = load_checkpoint(run / "checkpoints" / "last.ckpt").model.state_dict()
    b = load_checkpoint(reference / "checkpoints" / "last.ckpt").model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] - b[k]).abs().max().item() <= 1e-6 * (1 + b[k].abs().max().item()), k


class Reference:
    """The uninterrupted run of FIT, started in the background when first asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root / "runs"
        self.procs = Procs(root / "logs")
        self.proc = self.procs.start([*FIT, "--run-dir", self.root])
        self._run: Path | None = None

    @property
    def run(self) -> Path:
        if self._run is None:
            code = self.proc.wait()
            assert code == 0, self.proc.describe()
            run = the_run(self.root)
            assert run is not None and (run / "summary.json").is_file(), self.proc.describe()
            self._run = run
        return self._run


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    ref = Reference(tmp_path_factory.mktemp("reference"))
    try:
        yield ref
    finally:
        ref.procs.kill_all()


# -- 1. SIGKILL in the middle of an epoch --------------------------------------------------------
@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, procs: Procs, reference: Reference
) -> None:
    root = tmp_path / "runs"
    proc = procs.start([*FIT, "--run-dir", root])  # runs alongside the reference run
    run = wait_for(
        lambda: (
            (r := the_run(root)) is not None and (r / "checkpoints" / "last.ckpt").is_file() and r
        ),
        "the first checkpoints/last.ckpt",
        proc,
    )
    last = run / "checkpoints" / "last.ckpt"
    # Kill once training has gone on past the step last.ckpt holds (so work is lost and
    # must be redone): stop the process to look, SIGKILL it when that is so.
    target = 7
    while True:
        wait_for(lambda t=target: last_step(run) >= t, f"training step {target}", proc)
        os.kill(proc.pid, signal.SIGSTOP)
        ckpt_step = int(read_checkpoint(last)["global_step"])
        logged = last_step(run)
        if logged >= ckpt_step or ckpt_step >= STEPS:
            break
        os.kill(proc.pid, signal.SIGCONT)
        target = logged + 2
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL, proc.describe()
    assert 0 < ckpt_step < STEPS, "the run was killed too late: it had finished training"
    assert ckpt_step % 40 != 0, f"killed at an epoch boundary (step {ckpt_step}), not mid-epoch"
    assert not (run / "summary.json").exists()
    loaded = load_checkpoint(last)  # the file the killed process left still loads
    assert loaded.global_step == ckpt_step
    assert any(step >= ckpt_step for step, _ in train_curve(run))  # steps that were lost
    # A kill during a checkpoint write leaves its temporary file; make sure there is one
    # (the name atomic_write uses, with the dead process's PID) for the resume to clear.
    if not tmp_files(run):
        data = last.read_bytes()
        (last.parent / f".last.ckpt.{proc.pid}.0badc0de.tmp").write_bytes(data[: len(data) // 2])
    stale = tmp_files(run)

    resumed = procs.start(["fit", "--resume", run, "--quiet"])
    assert resumed.wait() == 0, resumed.describe()
    assert "Traceback" not in resumed.err
    assert f"run: {run}" in resumed.out.replace("\n", "")
    assert_same_result(run, reference.run)
    assert tmp_files(run) == [], (
        f"the resumed run left the killed process's temporary checkpoint files {stale} in "
        f"{run / 'checkpoints'}"
    )


# -- 2. seqlab compare killed mid-way --------------------------------------------------------------
def _slots(out: Path) -> dict[str, Path | None]:
    runs = out / "runs"
    if not runs.is_dir():
        return {}
    return {
        slot.name: finished_dir(slot, slot.name) for slot in sorted(runs.iterdir()) if slot.is_dir()
    }


def _fingerprint(run: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(run)): (p.stat().st_mtime_ns, sha(p))
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_killed_comparison_resumes_without_repeating_finished_runs(
    tmp_path: Path, procs: Procs
) -> None:
    out = tmp_path / "cmp"
    command = [*COMPARE, "--out", out]
    first = procs.start(command, new_session=True)
    finished = wait_for(
        lambda: {k: v for k, v in _slots(out).items() if v is not None},
        "the first finished run of the comparison",
        first,
    )
    os.killpg(first.pid, signal.SIGKILL)  # the compare process and its worker
    assert first.wait(30) == -signal.SIGKILL, first.describe()
    finished = {k: v for k, v in _slots(out).items() if v is not None}  # as the kill left them
    assert 1 <= len(finished) < 3, f"nothing left to resume: {finished}"
    assert not (out / "results.csv").exists()
    before = {k: _fingerprint(v) for k, v in finished.items()}
    logs = {k: (out / "runs" / k / "output.log").stat().st_mtime_ns for k in finished}

    again = procs.start(command, new_session=True)
    assert again.wait() == 0, again.describe()
    assert "Traceback" not in again.err
    assert f"{len(finished)} of 3 runs already finished; reusing them." in flat(again.err)
    for slot in finished:
        assert f"{slot} ran" not in again.err and f"started {slot}" not in again.err, slot
    with (out / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["cell"] for r in rows] == ["rnn", "gru", "lstm"]
    now = _slots(out)
    assert all(v is not None for v in now.values()) and len(now) == 3
    for slot, run in finished.items():
        assert now[slot] == run  # the same run directory, not a new one
        assert [p.name for p in (out / "runs" / slot).iterdir() if p.is_dir()] == [run.name]
        assert _fingerprint(run) == before[slot], f"{slot} was run again"
        assert (out / "runs" / slot / "output.log").stat().st_mtime_ns == logs[slot]
        row = next(r for r in rows if f"{r['cell']}-s{r['seed']}" == slot)
        assert Path(row["run_dir"]) == run
        summary = json.loads((run / "summary.json").read_text())
        assert float(row["test_mse"]) == pytest.approx(summary["metrics"]["test_mse"])


# -- 3. the disk fills up while checkpointing ------------------------------------------------------
def _limit_file_size(limit: int) -> Callable[[], None]:
    def preexec() -> None:  # Python ignores SIGXFSZ: a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.slow
def test_file_size_limit_while_checkpointing_fails_cleanly(
    tmp_path: Path, procs: Procs, capsys: pytest.CaptureFixture[str]
) -> None:
    # hidden 64: the recurrent weights (48 KiB) are larger than a file's write buffer, as
    # in any real model, so the limit is hit inside a tensor that torch writes directly
    root = tmp_path / "runs"
    code = main([*TINY, "--hidden-size", "64", "--max-steps", "4", "--run-dir", str(root)])
    assert code == 0, capsys.readouterr()
    run = the_run(root)
    assert run is not None
    ckpts = run / "checkpoints"
    before = {name: sha(ckpts / name) for name in ("last.ckpt", "best.ckpt")}
    limit = (ckpts / "last.ckpt").stat().st_size // 2
    small = max((run / n).stat().st_size for n in ("config.yaml", "metrics.csv", "summary.json"))
    assert small + 4096 < limit, "the limit would stop more than checkpoints"

    proc = procs.start(
        ["fit", "--resume", run, "--max-steps", "10", "--quiet"],
        preexec_fn=_limit_file_size(limit),
        env=_env(PYTHONDONTWRITEBYTECODE="1"),
    )
    code = proc.wait()
    # whatever the exit, the checkpoints are untouched and no temporary file is left
    assert {name: sha(ckpts / name) for name in before} == before
    assert tmp_files(run) == []
    assert load_checkpoint(ckpts / "last.ckpt").global_step == 4
    assert "Traceback" not in proc.err, proc.describe()
    assert code == 2, proc.describe()
    err = flat(proc.err)
    assert "could not write" in err and str(ckpts) in err, proc.describe()
    assert "File too large" in err and "intact" in err, proc.describe()


class _FullDisk(io.FileIO):
    """A file on a disk with ``room`` bytes left, written as the kernel does: a write that
    does not fit writes what fits and returns less; the next one fails with ENOSPC."""

    room = 0

    def write(self, data: Any) -> int:
        left = self.room - self.tell()
        if left <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(memoryview(data)[:left])


@pytest.mark.parametrize(
    ("fault", "hidden"),
    [("disk full", 8), ("disk full", 64), ("read-only", 8)],
    ids=["disk-full-small-tensors", "disk-full-large-tensors", "read-only"],
)
def test_unwritable_checkpoint_directory_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, hidden: int
) -> None:
    """In-process, with the fault simulated (see the module docstring): ENOSPC and EROFS."""
    flags = {
        "model.hidden_size": hidden,
        "task.batch_size": 32,
        "trainer.max_steps": 4,
        "trainer.max_epochs": None,
        "trainer.num_sanity_val_steps": 0,
        "run.quiet": True,
        "run.dir": str(tmp_path / "runs"),
        "task.options.n_train": 64,
        "task.options.n_val": 32,
        "task.options.n_test": 32,
        "task.options.seq_len": 5,
    }
    first = fit(resolve_config(flags=flags))
    ckpts = first.run_dir / "checkpoints"
    before = {name: sha(ckpts / name) for name in ("last.ckpt", "best.ckpt")}

    def under_checkpoints(path: Any) -> bool:
        return Path(os.fspath(path)).parent == ckpts

    if fault == "disk full":  # room for half a checkpoint
        room = (ckpts / "last.ckpt").stat().st_size // 2

        def full_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if under_checkpoints(file) and "x" in mode:
                raw = _FullDisk(file, "x")
                raw.room = room
                return io.BufferedWriter(raw)  # what open(file, "xb") returns
            return open(file, mode, *args, **kwargs)

        monkeypatch.setattr(checkpoint_module, "open", full_open, raising=False)
        strerror = os.strerror(errno.ENOSPC)
    else:  # the directory cannot be changed: renaming into it fails with EROFS
        real_replace = os.replace

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            if under_checkpoints(dst):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(dst))
            real_replace(src, dst, **kwargs)

        monkeypatch.setattr(os, "replace", replace)
        strerror = os.strerror(errno.EROFS)

    try:
        with pytest.raises(CheckpointError) as caught:
            fit(resolve_config(flags={**flags, "trainer.max_steps": 8}), resume=first.run_dir)
    finally:
        monkeypatch.undo()
        assert {name: sha(ckpts / name) for name in before} == before
        assert tmp_files(first.run_dir) == []
        assert load_checkpoint(ckpts / "last.ckpt").global_step == 4
    message = str(caught.value)
    names = [n for n in before if f"could not write {ckpts / n}: {strerror}." in message]
    assert names, message
    assert "The previous file is intact." in message


# -- 4. Ctrl-C ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_exits_130_then_resume_matches(
    tmp_path: Path, procs: Procs, reference: Reference
) -> None:
    root = tmp_path / "runs"
    proc = procs.start([*FIT, "--run-dir", root])
    run = wait_for(lambda: the_run(root), "the run directory", proc)
    wait_for(lambda: last_step(run) >= 7, "training step 7 (after the first checkpoint)", proc)
    sent_after = last_step(run)
    os.kill(proc.pid, signal.SIGINT)
    code = proc.wait(60)
    assert code == 130, proc.describe()
    assert "Traceback" not in proc.err, proc.describe()
    assert "seqlab fit --resume" in flat(proc.err), proc.describe()
    assert str(run) in proc.err.replace("\n", ""), proc.describe()
    assert not (run / "summary.json").exists()  # not finished: compare would reuse it
    saved = load_checkpoint(run / "checkpoints" / "last.ckpt")
    # it finished the batch it was in and saved where it stopped: no logged step is lost
    assert sent_after < saved.global_step < STEPS
    assert all(step < saved.global_step for step, _ in train_curve(run)), (
        saved.global_step,
        train_curve(run)[-3:],
    )

    resumed = procs.start(["fit", "--resume", run, "--quiet"])
    assert resumed.wait() == 0, resumed.describe()
    assert_same_result(run, reference.run)


# -- 5. two processes resuming one run -------------------------------------------------------------
@pytest.mark.slow
def test_second_resume_of_a_run_in_use_is_refused(
    tmp_path: Path, procs: Procs, reference: Reference
) -> None:
    run = tmp_path / "runs" / reference.run.name
    shutil.copytree(reference.run, run)
    first = procs.start(["fit", "--resume", run, "--max-epochs", "6", "--quiet"])
    wait_for(lambda: last_step(run) >= STEPS, "the first resume to train", first)
    os.kill(first.pid, signal.SIGSTOP)  # it holds the run for as long as the test needs
    started = time.monotonic()
    second = procs.start(["fit", "--resume", run, "--quiet"])
    code = second.wait(90)
    took = time.monotonic() - started
    assert code == 2, second.describe()
    err = flat(second.err)
    assert "in use" in err and str(first.pid) in err, second.describe()
    assert "Traceback" not in second.err
    assert took < 45, f"the refusal took {took:.0f} s"
    assert first.popen.poll() is None  # the first one was left alone

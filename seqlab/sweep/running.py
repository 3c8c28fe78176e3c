"""Running a sweep here or on SLURM: one ``seqlab fit`` job per run, through :mod:`seqlab.jobs`.

Layout of the output directory::

    base.yaml                  the base config (when given): every run gets --config base.yaml
    run-003/                   one slot per run
        params.json            the run's swept parameters
        command.txt            the command it ran last
        output.log             its stdout and stderr
        run-003-<time>/        seqlab fit's run directory (config.yaml, checkpoints/, summary.json)
    submitit/                  submitit's files (launcher slurm only)

Running again continues: a slot whose ``summary.json`` holds metrics is reused; one with
``checkpoints/last.ckpt`` but no summary continues with ``seqlab fit --resume RUN_DIR``;
one with neither starts again (its stopped run directories are deleted).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from seqlab.errors import ConfigError
from seqlab.jobs import (
    Job,
    Outcome,
    Progress,
    check_launcher,
    format_duration,
    remove_stopped,
    resumable_dir,
    run_jobs,
)
from seqlab.sweep.sampling import describe_params, set_arguments
from seqlab.sweep.spec import SweepSpec
from seqlab.validation import positive_int

if TYPE_CHECKING:
    from seqlab.config import Config

BASE_FILE = "base.yaml"
PARAMS_FILE = "params.json"
LOG_FILE = "output.log"
SUBMITIT_DIR = "submitit"


@dataclass
class RunResult:
    """One run of a sweep: what was run and what came out."""

    index: int
    run_id: str
    params: dict[str, Any]
    status: str  # "ok", "resumed" (continued from its checkpoint), "failed", "reused"
    returncode: int | None
    run_dir: Path | None
    metrics: dict[str, Any]
    log: Path
    seconds: float = 0.0

    @property
    def job_id(self) -> str:
        return self.run_id

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts → ``{"a.b": value}``; only scalar leaves are kept."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif value is None or isinstance(value, bool | int | float | str):
            out[name] = value
    return out


def _find_summary(base: Path) -> Path | None:
    found = [p for p in base.rglob("summary.json") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def read_result(slot: Path) -> tuple[Path | None, dict[str, Any]]:
    """The slot's run directory and its flattened ``summary.json`` ({} when unfinished)."""
    summary = _find_summary(slot)
    if summary is None:
        dirs = [p for p in slot.iterdir() if p.is_dir()] if slot.is_dir() else []
        return (dirs[0] if len(dirs) == 1 else None), {}
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return summary.parent, {}
    return summary.parent, flatten(data) if isinstance(data, Mapping) else {}


# -- the output directory -----------------------------------------------------------------------
def _check_slots(out: Path, ids: Sequence[str], plan: Sequence[Mapping[str, Any]]) -> bool:
    """Fail if a slot holds a run with other parameters; whether any slot holds a run."""
    found = False
    for run_id, params in zip(ids, plan, strict=True):
        params_file = out / run_id / PARAMS_FILE
        if not params_file.is_file():
            continue
        found = True
        previous = json.loads(params_file.read_text(encoding="utf-8"))
        if previous != json.loads(json.dumps(params)):
            raise ConfigError(
                f"{out / run_id} holds a run of another sweep ({previous}); choose a new --out "
                f"directory or delete the old one."
            )
    return found


def base_arguments(out: Path, base: Config | None, has_runs: bool) -> list[str]:
    """Write ``base`` to ``out/base.yaml``; ``["--config", path]`` (``[]`` without a base).
    Runs already in ``out`` must have been made over the same base config."""
    path = out / BASE_FILE
    text = base.to_yaml() if base is not None else None
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if has_runs and old != text:
        if old is None or text is None:
            what = "without a base config" if old is None else f"over the base config {path}"
            hint = "" if old is None else " (pass the same base config again)"
        else:
            before, after = flatten(yaml.safe_load(old) or {}), flatten(yaml.safe_load(text))
            keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            what = f"over another base config ({path} differs in {', '.join(keys[:3])})"
            hint = ""
        raise ConfigError(
            f"{out} holds runs of another sweep, made {what}; choose a new --out directory"
            f"{hint} or delete the old one."
        )
    if text is None:
        if old is not None:
            path.unlink()
        return []
    if old != text:
        path.write_text(text, encoding="utf-8")
    return ["--config", str(path)]


def _job(
    run_id: str, params: Mapping[str, Any], slot: Path, command: Sequence[str], config: list[str]
) -> tuple[Job, bool]:
    """The run's job: ``seqlab fit --resume DIR`` when it stopped after a checkpoint, else
    the command with its ``--set`` arguments; and whether it resumes."""
    resume = resumable_dir(slot, run_id)
    remove_stopped(slot, run_id, keep=resume)
    if resume is not None:
        argv = [*command, "--resume", str(resume)]
    else:
        argv = [
            *command,
            *config,
            *set_arguments(params),
            "--set",
            f"run.dir={slot}",
            "--set",
            f"run.name={run_id}",
            "--set",
            "run.quiet=true",
        ]
    slot.mkdir(parents=True, exist_ok=True)
    (slot / PARAMS_FILE).write_text(json.dumps(params, indent=1) + "\n", encoding="utf-8")
    (slot / "command.txt").write_text(shlex.join(argv) + "\n", encoding="utf-8")
    return Job(run_id, slot, argv, slot / LOG_FILE), resume is not None


class NotifyProgress(Progress):
    """Progress as one message per event, for a ``notify(str)`` callback (``print``)."""

    def __init__(self, notify: Callable[[str], None], out: Path, labels: Mapping[str, str]):
        self.notify = notify
        self.out = out
        self.labels = labels  # job id → "[4/6] run-003: model.cell=gru, optim.lr=0.01"

    def start(self, total: int, done: int) -> None:
        if done:
            self.notify(f"{done} of {total} runs already finished in {self.out}; reusing them.")

    def run_started(self, job_id: str, running: Sequence[str]) -> None:
        self.notify(self.labels.get(job_id, job_id))

    def run_ended(self, outcome: Outcome, done: int, total: int, eta_s: float | None) -> None:
        text = f"{outcome.job_id} {outcome.status} in {format_duration(outcome.seconds)}"
        if not outcome.ok:
            text += f" (exit {outcome.returncode}, see {outcome.log})"
        eta = format_duration(eta_s) if done < total else "done"
        self.notify(f"{text}; {done}/{total} finished, ETA {eta}")


def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    plan: Sequence[Mapping[str, Any]],
    command: Sequence[str],
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    notify: Callable[[str], None] = print,
    poll_s: float = 0.1,
    base: Config | None = None,
    threads: int | None = None,
    launcher: str = "local",
    launcher_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Run (or continue) the runs ``plan`` in ``out_dir``; see :func:`seqlab.sweep.run_local`."""
    positive_int("--workers", workers)
    launcher = check_launcher(launcher, launcher_options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(len(plan) - 1)))
    ids = [f"run-{i:0{width}d}" for i in range(len(plan))]
    config = base_arguments(out, base, _check_slots(out, ids, plan))
    results: dict[int, RunResult] = {}
    jobs: list[Job] = []
    resumed: set[str] = set()
    for i, (run_id, params) in enumerate(zip(ids, plan, strict=True)):
        slot = out / run_id
        if (slot / PARAMS_FILE).is_file():
            run_dir, metrics = read_result(slot)
            if metrics:
                log = slot / LOG_FILE
                results[i] = RunResult(i, run_id, dict(params), "reused", 0, run_dir, metrics, log)
                continue
        job, resumes = _job(run_id, params, slot, command, config)
        jobs.append(job)
        if resumes:
            resumed.add(run_id)
    index = {run_id: i for i, run_id in enumerate(ids)}

    def outcome(job: Job, code: int | None, seconds: float) -> RunResult:
        i = index[job.job_id]
        run_dir, metrics = read_result(job.slot)
        status = ("resumed" if job.job_id in resumed else "ok") if code == 0 else "failed"
        return RunResult(
            i, job.job_id, dict(plan[i]), status, code, run_dir, metrics, job.log, seconds
        )

    labels = {
        job.job_id: f"[{index[job.job_id] + 1}/{len(plan)}] {job.job_id}: "
        + describe_params(plan[index[job.job_id]])
        for job in jobs
    }
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("WANDB_RUN_GROUP", spec.name)
    for result in run_jobs(
        jobs,
        workers=workers,
        env=run_env,
        threads=threads,
        launcher=launcher,
        launcher_options=launcher_options,
        folder=out / SUBMITIT_DIR,
        progress=progress if progress is not None else NotifyProgress(notify, out, labels),
        outcome=outcome,
        finished=len(results),
        poll_s=poll_s,
    ):
        results[result.index] = result
    return [results[i] for i in sorted(results)]


__all__ = [
    "BASE_FILE",
    "NotifyProgress",
    "RunResult",
    "base_arguments",
    "flatten",
    "read_result",
    "run_sweep",
]

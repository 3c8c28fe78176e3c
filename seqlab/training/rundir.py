"""The run directory: where it goes, which process writes it, and its summary.

Layout of ``<run.dir>/<name>-<YYYYmmdd-HHMMSS>/``::

    config.yaml             the resolved config (what --resume reads back)
    checkpoints/best.ckpt   the best validation score so far
    checkpoints/last.ckpt   the latest state (written after every validation and at the end)
    metrics.csv             every logged metric, one row per logging call
    summary.json            final metrics of the best checkpoint, baseline, sizes, time
    segments.jsonl          one line per fit of the run (the first and each resume): its
                            start and wall time, so summary.json can give the total
    .lock                   held (flock) by the process writing the run; holds its PID

Under DDP only the global rank-0 process creates and writes files. Processes started by
a launcher (Lightning's own for ``--strategy ddp``, torchrun, SLURM's srun) know their
rank from the environment before any process group exists, which is when the directory
is made.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from seqlab.config import Config
from seqlab.errors import ConfigError, RunInUseError
from seqlab.training.checkpoint import atomic_write, given_paths, resolved_options, saved_config

_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK")


def env_global_rank() -> int:
    """This process's global rank as launchers publish it (0 when not launched as a rank)."""
    for key in _RANK_VARIABLES:
        value = os.environ.get(key)
        if value is not None and value.strip().lstrip("-").isdigit():
            return int(value)
    local = int(os.environ.get("LOCAL_RANK", "0") or 0)
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", "0")) or 0)
    return local if node == 0 else max(1, local)


def run_name(config: Config) -> str:
    """``run.name``, or ``<task>-<cell>``, made safe as a directory name."""
    name = config.run.name or f"{config.task.name}-{config.model.cell}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"


def new_run_dir(config: Config, *, create: bool) -> Path:
    """``<run.dir>/<name>-<timestamp>`` (``-2``, ``-3``... if taken), made when ``create``."""
    base = Path(config.run.dir).expanduser()
    stem = f"{run_name(config)}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1, 1000):
        candidate = base / (stem if n == 1 else f"{stem}-{n}")
        if not create:
            if not candidate.exists():
                return candidate
            continue
        try:
            candidate.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(
                f"cannot create the run directory {candidate}: {exc.strerror or exc}. Pass a "
                f"writable directory with --run-dir (run.dir)."
            ) from None
        return candidate
    raise RuntimeError(f"could not find a free run directory name under {base}")


def write_config(run_dir: Path, config: Config) -> None:
    """``config.yaml``: :func:`~seqlab.training.checkpoint.saved_config` as YAML."""
    text = "# The resolved config of this run (seqlab fit --resume RUN_DIR reads it back).\n"
    for key, given in given_paths(config).items():
        if resolved_options({key: given})[key] != given:
            text += f"# task.options.{key} was given as {given!r} (stored resolved).\n"
    text += yaml.safe_dump(saved_config(config), sort_keys=False)
    atomic_write(run_dir / "config.yaml", lambda f: f.write(text.encode()))


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    text = json.dumps(summary, indent=2, sort_keys=False, default=str) + "\n"
    atomic_write(run_dir / "summary.json", lambda f: f.write(text.encode()))


SEGMENTS_FILE = "segments.jsonl"


def previous_wall_time(run_dir: Path) -> float:
    """Seconds the earlier fits of ``run_dir`` took: the sum over ``segments.jsonl``, or for
    a run written before that file existed, the ``wall_time_s`` of its ``summary.json``."""
    try:
        lines = (run_dir / SEGMENTS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    total = 0.0
    for line in lines:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            total += float(json.loads(line)["wall_time_s"])
    if lines:
        return total
    try:
        return float(json.loads((run_dir / "summary.json").read_text())["wall_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def record_segment(run_dir: Path, started_at: float, wall_time_s: float, legacy: float) -> None:
    """Append this fit's wall time to ``segments.jsonl`` (also when it was interrupted);
    ``legacy``: the time of a run from before that file, written first as its own entry.

    Best effort: a full disk must not hide the error that ended the fit."""
    entries = [{"started_at": None, "wall_time_s": round(legacy, 3)}] if legacy else []
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started_at))
    entries.append({"started_at": started, "wall_time_s": round(wall_time_s, 3)})
    with contextlib.suppress(OSError), (run_dir / SEGMENTS_FILE).open("a") as f:
        f.writelines(json.dumps(e) + "\n" for e in entries)


LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.lock`` while this process writes the run.

    A second process (``seqlab fit --resume`` of a run that is still training, a compare
    worker started twice) gets :class:`~seqlab.errors.RunInUseError` instead of mixing its
    checkpoints and metrics with the first's. The lock is an ``flock``, which the kernel
    releases when the holder dies, even by SIGKILL, so a crashed run never stays locked.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; run unguarded
        yield
        return
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            raise RunInUseError(
                f"run {run_dir} is in use by another seqlab process (PID {holder}); two "
                f"processes writing one run would mix their checkpoints and metrics. Wait for "
                f"it to finish, or stop it (kill -INT {holder} saves a checkpoint) and then "
                f"resume with seqlab fit --resume {run_dir}."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files of writes a killed process never finished.

    Atomic writes go to ``.NAME.PID.RANDOM.tmp`` first; a process killed mid-write leaves
    one behind. Call only while holding :func:`run_lock`.
    """
    removed = []
    for folder in (run_dir, run_dir / "checkpoints"):
        for tmp in folder.glob("*.tmp") if folder.is_dir() else ():
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


@contextlib.contextmanager
def open_run(config: Config, resume_dir: Path | None) -> Iterator[Path]:
    """The run directory of a fit, held for the duration (see :func:`run_lock`).

    A new run gets a new directory; a resumed one continues ``resume_dir``. On global rank
    0 the directory is created and locked, temporaries a killed process left are removed
    and ``config.yaml`` is written (on resume: with the limits it now runs under). Other
    DDP processes write nothing and get the name a new run would take now; where they
    read files, rank 0's paths are broadcast to them.
    """
    if env_global_rank() != 0:
        yield resume_dir if resume_dir is not None else new_run_dir(config, create=False)
        return
    run_dir = resume_dir if resume_dir is not None else new_run_dir(config, create=True)
    with run_lock(run_dir):
        started_at, started = time.time(), time.perf_counter()
        legacy = 0.0
        if resume_dir is not None and not (run_dir / SEGMENTS_FILE).exists():
            legacy = previous_wall_time(run_dir)
        remove_stale_temporaries(run_dir)  # left by a process killed mid-write
        write_config(run_dir, config)
        try:
            yield run_dir
        finally:
            record_segment(run_dir, started_at, time.perf_counter() - started, legacy)

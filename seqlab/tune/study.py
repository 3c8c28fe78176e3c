"""The Optuna studies of a tune: storage, one study per cell, resuming, trial counting.

Storage: ``--storage URL`` takes any Optuna storage URL; the default is SQLite in the
output directory (``sqlite:///<out>/study.db``). SQLite is opened with a long busy
timeout (60 s), which is what lets several processes on one machine write one study at
once (tested with two); processes on several machines need a database server
(``postgresql://...``, ``mysql://...``) all of them reach.

Each cell has its own study, ``<name>-<cell>``, in the same storage. Its user attributes
hold the task (name and options), the base config and the search space; a study of
another task, or of the same task with another base config or space, in the same storage
is refused (choose another ``--out``), so results are never mixed.

Counting: ``--trials N`` is the size of the study, whoever runs it. Trials are numbered
by the storage in the order they were created; a trial that finds ``N`` counted trials
numbered before it is *surplus* (two processes raced for the last place) and is closed
at once without training. Trials marked ``discarded`` (surplus, or stopped by Ctrl-C) do
not count; every other trial does, running ones included, so concurrent processes share
``N`` exactly.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna

from seqlab.errors import ConfigError

DEFAULT_DB = "study.db"
SQLITE_TIMEOUT_S = 60
DISCARDED = "discarded"  # user attribute of trials that do not count (its value: why)


def storage_url(out: Path, storage: str | None) -> str:
    """``storage``, or SQLite in ``out``."""
    return storage if storage else f"sqlite:///{(out / DEFAULT_DB).resolve()}"


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (``None`` for other storages and in-memory SQLite)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :])


@contextmanager
def _creating(path: Path | None) -> Iterator[None]:
    """Hold ``<db>.lock`` (flock) while an SQLite file is opened: two processes creating
    its tables at once otherwise collide (a UNIQUE constraint of Optuna's schema stamp)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage at ``url``; SQLite waits for other writers instead of failing."""
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    try:
        with _creating(sqlite_file(url)):
            return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except (ImportError, ValueError) as exc:
        raise ConfigError(
            f"--storage {url!r} cannot be opened: {exc}. Pass an SQLAlchemy URL such as "
            f"sqlite:///tune.db or postgresql://user@host/db (its driver installed)."
        ) from None


def existing_studies(url: str) -> dict[str, dict[str, Any]]:
    """Name → user attributes of the studies already in the storage at ``url``; an SQLite
    file that does not exist yet is not created."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return {}
    storage = open_storage(url)
    return {s.study_name: s.user_attrs for s in optuna.get_all_study_summaries(storage)}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _differences(then: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(then) | set(now))
    out = []
    for k in keys:
        a, b = then.get(k), now.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _differences(a, b, f"{prefix}{k}.")
        elif _canonical(a) != _canonical(b):
            out.append(f"{prefix}{k}: {a!r} then, {b!r} now")
    return out


def check_studies(url: str, wanted: Mapping[str, Any], where: str) -> None:
    """Refuse a storage holding a seqlab tune of another task, base config or space.

    ``wanted`` holds the ``task``, ``base`` and ``space`` this tune stores with its studies.
    """
    for name, attrs in existing_studies(url).items():
        if "task" not in attrs:
            continue  # not a seqlab study: it shares the database and nothing else
        what = "task" if _canonical(attrs["task"]) != _canonical(wanted["task"]) else None
        diffs = _differences(attrs.get("base", {}), wanted["base"])
        diffs += _differences(attrs.get("space", {}), wanted["space"], "space: ")
        if what is None and not diffs:
            continue
        if what:
            problem = f"is a tune of task {attrs['task']}, not {wanted['task']}"
        else:
            problem = "was made with another base config or space (" + "; ".join(diffs[:4]) + ")"
        raise ConfigError(
            f"{where} already holds study {name!r}, which {problem}. Resuming continues a "
            f"study with the same task, config and space only: pass another --out (or "
            f"--storage), or rerun the command that made it."
        )


def open_study(
    url: str,
    name: str,
    direction: str,
    attrs: Mapping[str, Any],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """The study ``name`` (made, or loaded to resume), its user attributes set."""
    study = optuna.create_study(
        storage=open_storage(url),
        study_name=name,
        direction=direction,
        load_if_exists=True,
        sampler=sampler,
        pruner=pruner,
    )
    for key, value in attrs.items():
        if key not in study.user_attrs:
            study.set_user_attr(key, value)
    return study


def counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts toward ``--trials``: it was started (not only queued, as the
    base config's trial is until it runs) and not discarded."""
    return trial.state != optuna.trial.TrialState.WAITING and DISCARDED not in trial.user_attrs


def counted_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if counted(t)]


def place_of(study: optuna.Study, number: int) -> int:
    """How many counted trials were created before trial ``number``: its place in the study."""
    return sum(1 for t in counted_trials(study) if t.number < number)


def discard(study: optuna.Study, trial: optuna.Trial, why: str) -> None:
    """Close ``trial`` so it does not count (surplus, or stopped by Ctrl-C)."""
    trial.set_user_attr(DISCARDED, why)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)


__all__ = [
    "DEFAULT_DB",
    "DISCARDED",
    "check_studies",
    "counted",
    "counted_trials",
    "discard",
    "existing_studies",
    "open_storage",
    "open_study",
    "place_of",
    "sqlite_file",
    "storage_url",
]

"""Read a W&B run file (``run-<id>.wandb``) back: config, history, summary, tables, artifacts.

An offline run keeps everything in its ``.wandb`` transaction log (there is no config.yaml
or wandb-summary.json until it is synced). wandb 0.31 no longer ships a Python reader for
it (``wandb.sdk.internal.datastore`` is gone; ``wandb leet inspect --json FILE`` prints the
records through the Go core), so this module reads the file itself. The format has not
changed since wandb 0.10: a 7-byte header (``:W&B``, magic 0xBEE1 little-endian, version
0), then LevelDB-log framing — 32 KiB blocks of records, each with a 7-byte header
(CRC-32 of type byte + payload seeded as zlib does, payload length, type FULL/FIRST/
MIDDLE/LAST), a block's tail shorter than a header is zero padding — and each assembled
payload is one ``wandb_internal_pb2.Record`` protobuf.

>>> run = read_run("runs/adding-gru-.../wandb")            # doctest: +SKIP
>>> run.config["model"]["cell"], run.metric("val_mse")[-1]  # doctest: +SKIP
('gru', (999, 0.0071))
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.errors import DataError

_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
_BLOCK = 32768
_REC_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def find_run_files(root: str | Path) -> list[Path]:
    """``run-*.wandb`` files under ``root`` (a run dir, its ``wandb`` dir or a file), oldest first."""
    root = Path(root)
    if root.is_file():
        return [root]
    files = sorted(root.rglob("run-*.wandb"), key=lambda p: (p.stat().st_mtime, str(p)))
    return files


def iter_records(path: str | Path) -> Iterator[Any]:
    """The ``Record`` protobufs of a ``.wandb`` file, in order.

    A truncated tail (a run still writing, or killed) ends the iteration quietly; a bad
    header or checksum raises :class:`~seqlab.errors.DataError`.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(_HEADER):
        raise DataError(f"{path} is not a W&B run file (it does not start with the ':W&B' header).")
    pos = len(_HEADER)
    pending = bytearray()
    while True:
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < _REC_HEADER:
            pos += left_in_block  # zero padding at the end of a block
        if pos + _REC_HEADER > len(data):
            return
        checksum, length, kind = struct.unpack_from("<IHB", data, pos)
        if kind == 0 and length == 0:  # preallocated, never written
            return
        start = pos + _REC_HEADER
        if start + length > len(data):
            return
        payload = data[start : start + length]
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != checksum:
            raise DataError(
                f"{path}: record at byte {pos} fails its checksum; the file is corrupt."
            )
        pos = start + length
        if kind == _FULL:
            pending = bytearray(payload)
        elif kind == _FIRST:
            pending = bytearray(payload)
            continue
        elif kind == _MIDDLE:
            pending += payload
            continue
        elif kind == _LAST:
            pending += payload
        else:
            raise DataError(f"{path}: record at byte {pos} has unknown type {kind}.")
        record = pb.Record()
        record.ParseFromString(bytes(pending))
        yield record


def _items(items: Any, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{key: value}`` from repeated ``{key, nested_key, value_json}`` items.

    An item with ``nested_key`` ``["a", "b"]`` sets ``out["a"]["b"]`` (W&B writes dict
    values, such as media and tables, that way).
    """
    out = {} if out is None else out
    for item in items:
        value = json.loads(item.value_json) if item.value_json else None
        if item.key:
            out[item.key] = value
            continue
        *parents, last = list(item.nested_key)
        node = out
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value
    return out


@dataclass
class OfflineRun:
    """What a ``.wandb`` file holds, as plain Python values.

    Attributes:
        path: the ``.wandb`` file.
        run_id, project, entity, name, group, tags: the run's identity.
        config: the nested config (W&B's ``_wandb`` entry removed).
        history: one dict per ``wandb.log`` call (Lightning's ``trainer/global_step`` in each).
        summary: the final summary (last value of each key, plus explicit summary updates).
        artifacts: ``{"name", "type", "aliases", "metadata", "files"}`` per logged artifact.
        files: paths (relative to the run's ``files`` dir) of the files the run saved.
        metric_definitions: ``define_metric`` records (``{"name"|"glob_name", "step_metric"}``).
        exit_code: the exit record's code (``None`` if the run did not finish).
    """

    path: Path
    run_id: str = ""
    project: str = ""
    entity: str = ""
    name: str = ""
    group: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    metric_definitions: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def run_dir(self) -> Path:
        """The run's own directory (``offline-run-<time>-<id>``), holding ``files/``."""
        return self.path.parent

    def metric(self, key: str, step_key: str = "trainer/global_step") -> list[tuple[Any, Any]]:
        """``[(step, value), ...]`` of every history row that has ``key``."""
        return [(row.get(step_key), row[key]) for row in self.history if key in row]

    def media_path(self, value: dict[str, Any]) -> Path:
        """The local file of a logged media value (image, table) from a history row."""
        return self.run_dir / "files" / value["path"]

    def tables(self, key: str) -> list[dict[str, Any]]:
        """Every version of table ``key``: ``{"step", "columns", "rows"}`` (rows as dicts)."""
        out = []
        for row in self.history:
            value = row.get(key)
            if isinstance(value, dict) and value.get("_type") == "table-file":
                table = json.loads(self.media_path(value).read_text(encoding="utf-8"))
                columns = table["columns"]
                out.append(
                    {
                        "step": row.get("trainer/global_step"),
                        "columns": columns,
                        "rows": [dict(zip(columns, r, strict=True)) for r in table["data"]],
                    }
                )
        return out


def read_run_file(path: str | Path) -> OfflineRun:
    """Parse one ``.wandb`` file into an :class:`OfflineRun`."""
    run = OfflineRun(path=Path(path))
    for record in iter_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.project, run.entity = r.run_id, r.project, r.entity
            run.name, run.group, run.tags = r.display_name, r.run_group, list(r.tags)
            _items(r.config.update, run.config)
        elif kind == "config":
            _items(record.config.update, run.config)
            for item in record.config.remove:
                run.config.pop(item.key, None)
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "summary":
            _items(record.summary.update, run.summary)
            for item in record.summary.remove:
                run.summary.pop(item.key, None)
        elif kind == "artifact":
            a = record.artifact
            run.artifacts.append(
                {
                    "name": a.name,
                    "type": a.type,
                    "aliases": list(a.aliases),
                    "metadata": json.loads(a.metadata) if a.metadata else {},
                    "files": [c.path for c in a.manifest.contents],
                }
            )
        elif kind == "files":
            run.files += [f.path for f in record.files.files]
        elif kind == "metric":
            m = record.metric
            run.metric_definitions.append(
                {"name": m.name, "glob_name": m.glob_name, "step_metric": m.step_metric}
            )
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    run.config.pop("_wandb", None)
    return run


def has_exit_record(path: str | Path) -> bool:
    """Whether the run file already holds its exit record (the run finished writing)."""
    try:
        return any(r.WhichOneof("record_type") == "exit" for r in iter_records(path))
    except (OSError, DataError):
        return False


def read_run(root: str | Path) -> OfflineRun:
    """The newest W&B run under ``root`` (a seqlab run dir, its ``wandb`` dir or a ``.wandb`` file)."""
    files = find_run_files(root)
    if not files:
        raise DataError(
            f"no W&B run file (run-*.wandb) under {root}; was the run made with --logger wandb "
            f"and a mode other than disabled?"
        )
    return read_run_file(files[-1])


__all__ = [
    "OfflineRun",
    "find_run_files",
    "has_exit_record",
    "iter_records",
    "read_run",
    "read_run_file",
]

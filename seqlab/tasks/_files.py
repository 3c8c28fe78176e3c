"""Reading users' files: UTF-8 text and tables (CSV, TSV, JSON lines), with clear errors.

Every problem a user can fix (missing or empty file, bytes that are not UTF-8, a malformed
row, a missing column) is a :class:`seqlab.errors.DataError` naming the file, the place
(line, column) and the fix.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.errors import DataError

TABLE_SUFFIXES = {
    ".csv": ",",
    ".tsv": "\t",
    ".tab": "\t",
    ".jsonl": None,
    ".ndjson": None,
    ".json": None,
}


def resolve_file(task: str, path: str | Path, option: str = "path") -> Path:
    """``path`` as an existing regular file, or a DataError saying what is wrong."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(
            f"task '{task}': {option}={str(path)!r} does not exist (looked for "
            f"{p.absolute()}). Pass the path of an existing file."
        )
    if not p.is_file():
        raise DataError(
            f"task '{task}': {option}={str(path)!r} is not a regular file; "
            f"pass the path of a file, not a directory."
        )
    return p


def read_utf8(task: str, path: str | Path, option: str = "path") -> str:
    """The text of a UTF-8 file (a leading byte-order mark is dropped).

    Raises DataError for a missing, empty (or whitespace-only) or non-UTF-8 file; the
    last names the first bad byte's line and column.
    """
    p = resolve_file(task, path, option)
    data = p.read_bytes()
    if not data.strip():
        raise DataError(
            f"task '{task}': {p} is empty ({len(data)} bytes"
            f"{', whitespace only' if data else ''}). Pass a file with data in it."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"task '{task}': {p} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line "
            f"{line}, column {column} (offset {exc.start}) cannot be decoded. Re-encode the "
            f"file as UTF-8, e.g. `iconv -f latin1 -t utf-8 {p.name} > {p.stem}.utf8{p.suffix}`."
        ) from None


@dataclass
class Table:
    """A table read from a file: column names, the values per column, and the line of
    each row in the file (for error messages). JSON values keep their JSON types; a key
    missing from a JSON row reads as ``None``."""

    path: Path
    columns: list[str]
    data: dict[str, list[Any]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, task: str, name: str, option: str) -> list[Any]:
        """The values of column ``name`` (selected by ``option``), or a DataError listing
        the columns there are."""
        if name not in self.data:
            raise DataError(
                f"task '{task}': column '{name}' ({option}) is not in {self.path}; its "
                f"columns are: {', '.join(self.columns)}. Pass {option}=NAME with one of them."
            )
        return self.data[name]


def read_table(task: str, path: str | Path, option: str = "path") -> Table:
    """Read a CSV (``.csv``), TSV (``.tsv``/``.tab``) or JSON-lines (``.jsonl``/``.ndjson``;
    ``.json`` may also hold one array of objects) file with a header / object keys."""
    p = resolve_file(task, path, option)
    suffix = p.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"task '{task}': cannot tell the format of {p} from its suffix '{p.suffix}'; "
            f"name it .csv, .tsv or .jsonl (JSON lines)."
        )
    text = read_utf8(task, p, option)
    delimiter = TABLE_SUFFIXES[suffix]
    table = (
        _read_json(task, p, text)
        if delimiter is None
        else _read_delimited(task, p, text, delimiter)
    )
    if not len(table):
        raise DataError(f"task '{task}': {p} has a header but no data rows; add some rows.")
    return table


def _read_delimited(task: str, path: Path, text: str, delimiter: str) -> Table:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:  # pragma: no cover - read_utf8 rejected empty files
        header = []
    columns = [h.strip() for h in header]
    if not any(columns):
        raise DataError(
            f"task '{task}': the first line of {path} is empty; it must be the "
            f"header row naming the columns."
        )
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise DataError(
            f"task '{task}': {path} has duplicate column names in its header "
            f"({', '.join(duplicates)}); rename them so each is unique."
        )
    data: dict[str, list[Any]] = {c: [] for c in columns}
    lines: list[int] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != len(columns):
                raise DataError(
                    f"task '{task}': line {reader.line_num} of {path} has {len(row)} fields "
                    f"but the header has {len(columns)}. Quote fields that contain the "
                    f"delimiter {delimiter!r} or a line break, or fix the row."
                )
            for c, v in zip(columns, row, strict=True):
                data[c].append(v)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(
            f"task '{task}': {path} is not valid "
            f"{'TSV' if delimiter == chr(9) else 'CSV'} near line {reader.line_num}: "
            f"{exc}. Fix the quoting on that line."
        ) from None
    return Table(path, columns, data, lines)


def _read_json(task: str, path: Path, text: str) -> Table:
    records: list[tuple[int, Any]] = []
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            array = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"task '{task}': {path} is not valid JSON: {exc.msg} at line "
                f"{exc.lineno}, column {exc.colno}. Fix the file."
            ) from None
        records = [(i + 1, r) for i, r in enumerate(array)]
        where = "element"
    else:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"task '{task}': line {lineno} of {path} is not valid JSON ({exc.msg} at "
                    f"column {exc.colno}). A JSON-lines file has one JSON object per line."
                ) from None
        where = "line"
    columns: list[str] = []
    for lineno, record in records:
        if not isinstance(record, dict):
            raise DataError(
                f"task '{task}': {where} {lineno} of {path} is a "
                f"{type(record).__name__}, not a JSON object with named fields."
            )
        columns += [k for k in record if k not in columns]
    data = {c: [r.get(c) for _, r in records] for c in columns}
    return Table(path, columns, data, [lineno for lineno, _ in records])


def shared_data_file(name: str) -> Path | None:
    """``../shared/data/NAME`` relative to the working directory or to the repository."""
    repo = Path(__file__).resolve().parents[2]
    for base in (Path.cwd(), repo):
        candidate = (base / ".." / "shared" / "data" / name).resolve()
        if candidate.is_file():
            return candidate
    return None

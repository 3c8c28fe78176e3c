"""Checkpoints: atomic writes, weights-only reads, and what seqlab records in them.

Writing (:class:`AtomicCheckpointIO`, Lightning's CheckpointIO plugin): the checkpoint is
serialised into a temporary file in the target's own directory, flushed and fsynced, then
renamed over the target with ``os.replace`` (atomic on POSIX and Windows) and the
directory is fsynced. A crash at any moment leaves either the old file or the new one,
never a half-written file under the checkpoint's name. (Lightning's own ``_atomic_save``
serialises to memory first but then writes the target in place.)

Reading (:func:`read_checkpoint`): ``torch.load(weights_only=True)`` unless the caller
trusts the file. seqlab stores only tensors and plain containers (dicts, lists, strings,
numbers), so its own checkpoints always load weights-only. Every failure is a
:class:`~seqlab.errors.CheckpointError` naming the file and the problem.

What seqlab adds to Lightning's checkpoint dict, under ``"seqlab"``: the resolved config,
the task's info (sizes, vocabulary, baselines), the cell's registry name and source
(distribution and version) and the seqlab version. :func:`load_checkpoint` rebuilds the
model from these alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import pickle
import uuid
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from seqlab.config import Config
from seqlab.errors import CheckpointError, ConfigError, PluginError, UnknownNameError
from seqlab.tasks.base import Baseline, TaskInfo

if TYPE_CHECKING:
    from seqlab.models import SequenceModel

FORMAT_VERSION = 1
META_KEY = "seqlab"


# -- writing ------------------------------------------------------------------------------------
def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` atomically: ``write(f)`` into a temporary sibling, fsync, rename.

    Raises CheckpointError (the previous file intact) when the directory is not writable
    or the disk is full.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        cause = _os_error(exc)
        if cause is None:
            raise
        intact = " The previous file is intact." if path.exists() else ""
        raise CheckpointError(
            f"could not write {path}: {cause.strerror or cause}.{intact} Check that the "
            f"directory is writable and the disk has free space."
        ) from exc


def _os_error(exc: BaseException) -> OSError | None:
    """``exc`` or the OSError behind it (a writer may wrap one in its own error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO: atomic saves, weights-only loads with clear errors."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options.")
        bad = nonfinite_weights(checkpoint.get("state_dict") or {})
        if bad:
            intact = " The previous file is intact." if Path(path).exists() else ""
            raise CheckpointError(
                f"refusing to write {path}: the model's weights hold NaN or Inf "
                f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}), so training has "
                f"diverged.{intact} Lower the learning rate (--lr) or clip gradients "
                f"(--gradient-clip 1.0)."
            )
        # Serialised in memory first: torch.save writing into a file that fills up (disk
        # full, file-size limit) hides the OSError behind a RuntimeError of its zip writer.
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write(path, lambda f: f.write(buffer.getbuffer()))

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return read_checkpoint(path, trust=weights_only is False, map_location=map_location)

    def remove_checkpoint(self, path: Any) -> None:
        Path(path).unlink(missing_ok=True)


def nonfinite_weights(state_dict: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors in ``state_dict`` holding NaN or Inf."""
    return [
        name
        for name, t in state_dict.items()
        if isinstance(t, torch.Tensor)
        and t.is_floating_point()
        and not bool(torch.isfinite(t).all())
    ]


# -- reading ------------------------------------------------------------------------------------
def resolve_checkpoint_path(path: str | Path) -> Path:
    """``path`` itself, or for a run directory its ``checkpoints/best.ckpt`` (else last)."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.ckpt", "last.ckpt"):
            if (p / "checkpoints" / name).is_file():
                return p / "checkpoints" / name
        raise CheckpointError(
            f"{p} is a directory without checkpoints/best.ckpt or checkpoints/last.ckpt; "
            f"pass a checkpoint file or the directory of a run that saved one."
        )
    if not p.exists():
        raise CheckpointError(
            f"checkpoint {p} does not exist. Pass a .ckpt file (a run keeps them in "
            f"RUN_DIR/checkpoints/best.ckpt and last.ckpt) or a run directory."
        )
    return p


def _weights_only_refusal(text: str) -> str | None:
    """The line of torch's weights-only refusal naming what it refused (else ``None``)."""
    if "Weights only load failed" not in text and "weights_only" not in text:
        return None
    lines = text.splitlines()
    return next(
        (ln.strip() for ln in lines if "Unsupported" in ln or "global" in ln.lower()),
        lines[0] if lines else text,
    )


def read_checkpoint(
    path: str | Path, *, trust: bool = False, map_location: Any = "cpu"
) -> dict[str, Any]:
    """The raw checkpoint dict of ``path``, loaded weights-only.

    With ``trust``, a file that weights-only loading refuses (it pickles other Python
    objects) is loaded in full, with a warning naming what it holds.
    """
    p = resolve_checkpoint_path(path)
    size = p.stat().st_size
    if size == 0:
        raise CheckpointError(
            f"checkpoint {p} is empty (0 bytes): it was never written completely. Use "
            f"another checkpoint (e.g. checkpoints/last.ckpt or best.ckpt of the run)."
        )
    with p.open("rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04" and not head.startswith(b"\x80"):
        raise CheckpointError(
            f"{p} is not a PyTorch checkpoint: it starts with {head!r}, not with the zip "
            f"archive header torch.save writes. Pass a .ckpt file written by seqlab fit "
            f"(RUN_DIR/checkpoints/best.ckpt or last.ckpt) or a run directory."
        )
    try:
        try:
            data = torch.load(p, map_location=map_location or "cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            refused = _weights_only_refusal(str(exc))
            if refused is None or not trust:
                raise
            warnings.warn(
                f"loading checkpoint {p} in full, as --trust-checkpoint (trust=True) allows: "
                f"it holds Python objects beyond tensors and plain containers ({refused}), "
                f"and unpickling them can run any code the file's author chose.",
                stacklevel=2,
            )
            data = torch.load(p, map_location=map_location or "cpu", weights_only=False)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        refused = _weights_only_refusal(text)
        if refused is not None:
            raise CheckpointError(
                f"checkpoint {p} holds Python objects other than tensors and plain "
                f"containers, which weights-only loading refuses ({refused}). seqlab's own "
                f"checkpoints never need more. Pass --trust-checkpoint (trust=True in Python) "
                f"only if you trust where the file came from: unpickling can run arbitrary "
                f"code."
            ) from None
        raise CheckpointError(
            f"checkpoint {p} is not a PyTorch checkpoint ({text.splitlines()[0]}). Pass a "
            f".ckpt file written by seqlab fit (RUN_DIR/checkpoints/best.ckpt or last.ckpt) "
            f"or a run directory."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {p} ({size:,} bytes) is corrupt or truncated and cannot be read "
            f"({reason}). Use another checkpoint (e.g. checkpoints/last.ckpt or best.ckpt of "
            f"the run)."
        ) from None
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {p} could not be read: {type(exc).__name__}: {exc}."
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{p} is not a checkpoint: it holds a {type(data).__name__}, not the dict a "
            f"Lightning checkpoint is."
        )
    return data


# -- what seqlab records ----------------------------------------------------------------------------
def plain(obj: Any) -> Any:
    """``obj`` as weights-only-loadable data: dicts, lists, str, numbers, bools, None, tensors."""
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted(plain(v) for v in obj)
    if isinstance(obj, Path):
        return str(obj)
    item = getattr(obj, "item", None)  # numpy scalars
    if callable(item) and getattr(obj, "ndim", 1) == 0:
        return plain(item())
    tolist = getattr(obj, "tolist", None)  # numpy arrays
    if callable(tolist):
        return plain(tolist())
    return str(obj)


def info_to_dict(info: TaskInfo) -> dict[str, Any]:
    return plain(info)


def info_from_dict(data: Mapping[str, Any]) -> TaskInfo:
    fields = {f.name for f in dataclasses.fields(TaskInfo)}
    kwargs = {k: v for k, v in data.items() if k in fields}
    kwargs["target_shape"] = tuple(kwargs.get("target_shape") or ())
    kwargs["baselines"] = tuple(Baseline(**b) for b in kwargs.get("baselines") or ())
    if kwargs.get("itos") is not None:
        kwargs["itos"] = tuple(kwargs["itos"])
    kwargs["extra"] = dict(kwargs.get("extra") or {})
    return TaskInfo(**kwargs)


def cell_record(name: str) -> dict[str, Any]:
    """The registry name and source of cell ``name``, as stored in checkpoints."""
    from seqlab.cells import cell_source

    src = cell_source(name)
    return {
        "name": name,
        "distribution": src.distribution,
        "version": src.version,
        "builtin": src.builtin,
        "entry_point": src.entry_point,
    }


PATH_OPTIONS = ("path",)
"""Task options naming a data file, stored resolved so a run works from any directory."""


def given_paths(config: Config) -> dict[str, str]:
    """The data-file task options of ``config`` as the user spelled them (for display)."""
    options = config.task.options or {}
    return {k: str(options[k]) for k in PATH_OPTIONS if isinstance(options.get(k), str)}


def resolved_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with each relative data-file path that exists made absolute (resolved
    against the working directory), so the run can be evaluated or resumed from anywhere."""
    out = dict(options)
    for key in PATH_OPTIONS:
        value = out.get(key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            p = Path(value).expanduser()
            if p.exists():
                out[key] = str(p.resolve())
    return out


def saved_config(config: Config) -> dict[str, Any]:
    """``config`` as a run stores it (``config.yaml``, checkpoints): credentials masked
    (see :mod:`seqlab.tracking.secrets`), no ``run.resume``, data paths absolute (see
    :func:`resolved_options`; the spelling given is in the checkpoint's ``given_paths``)."""
    from seqlab.tracking.secrets import scrub

    saved = scrub(config.to_dict())
    saved["run"]["resume"] = None
    saved["task"]["options"] = resolved_options(saved["task"].get("options") or {})
    return saved


def seqlab_metadata(config: Config, info: TaskInfo) -> dict[str, Any]:
    """seqlab's record in every checkpoint: format, version, config, task info and cell."""
    from seqlab.version import __version__

    return {
        "format": FORMAT_VERSION,
        "seqlab_version": __version__,
        "config": plain(saved_config(config)),
        "given_paths": given_paths(config),
        "task_info": info_to_dict(info),
        "cell": plain(cell_record(config.model.cell)),
    }


@dataclass
class LoadedCheckpoint:
    """A checkpoint read back: the model with its weights, and how it was made."""

    path: Path
    model: Any  # seqlab.models.SequenceModel, in eval mode on the CPU
    config: Config
    info: TaskInfo
    cell: dict[str, Any]
    global_step: int
    epoch: int
    seqlab_version: str


def check_cell(p: Path, cell: Mapping[str, Any]) -> str:
    """The registry name to build the cell recorded in ``p`` with: its name, qualified by
    the distribution that trained it when several provide that name. Raises
    CheckpointError when that cell is not installed or broken."""
    from seqlab.cells import REGISTRY, get_cell

    name = str(cell.get("name", "?"))
    selected = REGISTRY.qualified(name, cell.get("distribution"))
    try:
        get_cell(selected)
    except UnknownNameError as exc:
        dist, version = cell.get("distribution", "?"), cell.get("version", "?")
        if cell.get("builtin", False):
            raise CheckpointError(
                f"checkpoint {p} was trained with the built-in cell '{name}' of seqlab "
                f"{version}, which this seqlab does not have ({exc}). Install seqlab "
                f"{version}: pip install 'seqlab=={version}'."
            ) from None
        raise CheckpointError(
            f"checkpoint {p} was trained with the cell '{name}' from the distribution "
            f"'{dist}' (version {version}), which is not installed or is disabled. Install "
            f"it: pip install '{dist}=={version}' (or pip install {dist})."
        ) from None
    except PluginError as exc:
        raise CheckpointError(
            f"checkpoint {p} needs the cell '{name}', whose plugin is broken: {exc}"
        ) from None
    return selected


def rebuild_model(
    where: Path, record: Mapping[str, Any], source: str
) -> tuple[Config, TaskInfo, SequenceModel, dict[str, Any]]:
    """The model a seqlab record (a checkpoint's metadata, an export's config) describes,
    freshly initialised, with its config (the cell selected as when it was trained), task
    info and cell record. Raises CheckpointError naming ``source`` when the cell is not
    installed or the record cannot be rebuilt."""
    from seqlab.models import build_model

    cell = dict(record.get("cell") or {})
    selected = check_cell(where, cell)
    try:
        config = Config.from_dict(record["config"], source=source)
        config.model.cell = selected
        info = info_from_dict(record["task_info"])
        model = build_model(config.model, config.optim, info)
    except (ConfigError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{source} records a model seqlab cannot rebuild: {exc}") from None
    return config, info, model, cell


def load_checkpoint(path: str | Path, trust: bool = False) -> LoadedCheckpoint:
    """Rebuild the model of a seqlab checkpoint (file or run directory) with its weights.

    Loads weights-only unless ``trust``. Raises CheckpointError for a missing, corrupt or
    foreign file, or when the checkpoint's cell comes from a distribution that is not
    installed (the message says what to ``pip install``).
    """

    p = resolve_checkpoint_path(path)
    ckpt = read_checkpoint(p, trust=trust)
    meta = ckpt.get(META_KEY)
    if not isinstance(meta, Mapping) or "config" not in meta or "state_dict" not in ckpt:
        keys = ", ".join(sorted(str(k) for k in ckpt)[:8]) or "(none)"
        raise CheckpointError(
            f"{p} is not a seqlab checkpoint: it has no '{META_KEY}' record of the config and "
            f"cell (its keys: {keys}). seqlab reads the checkpoints `seqlab fit` writes."
        )
    if int(meta.get("format", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {p} uses format {meta.get('format')}, newer than this seqlab reads "
            f"({FORMAT_VERSION}); upgrade seqlab (it was written by seqlab {meta.get('seqlab_version')})."
        )
    config, info, model, cell = rebuild_model(p, meta, source=f"checkpoint {p}")
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][:3]
        raise CheckpointError(
            f"the weights in checkpoint {p} do not fit the model its config describes "
            f"(cell '{cell.get('name')}'): {' '.join(lines)}. Was another cell installed "
            f"under the same name since it was written?"
        ) from None
    model.eval()
    return LoadedCheckpoint(
        path=p,
        model=model,
        config=config,
        info=info,
        cell=cell,
        global_step=int(ckpt.get("global_step", 0)),
        epoch=int(ckpt.get("epoch", 0)),
        seqlab_version=str(meta.get("seqlab_version", "?")),
    )


def finite(value: float) -> float | None:
    """``value`` for JSON, ``None`` when it is NaN or infinite."""
    return value if math.isfinite(value) else None

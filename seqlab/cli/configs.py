"""``seqlab configs``: the presets that ship with seqlab, and ``--config NAME``.

The presets are package data (``seqlab/configs/*.yaml``; a clone's top-level ``configs``
links to it), so an installed seqlab has them too. ``--config`` takes a file, or the name
of a preset (``--config charlm-shakespeare``: no ``.yaml``, not an existing path).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table

from seqlab.cli.app import app, console
from seqlab.errors import UnknownNameError, did_you_mean


def presets_dir() -> Path:
    """The folder of the shipped presets (inside the installed package)."""
    return Path(str(resources.files("seqlab") / "configs"))


def preset_names() -> list[str]:
    """The names ``--config NAME`` accepts, sorted."""
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def preset_file(config: Path | None) -> Path | None:
    """``config`` itself, or the shipped preset it names.

    A value that exists, ends in ``.yaml``/``.yml`` or holds a path separator is a file
    (left for the config loader to read or refuse); any other is a preset name, and an
    unknown one is an :class:`~seqlab.errors.UnknownNameError` with "did you mean".
    """
    if config is None:
        return None
    text = str(config)
    if config.exists() or config.suffix in (".yaml", ".yml") or "/" in text or "\\" in text:
        return config
    names = preset_names()
    if text not in names:
        raise UnknownNameError(
            f"--config {text}: no such file, and no preset of that name."
            f"{did_you_mean(text, names)} The presets are: {', '.join(names)} (seqlab "
            f"configs lists them); or pass the path of a YAML file."
        )
    return presets_dir() / f"{text}.yaml"


def shipped_data(config: Path | None, given: dict[str, Any]) -> dict[str, Any]:
    """Task options pointing a shipped preset at the data shipped beside it.

    A preset names its example data relative to the repository root
    (``configs/data/...``); where that path does not exist (another working directory,
    an installed seqlab), the copy inside the package is used. Options the user gave
    (``given``) are left alone; so is data that is not shipped (a shared corpus), whose
    task then says it is missing.
    """
    if config is None or "path" in given:
        return {}
    try:
        config = config.resolve()
        inside = config.parent == presets_dir().resolve()
        data = yaml.safe_load(config.read_text(encoding="utf-8")) if inside else None
    except (OSError, yaml.YAMLError):
        return {}
    options = ((data or {}).get("task") or {}).get("options") or {}
    path = options.get("path") if isinstance(options, dict) else None
    if not isinstance(path, str) or Path(path).is_absolute() or Path(path).exists():
        return {}
    packaged = presets_dir().parent / path
    return {"path": str(packaged)} if packaged.is_file() else {}


def _summary(path: Path, width: int = 60) -> tuple[str, str]:
    """The task and the first sentence of the first comment paragraph of a preset."""
    text = path.read_text(encoding="utf-8")
    paragraph: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#") or not line.strip("# "):
            if paragraph:
                break
            continue
        paragraph.append(line.lstrip("# ").strip())
    first = " ".join(paragraph).split(". ")[0].split(": ")[0]
    first = first if len(first) <= width else first[: width - 1].rstrip() + "…"
    try:
        task = str(((yaml.safe_load(text) or {}).get("task") or {}).get("name", ""))
    except yaml.YAMLError:
        task = "?"
    return task, first


@app.command("configs")
def configs_cmd() -> None:
    """List the presets that ship with seqlab (use one with seqlab fit --config NAME)."""
    table = Table(title=f"presets ({presets_dir()})", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("what")
    for name in preset_names():
        task, first = _summary(presets_dir() / f"{name}.yaml")
        table.add_row(name, task, first)
    console.print(table)

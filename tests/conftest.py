"""Shared fixtures: fake installed distributions with real entry points."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def make_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Install a throw-away distribution on sys.path: ``*.dist-info`` with real entry points.

    ``make_distribution("acme-cells", "1.2", {"seqlab.cells": {"acme": "acme_mod:Acme"}},
    {"acme_mod": "source code"})`` makes ``importlib.metadata`` see the distribution exactly
    as if pip had installed it; the registries are refreshed before and after.
    """
    from seqlab.cells import REGISTRY as CELLS
    from seqlab.tasks import REGISTRY as TASKS

    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))

    def make(
        name: str,
        version: str,
        entry_points: dict[str, dict[str, str]],
        modules: dict[str, str] | None = None,
    ) -> Path:
        norm = name.replace("-", "_")
        info = root / f"{norm}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = []
        for group, eps in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{k} = {v}" for k, v in eps.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for mod, source in (modules or {}).items():
            (root / f"{mod}.py").write_text(textwrap.dedent(source))
        CELLS.refresh()
        TASKS.refresh()
        return info

    yield make
    for mod in [
        m
        for m in sys.modules
        if getattr(sys.modules[m], "__file__", None) and str(root) in str(sys.modules[m].__file__)
    ]:
        del sys.modules[mod]
    CELLS.refresh()
    TASKS.refresh()


def pytest_configure(config: pytest.Config) -> None:
    # Tests use tiny tensors: extra intra-op threads only add synchronisation, and on a
    # loaded 2-core machine they made small fused kernels up to 50× slower.
    import torch

    torch.set_num_threads(1)

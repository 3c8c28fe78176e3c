"""The package layering of seqlab (CONTRIBUTING.md, "Package map"), enforced by parsing.

Every ``seqlab/**/*.py`` is parsed with :mod:`ast`; every import (top level, inside
functions, under ``if TYPE_CHECKING:``) counts. A *package* is a folder ``seqlab/<x>/``
or a top-level module ``seqlab/<x>.py``. The rules:

(a) a package imports only the packages :data:`LAYERS` lists for it;
(b) no cycles between packages;
(c) no private names across packages: no ``_x`` module of another package, no
    ``from seqlab.a import _b`` and no ``module._b`` attribute of another package's module;
(d) no function over :data:`MAX_FUNCTION_LINES` lines (``def`` to its last line) and no
    module over :data:`MAX_MODULE_LINES` lines.

``seqlab/__init__.py`` and ``seqlab/__main__.py`` are exempt: they gather the public API
and start the CLI. Each failure lists ``file:line`` and the rule it breaks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "seqlab"

MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500

#: What each package may import besides itself, lowest layer first. The same table is in
#: CONTRIBUTING.md ("Package map and layers"); change both together, and only to point
#: dependencies down. Everyone may use the bottom: errors, validation, version.
_BASE = ("errors", "validation", "version")
#: training and everything below it, for the runners above it (compare, sweep).
_TRAINING_AND_BELOW = (
    *_BASE,
    *("plugin_registry", "config", "cells", "unroll", "recurrent", "models", "tasks"),
    *("tracking", "diagnostics", "training"),
)
LAYERS: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "version": frozenset(),
    "validation": frozenset({"errors"}),
    "plugin_registry": frozenset({"errors", "version"}),
    "cells": frozenset({*_BASE, "plugin_registry"}),
    "unroll": frozenset({*_BASE, "cells"}),
    "recurrent": frozenset({*_BASE, "cells", "unroll"}),
    "tasks": frozenset({*_BASE, "plugin_registry"}),
    "config": frozenset(_BASE),
    "tracking": frozenset({*_BASE, "config", "cells", "recurrent"}),
    "diagnostics": frozenset({*_BASE, "config", "recurrent", "tracking"}),
    "testing": frozenset({*_BASE, "cells", "unroll", "recurrent"}),
    "models": frozenset({*_BASE, "config", "cells", "unroll", "recurrent", "tasks"}),
    "bench": frozenset({*_BASE, "cells", "recurrent"}),
    "training": frozenset(
        {*_BASE, "config", "cells", "recurrent", "models", "tasks", "tracking", "diagnostics"}
    ),
    "jobs": frozenset({*_BASE, "config"}),
    "compare": frozenset({*_TRAINING_AND_BELOW, "jobs"}),
    "sweep": frozenset({*_TRAINING_AND_BELOW, "jobs"}),
    "tune": frozenset(_TRAINING_AND_BELOW),
    "serving": frozenset(_TRAINING_AND_BELOW),
}
LAYERS["cli"] = frozenset(LAYERS)  # the command line: "everything"
#: Gather the public API or start the program: may import anything, checked for size only.
EXEMPT = frozenset({"seqlab/__init__.py", "seqlab/__main__.py"})
#: The root package: importing it (``from seqlab import __version__``) pulls in everything.
ROOT_PACKAGE = "seqlab (the root package)"


@dataclass(frozen=True)
class Import:
    """One import of a seqlab module (or of a name from one) by ``file`` at ``line``."""

    file: str
    line: int
    package: str  # the importing package
    target: str  # the dotted module imported, e.g. "seqlab.cells.base"
    names: tuple[str, ...] = ()  # names taken from it with ``from target import ...``


def package_of(module: str) -> str:
    """``seqlab.cells.base`` → ``cells``; ``seqlab`` → the root package."""
    parts = module.split(".")
    if len(parts) < 2:
        return ROOT_PACKAGE
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def source_files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def absolute(node: ast.ImportFrom, path: Path) -> str:
    """The absolute module of ``from <module> import ...`` (resolving relative imports)."""
    if not node.level:
        return node.module or ""
    base = module_name(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def is_module(dotted: str) -> bool:
    """Whether ``seqlab.a.b`` names a module or package of the source tree."""
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path, tree: ast.AST) -> Iterator[Import]:
    """Every import of a seqlab module in ``tree``; ``from seqlab import cells`` counts as
    an import of ``seqlab.cells``."""
    file, package = rel(path), package_of(module_name(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "seqlab" or alias.name.startswith("seqlab."):
                    yield Import(file, node.lineno, package, alias.name)
        elif isinstance(node, ast.ImportFrom):
            target = absolute(node, path)
            if not (target == "seqlab" or target.startswith("seqlab.")):
                continue
            names = tuple(a.name for a in node.names)
            submodules = [n for n in names if is_module(f"{target}.{n}")]
            for name in submodules:
                yield Import(file, node.lineno, package, f"{target}.{name}")
            rest = tuple(n for n in names if n not in submodules)
            if rest:
                yield Import(file, node.lineno, package, target, rest)


def private_attributes(path: Path, tree: ast.AST) -> Iterator[tuple[int, str, str]]:
    """``(line, module, name)`` for each ``module._name`` read from a seqlab module bound by
    an import (``import seqlab.cells._scan as s; s._x``, ``seqlab.cells.base._y``)."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("seqlab"):
                    bound[alias.asname or "seqlab"] = alias.name if alias.asname else "seqlab"
        elif isinstance(node, ast.ImportFrom):
            target = absolute(node, path)
            for alias in node.names:
                if target.startswith("seqlab") and is_module(f"{target}.{alias.name}"):
                    bound[alias.asname or alias.name] = f"{target}.{alias.name}"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain: list[str] = []
        value: ast.expr = node
        while isinstance(value, ast.Attribute):
            chain.insert(0, value.attr)
            value = value.value
        if not (isinstance(value, ast.Name) and value.id in bound):
            continue
        module = bound[value.id]
        for attr in chain:
            if is_private(attr):
                yield node.lineno, module, attr
                break
            if not is_module(f"{module}.{attr}"):
                break
            module = f"{module}.{attr}"


@dataclass
class Tree:
    """The parsed source tree: imports, private accesses, sizes."""

    packages: set[str]
    imports: list[Import]
    private_attrs: list[tuple[str, int, str, str, str]]  # file, line, package, module, name
    long_functions: list[tuple[str, int, str, int]]  # file, line, name, lines
    long_modules: list[tuple[str, int]]  # file, lines


def parse_tree() -> Tree:
    out = Tree(set(), [], [], [], [])
    for path in source_files():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        file = rel(path)
        n_lines = len(text.splitlines())
        if n_lines > MAX_MODULE_LINES:
            out.long_modules.append((file, n_lines))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.long_functions.append((file, node.lineno, node.name, length))
        if file in EXEMPT:
            continue
        package = package_of(module_name(path))
        out.packages.add(package)
        out.imports.extend(imports(path, tree))
        for line, module, name in private_attributes(path, tree):
            out.private_attrs.append((file, line, package, module, name))
    return out


@pytest.fixture(scope="module")
def tree() -> Tree:
    return parse_tree()


def report(title: str, problems: list[str]) -> str:
    return f"{title} ({len(problems)}):\n  " + "\n  ".join(sorted(problems))


def test_every_package_is_in_the_layer_table(tree: Tree) -> None:
    unknown = sorted(p for p in tree.packages if p not in LAYERS)
    assert not unknown, (
        f"packages missing from LAYERS in tests/test_architecture.py and CONTRIBUTING.md: "
        f"{unknown}. Add each with the packages it may import (only lower layers)."
    )


def test_packages_import_only_lower_layers(tree: Tree) -> None:
    problems = []
    for imp in tree.imports:
        target = package_of(imp.target)
        if target == imp.package or imp.package not in LAYERS:
            continue
        if target == ROOT_PACKAGE:
            problems.append(
                f"{imp.file}:{imp.line}: rule (a) layering: {imp.package} imports the root "
                f"package `seqlab` ({', '.join(imp.names) or 'import seqlab'}); import each "
                f"name from its home module (the version: seqlab.version)"
            )
        elif target not in LAYERS[imp.package]:
            problems.append(
                f"{imp.file}:{imp.line}: rule (a) layering: {imp.package} may not import "
                f"{target} ({imp.target}); {imp.package} may import only "
                f"{', '.join(sorted(LAYERS[imp.package])) or 'nothing'}"
            )
    if problems:
        pytest.fail(report("imports against the layer table", problems), pytrace=False)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_cycles_between_packages(tree: Tree) -> None:
    edges: dict[str, set[str]] = {}
    where: dict[tuple[str, str], list[str]] = {}
    for imp in tree.imports:
        target = package_of(imp.target)
        if target != imp.package:
            edges.setdefault(imp.package, set()).add(target)
            where.setdefault((imp.package, target), []).append(f"{imp.file}:{imp.line}")
    problems = []
    for component in _cycles(edges):
        members = set(component)
        inner = [(a, b) for a in component for b in sorted(edges.get(a, set()) & members)]
        # The imports against LAYERS close the cycle; show those (all, if LAYERS has a cycle).
        upward = [(a, b) for a, b in inner if b not in LAYERS.get(a, ())] or inner
        sites = [f"{a} → {b} at {', '.join(where[(a, b)])}" for a, b in upward]
        problems.append(
            f"rule (b) cycle between {', '.join(component)}, closed by: "
            + "; ".join(sites)
            + "; remove the import that points up the layer table"
        )
    if problems:
        pytest.fail(report("import cycles between packages", problems), pytrace=False)


def test_no_private_names_across_packages(tree: Tree) -> None:
    problems = []
    for imp in tree.imports:
        if package_of(imp.target) == imp.package:
            continue
        private_parts = [p for p in imp.target.split(".") if is_private(p)]
        if private_parts:
            problems.append(
                f"{imp.file}:{imp.line}: rule (c) private module: {imp.package} imports "
                f"{imp.target}, private to {package_of(imp.target)}; give what it needs a "
                f"public home"
            )
        for name in imp.names:
            if is_private(name):
                problems.append(
                    f"{imp.file}:{imp.line}: rule (c) private name: {imp.package} imports "
                    f"{name} from {imp.target}; make it public or move it"
                )
    for file, line, package, module, name in tree.private_attrs:
        if package_of(module) != package:
            problems.append(
                f"{file}:{line}: rule (c) private attribute: {package} reads {module}.{name}; "
                f"make it public or move it"
            )
    if problems:
        pytest.fail(report("private names used across packages", problems), pytrace=False)


def test_no_long_functions(tree: Tree) -> None:
    problems = [
        f"{file}:{line}: rule (d) function {name} has {n} lines (at most {MAX_FUNCTION_LINES}); "
        f"split it into well-named steps"
        for file, line, name, n in tree.long_functions
    ]
    if problems:
        pytest.fail(report("functions that are too long", problems), pytrace=False)


def test_no_long_modules(tree: Tree) -> None:
    problems = [
        f"{file}:1: rule (d) module has {n} lines (at most {MAX_MODULE_LINES}); split it into "
        f"modules named for what they hold"
        for file, n in tree.long_modules
    ]
    if problems:
        pytest.fail(report("modules that are too long", problems), pytrace=False)


def test_layer_table_matches_contributing() -> None:
    """CONTRIBUTING.md shows the same table: one row ``| package | may import |`` each."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    documented: dict[str, frozenset[str]] = {}
    for line in text.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in LAYERS:
            allowed = cells[2]
            names = {n.strip().strip("`") for n in allowed.split(",") if n.strip()}
            if names == {"everything"}:
                names = set(LAYERS) - {cells[0]}
            documented[cells[0]] = frozenset(names - {"nothing"})
    assert documented == LAYERS, (
        "the layer table in CONTRIBUTING.md differs from LAYERS in tests/test_architecture.py: "
        + "; ".join(
            f"{p}: CONTRIBUTING {sorted(documented.get(p, ()))} vs test {sorted(LAYERS.get(p, ()))}"
            for p in sorted(set(documented) | set(LAYERS))
            if documented.get(p) != LAYERS.get(p)
        )
    )


def test_the_checker_sees_imports_inside_functions() -> None:
    """Guard against the checker going blind: a function-level import is found."""
    code = "def f():\n    from seqlab.training import fit\n    import seqlab.cells._scan as s\n    return s._x\n"
    path = SRC / "cells" / "example.py"
    tree = ast.parse(code)
    found = list(imports(path, tree))
    assert [(i.line, i.target) for i in found] == [
        (2, "seqlab.training"),
        (3, "seqlab.cells._scan"),
    ]
    assert list(private_attributes(path, tree)) == [(4, "seqlab.cells._scan", "_x")]

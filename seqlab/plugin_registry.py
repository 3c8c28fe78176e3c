"""A name → object registry fed by built-ins and by entry points, loaded lazily.

Used for cells (entry-point group ``seqlab.cells``) and tasks (``seqlab.tasks``).

Design (after xarray's backends, catalogue and pytest's plugin loading):

- Built-ins register themselves with a decorator where they are defined.
- Entry points are *discovered* from installed distributions' metadata without importing
  anything; the entry-point name is the registry name. A plugin module is imported only
  when its name is selected (``get``), so one broken plugin cannot break the others.
- ``SEQLAB_DISABLE_PLUGINS`` (a comma list of entry-point or distribution names, or ``*``)
  hides plugins before they are imported. A distribution name hides that distribution's
  plugins only; an entry-point name hides every plugin of that name.
- Two sources for one name are reported with both sources when that name is selected.
  A qualified ``"distribution:name"`` (or ``"seqlab:name"`` for the built-in) picks one.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from seqlab.errors import DuplicateNameError, PluginError, UnknownNameError, did_you_mean
from seqlab.version import __version__

T = TypeVar("T")

BUILTIN = "built-in"
DISABLE_ENV = "SEQLAB_DISABLE_PLUGINS"


class PluginWarning(UserWarning):
    """A plugin could not be loaded while listing; the others are still listed."""


@dataclass(frozen=True)
class Source:
    """Where a registered object comes from."""

    distribution: str  # "seqlab" for built-ins
    version: str
    builtin: bool
    entry_point: str | None = None  # "pkg.module:Attr" for plugins

    def __str__(self) -> str:
        if self.builtin:
            return BUILTIN
        return f"{self.distribution} {self.version}"


@dataclass
class _Entry(Generic[T]):
    name: str
    source: Source
    obj: T | None = None
    entry_point: importlib.metadata.EntryPoint | None = None
    error: BaseException | None = field(default=None, repr=False)


def disabled_plugins() -> set[str] | None:
    """Names in ``SEQLAB_DISABLE_PLUGINS``; ``None`` means every plugin is disabled."""
    raw = os.environ.get(DISABLE_ENV, "").strip()
    if not raw:
        return set()
    names = {part.strip() for part in raw.split(",") if part.strip()}
    return None if "*" in names else names


class Registry(Generic[T]):
    """Registry of one kind of object (``kind`` is used in messages: "cell", "task").

    ``validate(name, obj, source)`` checks (and may convert) each plugin object when it is
    loaded; ``load_builtins()`` imports the modules whose built-ins register themselves,
    called before every lookup (it must be cheap once done, as an ``import`` is).
    """

    def __init__(
        self,
        kind: str,
        group: str,
        validate: Callable[[str, Any, Source], T] | None = None,
        load_builtins: Callable[[], None] | None = None,
    ):
        self.kind = kind
        self.group = group
        self._validate = validate
        self._load_builtins = load_builtins
        self._builtins: dict[str, _Entry[T]] = {}
        self._plugins: dict[str, list[_Entry[T]]] | None = None  # discovered lazily

    # -- registration -------------------------------------------------------------------
    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering a built-in object under ``name``."""

        def decorator(obj: T) -> T:
            if name in self._builtins and self._builtins[name].obj is not obj:
                raise DuplicateNameError(
                    f"{self.kind} '{name}' is registered twice inside seqlab "
                    f"({self._builtins[name].obj!r} and {obj!r}); rename one of them."
                )
            src = Source("seqlab", __version__, builtin=True)
            self._builtins[name] = _Entry(name, src, obj=obj)
            return obj

        return decorator

    def refresh(self) -> None:
        """Forget discovered plugins (after installing one, or changing the environment)."""
        self._plugins = None

    def _discover(self) -> dict[str, list[_Entry[T]]]:
        if self._plugins is not None:
            return self._plugins
        found: dict[str, list[_Entry[T]]] = {}
        seen: set[tuple[str, str]] = set()
        for ep in importlib.metadata.entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "<unknown distribution>"
            version = dist.version if dist is not None else "?"
            # The same distribution can be visible twice on sys.path (editable + site).
            key = (ep.name, dist_name)
            if key in seen:
                continue
            seen.add(key)
            src = Source(dist_name, version, builtin=False, entry_point=ep.value)
            found.setdefault(ep.name, []).append(_Entry(ep.name, src, entry_point=ep))
        self._plugins = found
        return found

    def _enabled_plugins(self) -> dict[str, list[_Entry[T]]]:
        disabled = disabled_plugins()
        if disabled is None:
            return {}
        out: dict[str, list[_Entry[T]]] = {}
        for name, entries in self._discover().items():
            kept = [
                e for e in entries if name not in disabled and e.source.distribution not in disabled
            ]
            if kept:
                out[name] = kept
        return out

    # -- queries ------------------------------------------------------------------------
    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching the fnmatch ``pattern``; imports no plugin."""
        self._ensure_builtins()
        names = set(self._builtins) | set(self._enabled_plugins())
        return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))

    def sources(self, name: str) -> list[Source]:
        """Every source that provides ``name`` (more than one means a conflict)."""
        self._ensure_builtins()
        out = [self._builtins[name].source] if name in self._builtins else []
        out += [e.source for e in self._enabled_plugins().get(name, [])]
        return out

    def source(self, name: str) -> Source:
        """The single source of ``name`` (raises like :meth:`get` on unknown or duplicate)."""
        return self._select(name).source

    def get(self, name: str) -> T:
        """The object registered as ``name``, importing its plugin module if needed."""
        entry = self._select(name)
        if entry.obj is None:
            entry.obj = self._load(entry)
        return entry.obj

    def load_all(self, pattern: str = "*") -> dict[str, T]:
        """Load every matching name; broken or conflicting plugins warn and are skipped."""
        out: dict[str, T] = {}
        for name in self.names(pattern):
            try:
                out[name] = self.get(name)
            except (PluginError, DuplicateNameError) as exc:
                warnings.warn(str(exc), PluginWarning, stacklevel=2)
        return out

    # -- internals ----------------------------------------------------------------------
    def _ensure_builtins(self) -> None:
        if self._load_builtins is not None:
            self._load_builtins()

    def _select(self, name: str) -> _Entry[T]:
        self._ensure_builtins()
        if not isinstance(name, str) or not name:
            raise UnknownNameError(f"{self.kind} name must be a non-empty string, got {name!r}.")
        qualifier = None
        if ":" in name:
            qualifier, name = name.split(":", 1)
        candidates: list[_Entry[T]] = []
        if name in self._builtins:
            candidates.append(self._builtins[name])
        candidates += self._enabled_plugins().get(name, [])
        if qualifier is not None:
            candidates = [c for c in candidates if c.source.distribution == qualifier]
        if not candidates:
            self._raise_unknown(name, qualifier)
        if len(candidates) > 1:
            raise DuplicateNameError(self._duplicate_message(name, candidates))
        return candidates[0]

    def _raise_unknown(self, name: str, qualifier: str | None) -> None:
        discovered = self._discover()
        disabled = disabled_plugins()
        if name in discovered and (
            disabled is None
            or name in disabled
            or any(e.source.distribution in disabled for e in discovered[name])
        ):
            dists = ", ".join(str(e.source) for e in discovered[name])
            raise UnknownNameError(
                f"{self.kind} '{name}' comes from a plugin ({dists}) that is disabled by "
                f"{DISABLE_ENV}={os.environ.get(DISABLE_ENV, '')!r}; remove it from that "
                f"variable to use it."
            )
        available = self.names()
        where = f" from '{qualifier}'" if qualifier else ""
        raise UnknownNameError(
            f"Unknown {self.kind} '{name}'{where}.{did_you_mean(name, available)} "
            f"Available {self.kind}s: {', '.join(available) or '(none)'}. "
            f"Third-party {self.kind}s are found through the entry-point group "
            f"'{self.group}' of installed packages."
        )

    def _duplicate_message(self, name: str, candidates: list[_Entry[T]]) -> str:
        both = " and ".join(
            f"'{c.source.distribution}'" + ("" if c.source.builtin else f" ({c.source})")
            for c in candidates
        )
        # Disabling by entry-point name would hide every plugin of that name: name the
        # distribution instead (the last plugin; a built-in cannot be disabled).
        plugin = next(c for c in reversed(candidates) if not c.source.builtin)
        return (
            f"{self.kind} '{name}' is provided by more than one source: {both}. "
            f"Uninstall one of the distributions, disable one with "
            f"{DISABLE_ENV}={plugin.source.distribution}, or select one explicitly as "
            f"'{candidates[-1].source.distribution}:{name}' (or "
            f"'{candidates[0].source.distribution}:{name}')."
        )

    def qualified(self, name: str, distribution: str | None) -> str:
        """``name`` as selected when it was recorded from ``distribution``: the plain name,
        or ``"distribution:name"`` when several sources provide it and that distribution is
        one of them (a checkpoint knows which distribution trained it)."""
        if distribution is None or ":" in name:
            return name
        sources = self.sources(name)
        if len(sources) > 1 and any(s.distribution == distribution for s in sources):
            return f"{distribution}:{name}"
        return name

    def _load(self, entry: _Entry[T]) -> T:
        ep = entry.entry_point
        assert ep is not None
        src = entry.source
        where = (
            f"{self.kind} '{entry.name}' from distribution '{src.distribution}' "
            f"({src.version}, entry point '{ep.value}')"
        )
        fix = (
            f"Fix or reinstall '{src.distribution}', or disable it with "
            f"{DISABLE_ENV}={src.distribution}. Run with --traceback (or "
            f"SEQLAB_DEBUG=1) to see the traceback."
        )
        try:
            obj = ep.load()
        except ModuleNotFoundError as exc:
            hint = _missing_module_hint(ep.value.split(":")[0], exc)
            raise PluginError(f"{where} could not be imported: {hint}. {fix}") from exc
        except Exception as exc:
            raise PluginError(
                f"{where} failed to load: {type(exc).__name__}: {exc}{_raised_at(exc)}. {fix}"
            ) from exc
        if self._validate is not None:
            obj = self._validate(entry.name, obj, src)
        return obj


def _missing_module_hint(module: str, exc: ModuleNotFoundError) -> str:
    """What a ModuleNotFoundError raised while importing the plugin ``module`` means: the
    module itself (or its package) is missing, or one it imports is."""
    missing = exc.name or "?"
    if module == missing or module.startswith(missing + "."):
        return f"its module '{module}' is not importable (is the distribution installed correctly?)"
    at = _innermost_frame(exc)
    imported = f", imported at {at}," if at else ""
    if missing.split(".")[0] == module.split(".")[0]:
        return (
            f"the module '{missing}'{imported} does not exist: a file of the plugin's own "
            f"package is missing or misnamed"
        )
    return (
        f"it needs the module '{missing}'{imported} which is not installed "
        f"(pip install {missing.split('.')[0]})"
    )


def _raised_at(exc: BaseException) -> str:
    """`` (at FILE:LINE)`` of the innermost frame of ``exc`` outside importlib, or ``""``."""
    at = _innermost_frame(exc)
    return f" (at {at})" if at else ""


def _innermost_frame(exc: BaseException) -> str | None:
    tb, where = exc.__traceback__, None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if "importlib" not in filename and "<frozen" not in filename:
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where

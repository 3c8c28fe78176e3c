"""``parametrize_with_checks``: one pytest test per (cell, check), with readable ids."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from seqlab.errors import ConfigError
from seqlab.testing._harness import HIDDEN_SIZE, INPUT_SIZE, CheckSkipped
from seqlab.testing.checks import all_checks
from seqlab.testing.suite import validate_expected_failures

ExpectedFailures = Mapping[str, str] | Callable[[Any], Mapping[str, str] | None] | None


def cell_label(cell: Any) -> str:
    """The id of a cell in test names: its registry name, or its class name."""
    if isinstance(cell, str):
        return cell
    if inspect.isclass(cell):
        return cell.__name__
    raise ConfigError(
        f"parametrize_with_checks takes cell classes or registry names, got "
        f"{type(cell).__name__} instance {cell!r}; pass its class and the options it was built with."
    )


class BoundCheck:
    """A check with its sizes and options bound: ``bound(cell)`` runs it under pytest.

    A check that does not apply (:class:`CheckSkipped`) becomes ``pytest.skip``.
    """

    def __init__(self, check: Callable[..., None], keywords: dict[str, Any]) -> None:
        self.check = check
        self.keywords = keywords
        functools.update_wrapper(self, check)

    def __call__(self, cell: Any) -> None:
        import pytest

        try:
            self.check(cell, **self.keywords)
        except CheckSkipped as exc:
            pytest.skip(str(exc))

    def __repr__(self) -> str:
        return f"{self.check.__name__}({', '.join(f'{k}={v!r}' for k, v in self.keywords.items())})"


def parametrize_with_checks(
    cells: Iterable[Any],
    *,
    input_size: int = INPUT_SIZE,
    hidden_size: int = HIDDEN_SIZE,
    expected_failures: ExpectedFailures = None,
    **options: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A pytest decorator giving one test per cell and check, ids like ``lstm-check_shapes``.

    The decorated test takes the arguments ``cell`` and ``check`` and calls
    ``check(cell)``::

        from seqlab.testing import parametrize_with_checks

        @parametrize_with_checks([MyCell, "lstm"], expected_failures={
            "check_batch_independence": "normalises over the batch on purpose"})
        def test_conformance(cell, check):
            check(cell)

    ``cells`` are classes or registry names (resolved when the test runs, so a broken
    plugin fails its own tests instead of the collection). ``input_size``,
    ``hidden_size`` and ``options`` are bound into each ``check``. ``expected_failures``
    is a dict ``{check name: reason}`` for every cell, or a callable ``cell -> dict`` for
    per-cell lists; each such test is ``xfail(strict=True, raises=AssertionError)`` with
    the reason, so it fails the run if the check starts passing. A missing or empty
    reason, or an unknown check name, raises ``ValueError`` at collection.
    """
    import pytest

    cells = list(cells)
    params = []
    for cell in cells:
        label = cell_label(cell)
        declared = expected_failures(cell) if callable(expected_failures) else expected_failures
        expected = validate_expected_failures(declared, repr(label))
        for check in all_checks():
            bound = BoundCheck(
                check, {"input_size": input_size, "hidden_size": hidden_size, **options}
            )
            name = check.__name__
            marks = ()
            if name in expected:
                marks = (
                    pytest.mark.xfail(strict=True, raises=AssertionError, reason=expected[name]),
                )
            params.append(pytest.param(cell, bound, id=f"{label}-{name}", marks=marks))
    return pytest.mark.parametrize(("cell", "check"), params)

"""Running the whole suite: :func:`run_checks` (a report) and :func:`check_cell` (raises)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from seqlab.errors import ConfigError, did_you_mean
from seqlab.testing._harness import HIDDEN_SIZE, INPUT_SIZE, CheckSkipped, resolve
from seqlab.testing.checks import all_checks

Status = Literal["passed", "failed", "skipped", "xfailed", "xpassed"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one cell.

    ``status`` is ``passed``, ``failed``, ``skipped`` (the check does not apply),
    ``xfailed`` (failed, and declared an expected failure) or ``xpassed`` (declared an
    expected failure but passed: a failure of the suite, as pytest's ``strict=True``).
    ``message`` is the failure or skip message, or the expected failure's reason.
    """

    check: str
    status: Status
    message: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped", "xfailed")


def validate_expected_failures(
    expected_failures: Mapping[str, str] | None, label: str = "the cell"
) -> dict[str, str]:
    """``expected_failures`` checked: known check names, each with a non-empty reason.

    Raises :class:`seqlab.errors.ConfigError` (a ``ValueError``) otherwise: an expected
    failure without a reason is how real bugs get silenced.
    """
    if expected_failures is None:
        return {}
    if not isinstance(expected_failures, Mapping):
        raise ConfigError(
            f"expected_failures for {label} must be a dict {{check name: reason}}, got "
            f"{type(expected_failures).__name__}."
        )
    names = [c.__name__ for c in all_checks(compiled=True)]
    out: dict[str, str] = {}
    for check, reason in expected_failures.items():
        if check not in names:
            raise ConfigError(
                f"expected_failures for {label} names {check!r}, which is not a conformance "
                f"check.{did_you_mean(str(check), names)} Checks: {', '.join(names)}."
            )
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                f"expected_failures[{check!r}] for {label} has no reason ({reason!r}). Every "
                f"expected failure needs a non-empty string saying why the cell is allowed to "
                f"fail that check, e.g. {{{check!r}: 'uses batch statistics by design'}}."
            )
        out[check] = reason.strip()
    return out


def run_checks(
    cell: Any,
    *,
    input_size: int = INPUT_SIZE,
    hidden_size: int = HIDDEN_SIZE,
    expected_failures: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    compiled: bool = False,
    **options: Any,
) -> list[CheckResult]:
    """Run every check on ``cell`` (a class or registry name); never raises for a failure.

    Mistakes of the caller (unknown cell name or option, bad ``expected_failures``) raise
    seqlab errors before any check runs. ``progress(check_name)`` is called before each.
    ``compiled=True`` adds ``check_compiled_matches_eager`` (it compiles: seconds per cell).
    """
    target = resolve(cell, input_size, hidden_size, options)
    expected = validate_expected_failures(expected_failures, repr(target.label))
    results = []
    for check in all_checks(compiled=compiled):
        name = check.__name__
        if progress is not None:
            progress(name)
        start = time.perf_counter()
        try:
            check(cell, input_size=input_size, hidden_size=hidden_size, **options)
        except CheckSkipped as exc:
            status, message = "skipped", str(exc)
        except AssertionError as exc:
            status, message = (
                ("xfailed", expected[name]) if name in expected else ("failed", str(exc))
            )
        else:
            status, message = ("xpassed", expected[name]) if name in expected else ("passed", "")
        results.append(CheckResult(name, status, message, time.perf_counter() - start))  # type: ignore[arg-type]
    return results


def check_cell(
    cell: Any,
    *,
    input_size: int = INPUT_SIZE,
    hidden_size: int = HIDDEN_SIZE,
    expected_failures: Mapping[str, str] | None = None,
    compiled: bool = False,
    **options: Any,
) -> list[CheckResult]:
    """Run the whole conformance suite on ``cell``; raise ``AssertionError`` if it fails.

    ``cell`` is a cell class or a registry name, built as
    ``Cls(input_size, hidden_size, **options)``. ``expected_failures`` maps check names to
    the reason the cell may fail them (a reason is required); such a check that passes
    is an error too, so the list stays true. ``compiled=True`` adds
    ``check_compiled_matches_eager`` (it compiles: seconds per cell).

    The message starts with the name of the first failing check (checks run from the
    contract's basics to composite behaviour, so that is the one to fix first), says
    what is wrong and how to fix it, and lists the other failing checks. Returns the
    results when everything conforms.
    """
    results = run_checks(
        cell,
        input_size=input_size,
        hidden_size=hidden_size,
        expected_failures=expected_failures,
        compiled=compiled,
        **options,
    )
    bad = [r for r in results if not r.ok]
    if bad:
        first = bad[0]
        message = (
            first.message
            if first.status == "failed"
            else (
                f"{first.check} was declared an expected failure ({first.message!r}) but passed; "
                f"remove it from expected_failures."
            )
        )
        if len(bad) > 1:
            message += (
                f"\n\n{len(bad) - 1} more check(s) failed: "
                f"{', '.join(r.check for r in bad[1:])} (see seqlab.testing.run_checks, "
                f"or `seqlab cells check NAME` for the table)."
            )
        raise AssertionError(message)
    return results

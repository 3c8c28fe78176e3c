"""The conformance checks: one function per property of the cell contract.

Every check has the signature ``check_x(cell, *, input_size=3, hidden_size=5, **options)``
where ``cell`` is a cell class or a registry name and ``options`` go to its constructor.
A check returns ``None`` when the cell conforms, raises ``AssertionError`` starting with
the check's name when it does not, and raises :class:`CheckSkipped` (a
``unittest.SkipTest``, reported as skipped by pytest) when it does not apply — only
``check_forward_sequence``, for cells without ``forward_sequence``.

>>> from seqlab.testing.checks import check_batch_independence
>>> check_batch_independence("lstm", hidden_size=8)

Sizes are small (batch 4, 7 steps — 131 where ``forward_sequence`` is compared, so that
chunked scans run several chunks and a partial one — input 3, hidden 5 by default).
Numerical comparisons run in float64 with the tolerances :data:`RTOL` and :data:`ATOL`;
save/load and determinism must be bitwise identical. docs/conformance.md says what each
check guarantees.
"""

from __future__ import annotations

from collections.abc import Callable

from seqlab.testing._behaviour_checks import (
    check_batch_independence,
    check_determinism,
    check_gradient_through_time,
    check_gradients,
    check_state_dict_roundtrip,
)
from seqlab.testing._compiled_checks import check_compiled_matches_eager
from seqlab.testing._contract_checks import check_constructor, check_initial_state, check_shapes
from seqlab.testing._harness import ATOL, RTOL, CheckSkipped
from seqlab.testing._sequence_checks import (
    check_chunked_state,
    check_forward_sequence,
    check_recurrent_integration,
    check_variable_lengths,
)

__all__ = [
    "ATOL",
    "RTOL",
    "CheckSkipped",
    "all_checks",
    "check_batch_independence",
    "check_chunked_state",
    "check_compiled_matches_eager",
    "check_constructor",
    "check_determinism",
    "check_forward_sequence",
    "check_gradient_through_time",
    "check_gradients",
    "check_initial_state",
    "check_recurrent_integration",
    "check_shapes",
    "check_state_dict_roundtrip",
    "check_variable_lengths",
    "get_check",
]

# The contract's basics first: a cell broken at the basics (say, a wrong output shape)
# breaks later checks too, and the first failure in this order is the one to fix first.
# Determinism comes early because every later comparison assumes it.
_CHECKS: tuple[Callable[..., None], ...] = (
    check_constructor,
    check_initial_state,
    check_shapes,
    check_determinism,
    check_batch_independence,
    check_forward_sequence,
    check_chunked_state,
    check_variable_lengths,
    check_gradients,
    check_gradient_through_time,
    check_state_dict_roundtrip,
    check_recurrent_integration,
)


#: Run only when asked for (``compiled=True``): they compile, seconds per cell.
_OPTIONAL_CHECKS: tuple[Callable[..., None], ...] = (check_compiled_matches_eager,)


def all_checks(*, compiled: bool = False) -> list[Callable[..., None]]:
    """Every check, in the order the suite runs them; ``compiled`` adds
    :func:`check_compiled_matches_eager` at the end."""
    return list(_CHECKS) + (list(_OPTIONAL_CHECKS) if compiled else [])


def get_check(name: str) -> Callable[..., None]:
    """The check called ``name`` (``"check_shapes"``); unknown names say what exists."""
    from seqlab.errors import UnknownNameError, did_you_mean

    checks = all_checks(compiled=True)
    for check in checks:
        if check.__name__ == name:
            return check
    names = [c.__name__ for c in checks]
    raise UnknownNameError(
        f"Unknown conformance check {name!r}.{did_you_mean(name, names)} "
        f"Available checks: {', '.join(names)}."
    )

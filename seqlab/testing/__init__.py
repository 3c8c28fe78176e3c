"""seqlab's public conformance suite: prove that a recurrent cell follows the contract.

In the spirit of scikit-learn's ``check_estimator``: one function per property, so a
failure names exactly what is wrong and how to fix it. Works on any cell class or
registry name — built-in, zoo, or a plugin's plain ``nn.Module`` that never imports
seqlab.

>>> from seqlab.testing import check_cell
>>> results = check_cell("lstm")                      # raises AssertionError on a failure
>>> from seqlab.testing.checks import check_shapes
>>> check_shapes("gru", input_size=4, hidden_size=6)  # one check

In a test suite (one test per cell and check, ids like ``lstm-check_shapes``)::

    from seqlab.testing import parametrize_with_checks

    @parametrize_with_checks([MyCell])
    def test_conformance(cell, check):
        check(cell)

See docs/conformance.md for every check and what it guarantees.
"""

from seqlab.testing._harness import ATOL, RTOL, CheckFailed, CheckSkipped
from seqlab.testing.checks import all_checks, get_check
from seqlab.testing.parametrize import parametrize_with_checks
from seqlab.testing.suite import CheckResult, check_cell, run_checks, validate_expected_failures

__all__ = [
    "ATOL",
    "RTOL",
    "CheckFailed",
    "CheckResult",
    "CheckSkipped",
    "all_checks",
    "check_cell",
    "get_check",
    "parametrize_with_checks",
    "run_checks",
    "validate_expected_failures",
]

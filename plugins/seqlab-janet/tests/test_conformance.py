"""seqlab's public conformance suite run on JANET, exactly as a third party runs it in CI.

Nothing here is specific to JANET but the class and its options: copy this file into
your own cell package, swap the import, and every check of ``seqlab.testing`` becomes a
test of your cell.
"""

from __future__ import annotations

from seqlab_janet import JANET

from seqlab.testing import check_cell, parametrize_with_checks


@parametrize_with_checks([JANET])
def test_janet_conforms(cell, check):
    check(cell)


@parametrize_with_checks([JANET], hidden_size=8, beta=0.5, t_max=20)
def test_janet_conforms_with_other_options(cell, check):
    check(cell)


def test_janet_conforms_through_its_entry_point():
    """The registry name resolves through this package's entry point to the same class."""
    results = check_cell("janet")
    assert {r.check: r.status for r in results}["check_forward_sequence"] == "skipped"
    assert all(r.status in ("passed", "skipped") for r in results)

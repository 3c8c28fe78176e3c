"""The cell layer's own contract pieces: the pre-flight check, equations, lengths, no unroller.

- :func:`seqlab.cells.contract.check_cell_contract` reports the conformance suite's first
  failing check, with its message (one home for the checks, two entry points);
- ``Cell.equations`` is read from the docstring, its one home;
- the torch-compatible cells run empty sequences and Cho's GRU without the unroller.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import seqlab.cells.registry as registry_module
from seqlab.cells import Cell, get_cell, list_cells
from seqlab.cells.base import like_state, state_tensors
from seqlab.cells.contract import CheckFailed, check_cell_contract
from seqlab.cells.equations import equations_from_docstring
from seqlab.testing import get_check
from seqlab.unroll import unroll


class _Elman(nn.Module):
    """A correct plain-module cell the broken ones below change one thing of."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        h = torch.tanh(self.lin(torch.cat([x_t, h], -1)))
        return h, h


class _WideOutput(_Elman):
    def forward(self, x_t, h):
        h, _ = super().forward(x_t, h)
        return torch.cat([h, h], -1), h


class _Float32Only(_Elman):
    def forward(self, x_t, h):
        out, new = super().forward(x_t, h)
        return out.float(), new


class _ListState(_Elman):
    def initial_state(self, batch_size, *, device=None, dtype=None):
        return [super().initial_state(batch_size, device=device, dtype=dtype)]


class _Raises(_Elman):
    def forward(self, x_t, h):
        raise RuntimeError("boom")


class _ShortSequence(_Elman):
    def forward_sequence(self, x, h, lengths=None):
        out, h = unroll(self, x, h, lengths)
        return out[:, :-1], h


BROKEN = [_WideOutput, _Float32Only, _ListState, _Raises, _ShortSequence]


@pytest.fixture
def registered(monkeypatch):
    """Make each class above selectable by its name, as a plugin's cell would be."""
    real = registry_module.get_cell
    classes = {cls.__name__: cls for cls in [_Elman, *BROKEN]}
    monkeypatch.setattr(registry_module, "get_cell", lambda name: classes.get(name) or real(name))
    return classes


@pytest.mark.parametrize("cls", BROKEN, ids=lambda c: c.__name__)
def test_contract_check_fails_exactly_as_the_suites_first_failing_check(registered, cls):
    """The pre-flight runs the suite's first three checks in the suite's order, so it
    reports the same first failure with the same message (issue 18, item 10)."""
    options = {"input_size": 4, "hidden_size": 6}
    suite = None
    for name in ("check_constructor", "check_initial_state", "check_shapes"):
        try:
            get_check(name)(cls.__name__, **options)
        except AssertionError as exc:
            suite = exc
            break
    assert suite is not None, "every broken cell fails one of the first three checks"
    with pytest.raises(CheckFailed) as ours:
        check_cell_contract(cls.__name__, **options)
    assert str(ours.value) == str(suite)


def test_contract_check_passes_good_cells_and_keeps_the_rng(registered):
    state = torch.random.get_rng_state()
    for name in ("_Elman", "lstm", "gru", "mingru", "janet"):
        check_cell_contract(name, input_size=4, hidden_size=6)
    check_cell_contract("rnn", input_size=3, hidden_size=5, nonlinearity="relu")
    assert torch.equal(torch.random.get_rng_state(), state)


def test_contract_check_reports_caller_mistakes_as_seqlab_errors():
    from seqlab.errors import ConfigError, UnknownNameError

    with pytest.raises(UnknownNameError, match="Did you mean 'lstm'"):
        check_cell_contract("lstn", input_size=3, hidden_size=5)
    with pytest.raises(ConfigError, match="no option 'forget_bais'"):
        check_cell_contract("lstm", input_size=3, hidden_size=5, forget_bais=1.0)


# -- equations: written once, in the docstring -----------------------------------------------
def test_every_builtin_cell_shows_the_equations_of_its_docstring():
    for name in list_cells():
        cls = get_cell(name)
        if not issubclass(cls, Cell):
            continue  # a plain-module plugin: `seqlab cells show` prints its docstring
        assert cls.equations, f"{name}: no 'Equations ...::' block in its docstring"
        assert cls.equations == equations_from_docstring(cls.__doc__)
        assert "h_t" in cls.equations or "c_t" in cls.equations


def test_equations_are_read_from_the_literal_block_after_equations():
    doc = """A cell.

    Equations (σ the sigmoid)::

        z_t = σ(W x_t)                 gate

        h_t = z_t ⊙ h_{t-1}

    Cho et al. instead::

        n_t = something else
    """
    assert (
        equations_from_docstring(doc)
        == "z_t = σ(W x_t)                 gate\n\nh_t = z_t ⊙ h_{t-1}"
    )
    assert equations_from_docstring("No equations here.\n\n    Shapes: (B, H).") == ""
    assert equations_from_docstring(None) == ""


def test_subclasses_inherit_or_override_the_equations():
    class Derived(get_cell("lstm")):  # no docstring of its own: the parent's equations
        pass

    class Own(Cell):
        """Mine.

        Equations::

            h_t = x_t
        """

    class Explicit(Cell):
        """Equations::

        ignored
        """

        equations = "set by hand"

    assert Derived.equations == get_cell("lstm").equations
    assert Own.equations == "h_t = x_t"
    assert Explicit.equations == "set by hand"


# -- torch-compatible cells run every input without the unroller -----------------------------
@pytest.mark.parametrize(
    "name, options",
    [("lstm", {}), ("gru", {}), ("rnn", {}), ("gru", {"reset_after": False})],
)
def test_forward_sequence_runs_empty_sequences_and_matches_stepping(name, options):
    torch.manual_seed(0)
    cell = get_cell(name)(3, 5, **options).double()
    x = torch.randn(4, 6, 3, dtype=torch.double)
    state = cell.initial_state(4, dtype=torch.double)
    state = like_state(state, [torch.randn_like(s) for s in state_tensors(state)])
    for lengths in (None, torch.tensor([6, 0, 3, 1]), torch.zeros(4, dtype=torch.long)):
        out, final = cell.forward_sequence(x, state, lengths)
        ref_out, ref_final = unroll(cell, x, state, lengths)
        torch.testing.assert_close(out, ref_out)
        for a, b in zip(state_tensors(final), state_tensors(ref_final), strict=True):
            torch.testing.assert_close(a, b)


def test_an_empty_sequence_passes_gradients_to_its_state_only():
    cell = get_cell("lstm")(3, 4)
    x = torch.randn(2, 5, 3, requires_grad=True)
    h0 = torch.randn(2, 4, requires_grad=True)
    c0 = torch.randn(2, 4, requires_grad=True)
    out, (h, c) = cell.forward_sequence(x, (h0, c0), torch.tensor([0, 5]))
    (out.sum() + h.sum() + c.sum()).backward()
    assert x.grad[0].abs().max() == 0 and x.grad[1].abs().max() > 0
    torch.testing.assert_close(h0.grad[0], torch.ones(4))

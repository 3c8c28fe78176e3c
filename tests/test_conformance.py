"""The conformance suite over every registered cell, and tests of the suite itself.

``test_registered_cell_conforms`` is parametrized over the registry (built-ins, the zoo,
installed plugins): a new cell is tested the moment it is registered. The rest proves the
suite catches each kind of broken cell with the right check and a message saying why.
"""

from __future__ import annotations

import inspect
import random
import re
import typing

import pytest
import torch
from torch import nn

from seqlab.cells import get_cell, list_cells
from seqlab.errors import ConfigError, UnknownNameError
from seqlab.testing import (
    CheckSkipped,
    all_checks,
    check_cell,
    get_check,
    parametrize_with_checks,
    run_checks,
)
from seqlab.testing.checks import check_forward_sequence, check_shapes

pytest_plugins = ["pytester"]

CHECK_NAMES = [c.__name__ for c in all_checks()]


@parametrize_with_checks(list_cells())
def test_registered_cell_conforms(cell, check):
    check(cell)


def _option_variants() -> list:
    """(name, {option: value}) for each registered cell's non-default switch settings.

    Every bool option flipped, and every other value of an option annotated with
    ``Literal[...]``: configurations the defaults never reach (``bias=False`` breaks fused
    kernels more often than anything else).
    """
    variants = []
    for name in list_cells():
        try:
            cls = get_cell(name)
            params = list(inspect.signature(cls, eval_str=True).parameters.values())[2:]
        except Exception:  # a broken plugin fails test_registered_cell_conforms instead
            continue
        for p in params:
            if isinstance(p.default, bool):
                values = [not p.default]
            elif typing.get_origin(p.annotation) is typing.Literal:
                values = [v for v in typing.get_args(p.annotation) if v != p.default]
            else:
                continue
            variants += [pytest.param(name, {p.name: v}, id=f"{name}-{p.name}={v}") for v in values]
    return variants


@pytest.mark.parametrize(("name", "options"), _option_variants())
def test_registered_cell_option_variants_conform(name, options):
    results = check_cell(name, **options)
    assert all(r.status in ("passed", "skipped") for r in results)


# -- cells for the suite to judge --------------------------------------------------------------
class Good(nn.Module):
    """A correct Elman cell with a forward_sequence, as a plain nn.Module (no seqlab import)."""

    def __init__(self, input_size, hidden_size, scale=1.0):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)
        self.scale = scale

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(
            batch_size,
            self.hidden_size,
            device=device,
            dtype=dtype if dtype is not None else self.lin.weight.dtype,
        )

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1))) * self.scale
        return h, h

    def forward_sequence(self, x, h, lengths=None):
        outs = []
        for t in range(x.shape[1]):
            new, _ = self.forward(x[:, t], h)
            if lengths is not None:
                alive = (t < lengths.to(x.device)).unsqueeze(1)
                h = torch.where(alive, new, h)
                new = new * alive
            else:
                h = new
            outs.append(new)
        return torch.stack(outs, 1), h


class Stepped(Good):
    """Good without forward_sequence: seqlab steps it."""

    forward_sequence = None


class WrongOutputShape(Good):
    def forward(self, x, h):
        h, _ = super().forward(x, h)
        return torch.cat([h, h[:, :1]], 1), h


class WrongOutputDtype(Stepped):
    def forward(self, x, h):
        h, _ = super().forward(x, h)
        return h.float(), h


class StateIgnoresDtype(Good):
    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device)


class ListState(Stepped):
    def initial_state(self, batch_size, *, device=None, dtype=None):
        return [super().initial_state(batch_size, device=device, dtype=dtype)]

    def forward(self, x, state):
        h, _ = super().forward(x, state[0])
        return h, [h]


class OptionWithoutDefault(Good):
    def __init__(self, input_size, hidden_size, mode):
        super().__init__(input_size, hidden_size)


class WrongSizeAttribute(Good):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.hidden_size = 5  # hard-coded: right only at the default size


class BatchMixing(Good):
    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1)))
        h = h - 0.1 * h.mean(0, keepdim=True)  # a batch statistic
        return h, h


class SequenceDisagrees(Good):
    def forward_sequence(self, x, h, lengths=None):
        out, h = super().forward_sequence(x, h, lengths)
        return out * 1.001, h


class SequenceDetachesWeight(Good):
    """forward_sequence cuts lin.weight from the graph (values right, gradients wrong)."""

    sequence_mode = False

    def forward(self, x, h):
        weight = self.lin.weight.detach() if self.sequence_mode else self.lin.weight
        h = torch.tanh(nn.functional.linear(torch.cat([x, h], 1), weight, self.lin.bias))
        return h, h

    def forward_sequence(self, x, h, lengths=None):
        self.sequence_mode = True
        try:
            return super().forward_sequence(x, h, lengths)
        finally:
            self.sequence_mode = False


class SequenceIgnoresState(Good):
    def forward_sequence(self, x, h, lengths=None):
        return super().forward_sequence(x, torch.zeros_like(h), lengths)


class SequenceIgnoresLengths(Good):
    def forward_sequence(self, x, h, lengths=None):
        return super().forward_sequence(x, h, None)


class SequenceWithoutLengths(Good):
    def forward_sequence(self, x, h):
        return super().forward_sequence(x, h)


class ScanDropsCarry(Good):
    """A chunked forward_sequence that restarts every 64-step chunk from the initial state:
    right on short sequences, wrong on long ones."""

    def forward_sequence(self, x, h, lengths=None):
        outs, final = [], h
        for start in range(0, x.shape[1], 64):
            out, final = super().forward_sequence(
                x[:, start : start + 64], h, None if lengths is None else lengths - start
            )
            outs.append(out)
        return torch.cat(outs, 1), final


class SingleStepKeepsState(Good):
    """forward_sequence forgets to update the state on one-step sequences."""

    def forward_sequence(self, x, h, lengths=None):
        out, final = super().forward_sequence(x, h, lengths)
        return out, (final if x.shape[1] > 1 else h)


class FixedInputWidth(Good):
    """Builds its weights for 3 input features whatever input_size says."""

    def __init__(self, input_size, hidden_size):
        super().__init__(3, hidden_size)
        self.input_size = input_size


class FrozenParameter(Good):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.gain = nn.Parameter(torch.ones(hidden_size))

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1))) * self.gain.detach()
        return h, h

    forward_sequence = None


class StepDetachesState(Stepped):
    """Trains as if every step were the first: the state passed on is cut from the graph."""

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1)))
        return h, h.detach()


class UnseededInit(Good):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        with torch.no_grad():
            self.lin.bias.fill_(random.random())  # Python's RNG: torch.manual_seed cannot fix it


class NoisyAtEval(Stepped):
    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1)) + 1e-3 * torch.randn_like(h))
        return h, h


class TensorNotInStateDict(Good):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.offset = torch.randn(hidden_size)  # a plain attribute, not a buffer

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1)) + self.offset.to(x.dtype))
        return h, h

    forward_sequence = None


def _after(name: str) -> set[str]:
    return set(CHECK_NAMES[CHECK_NAMES.index(name) + 1 :])


# (cell, the check that must catch it, words of the message saying why, the exact set of
# other checks that fail too — a cell broken at the basics breaks what builds on them).
BROKEN = [
    (WrongOutputShape, "check_shapes", "output of shape (4, 6)", _after("check_shapes")),
    (WrongOutputDtype, "check_shapes", "dtype torch.float32 for a torch.float64 cell", set()),
    (
        StateIgnoresDtype,
        "check_initial_state",
        "has dtype torch.float32, expected torch.float64",
        {"check_shapes", "check_forward_sequence", "check_recurrent_integration"},
    ),
    (
        ListState,
        "check_initial_state",
        "is a list, not a Tensor",
        {"check_shapes", "check_recurrent_integration"},
    ),
    (OptionWithoutDefault, "check_constructor", "mode", _after("check_constructor")),
    (WrongSizeAttribute, "check_constructor", "hidden_size = 5, expected 10", set()),
    (
        SequenceWithoutLengths,
        "check_constructor",
        "cannot be called as forward_sequence(x, state, lengths)",
        {"check_chunked_state", "check_variable_lengths", "check_recurrent_integration"},
    ),
    (UnseededInit, "check_determinism", "different values of 'lin.bias'", set()),
    (
        NoisyAtEval,
        "check_determinism",
        "two calls in eval mode on the same input",
        {
            "check_batch_independence",
            "check_chunked_state",
            "check_variable_lengths",
            "check_state_dict_roundtrip",
        },
    ),
    (
        BatchMixing,
        "check_batch_independence",
        "changing sample 3's input and state changed",
        {"check_variable_lengths"},
    ),
    (
        SequenceDisagrees,
        "check_forward_sequence",
        "forward_sequence's outputs differ from stepping",
        set(),
    ),
    (
        SequenceDetachesWeight,
        "check_forward_sequence",
        "gradient w.r.t. parameter 'lin.weight' through forward_sequence differs",
        {"check_gradients"},
    ),
    (
        SequenceIgnoresState,
        "check_forward_sequence",
        "the gradient w.r.t. the initial state through forward_sequence differs",
        {"check_chunked_state", "check_variable_lengths", "check_gradient_through_time"},
    ),
    (
        ScanDropsCarry,
        "check_forward_sequence",
        "at T=131 from a non-zero state, forward_sequence's outputs differ",
        {"check_chunked_state", "check_variable_lengths"},
    ),
    (
        SingleStepKeepsState,
        "check_chunked_state",
        "forward_sequence on chunks 3+1+3 with the state carried gives other outputs",
        set(),
    ),
    (
        FixedInputWidth,
        "check_recurrent_integration",
        "while running seqlab.Recurrent(num_layers=2, bidirectional=True)",
        set(),
    ),
    (
        SequenceIgnoresLengths,
        "check_variable_lengths",
        "has length 3 but its outputs at steps 3..6 are not zero",
        set(),
    ),
    (FrozenParameter, "check_gradients", "parameter 'gain' gets no gradient", set()),
    (
        StepDetachesState,
        "check_gradient_through_time",
        "does not carry gradient through time",
        set(),
    ),
    (
        TensorNotInStateDict,
        "check_state_dict_roundtrip",
        "loaded from the saved state_dict gives other outputs",
        set(),
    ),
]


@pytest.mark.parametrize(
    ("cls", "check_name", "why", "also"), BROKEN, ids=[b[0].__name__ for b in BROKEN]
)
def test_broken_cell_is_caught_by_the_right_check(cls, check_name, why, also):
    with pytest.raises(AssertionError) as alone:
        get_check(check_name)(cls)
    message = str(alone.value)
    assert message.startswith(f"{check_name} failed for cell '{cls.__name__}' "), message
    assert why in message
    with pytest.raises(AssertionError) as whole:
        check_cell(cls)
    report = str(whole.value)
    assert report.startswith(f"{check_name} failed for cell '{cls.__name__}' ")
    others = re.search(r"\d+ more check\(s\) failed: ([\w, ]+) \(", report)
    assert set(others.group(1).split(", ") if others else ()) == also


def test_a_correct_plain_module_passes_everything_and_the_stepped_one_skips_one_check():
    results = check_cell(Good, hidden_size=6, scale=0.5)
    assert [r.check for r in results] == CHECK_NAMES
    assert {r.status for r in results} == {"passed"}
    stepped = {r.check: r for r in run_checks(Stepped)}
    assert stepped["check_forward_sequence"].status == "skipped"
    assert "has no forward_sequence" in stepped["check_forward_sequence"].message
    with pytest.raises(CheckSkipped):
        check_forward_sequence(Stepped)


def test_failure_messages_say_how_to_fix_and_chain_the_cells_own_exception():
    with pytest.raises(AssertionError) as info:
        check_cell(BatchMixing)
    text = str(info.value)
    assert "no statistics over the batch" in text
    assert "1 more check(s) failed: check_variable_lengths" in text

    class Crashes(Good):
        def forward(self, x, h):
            raise RuntimeError("boom")

    with pytest.raises(AssertionError) as crash:
        check_shapes(Crashes)
    assert "the cell raised RuntimeError: boom while calling forward(x_t, state)" in str(
        crash.value
    )
    assert isinstance(crash.value.__cause__, RuntimeError)


def test_checks_take_registry_names_options_and_sizes():
    results = check_cell("rnn", input_size=4, hidden_size=6, nonlinearity="relu")
    assert [r.status for r in results] == ["passed"] * len(CHECK_NAMES)
    assert check_shapes("lstm", hidden_size=7, forget_bias=0.0) is None


def test_expected_failures_need_a_reason_and_must_really_fail():
    results = check_cell(FrozenParameter, expected_failures={"check_gradients": "gain is frozen"})
    assert {r.check: r.status for r in results}["check_gradients"] == "xfailed"
    with pytest.raises(AssertionError, match="check_gradients was declared an expected failure"):
        check_cell(Good, expected_failures={"check_gradients": "claimed but untrue"})
    for reason in ("", "   ", None, 3):
        with pytest.raises(ValueError, match="needs a non-empty string"):
            check_cell(FrozenParameter, expected_failures={"check_gradients": reason})
    with pytest.raises(ValueError, match="Did you mean 'check_gradients'"):
        check_cell(FrozenParameter, expected_failures={"check_gradient": "typo"})


def test_caller_mistakes_raise_seqlab_errors_before_any_check():
    with pytest.raises(UnknownNameError, match="Did you mean 'lstm'"):
        check_cell("lstn")
    with pytest.raises(ConfigError, match="Did you mean 'forget_bias'"):
        check_shapes("lstm", forgt_bias=1.0)
    with pytest.raises(ConfigError, match="pass its class"):
        check_cell(Good(3, 5))
    with pytest.raises(ConfigError, match="rejected the options {'nonlinearity': 'gelu'}"):
        check_cell("rnn", nonlinearity="gelu")
    with pytest.raises(ConfigError, match="positive integer hidden_size"):
        check_shapes("lstm", hidden_size=0)
    with pytest.raises(UnknownNameError, match="Did you mean 'check_shapes'"):
        get_check("check_shape")


def test_checks_restore_the_callers_rng_and_thread_count():
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    before = torch.get_rng_state()
    check_cell("gru")
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.get_num_threads() == threads


@parametrize_with_checks(
    [FrozenParameter, "rnn"],
    hidden_size=4,
    expected_failures=lambda cell: (
        {"check_gradients": "the gain is frozen with .detach() on purpose"}
        if cell is FrozenParameter
        else None
    ),
)
def test_parametrize_with_checks_marks_expected_failures_xfail(cell, check):
    check(cell)


def test_parametrize_with_checks_ids_marks_and_validation():
    mark = parametrize_with_checks(
        [Good, "lstm"], expected_failures={"check_shapes": "why not"}
    ).mark
    assert mark.args[0] == ("cell", "check")
    params = mark.args[1]
    assert [p.id for p in params] == [f"{c}-{n}" for c in ("Good", "lstm") for n in CHECK_NAMES]
    marked = {p.id: p.marks for p in params if p.marks}
    assert set(marked) == {"Good-check_shapes", "lstm-check_shapes"}
    xfail = marked["lstm-check_shapes"][0]
    assert xfail.name == "xfail"
    assert xfail.kwargs == {"strict": True, "raises": AssertionError, "reason": "why not"}
    assert params[0].values[1].__name__ == "check_constructor"
    assert params[0].values[1].keywords == {"input_size": 3, "hidden_size": 5}
    with pytest.raises(ValueError, match="no reason"):
        parametrize_with_checks([Good], expected_failures={"check_shapes": ""})
    with pytest.raises(ConfigError, match="pass its class"):
        parametrize_with_checks([Good(3, 5)])


THIRD_PARTY_TESTS = """
import torch
from torch import nn

from seqlab.testing import parametrize_with_checks


class Cell(nn.Module):
    def __init__(self, input_size, hidden_size, frozen=False):
        super().__init__()
        self.input_size, self.hidden_size, self.frozen = input_size, hidden_size, frozen
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)
        self.gain = nn.Parameter(torch.ones(hidden_size))

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        gain = self.gain.detach() if self.frozen else self.gain
        h = torch.tanh(self.lin(torch.cat([x, h], 1))) * gain
        return h, h


@parametrize_with_checks([Cell], frozen=True,
                         expected_failures={"check_gradients": "frozen on purpose"})
def test_declared(cell, check):
    check(cell)


@parametrize_with_checks([Cell], expected_failures={"check_gradients": "wrongly claimed"})
def test_claimed_but_passes(cell, check):
    check(cell)
"""


def test_under_pytest_expected_failures_are_strict_and_skips_are_skips(pytester):
    pytester.makepyfile(test_third_party=THIRD_PARTY_TESTS)
    # Third-party plugins of this environment only slow the inner session down.
    quiet = [
        arg
        for name in ("cacheprovider", "hypothesispytest", "benchmark", "anyio")
        for arg in ("-p", f"no:{name}")
    ]
    result = pytester.runpytest_inprocess(*quiet, "-ra")
    result.assert_outcomes(passed=10 + 10, xfailed=1, failed=1, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "XFAIL test_third_party.py::test_declared[[]Cell-check_gradients[]] - frozen on purpose",
            "[[]XPASS(strict)[]] wrongly claimed",
            "FAILED test_third_party.py::test_claimed_but_passes[[]Cell-check_gradients[]]*",
            "SKIPPED*cell 'Cell' has no forward_sequence",
        ]
    )

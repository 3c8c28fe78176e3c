"""The README's command blocks run, with tiny budgets: its flags, configs and names exist.

tests/test_docs.py runs every block of the documentation site (docs/*.md, including
docs/results.md); the README is not a page of the site, so its blocks are run here, in
order, in one fresh working directory (``configs/`` linked in, ``../shared`` next to it,
as in the repository root). Each ``seqlab`` line runs in this process with every flag as
written plus a tiny budget (``fit``: one epoch of 3 batches of 4 that ends with a
validation; ``compare``: 1 seed of 3 steps; ``bench``: 1 round at B=4, T=5; ``generate``:
at most 50 characters), so a renamed flag, config key or cell fails here; ``<run>``
stands for the newest run directory made before it. Python blocks run as written. The
only lines not run are the set-up lines listed in ``NOT_RUN`` (installing needs the
network; ``python -m pytest`` is this test suite), and that list must match the README
exactly, so no new command is skipped silently.

The benchmark scripts whose numbers the docs publish (``benchmarks/fit.py`` in
docs/training.md, ``benchmarks/external.py``, ``benchmarks/charlm.py`` and
``benchmarks/ucr.py`` in docs/results.md) take minutes, so the
docs mark those blocks not to run; here every such command line found in the docs and the
README runs as written plus a tiny budget (``BENCH_BUDGETS``: later flags win), so its
flags cannot drift from the script either.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
NOT_RUN = {
    "python -m pip install torch==2.13.0 -e '.[all]' -e plugins/seqlab-janet": "downloads",
    "python -m pytest": "the test suite itself",
}
FENCE = re.compile(r"^```(\w*)\s*$")
BENCH_BUDGETS = {
    "fit.py": ["--steps", "6", "--warmup", "2", "--repeats", "1", "--n-train", "256"],
    "external.py": ["--budget", "0.3"],
    "charlm.py": ["--seconds", "2", "--set", "trainer.limit_val_batches=2"],
    "ucr.py": [
        "--datasets",
        "ItalyPowerDemand",
        "--max-steps",
        "3",
        "--skip-dtw",
        "--limit-test-batches",
        "2",
    ],
}
# What each benchmark prints when it ran through (its table's first row or header).
BENCH_HEADLINES = {
    "fit.py": "whole runs",
    "external.py": "| nanogpt |",
    "charlm.py": "| seqlab preset",  # "(1)", "(2)"... with --repeats
    "ucr.py": "| ItalyPowerDemand |",
}
BENCH_LINE = re.compile(
    r"python (?P<script>benchmarks/(?:fit|external|charlm|ucr)\.py)(?P<args>(?: +[^\s#`]+)*)"
)
EVAL_BUDGET = [
    "--set", "task.batch_size=4",
    "--set", "trainer.limit_val_batches=2",
    "--set", "trainer.limit_test_batches=2",
    "--set", "trainer.num_sanity_val_steps=0",
]  # fmt: skip
FIT_BUDGET = [
    "--set", "trainer.max_epochs=1",
    "--set", "trainer.limit_train_batches=3",
    "--set", "trainer.val_check_interval=null",
    "--set", "trainer.check_val_every_n_epoch=1",
    *EVAL_BUDGET,
]  # fmt: skip


def readme_blocks() -> list[tuple[int, str, str]]:
    """``(line, language, text)`` of every fenced block of the README."""
    blocks, lines, i = [], README.read_text().split("\n"), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        blocks.append((i + 1, m[1], "\n".join(lines[i + 1 : end])))
        i = end + 1
    return blocks


def command_lines(text: str) -> list[str]:
    """A shell block's commands (``shlex.join``-ed: continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    words = [shlex.split(ln, comments=True) for ln in joined.split("\n")]
    return [shlex.join(w) for w in words if w]


def _replace(args: list[str], flag: str, value: str) -> list[str]:
    return [value if i and args[i - 1] == flag else a for i, a in enumerate(args)]


def budgeted(argv: list[str]) -> list[str]:
    """A README command line with the tiny budget of the module docstring added."""
    command, args = argv[0], argv[1:]
    if command == "fit":
        return [command, *args, *FIT_BUDGET]
    if command == "compare":
        args = _replace(_replace(args, "--max-steps", "3"), "--seeds", "1")
        return [command, *args, "--workers", "0", *EVAL_BUDGET]
    if command == "bench":
        return [command, *args, "--rounds", "1", "--seq-len", "5", "--batch-size", "4"]
    if command == "generate":
        return [command, *_replace(args, "--length", "50")]
    return argv


def newest_run(workdir: Path) -> str:
    runs = sorted(
        (p for p in (workdir / "runs").glob("*/") if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    assert runs, "a `<run>` placeholder before any run was made"
    return str(runs[-1].relative_to(workdir))


def run_seqlab(argv: list[str]) -> tuple[int, str]:
    import torch

    from seqlab.cli import main

    threads, out = torch.get_num_threads(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(argv)
    finally:
        torch.set_num_threads(threads)  # --threads and the like must not leak into other tests
    return int(code or 0), out.getvalue()


def test_every_readme_block_is_run_or_named_as_set_up() -> None:
    """Quick: the README's blocks are bash or python, and only NOT_RUN lines are not seqlab."""
    blocks = readme_blocks()
    assert {lang for _, lang, _ in blocks} == {"bash", "python"}, blocks
    others = {
        line
        for _, lang, text in blocks
        if lang == "bash"
        for line in command_lines(text)
        if not line.startswith("seqlab ")
    }
    assert others == set(NOT_RUN), "README lines neither run here nor listed in NOT_RUN"


@pytest.mark.slow
def test_readme_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "repo"
    workdir.mkdir()
    (workdir / "configs").symlink_to(REPO / "configs", target_is_directory=True)
    (tmp_path / "shared").symlink_to(REPO.parent / "shared", target_is_directory=True)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    ran = []
    for line, lang, text in readme_blocks():
        if lang == "python":
            exec(compile(text, f"README.md:{line}", "exec"), {"__name__": "__readme__"})
            ran.append(f"python block at line {line}")
            continue
        for command in command_lines(text):
            if command in NOT_RUN:
                continue
            if "<run>" in command:
                command = command.replace("runs/<run>", newest_run(workdir))
            argv = budgeted(shlex.split(command)[1:])
            code, output = run_seqlab(argv)
            assert code == 0, f"README.md:{line}: `{command}` exited {code}\n{output[-4000:]}"
            ran.append(command)
    assert len(ran) >= 12, ran


def bench_commands() -> list[tuple[str, list[str]]]:
    """``(script, args)`` of every ``python benchmarks/{fit,external,charlm,ucr}.py`` line in
    the docs."""
    pages = [README, *sorted((REPO / "docs").rglob("*.md"))]
    found = {
        (m["script"], tuple(shlex.split(m["args"])))
        for page in pages
        for line in re.sub(r"\\\n\s*", " ", page.read_text()).split("\n")
        for m in BENCH_LINE.finditer(line.lstrip("$ "))
    }
    return sorted((script, list(args)) for script, args in found)


def test_the_docs_publish_every_budgeted_benchmark() -> None:
    assert {script for script, _ in bench_commands()} == {
        "benchmarks/fit.py",
        "benchmarks/external.py",
        "benchmarks/charlm.py",
        "benchmarks/ucr.py",
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args"), bench_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_documented_benchmark_commands_run(script: str, args: list[str]) -> None:
    budget = BENCH_BUDGETS[Path(script).name]
    if "--seqlab" in args:  # the run directories of the page's seqlab commands: not made here
        at = args.index("--seqlab")
        rest = next((i for i in range(at + 1, len(args)) if args[i].startswith("--")), len(args))
        args = args[:at] + args[rest:]
    proc = subprocess.run(
        [sys.executable, str(REPO / script), *args, *budget],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert BENCH_HEADLINES[Path(script).name] in proc.stdout, proc.stdout

"""The documentation site: it builds, and every code block on it runs.

The rules a page follows (docs/docs-testing.md explains them to writers):

- Every fenced block names its language. ``bash``, ``console`` and ``python`` blocks are
  run; ``text``, ``yaml``, ``toml``, ``csv``... are file contents or output and are not.
- ``<!-- file: PATH -->`` on the line before a block writes the block to PATH in the
  page's working directory (a config or a data file that later commands use); it is not
  run.
- ``<!-- output -->`` before a ``text`` block: it must be exactly what the Python block
  before it printed (for output that does not depend on the machine).
- ``<!-- no-run: REASON -->`` on the line before a runnable block skips it (``pip
  install``, several GPUs or machines, W&B online). The reason is required and the site
  may have at most ``MAX_NO_RUN`` of them.
- The blocks of a page run in order, in one fresh working directory holding links to the
  repository's ``configs/``, ``plugins/`` and ``benchmarks/`` and, next to it, to
  ``../shared`` (pages are written for the repository root). The Python blocks of a page
  share one namespace.
- A ``console`` block is a transcript: ``$ `` lines (with ``\\`` continuations) are
  commands, the other lines their output, shown and not compared — except an output that
  starts with ``error:``: that command must exit with 2 and print that error (``...``
  stands for any text).
- A run directory written with a timestamp (``runs/adding-gru-20250101-120000``) or
  ``-...`` stands for the newest run directory of that name made earlier on the page.
- ``seqlab`` commands run in this process (``seqlab.cli.main``) with **tiny budgets**
  (``FIT_BUDGET`` and ``budgeted`` below; docs/docs-testing.md has the table): ``fit``
  trains one epoch of 3 batches of 4 that ends with a validation, and evaluates 2
  batches; ``compare`` runs 1 seed for ``--max-steps 3`` or ``--time-budget 1`` in this
  process (``--workers 0``); ``sweep`` 1 run with the ``fit`` budget; ``tune`` 1 trial
  per cell with the ``fit`` budget; ``bench`` 1 round at B=4, T=5; ``validate``/``test``
  2 batches; ``generate`` at most 50 tokens. The command as written is always passed whole, so a flag or config key that no longer
  exists fails the test. Other shell lines run in ``bash`` with a ``seqlab`` on PATH
  that applies the same budgets. All of it with one torch thread (OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
MAX_NO_RUN = 14
RUN_LANGS = {"bash", "console", "python"}
INERT_LANGS = {"text", "yaml", "toml", "csv", "tsv", "json", "jsonl", "ini", "diff", "markdown"}
LINKED_DIRS = ("configs", "plugins", "benchmarks")

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
MARKER = re.compile(r"^\s*<!--\s*(?P<kind>no-run|file|output)\s*:?\s*(?P<arg>.*?)\s*-->\s*$")
SNIPPET = re.compile(r'^(?P<indent>[ \t]*)--8<--\s+"(?P<path>[^"]+)"\s*$')
RUN_DIR = re.compile(
    r"(?P<base>(?:[\w.~-]+/)*runs/[A-Za-z0-9._]+(?:-[A-Za-z0-9._]+)*?)-(?:\d{8}-\d{6}|\.\.\.)"
)


# -- reading pages -------------------------------------------------------------------------


@dataclass
class Block:
    page: str
    line: int
    lang: str
    text: str
    no_run: str | None = None
    file: str | None = None
    output: bool = False

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def site_pages() -> list[Path]:
    """Every markdown page of the site (docs/hooks/ holds build code, not pages)."""
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)


def expand_snippets(text: str) -> str:
    """pymdownx.snippets' ``--8<-- "path"`` lines, replaced by the file (from the repo root)."""

    def one(match: re.Match[str]) -> str:
        path, _, lines = match["path"].partition(":")
        content = (REPO / path).read_text().splitlines()
        if lines:
            start, _, end = lines.partition(":")
            content = content[int(start or 1) - 1 : int(end) if end else None]
        return "\n".join(match["indent"] + line if line else line for line in content)

    return "\n".join(one(m) if (m := SNIPPET.match(line)) else line for line in text.split("\n"))


def page_blocks(path: Path) -> list[Block]:
    lines = expand_snippets(path.read_text()).split("\n")
    page = path.relative_to(DOCS).as_posix()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        lang = m["info"].strip().split()[0].lower() if m["info"].strip() else ""
        j = i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence) and lines[j].strip().strip(fence[0]) == ""
        ):
            j += 1
        body = [
            ln[len(indent) :] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1 : j]
        ]
        block = Block(page, i + 1, lang, "\n".join(body) + "\n")
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        if k >= 0 and (mk := MARKER.match(lines[k])):
            if mk["kind"] == "no-run":
                block.no_run = mk["arg"]
            elif mk["kind"] == "output":
                block.output = True
            else:
                block.file = mk["arg"]
        blocks.append(block)
        i = j + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for p in site_pages() for b in page_blocks(p)]


# -- budgets -------------------------------------------------------------------------------

EVAL_LIMITS = [
    "--set", "task.batch_size=4",
    "--set", "trainer.limit_val_batches=2",
    "--set", "trainer.limit_test_batches=2",
    "--set", "trainer.num_sanity_val_steps=0",
]  # fmt: skip
FIT_BUDGET = [
    "--set", "trainer.max_epochs=1",
    "--set", "trainer.limit_train_batches=3",
    # one epoch of 3 batches that ends with a validation (best.ckpt, samples, val metrics)
    "--set", "trainer.val_check_interval=null",
    "--set", "trainer.check_val_every_n_epoch=1",
    *EVAL_LIMITS,
]  # fmt: skip
SWEEP_BUDGET = {
    "trainer.max_epochs": 1,
    "trainer.val_check_interval": None,
    "trainer.check_val_every_n_epoch": 1,
    "trainer.limit_train_batches": 3,
    "trainer.limit_val_batches": 2,
    "trainer.limit_test_batches": 2,
    "trainer.num_sanity_val_steps": 0,
    "task.batch_size": 4,
}


def _replace_value(args: list[str], flag: str, value: str) -> tuple[list[str], bool]:
    out, found = [], False
    i = 0
    while i < len(args):
        if args[i] == flag and i + 1 < len(args):
            out += [flag, value]
            found = True
            i += 2
        elif args[i].startswith(flag + "="):
            out.append(f"{flag}={value}")
            found = True
            i += 1
        else:
            out.append(args[i])
            i += 1
    return out, found


def _option_value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def budgeted(argv: list[str], workdir: Path) -> list[str]:
    """A seqlab command line with the tiny budget of the module docstring applied."""
    if not argv:
        return argv
    command, args = argv[0], list(argv[1:])
    if "--help" in args or "-h" in args:
        return argv
    if command == "fit":
        return [command, *args, *FIT_BUDGET]
    if command == "compare":
        args, _ = _replace_value(args, "--max-steps", "3")
        args, _ = _replace_value(args, "--time-budget", "1")
        args, _ = _replace_value(args, "--seeds", "1")
        seed_list = _option_value(args, "--seed-list")
        if seed_list is not None:
            args, _ = _replace_value(args, "--seed-list", seed_list.split(",")[0])
        return [command, *args, "--workers", "0", *EVAL_LIMITS]
    if command == "sweep":
        args, found = _replace_value(args, "--count", "1")
        args, _ = _replace_value(args, "--workers", "1")
        if not found:
            args += ["--count", "1"]
        return [command, *(_budgeted_sweep_file(a, workdir) for a in args)]
    if command == "tune":
        # shrink a budget, never repair one: an example of a bad value must stay bad
        trials, seconds = _option_value(args, "--trials"), _option_value(args, "--time-budget")
        if trials is None:
            args += ["--trials", "1"]
        elif _number(trials) > 1:
            args, _ = _replace_value(args, "--trials", "1")
        if seconds is not None and _number(seconds) > 30:
            args, _ = _replace_value(args, "--time-budget", "30")
        return [command, *args, *FIT_BUDGET]
    if command == "bench":
        return [command, *args, "--rounds", "1", "--seq-len", "5", "--batch-size", "4"]
    if command in ("validate", "test"):
        return [command, *args, "--limit-batches", "2"]
    if command == "generate":
        length = _option_value(args, "--length")
        if length is not None and int(length) > 50:
            args, _ = _replace_value(args, "--length", "50")
        return [command, *args]
    return argv


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")  # not a number: left as written, for the command to refuse


def _budgeted_sweep_file(arg: str, workdir: Path) -> str:
    """A copy of a sweep file whose runs get the fit budget (as extra fixed parameters)."""
    import yaml

    path = workdir / arg
    if not arg.endswith((".yaml", ".yml")) or not path.is_file():
        return arg
    spec = yaml.safe_load(path.read_text())
    spec.setdefault("parameters", {}).update({k: {"value": v} for k, v in SWEEP_BUDGET.items()})
    copy = path.with_name(f"{path.stem}.budget{path.suffix}")
    copy.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(copy.relative_to(workdir)) if not Path(arg).is_absolute() else str(copy)


# -- running -------------------------------------------------------------------------------


def resolve_run_dirs(text: str, workdir: Path) -> str:
    """``runs/NAME-20250101-120000`` or ``runs/NAME-...`` → the newest such run made here."""

    def newest(match: re.Match[str]) -> str:
        base = match["base"]
        found = sorted(
            (p for p in (workdir / base).parent.glob(Path(base).name + "-*") if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
        )
        return str(found[-1].relative_to(workdir)) if found else match[0]

    return RUN_DIR.sub(newest, text)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def error_matches(expected: str, actual: str) -> bool:
    """The documented error (``...`` for any text) starts the printed one."""
    parts = [re.escape(p) for p in _normalise(expected).split("...")]
    pattern = r"\s*".join(r".*?".join(parts).split(r"\ "))
    return re.match(pattern, _normalise(actual), re.DOTALL) is not None


@dataclass
class Outcome:
    code: int
    output: str
    seconds: float


@dataclass
class PageRun:
    page: str
    workdir: Path
    env: dict[str, str]
    namespace: dict[str, object] = field(default_factory=lambda: {"__name__": "__docs__"})
    log: list[str] = field(default_factory=list)
    last_python_output: str | None = None

    def fail(self, block: Block, what: str, outcome: Outcome | None = None) -> None:
        detail = f"\n--- output ---\n{outcome.output[-6000:]}" if outcome else ""
        raise AssertionError(f"{block.where}: {what}{detail}")

    # one shell line: seqlab in this process, anything else in bash
    def shell(self, line: str) -> Outcome:
        line = resolve_run_dirs(line, self.workdir)
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = []
        env_prefix: dict[str, str] = {}
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            key, value = words.pop(0).split("=", 1)
            env_prefix[key] = value
        if words[:1] == ["seqlab"]:
            return self.seqlab(words[1:], env_prefix)
        if words[:3] in (["python", "-m", "seqlab"], ["python3", "-m", "seqlab"]):
            return self.seqlab(words[3:], env_prefix)
        return self.bash(line)

    def seqlab(self, argv: list[str], env_prefix: dict[str, str]) -> Outcome:
        import torch

        from seqlab.cli import main

        argv = budgeted(argv, self.workdir)
        buffer = io.StringIO()
        threads = torch.get_num_threads()
        saved_env = {k: os.environ.get(k) for k in env_prefix}
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        os.environ.update(env_prefix)
        _refresh_registries()
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                try:
                    code = main(argv)
                except SystemExit as exc:  # pragma: no cover - main returns its code
                    code = exc.code if isinstance(exc.code, int) else 1
        finally:
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _refresh_registries()
            torch.set_num_threads(threads)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_start
        self.log.append(f"{seconds:6.1f}s ({cpu:5.1f}s CPU) seqlab {shlex.join(argv)}")
        return Outcome(int(code or 0), buffer.getvalue(), seconds)

    def bash(self, script: str) -> Outcome:
        script = resolve_run_dirs(script, self.workdir)
        start = time.perf_counter()
        cpu_start = sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        seconds = time.perf_counter() - start
        cpu = sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]) - cpu_start
        self.log.append(
            f"{seconds:6.1f}s ({cpu:5.1f}s CPU) bash: "
            + script.strip().replace("\n", "\n" + " " * 14)
        )
        return Outcome(proc.returncode, proc.stdout + proc.stderr, seconds)

    def run_shell_block(self, block: Block) -> None:
        pending: list[str] = []

        def flush() -> None:
            if pending:
                outcome = self.bash("\n".join(pending))
                pending.clear()
                if outcome.code != 0:
                    self.fail(block, f"exit code {outcome.code}", outcome)

        for line in logical_lines(block.text):
            stripped = line.strip()
            if not stripped or stripped.startswith("#!") or stripped.startswith("#"):
                continue
            if _is_seqlab(stripped):
                flush()
                outcome = self.shell(stripped)
                if outcome.code != 0:
                    self.fail(block, f"`{stripped}` exited with {outcome.code}", outcome)
            else:
                pending.append(line)
        flush()

    def run_console_block(self, block: Block) -> None:
        commands = transcript(block.text)
        if not commands:
            self.fail(block, "a console block needs at least one `$ ` command line")
        for command, shown in commands:
            outcome = self.shell(command)
            first = next((ln.strip() for ln in shown if ln.strip()), "")
            if first.startswith("error:"):
                if outcome.code != 2:
                    self.fail(block, f"`{command}` should fail with exit code 2", outcome)
                if not error_matches("\n".join(shown), outcome.output.strip()):
                    self.fail(
                        block,
                        f"`{command}` printed another error than the page shows:\n"
                        + "\n".join(shown),
                        outcome,
                    )
            elif outcome.code != 0:
                self.fail(block, f"`{command}` exited with {outcome.code}", outcome)

    def run_python_block(self, block: Block) -> None:
        source = resolve_run_dirs(block.text, self.workdir)
        buffer = io.StringIO()
        code = compile(source, block.where, "exec")
        import torch

        start = time.perf_counter()
        threads = torch.get_num_threads()
        self.last_python_output = None
        try:
            with contextlib.redirect_stdout(buffer):
                exec(code, self.namespace)
            self.last_python_output = buffer.getvalue()
        except Exception as exc:
            raise AssertionError(
                f"{block.where}: {type(exc).__name__}: {exc}\n--- output ---\n{buffer.getvalue()}"
            ) from exc
        finally:
            torch.set_num_threads(threads)
            self.log.append(f"{time.perf_counter() - start:6.1f}s python: {block.where}")

    def check_output(self, block: Block) -> None:
        if self.last_python_output is None:
            self.fail(block, "<!-- output --> must follow a python block that ran")
        shown = [ln.rstrip() for ln in block.text.strip().split("\n")]
        printed = [ln.rstrip() for ln in (self.last_python_output or "").strip().split("\n")]
        if shown != printed:
            self.fail(
                block,
                "the python block above printed something else than this block shows:\n"
                + "\n".join(printed),
            )

    def run(self, block: Block) -> None:
        if block.output:
            self.check_output(block)
            return
        if block.file:
            target = self.workdir / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
            return
        if block.no_run is not None or block.lang not in RUN_LANGS:
            return
        if block.lang == "python":
            self.run_python_block(block)
        elif block.lang == "console":
            self.run_console_block(block)
        else:
            self.run_shell_block(block)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (sweep and compare workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _refresh_registries() -> None:
    from seqlab.cells import REGISTRY as cells
    from seqlab.tasks import REGISTRY as tasks

    cells.refresh()
    tasks.refresh()


def _is_seqlab(line: str) -> bool:
    line = re.sub(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)+", "", line)
    return line.startswith("seqlab ") or line == "seqlab" or line.startswith("python -m seqlab ")


def logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined."""
    out: list[str] = []
    current = ""
    for line in text.split("\n"):
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        out.append(current + line)
        current = ""
    if current:
        out.append(current)
    return out


def transcript(text: str) -> list[tuple[str, list[str]]]:
    """``[(command, output lines), ...]`` of a console block."""
    commands: list[tuple[str, list[str]]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            commands.append((command.strip(), []))
        elif commands:
            commands[-1][1].append(line)
        i += 1
    return commands


def prepare_workdir(workdir: Path) -> dict[str, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in LINKED_DIRS:
        (workdir / name).symlink_to(REPO / name, target_is_directory=True)
    shared = REPO.parent / "shared"  # data next to the checkout (../shared/data/...)
    if shared.is_dir() and not (workdir.parent / "shared").exists():
        (workdir.parent / "shared").symlink_to(shared, target_is_directory=True)
    bin_dir = workdir / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "seqlab"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        WANDB_MODE="offline",
        OMP_NUM_THREADS="1",
        WANDB_SILENT="true",
        COLUMNS="120",
        SEQLAB_DOCS_WORKDIR=str(workdir),
    )
    return env


# -- the tests -----------------------------------------------------------------------------

import pytest  # noqa: E402


def test_every_block_says_what_it_is() -> None:
    """No untagged fences; every runnable block is run, or skipped with a reason."""
    problems = []
    for block in all_blocks():
        if not block.lang:
            problems.append(f"{block.where}: untagged fence (use bash, console, python, text...)")
        elif block.lang not in RUN_LANGS | INERT_LANGS:
            problems.append(f"{block.where}: unknown block language {block.lang!r}")
        if block.no_run is not None and not block.no_run.strip():
            problems.append(f"{block.where}: <!-- no-run --> needs a reason")
        if block.no_run is not None and block.lang not in RUN_LANGS:
            problems.append(
                f"{block.where}: no-run marker on a {block.lang!r} block, which never runs"
            )
        if block.output and block.lang != "text":
            problems.append(f"{block.where}: <!-- output --> goes before a text block")
        if block.lang == "console" and block.no_run is None and not transcript(block.text):
            problems.append(f"{block.where}: console block without a `$ ` command")
    assert not problems, "\n".join(problems)


def test_few_blocks_are_skipped() -> None:
    skipped = [f"{b.where}: {b.no_run}" for b in all_blocks() if b.no_run is not None]
    assert len(skipped) <= MAX_NO_RUN, (
        f"{len(skipped)} blocks are marked no-run (at most {MAX_NO_RUN}); make some runnable:\n"
        + "\n".join(skipped)
    )


def test_cli_reference_covers_every_command_and_option() -> None:
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        import cli_reference
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    import typer.main

    text, missing = cli_reference.render_cli_reference()
    assert not missing, f"commands without help text: {missing}"
    command = typer.main.get_command(cli_reference.load_app())

    def walk(cmd, path):
        yield cmd, path
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            yield from walk(sub, [*path, name])

    for cmd, path in walk(command, ["seqlab"]):
        assert f"`{' '.join(path)}`" in text, f"{' '.join(path)} missing from the CLI reference"
        for param in cmd.params:
            for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                if opt.startswith("-"):
                    assert opt in text, f"{' '.join(path)} {opt} missing from the CLI reference"


@pytest.mark.slow
def test_site_builds_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict``: broken links, missing references or snippets fail."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    pytest.importorskip("mkdocstrings")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", DISABLE_MKDOCS_2_WARNING="true")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()


def runnable_pages() -> list[str]:
    return [
        path.relative_to(DOCS).as_posix()
        for path in site_pages()
        if any(b.file or (b.lang in RUN_LANGS and b.no_run is None) for b in page_blocks(path))
    ]


@pytest.mark.slow
@pytest.mark.parametrize("page", runnable_pages())
def test_page_blocks_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    blocks = page_blocks(DOCS / page)
    workdir = tmp_path / "work"
    env = prepare_workdir(workdir)
    monkeypatch.chdir(workdir)
    run = PageRun(page, workdir, env)
    with isolated_process_state():
        for key in ("WANDB_MODE", "WANDB_SILENT", "COLUMNS", "PATH", "OMP_NUM_THREADS"):
            os.environ[key] = env[key]
        torch.set_num_threads(1)  # tiny runs: a second thread only spins (restored after)
        try:
            for block in blocks:
                run.run(block)
        finally:
            print("\n".join(run.log))  # what ran, shown with -rP or on a failure


@contextlib.contextmanager
def isolated_process_state():
    """Undo what in-process runs change for the rest of the test session: the whole
    environment (Lightning sets PL_GLOBAL_SEED...), signal handlers, warning format,
    torch's thread count."""
    import signal
    import warnings

    import torch

    environ = dict(os.environ)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    formatwarning = warnings.formatwarning
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        warnings.formatwarning = formatwarning
        torch.set_num_threads(threads)
        _refresh_registries()


# -- the shim: `seqlab` inside bash blocks -------------------------------------------------

if __name__ == "__main__":
    from seqlab.cli import main

    workdir = Path(os.environ.get("SEQLAB_DOCS_WORKDIR", "."))
    sys.exit(main(budgeted(sys.argv[1:], workdir)))

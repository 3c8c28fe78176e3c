"""Tracking: the W&B mode, secret scrubbing, loggers, samples — and an offline W&B run read back.

No test can prompt or reach the network: W&B runs offline, HOME/netrc/settings point into
tmp, and WANDB_BASE_URL names a closed local port.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn

from seqlab.diagnostics.grad_flow import GradientFlow
from seqlab.errors import ConfigError
from seqlab.recurrent import Recurrent
from seqlab.tasks.base import Baseline, TaskInfo
from seqlab.tracking.loggers import (
    RunCSVLogger,
    build_loggers,
    describe_run,
    finish_loggers,
    sync_hint,
    wandb_run_id,
)
from seqlab.tracking.read_offline import read_run
from seqlab.tracking.samples import TextSamples, read_samples
from seqlab.tracking.secrets import MASK, scrub, scrub_argv
from seqlab.tracking.wandb_mode import credentials_source, resolve_wandb_mode

REPO = Path(__file__).resolve().parents[1]
FAKE_WANDB_KEY = "0123456789abcdef0123456789abcdef01234567"
FAKE_SERVICE_TOKEN = "svc-token-7f3a9c1e5b2d"
VOCAB = "abcd \n"


def _isolate(mp: pytest.MonkeyPatch, root: Path) -> None:
    """W&B offline, every file W&B or netrc could read or write under ``root``."""
    for var in [k for k in os.environ if k.startswith("WANDB_")] + ["NETRC"]:
        mp.delenv(var, raising=False)
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    mp.setenv("HOME", str(home))
    mp.setenv("WANDB_CONFIG_DIR", str(root / "wandb-config"))
    mp.setenv("WANDB_DATA_DIR", str(root / "wandb-data"))
    mp.setenv("WANDB_CACHE_DIR", str(root / "wandb-cache"))
    mp.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # any slip reaches a closed local port
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _isolate(monkeypatch, tmp_path)
    monkeypatch.delenv("WANDB_MODE")
    return tmp_path


# -- the W&B mode -------------------------------------------------------------------------------
def _no_probe(url: str, timeout: float) -> bool:
    raise AssertionError("the network probe must not run here")


def test_no_credentials_means_offline_with_a_reason(isolated: Path) -> None:
    assert credentials_source() is None
    mode, reason = resolve_wandb_mode(None, probe=_no_probe)
    assert mode == "offline"
    assert "no W&B credentials" in reason and "wandb login" in reason
    mode, reason = resolve_wandb_mode("online", probe=_no_probe)
    assert mode == "offline" and "--wandb-mode online" in reason


def test_api_key_means_online_when_the_server_answers(isolated: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", FAKE_WANDB_KEY)
    asked = []
    mode, reason = resolve_wandb_mode(None, probe=lambda url, t: asked.append(url) or True)
    assert (mode, asked) == ("online", ["http://127.0.0.1:9"])
    assert "WANDB_API_KEY" in reason and FAKE_WANDB_KEY not in reason
    mode, reason = resolve_wandb_mode(None, probe=lambda url, t: False)
    assert mode == "offline" and "cannot be reached" in reason


def test_reachability_probe_uses_only_the_given_host() -> None:
    import socket

    from seqlab.tracking.wandb_mode import server_reachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert server_reachable(f"http://127.0.0.1:{port}", 1.0)
    assert not server_reachable(f"http://127.0.0.1:{port}", 1.0)  # closed now: refused at once
    assert not server_reachable("not a url", 1.0)


def test_netrc_and_settings_file_count_as_credentials(isolated: Path, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_BASE_URL")
    netrc = isolated / "home" / ".netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + FAKE_WANDB_KEY + "\n")
    netrc.chmod(0o600)
    assert credentials_source() == str(netrc)
    assert resolve_wandb_mode(None, probe=lambda u, t: True)[0] == "online"
    # a netrc entry for another server does not count for a custom WANDB_BASE_URL
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")
    assert credentials_source() is None
    settings = isolated / "wandb-config" / "settings"
    settings.parent.mkdir(parents=True)
    settings.write_text("[default]\napi_key = " + FAKE_WANDB_KEY + "\n")
    assert credentials_source() == str(settings)


def test_environment_and_flag_precedence(isolated: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", FAKE_WANDB_KEY)
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert resolve_wandb_mode(None, probe=_no_probe)[0] == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode(None, probe=_no_probe)[0] == "disabled"
    assert resolve_wandb_mode("online", probe=lambda u, t: True)[0] == "online"  # the flag wins
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_DISABLED", "true")
    assert resolve_wandb_mode(None, probe=_no_probe)[0] == "disabled"
    assert resolve_wandb_mode("offline", probe=_no_probe)[0] == "offline"


def test_bad_modes_are_config_errors(isolated: Path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'offline'"):
        resolve_wandb_mode("ofline", probe=_no_probe)
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    with pytest.raises(ConfigError, match="WANDB_MODE"):
        resolve_wandb_mode(None, probe=_no_probe)


# -- secrets ------------------------------------------------------------------------------------
def test_scrub_masks_secret_keys_env_values_and_known_tokens(monkeypatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", FAKE_SERVICE_TOKEN)
    monkeypatch.setenv("WANDB_API_KEY", FAKE_WANDB_KEY)
    monkeypatch.setenv("SOME_TOKEN_FILE", "/etc/hostname")  # a path, not a secret
    config = {
        "model": {"cell": "lstm", "hidden_size": 64, "tie_weights": True},
        "task": {"options": {"tokens": "char", "path": "/etc/hostname", "hf_token": "x" * 8}},
        "wandb": {"api_key": FAKE_WANDB_KEY, "apiKey": "abc123456", "password": None},
        "notes": [f"endpoint https://h/?t={FAKE_SERVICE_TOKEN}", "ghp_" + "a" * 36],
        "db": {"credentials": {"user": "u", "pass": "p"}},
    }
    clean = scrub(config)
    assert clean["model"] == config["model"]
    assert clean["task"]["options"] == {"tokens": "char", "path": "/etc/hostname", "hf_token": MASK}
    assert clean["wandb"] == {"api_key": MASK, "apiKey": MASK, "password": None}
    assert clean["notes"] == [f"endpoint https://h/?t={MASK}", MASK]
    assert clean["db"] == {"credentials": {"user": MASK, "pass": MASK}}
    assert config["wandb"]["api_key"] == FAKE_WANDB_KEY  # the input is not modified
    argv = [
        "fit",
        "--set",
        "wandb.api_key=k3y-value",
        "--hf-token",
        "abcdefgh",
        f"--note={FAKE_SERVICE_TOKEN}",
    ]
    assert scrub_argv(argv) == [
        "fit",
        "--set",
        f"wandb.api_key={MASK}",
        "--hf-token",
        MASK,
        f"--note={MASK}",
    ]


# -- loggers ------------------------------------------------------------------------------------
def test_logger_choices(isolated: Path, monkeypatch) -> None:
    for choice in ("csv", "none"):
        loggers = build_loggers(choice, isolated / choice)
        assert [type(lg) for lg in loggers] == [RunCSVLogger]
        assert Path(loggers[0].log_dir) == isolated / choice
    tb = build_loggers("tensorboard", isolated / "tb")
    assert (
        isinstance(tb[1], TensorBoardLogger)
        and Path(tb[1].log_dir) == isolated / "tb" / "tensorboard"
    )
    monkeypatch.setenv("WANDB_MODE", "disabled")
    said = []
    assert [type(lg) for lg in build_loggers("wandb", isolated / "w", notify=said.append)] == [
        RunCSVLogger
    ]
    assert "disabled" in said[0]
    with pytest.raises(ConfigError, match="Did you mean 'wandb'"):
        build_loggers("wandbb", isolated / "x")


def test_csv_logger_continues_an_existing_metrics_file(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("epoch,step,train_loss\n0,0,1.5\n")
    (tmp_path / "config.yaml").write_text("model: {}\n")  # a run dir is never empty
    logger = RunCSVLogger(tmp_path)
    logger.log_metrics({"val_loss": 0.5}, step=10)
    logger.save()
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["0", "10"]
    assert rows[0]["train_loss"] == "1.5" and rows[1]["val_loss"] == "0.5"


def test_run_id_and_sync_hint_from_directory_names(tmp_path: Path) -> None:
    assert sync_hint(tmp_path) is None and wandb_run_id(tmp_path) is None
    for name in (
        "offline-run-20260101_120000-aaaa1111",
        "offline-run-20260102_090000-bbbb2222",
        "run-20251231_000000-cccc3333",
    ):
        (tmp_path / "wandb" / name).mkdir(parents=True)
    assert wandb_run_id(tmp_path) == "bbbb2222"
    hint = sync_hint(tmp_path)
    assert hint is not None and hint.startswith("wandb sync ")
    assert "aaaa1111" in hint and "bbbb2222" in hint and "cccc3333" not in hint


# -- a whole offline run, read back -------------------------------------------------------------
class TinyCharLM(L.LightningModule):
    """Character LM with TBPTT (manual optimisation) and ``generate``, like seqlab's."""

    def __init__(self, api_token: str = "hp-secret-value-123") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.info = TaskInfo(
            "language_model",
            "tokens",
            len(VOCAB),
            len(VOCAB),
            "ce",
            "min",
            vocab_size=len(VOCAB),
            itos=tuple(VOCAB),
            baselines=(Baseline("ce", 1.79, "unigram frequencies"),),
        )
        self.embedding = nn.Embedding(len(VOCAB), 8)
        self.recurrent = Recurrent("lstm", 8, 16)
        self.decoder = nn.Linear(16, len(VOCAB))

    def forward(self, x, state=None):
        out, state = self.recurrent(self.embedding(x), state=state)
        return self.decoder(out), state

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch
        state = None
        for start in (0, 4):
            logits, state = self(x[:, start : start + 4], state)
            loss = F.cross_entropy(
                logits.reshape(-1, len(VOCAB)), y[:, start : start + 4].reshape(-1)
            )
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
            state = Recurrent.detach_state(state)
        self.log("train_loss", loss)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits, _ = self(x)
        self.log("val_loss", F.cross_entropy(logits.reshape(-1, len(VOCAB)), y.reshape(-1)))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)

    def generate(
        self, prompt: list[int], length: int, temperature: float = 1.0, top_k: int | None = None
    ) -> list[int]:
        """seqlab's LanguageModel.generate contract (without a generator argument)."""
        logits, state = self(torch.tensor([prompt]))
        out = []
        for _ in range(length):
            nxt = torch.multinomial(torch.softmax(logits[:, -1] / temperature, -1), 1)
            out.append(int(nxt))
            logits, state = self(nxt, state)
        return out


def _char_batches(n: int, seed: int) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, len(VOCAB), (n, 9), generator=g)
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(ids[:, :-1], ids[:, 1:]), batch_size=4
    )


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One offline W&B fit (8 batches, validation every 4) shared by the tests below."""
    root = tmp_path_factory.mktemp("wandb_run")
    mp = pytest.MonkeyPatch()
    _isolate(mp, root)
    mp.setenv("WANDB_API_KEY", FAKE_WANDB_KEY)  # a key in the environment must never be logged
    mp.setenv("MY_SERVICE_TOKEN", FAKE_SERVICE_TOKEN)
    mp.setattr(sys, "argv", ["seqlab", "fit", "--set", f"task.options.note={FAKE_SERVICE_TOKEN}"])
    run_dir = root / "runs" / "charlm-lstm"
    torch.manual_seed(0)
    model = TinyCharLM()
    config = {
        "model": {"cell": "lstm", "hidden_size": 16, "cell_options": {}},
        "optim": {"lr": 0.01},
        "task": {"name": "charlm", "options": {"note": f"token={FAKE_SERVICE_TOKEN}"}},
        "wandb": {"api_key": FAKE_WANDB_KEY},
    }
    said: list[str] = []
    loggers = build_loggers(
        "wandb",
        run_dir,
        project="seqlab-tests",
        group="g1",
        tags="a,b",
        name="charlm-lstm",
        log_model=True,
        config_dict=config,
        notify=said.append,
        run_metadata=describe_run(model, cell="lstm", task="charlm", task_info=model.info),
    )
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", monitor="val_loss", save_last=True, save_top_k=1
    )
    samples = TextSamples(run_dir, prompts=("ab", "c", "xyz"), temperatures=(0.5, 1.0), length=12)
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=1,
        logger=loggers,
        callbacks=[checkpoint, samples, GradientFlow(every_n_steps=2, run_dir=run_dir)],
        val_check_interval=4,
        limit_val_batches=2,
        log_every_n_steps=2,
        num_sanity_val_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, _char_batches(32, 0), _char_batches(8, 1))
    finish_loggers(loggers)
    yield {"run_dir": run_dir, "run": read_run(run_dir), "said": said, "loggers": loggers}
    mp.undo()


def test_offline_run_holds_the_nested_config_and_metadata(offline_run) -> None:
    run = offline_run["run"]
    assert offline_run["said"] == [
        "WANDB_MODE=offline: W&B runs offline; upload later with `wandb sync`"
    ]
    assert (run.project, run.name, run.group, run.tags) == (
        "seqlab-tests",
        "charlm-lstm",
        "g1",
        ["a", "b"],
    )
    assert run.config["model"] == {"cell": "lstm", "hidden_size": 16, "cell_options": {}}
    assert run.config["optim"] == {"lr": 0.01}
    assert run.config["wandb"] == {"api_key": MASK}
    assert run.config["task"]["options"]["note"] == f"token={MASK}"
    assert run.config["hparams"] == {"api_token": MASK}
    meta = run.config["meta"]
    n_params = sum(p.numel() for p in TinyCharLM().parameters())
    assert meta["parameters"] == {
        "total": n_params,
        "trainable": n_params,
        "recurrent": sum(p.numel() for p in Recurrent("lstm", 8, 16).parameters()),
    }
    assert meta["cell"] == {
        "name": "lstm",
        "source": "seqlab",
        "version": meta["seqlab_version"],
        "builtin": True,
    }
    assert meta["task"]["baseline"] == {
        "metric": "ce",
        "value": 1.79,
        "description": "unigram frequencies",
        "split": "val",
    }
    assert len(meta["seqlab_git"]["commit"]) == 40
    assert run.exit_code == 0


def test_history_uses_the_trainer_global_step_axis(offline_run) -> None:
    run, run_dir = offline_run["run"], offline_run["run_dir"]
    assert {
        "name": "",
        "glob_name": "*",
        "step_metric": "trainer/global_step",
    } in run.metric_definitions
    val = run.metric("val_loss")
    assert [step for step, _ in val] == [3, 7]  # after the 4th and the 8th batch
    with open(run_dir / "metrics.csv", newline="") as f:
        csv_val = [
            (int(r["step"]), float(r["val_loss"])) for r in csv.DictReader(f) if r["val_loss"]
        ]
    assert [(s, pytest.approx(v)) for s, v in csv_val] == val
    assert [s for s, _ in run.metric("train_loss")] == [1, 3, 5, 7]
    assert run.summary["val_loss"] == val[-1][1]


def test_samples_table_and_jsonl(offline_run) -> None:
    tables = offline_run["run"].tables("samples")
    assert [t["step"] for t in tables] == [3, 7]
    for table in tables:
        assert table["columns"] == ["prompt", "temperature", "text", "step"]
        assert [(r["prompt"], r["temperature"]) for r in table["rows"]] == [
            ("ab", 0.5),
            ("ab", 1.0),
            ("c", 0.5),
            ("c", 1.0),
        ]  # "xyz" is outside the vocabulary
        assert all(len(r["text"]) == 12 and set(r["text"]) <= set(VOCAB) for r in table["rows"])
    lines = read_samples(offline_run["run_dir"])
    assert [(r["step"], r["prompt"], r["text"]) for r in lines] == [
        (t["step"], r["prompt"], r["text"]) for t in tables for r in t["rows"]
    ]


def test_grad_flow_ratio_and_heatmap_in_the_run(offline_run) -> None:
    run, run_dir = offline_run["run"], offline_run["run_dir"]
    ratios = run.metric("grad_flow/ratio_l0")
    assert [s for s, _ in ratios] == [0, 2, 4, 6]
    assert all(r > 0 for _, r in ratios)
    images = run.metric("grad_flow/heatmap_l0")
    assert [s for s, _ in images] == [3, 7]  # drawn at each validation
    for _, value in images:
        assert value["_type"] == "images/separated"
    rows = [row for row in run.history if "grad_flow/heatmap_l0" in row]
    media = [p for p in run.files if p.startswith("media/images/grad_flow")]
    assert len(media) == len(rows) == 2
    assert (run.run_dir / "files" / media[-1]).read_bytes()[:4] == b"\x89PNG"
    assert (run_dir / "grad_flow" / "heatmap_l0.png").is_file()
    assert (run_dir / "grad_flow" / "grad_flow.npz").is_file()


def test_checkpoints_are_artifacts_with_best_and_last(offline_run) -> None:
    models = [a for a in offline_run["run"].artifacts if a["type"] == "model"]
    # W&B itself adds "latest" to every version it logs
    aliases = sorted(alias for a in models for alias in a["aliases"] if alias != "latest")
    assert aliases == ["best", "last"]
    by_alias = {alias: a for a in models for alias in a["aliases"]}
    assert by_alias["last"]["metadata"]["original_filename"] == "last.ckpt"
    assert by_alias["best"]["metadata"]["monitor"] == "val_loss"
    assert all(a["files"] == ["model.ckpt"] for a in models)


def test_no_secret_reaches_any_file_of_the_run(offline_run) -> None:
    files = [p for p in offline_run["run_dir"].rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in (FAKE_WANDB_KEY, FAKE_SERVICE_TOKEN, "hp-secret-value-123"):
            if path.suffix == ".ckpt" and secret == "hp-secret-value-123":
                continue  # Lightning checkpoints keep the module's own hyperparameters
            assert secret.encode() not in data, f"{secret} leaked into {path}"
    hparams = (offline_run["run_dir"] / "hparams.yaml").read_text()
    assert "api_token: '***'" in hparams


def test_sync_hint_names_the_offline_run(offline_run) -> None:
    run = offline_run["run"]
    assert sync_hint(offline_run["run_dir"]) == f"wandb sync {run.run_dir}"
    assert wandb_run_id(offline_run["run_dir"]) == run.run_id


def _flat(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``: wandb's JSON dump and seqlab's reader nest alike."""
    out: dict = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            out.update(_flat(value, name))
        else:
            out[name] = value
    return out


def _wandb_executable() -> Path:
    """wandb's own command: beside this interpreter, else on PATH (a virtual environment
    that inherits the system's packages has wandb's command outside its own bin)."""
    bin_dir = Path(sys.executable).parent
    found = [bin_dir / name for name in ("wandb", "wandb.exe") if (bin_dir / name).is_file()]
    on_path = shutil.which("wandb")
    found += [Path(on_path)] if on_path else []
    assert found, f"wandb's command is neither beside {sys.executable} nor on PATH"
    return found[0]


def test_reader_agrees_with_wandb_leet_inspect(offline_run) -> None:
    """seqlab's ``.wandb`` reader against wandb's own (``wandb leet inspect --json``)."""
    run = offline_run["run"]
    out = subprocess.run(
        [str(_wandb_executable()), "leet", "inspect", "--json", str(run.path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    config: dict = {}
    summary: dict = {}
    for record in records:
        body = record.get(record["type"], {})
        if record["type"] == "run":
            config.update(body.get("config", {}).get("update", {}))
        elif record["type"] in ("config", "summary"):
            target = config if record["type"] == "config" else summary
            target.update(body.get("update", {}))
            for key in body.get("remove", []) or []:
                target.pop(key, None)
    config.pop("_wandb", None)
    history = [_flat(r["history"]["item"]) for r in records if r["type"] == "history"]

    assert len(history) == len(run.history) > 4
    assert history == [_flat(row) for row in run.history]
    assert [h["trainer/global_step"] for h in history if "val_loss" in h] == [3, 7]
    assert _flat(config) == _flat(run.config)
    assert config["model"]["cell"] == "lstm" and config["optim"]["lr"] == 0.01
    assert _flat(summary) == _flat(run.summary)
    assert summary["val_loss"] == run.metric("val_loss")[-1][1]


def test_samples_from_seqlabs_language_model_are_reproducible_and_leave_the_rng_alone(
    tmp_path,
) -> None:
    from seqlab.config import ModelConfig, OptimConfig
    from seqlab.models import LanguageModel

    info = TaskInfo(
        "language_model",
        "tokens",
        len(VOCAB),
        len(VOCAB),
        "ce",
        "min",
        vocab_size=len(VOCAB),
        itos=tuple(VOCAB),
    )
    model = LanguageModel(ModelConfig(cell="gru", hidden_size=8), OptimConfig(), info)
    samples = TextSamples(tmp_path, prompts=("ab", "xyz", "c"), temperatures=(0.5, 1.0), length=10)
    torch.manual_seed(0)
    expected_draw = torch.rand(3)
    torch.manual_seed(0)
    rows = samples.generate_rows(model, step=3)
    assert torch.equal(torch.rand(3), expected_draw)
    assert [(r["prompt"], r["temperature"], r["step"]) for r in rows] == [
        ("ab", 0.5, 3),
        ("ab", 1.0, 3),
        ("c", 0.5, 3),
        ("c", 1.0, 3),
    ]
    assert all(len(r["text"]) == 10 and set(r["text"]) <= set(VOCAB) for r in rows)
    assert samples.generate_rows(model, step=3) == rows
    assert model.training
    words = TaskInfo(
        "language_model", "tokens", 3, 3, "ce", "min", vocab_size=3, itos=("the", "cat", "sat")
    )
    word_model = LanguageModel(ModelConfig(cell="gru", hidden_size=8), OptimConfig(), words)
    word_rows = TextSamples(
        tmp_path, prompts=("the cat", "dog"), temperatures=(1.0,), length=4
    ).generate_rows(word_model, 0)
    assert [r["prompt"] for r in word_rows] == ["the cat"]
    assert len(word_rows[0]["text"].split()) == 4


@pytest.mark.slow
def test_online_start_failure_falls_back_to_offline(isolated: Path, monkeypatch) -> None:
    import wandb

    from seqlab.tracking.loggers import _wandb_logger_class

    monkeypatch.setenv("WANDB_API_KEY", FAKE_WANDB_KEY)
    said: list[str] = []
    run_dir = isolated / "run"
    run_dir.mkdir()
    logger = _wandb_logger_class()(
        save_dir=str(run_dir),
        project="p",
        mode="online",
        notify=said.append,
        settings=wandb.Settings(silent=True, init_timeout=2),
    )
    try:
        assert logger.experiment.settings.mode == "offline"
        logger.experiment.log({"x": 1.0})
    finally:
        finish_loggers([logger])
    assert "running offline instead" in said[0] and FAKE_WANDB_KEY not in said[0]
    assert read_run(run_dir).history[0]["x"] == 1.0


DDP_SCRIPT = textwrap.dedent("""
    import sys
    import lightning as L
    import torch
    import torch.nn.functional as F
    from torch import nn
    from seqlab.tracking.loggers import build_loggers, finish_loggers, sync_hint

    class M(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)
        def training_step(self, batch, i):
            x, y = batch
            loss = F.mse_loss(self.lin(x).squeeze(-1), y)
            self.log("train_loss", loss, sync_dist=True)
            return loss
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    run_dir = sys.argv[1]
    loggers = build_loggers("wandb", run_dir, project="ddp", config_dict={"model": {"cell": "rnn"}})
    data = torch.utils.data.TensorDataset(torch.randn(64, 3), torch.randn(64))
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=4, logger=loggers,
                        log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False)
    trainer.fit(M(), torch.utils.data.DataLoader(data, batch_size=8))
    finish_loggers(loggers)
    if trainer.is_global_zero:
        print("HINT", sync_hint(run_dir))
""")


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_fit_makes_one_wandb_run(isolated: Path) -> None:
    script = isolated / "ddp_fit.py"
    script.write_text(DDP_SCRIPT)
    run_dir = isolated / "run"
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(script), str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=isolated,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = list(run_dir.rglob("run-*.wandb"))
    assert len(files) == 1
    assert proc.stderr.count("W&B runs offline") == 1  # the mode is reported once, by rank 0
    assert proc.stdout.count("HINT wandb sync") == 1
    run = read_run(run_dir)
    assert run.config["model"] == {"cell": "rnn"}
    assert [s for s, _ in run.metric("train_loss")] == [0, 1, 2, 3]

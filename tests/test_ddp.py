"""A real 2-process DistributedDataParallel fit on CPU (gloo), through the CLI.

The CLI runs in a subprocess (Lightning's ``ddp`` launcher re-runs the command line for
rank 1, which must not be pytest). A small wrapper script adds a test-only callback that
records, in every process, a hash of the final parameters and of the first batch it read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seqlab.training import read_metrics

SCRIPT = textwrap.dedent('''
    import hashlib, os, sys
    from pathlib import Path

    import lightning as L
    import seqlab.training

    class Record(L.Callback):
        """Writes rank-<r>.json: hashes of the first batch and of the final parameters."""

        def __init__(self, out):
            self.out, self.first = Path(out), None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if self.first is None:
                self.first = hashlib.sha256(batch["x"].numpy().tobytes()).hexdigest()

        def on_train_end(self, trainer, pl_module):
            h = hashlib.sha256()
            for name, t in sorted(pl_module.state_dict().items()):
                h.update(name.encode())
                h.update(t.detach().cpu().numpy().tobytes())
            from torch._dynamo.utils import counters

            record = {"params": h.hexdigest(), "first_batch": self.first,
                      "world_size": trainer.world_size, "global_step": trainer.global_step,
                      "compiled_graphs": counters["stats"]["unique_graphs"]}
            (self.out / f"rank-{trainer.global_rank}.json").write_text(__import__("json").dumps(record))

    class SignalOneRank(L.Callback):
        """SIGINT to this process only, in step SIGNAL_STEP of rank SIGNAL_RANK (if set)."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            rank, step = os.environ.get("SIGNAL_RANK"), os.environ.get("SIGNAL_STEP")
            if rank is not None and int(rank) == trainer.global_rank and trainer.global_step == int(step):
                import signal
                os.kill(os.getpid(), signal.SIGINT)

    fit = seqlab.training.fit

    def fit_recording(config=None, **kwargs):
        kwargs["callbacks"] = [
            *kwargs.get("callbacks", ()), Record(os.environ["RECORD_DIR"]), SignalOneRank()
        ]
        result = fit(config, **kwargs)
        print(f"FINISHED global_zero={result.is_global_zero}", flush=True)
        return result

    seqlab.training.fit = fit_recording
    from seqlab.cli import main

    sys.exit(main(sys.argv[1:]))
''')


def ddp_fit(
    tmp_path: Path, *extra: str, cell: str = "gru", **env_extra: str
) -> subprocess.CompletedProcess[str]:
    """``seqlab fit`` as 2 DDP processes on CPU, through the recording wrapper script."""
    script = tmp_path / "fit_ddp.py"
    script.write_text(SCRIPT)
    records = tmp_path / "records"
    records.mkdir()
    env = {
        **os.environ,
        "RECORD_DIR": str(records),
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "offline",
        "HOME": str(tmp_path),
        "WANDB_DATA_DIR": str(tmp_path / "wb"),
    }
    env.pop("WANDB_API_KEY", None)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [
        sys.executable,
        str(script),
        "fit",
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--cell",
        cell,
        "--hidden-size",
        "8",
        "--batch-size",
        "16",
        "--max-steps",
        "4",
        "--task-opt",
        "n_train=96",
        "--task-opt",
        "n_val=32",
        "--task-opt",
        "n_test=32",
        "--task-opt",
        "seq_len=6",
        "--run-dir",
        str(tmp_path / "runs"),
        "--set",
        "trainer.num_sanity_val_steps=0",
        "--set",
        "trainer.val_check_interval=2",
        "--set",
        "log.every_n_steps=1",
        "--logger",
        "wandb",
        "--grad-flow",
        "every=2",
        "--quiet",
        *extra,
    ]
    env.update(env_extra)
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=420)


@pytest.mark.slow
@pytest.mark.ddp
def test_two_process_ddp_fit_on_cpu(tmp_path):
    proc = ddp_fit(tmp_path)
    records = tmp_path / "records"
    assert proc.returncode == 0, proc.stdout + proc.stderr

    ranks = [json.loads((records / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["params"] == ranks[1]["params"]  # DDP kept the replicas identical
    assert ranks[0]["first_batch"] != ranks[1]["first_batch"]  # each rank read its own shard

    # One process prints and writes: one result line, one run directory, each step logged once.
    out = proc.stdout
    assert out.count("FINISHED") == 2 and out.count("global_zero=True") == 1
    assert out.count("vs baseline") == 1, out
    (run,) = list((tmp_path / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_step"] == 4
    steps = [
        r["step"] for r in read_metrics(run / "metrics.csv") if r.get("train_loss") is not None
    ]
    assert steps == [0, 1, 2, 3]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert not list(Path(tmp_path).glob("lightning_logs"))

    # Tracking under DDP: exactly one W&B run (rank 0's), with the steps logged once, and the
    # gradient-flow record written once.
    from seqlab.tracking.read_offline import find_run_files, read_run

    assert len(find_run_files(tmp_path)) == 1
    wb = read_run(run)
    assert [s for s, _ in wb.metric("train_loss")] == [0, 1, 2, 3]
    assert wb.config["model"]["cell"] == "gru"
    assert (run / "grad_flow" / "grad_flow.npz").is_file()
    assert out.count("wandb sync") == 1


@pytest.mark.slow
@pytest.mark.ddp
def test_ctrl_c_on_one_process_stops_both_at_the_same_step(tmp_path):
    # Only rank 1 is signalled (in step 2): the processes agree to stop after that step,
    # rank 0 saves last.ckpt there, and the run resumes from it.
    proc = ddp_fit(tmp_path, "--max-steps", "8", SIGNAL_RANK="1", SIGNAL_STEP="2")
    assert proc.returncode == 130, proc.stdout + proc.stderr
    (run,) = list((tmp_path / "runs").iterdir())
    err = " ".join(proc.stderr.split())
    assert f"stopped by SIGINT after step 3; its state is saved in {run}" in err, err
    assert f"Resume with: seqlab fit --resume {run}" in err and "Traceback" not in err
    ranks = [json.loads((tmp_path / "records" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [r["global_step"] for r in ranks] == [3, 3]
    assert ranks[0]["params"] == ranks[1]["params"]
    from seqlab.training import load_checkpoint

    assert load_checkpoint(run / "checkpoints" / "last.ckpt").global_step == 3
    assert not (run / "summary.json").exists()


@pytest.mark.slow
@pytest.mark.ddp
def test_compiled_stepping_under_two_process_ddp(tmp_path):
    # mgu has no fused path, so --compile steps it through torch.compile: sequences of 20
    # steps are one compiled chunk, forward and backward, in both processes, while DDP's
    # gradient hooks still average the replicas.
    proc = ddp_fit(tmp_path, "--compile", "--task-opt", "seq_len=20", cell="mgu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stepping it eagerly" not in proc.stderr, proc.stderr
    ranks = [json.loads((tmp_path / "records" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert all(r["compiled_graphs"] >= 1 for r in ranks), ranks
    assert ranks[0]["params"] == ranks[1]["params"]
    assert ranks[0]["first_batch"] != ranks[1]["first_batch"]
    assert [r["global_step"] for r in ranks] == [4, 4]

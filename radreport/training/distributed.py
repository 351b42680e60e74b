"""Training on several processes of one machine, through `accelerate launch`: DDP over gloo on a CPU, NCCL on GPUs
(one process per GPU), or FSDP / DeepSpeed ZeRO on GPUs with the settings in configs/distributed/.

Each process runs radreport.training.worker, i.e. the same `train_lora` as one process does; only rank 0 saves
checkpoints, writes the manifest and logs to MLflow (the step's run, reattached by id). When they are done, every
rank's LoRA weights must be identical (DDP keeps replicas in step; a difference is a bug, not noise): their digests
are compared here. A rank that fails stops the step with one line naming it.

On a CPU, `accelerate launch --cpu --num_processes 2` silently runs ONE process; `--multi_gpu` with the trainer's
`use_cpu=True` (what cpu-lora sets) runs true multi-process DDP over gloo."""

import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from radreport.config import TrainConfig
from radreport.errors import RadreportError
from radreport.training.backends import select_backend
from radreport.training.checkpoints import CheckpointSet

SETTINGS = Path(__file__).resolve().parents[2] / "configs" / "distributed"
FAILURE_MARK = "radreport: rank"  # the worker's first line on failure: "radreport: rank R failed: Error: why"


class RankFailed(RadreportError):
    """A training process failed; the message names its rank and its error."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_plan(backend: str, cfg: TrainConfig) -> None:
    """Refuse, before anything loads, what cannot run: Unsloth trains on one GPU; FSDP and DeepSpeed need GPUs."""
    if backend == "unsloth":
        raise RadreportError(f"train.processes: {cfg.processes}: unsloth trains on one GPU; set processes: 1, or "
                             "backend: hf-qlora for several")
    if backend == "cpu-lora" and cfg.distributed != "ddp":
        raise RadreportError(f"train.distributed: {cfg.distributed} runs on GPUs only; on a CPU use ddp")


def launch_command(backend: str, cfg: TrainConfig, port: int) -> list[str]:
    """`accelerate launch` for `processes` ranks on this machine; one Unsloth process without it."""
    if cfg.processes == 1:
        return [sys.executable, "-m", "radreport.training.worker"]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1", "--num_processes",
               str(cfg.processes), "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
               "--dynamo_backend", "no"]
    if cfg.distributed == "fsdp":
        command += ["--config_file", str(SETTINGS / "fsdp.yaml")]
    elif cfg.distributed == "deepspeed":
        command += ["--use_deepspeed", "--deepspeed_config_file", str(SETTINGS / f"zero{cfg.deepspeed_stage}.json")]
    else:
        command += ["--multi_gpu", "--mixed_precision", "no"]  # with use_cpu=True on a CPU: gloo DDP
    return command + ["-m", "radreport.training.worker"]


def mlflow_env() -> dict[str, str]:
    """The active MLflow run, for rank 0 to log into (a step's run; none outside a tracked step)."""
    mlflow = sys.modules.get("mlflow")
    run = mlflow.active_run() if mlflow else None
    if run is None:
        return {}
    return {"MLFLOW_RUN_ID": run.info.run_id, "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri(),
            "MLFLOW_EXPERIMENT_ID": run.info.experiment_id}


def failed_rank(log: str) -> str:
    """The worker's own failure line, else the launcher's root cause, else the log's last line."""
    marked = [line for line in log.splitlines() if line.startswith(FAILURE_MARK)]
    if marked:
        return marked[0].removeprefix("radreport: ")
    cause = re.search(r"rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", log, flags=re.S)
    if cause:
        return f"rank {cause.group(1)} exited with {cause.group(2)}"
    return (log.strip().splitlines() or ["no output"])[-1]


def train_in_children(records: pd.DataFrame, cfg: TrainConfig, task: str, out_dir: Path,
                      backend: str) -> CheckpointSet:
    """Train in child processes: `processes` ranks, or one Unsloth process (see `train`)."""
    if cfg.processes > 1:
        check_plan(backend, cfg)
    with tempfile.TemporaryDirectory(prefix="radreport-ddp-") as exchange:
        folder = Path(exchange)
        records.to_parquet(folder / "records.parquet")
        (folder / "config.json").write_text(cfg.model_dump_json())
        log = folder / "launch.log"
        command = launch_command(backend, cfg, free_port()) + [str(folder), task, str(out_dir)]
        with open(log, "w") as output:
            done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT,
                                  env={**os.environ, **mlflow_env()})
        text = log.read_text(errors="replace")
        sys.stdout.write(text[-4000:])  # the trainer's progress, as one process would print it
        if done.returncode != 0:
            raise RankFailed(f"training in {cfg.processes} child process(es) ({backend}, {cfg.distributed}) failed: "
                             f"{failed_rank(text)}")
        digests = {path.name: path.read_text() for path in sorted(folder.glob("rank-*.sha256"))}
    if len(digests) != cfg.processes or len(set(digests.values())) != 1:
        raise RankFailed(f"distributed training: the ranks ended with different LoRA weights: {digests}")
    return CheckpointSet(str(out_dir))


def train(records: pd.DataFrame, cfg: TrainConfig, task: str, out_dir: Path, callbacks=()) -> CheckpointSet:
    """LoRA training on `cfg.processes` processes; one process trains here, except with Unsloth: its import patches
    transformers' model classes for the whole process, and the local orchestrator runs every step in this one, so
    the evaluation after it would run Unsloth's code, not the model the registry will serve. Unsloth trains in a
    child process that imports it before anything else (as a step-operator pod would), and this one never does."""
    backend, _ = select_backend(cfg.backend)
    if cfg.processes == 1 and backend != "unsloth":
        from radreport.training.lora import train_lora

        return train_lora(records, cfg, task, out_dir, callbacks)
    return train_in_children(records, cfg, task, out_dir, backend)

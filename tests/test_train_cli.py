"""`run.py train` as a process killed mid-run (SIGKILL), then `--resume`; without it, a fresh start."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from run import main

ROOT = Path(__file__).resolve().parent.parent


def wait_for_first_checkpoint(runs: Path, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    earlier = set(runs.glob("train-*/checkpoint-*"))  # left by other tests' interrupted runs
    while not {p.parent for p in runs.glob("train-*/checkpoint-*/trainer_state.json")} - earlier:
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.05)


def test_train_resumes_after_sigkill_and_starts_fresh_without_resume(tiny_model, sample_path, tmp_path, capsys):
    from radreport.training.checkpoints import CheckpointSet
    from radreport.paths import home

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"train": {"model": str(tiny_model), "max_steps": 40, "save_steps": 5,
                                                "logging_steps": 1, "eval_loss_examples": 2}}))
    command = ["train", "--config", str(config), "--data", str(sample_path), "--out", str(tmp_path / "out")]
    process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *command], env=os.environ.copy(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_first_checkpoint(home() / "runs", process)
    process.send_signal(signal.SIGKILL)
    process.wait()

    capsys.readouterr()
    main([*command, "--resume"])
    resumed = capsys.readouterr().out
    start = int(resumed.split("resumed from step ")[1].split()[0])
    assert start >= 5 and start % 5 == 0 and "to step 40" in resumed
    history = CheckpointSet(str(tmp_path / "out")).log_history
    assert [e["step"] for e in history if "loss" in e] == list(range(1, 41))  # the curve continues, no gap

    main(command)
    assert "from step 0 to step 40" in capsys.readouterr().out


def test_train_never_deletes_a_folder_it_did_not_write(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not an earlier `train` output"):
        main(["train", "--config", "configs/demo.yaml", "--out", str(work)])
    assert (work / "notes.txt").read_text() == "keep me"

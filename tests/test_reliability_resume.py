"""Guarantee "training survives a kill": the bundle's training killed with SIGKILL in the middle of an epoch resumes
from its last checkpoint and ends at the same iteration, epoch, optimizer step, LR-schedule step and validation
history as an uninterrupted run. Real processes: ``python -m monai.bundle run training`` as users start it."""

from __future__ import annotations

import csv
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _reliability_helpers import BUNDLE_DIR, PYTHON, python_env
from rfr_inpaint.handlers import latest_checkpoint
from rfr_inpaint.safe_io import load_checkpoint

pytestmark = pytest.mark.slow

ITERATIONS_PER_EPOCH = 4
EPOCHS = 2
TOTAL = ITERATIONS_PER_EPOCH * EPOCHS
KILL_AT = ITERATIONS_PER_EPOCH + 1  # the first iteration of epoch 2: mid-epoch


def _command(root: Path) -> list[str]:
    budget = {
        "image_size": 32,
        "num_train_images": 2 * ITERATIONS_PER_EPOCH,
        "batch_size": 2,
        "num_val_images": 2,
        "max_epochs": EPOCHS,
        "checkpoint_interval": 1,
        "network_def#num_recurrences": 1,
        "device": "$torch.device('cpu')",
    }
    args = [
        PYTHON,
        "-m",
        "monai.bundle",
        "run",
        "training",
        "--meta_file",
        "configs/metadata.json",
        "--config_file",
        "configs/train.json",
        "--logging_file",
        "configs/logging.conf",
        "--bundle_root",
        str(root),
    ]
    for key, value in budget.items():
        args += [f"--{key}", str(value)]
    return args


def _run(root: Path, log: Path) -> subprocess.CompletedProcess:
    with open(log, "w") as out:
        proc = subprocess.run(
            _command(root),
            cwd=BUNDLE_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=python_env(),
            timeout=300,
            check=False,
        )
    assert proc.returncode == 0, log.read_text()[-5000:]
    return proc


def _summary(root: Path) -> dict:
    ckpt = load_checkpoint(latest_checkpoint(root / "models" / "train"))
    with open(root / "eval" / "validation_history.csv") as f:
        history = [int(r["iteration"]) for r in csv.DictReader(f)]
    return {
        "iteration": ckpt["trainer"]["iteration"],
        "epoch_length": ckpt["trainer"]["epoch_length"],
        "adam_steps": sorted({float(s["step"]) for s in ckpt["optimizer"]["state"].values()}),
        "lr_scheduler_epoch": ckpt["lr_scheduler"]["last_epoch"],
        "validation_iterations": history,
        "model": (root / "models" / "train" / "model.pt").is_file(),
    }


def test_training_killed_mid_epoch_resumes_to_the_same_end(tmp_path: Path):
    # the run that is killed
    killed = tmp_path / "killed"
    ckpt_dir = killed / "models" / "train"
    with open(tmp_path / "killed.log", "w") as out:
        proc = subprocess.Popen(
            _command(killed), cwd=BUNDLE_DIR, stdout=out, stderr=subprocess.STDOUT, env=python_env()
        )
        try:
            deadline = time.monotonic() + 240
            while not (ckpt_dir / f"checkpoint_{KILL_AT}.pt").exists():
                assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-5000:]
                assert time.monotonic() < deadline, "training did not reach the kill point in time"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == -signal.SIGKILL
    last = latest_checkpoint(ckpt_dir)
    reached = int(re.search(r"_(\d+)\.pt$", last.name).group(1))
    assert KILL_AT <= reached < TOTAL  # killed before the end
    assert load_checkpoint(last)["trainer"]["iteration"] == reached  # and the last checkpoint is whole

    # restarted with the same command: it resumes from the last checkpoint
    _run(killed, tmp_path / "resumed.log")
    resumed_log = (tmp_path / "resumed.log").read_text()
    assert f"resumed from {last}" in resumed_log and "RFRTrainer - INFO - Epoch[1] Complete" not in resumed_log

    # the uninterrupted reference run
    reference = tmp_path / "reference"
    _run(reference, tmp_path / "reference.log")
    assert _summary(reference)["iteration"] == TOTAL
    assert _summary(killed) == _summary(reference)

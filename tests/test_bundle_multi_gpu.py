"""``configs/multi_gpu_train.json``: DistributedDataParallel training through ``torchrun``, 2 CPU processes (gloo)."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest
import torch
from _bundle_helpers import TINY, cli_args, config_list, run_bundle
from rfr_inpaint.defaults import SHIPPED_MODEL
from rfr_inpaint.networks import load_network
from rfr_inpaint.safe_io import load_checkpoint

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_torchrun_two_processes_on_cpu(tmp_path: Path):
    torchrun = shutil.which("torchrun")
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    budget = dict(TINY, num_train_images=8, num_val_images=4)
    budget.pop("device")  # multi_gpu_train.json picks the device from LOCAL_RANK (CPU without CUDA)
    proc = run_bundle(
        [
            "run",
            "training",
            "--meta_file",
            "configs/metadata.json",
            "--config_file",
            config_list("train.json", "multi_gpu_train.json"),
            "--logging_file",
            "configs/logging.conf",
            "--bundle_root",
            str(tmp_path),
            *cli_args(budget),
        ],
        launcher=[*launcher, "--nproc_per_node", "2", "--master_port", "29517"],
    )
    output = proc.stdout + proc.stderr
    # 8 images, 2 processes, batch 2: each rank runs 2 iterations of its half (DistributedSampler).
    assert "Iter: 2/2" in output and "Iter: 3/" not in output
    ckpt = load_checkpoint(tmp_path / "models" / "train" / "checkpoint_2.pt")
    assert ckpt["trainer"]["iteration"] == 2
    assert not any(k.startswith("module.") for k in ckpt["network"])  # saved unwrapped from DDP
    net = load_network(tmp_path / "models" / "train" / "model.pt")  # the stage's best model, not the shipped one
    assert not (tmp_path / SHIPPED_MODEL).exists()
    for key, value in ckpt["network"].items():
        assert torch.equal(net.state_dict()[key], value), key
    # validation metrics are gathered from both ranks: one value per validation image
    with open(tmp_path / "eval" / "val_ssim_raw.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    with open(tmp_path / "eval" / "validation_history.csv") as f:
        assert [int(r["iteration"]) for r in csv.DictReader(f)] == [2]

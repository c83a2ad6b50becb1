"""safe_io: atomic writes keep permissions and never leave partial files; checkpoint loading is safe."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from rfr_inpaint.safe_io import CheckpointError, atomic_path, atomic_torch_save, load_checkpoint


def test_new_file_gets_umask_default_and_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "out.nii.gz"
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.parent == tmp_path
        tmp.write_bytes(b"first")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"second")
    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.pt"
    atomic_torch_save({"w": torch.ones(3)}, target)
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a checkpoint")
            raise RuntimeError("disk full")
    assert torch.equal(load_checkpoint(target)["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_overwrite_false_refuses_existing(tmp_path):
    target = tmp_path / "a.png"
    target.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="a.png"):
        with atomic_path(target, overwrite=False):
            pass
    assert target.read_bytes() == b"keep"


def test_damaged_and_malicious_checkpoints_are_told_apart(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(256))
    with pytest.raises(CheckpointError, match="junk.pt: not a readable PyTorch checkpoint"):
        load_checkpoint(junk)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    torch.save({"network": Payload()}, evil)
    with pytest.raises(CheckpointError, match="evil.pt: refused to load"):
        load_checkpoint(evil)
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")

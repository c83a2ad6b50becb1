"""Tests of rfr_inpaint.vgg: torchvision-key loading, pool outputs, normalisation, freezing, weight lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rfr_inpaint.safe_io import CheckpointError
from rfr_inpaint.vgg import VGG16_WEIGHTS_FILENAME, VGG16Features, default_vgg16_weights_path, find_vgg16_weights

from _vgg_helpers import random_vgg16_state_dict, save_random_vgg16


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_vgg16(tmp_path_factory.mktemp("vgg") / VGG16_WEIGHTS_FILENAME)


def _manual_pools(state: dict[str, torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
    """Reference forward written directly from torchvision's layer indices."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (x - mean) / std
    out = []
    for block in ((0, 2), (5, 7), (10, 12, 14)):
        for i in block:
            x = F.relu(F.conv2d(x, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1))
        x = F.max_pool2d(x, 2)
        out.append(x)
    return out


def test_loads_torchvision_keys_and_matches_manual_forward(vgg_file: Path) -> None:
    vgg = VGG16Features(vgg_file)
    state = random_vgg16_state_dict()
    assert torch.equal(vgg.features[14].weight, state["features.14.weight"])
    x = torch.rand(2, 3, 32, 40)
    pools = vgg(x)
    assert [tuple(p.shape) for p in pools] == [(2, 64, 16, 20), (2, 128, 8, 10), (2, 256, 4, 5)]
    for ours, ref in zip(pools, _manual_pools(state, x)):
        torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    gray = torch.rand(1, 1, 16, 16)
    for a, b in zip(vgg(gray), vgg(gray.repeat(1, 3, 1, 1))):
        torch.testing.assert_close(a, b)


def test_frozen_but_differentiable(vgg_file: Path) -> None:
    vgg = VGG16Features(vgg_file)
    parent = torch.nn.Sequential(vgg)
    parent.train()
    assert not vgg.training
    assert all(not p.requires_grad for p in vgg.parameters())
    x = torch.rand(1, 1, 16, 16, requires_grad=True)
    sum(p.sum() for p in vgg(x)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="expects"):
        vgg(torch.rand(1, 2, 16, 16))


def test_find_weights_given_path_cache_and_missing(
    vgg_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    assert default_vgg16_weights_path() == tmp_path / "torch_home" / "hub" / "checkpoints" / VGG16_WEIGHTS_FILENAME
    assert find_vgg16_weights() is None
    with pytest.raises(FileNotFoundError, match="no VGG16 weights file"):
        VGG16Features()
    with pytest.raises(FileNotFoundError, match="missing.pth: VGG16 weights file not found"):
        find_vgg16_weights(tmp_path / "missing.pth")
    assert find_vgg16_weights(vgg_file) == vgg_file
    cached = save_random_vgg16(default_vgg16_weights_path())
    assert find_vgg16_weights() == cached
    assert VGG16Features().weights_path == cached


def test_bad_files_raise_clear_errors(tmp_path: Path) -> None:
    state = random_vgg16_state_dict()
    del state["features.12.bias"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"partial.pth: .*missing 'features.12.bias'"):
        VGG16Features(tmp_path / "partial.pth")
    state = random_vgg16_state_dict()
    state["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match=r"shape.pth: 'features.0.weight' has shape"):
        VGG16Features(tmp_path / "shape.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        VGG16Features(tmp_path / "junk.pth")

"""Helpers for the VGG / loss tests: a randomly initialised VGG16 state dict in torchvision's key format."""

from __future__ import annotations

from pathlib import Path

import torch

# torchvision vgg16().features conv layers up to pool3, plus one deeper conv and a classifier key that loaders must
# ignore (a real file holds features.0 .. features.28 and classifier.0 .. classifier.6).
_LAYERS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256), 14: (256, 256)}


def random_vgg16_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random He-initialised weights under torchvision's VGG16 keys (``features.N.weight`` / ``.bias``)."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for idx, (cout, cin) in _LAYERS.items():
        state[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (cin * 9)) ** 0.5
        state[f"features.{idx}.bias"] = torch.randn(cout, generator=g) * 0.01
    state["features.17.weight"] = torch.zeros(512, 256, 3, 3)
    state["features.17.bias"] = torch.zeros(512)
    state["classifier.6.bias"] = torch.zeros(1000)
    return state


def save_random_vgg16(path: Path, seed: int = 0) -> Path:
    """Write :func:`random_vgg16_state_dict` with ``torch.save`` (torchvision's checkpoint format)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_vgg16_state_dict(seed), path)
    return path

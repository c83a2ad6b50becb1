"""Frozen VGG16 feature extractor (pool1, pool2, pool3) loading torchvision-format weights from a local file.

The layers are numbered as in torchvision's ``vgg16().features`` so that the keys ``features.N.weight`` /
``features.N.bias`` of torchvision's checkpoint (``vgg16-397923af.pth``) load directly, without torchvision.
Weights are never downloaded: :func:`find_vgg16_weights` only looks at a given path and at torch hub's cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from rfr_inpaint.safe_io import CheckpointError, load_checkpoint

__all__ = ["VGG16_WEIGHTS_FILENAME", "VGG16Features", "default_vgg16_weights_path", "find_vgg16_weights"]

#: file name of torchvision's ImageNet VGG16 weights in torch hub's checkpoint cache.
VGG16_WEIGHTS_FILENAME = "vgg16-397923af.pth"

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's VGG16 "D" configuration up to pool3: (index of the conv in ``features``, in, out); pools at 4, 9, 16.
_CONVS = ((0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256))
_POOLS = (4, 9, 16)


def default_vgg16_weights_path() -> Path:
    """Where torchvision caches the ImageNet VGG16 weights: ``torch.hub.get_dir()/checkpoints/vgg16-397923af.pth``.

    ``torch.hub.get_dir()`` honours ``$TORCH_HOME`` (default ``~/.cache/torch``).

    Returns:
        the path (which may not exist).
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_WEIGHTS_FILENAME


def find_vgg16_weights(path: str | os.PathLike | None = None) -> Path | None:
    """Locate a local VGG16 weights file; never downloads.

    Args:
        path: an explicit weights file. When it is given it must exist.

    Returns:
        ``path`` when given; else torch hub's cached ``vgg16-397923af.pth`` when present; else ``None``.

    Raises:
        FileNotFoundError: ``path`` is given but is not a file.
    """
    if path is not None and str(path) != "":
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"{p}: VGG16 weights file not found")
        return p
    cached = default_vgg16_weights_path()
    return cached if cached.is_file() else None


class VGG16Features(nn.Module):
    """Frozen VGG16 convolutional features after pool1, pool2 and pool3 (the RFR / partial-conv perceptual layers).

    Inputs are ``(N, C, H, W)`` images in [0, 1] with 1 or 3 channels; one channel is replicated to three, then the
    ImageNet mean / std normalisation is applied inside. The module stays in eval mode with ``requires_grad=False``
    on every weight (gradients still flow to the input).

    Args:
        weights_path: torchvision-format VGG16 state dict (``features.N.weight`` / ``features.N.bias``; other keys,
            e.g. the classifier and deeper layers, are ignored). ``None``: torch hub's cached
            ``vgg16-397923af.pth`` (see :func:`find_vgg16_weights`).

    Raises:
        FileNotFoundError: no weights file was given or found (random features are never used).
        CheckpointError: the file is not a safe, readable checkpoint or lacks / mis-shapes a needed layer.

    Examples::

        vgg = VGG16Features("/data/vgg16-397923af.pth")
        pool1, pool2, pool3 = vgg(images)  # (N, 64, H/2, W/2), (N, 128, H/4, W/4), (N, 256, H/8, W/8)
    """

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        path = find_vgg16_weights(weights_path)
        if path is None:
            raise FileNotFoundError(
                f"{default_vgg16_weights_path()}: no VGG16 weights file; give a torchvision-format "
                f"'{VGG16_WEIGHTS_FILENAME}' path (weights are never downloaded)"
            )
        layers: list[nn.Module] = []
        convs = {i: (cin, cout) for i, cin, cout in _CONVS}
        for i in range(_POOLS[-1] + 1):
            if i in convs:
                layers.append(nn.Conv2d(*convs[i], kernel_size=3, padding=1))
            elif i in _POOLS:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.weights_path = path
        self._load(path)
        self.requires_grad_(False)
        super().train(False)

    def _load(self, path: Path) -> None:
        state = load_checkpoint(path)
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: expected a VGG16 state dict, got {type(state).__name__}")
        if "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        wanted = self.state_dict()
        for key, ref in wanted.items():
            if key not in state:
                raise CheckpointError(
                    f"{path}: not a torchvision VGG16 state dict: missing '{key}' "
                    f"(keys found start with {sorted(state)[:3]})"
                )
            if not isinstance(state[key], torch.Tensor) or tuple(state[key].shape) != tuple(ref.shape):
                shape = tuple(state[key].shape) if isinstance(state[key], torch.Tensor) else type(state[key]).__name__
                raise CheckpointError(f"{path}: '{key}' has shape {shape}, VGG16 expects {tuple(ref.shape)}")
        self.load_state_dict({k: state[k].float() for k in wanted})

    def train(self, mode: bool = True) -> VGG16Features:
        """Keep the extractor in eval mode whatever the parent module's mode (it is frozen)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of ``x`` after pool1, pool2 and pool3.

        Args:
            x: ``(N, 1, H, W)`` or ``(N, 3, H, W)`` images in [0, 1].

        Returns:
            ``[pool1, pool2, pool3]`` with 64, 128 and 256 channels at 1/2, 1/4 and 1/8 of the input size.

        Raises:
            ValueError: ``x`` is not 4-D with 1 or 3 channels.
        """
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"VGG16Features expects (N, 1, H, W) or (N, 3, H, W) images, got {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _POOLS:
                out.append(x)
        return out

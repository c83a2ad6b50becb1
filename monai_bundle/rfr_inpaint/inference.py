"""RFR-Net inference on stacks of 2D slices (the project's inpainter interface)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .networks import RFRNet, composite, load_network

__all__ = ["RFRInpainter", "resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class RFRInpainter:
    """Inpaint stacks of slices with an RFR-Net: only slices with a hole run, in batches, results composited.

    Args:
        network: an :class:`RFRNet` or a checkpoint path (this project's or the authors', see
            :func:`rfr_inpaint.networks.load_network`).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        batch_size: slices per forward pass.
        progress: optional callback ``progress(done, total)`` called after each batch.

    Call with ``images`` (N, H, W) float32 in [0, 1] and ``holes`` (N, H, W) bool; returns (N, H, W) float32 where
    known pixels are bit-identical to the input and hole pixels hold the prediction clipped to [0, 1].
    """

    def __init__(
        self,
        network: RFRNet | str | os.PathLike,
        device: str | torch.device = "auto",
        batch_size: int = 8,
        progress: Callable[[int, int], None] | None = None,
    ):
        self.device = resolve_device(device)
        if isinstance(network, (str, os.PathLike, Path)):
            network = load_network(network, map_location="cpu")
        self.network = network.to(self.device).eval()
        self.batch_size = max(1, int(batch_size))
        self.progress = progress

    @torch.inference_mode()
    def predict(self, images: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        """Composited prediction for a (B, C, H, W) batch already on the right device."""
        pred = self.network(images, holes).float().clamp_(0.0, 1.0)
        return composite(images, pred, holes)

    def __call__(self, images: np.ndarray, holes: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        holes = np.asarray(holes).astype(bool)
        if images.ndim != 3 or images.shape != holes.shape:
            raise ValueError(f"expected (N, H, W) images and holes of one shape, got {images.shape} and {holes.shape}")
        result = images.copy()
        todo = np.flatnonzero(holes.reshape(len(holes), -1).any(axis=1))
        for start in range(0, len(todo), self.batch_size):
            idx = todo[start : start + self.batch_size]
            x = torch.from_numpy(images[idx][:, None]).to(self.device)
            h = torch.from_numpy(holes[idx][:, None].astype(np.float32)).to(self.device)
            out = self.predict(x, h)[:, 0].cpu().numpy()
            # Known pixels are copied from the input, never round-tripped through the device.
            result[idx] = np.where(holes[idx], out, images[idx])
            if self.progress is not None:
                self.progress(min(start + self.batch_size, len(todo)), len(todo))
        return result

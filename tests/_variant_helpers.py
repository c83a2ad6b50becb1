"""Shared helpers of the guided RFR-Net tests: the committed real CT slices and weights that are not the init."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

REAL_CT = Path(__file__).parent / "data" / "real_ct_chest.nii.gz"


def real_ct() -> tuple[np.ndarray, tuple[float, ...]]:
    """The committed real chest CT slices, int16 HU ``(8, 192, 192)``, and their spacing (NumPy order, mm)."""
    from rfr_inpaint.image_io import read_image

    image = read_image(REAL_CT)
    return np.asarray(image.array), tuple(float(s) for s in image.spacing_numpy)


def real_ct_01(window: tuple[float, float] = (-1024.0, 3071.0)) -> np.ndarray:
    """The real slices mapped to [0, 1] (float32) with the CT window that training and inference use."""
    hu, _ = real_ct()
    return np.clip((hu.astype(np.float32) - window[0]) / (window[1] - window[0]), 0.0, 1.0).astype(np.float32)


def perturb(net: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """Move every weight and BatchNorm statistic away from its initial value (seeded), so that a network's output
    depends on all of them: the zero-initialised output layer of a prior variant no longer hides the rest.

    ``image_mask_channels``, ``prior_config`` (the prior's recipe) and the integer buffers (``guide_config``,
    ``num_batches_tracked``) are left alone.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.is_floating_point() or name in ("image_mask_channels", "prior_config"):
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif name.endswith("running_mean"):
                t.copy_(0.1 * torch.randn(t.shape, generator=gen))
            else:
                t.add_(scale * torch.randn(t.shape, generator=gen))
    return net


def box_hole(shape: tuple[int, ...], *boxes: tuple[int, ...]) -> np.ndarray:
    """A bool mask of ``shape`` with the given index boxes ``(z0, z1, y0, y1, x0, x1)`` (or 2-D ``(y0, y1, x0, x1)``)
    set."""
    hole = np.zeros(shape, dtype=bool)
    for box in boxes:
        hole[tuple(slice(box[i], box[i + 1]) for i in range(0, len(box), 2))] = True
    return hole


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run PyTorch on one thread: on a CPU shared with other jobs, two threads that wait for each other make the
    small forwards of these tests several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)

"""Shared helpers of the reliability and security tests (``tests/test_reliability_*.py``): tiny networks, a network
that must never run, a checkpoint that carries pickled code, images with full geometry, and the command line."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "monai_bundle" / "rfr_inpaint"
BUNDLE_DIR = ROOT / "monai_bundle"
SLICER_MODULE_DIR = ROOT / "RFRInpaint"

#: a non-trivial geometry: anisotropic spacing, shifted origin, axes permuted and flipped (x, y, z order)
SPACING = (0.7, 0.9, 2.5)
ORIGIN = (-12.5, 40.0, 7.25)
DIRECTION = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def tiny_network(seed: int = 0) -> nn.Module:
    """An untrained one-channel RFR-Net with one recurrence (fast), in eval mode."""
    from rfr_inpaint.networks import RFRNet

    torch.manual_seed(seed)
    return RFRNet(in_channels=1, num_recurrences=1).eval()


def save_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Save :func:`tiny_network`'s state dict (the bundle's ``model.pt`` format) to ``path``."""
    from rfr_inpaint.safe_io import atomic_torch_save

    atomic_torch_save(tiny_network(seed).state_dict(), path)
    return path


class ForbiddenNetwork(nn.Module):
    """A network whose forward fails the test: proves that a code path never runs the model."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, *args, **kwargs):
        raise AssertionError("the model was run although nothing had to be inpainted")


def forbidden_inpainter(images: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """An inpainter (project interface) that fails the test when called."""
    raise AssertionError("the inpainter was called although nothing had to be inpainted")


class PickledCall:
    """An object whose unpickling calls ``os.makedirs(marker)``: the marker folder proves that pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def save_malicious_checkpoint(path: Path, marker: Path, layout: str = "state_dict") -> Path:
    """A checkpoint that looks like a real one but carries a pickled callable.

    Args:
        path: where to save.
        marker: folder the payload would create if it ran.
        layout: ``state_dict`` (bare RFR-Net state dict, the bundle's ``model.pt``), ``resume`` (the training
            checkpoint layout ``{"network": ..., "trainer": ...}``) or ``vgg`` (torchvision VGG16 keys).
    """
    state = dict(tiny_network().state_dict())
    if layout == "state_dict":
        state["head_pconv1.payload"] = PickledCall(marker)
        obj = state
    elif layout == "resume":
        obj = {"network": state, "optimizer": {}, "trainer": {"iteration": 1, "payload": PickledCall(marker)}}
    elif layout == "vgg":
        obj = {"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": PickledCall(marker)}
    else:
        raise ValueError(f"unknown layout {layout!r}")
    torch.save(obj, path)  # plain torch.save on purpose: an attacker's file
    return path


def write_sitk(
    array: np.ndarray,
    path: Path,
    spacing: Sequence[float] = SPACING,
    origin: Sequence[float] = ORIGIN,
    direction: Sequence[float] = DIRECTION,
) -> Path:
    """Write ``array`` (NumPy ``(z, y, x)`` or ``(y, x)``) with the given geometry (cut to the array's dimension)."""
    image = sitk.GetImageFromArray(array)
    dim = image.GetDimension()
    image.SetSpacing(tuple(spacing)[:dim])
    image.SetOrigin(tuple(origin)[:dim])
    if dim == 3:
        image.SetDirection(tuple(direction))
    sitk.WriteImage(image, str(path))
    return path


def ct_like(shape: tuple[int, ...], dtype: np.dtype | type, seed: int = 0) -> np.ndarray:
    """Smooth CT-like values (HU for signed types, shifted by 1024 for unsigned) with fine noise, in ``dtype``."""
    from rfr_inpaint.data import synthetic_ct_slice

    n = int(np.prod(shape[:-2]))
    slices = [synthetic_ct_slice((shape[-2], shape[-1]), seed=seed + k, table=False) for k in range(n)]
    values = np.stack(slices).reshape(shape).astype(np.float64)
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        values = values + 1024.0
    if dtype.kind in "ui":
        return np.clip(np.rint(values), np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
    return (values + np.random.default_rng(seed).normal(0, 0.01, values.shape)).astype(dtype)


def hole_box(shape: tuple[int, ...]) -> np.ndarray:
    """A boolean hole: a small box in the middle slice (3D) or the middle (2D)."""
    hole = np.zeros(shape, dtype=bool)
    if len(shape) == 3:
        hole[shape[0] // 2, 10:16, 12:19] = True
    else:
        hole[10:16, 12:19] = True
    return hole


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two arrays have the same dtype, shape and bytes (NaN == NaN, -0.0 != 0.0)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def run_cli(argv: Sequence[str]) -> tuple[int, str]:
    """Run ``rfr-inpaint`` in this process; return the exit status and what it printed on stderr."""
    from rfr_inpaint.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse errors
            code = int(e.code or 0)
    return code, err.getvalue()


def last_error_line(stderr: str) -> str:
    """The ``rfr-inpaint: error: ...`` line of the command's stderr (empty when there is none)."""
    lines = [ln for ln in stderr.splitlines() if ": error:" in ln]
    return lines[-1] if lines else ""


def files_in(folder: Path) -> list[str]:
    """Names of every entry of ``folder``, hidden temporary files included, sorted."""
    return sorted(p.name for p in folder.iterdir())


def python_env() -> dict[str, str]:
    """Environment of child Python processes: the package importable, one thread, unbuffered output."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "monai_bundle"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


PYTHON = sys.executable

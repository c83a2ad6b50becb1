"""A before / after / difference picture of an inpainting result (``rfr-inpaint --preview FILE.png``).

One slice is shown: the one with the most hole voxels along the slicing axis (a 2D image is its own slice). CT (an
image holding air in Hounsfield units, the rule of ``--intensity auto``) is shown in the soft-tissue window
:data:`rfr_inpaint.defaults.SOFT_TISSUE_WINDOW_HU`, other images between the 0.5 and 99.5 percentiles of the slice's
known pixels; the difference ``after - before`` in the image's units on a symmetric colour scale. The PNG is written
through :func:`rfr_inpaint.safe_io.atomic_path`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rfr_inpaint.defaults import DEFAULT_PERCENTILES, SOFT_TISSUE_WINDOW_HU

__all__ = ["most_affected_slice", "take_slice", "write_preview"]


def most_affected_slice(hole: np.ndarray, axis: int = 0) -> int:
    """Index along ``axis`` of the slice with the most hole voxels (0 for a 2D image or an empty hole).

    Args:
        hole: 2D or 3D mask, nonzero = hole.
        axis: slicing axis of a 3D mask.

    Returns:
        the slice index.
    """
    hole = np.asarray(hole) != 0
    if hole.ndim == 2:
        return 0
    others = tuple(a for a in range(3) if a != axis % 3)
    return int(np.argmax(hole.sum(axis=others)))


def take_slice(array: np.ndarray, index: int, axis: int = 0) -> np.ndarray:
    """Slice ``index`` along ``axis`` of a 3D array (a 2D array is returned as it is)."""
    array = np.asarray(array)
    return array if array.ndim == 2 else np.take(array, index, axis=axis)


def _display_range(before: np.ndarray, known: np.ndarray) -> tuple[tuple[float, float], str]:
    """The grey-level range of the panels and the units' label: the CT soft-tissue window, else percentiles."""
    from rfr_inpaint.transforms.intensity import AutoIntensity, CTWindow

    values = before[known] if known.any() else before.ravel()
    if isinstance(AutoIntensity().choose(values), CTWindow):
        return SOFT_TISSUE_WINDOW_HU, "HU"
    lo, hi = np.percentile(values.astype(np.float64), DEFAULT_PERCENTILES)
    return (float(lo), float(hi) if hi > lo else float(lo) + 1.0), "image units"


def write_preview(
    path: str | os.PathLike,
    before: np.ndarray,
    after: np.ndarray,
    hole: np.ndarray,
    axis: int = 0,
    title: str = "",
    overwrite: bool = False,
) -> int:
    """Write a PNG of the most affected slice: before (the hole outlined), after, and ``after - before``.

    Args:
        path: the PNG to write.
        before: the input, 2D or 3D, original units.
        after: the result, same shape.
        hole: the region that was filled, same shape, nonzero = hole.
        axis: slicing axis of a 3D volume.
        title: label of the result panel (e.g. the method).
        overwrite: replace an existing file.

    Returns:
        the index of the slice shown.

    Raises:
        ValueError: shapes differ, or ``path`` is not a ``.png`` file.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from rfr_inpaint.safe_io import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: the preview is a PNG image; name it *.png")
    before, after, hole = np.asarray(before), np.asarray(after), np.asarray(hole) != 0
    if not (before.shape == after.shape == hole.shape) or before.ndim not in (2, 3):
        raise ValueError(
            f"preview needs 2D or 3D arrays of one shape, got {before.shape}, {after.shape} and {hole.shape}"
        )
    index = most_affected_slice(hole, axis)
    b, a, h = (take_slice(x, index, axis).astype(np.float64) for x in (before, after, hole))
    h = h > 0
    (lo, hi), units = _display_range(b, ~h)
    diff = a - b
    limit = float(np.abs(diff).max()) or 1.0

    import matplotlib

    matplotlib.use("Agg")  # files only: never a window, also without a display
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12.6, 4.6), dpi=100)
    axes = figure.subplots(1, 3)
    where = "" if before.ndim == 2 else f" (slice {index} of axis {axis % 3})"
    axes[0].imshow(b, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    if h.any():
        axes[0].contour(h, levels=[0.5], colors="red", linewidths=0.7)
    axes[0].set_title(f"before{where}, hole in red", fontsize=9)
    axes[1].imshow(a, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    axes[1].set_title(f"after{': ' + title if title else ''}", fontsize=9)
    shown = axes[2].imshow(diff, cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest")
    axes[2].set_title(f"after - before ({units})", fontsize=9)
    figure.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.02)
    for ax in axes:
        ax.axis("off")
    figure.tight_layout()
    with atomic_path(path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, format="png")
    return index

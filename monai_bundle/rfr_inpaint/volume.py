"""Inpainting of 3D volumes (and 2D images) slice by slice, with any inpainter of the package.

:func:`inpaint_volume` is the one code path used by the ``rfr-inpaint`` command and the 3D Slicer module:

1. the hole is dilated by a margin given in millimetres (streaks and partial-volume voxels surround metal), using a
   Euclidean distance transform with the voxel spacing, i.e. an ellipsoidal structuring element in voxels when the
   spacing is anisotropic;
2. only the slices along ``axis`` that contain the dilated hole are processed, in batches (a *volumetric* inpainter,
   ``volumetric = True``, is called once on the consecutive slices from the first to the last one with hole, plus its
   ``context_slices`` on each side);
3. intensities are mapped to [0, 1] by an invertible mapping (:mod:`rfr_inpaint.transforms.intensity`, CT window in
   HU by default) and back to the input's units and dtype;
4. the result is composited in the input's units: every voxel outside the dilated hole is bit-identical to the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy import ndimage

from rfr_inpaint.image_io import cast_to_dtype

if TYPE_CHECKING:
    from rfr_inpaint.transforms.intensity import IntensityMapping

__all__ = [
    "Inpainter",
    "InpaintingCancelled",
    "DEFAULT_METAL_THRESHOLD_HU",
    "dilate_mm",
    "metal_mask",
    "slices_with_hole",
    "inpaint_volume",
]

#: HU above which a voxel is taken as metal by :func:`metal_mask` (dense cortical bone stays below ~2000 HU).
DEFAULT_METAL_THRESHOLD_HU = 2500.0


class Inpainter(Protocol):
    """The inpainter interface of ``docs/architecture.md``."""

    def __call__(self, images: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """Inpaint ``images`` (N, H, W) float32 in [0, 1] where ``holes`` (N, H, W) bool is True; composited."""


class InpaintingCancelled(RuntimeError):
    """Raised by :func:`inpaint_volume` when its ``cancel`` callback asks to stop; the input is left untouched."""


def _spacing_for(shape: Sequence[int], spacing: Sequence[float] | float | None) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * len(shape)
    if np.isscalar(spacing):
        return (float(spacing),) * len(shape)  # type: ignore[arg-type]
    spacing = tuple(float(s) for s in spacing)  # type: ignore[union-attr]
    if len(spacing) != len(shape):
        raise ValueError(
            f"spacing {spacing} has {len(spacing)} values for a {len(shape)}D array of shape {tuple(shape)}"
        )
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing {spacing} must be positive and finite")
    return spacing


def dilate_mm(mask: np.ndarray, margin_mm: float, spacing: Sequence[float] | float | None = None) -> np.ndarray:
    """Dilate a binary mask by ``margin_mm`` millimetres: every voxel whose centre lies within that distance of a mask
    voxel centre is added (an ellipsoidal structuring element in voxel units when the spacing is anisotropic).

    The distance transform is computed only in the mask's bounding box enlarged by the margin, so the cost does not
    grow with the size of the volume.

    Args:
        mask: boolean (or 0 / nonzero) array, 2D or 3D.
        margin_mm: dilation radius in mm (0: no dilation).
        spacing: voxel spacing in mm in the array's axis order (scalar or one value per axis; default 1).

    Returns:
        the dilated boolean mask.

    Raises:
        ValueError: negative or non-finite margin, or a spacing that does not fit the array.
    """
    mask = np.asarray(mask) != 0
    spacing = _spacing_for(mask.shape, spacing)
    if not (math.isfinite(margin_mm) and margin_mm >= 0):
        raise ValueError(f"margin_mm must be a finite number >= 0, got {margin_mm}")
    if margin_mm == 0 or not mask.any():
        return mask.copy()
    reach = [int(math.floor(margin_mm / s)) for s in spacing]
    coords = np.nonzero(mask)
    box = tuple(
        slice(max(int(c.min()) - r, 0), min(int(c.max()) + r + 1, n))
        for c, r, n in zip(coords, reach, mask.shape, strict=True)
    )
    distance = ndimage.distance_transform_edt(~mask[box], sampling=spacing)
    out = np.zeros_like(mask)
    out[box] = distance <= margin_mm * (1 + 1e-9)
    return out


def metal_mask(volume: np.ndarray, threshold_hu: float = DEFAULT_METAL_THRESHOLD_HU) -> np.ndarray:
    """Voxels at or above ``threshold_hu``: the usual automatic metal segmentation of CT.

    Args:
        volume: CT image in Hounsfield units.
        threshold_hu: metal threshold (default 2500 HU).

    Returns:
        boolean mask of ``volume.shape``.
    """
    if not math.isfinite(threshold_hu):
        raise ValueError(f"threshold_hu must be finite, got {threshold_hu}")
    return np.asarray(volume) >= threshold_hu


def slices_with_hole(hole: np.ndarray, axis: int = 0) -> np.ndarray:
    """Indices of the slices along ``axis`` that contain at least one hole voxel.

    Args:
        hole: boolean 3D mask (a 2D mask is one slice: ``[0]`` if it has a hole).
        axis: slicing axis of a 3D mask.

    Returns:
        sorted int64 indices.
    """
    hole = np.asarray(hole) != 0
    if hole.ndim == 2:
        return np.arange(1 if hole.any() else 0, dtype=np.int64)
    other = tuple(a for a in range(hole.ndim) if a != axis % hole.ndim)
    return np.flatnonzero(hole.any(axis=other)).astype(np.int64)


def _report(progress: Any, done: int, total: int, step: int) -> None:
    if progress is None:
        return
    if callable(progress):
        progress(done, total)
    else:  # a tqdm bar (not callable)
        progress.update(step)


def _inpaint_slab(
    stack: np.ndarray,
    hole_stack: np.ndarray,
    result_stack: np.ndarray,
    indices: np.ndarray,
    inpainter: Any,
    mapping: Mapping[str, Any],
    dtype: np.dtype,
    progress: Any,
    cancel: Callable[[], bool] | None,
    spacing: tuple[float, float, float],
) -> None:
    """Run a volumetric inpainter once on the consecutive slices that hold the hole, plus its ``context_slices``
    (with ``spacing=``, slice axis first, when it declares ``uses_spacing``)."""
    from rfr_inpaint.transforms.intensity import intensity_forward, intensity_inverse

    reach = getattr(inpainter, "context_slices", 0)
    # a negative reach would cut hole slices off the slab and leave them silently unfilled
    if isinstance(reach, bool) or not isinstance(reach, (int, np.integer)) or reach < 0:
        raise ValueError(f"{type(inpainter).__name__}: context_slices must be an integer >= 0, got {reach!r}")
    reach = int(reach)
    total = len(indices)
    _report(progress, 0, total, 0)
    if cancel is not None and cancel():
        raise InpaintingCancelled(f"inpainting cancelled after 0 of {total} slices")
    slab = slice(max(int(indices[0]) - reach, 0), min(int(indices[-1]) + reach + 1, stack.shape[0]))
    images = np.ascontiguousarray(intensity_forward(stack[slab], mapping), dtype=np.float32)
    holes = np.ascontiguousarray(hole_stack[slab])
    if getattr(inpainter, "uses_spacing", False):
        filled = np.asarray(inpainter(images, holes, spacing=spacing))
    else:
        filled = np.asarray(inpainter(images, holes))
    if filled.shape != images.shape:
        raise RuntimeError(f"inpainter returned shape {filled.shape} for input {images.shape}")
    values = cast_to_dtype(intensity_inverse(filled[holes], mapping, dtype=np.float64), dtype)
    target = result_stack[slab]
    target[holes] = values
    _report(progress, total, total, total)


def inpaint_volume(
    volume: np.ndarray,
    hole: np.ndarray,
    inpainter: Callable[[np.ndarray, np.ndarray], np.ndarray],
    axis: int = 0,
    spacing: Sequence[float] | float | None = None,
    margin_mm: float = 1.0,
    intensity: IntensityMapping | Mapping[str, Any] | None = None,
    batch_size: int = 16,
    progress: Callable[[int, int], Any] | Any | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Inpaint the (dilated) hole of a volume or 2D image slice by slice.

    Args:
        volume: 3D array ``(z, y, x)`` or 2D image ``(y, x)`` in original units (HU for CT), any real dtype.
        hole: mask of the same shape, nonzero = hole.
        inpainter: callable ``(images (N, H, W) float32 [0, 1], holes (N, H, W) bool) -> (N, H, W)`` (see
            :func:`rfr_inpaint.inpainters.get_inpainter`).
        axis: axis along which slices are taken (0 = the first NumPy axis, i.e. axial for ``(z, y, x)`` arrays read
            from NIfTI / DICOM / Slicer); ignored for 2D images.
        spacing: voxel spacing in mm in the array's axis order (default 1 mm).
        margin_mm: the hole is dilated by this distance in mm before inpainting (0: no dilation).
        intensity: mapping of the original units to [0, 1]: an :class:`~rfr_inpaint.transforms.intensity.
            IntensityMapping` (fitted on the known voxels of the processed slices, so a percentile window ignores
            the hole's content) or a recorded
            mapping dict (:func:`~rfr_inpaint.transforms.intensity.mapping_from_window`). Default: ``CTWindow()``,
            -1024 .. 3071 HU.
        batch_size: number of slices given to the inpainter at once (a volumetric inpainter gets its whole slab).
        progress: called as ``progress(done_slices, total_slices)`` after each batch, or a ``tqdm`` bar (``update``);
            ``total_slices`` counts the slices with hole (a volumetric inpainter reports 0 and then all of them).
        cancel: called before each batch (before the single call of a volumetric inpainter); returning True stops
            with :class:`InpaintingCancelled`.

    Returns:
        ``(result, used_hole)``: the inpainted array (same shape and dtype as ``volume``; voxels outside
        ``used_hole`` are bit-identical to the input) and the dilated hole actually filled (bool). An empty hole
        returns a copy of the input without calling the inpainter.

    Raises:
        ValueError: shapes differ, the array is not 2D / 3D, a slice smaller than 2 x 2, a mask covering every voxel,
            NaN or infinite values outside the mask, a bad axis, spacing, margin or batch size, or a volumetric
            inpainter whose ``context_slices`` is not an integer >= 0.
        RuntimeError: the inpainter returned an array of the wrong shape.
        InpaintingCancelled: ``cancel()`` returned True.
    """
    volume = np.asarray(volume)
    hole = np.asarray(hole)
    if volume.ndim not in (2, 3):
        raise ValueError(f"expected a 2D image or a 3D volume, got an array of shape {volume.shape}")
    if hole.shape != volume.shape:
        raise ValueError(f"hole mask of shape {hole.shape} does not match the image of shape {volume.shape}")
    if not np.issubdtype(volume.dtype, np.number) or np.issubdtype(volume.dtype, np.complexfloating):
        raise ValueError(f"expected a real-valued image, got dtype {volume.dtype}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if volume.ndim == 3 and axis not in (0, 1, 2, -1, -2, -3):
        raise ValueError(f"axis must be 0, 1 or 2 for a 3D volume, got {axis}")
    in_plane = volume.shape if volume.ndim == 2 else tuple(n for a, n in enumerate(volume.shape) if a != axis % 3)
    if volume.size == 0 or min(in_plane) < 2:
        raise ValueError(f"image of shape {volume.shape} is too small to inpaint: slices need at least 2 x 2 pixels")
    used_hole = dilate_mm(hole, margin_mm, spacing)
    if not used_hole.any():
        return volume.copy(), used_hole
    if used_hole.all():
        raise ValueError("the (dilated) mask covers the whole image: no known voxel is left to inpaint from")
    if np.issubdtype(volume.dtype, np.floating):
        bad = ~np.isfinite(volume) & ~used_hole
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"the image holds {int(bad.sum())} NaN or infinite voxel(s) outside the mask (first at index {first}); "
                "replace them or add them to the mask"
            )
    # imported here so that mask-only uses of this module (and the command's argument checks) need no PyTorch / MONAI
    from rfr_inpaint.transforms.intensity import CTWindow, fit_intensity, intensity_forward, intensity_inverse

    two_d = volume.ndim == 2
    axis = 0 if two_d else axis % 3
    stack = volume[None] if two_d else np.moveaxis(volume, axis, 0)  # views, (S, H, W)
    hole_stack = used_hole[None] if two_d else np.moveaxis(used_hole, axis, 0)
    indices = slices_with_hole(hole_stack, 0) if not two_d else np.zeros(1, dtype=np.int64)

    # fitted on the known voxels of the processed slices, as every entry point fits it (fit_intensity)
    mapping = fit_intensity(CTWindow() if intensity is None else intensity, stack, hole_stack, axis=0)

    result = volume.copy()
    result_stack = result[None] if two_d else np.moveaxis(result, axis, 0)
    if getattr(inpainter, "volumetric", False):
        sizes = _spacing_for(volume.shape, spacing)
        slab_spacing = (1.0, *sizes) if two_d else (sizes[axis], *(s for a, s in enumerate(sizes) if a != axis))
        _inpaint_slab(
            stack, hole_stack, result_stack, indices, inpainter, mapping, volume.dtype, progress, cancel, slab_spacing
        )
        return result, used_hole
    total = len(indices)
    _report(progress, 0, total, 0)
    for start in range(0, total, batch_size):
        if cancel is not None and cancel():
            raise InpaintingCancelled(f"inpainting cancelled after {start} of {total} slices")
        batch = indices[start : start + batch_size]
        images = np.ascontiguousarray(intensity_forward(stack[batch], mapping), dtype=np.float32)
        holes = np.ascontiguousarray(hole_stack[batch])
        filled = np.asarray(inpainter(images, holes))
        if filled.shape != images.shape:
            raise RuntimeError(f"inpainter returned shape {filled.shape} for input {images.shape}")
        values = cast_to_dtype(intensity_inverse(filled, mapping, dtype=np.float64), volume.dtype)
        for k, index in enumerate(batch):
            result_stack[index][holes[k]] = values[k][holes[k]]
        _report(progress, min(start + batch_size, total), total, len(batch))
    return result, used_hole

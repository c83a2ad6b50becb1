"""Hole-mask generators as MONAI randomizable array transforms.

Array transforms only; their dictionary versions are in :mod:`rfr_inpaint.transforms.dictionary`.

Each transform takes a channel-first image ``(C, H, W)`` (only its spatial shape is used, except by
:class:`RandMetalLikeRegions`, which looks at the intensities to find the body) and **returns the hole mask**, float32
``(1, H, W)``, **1 = hole (to inpaint), 0 = known pixel**, in the image's container type (NumPy array or tensor; a
``MetaTensor`` input gives a ``MetaTensor`` with its metadata). Randomness comes from ``self.R`` so that
``set_random_state(seed)`` makes every generator reproducible.

Protocols of the seed study (256 x 256 images): square holes of side ``256 / ratio`` for ratios 6, 8, 10, 12, or
32 x 32 holes, 1 / 2 / 4 / 8 per image; strips 16 px wide spanning the image, 1 / 2 / 4 per image, horizontal,
vertical or mixed (1 strip: random orientation; 2: one of each; 4: two of each).

:class:`HoleMaskGenerator` selects a generator by name so that an experiment is a configuration change (a list of
names is a MONAI ``OneOf`` mixture)::

    {"_target_": "rfr_inpaint.transforms.HoleMaskGenerator", "kind": "strips", "width": 16, "count": 2,
     "orientation": "mixed"}
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import OneOf, RandomizableTransform
from monai.utils import TransformBackends, convert_to_dst_type
from scipy import ndimage

from rfr_inpaint.defaults import HU_AIR_THRESHOLD
from rfr_inpaint.image_io import read_image

__all__ = [
    "MASK_KINDS",
    "MaskGenerator",
    "RandSquareHoles",
    "RandStrips",
    "RandFreeFormStrokes",
    "RandMetalLikeRegions",
    "LoadExternalMask",
    "HoleMaskGenerator",
    "read_mask_file",
    "spatial_shape_of",
    "body_mask",
]

MASK_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha",
                      ".mhd", ".dcm")


def spatial_shape_of(img: NdarrayOrTensor | Sequence[int]) -> tuple[int, int]:
    """Spatial shape ``(H, W)`` of a channel-first ``(C, H, W)`` image (or the shape itself if given as ints).

    Raises:
        ValueError: not two spatial dimensions, or a side below 2 pixels.
    """
    if isinstance(img, (tuple, list)) and all(isinstance(s, (int, np.integer)) for s in img):
        shape = tuple(int(s) for s in img)
    else:
        full = tuple(int(s) for s in img.shape)
        if len(full) != 3:
            raise ValueError(f"hole masks need a channel-first 2D image (C, H, W), got shape {full}")
        shape = full[1:]
    if len(shape) != 2:
        raise ValueError(f"hole masks need two spatial dimensions, got {shape}")
    if min(shape) < 2:
        raise ValueError(f"image of spatial shape {shape} is too small for a hole mask (at least 2 x 2 pixels)")
    return shape[0], shape[1]


def body_mask(image: np.ndarray, threshold: float = HU_AIR_THRESHOLD, fill_holes: bool = True) -> np.ndarray:
    """The patient's body: the largest 4-connected region above ``threshold``, per slice.

    The one body mask of the package: metal-like holes are placed in it (:class:`RandMetalLikeRegions`, the 3D
    generators) and synthetic metal is inserted in it (:func:`rfr_inpaint.data.synthetic.insert_metal`).

    Args:
        image: ``(H, W)`` slice or ``(D, H, W)`` volume (each slice on its own), in the units of ``threshold``.
        threshold: value separating body from air (default ``rfr_inpaint.defaults.HU_AIR_THRESHOLD``, -500 HU).
        fill_holes: fill the region's internal air (lungs, bowel gas) as part of the body; False gives the tissue.

    Returns:
        boolean array of ``image``'s shape (all False where nothing is above ``threshold``).

    Raises:
        ValueError: ``image`` is neither 2D nor 3D.
    """
    arr = np.asarray(image)
    if arr.ndim == 3:
        return np.stack([body_mask(s, threshold, fill_holes) for s in arr]) if len(arr) else arr.astype(bool)
    if arr.ndim != 2:
        raise ValueError(f"body_mask expects (H, W) or (D, H, W), got shape {arr.shape}")
    fg = (arr > threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
    if n <= 1:
        return np.zeros(arr.shape, dtype=bool)
    largest = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return ndimage.binary_fill_holes(largest) if fill_holes else largest


def _pair(value: int | float | Sequence[int | float], name: str) -> tuple[float, float]:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), float(value)
    vals = tuple(float(v) for v in value)
    if len(vals) != 2:
        raise ValueError(f"{name} must be a number or a pair, got {value!r}")
    return vals[0], vals[1]


def _range(value: int | float | Sequence[int | float], name: str) -> tuple[float, float]:
    lo, hi = _pair(value, name)
    if lo > hi:
        raise ValueError(f"{name} range must be (low, high) with low <= high, got {value!r}")
    return lo, hi


class MaskGenerator(RandomizableTransform):
    """Base class: ``__call__(img)`` draws a new mask (``randomize``) and returns it as float32 ``(1, H, W)``.

    Subclasses implement :meth:`generate` (boolean ``(H, W)`` mask from ``self.R``, given the image).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        self._mask: np.ndarray | None = None

    def generate(self, img: NdarrayOrTensor, shape: tuple[int, int]) -> np.ndarray:
        """Return the boolean hole mask ``(H, W)`` for ``img``, drawing from ``self.R``."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate()")

    def randomize(self, img: NdarrayOrTensor) -> None:
        """Draw a new mask for ``img`` and keep it (``__call__(img, randomize=False)`` returns it again)."""
        super().randomize(None)
        shape = spatial_shape_of(img)
        self._mask = np.asarray(self.generate(img, shape), dtype=bool)

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        """Return the hole mask (float32 ``(1, H, W)``, 1 = hole) for the channel-first image ``img``."""
        if randomize or self._mask is None:
            self.randomize(img)
        assert self._mask is not None
        if self._mask.shape != spatial_shape_of(img):
            raise ValueError(f"the stored mask has shape {self._mask.shape}, the image {spatial_shape_of(img)}")
        out = self._mask[None].astype(np.float32)
        if isinstance(img, (np.ndarray, torch.Tensor)):
            return convert_to_dst_type(out, img, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32)[
                0
            ]
        return out


class RandSquareHoles(MaskGenerator):
    """Randomly placed square (or rectangular) holes fully inside the image.

    Args:
        size: side in pixels (int, or ``(h, w)``). Exclusive with ``hole_ratio``.
        hole_ratio: side = image side / ratio (per axis), e.g. 8 gives 32 px on 256 px. A pair ``(lo, hi)`` draws
            the ratio uniformly per mask. When neither ``size`` nor ``hole_ratio`` is given, ``hole_ratio=8``.
        count: number of holes (int, or ``(lo, hi)`` inclusive range drawn per mask).
        overlap: allow holes to overlap (default True, as random placement does). False places them apart and
            raises if the image cannot hold them.

    Raises:
        ValueError: both / invalid size options, a hole larger than the image, or non-overlapping holes that
            cannot be placed.
    """

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        hole_ratio: float | Sequence[float] | None = None,
        count: int | Sequence[int] = 1,
        overlap: bool = True,
    ):
        super().__init__()
        if size is not None and hole_ratio is not None:
            raise ValueError("give either size or hole_ratio, not both")
        if size is None and hole_ratio is None:
            hole_ratio = 8.0
        self.size = None if size is None else tuple(int(v) for v in _pair(size, "size"))
        self.hole_ratio = None if hole_ratio is None else _range(hole_ratio, "hole_ratio")
        if self.size is not None and min(self.size) < 1:
            raise ValueError(f"size must be >= 1 pixel, got {size!r}")
        if self.hole_ratio is not None and self.hole_ratio[0] < 1.0:
            raise ValueError(f"hole_ratio must be >= 1, got {hole_ratio!r}")
        lo, hi = _range(count, "count")
        if lo < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        self.count = (int(lo), int(hi))
        self.overlap = overlap

    def hole_size(self, shape: tuple[int, int], ratio: float | None = None) -> tuple[int, int]:
        """Hole ``(h, w)`` in pixels for an image of ``shape`` (``ratio`` overrides a drawn ratio)."""
        if self.size is not None:
            hs, ws = self.size
        else:
            r = ratio if ratio is not None else self.hole_ratio[0]  # type: ignore[index]
            hs, ws = max(int(round(shape[0] / r)), 1), max(int(round(shape[1] / r)), 1)
        if hs > shape[0] or ws > shape[1]:
            raise ValueError(f"a {hs} x {ws} hole does not fit in a {shape[0]} x {shape[1]} image")
        return hs, ws

    def generate(self, img: NdarrayOrTensor, shape: tuple[int, int]) -> np.ndarray:
        ratio = None
        if self.hole_ratio is not None:
            ratio = float(self.R.uniform(*self.hole_ratio)) if self.hole_ratio[1] > self.hole_ratio[0] else None
        hs, ws = self.hole_size(shape, ratio)
        n = int(self.R.randint(self.count[0], self.count[1] + 1))
        mask = np.zeros(shape, dtype=bool)
        for i in range(n):
            for _ in range(1 if self.overlap else 200):
                r0 = int(self.R.randint(0, shape[0] - hs + 1))
                c0 = int(self.R.randint(0, shape[1] - ws + 1))
                if self.overlap or not mask[r0 : r0 + hs, c0 : c0 + ws].any():
                    break
            else:
                raise ValueError(f"cannot place {n} non-overlapping {hs} x {ws} holes in a {shape} image (hole {i})")
            mask[r0 : r0 + hs, c0 : c0 + ws] = True
        return mask


def strip_orientations(count: int, orientation: str, rng: np.random.RandomState) -> list[str]:
    """Orientations of ``count`` strips: fixed, or ``mixed`` as in the seed study.

    ``mixed``: 1 strip takes a random orientation; an even count is half horizontal, half vertical; an odd count
    above 1 is half of each plus one of random orientation. The order is shuffled.
    """
    if orientation in ("horizontal", "vertical"):
        return [orientation] * count
    if orientation != "mixed":
        raise ValueError(f"orientation must be 'horizontal', 'vertical' or 'mixed', got {orientation!r}")
    out = ["horizontal"] * (count // 2) + ["vertical"] * (count // 2)
    if count % 2:
        out.append("horizontal" if rng.rand() < 0.5 else "vertical")
    rng.shuffle(out)
    return out


class RandStrips(MaskGenerator):
    """Strips ``width`` pixels wide spanning the whole image, at random positions.

    Args:
        width: strip width in pixels (int or ``(lo, hi)`` range drawn per strip).
        count: number of strips (int or ``(lo, hi)`` inclusive range drawn per mask).
        orientation: ``"horizontal"`` (rows), ``"vertical"`` (columns) or ``"mixed"`` (see
            :func:`strip_orientations`: 2 strips are one of each, 4 strips two of each).
        overlap: allow parallel strips to overlap (default True). False keeps them apart.

    Raises:
        ValueError: bad options, a strip wider than the image, or non-overlapping strips that do not fit.
    """

    def __init__(
        self,
        width: int | Sequence[int] = 16,
        count: int | Sequence[int] = 1,
        orientation: str = "horizontal",
        overlap: bool = True,
    ):
        super().__init__()
        wlo, whi = _range(width, "width")
        clo, chi = _range(count, "count")
        if wlo < 1 or clo < 1:
            raise ValueError(f"width and count must be >= 1, got width={width!r}, count={count!r}")
        strip_orientations(1, orientation, np.random.RandomState(0))  # validates
        self.width = (int(wlo), int(whi))
        self.count = (int(clo), int(chi))
        self.orientation = orientation
        self.overlap = overlap
        self.last_orientations: list[str] = []

    def generate(self, img: NdarrayOrTensor, shape: tuple[int, int]) -> np.ndarray:
        n = int(self.R.randint(self.count[0], self.count[1] + 1))
        orientations = strip_orientations(n, self.orientation, self.R)
        self.last_orientations = orientations
        mask = np.zeros(shape, dtype=bool)
        taken = {"horizontal": np.zeros(shape[0], dtype=bool), "vertical": np.zeros(shape[1], dtype=bool)}
        for o in orientations:
            w = int(self.R.randint(self.width[0], self.width[1] + 1))
            extent = shape[0] if o == "horizontal" else shape[1]
            if w > extent:
                raise ValueError(f"a {w} px strip does not fit across a {shape[0]} x {shape[1]} image")
            for _ in range(1 if self.overlap else 200):
                start = int(self.R.randint(0, extent - w + 1))
                if self.overlap or not taken[o][start : start + w].any():
                    break
            else:
                raise ValueError(f"cannot place {n} non-overlapping {w} px strips in a {shape} image")
            taken[o][start : start + w] = True
            if o == "horizontal":
                mask[start : start + w, :] = True
            else:
                mask[:, start : start + w] = True
        return mask


class RandFreeFormStrokes(MaskGenerator):
    """Random brush strokes (polylines with round joints), as the irregular masks of RFR / partial convolutions.

    Each stroke starts at a random point and makes ``1 .. max_vertices`` moves of random direction (turning by up
    to ``max_angle`` from the previous one) and length ``1 .. max_length`` px with a brush of width
    ``min_brush_width .. max_brush_width``. Defaults suit 256 px images.

    Args:
        max_vertices: most moves per stroke.
        max_length: longest move in pixels.
        max_brush_width: widest brush in pixels.
        min_brush_width: narrowest brush in pixels.
        max_angle: largest turn between moves, in radians.
        strokes: number of strokes (int or ``(lo, hi)``).
        area_range: optional ``(lo, hi)`` fraction of the image the hole must cover; masks are redrawn (up to
            ``max_tries``) until one fits, else the closest is returned.
        max_tries: redraws allowed for ``area_range``.

    Raises:
        ValueError: invalid options.
    """

    def __init__(
        self,
        max_vertices: int = 8,
        max_length: float = 60.0,
        max_brush_width: int = 24,
        min_brush_width: int = 8,
        max_angle: float = math.pi / 2,
        strokes: int | Sequence[int] = (1, 4),
        area_range: Sequence[float] | None = None,
        max_tries: int = 20,
    ):
        super().__init__()
        if max_vertices < 1 or max_length < 1 or min_brush_width < 1 or max_brush_width < min_brush_width:
            raise ValueError(
                "free-form strokes need max_vertices >= 1, max_length >= 1 and 1 <= min_brush_width <= max_brush_width"
            )
        slo, shi = _range(strokes, "strokes")
        if slo < 1:
            raise ValueError(f"strokes must be >= 1, got {strokes!r}")
        self.max_vertices = int(max_vertices)
        self.max_length = float(max_length)
        self.max_brush_width = int(max_brush_width)
        self.min_brush_width = int(min_brush_width)
        self.max_angle = float(max_angle)
        self.strokes = (int(slo), int(shi))
        self.area_range = None if area_range is None else _range(area_range, "area_range")
        if self.area_range is not None and not 0.0 <= self.area_range[0] <= self.area_range[1] <= 1.0:
            raise ValueError(f"area_range must lie in [0, 1], got {area_range!r}")
        self.max_tries = max(int(max_tries), 1)

    def _draw(self, shape: tuple[int, int]) -> np.ndarray:
        h, w = shape
        canvas = np.zeros((h, w), dtype=np.uint8)
        for _ in range(int(self.R.randint(self.strokes[0], self.strokes[1] + 1))):
            x, y = float(self.R.uniform(0, w)), float(self.R.uniform(0, h))
            angle = float(self.R.uniform(0, 2 * math.pi))
            brush = int(self.R.randint(self.min_brush_width, self.max_brush_width + 1))
            for _ in range(int(self.R.randint(1, self.max_vertices + 1))):
                angle += float(self.R.uniform(-self.max_angle, self.max_angle))
                length = float(self.R.uniform(1.0, self.max_length))
                nx = float(np.clip(x + length * math.cos(angle), 0, w - 1))
                ny = float(np.clip(y + length * math.sin(angle), 0, h - 1))
                cv2.line(canvas, (round(x), round(y)), (round(nx), round(ny)), 1, brush)
                cv2.circle(canvas, (round(nx), round(ny)), brush // 2, 1, -1)
                x, y = nx, ny
        return canvas.astype(bool)

    def generate(self, img: NdarrayOrTensor, shape: tuple[int, int]) -> np.ndarray:
        best, best_gap = None, math.inf
        for _ in range(self.max_tries if self.area_range is not None else 1):
            mask = self._draw(shape)
            if self.area_range is None:
                return mask
            area = float(mask.mean())
            gap = max(self.area_range[0] - area, area - self.area_range[1], 0.0)
            if gap < best_gap:
                best, best_gap = mask, gap
            if gap == 0.0:
                break
        assert best is not None
        return best


class RandMetalLikeRegions(MaskGenerator):
    """Compact blobs (ellipses and unions of two or three ellipses) placed inside the body, as metal implants.

    The body's tissue is the largest connected region brighter than ``body_threshold``; the body is that region with
    its internal air (lungs, bowel gas) filled. Blob centres are drawn from tissue pixels at least ``margin`` px plus
    the blob radius from any air, and each blob is clipped to the body, so no hole pixel lies in the air outside.

    Args:
        count: number of blobs (int or ``(lo, hi)``).
        radius: range of blob semi-axes in pixels.
        body_threshold: intensity above which a pixel is body, in the image's units (e.g. -500 for HU, 0.12 for
            an image windowed to [0, 1] with -1024 .. 3071). None: 15 % of the way from the image's minimum to its
            maximum.
        margin: distance in pixels kept from the body border.
        on_empty: what to do when no body is found: ``"error"`` (default) or ``"anywhere"`` (place blobs anywhere).

    Raises:
        ValueError: invalid options; no body in the image with ``on_empty="error"``.
    """

    def __init__(
        self,
        count: int | Sequence[int] = (1, 3),
        radius: Sequence[float] = (3.0, 10.0),
        body_threshold: float | None = None,
        margin: int = 2,
        on_empty: str = "error",
    ):
        super().__init__()
        clo, chi = _range(count, "count")
        rlo, rhi = _range(radius, "radius")
        if clo < 1 or rlo < 0.5:
            raise ValueError(f"count must be >= 1 and radius >= 0.5 px, got count={count!r}, radius={radius!r}")
        if on_empty not in ("error", "anywhere"):
            raise ValueError(f"on_empty must be 'error' or 'anywhere', got {on_empty!r}")
        self.count = (int(clo), int(chi))
        self.radius = (rlo, rhi)
        self.body_threshold = body_threshold
        self.margin = int(margin)
        self.on_empty = on_empty

    def _regions(self, img: NdarrayOrTensor) -> tuple[np.ndarray, np.ndarray]:
        """``(body with internal air filled, tissue of the body)`` as boolean ``(H, W)`` masks."""
        arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        arr = arr[0].astype(np.float32)
        if not np.isfinite(arr).all():
            raise ValueError("RandMetalLikeRegions: the image holds NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        thr = lo + 0.15 * (hi - lo) if self.body_threshold is None else float(self.body_threshold)
        tissue = body_mask(arr, thr, fill_holes=False)
        return ndimage.binary_fill_holes(tissue), tissue

    def generate(self, img: NdarrayOrTensor, shape: tuple[int, int]) -> np.ndarray:
        body, tissue = self._regions(img)
        if not body.any():
            if self.on_empty == "error":
                raise ValueError("RandMetalLikeRegions: no body found in the image (all pixels below body_threshold)")
            body = tissue = np.ones(shape, dtype=bool)
        # centres in tissue (implants sit in bone / soft tissue, not in the lungs), blobs clipped to the body
        dist = ndimage.distance_transform_edt(tissue)
        mask = np.zeros(shape, dtype=bool)
        rows, cols = np.mgrid[: shape[0], : shape[1]]
        n = int(self.R.randint(self.count[0], self.count[1] + 1))
        for _ in range(n):
            ax = float(self.R.uniform(*self.radius))
            ay = ax * float(self.R.uniform(0.5, 1.0))
            need = min(max(ax, ay) + self.margin, float(dist.max()) * 0.999)
            cand = np.argwhere(dist >= need)
            if cand.size == 0:
                cand = np.argwhere(dist == dist.max())
            cy, cx = cand[int(self.R.randint(len(cand)))]
            for part in range(int(self.R.randint(1, 4))):  # a union of 1..3 ellipses: compact, irregular
                angle = float(self.R.uniform(0, math.pi))
                oy = cy + (float(self.R.uniform(-0.5, 0.5)) * ay if part else 0.0)
                ox = cx + (float(self.R.uniform(-0.5, 0.5)) * ax if part else 0.0)
                c, s = math.cos(angle), math.sin(angle)
                u = c * (cols - ox) + s * (rows - oy)
                v = -s * (cols - ox) + c * (rows - oy)
                scale = 1.0 if part == 0 else float(self.R.uniform(0.5, 0.9))
                mask |= (u / (ax * scale)) ** 2 + (v / (ay * scale)) ** 2 <= 1.0
            mask[cy, cx] = True
        return mask & body


def read_mask_file(path: str | os.PathLike, slice_index: int | None = None) -> np.ndarray:
    """Read a mask file (PNG / JPEG / NIfTI / NRRD / MHA / DICOM) as a 2D float array ``(H, W)``.

    Reading goes through :func:`rfr_inpaint.image_io.read_image` (SimpleITK); singleton dimensions are dropped.

    Args:
        path: the file.
        slice_index: for a 3D mask, the slice (first array axis, i.e. the slowest image axis) to take.

    Returns:
        float32 ``(H, W)`` values as stored.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be read (``ImageIOError``), or is 3D without ``slice_index``, or is empty.
    """
    arr = read_image(path).array.astype(np.float32)
    arr = np.squeeze(arr)
    path = Path(path)
    if arr.ndim == 3:
        if slice_index is None:
            raise ValueError(f"{path}: the mask is 3D {arr.shape}; give slice_index to take one slice")
        if not -arr.shape[0] <= slice_index < arr.shape[0]:
            raise ValueError(f"{path}: slice_index {slice_index} out of range for {arr.shape[0]} slices")
        arr = arr[slice_index]
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(f"{path}: expected a 2D mask, got array shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{path}: the mask holds NaN or infinite values")
    return arr


class LoadExternalMask(MaskGenerator):
    """Hole masks read from files (PNG, JPEG, NIfTI, NRRD, MHA, DICOM), thresholded, resized (nearest) to the image.

    Values are divided by the file's maximum when that exceeds 1 (so 0 / 255 PNGs and 0 / 1 label maps both work)
    and pixels above ``threshold`` are holes; ``labels`` selects label values instead. Given a folder or a list,
    each call picks one file at random (``self.R``). Read masks are cached.

    Args:
        path: a mask file, a folder of mask files, or a list of files. May be None when each call passes ``path``.
        threshold: hole where the scaled value exceeds it.
        labels: label values counted as holes (instead of ``threshold``).
        invert: the files use 1 = valid (as the RFR authors' masks): swap holes and known pixels.
        resize: resize to the image's spatial shape with nearest neighbour; False raises on a shape mismatch.
        slice_index: slice to take from 3D mask files.
        cache_size: number of masks kept in memory.

    Raises:
        FileNotFoundError / ValueError: missing, unreadable or empty inputs (the message names the file); a shape
            mismatch with ``resize=False``.
    """

    def __init__(
        self,
        path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        threshold: float = 0.5,
        labels: Sequence[float] | None = None,
        invert: bool = False,
        resize: bool = True,
        slice_index: int | None = None,
        cache_size: int = 64,
    ):
        super().__init__()
        self.files = self._list_files(path) if path is not None else []
        self.threshold = float(threshold)
        self.labels = None if labels is None else [float(v) for v in labels]
        self.invert = invert
        self.resize = resize
        self.slice_index = slice_index
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.last_path: Path | None = None

    @staticmethod
    def _list_files(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
        if isinstance(path, (str, os.PathLike)):
            p = Path(path)
            if p.is_dir():
                files = sorted(f for f in p.iterdir() if f.is_file() and f.name.lower().endswith(MASK_FILE_SUFFIXES))
                if not files:
                    raise ValueError(f"{p}: the mask folder holds no mask files ({', '.join(MASK_FILE_SUFFIXES)})")
                return files
            if not p.is_file():
                raise FileNotFoundError(f"{p}: mask file or folder not found")
            return [p]
        files = [Path(f) for f in path]
        if not files:
            raise ValueError("the list of mask files is empty")
        for f in files:
            if not f.is_file():
                raise FileNotFoundError(f"{f}: mask file not found")
        return files

    def load(self, path: str | os.PathLike) -> np.ndarray:
        """Boolean ``(H, W)`` hole mask of one file at its own size (cached)."""
        key = str(path)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        arr = read_mask_file(path, self.slice_index)
        if self.labels is not None:
            hole = np.isin(arr, self.labels)
        else:
            peak = float(arr.max())
            scaled = arr / peak if peak > 1.0 else arr
            hole = scaled > self.threshold
        if self.invert:
            hole = ~hole
        self._cache[key] = hole
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return hole

    def fit(self, hole: np.ndarray, shape: tuple[int, int], path: Any) -> np.ndarray:
        """Resize (nearest) ``hole`` to ``shape``, or raise naming ``path`` if resizing is off."""
        if hole.shape == shape:
            return hole
        if not self.resize:
            raise ValueError(f"{path}: mask shape {hole.shape} differs from the image's spatial shape {shape}")
        return cv2.resize(hole.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)

    def randomize(self, img: NdarrayOrTensor, path: str | os.PathLike | None = None) -> None:  # type: ignore[override]
        """Build the mask for ``img`` from ``path`` if given, else from a file picked at random."""
        if path is None:
            super().randomize(img)
            return
        RandomizableTransform.randomize(self, None)
        self.last_path = Path(path)
        self._mask = self.fit(self.load(path), spatial_shape_of(img), path)

    def __call__(  # type: ignore[override]
        self, img: NdarrayOrTensor, path: str | os.PathLike | None = None, randomize: bool = True
    ) -> NdarrayOrTensor:
        """Return the hole mask (float32 ``(1, H, W)``) from ``path`` (or a file of the constructor's list)."""
        if randomize or self._mask is None or path is not None:
            self.randomize(img, path)
        return super().__call__(img, randomize=False)

    def generate(self, img: NdarrayOrTensor, shape: tuple[int, int]) -> np.ndarray:
        if not self.files:
            raise ValueError("LoadExternalMask: no mask path given (constructor or call)")
        path = self.files[int(self.R.randint(len(self.files)))]
        self.last_path = path
        return self.fit(self.load(path), shape, path)


#: Names accepted by :class:`HoleMaskGenerator` (aliases map to the same generator).
MASK_KINDS: dict[str, type[MaskGenerator]] = {
    "square": RandSquareHoles,
    "squares": RandSquareHoles,
    "strip": RandStrips,
    "strips": RandStrips,
    "free_form": RandFreeFormStrokes,
    "freeform": RandFreeFormStrokes,
    "strokes": RandFreeFormStrokes,
    "metal": RandMetalLikeRegions,
    "metal_like": RandMetalLikeRegions,
    "external": LoadExternalMask,
    "file": LoadExternalMask,
}


class HoleMaskGenerator(RandomizableTransform):
    """One entry point that builds a hole-mask generator from a name and options (bundle JSON friendly).

    ``kind`` may also be a list of names (with ``kind_params``, one dict per kind, and ``kind_probs``): each call
    then picks one generator at random through MONAI's ``OneOf(weights=kind_probs)``, e.g. a mixture of squares and
    strips. A single kind is that generator itself.

    Args:
        kind: ``square(s)``, ``strip(s)``, ``free_form`` / ``strokes``, ``metal`` / ``metal_like``,
            ``external`` / ``file``, or a list of them.
        kind_params: for a list of kinds, the options of each.
        kind_probs: for a list of kinds, their probabilities (default uniform; normalised by ``OneOf``).
        params: options of the single generator (e.g. ``hole_ratio=8, count=2``).

    Raises:
        ValueError: unknown kind, inconsistent lists, or negative / all-zero ``kind_probs``. When drawing, a
            generator's error is raised as is for a single kind; ``OneOf`` raises it as the cause of a
            ``RuntimeError`` for a mixture, as every MONAI composition does.

    Examples::

        gen = HoleMaskGenerator("strips", width=16, count=4, orientation="mixed")
        gen.set_random_state(0)
        hole = gen(image)  # (1, H, W) float32, 1 = hole
    """

    backend = MaskGenerator.backend

    def __init__(
        self,
        kind: str | Sequence[str] = "square",
        kind_params: Sequence[dict[str, Any]] | None = None,
        kind_probs: Sequence[float] | None = None,
        **params: Any,
    ):
        RandomizableTransform.__init__(self, prob=1.0)
        kinds = [kind] if isinstance(kind, str) else list(kind)
        if not kinds:
            raise ValueError("kind must name at least one mask generator")
        if len(kinds) == 1:
            all_params = [dict(params)] if kind_params is None else [dict(p) for p in kind_params]
        else:
            if params:
                raise ValueError("with several kinds, give each one's options in kind_params")
            all_params = [{} for _ in kinds] if kind_params is None else [dict(p) for p in kind_params]
        if len(all_params) != len(kinds):
            raise ValueError(f"kind_params has {len(all_params)} entries for {len(kinds)} kinds")
        self.generators: list[MaskGenerator] = []
        for name, kw in zip(kinds, all_params):
            cls = MASK_KINDS.get(str(name).lower())
            if cls is None:
                raise ValueError(f"unknown hole mask kind {name!r}; expected one of {sorted(MASK_KINDS)}")
            self.generators.append(cls(**kw))
        if kind_probs is not None and len(kind_probs) != len(kinds):
            raise ValueError(f"kind_probs has {len(kind_probs)} entries for {len(kinds)} kinds")
        self.kinds = kinds
        # several kinds: OneOf draws one per call (it checks and normalises the weights); one kind: the generator
        self.mixture: OneOf | None = None
        if len(kinds) > 1:
            self.mixture = OneOf(self.generators, weights=None if kind_probs is None else list(kind_probs))
        self.kind_probs = np.asarray(self.mixture.weights if self.mixture is not None else [1.0], dtype=float)
        self._hole: NdarrayOrTensor | None = None

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        if self.mixture is not None:
            self.mixture.set_random_state(seed=int(self.R.randint(0, 2**31 - 1)))  # seeds each generator too
        else:
            self.generators[0].set_random_state(seed=int(self.R.randint(0, 2**31 - 1)))
        return self

    def randomize(self, img: NdarrayOrTensor) -> None:
        """Draw a new hole for ``img`` (``OneOf`` picks the generator of a mixture) and keep it."""
        super().randomize(None)
        self._hole = self.mixture(img) if self.mixture is not None else self.generators[0](img)

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        """Return the hole mask (float32 ``(1, H, W)``, 1 = hole) for ``img``; ``randomize=False`` returns the kept one.

        Raises:
            ValueError: the kept mask does not have ``img``'s spatial shape.
        """
        if randomize or self._hole is None:
            self.randomize(img)
        assert self._hole is not None
        hole = self._hole
        if tuple(hole.shape[1:]) != spatial_shape_of(img):
            raise ValueError(f"the stored mask has shape {tuple(hole.shape[1:])}, the image {spatial_shape_of(img)}")
        if isinstance(img, (np.ndarray, torch.Tensor)):
            dtype = torch.float32 if isinstance(img, torch.Tensor) else np.float32
            return convert_to_dst_type(hole, img, dtype=dtype)[0]
        return hole

"""Classical inpainters (the methods users would reach for instead of RFR-Net), with the project's interface.

Every inpainter is a callable ``inpainter(images, holes) -> images`` on ``(N, H, W)`` (or ``(H, W)``) float32
stacks in [0, 1] and boolean hole masks (True = hole). Results are composited: known pixels are returned
bit-identical, only hole pixels change, and the output is float32 and finite.

Shared rules:

* a slice whose hole is empty is returned unchanged;
* a slice without any known pixel (all hole) is filled with ``fill_value`` (default 0.5, mid-grey);
* filled values are clipped to the range of the slice's known pixels (as scikit-image does for biharmonic),
  so no method invents intensities brighter or darker than the data.

``biharmonic3d`` (:class:`Biharmonic3DInpainter`) is the volumetric exception: it fills a stack of consecutive
slices as one 3-D problem (an all-hole *stack* gets ``fill_value``; values are clipped to the stack's known range).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse.linalg import spsolve
from skimage.restoration import inpaint_biharmonic

__all__ = [
    "ClassicalInpainter",
    "BiharmonicInpainter",
    "TeleaInpainter",
    "NavierStokesInpainter",
    "MeanFillInpainter",
    "Biharmonic3DInpainter",
    "SpacedBiharmonic3DInpainter",
    "SelfTunedBiharmonic3DInpainter",
    "axis_weights",
    "biharmonic_fill_3d",
    "BASELINES",
    "make_baseline",
]

_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity
_BIHARMONIC_RADIUS = 2  # stencil radius of scikit-image's biharmonic inpainting
_CROSS_IN_PLANE = ndi.generate_binary_structure(2, 1)[None]  # grows a stack's masks within each slice only


class ClassicalInpainter:
    """Base class: input checks, per-slice loop, empty / all-hole handling, clipping and compositing.

    Subclasses implement :meth:`_fill_slice` for one 2-D slice that has both hole and known pixels; they receive the
    slice with its hole pixels set to 0, so the content of the hole never influences a result.

    Args:
        fill_value: value given to every pixel of a slice that has no known pixel.
    """

    #: short name used in :data:`BASELINES` and reports.
    name = "classical"

    def __init__(self, fill_value: float = 0.5) -> None:
        if not np.isfinite(fill_value):
            raise ValueError(f"{type(self).__name__}: fill_value must be finite, got {fill_value}")
        self.fill_value = float(fill_value)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def _fill_slice(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _fill_slice")

    def _validated(self, images: np.ndarray, holes: np.ndarray, stack_axis: str) -> tuple[np.ndarray, np.ndarray]:
        """``images`` and boolean ``holes`` as arrays, checked to be 2-D / 3-D arrays of one shape."""
        images = np.asarray(images)
        holes = np.asarray(holes)
        if images.shape != holes.shape or images.ndim not in (2, 3):
            raise ValueError(
                f"{type(self).__name__}: images and holes must be ({stack_axis}, H, W) or (H, W) arrays of the same "
                f"shape, got {images.shape} and {holes.shape}"
            )
        return images, (holes if holes.dtype == bool else holes > 0.5)

    def __call__(self, images: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """Inpaint the hole pixels of every slice.

        Args:
            images: ``(N, H, W)`` or ``(H, W)`` array in [0, 1] (converted to float32).
            holes: boolean (or 0 / 1) array of the same shape, True = hole.

        Returns:
            float32 array of the input's shape; known pixels bit-identical to ``images``.

        Raises:
            ValueError: shapes differ, are not 2-D / 3-D, or the known pixels are not finite.
        """
        images, holes = self._validated(images, holes, "N")
        squeeze = images.ndim == 2
        stack = images[None] if squeeze else images
        hole_stack = holes[None] if squeeze else holes
        stack = stack.astype(np.float32, copy=False)
        if not np.isfinite(stack[~hole_stack]).all():
            raise ValueError(f"{type(self).__name__}: the known pixels contain NaN or infinite values")
        out = stack.copy()
        for i in range(stack.shape[0]):
            hole = hole_stack[i]
            if not hole.any():
                continue
            known = stack[i][~hole]
            if known.size == 0:
                out[i] = self.fill_value
                continue
            # hole pixels are zeroed first: whatever the caller left there (e.g. the truth) never reaches a method
            src = np.where(hole, np.float32(0), stack[i])
            filled = np.asarray(self._fill_slice(src, hole), dtype=np.float32)
            filled = np.clip(np.nan_to_num(filled, nan=float(known.mean())), known.min(), known.max())
            out[i] = np.where(hole, filled, stack[i])
        return out[0] if squeeze else out


class BiharmonicInpainter(ClassicalInpainter):
    """Biharmonic inpainting (:func:`skimage.restoration.inpaint_biharmonic`).

    Each slice is solved whole (exact): scikit-image already builds its sparse system over the hole pixels only, so
    solving crops around the holes was measured no faster and differed from the exact solution near large holes.

    Args:
        fill_value: value of an all-hole slice.
    """

    name = "biharmonic"

    def __init__(self, fill_value: float = 0.5) -> None:
        super().__init__(fill_value)

    def _fill_slice(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return inpaint_biharmonic(image.astype(np.float64), hole)


class _OpenCVInpainter(ClassicalInpainter):
    """Base of the OpenCV inpainters (``cv2.inpaint``)."""

    flag = cv2.INPAINT_TELEA

    def __init__(self, radius: float = 3.0, fill_value: float = 0.5) -> None:
        super().__init__(fill_value)
        if not radius > 0:
            raise ValueError(f"{type(self).__name__}: radius must be > 0, got {radius}")
        self.radius = float(radius)


class TeleaInpainter(_OpenCVInpainter):
    """Fast-marching inpainting of Telea (2004) (``cv2.inpaint(..., cv2.INPAINT_TELEA)``).

    OpenCV's float32 path of this method overshoots (values > 1 measured on a [0, 1] ramp), so each slice is mapped
    linearly from its known-pixel range to 16-bit integers, inpainted, and mapped back (quantisation step
    1 / 65535 of the known range).

    Args:
        radius: neighbourhood radius in pixels (OpenCV's ``inpaintRadius``).
        fill_value: value of an all-hole slice.
    """

    name = "telea"
    flag = cv2.INPAINT_TELEA

    def _fill_slice(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        known = image[~hole]
        lo, hi = float(known.min()), float(known.max())
        if hi <= lo:
            return np.full(image.shape, lo, dtype=np.float32)
        scaled = np.round((np.clip(image, lo, hi) - lo) / (hi - lo) * 65535.0).astype(np.uint16)
        filled = cv2.inpaint(scaled, hole.astype(np.uint8), self.radius, self.flag)
        return filled.astype(np.float64) / 65535.0 * (hi - lo) + lo


class NavierStokesInpainter(_OpenCVInpainter):
    """Navier-Stokes inpainting of Bertalmio et al. (2001) (``cv2.inpaint(..., cv2.INPAINT_NS)``) on float32.

    Args:
        radius: neighbourhood radius in pixels (OpenCV's ``inpaintRadius``).
        fill_value: value of an all-hole slice.
    """

    name = "ns"
    flag = cv2.INPAINT_NS

    def _fill_slice(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return cv2.inpaint(image.astype(np.float32), hole.astype(np.uint8), self.radius, self.flag)


class MeanFillInpainter(ClassicalInpainter):
    """Fill each hole component (8-connected) with the mean of the known pixels in a ring around it.

    The ring is the component dilated by ``ring_width`` pixels, minus every hole pixel. A component whose ring
    holds no known pixel gets the mean of all known pixels of the slice.

    Args:
        ring_width: width of the ring in pixels.
        fill_value: value of an all-hole slice.
    """

    name = "mean"

    def __init__(self, ring_width: int = 3, fill_value: float = 0.5) -> None:
        super().__init__(fill_value)
        if int(ring_width) < 1:
            raise ValueError(f"MeanFillInpainter: ring_width must be >= 1 pixel, got {ring_width}")
        self.ring_width = int(ring_width)

    def _fill_slice(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        out = image.astype(np.float64)
        slice_mean = float(image[~hole].mean(dtype=np.float64))
        labels, _ = ndi.label(hole, structure=_EIGHT)
        w = self.ring_width
        for label, box in enumerate(ndi.find_objects(labels), start=1):
            if box is None:
                continue
            grown = tuple(slice(max(s.start - w, 0), min(s.stop + w, size)) for s, size in zip(box, hole.shape))
            component = labels[grown] == label
            ring = ndi.binary_dilation(component, structure=_EIGHT, iterations=w) & ~hole[grown]
            value = float(image[grown][ring].mean(dtype=np.float64)) if ring.any() else slice_mean
            out[grown][component] = value
        return out


def _merge_grown_boxes(boxes: list[tuple[slice, ...]], grow: int, shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Grow n-D boxes by ``grow`` voxels (clipped to ``shape``) and merge those that intersect, until none do."""
    current = [
        tuple(slice(max(b.start - grow, 0), min(b.stop + grow, n)) for b, n in zip(box, shape)) for box in boxes
    ]
    merged = True
    while merged:
        merged = False
        out: list[tuple[slice, ...]] = []
        for box in current:
            for k, other in enumerate(out):
                if all(a.start < b.stop and b.start < a.stop for a, b in zip(box, other)):
                    out[k] = tuple(slice(min(a.start, b.start), max(a.stop, b.stop)) for a, b in zip(box, other))
                    merged = True
                    break
            else:
                out.append(box)
        current = out
    return current


def _second_difference(n: int) -> sparse.csr_matrix:
    """The 1-D second difference on ``n`` samples, mirrored at both ends (zero flux: no value beyond the end)."""
    main = np.full(n, -2.0)
    if n > 1:
        main[[0, -1]] = -1.0
    else:
        main[:] = 0.0
    return sparse.diags([np.ones(n - 1), main, np.ones(n - 1)], [-1, 0, 1], format="csr")


def _weighted_biharmonic(src: np.ndarray, hole: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Solve ``L(L(u)) = 0`` on the hole voxels of ``src`` (known voxels fixed), with ``L`` the sum over the axes of
    the second difference along axis ``d`` times ``weights[d]`` (all 1: scikit-image's equation).

    Rows of ``L`` at the box's faces are mirrored (they only matter where the box is cut by the volume's edge; that
    is how scikit-image treats an image's edge too)."""
    shape = src.shape
    lap = None
    for axis, n in enumerate(shape):
        factors = [sparse.identity(m, format="csr") for m in shape]
        factors[axis] = _second_difference(n) * weights[axis]
        term = factors[0]
        for f in factors[1:]:
            term = sparse.kron(term, f, format="csr")
        lap = term if lap is None else lap + term
    unknown = hole.ravel()
    rows = (lap[unknown] @ lap).tocsr()  # the equations of the hole voxels only
    values = src.ravel().astype(np.float64)
    rhs = -(rows[:, ~unknown] @ values[~unknown])
    out = values.copy()
    # scikit-image's column ordering for this system: on these stencils it fills in far less than SciPy's default
    # (COLAMD): 1.7x faster over the benchmark's CT cases, the same solution
    out[unknown] = spsolve(rows[:, unknown].tocsc(), rhs, permc_spec="MMD_ATA")
    return out.reshape(shape)


def axis_weights(spacing: tuple[float, ...], exponent: float) -> np.ndarray:
    """Weights of the axes' second differences for :func:`biharmonic_fill_3d`: ``(min(spacing) / spacing) **
    exponent`` (2: the Laplacian of the physical grid; 0: every axis one unit apart, as scikit-image)."""
    h = np.asarray(spacing, dtype=np.float64)
    if h.ndim != 1 or not np.all(np.isfinite(h) & (h > 0)):
        raise ValueError(f"spacing must be positive and finite, got {spacing}")
    return (h.min() / h) ** float(exponent)


def biharmonic_fill_3d(volume: np.ndarray, hole: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Biharmonic inpainting of a 3-D stack, solved on one padded sub-volume per group of hole components.

    :func:`skimage.restoration.inpaint_biharmonic` couples a hole voxel only to the voxels within its stencil radius
    (2), so solving each hole component (26-connected) on its bounding box grown beyond that radius gives the solution
    of the whole volume exactly, at a cost that follows the hole's size instead of the volume's. Components whose
    grown boxes intersect are solved together. As scikit-image does on the whole volume, filled values are clipped to
    the range of the stack's known voxels.

    Args:
        volume: ``(S, H, W)`` float array; hole voxels may hold anything (they are not read).
        hole: boolean array of the same shape, True = hole.
        weights: one weight per axis for its second differences (:func:`axis_weights`). ``None``: scikit-image's
            solver (every axis one unit apart); given: the same equation with weighted axes, solved with SciPy's
            sparse solver (scikit-image has no spacing), equal to scikit-image's for weights of 1.

    Returns:
        float32 copy of ``volume`` with the hole filled (known voxels bit-identical). A stack without known voxels is
        left to the caller (its voxels keep their input value).
    """
    hole = np.asarray(hole, dtype=bool)
    out = np.array(volume, dtype=np.float32, copy=True)
    if not hole.any() or hole.all():
        return out
    known_all = out[~hole]
    lo, hi = float(known_all.min()), float(known_all.max())
    labels, _ = ndi.label(hole, structure=np.ones((3,) * hole.ndim, dtype=bool))
    boxes = [box for box in ndi.find_objects(labels) if box is not None]
    # one voxel more than the stencil radius: each box then holds known voxels that no hole voxel's stencil reaches
    for box in _merge_grown_boxes(boxes, _BIHARMONIC_RADIUS + 1, hole.shape):
        sub_hole = hole[box]
        src = np.where(sub_hole, 0.0, out[box]).astype(np.float64)
        known = src[~sub_hole]
        # scikit-image clips each call to its input's known range: a box's narrower range would make the result
        # depend on how components were grouped (and cut off a bright or dark structure running through the hole),
        # so two voxels outside every stencil carry the stack's minimum and maximum (they do not enter the system)
        reach = ndi.maximum_filter(sub_hole, size=2 * _BIHARMONIC_RADIUS + 1, mode="constant")
        spare = np.flatnonzero(~reach)[:2]
        if spare.size == 2:
            src.flat[spare] = (lo, hi)
        if weights is None:
            solved = inpaint_biharmonic(src, sub_hole, split_into_regions=True)
        else:
            solved = _weighted_biharmonic(src, sub_hole, np.asarray(weights, dtype=np.float64))
        solved = np.clip(np.nan_to_num(solved, nan=float(known.mean())), lo, hi)
        out[box][sub_hole] = solved[sub_hole].astype(np.float32)
    return out


class Biharmonic3DInpainter(ClassicalInpainter):
    """Biharmonic inpainting that sees the volume (:func:`biharmonic_fill_3d`): the anatomy above and below a hole
    takes part in the fill, which slice-wise methods cannot use.

    A *volumetric* inpainter (``volumetric = True``): :func:`rfr_inpaint.volume.inpaint_volume` calls it once with
    the stack of consecutive slices that holds the hole plus ``context_slices`` slices on each side, instead of
    slice batches. On a 2-D image (or a one-slice stack) it is the 2-D biharmonic method.

    Args:
        fill_value: value given to a stack without any known voxel.
    """

    name = "biharmonic3d"
    #: called with consecutive slices (see :func:`rfr_inpaint.volume.inpaint_volume`).
    volumetric = True
    #: slices beyond the hole that can change the result: the biharmonic stencil radius.
    context_slices = _BIHARMONIC_RADIUS

    def __call__(self, images: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """Inpaint a stack of consecutive slices.

        Args:
            images: ``(S, H, W)`` (consecutive slices) or ``(H, W)`` array in [0, 1].
            holes: boolean array of the same shape, True = hole.

        Returns:
            float32 array of the input's shape; known voxels bit-identical to ``images``.

        Raises:
            ValueError: shapes differ, are not 2-D / 3-D, or the known voxels are not finite.
        """
        return self._fill(images, holes, None)

    def _fill(self, images: np.ndarray, holes: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """Validate, then fill with :func:`biharmonic_fill_3d` (``weights``: its axis weights)."""
        images, holes = self._validated(images, holes, "S")
        stack = images.astype(np.float32, copy=False)
        if not np.isfinite(stack[~holes]).all():
            raise ValueError(f"{type(self).__name__}: the known voxels contain NaN or infinite values")
        if stack.ndim == 2 or stack.shape[0] == 1:
            return BiharmonicInpainter(fill_value=self.fill_value)(stack, holes)
        if holes.all():
            return np.full_like(stack, self.fill_value)
        out = biharmonic_fill_3d(stack, holes, weights)
        return np.where(holes, out, stack)


class SpacedBiharmonic3DInpainter(Biharmonic3DInpainter):
    """3-D biharmonic inpainting that knows the voxel size: the slices above and below a hole count by how far away
    they are (:func:`axis_weights` with :attr:`spacing_exponent`).

    :class:`Biharmonic3DInpainter` (scikit-image's stencil) treats the next slice as one pixel away. On CT with 5 mm
    slices and 0.6 mm pixels it then trusts the slices above and below a thin hole (a screw) as much as its in-plane
    neighbours, which are eight times closer, and slice-wise biharmonic wins by 1-2 dB there. Weighting the axes by
    the physical spacing fixes thin holes but loses on wide ones, where the next slice, 5 mm away, still tells more
    than pixels 10 mm away in the slice (thick slices are averages along the axis). The exponent between the two
    was chosen on the real-CT training split (``bench/bench_spacing_exponent.py``).

    The volume path passes the stack's spacing (``uses_spacing = True``: :func:`rfr_inpaint.volume.inpaint_volume`
    calls it with ``spacing=``, slice axis first); without spacing it is :class:`Biharmonic3DInpainter`.

    Args:
        fill_value: value given to a stack without any known voxel.
        spacing_exponent: exponent of :func:`axis_weights` (default :attr:`SPACING_EXPONENT`).
    """

    name = "biharmonic3d_mm"
    #: :func:`rfr_inpaint.volume.inpaint_volume` passes ``spacing`` (mm, slice axis first).
    uses_spacing = True
    #: the default exponent of the axis weights (0: scikit-image's unit grid, 2: the physical Laplacian).
    SPACING_EXPONENT = 1.0

    def __init__(self, fill_value: float = 0.5, spacing_exponent: float = SPACING_EXPONENT) -> None:
        super().__init__(fill_value)
        if not (math.isfinite(float(spacing_exponent)) and float(spacing_exponent) >= 0):
            raise ValueError(f"{type(self).__name__}: spacing_exponent must be >= 0, got {spacing_exponent}")
        self.spacing_exponent = float(spacing_exponent)

    def __call__(
        self, images: np.ndarray, holes: np.ndarray, spacing: tuple[float, ...] | None = None
    ) -> np.ndarray:
        """Inpaint a stack of consecutive slices.

        Args:
            images: ``(S, H, W)`` (consecutive slices) or ``(H, W)`` array in [0, 1].
            holes: boolean array of the same shape, True = hole.
            spacing: voxel size of the stack's axes (slice axis first); ``None``: 1 on every axis.

        Returns:
            float32 array of the input's shape; known voxels bit-identical to ``images``.

        Raises:
            ValueError: shapes differ, are not 2-D / 3-D, the known voxels are not finite, or a bad spacing.
        """
        if spacing is None:
            return self._fill(images, holes, None)
        return self._fill(images, holes, self._weights(spacing, self.spacing_exponent))

    def _weights(self, spacing: tuple[float, ...], exponent: float) -> np.ndarray:
        """The axis weights of ``spacing`` (slice axis first) and ``exponent``, after checking it has 3 values."""
        if len(spacing) != 3:
            raise ValueError(f"{type(self).__name__}: spacing needs 3 values (slice axis first), got {spacing}")
        return axis_weights(tuple(spacing), exponent)


class SelfTunedBiharmonic3DInpainter(SpacedBiharmonic3DInpainter):
    """:class:`SpacedBiharmonic3DInpainter` with the spacing exponent chosen for each call from the volume itself.

    Which exponent suits a hole varies from hole to hole far more than from one kind of hole to another
    (``bench/bench_headroom.py``). Each candidate of :attr:`EXPONENTS` therefore first refills a ring of known voxels,
    the :attr:`RING_PX` in-plane pixels around the hole, treated as part of it; the exponent whose ring comes back
    closest to the known values (mean squared error) fills the hole. Ties keep the default exponent. On an isotropic
    volume every exponent gives the same equation, so it is :class:`SpacedBiharmonic3DInpainter` at the cost of one
    solve; elsewhere it costs ``len(EXPONENTS) + 1`` solves.

    Args:
        fill_value: value given to a stack without any known voxel.
        exponents: candidate exponents of :func:`axis_weights` (default :attr:`EXPONENTS`).
        ring_px: width of the validation ring in pixels (default :attr:`RING_PX`).

    Attributes:
        last_exponent: the exponent the last call used (``None`` before any call or for a 2-D / unspaced input).
    """

    name = "biharmonic3d_auto"
    #: candidate exponents: scikit-image's unit grid (0) to the physical Laplacian (2), the range of the sweep
    EXPONENTS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
    #: ring width, chosen on 30 CT cases of the real-CT training split: 2 / 4 / 6 px gave +0.75 / +0.81 / +0.95 dB
    #: hole PSNR over the default exponent, at 6.5 / 8.4 / 10.8 times its time
    RING_PX = 6

    def __init__(
        self, fill_value: float = 0.5, exponents: tuple[float, ...] = EXPONENTS, ring_px: int = RING_PX
    ) -> None:
        super().__init__(fill_value)
        exponents = tuple(float(e) for e in exponents)
        if not exponents or not all(math.isfinite(e) and e >= 0 for e in exponents):
            raise ValueError(f"{type(self).__name__}: exponents must be a non-empty list of values >= 0, got {exponents}")
        if int(ring_px) < 1:
            raise ValueError(f"{type(self).__name__}: ring_px must be >= 1, got {ring_px}")
        # the default first: a tie keeps it
        self.exponents = tuple(sorted(set(exponents), key=lambda e: (e != self.SPACING_EXPONENT, e)))
        self.ring_px = int(ring_px)
        self.last_exponent: float | None = None

    def __call__(
        self, images: np.ndarray, holes: np.ndarray, spacing: tuple[float, ...] | None = None
    ) -> np.ndarray:
        """Inpaint a stack of consecutive slices with the exponent its ring of known voxels prefers; arguments,
        result and errors as :meth:`SpacedBiharmonic3DInpainter.__call__`, and :attr:`last_exponent` set."""
        self.last_exponent = None
        images, holes = self._validated(images, holes, "S")
        if spacing is None or images.ndim == 2 or images.shape[0] == 1:  # no slices to weigh: one solve
            return self._fill(images, holes, None)
        candidates = {e: self._weights(spacing, e) for e in self.exponents}
        distinct = {tuple(w) for w in candidates.values()}
        ring = ndi.binary_dilation(holes, structure=_CROSS_IN_PLANE, iterations=self.ring_px) & ~holes
        best = self.exponents[0]
        if len(distinct) > 1 and ring.any() and (ring | holes).sum() < holes.size:
            truth = images[ring].astype(np.float64)
            errors = {e: float(np.mean((self._fill(images, holes | ring, w)[ring] - truth) ** 2))
                      for e, w in candidates.items()}
            best = min(self.exponents, key=lambda e: errors[e])  # first of equal errors: the default
        self.last_exponent = best
        return self._fill(images, holes, candidates[best])


#: name -> inpainter class, the names of :func:`rfr_inpaint.inpainters.get_inpainter` (``biharmonic3d`` is
#: volumetric: see :class:`Biharmonic3DInpainter`).
BASELINES: dict[str, type[ClassicalInpainter] | type[Biharmonic3DInpainter]] = {
    "biharmonic": BiharmonicInpainter,
    "telea": TeleaInpainter,
    "ns": NavierStokesInpainter,
    "mean": MeanFillInpainter,
    "biharmonic3d": Biharmonic3DInpainter,
    "biharmonic3d_mm": SpacedBiharmonic3DInpainter,
    "biharmonic3d_auto": SelfTunedBiharmonic3DInpainter,
}


def make_baseline(name: str, **options: Any) -> ClassicalInpainter | Biharmonic3DInpainter:
    """Build a classical inpainter by name.

    Args:
        name: one of :data:`BASELINES` (``biharmonic``, ``biharmonic3d``, ``telea``, ``ns``, ``mean``).
        options: constructor arguments (e.g. ``radius`` for ``telea`` / ``ns``).

    Returns:
        the inpainter.

    Raises:
        ValueError: unknown name or option.
    """
    if name not in BASELINES:
        raise ValueError(f"unknown classical inpainter '{name}'; choose one of {sorted(BASELINES)}")
    try:
        return BASELINES[name](**options)
    except TypeError as e:
        raise ValueError(f"{name}: bad options {options}: {e}") from e

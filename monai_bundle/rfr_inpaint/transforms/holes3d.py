"""Metal-like 3D hole masks drawn in millimetres: prosthesis / clip ellipsoids, screws, dental-filling clusters.

The 2D generators of :mod:`rfr_inpaint.transforms.masks` draw one slice; a metal object in a CT volume spans several
contiguous slices, and its size in voxels depends on the spacing. :func:`metal_holes_3d` draws every size and
position in mm, so the same random draws give the same physical object at any spacing (half the spacing on every
axis gives about 8 times the voxels), and the MONAI transforms :class:`RandMetalHoles3D` /
:class:`RandMetalHoles3Dd` wrap it for ``(1, D, H, W)`` images.

Kinds (:data:`METAL_KINDS_3D`):

- ``"ellipsoid"``: a hip / shoulder-prosthesis-head-like or clip-like ellipsoid, semi-axes 2-12 mm each, random
  3D orientation;
- ``"screw"``: 1-3 parallel thin cylinders (radius 1-3 mm, length 15-50 mm) along one random 3D direction,
  6-15 mm apart (pedicle / plate screws);
- ``"dental"``: a row of 2-6 small ellipsoidal blobs (semi-axes 2-5 mm) along a random in-plane direction,
  neighbours 1.2-2 blob radii apart, at the same height within 1 mm (fillings of adjacent teeth).

Guarantees: the mask is never empty (the centre voxel is always a hole), it lies within ``shape``, and the slices
(axis 0) that hold hole voxels are contiguous. With ``body`` the centre lies in the body and the hole is clipped to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

import numpy as np
import torch
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import RandomizableTransform
from monai.utils import TransformBackends, convert_to_dst_type
from scipy import ndimage

from .masks import body_mask

__all__ = [
    "METAL_KINDS_3D",
    "metal_holes_3d",
    "RandMetalHoles3D",
]

#: The kinds of metal-like object :func:`metal_holes_3d` draws (``kind=None`` picks one uniformly).
METAL_KINDS_3D: tuple[str, ...] = ("ellipsoid", "screw", "dental")

RNG = Union[np.random.Generator, np.random.RandomState]

# Attempts at drawing a centre whose neighbourhood is in the body before falling back to any body voxel.
_CENTRE_TRIES = 200


def _uniform(rng: RNG, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _integer(rng: RNG, lo: int, hi: int) -> int:
    """An integer in ``[lo, hi]`` (inclusive) from either kind of NumPy generator."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(lo, hi + 1))
    return int(rng.randint(lo, hi + 1))


def _unit_vector(rng: RNG) -> np.ndarray:
    v = np.asarray(rng.normal(size=3), dtype=np.float64)
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else np.array([1.0, 0.0, 0.0])


def _rotation(rng: RNG) -> np.ndarray:
    """A uniformly random 3D rotation matrix (from a random unit quaternion)."""
    q = np.asarray(rng.normal(size=4), dtype=np.float64)
    q /= max(float(np.linalg.norm(q)), 1e-12)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _perpendicular(d: np.ndarray, rng: RNG) -> np.ndarray:
    """A random unit vector perpendicular to the unit vector ``d``."""
    for _ in range(10):
        v = _unit_vector(rng)
        v -= float(v @ d) * d
        n = float(np.linalg.norm(v))
        if n > 1e-6:
            return v / n
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    v = np.cross(d, helper)
    return v / np.linalg.norm(v)


class _Part:
    """One convex primitive in mm, relative to the object's centre: an ellipsoid or a capped cylinder."""

    def __init__(self, offset: np.ndarray, radius_mm: float) -> None:
        self.offset = offset
        self.radius_mm = radius_mm  # bounding radius around ``offset``

    def inside(self, p: np.ndarray) -> np.ndarray:  # p: (..., 3) mm relative to the part's offset
        raise NotImplementedError


class _Ellipsoid(_Part):
    def __init__(self, offset: np.ndarray, axes: np.ndarray, rot: np.ndarray) -> None:
        super().__init__(offset, float(axes.max()))
        self.axes, self.rot = axes, rot

    def inside(self, p: np.ndarray) -> np.ndarray:
        local = p @ self.rot  # coordinates along the ellipsoid's own axes (columns of rot)
        return ((local / self.axes) ** 2).sum(-1) <= 1.0


class _Cylinder(_Part):
    def __init__(self, offset: np.ndarray, direction: np.ndarray, radius: float, length: float) -> None:
        super().__init__(offset, math.hypot(length / 2, radius))
        self.direction, self.radius, self.half = direction, radius, length / 2

    def inside(self, p: np.ndarray) -> np.ndarray:
        t = p @ self.direction
        radial = ((p - t[..., None] * self.direction) ** 2).sum(-1)
        return (np.abs(t) <= self.half) & (radial <= self.radius**2)


def _draw_parts(kind: str, rng: RNG) -> list[_Part]:
    """The object's primitives in mm around its centre (every draw independent of the voxel grid)."""
    if kind == "ellipsoid":
        axes = np.array([_uniform(rng, 2.0, 12.0) for _ in range(3)])
        return [_Ellipsoid(np.zeros(3), axes, _rotation(rng))]
    if kind == "screw":
        radius, length = _uniform(rng, 1.0, 3.0), _uniform(rng, 15.0, 50.0)
        direction = _unit_vector(rng)
        n = _integer(rng, 1, 3)
        side = _perpendicular(direction, rng)
        gap = _uniform(rng, 6.0, 15.0)
        offsets = [(i - (n - 1) / 2) * gap * side for i in range(n)]
        return [_Cylinder(np.asarray(o), direction, radius, length) for o in offsets]
    if kind == "dental":
        n = _integer(rng, 2, 6)
        angle = _uniform(rng, 0.0, math.pi)
        row = np.array([0.0, math.sin(angle), math.cos(angle)])  # in the axial plane (z, y, x)
        radii = [np.array([_uniform(rng, 2.0, 5.0) for _ in range(3)]) for _ in range(n)]
        step = _uniform(rng, 1.2, 2.0) * float(np.mean([r.mean() for r in radii]))
        parts: list[_Part] = []
        for i, axes in enumerate(radii):
            offset = (i - (n - 1) / 2) * step * row
            offset[0] += _uniform(rng, -1.0, 1.0)  # < 2 mm apart in z: neighbours share slices
            parts.append(_Ellipsoid(offset, axes, _rotation(rng)))
        return parts
    raise ValueError(f"unknown metal hole kind {kind!r}; expected one of {list(METAL_KINDS_3D)} or None")


def _check_geometry(shape: Sequence[int], spacing: Sequence[float]) -> tuple[tuple[int, ...], np.ndarray]:
    shp = tuple(int(s) for s in shape)
    sp = np.asarray([float(s) for s in spacing], dtype=np.float64)
    if len(shp) != 3 or min(shp) < 1:
        raise ValueError(f"metal_holes_3d needs a 3D shape (D, H, W) of positive sides, got {tuple(shape)}")
    if sp.shape != (3,) or not np.isfinite(sp).all() or (sp <= 0).any():
        raise ValueError(f"spacing must be three positive finite numbers (mm, array axis order), got {tuple(spacing)}")
    return shp, sp


def _draw_centre(
    rng: RNG, shape: tuple[int, ...], sp: np.ndarray, extent_mm: float, body: np.ndarray | None
) -> np.ndarray:
    """Centre in mm: uniform in the box kept ``extent_mm`` (at most a quarter of the side) from the border; with a
    body, the first draw whose voxel and in-plane neighbourhood (up to 10 mm away) lie in the body."""
    size = np.asarray(shape) * sp
    margin = np.minimum(extent_mm + sp, size / 4)
    lo, hi = margin, np.maximum(size - margin, margin)
    probe = min(extent_mm, 10.0)
    offsets = np.array([[0, 0, 0], [0, probe, 0], [0, -probe, 0], [0, 0, probe], [0, 0, -probe]])
    for _ in range(_CENTRE_TRIES if body is not None else 1):
        c = np.array([_uniform(rng, float(lo[i]), float(hi[i])) for i in range(3)])
        if body is None:
            return c
        idx = np.clip(np.floor((c + offsets) / sp).astype(int), 0, np.asarray(shape) - 1)
        if body[idx[:, 0], idx[:, 1], idx[:, 2]].all():
            return c
    cand = np.argwhere(body)  # type: ignore[arg-type]
    if cand.size == 0:
        raise ValueError("metal_holes_3d: the body mask is empty")
    return (cand[_integer(rng, 0, len(cand) - 1)] + 0.5) * sp


def metal_holes_3d(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    rng: np.random.Generator | np.random.RandomState,
    kind: str | None = None,
    body: np.ndarray | None = None,
) -> np.ndarray:
    """Draw one metal-like object as a boolean 3D hole mask, sized in mm.

    Args:
        shape: ``(D, H, W)`` of the volume; axis 0 is the slice axis.
        spacing: voxel size in mm in array axis order ``(sz, sy, sx)``.
        rng: the random source (``np.random.default_rng(seed)`` or a MONAI transform's ``RandomState``).
        kind: ``"ellipsoid"``, ``"screw"``, ``"dental"`` (see the module docstring), or None to pick one uniformly.
        body: optional boolean ``(D, H, W)`` body mask: the centre is drawn inside it and the hole clipped to it.

    Returns:
        boolean ``(D, H, W)`` mask, True = hole; never empty; the slices holding hole voxels are contiguous.

    Raises:
        ValueError: a bad shape, spacing, kind, a body of another shape, or an empty body.
    """
    shp, sp = _check_geometry(shape, spacing)
    if body is not None:
        body = np.asarray(body, dtype=bool)
        if body.shape != shp:
            raise ValueError(f"body mask shape {body.shape} differs from the hole shape {shp}")
        if not body.any():
            raise ValueError("metal_holes_3d: the body mask is empty")
    if kind is None:
        kind = METAL_KINDS_3D[_integer(rng, 0, len(METAL_KINDS_3D) - 1)]
    parts = _draw_parts(str(kind).lower(), rng)
    extent = max(float(np.linalg.norm(p.offset)) + p.radius_mm for p in parts)
    centre = _draw_centre(rng, shp, sp, extent, body)

    mask = np.zeros(shp, dtype=bool)
    for part in parts:
        c = centre + part.offset
        lo = np.clip(np.floor((c - part.radius_mm) / sp).astype(int) - 1, 0, np.asarray(shp))
        hi = np.clip(np.ceil((c + part.radius_mm) / sp).astype(int) + 2, 0, np.asarray(shp))
        if (hi <= lo).any():
            continue
        # voxel centres in mm relative to the part's centre, on the part's bounding box only
        grids = np.meshgrid(*[(np.arange(lo[i], hi[i]) + 0.5) * sp[i] - c[i] for i in range(3)], indexing="ij")
        inside = part.inside(np.stack(grids, axis=-1))
        mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] |= inside
    if body is not None:
        mask &= body
    centre_voxel = tuple(np.clip(np.floor(centre / sp).astype(int), 0, np.asarray(shp) - 1))
    mask[centre_voxel] = True
    # clipping (body, border) may split the slice range: keep the run of slices that holds the centre
    occupied = mask.any(axis=(1, 2))
    runs, _ = ndimage.label(occupied)
    mask[runs != runs[centre_voxel[0]]] = False
    return mask


def _spacing_of(img: NdarrayOrTensor, spacing: Sequence[float] | None, what: str) -> tuple[float, float, float]:
    if spacing is not None:
        sp = tuple(float(s) for s in spacing)
    elif isinstance(img, MetaTensor):
        sp = tuple(float(s) for s in np.asarray(img.pixdim, dtype=np.float64).ravel()[:3])
    else:
        raise ValueError(f"{what}: no spacing given and the image is not a MetaTensor carrying pixdim")
    if len(sp) != 3:
        raise ValueError(f"{what}: spacing must have 3 values (array axis order), got {sp}")
    return sp  # type: ignore[return-value]


class RandMetalHoles3D(RandomizableTransform):
    """Metal-like 3D hole for a channel-first volume ``(1, D, H, W)``: returns the hole, float32 ``(1, D, H, W)``.

    Wraps :func:`metal_holes_3d` with the transform's ``self.R`` (``set_random_state(seed)`` makes it reproducible).

    Args:
        kinds: kinds to draw from (default: all of :data:`METAL_KINDS_3D`), picked with ``kind_probs``.
        kind_probs: probabilities of ``kinds`` (default uniform).
        count: number of objects per volume (int or inclusive ``(lo, hi)`` range); their holes are united.
        spacing: voxel size in mm in array axis order; None reads the input MetaTensor's ``pixdim``.
        body_threshold: with a value (in image units, e.g. -500 for HU), holes are drawn inside the body (the
            largest connected region above it, holes filled, per slice); None draws anywhere away from the border.

    Raises:
        ValueError: bad options; an input that is not ``(1, D, H, W)``; no spacing; no body above the threshold.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        kinds: Sequence[str] | str | None = None,
        kind_probs: Sequence[float] | None = None,
        count: int | Sequence[int] = 1,
        spacing: Sequence[float] | None = None,
        body_threshold: float | None = None,
    ) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        names = list(METAL_KINDS_3D) if kinds is None else [kinds] if isinstance(kinds, str) else list(kinds)
        for k in names:
            if k not in METAL_KINDS_3D:
                raise ValueError(f"unknown metal hole kind {k!r}; expected one of {list(METAL_KINDS_3D)}")
        if not names:
            raise ValueError("kinds must name at least one kind")
        probs = np.ones(len(names)) if kind_probs is None else np.asarray(kind_probs, dtype=float)
        if probs.shape != (len(names),) or (probs < 0).any() or probs.sum() <= 0:
            raise ValueError(f"kind_probs must be {len(names)} non-negative numbers with a positive sum")
        lo, hi = (int(count), int(count)) if isinstance(count, (int, np.integer)) else tuple(int(c) for c in count)
        if lo < 1 or hi < lo:
            raise ValueError(f"count must be >= 1 or a (lo, hi) range with 1 <= lo <= hi, got {count!r}")
        self.kinds, self.kind_probs, self.count = names, probs / probs.sum(), (lo, hi)
        self.spacing = None if spacing is None else tuple(float(s) for s in spacing)
        self.body_threshold = body_threshold
        self._hole: np.ndarray | None = None
        self.last_kinds: list[str] = []

    def randomize(self, img: NdarrayOrTensor, spacing: Sequence[float] | None = None) -> None:  # type: ignore[override]
        """Draw the hole for ``img`` (kept for ``__call__(img, randomize=False)``)."""
        super().randomize(None)
        if tuple(img.shape)[:1] != (1,) or len(img.shape) != 4:
            raise ValueError(f"RandMetalHoles3D needs a channel-first volume (1, D, H, W), got shape {tuple(img.shape)}")
        sp = _spacing_of(img, spacing if spacing is not None else self.spacing, "RandMetalHoles3D")
        shape = tuple(int(s) for s in img.shape[1:])
        body = None
        if self.body_threshold is not None:
            arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
            body = body_mask(np.asarray(arr[0], dtype=np.float32), self.body_threshold)
            if not body.any():
                raise ValueError(f"RandMetalHoles3D: no body above body_threshold={self.body_threshold}")
        hole = np.zeros(shape, dtype=bool)
        self.last_kinds = []
        for _ in range(_integer(self.R, *self.count)):
            kind = self.kinds[int(self.R.choice(len(self.kinds), p=self.kind_probs))]
            self.last_kinds.append(kind)
            hole |= metal_holes_3d(shape, sp, self.R, kind=kind, body=body)  # type: ignore[arg-type]
        self._hole = hole

    def __call__(  # type: ignore[override]
        self, img: NdarrayOrTensor, randomize: bool = True, spacing: Sequence[float] | None = None
    ) -> NdarrayOrTensor:
        """Return the hole (float32 ``(1, D, H, W)``, 1 = hole) for the image ``img`` in its container type."""
        if randomize or self._hole is None:
            self.randomize(img, spacing)
        assert self._hole is not None
        if self._hole.shape != tuple(img.shape[1:]):
            raise ValueError(f"the stored hole has shape {self._hole.shape}, the image {tuple(img.shape[1:])}")
        out = self._hole[None].astype(np.float32)
        if isinstance(img, (np.ndarray, torch.Tensor)):
            dtype = torch.float32 if isinstance(img, torch.Tensor) else np.float32
            return convert_to_dst_type(out, img, dtype=dtype)[0]
        return out

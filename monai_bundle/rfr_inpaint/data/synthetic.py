"""Procedural CT-like axial slices and volumes in Hounsfield units: the embedded default dataset.

A "subject" (body size, fat and muscle thickness, organ sizes, bone density, noise level, vessel trees, bowel
loops...) is drawn from a seeded :class:`numpy.random.Generator`; slices are rendered from it at any cranio-caudal
position ``z`` (millimetres below the lung apices, 0 .. 550: chest, then upper abdomen, then lower abdomen), so the
anatomy of a volume varies smoothly and consistently from slice to slice. Every structure is an ellipsoid-like blob
or tube in millimetres, painted with partial-volume (anti-aliased) edges; tissues get their own texture amplitude;
the image is blurred like a reconstruction kernel and gets spatially correlated ("quantum-like") noise.

Tissue values (non-contrast CT): air -1000, lung parenchyma about -850 (denser posteriorly), fat -100, skin / muscle
+40 .. +50, blood +40, liver +60, spleen +48, kidney +32, CSF +15, cartilage +120, trabecular bone +180 .. +380,
cortical bone +1200 .. +1800. Output is clipped to [-1024, 3071].

Array layout: a slice is ``(H, W)`` (rows anterior -> posterior, columns patient right -> left, the radiological
display convention); a volume is ``(D, H, W)`` = (slices superior -> inferior, rows, columns) with spacing returned
in the same order ``(sz, sy, sx)`` in millimetres. For SimpleITK use ``image.SetSpacing(spacing[::-1])``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from monai.data import Dataset
from monai.transforms import apply_transform

from rfr_inpaint.transforms.masks import body_mask

__all__ = [
    "HU_MIN",
    "HU_MAX",
    "TISSUE_HU",
    "SyntheticSubject",
    "synthetic_ct_slice",
    "synthetic_ct_volume",
    "insert_metal",
    "SyntheticCTDataset",
]

HU_MIN = -1024.0
HU_MAX = 3071.0
#: Nominal tissue values (HU) used by the generator; per-subject values vary around them.
TISSUE_HU: dict[str, float] = {
    "air": -1000.0,
    "lung": -850.0,
    "fat": -100.0,
    "skin": 40.0,
    "muscle": 48.0,
    "blood": 40.0,
    "liver": 60.0,
    "spleen": 48.0,
    "kidney": 32.0,
    "csf": 15.0,
    "cartilage": 120.0,
    "trabecular": 280.0,
    "cortical": 1500.0,
}
_TORSO_MM = 550.0
_FOV_MM = 400.0


# ----------------------------------------------------------------------------------------------------------- painting
class _Canvas:
    """One slice being painted: HU values, texture amplitude, and the pixel grid in millimetres."""

    def __init__(self, h: int, w: int, px_mm: float):
        self.h, self.w, self.px = h, w, px_mm
        self.xs = (np.arange(w, dtype=np.float32) - (w - 1) / 2.0) * px_mm
        self.ys = (np.arange(h, dtype=np.float32) - (h - 1) / 2.0) * px_mm
        self.hu = np.full((h, w), TISSUE_HU["air"], dtype=np.float32)
        self.amp = np.full((h, w), 4.0, dtype=np.float32)

    def box(self, cx: float, cy: float, r: float) -> tuple[slice, slice] | None:
        """Row / column slices of the pixels within ``r`` mm (plus a margin) of ``(cx, cy)``; None if off-image."""
        m = r + 2.0 * self.px
        c0 = int(np.searchsorted(self.xs, cx - m))
        c1 = int(np.searchsorted(self.xs, cx + m))
        r0 = int(np.searchsorted(self.ys, cy - m))
        r1 = int(np.searchsorted(self.ys, cy + m))
        if c1 <= c0 or r1 <= r0:
            return None
        return slice(r0, r1), slice(c0, c1)

    def coverage(
        self, cx: float, cy: float, ax: float, ay: float, angle: float = 0.0, power: float = 2.0
    ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Anti-aliased coverage (0..1) of a (super)ellipse with semi-axes ``ax``, ``ay`` (mm) rotated by ``angle``."""
        if ax <= 0.05 * self.px or ay <= 0.05 * self.px:
            return None
        sl = self.box(cx, cy, max(ax, ay))
        if sl is None:
            return None
        x = self.xs[sl[1]][None, :] - cx
        y = self.ys[sl[0]][:, None] - cy
        if angle:
            c, s = math.cos(angle), math.sin(angle)
            x, y = c * x + s * y, -s * x + c * y
        ux, uy = np.abs(x) / ax + 1e-9, np.abs(y) / ay + 1e-9
        if power == 2.0:
            q = ux * ux + uy * uy
            g = np.sqrt(q)
            grad = np.sqrt((ux / ax) ** 2 + (uy / ay) ** 2) / g
        else:
            q = ux**power + uy**power
            g = q ** (1.0 / power)
            k = q ** (1.0 / power - 1.0)
            grad = k * np.sqrt((ux ** (power - 1) / ax) ** 2 + (uy ** (power - 1) / ay) ** 2)
        dist = (g - 1.0) / np.maximum(grad, 1e-6)
        cov = np.clip(0.5 - dist / self.px, 0.0, 1.0)
        return sl, cov

    def blend(self, sl: tuple[slice, slice], cov: np.ndarray, value: float | np.ndarray, amp: float) -> None:
        """Paint ``value`` / texture amplitude ``amp`` with weights ``cov`` over the region ``sl``."""
        sub = self.hu[sl]
        sub += cov * (value - sub)
        asub = self.amp[sl]
        asub += cov * (amp - asub)

    def ellipse(
        self,
        cx: float,
        cy: float,
        ax: float,
        ay: float,
        value: float,
        amp: float = 5.0,
        angle: float = 0.0,
        power: float = 2.0,
        clip: np.ndarray | None = None,
    ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Paint a filled ellipse; ``clip`` (full-frame coverage) restricts it, e.g. to the body cavity."""
        res = self.coverage(cx, cy, ax, ay, angle, power)
        if res is None:
            return None
        sl, cov = res
        if clip is not None:
            cov = cov * clip[sl]
        self.blend(sl, cov, value, amp)
        return sl, cov

    def bone(
        self,
        cx: float,
        cy: float,
        ax: float,
        ay: float,
        cortex_mm: float,
        cortical: float,
        marrow: float,
        angle: float = 0.0,
    ) -> None:
        """Paint a bone cross-section: a cortical shell of thickness ``cortex_mm`` around trabecular marrow."""
        self.ellipse(cx, cy, ax, ay, cortical, 30.0, angle)
        if ax > cortex_mm and ay > cortex_mm:
            self.ellipse(cx, cy, ax - cortex_mm, ay - cortex_mm, marrow, 55.0, angle)


def _profile(z: float, z0: float, z1: float, p: float = 2.0) -> float:
    """Cross-section scale (0..1) of a blob spanning ``z0 .. z1`` at height ``z`` (superellipsoid profile)."""
    if z1 <= z0 or z <= z0 or z >= z1:
        return 0.0
    u = abs(2.0 * (z - z0) / (z1 - z0) - 1.0)
    return float((1.0 - u**p) ** (1.0 / p))


def _profile2(z: float, z0: float, zpeak: float, z1: float, p: float = 2.0) -> float:
    """Asymmetric profile: grows from ``z0`` to full size at ``zpeak`` and shrinks to nothing at ``z1``."""
    if z <= z0 or z >= z1:
        return 0.0
    u = (zpeak - z) / (zpeak - z0) if z < zpeak else (z - zpeak) / (z1 - zpeak)
    return float((1.0 - u**p) ** (1.0 / p))


def _smoothstep(z: float, a: float, b: float) -> float:
    t = min(max((z - a) / (b - a), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


# ------------------------------------------------------------------------------------------------------------ subject
@dataclass
class _Blob:
    """An ellipsoid-like structure: in-plane ellipse (mm) whose size follows a profile over ``z0 .. z1``."""

    cx: float
    cy: float
    ax: float
    ay: float
    z0: float
    z1: float
    value: float
    amp: float = 6.0
    angle: float = 0.0
    p: float = 2.0
    kind: str = "plain"
    extra: dict[str, float] = field(default_factory=dict)

    def section(self, z: float) -> float:
        return _profile(z, self.z0, self.z1, self.p)


@dataclass
class _Frame:
    """Where the regions of one slice sit (mm): what the body wall leaves for the inner anatomy to be placed from.

    Attributes:
        tables: the body layers' boundary radii by polar angle (:meth:`SyntheticSubject._radius_table`).
        idx: per pixel, its polar angle's index in ``tables``.
        body: coverage (0..1) of the body.
        cavity: coverage (0..1) of the body cavity (inside the muscle wall).
        xc: body centre, x.
        yc: body centre, y.
        cav_x: lateral half-width of the cavity.
        cav_ant: anterior depth of the cavity from the centre.
        cav_post: posterior depth of the cavity from the centre.
        y_ant: anterior border of the cavity.
        y_sp: centre of the vertebral body.
        rv: radius of the vertebral body.
    """

    tables: dict[str, np.ndarray]
    idx: np.ndarray
    body: np.ndarray
    cavity: np.ndarray
    xc: float
    yc: float
    cav_x: float
    cav_ant: float
    cav_post: float
    y_ant: float
    y_sp: float
    rv: float


@dataclass
class SyntheticSubject:
    """Randomly drawn anatomy of one synthetic patient (all lengths in millimetres).

    Build it with :meth:`random`; render slices with :meth:`render`. The same subject rendered at neighbouring
    ``z`` gives neighbouring slices of one consistent volume.
    """

    bx: float
    by: float
    center: tuple[float, float]
    body_power: tuple[float, float]
    harmonics: np.ndarray
    skin: float
    fat: float
    fat_abd: float
    muscle: float
    cortical: float
    trabecular: float
    noise_std: float
    blur_mm: float
    warp_mm: float
    lung_hu: float
    liver_hu: float
    table: bool
    vessels: list[np.ndarray]
    bowel: list[_Blob]
    organ_vessels: list[_Blob]
    vert_period: float
    vert_phase: float
    rib_z0: float
    rib_spacing: float
    rib_slope: float
    stomach_air: float
    seed: int

    @classmethod
    def random(cls, rng: np.random.Generator, table: bool = True, noise_std: float | None = None) -> SyntheticSubject:
        """Draw a subject from ``rng``."""
        bx = rng.uniform(140.0, 178.0)
        by = bx * rng.uniform(0.62, 0.74)
        subject = cls(
            bx=bx,
            by=by,
            center=(rng.uniform(-8.0, 8.0), rng.uniform(-14.0, -2.0)),
            body_power=(rng.uniform(2.0, 2.3), rng.uniform(2.4, 3.2)),
            harmonics=rng.normal(0.0, 0.01, size=(4, 2)) * np.array([[1.0], [0.35], [0.8], [0.35]]),  # k = 2..5
            skin=rng.uniform(1.5, 2.5),
            fat=rng.uniform(5.0, 16.0),
            fat_abd=rng.uniform(10.0, 32.0),
            muscle=rng.uniform(8.0, 14.0),
            cortical=rng.uniform(1200.0, 1800.0),
            trabecular=rng.uniform(180.0, 380.0),
            noise_std=float(noise_std) if noise_std is not None else rng.uniform(8.0, 20.0),
            blur_mm=rng.uniform(0.45, 0.75),
            warp_mm=rng.uniform(2.5, 5.0),
            lung_hu=rng.uniform(-880.0, -820.0),
            liver_hu=rng.uniform(52.0, 68.0),
            table=table,
            vessels=[],
            bowel=[],
            organ_vessels=[],
            vert_period=rng.uniform(26.0, 32.0),
            vert_phase=rng.uniform(0.0, 30.0),
            rib_z0=rng.uniform(-5.0, 10.0),
            rib_spacing=rng.uniform(22.0, 27.0),
            rib_slope=rng.uniform(30.0, 42.0),
            stomach_air=rng.uniform(0.2, 0.7),
            seed=int(rng.integers(0, 2**31 - 1)),
        )
        subject.vessels = [subject._vessel_tree(rng, side) for side in (-1.0, 1.0)]
        subject.bowel = subject._bowel_loops(rng)
        subject.organ_vessels = subject._organ_vessels(rng)
        return subject

    # --- random structures fixed per subject ---------------------------------------------------------------------
    def _vessel_tree(self, rng: np.random.Generator, side: float) -> np.ndarray:
        """Pulmonary vessels of one lung as tube sample points ``(x, y, z, radius)`` in mm (built vectorised).

        A branching tree from the hilum (each branch splits in two, shorter and thinner, with random turns) plus
        short peripheral tubes spread through the lung volume, pointing away from the hilum and thinner with
        distance (a tree alone leaves the periphery empty).
        """
        hilum = np.array([side * 0.17 * self.bx, -0.05 * self.by, 165.0])
        roots = np.array([[0.6, 0.1, -1.0], [1.0, 0.1, 0.1], [0.6, 0.1, 1.0], [0.5, 0.8, 0.6], [0.7, -0.6, 0.3],
                          [0.6, 0.7, -0.5]]) * np.array([side, 1.0, 1.0])
        dirs = roots / np.linalg.norm(roots, axis=1, keepdims=True)
        starts = np.repeat(hilum[None], len(dirs), axis=0)
        lengths = np.full(len(dirs), 50.0)
        radii = np.full(len(dirs), 5.0)
        seg_start, seg_end, seg_radius = [], [], []
        for depth in range(8):
            ends = starts + dirs * lengths[:, None]
            seg_start.append(starts)
            seg_end.append(ends)
            seg_radius.append(radii)
            keep = radii >= 0.5
            if depth == 7 or not keep.any():
                break
            n = 2 * int(keep.sum())
            starts = np.repeat(ends[keep], 2, axis=0)
            dirs = np.repeat(dirs[keep], 2, axis=0) + rng.normal(0.0, 0.45, size=(n, 3))
            dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
            lengths = np.repeat(lengths[keep], 2) * rng.uniform(0.62, 0.8, n)
            radii = np.repeat(radii[keep], 2) * rng.uniform(0.62, 0.75, n)
        m = int(rng.integers(350, 500))
        centres = np.stack([side * rng.uniform(0.1, 0.95, m) * 0.85 * self.bx,
                            rng.uniform(-0.85, 0.95, m) * 0.8 * self.by, rng.uniform(0.0, 320.0, m)], axis=1)
        pdirs = centres - hilum + rng.normal(0.0, 25.0, size=(m, 3))
        pdirs /= np.linalg.norm(pdirs, axis=1, keepdims=True)
        half = rng.uniform(7.5, 22.5, m)[:, None]
        seg_start.append(centres - pdirs * half)
        seg_end.append(centres + pdirs * half)
        seg_radius.append(0.55 + 2.2 * np.exp(-np.linalg.norm(centres - hilum, axis=1) / 70.0))
        start, end, radius = np.concatenate(seg_start), np.concatenate(seg_end), np.concatenate(seg_radius)
        counts = np.maximum(np.ceil(np.linalg.norm(end - start, axis=1) / 0.6).astype(np.int64), 2)
        index = np.repeat(np.arange(len(counts)), counts)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        t = (np.arange(int(counts.sum())) - offsets[index]) / (counts[index] - 1)
        points = start[index] + (end - start)[index] * t[:, None]
        return np.concatenate([points, radius[index, None]], axis=1).astype(np.float32)

    def _bowel_loops(self, rng: np.random.Generator) -> list[_Blob]:
        loops = []
        for _ in range(int(rng.integers(80, 120))):
            r = rng.uniform(6.0, 16.0)
            zc = rng.uniform(330.0, 560.0)
            ang = rng.uniform(0, 2 * np.pi)
            rad = math.sqrt(rng.uniform(0.0, 1.0)) * 0.7
            cx = math.cos(ang) * rad * self.bx * 0.8
            cy = math.sin(ang) * rad * self.by * 0.55 - 0.2 * self.by
            content = str(rng.choice(["air", "fluid", "stool", "collapsed"], p=[0.15, 0.35, 0.2, 0.3]))
            if content == "collapsed":
                r *= 0.6
            values = {"air": (-1000.0, 4.0), "fluid": (12.0, 6.0), "stool": (-180.0, 140.0), "collapsed": (35.0, 12.0)}
            elong = rng.uniform(1.0, 2.6)
            loops.append(
                _Blob(
                    cx, cy, r * elong, r * rng.uniform(0.6, 1.0), zc - rng.uniform(10, 30), zc + rng.uniform(10, 30),
                    value=values[content][0], amp=values[content][1], angle=rng.uniform(0, np.pi),
                    p=rng.uniform(1.8, 2.6),
                )
            )
        for side in (-1.0, 1.0):  # ascending / descending colon with stool
            loops.append(_Blob(side * 0.62 * self.bx, -0.05 * self.by, 24.0, 22.0, 380.0, 620.0, -200.0, 150.0, p=2.5))
        return loops

    def _organ_vessels(self, rng: np.random.Generator) -> list[_Blob]:
        vessels = []
        for _ in range(int(rng.integers(4, 8))):  # hepatic / portal veins: hypodense on non-contrast CT
            vessels.append(
                _Blob(
                    rng.uniform(-0.55, -0.15) * self.bx, rng.uniform(-0.35, 0.2) * self.by, rng.uniform(3, 7),
                    rng.uniform(3, 7), rng.uniform(230, 300), rng.uniform(310, 380), -22.0, 4.0, rng.uniform(0, np.pi),
                )
            )
        return vessels

    # --- geometry helpers -------------------------------------------------------------------------------------------
    def _radius_table(self, z: float, n: int = 2048) -> dict[str, np.ndarray]:
        """Boundary radii (mm) of the body layers as functions of the polar angle (lookup tables)."""
        theta = np.linspace(-np.pi, np.pi, n, endpoint=False)
        abd = _smoothstep(z, 240.0, 380.0)
        bx = self.bx * (1.0 - 0.04 * abd)
        by = self.by * (1.0 + 0.08 * abd)
        p = np.where(np.sin(theta) > 0, self.body_power[1], self.body_power[0])
        r = 1.0 / (np.abs(np.cos(theta) / bx) ** p + np.abs(np.sin(theta) / by) ** p) ** (1.0 / p)
        for k, (a, b) in enumerate(self.harmonics, start=2):
            r *= 1.0 + a * np.cos(k * theta) + b * np.sin(k * theta)
        fat = (self.fat * (1 - abd) + self.fat_abd * abd) * (1.0 + 0.35 * np.cos(2 * theta) ** 2 + 0.25 * np.sin(theta))
        chest = 1.0 - abd
        muscle = self.muscle * (1.0 + 0.8 * chest * np.clip(-np.sin(theta), 0, 1) ** 2)  # pectorals anteriorly
        posterior = np.exp(-(((theta - np.pi / 2) / 0.42) ** 2))
        muscle = muscle + 52.0 * posterior  # paraspinal muscles
        skin_r = r
        fat_r = r - self.skin
        muscle_r = fat_r - fat
        cavity_r = muscle_r - muscle
        return {"theta": theta, "body": skin_r, "fat": fat_r, "muscle": muscle_r, "cavity": cavity_r,
                "ribs": cavity_r + 3.0 + 0.3 * (muscle - 52.0 * posterior)}

    def render(self, z: float, shape: tuple[int, int], px_mm: float, rng: np.random.Generator,
               fields: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Render the axial slice at ``z`` mm as float32 HU.

        The anatomy is painted from the outside in, each region by its own method (body wall, bowel, lungs,
        mediastinum, abdominal organs, great vessels, spine, ribs), then the whole slice is deformed, textured,
        blurred and given noise (:meth:`_finish`).

        Args:
            z: cranio-caudal position in mm (0: lung apices, ~300: liver dome / diaphragm, 550: lower abdomen).
            shape: ``(H, W)`` in pixels.
            px_mm: pixel spacing in mm.
            rng: generator for the noise of this slice.
            fields: smooth random fields of this slice, ``{"texture", "dx", "dy"}`` (unit variance, ``(H, W)``): the
                tissue texture and the elastic deformation that makes shapes organic. A volume passes slices of
                3D fields so both are continuous across slices; drawn from ``rng`` when None.

        Returns:
            the slice in HU, float32, clipped to [-1024, 3071].
        """
        cv = _Canvas(shape[0], shape[1], px_mm)
        frame = self._paint_body_wall(cv, z)
        self._paint_bowel(cv, z, frame)
        self._paint_lungs(cv, z, frame)
        self._paint_mediastinum(cv, z, frame)
        self._paint_abdomen(cv, z, frame.cavity, frame.xc, frame.yc, frame.cav_x, frame.cav_ant, frame.cav_post,
                            frame.y_sp, frame.rv)
        self._paint_great_vessels(cv, z, frame)
        self._paint_spine(cv, z, frame.xc, frame.y_sp, frame.rv)
        self._paint_ribs(cv, z, frame.tables, frame.idx, frame.xc, frame.yc, frame.y_ant)
        return self._finish(cv, frame, rng, fields)

    def _paint_body_wall(self, cv: _Canvas, z: float) -> _Frame:
        """Skin, subcutaneous fat, muscle and the fat of the body cavity; back muscles; recti in the abdomen.

        Returns:
            the slice's frame: body and cavity coverages and the landmarks the inner regions are placed from.
        """
        h, w, px_mm = cv.h, cv.w, cv.px
        cx0, cy0 = self.center
        tables = self._radius_table(z)
        xg = cv.xs[None, :] - cx0
        yg = cv.ys[:, None] - cy0
        rho = np.sqrt(xg * xg + yg * yg)
        n_theta = len(tables["theta"])
        idx = ((np.arctan2(yg, xg) + np.pi) / (2 * np.pi) * n_theta).astype(np.int32) % n_theta

        def layer(name: str) -> np.ndarray:
            return np.clip(0.5 - (rho - tables[name][idx]) / px_mm, 0.0, 1.0)

        full = (slice(0, h), slice(0, w))
        body = layer("body")
        cv.blend(full, body, TISSUE_HU["skin"], 8.0)
        cv.blend(full, layer("fat"), TISSUE_HU["fat"], 14.0)
        cv.blend(full, layer("muscle"), TISSUE_HU["muscle"], 9.0)
        cavity = layer("cavity")
        abd = _smoothstep(z, 260.0, 330.0)
        cv.blend(full, cavity, -90.0 + 40.0 * (1 - abd), 18.0 + 10.0 * abd)  # mediastinal / intra-abdominal fat

        cav_x = float(tables["cavity"][0])  # lateral half-width of the cavity
        cav_ant = float(tables["cavity"][len(tables["theta"]) // 4])
        cav_post = float(tables["cavity"][len(tables["theta"]) * 3 // 4])
        rv = 15.0 + 8.0 * min(max(z / _TORSO_MM, 0.0), 1.0)  # vertebral body radius
        frame = _Frame(
            tables=tables, idx=idx, body=body, cavity=cavity, xc=cx0, yc=cy0, cav_x=cav_x, cav_ant=cav_ant,
            cav_post=cav_post, y_ant=cy0 - cav_ant, y_sp=cy0 + cav_post + rv * 0.55, rv=rv,
        )  # y_sp: vertebral body centre, protruding into the cavity
        xc, y_sp = frame.xc, frame.y_sp

        # back muscles (erector spinae) and, in the abdomen, the recti, each in its fascial fat plane
        canal_y = y_sp + rv * 0.92 + 9.0
        lumbar = _smoothstep(z, 300.0, 420.0)
        for side in (-1.0, 1.0):
            ex, ey = xc + side * (rv * 0.35 + 24.0 + 5.0 * lumbar), canal_y + 14.0
            eax, eay = 23.0 + 6.0 * lumbar, 16.0 + 4.0 * lumbar
            cv.ellipse(ex, ey, eax + 2.2, eay + 2.2, TISSUE_HU["fat"], 12.0, angle=side * 0.3)
            cv.ellipse(ex, ey, eax, eay, TISSUE_HU["muscle"] + 4, 9.0, angle=side * 0.3)
        if abd > 0:
            n_t = len(tables["theta"])
            ant_muscle = float(tables["muscle"][n_t // 4])
            ant_m = ant_muscle - cav_ant
            for side in (-1.0, 1.0):
                rx, ry = xc + side * 0.17 * cav_x, cy0 - cav_ant - ant_m / 2
                cv.ellipse(rx, ry, 0.15 * cav_x + 2.0, ant_m / 2 + 1.5, TISSUE_HU["fat"], 12.0, clip=None)
                cv.ellipse(rx, ry, 0.15 * cav_x, ant_m / 2, TISSUE_HU["muscle"], 9.0)
        return frame

    def _paint_bowel(self, cv: _Canvas, z: float, frame: _Frame) -> None:
        """Bowel loops and the colon, inside the cavity (painted before the solid organs, which lie on top)."""
        for blob in self.bowel:
            s = blob.section(z)
            if s <= 0:
                continue
            bx, by = blob.cx + frame.xc, blob.cy + frame.yc
            cv.ellipse(bx, by, blob.ax * s + 2.5, blob.ay * s + 2.5, 38.0, 8.0, blob.angle, blob.p, clip=frame.cavity)
            cv.ellipse(bx, by, blob.ax * s, blob.ay * s, blob.value, blob.amp, blob.angle, blob.p, clip=frame.cavity)

    def _paint_lungs(self, cv: _Canvas, z: float, frame: _Frame) -> None:
        """Both lungs (denser posteriorly) down to the diaphragm, and the pulmonary vessels inside them."""
        xc, cy0, cav_x = frame.xc, frame.yc, frame.cav_x
        lung_mask = np.zeros((cv.h, cv.w), dtype=np.float32)
        apex = min(max(z / 110.0, 0.0), 1.0) ** 0.5
        for side, zend in ((-1.0, 300.0), (1.0, 312.0)):
            s = apex * (1.0 if z < zend - 30 else max(0.0, (zend - z) / 30.0) ** 0.5)
            if s <= 0:
                continue
            lx = xc + side * cav_x * (0.62 - 0.2 * s)
            res = cv.coverage(lx, cy0 + 0.12 * frame.cav_post, cav_x * 0.82 * s,
                              (frame.cav_ant + frame.cav_post) * 0.62 * s)
            if res is None:
                continue
            sl, cov = res
            cov = cov * frame.cavity[sl]
            gradient = (cv.ys[sl[0]][:, None] - cy0) / max(frame.cav_post, 1.0)
            cv.blend(sl, cov, self.lung_hu + 55.0 * np.clip(gradient, -1.0, 1.0), 16.0)
            lung_mask[sl] = np.maximum(lung_mask[sl], cov)
        if lung_mask.any():
            self._draw_vessels(cv, z, lung_mask, xc, cy0)

    def _paint_mediastinum(self, cv: _Canvas, z: float, frame: _Frame) -> None:
        """Mediastinal fat, heart, trachea and bronchi, ascending aorta, SVC, pulmonary trunk, arch, oesophagus."""
        xc, cy0, cav_x, cav_ant, cav_post = frame.xc, frame.yc, frame.cav_x, frame.cav_ant, frame.cav_post
        y_sp, rv, cavity = frame.y_sp, frame.rv, frame.cavity
        med = _profile(z, 20.0, 300.0, 6.0)
        if med <= 0:
            return
        upper = 1.0 - _smoothstep(z, 120.0, 170.0)
        cv.ellipse(xc + 8, cy0 - 0.25 * cav_ant, 22 + 20 * (1 - upper), 0.55 * cav_ant + 0.3 * cav_post, -70.0,
                   18.0, clip=cavity)
        heart = _profile(z, 150.0, 300.0, 2.2)
        if heart > 0:
            hx, hy = xc + 0.17 * cav_x, cy0 - 0.3 * cav_ant
            cv.ellipse(hx, hy, 0.48 * cav_x * heart + 5, 0.52 * cav_ant * heart + 5, -95.0, 14.0, 0.5, clip=cavity)
            cv.ellipse(hx, hy, 0.48 * cav_x * heart, 0.52 * cav_ant * heart, TISSUE_HU["blood"] + 4, 7.0, 0.5,
                       clip=cavity)
        if z < 165:
            tr = 9.0 if z < 140 else 9.0 * (1 - (z - 140) / 40)
            ty = y_sp - rv - 12
            cv.ellipse(xc, ty, tr + 2, tr + 1.5, 30.0, 5.0)
            cv.ellipse(xc, ty, tr, tr - 0.5, TISSUE_HU["air"], 3.0)
        elif z < 195:
            for side in (-1.0, 1.0):
                bxp = xc + side * (12 + (z - 165) * 0.9)
                cv.ellipse(bxp, y_sp - rv - 14, 7.0, 6.0, 30.0, 5.0)
                cv.ellipse(bxp, y_sp - rv - 14, 5.0, 4.5, TISSUE_HU["air"], 3.0)
        if 80 < z < 200:  # ascending aorta, superior vena cava
            cv.ellipse(xc - 4, cy0 - 0.35 * cav_ant, 15.0, 15.0, TISSUE_HU["blood"], 6.0)
            cv.ellipse(xc - 30, cy0 - 0.3 * cav_ant, 9.0, 10.0, TISSUE_HU["blood"], 6.0)
        if 140 < z < 185:  # pulmonary trunk
            cv.ellipse(xc + 22, cy0 - 0.45 * cav_ant, 13.0, 13.0, TISSUE_HU["blood"], 6.0)
        if 65 < z <= 80:  # aortic arch
            cv.ellipse(xc + 8, y_sp - rv - 35, 34.0, 12.0, TISSUE_HU["blood"], 6.0, angle=-0.5)
        if z < 300:  # oesophagus
            cv.ellipse(xc + 5, y_sp - rv - (3 if z > 160 else 30) + (0 if z > 160 else 8), 7.0, 6.0, 38.0, 6.0)

    def _paint_great_vessels(self, cv: _Canvas, z: float, frame: _Frame) -> None:
        """Descending / abdominal aorta (with calcifications low down) and the inferior vena cava."""
        xc, y_sp, rv = frame.xc, frame.y_sp, frame.rv
        if z > 70:
            ax_ = xc + (22.0 if z < 330 else 12.0)
            cv.ellipse(ax_, y_sp - rv - 8, 12.0, 12.0, TISSUE_HU["blood"] + 2, 6.0)
            if z > 180:
                rng_cal = (int(z) // 7) % 5 == 0 and z > 380
                if rng_cal:
                    cv.ellipse(ax_ + 8, y_sp - rv - 14, 2.0, 1.5, 500.0, 10.0)
        if z > 290:
            cv.ellipse(xc - 22, y_sp - rv - 10, 13.0, 10.0, TISSUE_HU["blood"], 6.0)

    def _finish(self, cv: _Canvas, frame: _Frame, rng: np.random.Generator,
                fields: dict[str, np.ndarray] | None) -> np.ndarray:
        """Deform the painted anatomy, add the table, texture, reconstruction blur and noise; clip to the HU range."""
        h, w, px_mm = cv.h, cv.w, cv.px
        cx0, cy0 = self.center
        if fields is None:
            fields = next(_random_fields(rng, (1, h, w), (1.0, px_mm)))
        # organic shapes: one smooth elastic deformation of the whole anatomy (a few mm)
        warp = self.warp_mm / px_mm
        map_x = (np.arange(w, dtype=np.float32)[None, :] + warp * fields["dx"]).astype(np.float32)
        map_y = (np.arange(h, dtype=np.float32)[:, None] + warp * fields["dy"]).astype(np.float32)
        hu = cv2.remap(cv.hu, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        amp = cv2.remap(cv.amp, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        body = cv2.remap(frame.body.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT)
        cv.hu, cv.amp = hu, amp
        if self.table:
            rows = np.nonzero(body.max(axis=1) > 0.5)[0]
            bottom = float(cv.ys[rows[-1]]) if rows.size else cy0 + self.by
            for half_h, value, amp_t in ((6.0, 160.0, 20.0), (4.0, -650.0, 30.0)):
                res = cv.coverage(cx0, bottom + 9.0, 0.48 * _FOV_MM - (6.0 - half_h), half_h, power=6.0)
                if res is not None:
                    cv.blend(res[0], res[1] * (1.0 - body[res[0]]), value, amp_t)
        img = cv.hu + cv.amp * fields["texture"]
        sigma = self.blur_mm / px_mm
        if sigma > 0.2:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        noise = rng.standard_normal((h, w), dtype=np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 0.8)
        noise *= (self.noise_std / 0.35) * (0.55 + 0.45 * body)  # 0.35: std of white noise after that blur
        img = img + noise
        return np.clip(img, HU_MIN, HU_MAX).astype(np.float32)

    def _draw_vessels(self, cv: _Canvas, z: float, lung_mask: np.ndarray, xc: float, yc: float) -> None:
        """Pulmonary vessels crossing this slice (circles of the tube sections), limited to the lungs."""
        canvas = np.zeros((cv.h, cv.w), dtype=np.uint8)
        shift = 4
        scale = (1 << shift) / cv.px
        for tree in self.vessels:
            dz = np.abs(tree[:, 2] - z)
            near = tree[dz < tree[:, 3]]
            if near.size == 0:
                continue
            r = np.sqrt(np.maximum(near[:, 3] ** 2 - (near[:, 2] - z) ** 2, 0.0))
            cols = (near[:, 0] + xc - cv.xs[0]) * scale
            rows = (near[:, 1] + yc - cv.ys[0]) * scale
            for c, rr, rad in zip(cols.astype(np.int64), rows.astype(np.int64), (r * scale).astype(np.int64)):
                cv2.circle(canvas, (int(c), int(rr)), max(int(rad), 1 << (shift - 1)), 255, -1, cv2.LINE_AA, shift)
        cov = canvas.astype(np.float32) / 255.0 * lung_mask
        full = (slice(0, cv.h), slice(0, cv.w))
        cv.blend(full, cov, TISSUE_HU["blood"], 6.0)

    def _paint_abdomen(self, cv: _Canvas, z: float, cavity: np.ndarray, xc: float, yc: float, cav_x: float,
                       cav_ant: float, cav_post: float, y_sp: float, rv: float) -> None:
        depth = cav_ant + cav_post
        liver = _profile2(z, 250.0, 345.0, 455.0, 2.2)
        if liver > 0:
            cv.ellipse(xc - 0.55 * cav_x, yc + 0.02 * depth, 0.85 * cav_x * liver, 0.62 * depth * liver,
                       self.liver_hu, 8.0, angle=0.2, power=2.4, clip=cavity)
            for v in self.organ_vessels:
                s = v.section(z)
                if s > 0:
                    cv.ellipse(xc + v.cx, yc + v.cy, v.ax * s, v.ay * s, self.liver_hu + v.value, 4.0, clip=cavity)
        gall = _profile(z, 330.0, 400.0)
        if gall > 0:
            cv.ellipse(xc - 0.35 * cav_x, yc - 0.32 * cav_ant, 14 * gall, 18 * gall, 10.0, 4.0, clip=cavity)
        spleen = _profile(z, 250.0, 370.0)
        if spleen > 0:
            cv.ellipse(xc + 0.78 * cav_x, yc + 0.5 * cav_post, 28 * spleen, 60 * spleen, 48.0, 7.0, angle=-0.7,
                       clip=cavity)
        stomach = _profile(z, 300.0, 400.0)
        if stomach > 0:
            sx, sy, sax, say = xc + 0.38 * cav_x, yc - 0.3 * cav_ant, 48 * stomach, 34 * stomach
            cv.ellipse(sx, sy, sax + 4, say + 4, 42.0, 8.0, angle=0.4, clip=cavity)
            res = cv.coverage(sx, sy, sax, say, 0.4)
            if res is not None:
                sl, cov = res
                level = sy - say + 2 * say * self.stomach_air
                air = np.clip(0.5 - (cv.ys[sl[0]][:, None] - level) / cv.px, 0, 1)
                value = 15.0 + air * (TISSUE_HU["air"] - 15.0)
                cv.blend(sl, cov * cavity[sl], value, 6.0)
        pancreas = _profile(z, 330.0, 395.0)
        if pancreas > 0:
            cv.ellipse(xc + 10, y_sp - rv - 38, 62 * pancreas, 11 * pancreas, 40.0, 22.0, angle=-0.15, clip=cavity)
        for side, z0 in ((-1.0, 345.0), (1.0, 325.0)):
            kid = _profile(z, z0, z0 + 115.0)
            if kid > 0:
                kx = xc + side * (rv + 48)
                ang = side * 0.5
                cv.ellipse(kx, y_sp + 2, 27 * kid, 38 * kid, TISSUE_HU["kidney"] + 2, 6.0, angle=ang, clip=cavity)
                sinus = _profile(z, z0 + 35, z0 + 80)
                if sinus > 0:
                    cv.ellipse(kx - side * 12 * kid, y_sp, 10 * sinus, 16 * sinus, -70.0, 15.0, angle=ang)
                    cv.ellipse(kx - side * 14 * kid, y_sp, 4 * sinus, 6 * sinus, 8.0, 4.0, angle=ang)
        psoas = _smoothstep(z, 360.0, 560.0)
        if psoas > 0:
            for side in (-1.0, 1.0):
                cv.ellipse(xc + side * (rv + 6 + 12 * psoas), y_sp - 3, 6 + 18 * psoas, 8 + 14 * psoas, 50.0, 8.0)

    def _paint_spine(self, cv: _Canvas, z: float, xc: float, y_sp: float, rv: float) -> None:
        phase = ((z + self.vert_phase) % self.vert_period) / self.vert_period
        cort, trab = self.cortical, self.trabecular
        disc = phase < 0.2
        endplate = 0.2 <= phase < 0.24 or phase > 0.96
        lumbar = _smoothstep(z, 320.0, 420.0)
        if disc:
            cv.ellipse(xc, y_sp, rv * 1.05, rv * 0.9, 85.0, 8.0)
        else:
            cv.bone(xc, y_sp, rv * 1.08, rv * 0.92, 1.4, cort, trab + (150.0 if endplate else 0.0))
        canal_y = y_sp + rv * 0.92 + 9.0
        posterior = 0.25 < phase < 0.85
        if posterior:
            cv.bone(xc, canal_y + 1, 15.0, 13.0, 1.4, cort, trab)
            spin_len = 18.0 + 8.0 * lumbar
            cv.bone(xc, canal_y + 12 + spin_len / 2, 4.5 + 2 * lumbar, spin_len / 2 + 2, 1.3, cort, trab)
            tp = 14.0 + 12.0 * lumbar
            for side in (-1.0, 1.0):
                cv.bone(xc + side * (10 + tp / 2), canal_y - 2, tp / 2 + 2, 5.0, 1.2, cort, trab, angle=side * 0.25)
        cv.ellipse(xc, canal_y, 9.0, 8.0, TISSUE_HU["csf"], 4.0)
        if z < 400:
            cv.ellipse(xc, canal_y, 4.5, 4.0, 35.0, 3.0)  # spinal cord

    def _paint_ribs(self, cv: _Canvas, z: float, tables: dict[str, np.ndarray], idx: np.ndarray, xc: float,
                    yc: float, y_ant: float) -> None:
        theta_tab, rib_r = tables["theta"], tables["ribs"]
        n = len(theta_tab)
        for i in range(12):
            z_post = self.rib_z0 + i * self.rib_spacing
            phi_max = 2.7 if i < 7 else (2.2 if i < 10 else 1.2)
            phi = (z - z_post) / self.rib_slope
            if phi < 0 or phi > phi_max:
                continue
            cartilage = phi > phi_max - (0.55 if i < 7 else 0.9) and i < 10
            for side in (-1.0, 1.0):
                theta = np.pi / 2 + side * (0.32 + phi)  # side -1: image right (patient left)
                theta = (theta + np.pi) % (2 * np.pi) - np.pi
                k = int((theta + np.pi) / (2 * np.pi) * n) % n
                r = float(rib_r[k])
                px_, py_ = xc + r * math.cos(theta), yc + r * math.sin(theta)
                tangent = theta + np.pi / 2
                length = min(9.0 * r / self.rib_slope, 30.0)
                if cartilage:
                    cv.ellipse(px_, py_, length / 2, 4.5, TISSUE_HU["cartilage"], 15.0, angle=tangent)
                else:
                    cv.bone(px_, py_, length / 2, 3.8 if i < 10 else 3.0, 1.3, self.cortical, self.trabecular,
                            angle=tangent)
        sternum = _profile(z, 35.0, 235.0, 4.0)
        if sternum > 0:
            width = 26.0 if z < 80 else 15.0
            cv.bone(xc, y_ant + 4.0, width, 6.5, 1.3, self.cortical, self.trabecular)
        scap = _profile(z, -30.0, 150.0, 2.0)
        if scap > 0:
            for side in (-1.0, 1.0):
                sx, sy = xc + side * 0.6 * self.bx, yc + 0.62 * self.by
                cv.ellipse(sx, sy, 48 * scap + 6, 14.0, TISSUE_HU["muscle"], 9.0, angle=-side * 0.55)
                cv.bone(sx, sy, 42 * scap, 3.5, 1.1, self.cortical, self.trabecular, angle=-side * 0.55)


_FIELD_BANDS = {  # name: ((cell size mm, weight), ...): Gaussian noise on a coarse grid, upsampled
    "texture": ((12.0, 0.6), (3.0, 0.8)),
    "dx": ((60.0, 1.0),),
    "dy": ((60.0, 1.0),),
}


def _random_fields(rng: np.random.Generator, shape: tuple[int, int, int], spacing: Sequence[float]):
    """Yield, slice by slice, smooth unit-variance random fields (texture, deformation) continuous across slices.

    Each band is a 3D grid of Gaussian noise (cell size in mm) interpolated linearly along z (renormalised to unit
    variance) and bicubically in-plane.
    """
    d, h, w = shape
    sz, px = float(spacing[0]), float(spacing[-1])
    grids = {}
    for name, bands in _FIELD_BANDS.items():
        grids[name] = []
        for cell_mm, weight in bands:
            gd = max(int(math.ceil((d - 1) * sz / cell_mm)), 0) + 2
            gh = max(int(h * px / cell_mm), 2) + 1
            gw = max(int(w * px / cell_mm), 2) + 1
            grids[name].append((rng.standard_normal((gd, gh, gw), dtype=np.float32), cell_mm, weight))
    for k in range(d):
        out = {}
        for name, bands in grids.items():
            field_k = np.zeros((h, w), dtype=np.float32)
            for grid, cell_mm, weight in bands:
                pos = k * sz / cell_mm
                i0 = min(int(pos), grid.shape[0] - 2)
                f = pos - i0
                plane = (grid[i0] * (1 - f) + grid[i0 + 1] * f) / math.sqrt((1 - f) ** 2 + f**2)
                field_k += weight * cv2.resize(plane, (w, h), interpolation=cv2.INTER_CUBIC)
            out[name] = field_k / math.sqrt(sum(wt**2 for _, _, wt in bands))
        yield out


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        if len(size) != 2:
            raise ValueError(f"size must be an int or (H, W), got {size!r}")
        h, w = (int(s) for s in size)
    if h < 16 or w < 16:
        raise ValueError(f"synthetic CT needs at least 16 x 16 pixels, got {h} x {w}")
    return h, w


def synthetic_ct_slice(
    size: int | Sequence[int] = 256,
    seed: int | np.random.Generator = 0,
    z: float | None = None,
    fov_mm: float = _FOV_MM,
    table: bool = True,
    noise_std: float | None = None,
) -> np.ndarray:
    """Generate one CT-like axial slice in Hounsfield units.

    Args:
        size: ``H = W`` or ``(H, W)`` in pixels (at least 16).
        seed: integer seed or a NumPy Generator; the same seed gives the same slice.
        z: cranio-caudal position in mm (0 = lung apices, ~150 heart, ~300 liver dome, 400 kidneys, 550 lower
            abdomen); random in 20 .. 540 when None.
        fov_mm: field of view (mm) across the larger image side; pixel spacing is ``fov_mm / max(H, W)``.
        table: draw the patient table under the body.
        noise_std: noise standard deviation in HU (random 8 .. 20 when None).

    Returns:
        float32 array ``(H, W)`` in HU, clipped to [-1024, 3071].

    Raises:
        ValueError: size below 16 pixels.
    """
    h, w = _hw(size)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    subject = SyntheticSubject.random(rng, table=table, noise_std=noise_std)
    z_mm = float(rng.uniform(20.0, 540.0)) if z is None else float(z)
    return subject.render(z_mm, (h, w), fov_mm / max(h, w), rng)


def synthetic_ct_volume(
    shape: Sequence[int] = (64, 512, 512),
    seed: int | np.random.Generator = 0,
    spacing: Sequence[float] | None = None,
    z_start: float | None = None,
    table: bool = True,
    noise_std: float | None = None,
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Generate a CT-like volume in Hounsfield units whose anatomy varies smoothly across slices.

    Args:
        shape: ``(D, H, W)``: slices (superior to inferior), rows (anterior to posterior), columns.
        seed: integer seed or a NumPy Generator.
        spacing: ``(sz, sy, sx)`` in mm (``sy`` must equal ``sx``); default slice thickness 5 mm (2.5 mm when more
            than 100 slices) and ``400 / max(H, W)`` mm in-plane.
        z_start: position of the first slice in mm below the lung apices (random so that the volume fits in the
            0 .. 550 mm torso model when None).
        table: draw the patient table.
        noise_std: noise standard deviation in HU (random when None).

    Returns:
        ``(volume, spacing)``: float32 ``(D, H, W)`` HU array and the ``(sz, sy, sx)`` spacing in mm.

    Raises:
        ValueError: bad shape or spacing.
    """
    if len(shape) != 3 or min(int(s) for s in shape) < 1:
        raise ValueError(f"shape must be (D, H, W) with positive sizes, got {tuple(shape)!r}")
    d = int(shape[0])
    h, w = _hw(tuple(shape[1:]))
    if spacing is None:
        px = _FOV_MM / max(h, w)
        spacing = (5.0 if d <= 100 else 2.5, px, px)
    if len(spacing) != 3 or min(spacing) <= 0 or not math.isclose(spacing[1], spacing[2], rel_tol=1e-6):
        raise ValueError(f"spacing must be (sz, sy, sx) > 0 with sy == sx, got {tuple(spacing)!r}")
    sz, sy, sx = (float(s) for s in spacing)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    subject = SyntheticSubject.random(rng, table=table, noise_std=noise_std)
    extent = (d - 1) * sz
    if z_start is None:
        z_start = float(rng.uniform(0.0, max(_TORSO_MM - extent, 0.0)))
    volume = np.empty((d, h, w), dtype=np.float32)
    for k, fields in enumerate(_random_fields(rng, (d, h, w), (sz, sy, sx))):
        volume[k] = subject.render(z_start + k * sz, (h, w), sy, rng, fields=fields)
    return volume, (sz, sy, sx)


def insert_metal(
    image: np.ndarray,
    seed: int | np.random.Generator = 0,
    n_objects: int = 2,
    slices: Sequence[int] | None = None,
    value: float = HU_MAX,
    size_mm: tuple[float, float] = (3.0, 12.0),
    spacing: Sequence[float] | None = None,
    body_threshold: float = -500.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Insert small dense metal objects (fillings / screws / clips) inside the body of a slice or volume.

    Objects are compact blobs or rods (screw-like, random in-plane orientation) centred on pixels well inside the
    body; in a volume each spans a few consecutive slices. The returned mask is exactly where ``value`` was written.

    Args:
        image: ``(H, W)`` slice or ``(D, H, W)`` volume in HU (not modified).
        seed: integer seed or Generator.
        n_objects: number of objects (>= 1).
        slices: volume only: the slice indices allowed to receive metal (default: every slice with body).
        value: HU written inside objects (>= 3000 is typical of metal; 3071 fits int16 and the default window).
        size_mm: range of object half-lengths in mm.
        spacing: ``(sy, sx)`` for a slice or ``(sz, sy, sx)`` for a volume in mm (default: the synthetic defaults).
        body_threshold: HU above which a pixel counts as body.

    Returns:
        ``(with_metal, metal_mask)``: float32 copy with the objects, and the boolean mask of their voxels.

    Raises:
        ValueError: bad arguments, or no body voxel where metal may go.
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"insert_metal expects (H, W) or (D, H, W), got shape {arr.shape}")
    if n_objects < 1:
        raise ValueError(f"n_objects must be >= 1, got {n_objects}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    vol = arr[None] if arr.ndim == 2 else arr
    d, h, w = vol.shape
    if spacing is None:
        px = _FOV_MM / max(h, w)
        spacing = (px, px) if arr.ndim == 2 else (5.0, px, px)
    sz, sy, sx = (1.0, *spacing) if arr.ndim == 2 else tuple(spacing)
    allowed = list(range(d)) if (slices is None or arr.ndim == 2) else sorted({int(s) for s in slices})
    if any(s < 0 or s >= d for s in allowed):
        raise ValueError(f"slices {allowed} out of range for {d} slices")
    inner = np.zeros((d, h, w), dtype=bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(10 / sy) + 1, 2 * int(10 / sx) + 1))
    for k in allowed:
        bm = body_mask(vol[k], body_threshold).astype(np.uint8)
        inner[k] = cv2.erode(bm, kernel).astype(bool) if bm.any() else False
    candidates = np.argwhere(inner)
    if candidates.size == 0:
        raise ValueError("insert_metal: no body voxel (above body_threshold, 10 mm inside the skin) in the slices given")
    out = vol.copy()
    mask = np.zeros((d, h, w), dtype=bool)
    allowed_set = np.zeros(d, dtype=bool)
    allowed_set[allowed] = True
    for _ in range(int(n_objects)):
        kc, rc, cc = candidates[rng.integers(len(candidates))]
        half_len = rng.uniform(*size_mm)
        rod = rng.random() < 0.5
        ax = half_len
        ay = rng.uniform(1.5, 3.0) if rod else half_len * rng.uniform(0.6, 1.0)
        angle = rng.uniform(0, np.pi)
        half_slices = 0 if arr.ndim == 2 else int(rng.integers(0, max(int(round(half_len / sz)), 0) + 1))
        for k in range(kc - half_slices, kc + half_slices + 1):
            if k < 0 or k >= d or not allowed_set[k]:
                continue
            s = 1.0 if half_slices == 0 else math.sqrt(max(1.0 - ((k - kc) / (half_slices + 0.5)) ** 2, 0.0))
            rr, cc_ = np.ogrid[:h, :w]
            x = (cc_ - cc) * sx
            y = (rr - rc) * sy
            c, s_ = math.cos(angle), math.sin(angle)
            u, v = c * x + s_ * y, -s_ * x + c * y
            obj = (u / max(ax * s, sx)) ** 2 + (v / max(ay * s, sy)) ** 2 <= 1.0
            mask[k] |= obj & inner[k] | obj & (k == kc)
    out[mask] = value
    if arr.ndim == 2:
        return out[0], mask[0]
    return out, mask


class SyntheticCTDataset(Dataset):
    """A MONAI ``Dataset`` of synthetic CT slices: item ``i`` is ``{"image": (1, H, W) HU float32, "seed": s}``.

    Each item comes from its own seed (derived from ``seed`` and ``i``), so items are reproducible, independent of
    the order they are read in, and differ between indices. ``transform`` (e.g. windowing and a hole-mask transform)
    is applied to the dict as in any MONAI dataset.

    Args:
        num_samples: number of items.
        size: ``H = W`` or ``(H, W)``.
        seed: base seed.
        transform: callable applied to each item dict (MONAI ``Compose``).
        z_range: cranio-caudal range (mm) the slices are drawn from.
        table: draw the patient table.
    """

    def __init__(
        self,
        num_samples: int,
        size: int | Sequence[int] = 256,
        seed: int = 0,
        transform: Callable | None = None,
        z_range: tuple[float, float] = (20.0, 540.0),
        table: bool = True,
    ):
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.size = _hw(size)
        self.base_seed = int(seed)
        self.z_range = (float(z_range[0]), float(z_range[1]))
        self.table = table
        items = [{"index": i} for i in range(int(num_samples))]
        super().__init__(data=items, transform=transform)

    def item_seed(self, index: int) -> int:
        """The seed of item ``index``."""
        return int(np.random.SeedSequence([self.base_seed, int(index)]).generate_state(1)[0])

    def _transform(self, index: int) -> Any:
        seed = self.item_seed(index)
        rng = np.random.default_rng(seed)
        subject = SyntheticSubject.random(rng, table=self.table)
        z = float(rng.uniform(*self.z_range))
        img = subject.render(z, self.size, _FOV_MM / max(self.size), rng)
        item = {"image": img[None], "seed": seed, "z_mm": z}
        return apply_transform(self.transform, item) if self.transform is not None else item

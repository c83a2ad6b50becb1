"""Tests of the volumetric biharmonic baseline ``biharmonic3d``: ``Biharmonic3DInpainter``, ``biharmonic_fill_3d``."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.restoration import inpaint_biharmonic

from rfr_inpaint.baselines import (
    BASELINES,
    Biharmonic3DInpainter,
    BiharmonicInpainter,
    _merge_grown_boxes,
    biharmonic_fill_3d,
)
from rfr_inpaint.inpainters import CLASSICAL_METHODS, get_inpainter


def _smooth_volume(shape=(14, 36, 40), noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A smooth field in [0, 1] that varies along every axis (optionally with a little noise)."""
    z, y, x = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    field = 0.45 + 0.2 * np.sin(x / 6.0 + z / 5.0) * np.cos(y / 7.0) + 0.15 * np.cos(z / 3.0 + y / 9.0)
    field += noise * np.random.default_rng(seed).standard_normal(shape)
    return np.clip(field, 0.0, 1.0).astype(np.float32)


def _many_components(shape=(14, 36, 40)) -> np.ndarray:
    """Hole components: isolated ones, two a stencil apart (coupled), two whose grown boxes only overlap, a chain
    whose merged box reaches a third, and blocks on the first and the last slice."""
    hole = np.zeros(shape, dtype=bool)
    hole[5:8, 4:10, 4:11] = True  # isolated block
    hole[2:4, 20:24, 5:9] = True  # coupled pair: 2 voxels apart in x (inside one stencil)
    hole[2:4, 20:24, 11:14] = True
    hole[6:9, 26:30, 20:23] = True  # grown boxes overlap, stencils do not (5 voxels apart in y)
    hole[6:9, 17:21, 20:23] = True
    hole[9:11, 8:11, 26:29] = True  # a chain: each box grown touches the next one's
    hole[10:12, 13:16, 31:34] = True
    hole[11:13, 18:21, 36:39] = True
    hole[0:2, 30:34, 30:36] = True  # first slice
    hole[-1, 2:6, 30:37] = True  # last slice
    hole[7, 33:36, 2:5] = True  # touches the volume's border in y
    return hole


def _rmse(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a[where].astype(np.float64) - b[where]) ** 2)))


def test_known_voxels_bit_identical_and_hole_content_never_read():
    volume = _smooth_volume(noise=0.01)
    hole = _many_components()
    poisoned = volume.copy()
    poisoned[hole] = np.nan  # metal, NaN or the truth: the hole's content must not reach the result
    out = Biharmonic3DInpainter()(poisoned, hole)
    assert out.dtype == np.float32 and out.shape == volume.shape and np.isfinite(out).all()
    assert np.array_equal(out[~hole], volume[~hole])
    clean = volume.copy()
    clean[hole] = 7.0
    assert np.array_equal(Biharmonic3DInpainter()(clean, hole), out)
    assert np.array_equal(Biharmonic3DInpainter()(volume, np.zeros_like(hole)), volume)


@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_equals_scikit_image_on_the_whole_volume(noise: float):
    volume = _smooth_volume(noise=noise)
    hole = _many_components()
    # without noise the whole-volume solution overshoots the range of the known voxels around some components (by
    # up to 5e-3 here): a fill clipped to each box's range instead of the volume's would differ there
    z, y, x = np.meshgrid(*[np.arange(n) for n in volume.shape], indexing="ij")
    volume = volume + 0.3 * np.exp(-((z - 7.0) ** 2 + (y - 6.0) ** 2 + (x - 7.5) ** 2) / 8.0).astype(np.float32)
    volume[:, :, -1] = 1.0  # the volume's range is wider than any box's
    expected = inpaint_biharmonic(np.where(hole, 0.0, volume).astype(np.float64), hole)
    out = Biharmonic3DInpainter()(volume, hole)
    assert np.abs(out[hole] - expected[hole]).max() < 1e-6
    assert np.array_equal(out[~hole], volume[~hole])
    np.testing.assert_array_equal(biharmonic_fill_3d(volume, hole), out)


def test_grown_boxes_are_merged_until_none_intersect():
    shape = (20, 40, 40)
    boxes = [
        (slice(2, 4), slice(2, 5), slice(2, 5)),
        (slice(2, 4), slice(9, 12), slice(2, 5)),  # grown by 3: touches the first
        (slice(2, 4), slice(16, 19), slice(2, 5)),  # touches the second only
        (slice(15, 17), slice(30, 33), slice(30, 33)),  # far away
        (slice(0, 1), slice(0, 1), slice(37, 40)),  # clipped at the borders
    ]
    merged = _merge_grown_boxes(boxes, 3, shape)
    assert len(merged) == 3
    for k, a in enumerate(merged):
        for b in merged[k + 1 :]:
            assert not all(p.start < q.stop and q.start < p.stop for p, q in zip(a, b))
    chain = next(m for m in merged if m[1].start == 0 and m[1].stop > 16)
    assert chain == (slice(0, 7), slice(0, 22), slice(0, 8))
    assert (slice(0, 4), slice(0, 4), slice(34, 40)) in merged


def test_better_than_slice_wise_biharmonic_when_holes_are_thin_in_z():
    # smooth everywhere, with in-plane structure finer than the holes and slow change across slices, as anatomy in
    # CT: the slices above and below know what a slice-wise fill has to guess
    z, y, x = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in (12, 48, 48)], indexing="ij")
    volume = (0.5 + 0.25 * np.sin(x / 3.0 + z / 8.0) * np.cos(y / 3.5) + 0.1 * np.cos(z / 4.0)).astype(np.float32)
    hole = np.zeros(volume.shape, dtype=bool)
    hole[3, 10:24, 8:22] = True  # one slice thick, wide in-plane
    hole[7:9, 26:40, 24:40] = True  # two slices thick
    hole[10, 30:44, 4:18] = True
    out3d = Biharmonic3DInpainter()(volume, hole)
    out2d = BiharmonicInpainter()(volume, hole)
    rmse3d, rmse2d = _rmse(out3d, volume, hole), _rmse(out2d, volume, hole)
    assert rmse3d < 0.1 * rmse2d, (rmse3d, rmse2d)
    assert rmse3d < 0.01


def test_2d_input_and_one_slice_fall_back_to_2d_biharmonic():
    volume = _smooth_volume(shape=(1, 32, 36), noise=0.01)
    hole = np.zeros(volume.shape, dtype=bool)
    hole[0, 8:15, 10:20] = True
    expected = BiharmonicInpainter()(volume[0], hole[0])
    out2d = Biharmonic3DInpainter()(volume[0], hole[0])
    assert out2d.shape == (32, 36)
    np.testing.assert_array_equal(out2d, expected)
    np.testing.assert_array_equal(Biharmonic3DInpainter()(volume, hole)[0], expected)


def test_all_hole_stack_gets_the_fill_value():
    volume = _smooth_volume(shape=(3, 8, 8))
    out = Biharmonic3DInpainter(fill_value=0.25)(volume, np.ones(volume.shape, dtype=bool))
    assert out.dtype == np.float32 and np.array_equal(out, np.full(volume.shape, 0.25, np.float32))
    # the low-level function leaves such a stack to its caller
    np.testing.assert_array_equal(biharmonic_fill_3d(volume, np.ones(volume.shape, bool)), volume)


def test_bad_input_is_refused():
    volume = _smooth_volume(shape=(4, 10, 12))
    hole = np.zeros(volume.shape, dtype=bool)
    hole[1:3, 3:6, 3:6] = True
    bad = volume.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        Biharmonic3DInpainter()(bad, hole)
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        Biharmonic3DInpainter()(bad, hole)
    with pytest.raises(ValueError, match="same shape"):
        Biharmonic3DInpainter()(volume, hole[:2])
    with pytest.raises(ValueError, match="same shape"):
        Biharmonic3DInpainter()(volume[None], hole[None])
    with pytest.raises(ValueError, match="fill_value"):
        Biharmonic3DInpainter(fill_value=float("nan"))


def test_built_by_name_as_a_volumetric_classical_method():
    assert "biharmonic3d" in CLASSICAL_METHODS and BASELINES["biharmonic3d"] is Biharmonic3DInpainter
    inpainter = get_inpainter("biharmonic3d", fill_value=0.1)
    assert isinstance(inpainter, Biharmonic3DInpainter) and inpainter.fill_value == 0.1
    assert inpainter.volumetric is True and inpainter.context_slices == 2
    assert not getattr(get_inpainter("biharmonic"), "volumetric", False)
    with pytest.raises(ValueError, match="bad options"):
        get_inpainter("biharmonic3d", radius=3)
    with pytest.raises(ValueError, match="needs no model"):
        get_inpainter("biharmonic3d", model_path="model.pt")

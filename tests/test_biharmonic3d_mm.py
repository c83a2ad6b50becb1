"""Tests of ``biharmonic3d_mm`` (``SpacedBiharmonic3DInpainter``): 3-D biharmonic inpainting that knows the spacing."""

from __future__ import annotations

import numpy as np
import pytest
from _variant_helpers import real_ct

from rfr_inpaint.baselines import (
    BASELINES,
    Biharmonic3DInpainter,
    SpacedBiharmonic3DInpainter,
    axis_weights,
    biharmonic_fill_3d,
)
from rfr_inpaint.inpainters import CLASSICAL_METHODS, get_inpainter
from rfr_inpaint.volume import inpaint_volume


def _field(shape=(10, 40, 44)) -> np.ndarray:
    z, y, x = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    noise = 0.02 * np.random.default_rng(3).standard_normal(shape)
    return np.clip(0.5 + 0.2 * np.sin(x / 4.0 + z / 3.0) * np.cos(y / 5.0) + noise, 0, 1).astype(np.float32)


def _holes(shape=(10, 40, 44)) -> np.ndarray:
    hole = np.zeros(shape, dtype=bool)
    hole[3:6, 8:20, 10:16] = True
    hole[0:2, 25:33, 30:40] = True  # on the first slice: the box is cut by the volume's edge
    hole[-1, 30:36, 2:8] = True
    return hole


def _screws(shape: tuple[int, int, int]) -> np.ndarray:
    """Thin oblique cylinders (radius 2 px) through slices 1..6: screws as they cross thick CT slices."""
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    hole = np.zeros(shape, dtype=bool)
    for y0, x0, dy in ((70, 60, 3), (120, 130, -2), (100, 90, 1)):
        hole |= ((yy - (y0 + dy * zz)) ** 2 + (xx - x0) ** 2 <= 4) & (zz >= 1) & (zz <= 6)
    return hole


def test_unit_weights_are_scikit_images_equation():
    volume, hole = _field(), _holes()
    expected = biharmonic_fill_3d(volume, hole)  # scikit-image's solver
    np.testing.assert_allclose(biharmonic_fill_3d(volume, hole, np.ones(3)), expected, atol=1e-6)
    # isotropic spacing, or exponent 0 at any spacing, is biharmonic3d
    for spacing, exponent in (((0.8, 0.8, 0.8), 1.0), ((5.0, 0.6, 0.6), 0.0)):
        out = SpacedBiharmonic3DInpainter(spacing_exponent=exponent)(volume, hole, spacing=spacing)
        np.testing.assert_allclose(out, Biharmonic3DInpainter()(volume, hole), atol=1e-6)
    np.testing.assert_array_equal(SpacedBiharmonic3DInpainter()(volume, hole), Biharmonic3DInpainter()(volume, hole))


def test_axis_weights():
    np.testing.assert_allclose(axis_weights((5.0, 0.5, 0.5), 2.0), [0.01, 1.0, 1.0])
    np.testing.assert_allclose(axis_weights((5.0, 0.5, 0.5), 1.0), [0.1, 1.0, 1.0])
    np.testing.assert_allclose(axis_weights((2.0, 1.0, 4.0), 0.0), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        axis_weights((0.0, 1.0, 1.0), 1.0)


def test_thick_slices_count_less_and_known_voxels_are_kept():
    volume, hole = _field(), _holes()
    unit = Biharmonic3DInpainter()(volume, hole)
    spaced = SpacedBiharmonic3DInpainter()(volume, hole, spacing=(5.0, 0.6, 0.6))
    assert spaced.dtype == np.float32 and np.array_equal(spaced[~hole], volume[~hole])
    assert np.abs(spaced - unit)[hole].max() > 1e-3  # the spacing changes the fill
    assert spaced[hole].min() >= volume[~hole].min() and spaced[hole].max() <= volume[~hole].max()


def test_better_than_unit_spacing_on_screws_through_real_thick_slices():
    hu, spacing = real_ct()  # 2.5 mm slices, 0.7 mm pixels
    hole = _screws(hu.shape)
    errors = {}
    for method in ("biharmonic", "biharmonic3d", "biharmonic3d_mm"):
        out, used = inpaint_volume(hu, hole, get_inpainter(method), spacing=spacing, margin_mm=0.0)
        assert np.array_equal(used, hole) and np.array_equal(out[~hole], hu[~hole])
        errors[method] = float(np.sqrt(np.mean((out[hole].astype(np.float64) - hu[hole]) ** 2)))
    assert errors["biharmonic3d_mm"] < 0.98 * errors["biharmonic3d"] < errors["biharmonic"], errors


def test_volume_path_passes_the_spacing_slice_axis_first():
    hu, spacing = real_ct()
    hole = _screws(hu.shape)
    inpainter = get_inpainter("biharmonic3d_mm")
    along_0, _ = inpaint_volume(hu, hole, inpainter, spacing=spacing, margin_mm=0.0)
    moved, _ = inpaint_volume(
        np.moveaxis(hu, 0, 2), np.moveaxis(hole, 0, 2), inpainter, axis=2, spacing=spacing[1:] + spacing[:1], margin_mm=0.0
    )
    np.testing.assert_array_equal(np.moveaxis(moved, 2, 0), along_0)
    unit, _ = inpaint_volume(hu, hole, get_inpainter("biharmonic3d"), spacing=spacing, margin_mm=0.0)
    assert not np.array_equal(unit, along_0)  # the spacing arrived


def test_built_by_name_and_bad_options_refused():
    assert "biharmonic3d_mm" in CLASSICAL_METHODS and BASELINES["biharmonic3d_mm"] is SpacedBiharmonic3DInpainter
    inpainter = get_inpainter("biharmonic3d_mm", spacing_exponent=2.0)
    assert inpainter.volumetric and inpainter.uses_spacing and inpainter.context_slices == 2
    assert inpainter.spacing_exponent == 2.0
    assert SpacedBiharmonic3DInpainter().spacing_exponent == SpacedBiharmonic3DInpainter.SPACING_EXPONENT
    with pytest.raises(ValueError, match="spacing_exponent"):
        SpacedBiharmonic3DInpainter(spacing_exponent=-1)
    volume, hole = _field(), _holes()
    with pytest.raises(ValueError, match="3 values"):
        inpainter(volume, hole, spacing=(1.0, 1.0))
    # a 2-D image is 2-D biharmonic, as for biharmonic3d
    np.testing.assert_array_equal(
        inpainter(volume[4], hole[4], spacing=(1.0, 1.0, 1.0)), Biharmonic3DInpainter()(volume[4], hole[4])
    )

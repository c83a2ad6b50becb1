"""Tests of ``biharmonic3d_auto`` (``SelfTunedBiharmonic3DInpainter``): ``biharmonic3d_mm`` with the spacing exponent
chosen per call by refilling a ring of known voxels around the hole."""

from __future__ import annotations

import numpy as np
import pytest
from _variant_helpers import real_ct
from scipy import ndimage as ndi

from rfr_inpaint.baselines import (
    BASELINES,
    Biharmonic3DInpainter,
    SelfTunedBiharmonic3DInpainter,
    SpacedBiharmonic3DInpainter,
)
from rfr_inpaint.inpainters import CLASSICAL_METHODS, get_inpainter
from rfr_inpaint.volume import inpaint_volume

SPACING = (2.5, 0.7, 0.7)  # the committed real slices' spacing


def _hu01() -> np.ndarray:
    hu, _ = real_ct()
    return np.clip((hu.astype(np.float32) + 1024.0) / 4095.0, 0.0, 1.0)


def _square(shape: tuple[int, ...], z: slice, side: int = 14) -> np.ndarray:
    hole = np.zeros(shape, dtype=bool)
    hole[z, 80 : 80 + side, 90 : 90 + side] = True
    return hole


def _ring_error(volume, hole, exponent, ring_px) -> float:
    ring = ndi.binary_dilation(hole, structure=ndi.generate_binary_structure(2, 1)[None], iterations=ring_px) & ~hole
    out = SpacedBiharmonic3DInpainter(spacing_exponent=exponent)(volume, hole | ring, spacing=SPACING)
    return float(np.mean((out[ring].astype(np.float64) - volume[ring]) ** 2))


def test_fills_with_the_exponent_whose_ring_comes_back_best():
    volume = _hu01()
    hole = _square(volume.shape, slice(3, 6))
    inpainter = SelfTunedBiharmonic3DInpainter()
    out = inpainter(volume, hole, spacing=SPACING)
    errors = {e: _ring_error(volume, hole, e, inpainter.ring_px) for e in inpainter.exponents}
    assert inpainter.last_exponent == min(errors, key=errors.get)
    chosen = SpacedBiharmonic3DInpainter(spacing_exponent=inpainter.last_exponent)(volume, hole, spacing=SPACING)
    np.testing.assert_array_equal(out, chosen)  # exactly biharmonic3d_mm with that exponent
    assert out.dtype == np.float32 and np.array_equal(out[~hole], volume[~hole])


def test_the_choice_follows_the_anatomy():
    """A volume constant along z wants the slices above and below (exponent 0); one whose slices are unrelated
    wants the slice itself (exponent 2). The ring sees which, and the choice fills the hole better."""
    rng = np.random.default_rng(0)
    plane = ndi.gaussian_filter(rng.random((64, 64)), 3)
    along_z = np.repeat(plane[None], 7, axis=0).astype(np.float32)
    unrelated = np.stack([ndi.gaussian_filter(rng.random((64, 64)), 3) for _ in range(7)]).astype(np.float32)
    hole = np.zeros(along_z.shape, dtype=bool)
    hole[2:5, 24:40, 24:40] = True
    for volume, expected in ((along_z, 0.0), (unrelated, 2.0)):
        inpainter = SelfTunedBiharmonic3DInpainter(ring_px=3)
        out = inpainter(volume, hole, spacing=SPACING)
        assert inpainter.last_exponent == expected
        default = SpacedBiharmonic3DInpainter()(volume, hole, spacing=SPACING)
        assert np.mean((out - volume)[hole] ** 2) < np.mean((default - volume)[hole] ** 2)


def test_isotropic_unspaced_and_2d_inputs_cost_one_solve():
    volume = _hu01()
    hole = _square(volume.shape, slice(2, 5))
    inpainter = SelfTunedBiharmonic3DInpainter()
    iso = inpainter(volume, hole, spacing=(1.5, 1.5, 1.5))  # every exponent gives the same equation
    assert inpainter.last_exponent == SelfTunedBiharmonic3DInpainter.SPACING_EXPONENT
    np.testing.assert_array_equal(iso, SpacedBiharmonic3DInpainter()(volume, hole, spacing=(1.5, 1.5, 1.5)))
    np.testing.assert_array_equal(inpainter(volume, hole), Biharmonic3DInpainter()(volume, hole))
    assert inpainter.last_exponent is None
    np.testing.assert_array_equal(inpainter(volume[3], hole[3]), Biharmonic3DInpainter()(volume[3], hole[3]))
    small = volume[:4, :24, :24]
    full = np.ones(small.shape, dtype=bool)
    full[0, :2] = False  # the ring would swallow every known voxel: the default exponent fills
    inpainter(small, full, spacing=SPACING)
    assert inpainter.last_exponent == SelfTunedBiharmonic3DInpainter.SPACING_EXPONENT


def test_through_the_volume_path_on_real_slices():
    hu, spacing = real_ct()
    hole = _square(hu.shape, slice(3, 6), side=16)
    out, used = inpaint_volume(hu, hole, get_inpainter("biharmonic3d_auto"), spacing=spacing, margin_mm=0.0)
    assert np.array_equal(used, hole) and np.array_equal(out[~hole], hu[~hole]) and out.dtype == hu.dtype
    errors = {}
    for method in ("biharmonic3d_mm", "biharmonic3d_auto"):
        filled, _ = inpaint_volume(hu, hole, get_inpainter(method), spacing=spacing, margin_mm=0.0)
        errors[method] = float(np.sqrt(np.mean((filled[hole].astype(np.float64) - hu[hole]) ** 2)))
    assert errors["biharmonic3d_auto"] <= errors["biharmonic3d_mm"] + 1e-6, errors


def test_built_by_name_and_bad_options_refused():
    assert "biharmonic3d_auto" in CLASSICAL_METHODS and BASELINES["biharmonic3d_auto"] is SelfTunedBiharmonic3DInpainter
    inpainter = get_inpainter("biharmonic3d_auto", ring_px=2, exponents=(2.0, 1.0))
    assert inpainter.volumetric and inpainter.uses_spacing and inpainter.exponents == (1.0, 2.0)  # default first
    with pytest.raises(ValueError, match="exponents"):
        SelfTunedBiharmonic3DInpainter(exponents=(-1.0,))
    with pytest.raises(ValueError, match="exponents"):
        SelfTunedBiharmonic3DInpainter(exponents=())
    with pytest.raises(ValueError, match="ring_px"):
        SelfTunedBiharmonic3DInpainter(ring_px=0)
    volume = _hu01()
    with pytest.raises(ValueError, match="3 values"):
        inpainter(volume, _square(volume.shape, slice(2, 4)), spacing=(1.0, 1.0))

"""Tests of rfr_inpaint.baselines: composited results, accuracy on smooth images, edge cases, factory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.restoration import inpaint_biharmonic

from rfr_inpaint.baselines import (
    BASELINES,
    BiharmonicInpainter,
    MeanFillInpainter,
    NavierStokesInpainter,
    TeleaInpainter,
    make_baseline,
)


#: the methods that fill each slice on its own (the per-slice rules below); ``biharmonic3d`` fills the stack as one
#: volume (its own rules: tests/test_biharmonic3d.py)
SLICE_WISE = sorted(name for name, cls in BASELINES.items() if not getattr(cls, "volumetric", False))


def _smooth_stack(n: int = 2, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    images = np.stack([0.3 + 0.3 * np.sin(3 * xx + k) * np.cos(2 * yy) + 0.2 * xx for k in range(n)])
    holes = np.zeros(images.shape, dtype=bool)
    holes[:, 10:22, 12:30] = True
    holes[:, 40:44, 5:60] = True  # a strip
    holes[-1, 0:6, 50:64] = True  # touching the border
    return images.astype(np.float32), holes


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_known_pixels_bit_identical_and_better_than_zero_fill(name: str) -> None:
    images, holes = _smooth_stack()
    truth = images.copy()
    poisoned = images.copy()
    poisoned[holes] = 7.0  # hole content must never influence the result
    out = BASELINES[name]()(poisoned, holes)
    assert out.dtype == np.float32 and out.shape == images.shape and np.isfinite(out).all()
    assert np.array_equal(out[~holes], images[~holes])
    assert np.array_equal(BASELINES[name]()(images, holes), out)
    err = np.abs(out - truth)[holes].mean()
    zero_fill_err = np.abs(truth)[holes].mean()
    assert err < 0.25 * zero_fill_err, (name, err, zero_fill_err)
    assert out[holes].min() >= images[~holes].min() and out[holes].max() <= images[~holes].max()


def test_accuracy_ranking_on_smooth_image() -> None:
    images, holes = _smooth_stack(n=1)
    errors = {name: float(np.abs(cls()(images, holes) - images)[holes].mean()) for name, cls in BASELINES.items()}
    assert errors["biharmonic"] < 1e-3  # smooth data: biharmonic is nearly exact
    assert errors["biharmonic"] < min(errors["telea"], errors["ns"]) < errors["mean"]


def test_biharmonic_is_scikit_image_on_the_whole_slice() -> None:
    images, holes = _smooth_stack(n=1)
    whole = BiharmonicInpainter()(images, holes)
    np.testing.assert_allclose(
        whole[0], inpaint_biharmonic(np.where(holes[0], 0, images[0]).astype(np.float64), holes[0]), atol=1e-6
    )
    assert np.array_equal(whole[~holes], images[~holes])


def test_empty_hole_unchanged_and_all_hole_defined() -> None:
    images, holes = _smooth_stack()
    holes[0] = False
    holes[1] = True
    for name in SLICE_WISE:
        cls = BASELINES[name]
        out = cls()(images, holes)
        assert np.array_equal(out[0], images[0]), name
        assert np.all(out[1] == 0.5), name
        assert np.all(cls(fill_value=0.25)(images[1], holes[1]) == 0.25), name  # 2-D input keeps its shape


def test_mean_fill_uses_ring_around_each_component() -> None:
    image = np.zeros((20, 40), np.float32)
    image[:, 20:] = 1.0
    hole = np.zeros_like(image, dtype=bool)
    hole[8:12, 4:8] = True  # ring entirely in the 0 half
    hole[8:12, 30:34] = True  # ring entirely in the 1 half
    out = MeanFillInpainter(ring_width=2)(image, hole)
    assert np.all(out[8:12, 4:8] == 0.0) and np.all(out[8:12, 30:34] == 1.0)
    hole2 = np.zeros_like(hole)
    hole2[8:12, 18:22] = True  # straddles: ring mean is the average of both sides
    assert out.shape == image.shape
    assert MeanFillInpainter(ring_width=2)(image, hole2)[10, 19] == pytest.approx(0.5)


def test_opencv_methods_on_flat_and_quantised_ranges() -> None:
    image = np.full((32, 32), 0.4, np.float32)
    hole = np.zeros_like(image, dtype=bool)
    hole[10:20, 10:20] = True
    for cls in (TeleaInpainter, NavierStokesInpainter):
        np.testing.assert_allclose(cls(radius=5)(image, hole)[hole], 0.4, atol=1e-6)
    with pytest.raises(ValueError, match="radius"):
        TeleaInpainter(radius=0)


def test_bad_input_and_factory() -> None:
    images, holes = _smooth_stack()
    with pytest.raises(ValueError, match="same shape"):
        TeleaInpainter()(images, holes[:1])
    bad = images.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MeanFillInpainter()(bad, holes)
    assert isinstance(make_baseline("ns", radius=2), NavierStokesInpainter)
    assert make_baseline("ns", radius=2).radius == 2
    with pytest.raises(ValueError, match="unknown classical inpainter 'foo'"):
        make_baseline("foo")
    with pytest.raises(ValueError, match="bad options"):
        make_baseline("mean", radius=3)
    float_holes = holes.astype(np.float32)
    assert np.array_equal(MeanFillInpainter()(images, float_holes), MeanFillInpainter()(images, holes))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), fraction=st.floats(0.0, 1.0), name=st.sampled_from(sorted(BASELINES)))
def test_any_mask_keeps_known_pixels_and_stays_in_range(seed: int, fraction: float, name: str) -> None:
    rng = np.random.default_rng(seed)
    images = rng.random((2, 20, 24)).astype(np.float32)
    holes = rng.random(images.shape) < fraction  # from empty to all-hole, scattered pixels
    out = BASELINES[name]()(images, holes)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.array_equal(out[~holes], images[~holes])
    if name not in SLICE_WISE:  # one volume: within the stack's known range, an all-hole stack at fill_value
        known = images[~holes]
        assert np.all(out == 0.5) if not known.size else known.min() <= out.min() <= out.max() <= known.max()
        return
    for i in range(2):
        known = images[i][~holes[i]]
        if known.size:
            assert known.min() <= out[i][holes[i]].min(initial=known.min())
            assert out[i][holes[i]].max(initial=known.max()) <= known.max()
        else:
            assert np.all(out[i] == 0.5)

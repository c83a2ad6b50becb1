"""Volume inpainting: mm margin, slice selection, intensity mapping, dtype restore, untouched voxels, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from rfr_inpaint.transforms.intensity import CTWindow, PercentileScale, mapping_from_window
from rfr_inpaint.volume import (
    InpaintingCancelled,
    dilate_mm,
    inpaint_volume,
    metal_mask,
    slices_with_hole,
)


class SpyInpainter:
    """Fills each slice's hole with the mean of its known pixels and records what it was given."""

    def __init__(self):
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, images: np.ndarray, holes: np.ndarray) -> np.ndarray:
        assert images.dtype == np.float32 and holes.dtype == bool and images.ndim == 3
        assert images.min() >= 0.0 and images.max() <= 1.0
        self.calls.append((images.copy(), holes.copy()))
        out = images.copy()
        for k in range(len(images)):
            out[k][holes[k]] = images[k][~holes[k]].mean()
        return out

    @property
    def slices_seen(self) -> int:
        return sum(len(images) for images, _ in self.calls)


def _phantom(shape=(10, 32, 36), dtype=np.int16) -> tuple[np.ndarray, np.ndarray]:
    """A smooth water-like body with a metal bar in slices 3..5; returns (metal-filled volume, metal-free truth)."""
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    truth = (40 + 10 * np.sin(x / 5.0) + 8 * np.cos(y / 7.0) + z).astype(dtype)
    volume = truth.copy()
    volume[3:6, 14:18, 15:20] = 3000
    return volume, truth


def test_dilate_mm_is_ellipsoidal_with_anisotropic_spacing():
    mask = np.zeros((9, 21, 21), bool)
    mask[4, 10, 10] = True
    dilated = dilate_mm(mask, margin_mm=2.0, spacing=(2.5, 0.5, 1.0))
    assert dilated[4, 10, 10 - 2] and dilated[4, 10, 10 + 2] and not dilated[4, 10, 10 + 3]  # x: 1 mm voxels
    assert dilated[4, 10 - 4, 10] and dilated[4, 10 + 4, 10] and not dilated[4, 10 + 5, 10]  # y: 0.5 mm voxels
    assert not dilated[3].any() and not dilated[5].any()  # z: 2.5 mm > 2 mm
    assert dilated[4, 10 + 2, 10 + 1] and not dilated[4, 10 + 4, 10 + 1]  # diagonal: sqrt(1 + 1) vs sqrt(4 + 1)
    np.testing.assert_array_equal(dilate_mm(mask, 0.0, (1, 1, 1)), mask)
    with pytest.raises(ValueError, match="margin_mm"):
        dilate_mm(mask, -1.0)
    with pytest.raises(ValueError, match="spacing"):
        dilate_mm(mask, 1.0, spacing=(1.0, 1.0))


def test_dilation_matches_full_distance_transform_at_the_border():
    from scipy import ndimage

    rng = np.random.default_rng(3)
    mask = rng.random((6, 15, 17)) > 0.97
    mask[0, 0, 0] = mask[-1, -1, -1] = True
    spacing = (1.7, 0.6, 0.9)
    expected = ndimage.distance_transform_edt(~mask, sampling=spacing) <= 1.5
    np.testing.assert_array_equal(dilate_mm(mask, 1.5, spacing), expected)


def test_metal_mask_and_slice_selection():
    volume, _ = _phantom()
    mask = metal_mask(volume)
    assert mask.sum() == 3 * 4 * 5
    assert metal_mask(volume, threshold_hu=4000).sum() == 0
    np.testing.assert_array_equal(slices_with_hole(mask, 0), [3, 4, 5])
    np.testing.assert_array_equal(slices_with_hole(mask, 1), [14, 15, 16, 17])
    np.testing.assert_array_equal(slices_with_hole(mask, 2), [15, 16, 17, 18, 19])


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_only_hole_slices_are_processed_and_the_rest_is_bit_identical(axis):
    volume, truth = _phantom()
    spacing = (3.0, 0.7, 0.7)
    spy = SpyInpainter()
    result, used = inpaint_volume(
        volume, metal_mask(volume), spy, axis=axis, spacing=spacing, margin_mm=1.0, batch_size=2
    )
    assert result.dtype == volume.dtype and result.shape == volume.shape
    np.testing.assert_array_equal(result[~used], volume[~used])
    np.testing.assert_array_equal(used, dilate_mm(metal_mask(volume), 1.0, spacing))
    assert spy.slices_seen == len(slices_with_hole(used, axis))
    assert all(len(images) <= 2 for images, _ in spy.calls)
    assert (
        np.abs(result[used].astype(float) - truth[used]).mean()
        < np.abs(volume[used].astype(float) - truth[used]).mean()
    )
    assert result[used].max() < 2500  # metal removed


def test_intensity_mapping_round_trip_and_dtype_restore():
    volume, _ = _phantom(dtype=np.int16)
    hole = metal_mask(volume)

    def identity(images, holes):  # returns what it was given: the mapped values of the metal
        return images

    window = CTWindow(-1024, 3071)
    result, used = inpaint_volume(volume, hole, identity, spacing=1.0, margin_mm=0.0, intensity=window)
    np.testing.assert_array_equal(result, volume)  # int16 HU inside the window survive HU -> [0, 1] -> HU exactly
    clipped, _ = inpaint_volume(
        volume, hole, identity, margin_mm=0.0, intensity=mapping_from_window(-100, 1000, clip=True)
    )
    assert clipped[hole].max() == 1000 and clipped.dtype == np.int16

    as_float = volume.astype(np.float32)
    percentile = PercentileScale(0.0, 100.0)
    result, _ = inpaint_volume(as_float, hole, SpyInpainter(), margin_mm=0.5, intensity=percentile)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result[~hole], as_float[~hole])
    window = percentile.get_mapping()  # fitted on the known voxels of the processed slices: metal excluded
    known = volume[3:6][~hole[3:6]]
    assert (window["a_min"], window["a_max"]) == (known.min(), known.max()) and window["a_max"] < 3000


def test_2d_image_and_uint8():
    image = np.tile(np.linspace(0, 255, 40, dtype=np.float64), (30, 1)).astype(np.uint8)
    hole = np.zeros_like(image, bool)
    hole[10:14, 18:22] = True
    spy = SpyInpainter()
    result, used = inpaint_volume(
        image, hole, spy, spacing=(0.5, 0.5), margin_mm=1.0, intensity=mapping_from_window(0, 255)
    )
    assert result.dtype == np.uint8 and len(spy.calls) == 1 and spy.calls[0][0].shape == (1, 30, 40)
    assert used.sum() > hole.sum()  # 1 mm = 2 pixels of margin
    np.testing.assert_array_equal(result[~used], image[~used])


def test_empty_hole_returns_input_without_calling_the_inpainter():
    volume, _ = _phantom()
    spy = SpyInpainter()
    result, used = inpaint_volume(volume, np.zeros(volume.shape, bool), spy)
    assert spy.calls == [] and not used.any()
    np.testing.assert_array_equal(result, volume)


def test_progress_callback_tqdm_and_cancel():
    volume, _ = _phantom()
    hole = metal_mask(volume)
    reports = []
    inpaint_volume(
        volume, hole, SpyInpainter(), margin_mm=0, batch_size=2, progress=lambda d, t: reports.append((d, t))
    )
    assert reports == [(0, 3), (2, 3), (3, 3)]

    import io

    from tqdm import tqdm

    with tqdm(total=3, file=io.StringIO()) as bar:
        inpaint_volume(volume, hole, SpyInpainter(), margin_mm=0, batch_size=1, progress=bar)
        assert bar.n == 3

    calls = iter([False, True])
    spy = SpyInpainter()
    before = volume.copy()
    with pytest.raises(InpaintingCancelled, match="after 2 of 3 slices"):
        inpaint_volume(volume, hole, spy, margin_mm=0, batch_size=2, cancel=lambda: next(calls))
    assert spy.slices_seen == 2
    np.testing.assert_array_equal(volume, before)  # the input is never modified


def test_bad_arguments_are_reported():
    volume, _ = _phantom()
    with pytest.raises(ValueError, match="does not match"):
        inpaint_volume(volume, np.zeros((2, 2, 2), bool), SpyInpainter())
    with pytest.raises(ValueError, match="axis"):
        inpaint_volume(volume, metal_mask(volume), SpyInpainter(), axis=3)
    with pytest.raises(ValueError, match="2D image or a 3D volume"):
        inpaint_volume(np.zeros(5), np.zeros(5, bool), SpyInpainter())
    with pytest.raises(RuntimeError, match="inpainter returned shape"):
        inpaint_volume(volume, metal_mask(volume), lambda images, holes: images[:, :4])

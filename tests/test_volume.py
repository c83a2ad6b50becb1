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


class VolumetricSpy(SpyInpainter):
    """A volumetric inpainter (called once on consecutive slices) that records its slab."""

    volumetric = True

    def __init__(self, context_slices: int):
        super().__init__()
        self.context_slices = context_slices


def _slab_phantom() -> tuple[np.ndarray, np.ndarray]:
    """A 12-slice phantom (float HU) with separate holes in slices 4 and 7..8."""
    volume, _ = _phantom(shape=(12, 24, 26), dtype=np.float32)
    hole = np.zeros(volume.shape, dtype=bool)
    hole[4, 5:9, 6:10] = True
    hole[7:9, 14:18, 12:17] = True
    return volume, hole


@pytest.mark.parametrize(
    ("holes_in", "k", "expected"),
    [((4, 8), 2, (2, 11)), ((4, 8), 0, (4, 9)), ((0, 3), 2, (0, 6)), ((9, 11), 3, (6, 12)), ((0, 11), 1, (0, 12))],
)
def test_volumetric_inpainter_gets_the_slab_once(holes_in, k, expected):
    volume, _ = _slab_phantom()
    hole = np.zeros(volume.shape, dtype=bool)
    hole[holes_in[0], 3:6, 3:6] = True
    hole[holes_in[1], 10:13, 10:13] = True
    spy = VolumetricSpy(context_slices=k)
    result, used = inpaint_volume(volume, hole, spy, margin_mm=0.0, batch_size=1)
    assert len(spy.calls) == 1  # batch_size does not split a slab
    images, holes = spy.calls[0]
    first, stop = expected
    assert images.shape == (stop - first, *volume.shape[1:])
    np.testing.assert_array_equal(holes, hole[first:stop])
    np.testing.assert_allclose(images, CTWindow()(volume[first:stop]), atol=1e-6)  # mapped, the known slices too
    np.testing.assert_array_equal(result[~used], volume[~used])


@pytest.mark.parametrize("axis", [1, 2])
def test_volumetric_slab_along_other_axes(axis):
    volume, hole = _slab_phantom()
    spy = VolumetricSpy(context_slices=2)
    result, used = inpaint_volume(volume, hole, spy, axis=axis, margin_mm=0.0)
    along = slices_with_hole(hole, axis)
    first, stop = max(along[0] - 2, 0), min(along[-1] + 3, volume.shape[axis])
    _, holes = spy.calls[0]
    np.testing.assert_array_equal(holes, np.moveaxis(hole, axis, 0)[first:stop])
    np.testing.assert_array_equal(result[~used], volume[~used])
    # the 3D fill is the same whichever axis the slab is cut along, once every slab's known range is the same (two
    # known voxels out of every stencil's reach, in all three slabs, carry it): the fill is clipped to that range
    from rfr_inpaint.inpainters import get_inpainter

    volume[5, 10, 11], volume[5, 11, 12] = -1000.0, 3000.0
    along_z, _ = inpaint_volume(volume, hole, get_inpainter("biharmonic3d"), axis=0, margin_mm=0.0)
    other, _ = inpaint_volume(volume, hole, get_inpainter("biharmonic3d"), axis=axis, margin_mm=0.0)
    np.testing.assert_allclose(other, along_z, atol=1e-3)  # HU; float32 round trip through [0, 1]
    np.testing.assert_array_equal(other[~used], volume[~used])


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.float32])
def test_biharmonic3d_through_inpaint_volume_keeps_dtype_and_known_voxels(dtype):
    from skimage.restoration import inpaint_biharmonic

    from rfr_inpaint.inpainters import get_inpainter

    volume, truth = _phantom(shape=(10, 32, 36), dtype=dtype)
    hole = metal_mask(volume)
    window = mapping_from_window(0, 200, clip=True)  # the phantom's 30..80 units, uint16 included
    result, used = inpaint_volume(
        volume, hole, get_inpainter("biharmonic3d"), spacing=(3.0, 0.7, 0.7), margin_mm=1.0, intensity=window
    )
    assert result.dtype == volume.dtype
    np.testing.assert_array_equal(result[~used], volume[~used])
    assert np.abs(result[used].astype(float) - truth[used]).max() < 3  # the metal is gone, the phantom restored
    # the slab solve equals scikit-image on the whole mapped volume
    mapped = (volume.astype(np.float64) - 0) / 200
    expected = inpaint_biharmonic(np.where(used, 0.0, mapped), used) * 200
    if np.dtype(dtype).kind in "iu":
        expected = np.rint(expected)
    np.testing.assert_allclose(result[used].astype(float), expected[used], atol=1e-3)


def test_biharmonic3d_progress_and_cancel():
    from rfr_inpaint.inpainters import get_inpainter

    volume, hole = _slab_phantom()
    reports = []
    inpaint_volume(
        volume, hole, get_inpainter("biharmonic3d"), margin_mm=0.0, progress=lambda d, t: reports.append((d, t))
    )
    assert reports == [(0, 3), (3, 3)]

    import io

    from tqdm import tqdm

    with tqdm(total=3, file=io.StringIO()) as bar:
        inpaint_volume(volume, hole, get_inpainter("biharmonic3d"), margin_mm=0.0, progress=bar)
        assert bar.n == 3

    spy = VolumetricSpy(context_slices=2)
    before = volume.copy()
    with pytest.raises(InpaintingCancelled, match="after 0 of 3 slices"):
        inpaint_volume(volume, hole, spy, margin_mm=0.0, cancel=lambda: True)
    assert spy.calls == []
    np.testing.assert_array_equal(volume, before)


@pytest.mark.parametrize("reach", [-1, 1.5, None])
def test_volumetric_inpainter_with_a_bad_context_is_refused(reach):
    volume, hole = _slab_phantom()
    with pytest.raises(ValueError, match="context_slices must be an integer >= 0"):
        inpaint_volume(volume, hole, VolumetricSpy(context_slices=reach), margin_mm=0.0)

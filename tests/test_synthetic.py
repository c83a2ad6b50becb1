"""The embedded synthetic CT generator: determinism, tissue HU, anatomy across slices, speed, metal insertion."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from monai.data import DataLoader
from scipy import ndimage

from rfr_inpaint.data.synthetic import (
    HU_MAX,
    HU_MIN,
    SyntheticCTDataset,
    insert_metal,
    synthetic_ct_slice,
    synthetic_ct_volume,
)
from rfr_inpaint.transforms.masks import body_mask


def _fraction(img, lo, hi, where=None):
    values = img if where is None else img[where]
    return float(((values >= lo) & (values <= hi)).mean())


def test_slice_is_deterministic_per_seed():
    a = synthetic_ct_slice(96, seed=5)
    b = synthetic_ct_slice(96, seed=5)
    c = synthetic_ct_slice(96, seed=6)
    assert a.dtype == np.float32 and a.shape == (96, 96)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 50
    rect = synthetic_ct_slice((64, 96), seed=np.random.default_rng(1))
    assert rect.shape == (64, 96)
    assert HU_MIN <= rect.min() and rect.max() <= HU_MAX
    with pytest.raises(ValueError, match="at least 16"):
        synthetic_ct_slice(8)


def test_chest_slice_tissue_values():
    hu = synthetic_ct_slice(256, seed=0, z=150, noise_std=0.0)
    body = body_mask(hu)
    outside = ~ndimage.binary_dilation(body, iterations=12)
    outside[200:, :] = False  # leave the table out
    assert abs(float(np.median(hu[outside])) + 1000) < 15  # air
    assert _fraction(hu, -900, -780, body) > 0.25  # lungs fill much of the chest
    assert _fraction(hu, -130, -60, body) > 0.04  # subcutaneous / mediastinal fat
    assert _fraction(hu, 20, 80, body) > 0.10  # muscle, heart, vessels
    assert (hu > 1000).sum() > 20  # cortical bone of ribs, spine, sternum
    assert hu.max() < 1900


def test_abdominal_slices_have_liver_fat_and_bone():
    # one subject (same seed) at three levels: at least one level cuts a vertebral body rather than a disc
    slices = [synthetic_ct_slice(256, seed=3, z=z, noise_std=0.0) for z in (330.0, 342.0, 354.0)]
    for hu in slices:
        body = body_mask(hu)
        assert _fraction(hu, -900, -780, body) < 0.08  # below the lungs
        assert _fraction(hu, 50, 75, body) > 0.08  # liver
        assert _fraction(hu, -130, -60, body) > 0.08  # fat
    assert max(_fraction(hu, 150, 450, body_mask(hu)) for hu in slices) > 0.002  # trabecular bone
    assert max(int((hu > 1000).sum()) for hu in slices) > 10  # cortical bone


def test_noise_level_and_texture():
    flat = synthetic_ct_slice(128, seed=2, z=350, noise_std=0.0)
    noisy = synthetic_ct_slice(128, seed=2, z=350, noise_std=20.0)
    body = ndimage.binary_erosion(body_mask(flat), iterations=3)
    diff = (noisy - flat)[body]
    assert 14 < diff.std() < 26
    # texture: even noise-free, soft tissue is not piecewise constant
    assert np.unique(np.round(flat[body])).size > 200


def test_volume_is_smooth_across_slices_and_varies_along_z():
    vol, spacing = synthetic_ct_volume((24, 96, 96), seed=1, spacing=(10.0, 4.0, 4.0), z_start=120.0)
    assert vol.shape == (24, 96, 96) and vol.dtype == np.float32 and spacing == (10.0, 4.0, 4.0)
    neighbour = np.mean([np.abs(vol[k] - vol[k + 1]).mean() for k in range(23)])
    far = np.abs(vol[0] - vol[-1]).mean()
    assert neighbour < 0.5 * far
    lung_top = _fraction(vol[0], -900, -780)
    lung_bottom = _fraction(vol[-1], -900, -780)
    assert lung_top > 0.05 and lung_bottom < 0.02  # chest at the top, abdomen at the bottom
    body_fraction = np.array([body_mask(s).mean() for s in vol])
    assert body_fraction.min() > 0.3 and np.abs(np.diff(body_fraction)).max() < 0.05
    again, _ = synthetic_ct_volume((24, 96, 96), seed=1, spacing=(10.0, 4.0, 4.0), z_start=120.0)
    np.testing.assert_array_equal(vol, again)
    with pytest.raises(ValueError, match="sy == sx"):
        synthetic_ct_volume((4, 32, 32), spacing=(1.0, 1.0, 2.0))


def test_full_size_volume_of_the_performance_benchmark():
    # the 512 x 512 x 64 volume of bench/bench_volume.py (its generation time is reported there, not asserted here)
    vol, spacing = synthetic_ct_volume((64, 512, 512), seed=0)
    assert vol.shape == (64, 512, 512) and vol.dtype == np.float32 and spacing == (5.0, 400 / 512, 400 / 512)
    assert np.isfinite(vol).all() and vol.min() >= -1024 and vol.max() <= 3071


def test_insert_metal_in_a_volume():
    vol, spacing = synthetic_ct_volume((12, 128, 128), seed=4, z_start=250.0)
    with_metal, mask = insert_metal(vol, seed=2, n_objects=3, slices=[4, 5, 6, 7], spacing=spacing)
    assert mask.dtype == bool and mask.shape == vol.shape and mask.any()
    assert set(np.nonzero(mask.any(axis=(1, 2)))[0]) <= {4, 5, 6, 7}
    np.testing.assert_array_equal(with_metal[mask], HU_MAX)
    np.testing.assert_array_equal(with_metal[~mask], vol[~mask])
    assert (body_mask(vol)[mask]).all()  # inside the body
    assert mask.sum() < 0.01 * mask.size  # small objects
    again, mask2 = insert_metal(vol, seed=2, n_objects=3, slices=[4, 5, 6, 7], spacing=spacing)
    np.testing.assert_array_equal(mask, mask2)
    one, one_mask = insert_metal(vol[5], seed=1, n_objects=1, value=3500.0)
    assert one.shape == (128, 128) and one_mask.any() and (one[one_mask] == 3500.0).all()
    with pytest.raises(ValueError, match="no body voxel"):
        insert_metal(np.full((32, 32), -1000.0), seed=0)
    with pytest.raises(ValueError, match="out of range"):
        insert_metal(vol, slices=[40])


def test_dataset_items_are_reproducible_and_batch():
    ds = SyntheticCTDataset(6, size=48, seed=9)
    first = ds[3]
    assert first["image"].shape == (1, 48, 48) and first["image"].dtype == np.float32
    np.testing.assert_array_equal(first["image"], SyntheticCTDataset(6, size=48, seed=9)[3]["image"])
    assert not np.array_equal(first["image"], ds[4]["image"])
    assert len({ds.item_seed(i) for i in range(6)}) == 6
    batch = next(iter(DataLoader(ds, batch_size=3, num_workers=0)))
    assert isinstance(batch["image"], torch.Tensor) and batch["image"].shape == (3, 1, 48, 48)
    with pytest.raises(ValueError, match="num_samples"):
        SyntheticCTDataset(0)

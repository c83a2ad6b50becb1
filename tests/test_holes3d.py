"""Metal-like 3D hole masks (rfr_inpaint.transforms.holes3d): geometry in mm, guarantees, MONAI transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from rfr_inpaint.data.synthetic import body_mask, synthetic_ct_volume
from rfr_inpaint.transforms import METAL_KINDS_3D, RandMetalHoles3D, RandMetalHoles3Dd, metal_holes_3d

SHAPE = (24, 96, 96)
SPACING = (2.0, 0.8, 0.8)


def _slices(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask.any(axis=(1, 2)))


@pytest.mark.parametrize("kind", [*METAL_KINDS_3D, None])
def test_non_empty_within_shape_contiguous_slices(kind):
    for seed in range(12):
        mask = metal_holes_3d(SHAPE, SPACING, np.random.default_rng(seed), kind=kind)
        assert mask.shape == SHAPE and mask.dtype == bool
        assert mask.any()
        z = _slices(mask)
        assert len(z) >= 1 and np.array_equal(z, np.arange(z[0], z[-1] + 1))
        # objects are small: well under the volume
        assert mask.mean() < 0.05


def test_sizes_in_mm():
    # an ellipsoid's semi-axes are 2-12 mm: its voxel count lies between the volumes of 2 mm and 12 mm balls
    vox = np.prod(SPACING)
    for seed in range(10):
        n = metal_holes_3d((64, 128, 128), SPACING, np.random.default_rng(seed), "ellipsoid").sum()
        assert 4 / 3 * np.pi * 1.5**3 / vox <= n <= 4 / 3 * np.pi * 12.5**3 / vox
    # a screw is thin: its extent along some axis is far larger than its radius (<= 3 mm) would allow for a ball
    m = metal_holes_3d((64, 128, 128), SPACING, np.random.default_rng(3), "screw")
    idx = np.argwhere(m) * np.asarray(SPACING)
    assert (idx.max(0) - idx.min(0)).max() >= 10.0


def test_seeded_reproducible_and_seed_dependent():
    a = metal_holes_3d(SHAPE, SPACING, np.random.default_rng(5))
    b = metal_holes_3d(SHAPE, SPACING, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    others = [metal_holes_3d(SHAPE, SPACING, np.random.default_rng(s)) for s in range(6, 10)]
    assert any(not np.array_equal(a, o) for o in others)
    # MONAI's RandomState works as well
    c = metal_holes_3d(SHAPE, SPACING, np.random.RandomState(1), kind="dental")
    d = metal_holes_3d(SHAPE, SPACING, np.random.RandomState(1), kind="dental")
    np.testing.assert_array_equal(c, d)


@pytest.mark.parametrize("kind", METAL_KINDS_3D)
def test_half_spacing_gives_eight_times_the_voxels(kind):
    for seed in range(3):
        coarse = metal_holes_3d((20, 60, 60), (2.0, 1.0, 1.0), np.random.default_rng(seed), kind)
        fine = metal_holes_3d((40, 120, 120), (1.0, 0.5, 0.5), np.random.default_rng(seed), kind)
        ratio = fine.sum() / coarse.sum()
        assert 5.5 <= ratio <= 11.0, (kind, seed, coarse.sum(), fine.sum())
        # the same physical object: the fine mask downsampled overlaps the coarse one
        down = fine.reshape(20, 2, 60, 2, 60, 2).mean(axis=(1, 3, 5)) >= 0.5
        inter, union = (down & coarse).sum(), (down | coarse).sum()
        assert inter / union >= 0.5


def test_body_respected():
    vol, spacing = synthetic_ct_volume((12, 96, 96), seed=0)
    body = body_mask(vol)
    body[:, :, :40] = False  # only part of the patient allowed: centres and voxels must follow the mask
    for seed in range(10):
        mask = metal_holes_3d(vol.shape, spacing, np.random.default_rng(seed), body=body)
        assert mask.any() and not (mask & ~body).any()
    with pytest.raises(ValueError, match="empty"):
        metal_holes_3d(vol.shape, spacing, np.random.default_rng(0), body=np.zeros(vol.shape, bool))
    with pytest.raises(ValueError, match="shape"):
        metal_holes_3d(vol.shape, spacing, np.random.default_rng(0), body=body[:-1])


def test_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="kind"):
        metal_holes_3d(SHAPE, SPACING, rng, kind="plate")
    with pytest.raises(ValueError, match="spacing"):
        metal_holes_3d(SHAPE, (1.0, 0.0, 1.0), rng)
    with pytest.raises(ValueError, match="3D shape"):
        metal_holes_3d((10, 10), SPACING, rng)  # type: ignore[arg-type]


def test_array_transform_spacing_from_metatensor_and_seeding():
    img = MetaTensor(torch.zeros((1, *SHAPE)), affine=torch.diag(torch.tensor([*SPACING, 1.0], dtype=torch.float64)))
    t = RandMetalHoles3D(count=(1, 2)).set_random_state(3)
    h1 = t(img)
    assert isinstance(h1, MetaTensor) and h1.shape == (1, *SHAPE) and h1.dtype == torch.float32
    assert h1.sum() > 0 and set(torch.unique(h1).tolist()) <= {0.0, 1.0}
    t2 = RandMetalHoles3D(count=(1, 2)).set_random_state(3)
    # the same draws with the spacing given explicitly on a plain array
    h2 = t2(np.zeros((1, *SHAPE), np.float32), spacing=SPACING)
    assert isinstance(h2, np.ndarray)
    np.testing.assert_array_equal(h1.numpy(), h2)
    with pytest.raises(ValueError, match="spacing"):
        RandMetalHoles3D()(np.zeros((1, *SHAPE), np.float32))
    with pytest.raises(ValueError, match=r"\(1, D, H, W\)"):
        RandMetalHoles3D(spacing=SPACING)(np.zeros(SHAPE, np.float32))


def test_array_transform_body_threshold():
    vol, spacing = synthetic_ct_volume((10, 96, 96), seed=1)
    body = body_mask(vol)
    t = RandMetalHoles3D(kinds=["ellipsoid", "screw"], spacing=spacing, body_threshold=-500.0).set_random_state(0)
    for _ in range(4):
        hole = t(vol[None]).astype(bool)[0]
        assert hole.any() and not (hole & ~body).any()
        assert set(t.last_kinds) <= {"ellipsoid", "screw"}


def test_dictionary_transform():
    data = {"image": np.zeros((1, *SHAPE), np.float32), "image_spacing": SPACING}
    t = RandMetalHoles3Dd(keys="image", hole_key="hole", kinds="dental", spacing_key="image_spacing")
    t.set_random_state(7)
    out = t(data)
    assert out["hole"].shape == (1, *SHAPE) and out["hole"].any()
    again = RandMetalHoles3Dd(keys="image", kinds="dental", spacing=SPACING).set_random_state(7)(data)
    np.testing.assert_array_equal(out["hole"], again["hole"])
    with pytest.raises(ValueError, match="image_spacing"):
        RandMetalHoles3Dd(keys="image", spacing_key="image_spacing")({"image": data["image"]})

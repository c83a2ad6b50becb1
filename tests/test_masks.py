"""Hole-mask generators: areas, counts, orientation rules, body placement, determinism, files, dict versions."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from _data_helpers import write_png
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai.transforms import Compose
from scipy import ndimage

from rfr_inpaint.data.synthetic import synthetic_ct_slice
from rfr_inpaint.transforms import (
    HoleMaskGenerator,
    LoadExternalMask,
    RandFreeFormStrokes,
    RandHoleMaskd,
    RandMetalLikeRegions,
    RandSquareHoles,
    RandStrips,
)
from rfr_inpaint.transforms.masks import body_mask, strip_orientations

IMG = np.zeros((1, 256, 256), dtype=np.float32)


def _mask(gen, img=IMG, seed=0):
    gen.set_random_state(seed)
    return np.asarray(gen(img))


def _components(mask2d):
    return ndimage.label(mask2d)[1]


@pytest.mark.parametrize("ratio, side", [(6, 43), (8, 32), (10, 26), (12, 21)])
def test_square_hole_ratios_of_the_seed(ratio, side):
    mask = _mask(RandSquareHoles(hole_ratio=ratio))
    assert mask.shape == (1, 256, 256) and mask.dtype == np.float32
    assert mask.sum() == side * side
    rows, cols = np.nonzero(mask[0])
    assert rows.max() - rows.min() + 1 == side and cols.max() - cols.min() + 1 == side


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_square_holes_count_and_area_without_overlap(count):
    mask = _mask(RandSquareHoles(size=32, count=count, overlap=False), seed=count)
    assert mask.sum() == count * 32 * 32
    # every 32 x 32 hole is present: an erosion by a 32 x 32 box leaves exactly one pixel per hole
    eroded = ndimage.binary_erosion(mask[0], np.ones((32, 32)), origin=(-16, -16), border_value=0)
    assert eroded.sum() == count


def test_square_holes_options_and_errors():
    assert _mask(RandSquareHoles()).sum() == 32 * 32  # default: ratio 8
    rect = _mask(RandSquareHoles(size=(8, 20)), img=np.zeros((1, 40, 60)))
    assert rect.sum() == 160
    drawn = {int(_mask(RandSquareHoles(hole_ratio=(6, 12)), seed=s).sum()) for s in range(12)}
    assert len(drawn) > 3 and min(drawn) >= 21 * 21 and max(drawn) <= 43 * 43
    with pytest.raises(ValueError, match="either size or hole_ratio"):
        RandSquareHoles(size=32, hole_ratio=8)
    with pytest.raises(ValueError, match="does not fit"):
        RandSquareHoles(size=300)(IMG)
    with pytest.raises(ValueError, match="non-overlapping"):
        RandSquareHoles(size=100, count=8, overlap=False)(IMG)
    with pytest.raises(ValueError, match="channel-first"):
        RandSquareHoles()(np.zeros((256, 256)))


@pytest.mark.parametrize("orientation", ["horizontal", "vertical"])
@pytest.mark.parametrize("count", [1, 2, 4])
def test_strips_span_the_image(orientation, count):
    mask = _mask(RandStrips(width=16, count=count, orientation=orientation, overlap=False), seed=count)[0]
    full_axis = 1 if orientation == "horizontal" else 0
    lines = mask.all(axis=full_axis)  # rows (or columns) entirely in a strip
    assert lines.sum() == 16 * count
    assert mask.sum() == 16 * count * 256
    assert not mask.any(axis=full_axis)[~lines].any()


@pytest.mark.parametrize("count, n_h, n_v", [(2, 1, 1), (4, 2, 2), (6, 3, 3)])
def test_mixed_strips_follow_the_seed_rule(count, n_h, n_v):
    gen = RandStrips(width=16, count=count, orientation="mixed", overlap=False)
    for seed in range(5):
        mask = _mask(gen, seed=seed)[0]
        assert sorted(gen.last_orientations) == ["horizontal"] * n_h + ["vertical"] * n_v
        assert mask.all(axis=1).sum() == 16 * n_h and mask.all(axis=0).sum() == 16 * n_v


def test_single_mixed_strip_takes_both_orientations():
    gen = RandStrips(width=16, count=1, orientation="mixed")
    seen = set()
    for seed in range(20):
        _mask(gen, seed=seed)
        seen.update(gen.last_orientations)
    assert seen == {"horizontal", "vertical"}
    rng = np.random.RandomState(0)
    odd = strip_orientations(3, "mixed", rng)
    assert odd.count("horizontal") >= 1 and odd.count("vertical") >= 1
    with pytest.raises(ValueError, match="orientation"):
        RandStrips(orientation="diagonal")


def test_free_form_strokes_area_range_and_variety():
    gen = RandFreeFormStrokes(area_range=(0.05, 0.2), max_tries=50)
    areas = [_mask(gen, seed=s).mean() for s in range(6)]
    assert all(0.05 <= a <= 0.2 for a in areas)
    assert len({round(a, 5) for a in areas}) == 6
    thin = _mask(RandFreeFormStrokes(max_brush_width=3, min_brush_width=3, strokes=1, max_vertices=1))
    assert 0 < thin.sum() < 300  # one line of at most 60 px, 3 px wide (diagonal pixelisation included)
    with pytest.raises(ValueError):
        RandFreeFormStrokes(min_brush_width=10, max_brush_width=5)


def test_metal_like_regions_lie_inside_the_body():
    hu = synthetic_ct_slice(128, seed=4, z=420)
    body = hu > -500
    gen = RandMetalLikeRegions(count=(2, 4), radius=(2, 6), body_threshold=-500)
    for seed in range(5):
        mask = _mask(gen, img=hu[None], seed=seed)[0].astype(bool)
        assert mask.any()
        assert not (mask & ~ndimage.binary_fill_holes(body)).any()
        assert 1 <= _components(mask) <= 4
        assert mask.mean() < 0.1
    # automatic threshold on an image windowed to [0, 1] finds the same body
    img01 = np.clip((hu + 1024) / 4095, 0, 1)[None]
    auto = _mask(RandMetalLikeRegions(), img=img01)[0].astype(bool)
    assert auto.any() and not (auto & ~ndimage.binary_fill_holes(body)).any()


def test_metal_like_regions_without_body():
    with pytest.raises(ValueError, match="no body"):
        _mask(RandMetalLikeRegions(), img=np.zeros((1, 64, 64)))
    anywhere = _mask(RandMetalLikeRegions(on_empty="anywhere"), img=np.zeros((1, 64, 64)))
    assert anywhere.sum() > 0


def test_external_masks_png_nifti_nrrd(tmp_path):
    ref = np.zeros((64, 80), dtype=np.uint8)
    ref[10:30, 20:50] = 255
    png = write_png(tmp_path / "m.png", ref)
    nii, nrrd = tmp_path / "m.nii.gz", tmp_path / "m.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray((ref > 0).astype(np.uint8)), str(nii))
    sitk.WriteImage(sitk.GetImageFromArray((ref > 0).astype(np.float32)), str(nrrd))
    img = np.zeros((1, 64, 80), dtype=np.float32)
    for path in (png, nii, nrrd):
        mask = np.asarray(LoadExternalMask(path)(img))[0]
        np.testing.assert_array_equal(mask, ref > 0, err_msg=str(path))
    # resized with nearest neighbour to a 2x larger image: still binary, area x4
    big = np.asarray(LoadExternalMask(png)(np.zeros((1, 128, 160))))[0]
    assert set(np.unique(big)) == {0.0, 1.0} and big.sum() == 4 * (ref > 0).sum()
    inverted = np.asarray(LoadExternalMask(png, invert=True)(img))[0]
    np.testing.assert_array_equal(inverted, ref == 0)
    with pytest.raises(ValueError, match="m.png.*differs"):
        LoadExternalMask(png, resize=False)(np.zeros((1, 32, 32)))


def test_external_masks_thresholds_labels_folder_and_errors(tmp_path):
    grey = np.zeros((32, 32), dtype=np.uint8)
    grey[:, :8], grey[:, 8:16], grey[:, 16:24] = 60, 140, 255
    path = write_png(tmp_path / "grey.png", grey)
    img = np.zeros((1, 32, 32))
    assert np.asarray(LoadExternalMask(path, threshold=0.5)(img)).sum() == 16 * 32
    labels = tmp_path / "labels.nrrd"
    lab = np.zeros((32, 32), dtype=np.uint8)
    lab[:4], lab[4:8] = 1, 2
    sitk.WriteImage(sitk.GetImageFromArray(lab), str(labels))
    assert np.asarray(LoadExternalMask(labels, labels=[2])(img)).sum() == 4 * 32
    folder = tmp_path / "folder"
    folder.mkdir()
    write_png(folder / "a.png", np.pad(np.full((4, 4), 255), ((0, 28), (0, 28))))
    write_png(folder / "b.png", np.pad(np.full((8, 8), 255), ((0, 24), (0, 24))))
    gen = LoadExternalMask(folder)
    areas = {float(_mask(gen, img=img, seed=s).sum()) for s in range(10)}
    assert areas == {16.0, 64.0}
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="broken.png"):
        LoadExternalMask(tmp_path / "broken.png")(img)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        LoadExternalMask(tmp_path / "missing.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no mask files"):
        LoadExternalMask(empty)
    vol = tmp_path / "vol.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((3, 32, 32), np.uint8)), str(vol))
    with pytest.raises(ValueError, match="3D"):
        LoadExternalMask(vol)(img)
    assert np.asarray(LoadExternalMask(vol, slice_index=1)(img)).sum() == 32 * 32


@pytest.mark.parametrize(
    "kind, params",
    [
        ("square", {"hole_ratio": 8, "count": 2}),
        ("strips", {"width": 16, "count": 4, "orientation": "mixed"}),
        ("free_form", {}),
        ("metal", {"body_threshold": -500}),
    ],
)
def test_factory_is_deterministic_and_matches_the_class(kind, params):
    hu = synthetic_ct_slice(96, seed=1, z=300)[None]
    a = _mask(HoleMaskGenerator(kind, **params), img=hu, seed=7)
    b = _mask(HoleMaskGenerator(kind, **params), img=hu, seed=7)
    c = _mask(HoleMaskGenerator(kind, **params), img=hu, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (1, 96, 96) and set(np.unique(a)) <= {0.0, 1.0} and a.sum() > 0


def test_factory_mixture_and_errors():
    gen = HoleMaskGenerator(["square", "strips"], kind_params=[{"size": 10}, {"width": 4}], kind_probs=[0.5, 0.5])
    areas = [float(_mask(gen, seed=s).sum()) for s in range(16)]
    assert set(areas) == {100.0, 4 * 256.0}
    assert areas == [float(_mask(gen, seed=s).sum()) for s in range(16)]  # seeded: the same picks again
    np.testing.assert_array_equal(np.asarray(gen(IMG, randomize=False)), _mask(gen, seed=15))  # the kept mask
    # OneOf's weights: a zero weight never picks its generator, the others are normalised
    only_strips = HoleMaskGenerator(["square", "strips"], kind_params=[{"size": 10}, {"width": 4}], kind_probs=[0, 3])
    assert {float(_mask(only_strips, seed=s).sum()) for s in range(8)} == {4 * 256.0}
    np.testing.assert_allclose(only_strips.kind_probs, [0.0, 1.0])
    with pytest.raises(ValueError, match="unknown hole mask kind"):
        HoleMaskGenerator("circle")
    with pytest.raises(ValueError, match="kind_params"):
        HoleMaskGenerator(["square", "strips"], size=3)
    with pytest.raises(ValueError, match="kind_probs has 1 entries for 2 kinds"):
        HoleMaskGenerator(["square", "strips"], kind_probs=[1.0])
    with pytest.raises(ValueError, match="greater than zero"):
        HoleMaskGenerator(["square", "strips"], kind_probs=[0.0, 0.0])


def test_body_mask_is_the_largest_region_with_its_air_filled():
    img = np.full((40, 60), -1000.0, np.float32)
    img[5:35, 5:45] = 40.0  # the body
    img[12:20, 12:20] = -900.0  # a lung inside it
    img[36:39, 2:58] = 160.0  # the table: bright, but a smaller region
    body = body_mask(img)
    expected = np.zeros(img.shape, bool)
    expected[5:35, 5:45] = True
    np.testing.assert_array_equal(body, expected)
    tissue = body_mask(img, fill_holes=False)
    np.testing.assert_array_equal(tissue, expected & (img > -500))
    np.testing.assert_array_equal(body_mask(np.stack([img, np.full_like(img, -1000.0)])), [expected, expected & False])
    # the threshold is in the image's units: the same body on an image windowed to [0, 1]
    np.testing.assert_array_equal(body_mask((img + 1024) / 4095, threshold=(-500 + 1024) / 4095), expected)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(D, H, W\)"):
        body_mask(np.zeros(5))


def test_output_types_follow_the_input():
    t = torch.zeros(1, 32, 32)
    out = RandSquareHoles(size=4)(t)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.sum() == 16
    meta = MetaTensor(torch.zeros(1, 32, 32), meta={"filename_or_obj": "x.png"})
    out_meta = RandSquareHoles(size=4)(meta)
    assert isinstance(out_meta, MetaTensor) and out_meta.meta["filename_or_obj"] == "x.png"
    gen = RandStrips(width=3)
    first = np.asarray(gen(IMG))
    np.testing.assert_array_equal(np.asarray(gen(IMG, randomize=False)), first)


def test_dictionary_version_covers_every_kind(tmp_path):
    hu = synthetic_ct_slice(64, seed=2, z=350)[None]
    data = {"image": hu, "other": hu.copy()}
    ref = np.zeros((64, 64), np.uint8)
    ref[5:9, 5:9] = 255
    path = write_png(tmp_path / "hole.png", ref)
    cases = {
        "square": {"size": 8, "count": 2, "overlap": False},
        "strips": {"width": 4, "count": 2, "orientation": "mixed"},
        "free_form": {"max_brush_width": 6, "min_brush_width": 2},
        "metal": {"body_threshold": -500},
        "external": {"path": str(path)},
    }
    for kind, params in cases.items():
        t = RandHoleMaskd(keys="image", kind=kind, **params)
        out1 = t.set_random_state(3)(data)
        out2 = t.set_random_state(3)(data)
        assert out1["hole"].shape == (1, 64, 64) and out1["hole"].sum() > 0, kind
        np.testing.assert_array_equal(out1["hole"], out2["hole"])
        # the dictionary version draws what the array generator draws from the same seed
        np.testing.assert_array_equal(out1["hole"], _mask(HoleMaskGenerator(kind, **params), img=hu, seed=3))
        assert out1["image"] is hu
    assert RandHoleMaskd(keys="image", size=8, count=2, overlap=False)(data)["hole"].sum() == 128
    # several keys: one mask per key under "<key>_hole"
    multi = RandHoleMaskd(keys=["image", "other"], size=4)(data)
    assert multi["image_hole"].shape == multi["other_hole"].shape == (1, 64, 64)
    with pytest.raises(KeyError):
        RandHoleMaskd(keys="missing")(data)
    assert "hole" not in RandHoleMaskd(keys="missing", allow_missing_keys=True)(data)
    with pytest.raises(ValueError, match="one name or one per key"):
        RandHoleMaskd(keys=["image", "other"], hole_key=["a", "b", "c"])
    # reproducible inside a seeded Compose
    chain = Compose([RandHoleMaskd(keys="image", kind="strips", width=4, count=3)])
    a = chain.set_random_state(11)(data)["hole"]
    b = chain.set_random_state(11)(data)["hole"]
    np.testing.assert_array_equal(a, b)
    # per-item mask files, and existing holes kept
    out = RandHoleMaskd(keys="image", kind="external", mask_path_key="mask")({"image": hu, "mask": str(path)})
    assert out["hole"].sum() == 16
    with pytest.raises(ValueError, match="needs kind='external'"):
        RandHoleMaskd(keys="image", mask_path_key="mask")({"image": hu, "mask": str(path)})
    kept = RandHoleMaskd(keys="image", size=8, skip_existing=True)({"image": hu, "hole": out["hole"]})
    assert kept["hole"].sum() == 16


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(16, 96),
    w=st.integers(16, 96),
    kind=st.sampled_from(["square", "strips", "free_form"]),
    count=st.integers(1, 4),
    seed=st.integers(0, 10_000),
)
def test_mask_invariants(h, w, kind, count, seed):
    params = {
        "square": {"hole_ratio": 6, "count": count},
        "strips": {"width": 4, "count": count, "orientation": "mixed"},
        "free_form": {"max_length": 20, "max_brush_width": 6, "min_brush_width": 2, "strokes": count},
    }[kind]
    mask = _mask(HoleMaskGenerator(kind, **params), img=np.zeros((2, h, w), np.float32), seed=seed)
    assert mask.shape == (1, h, w) and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert 0 < mask.sum() < h * w
    if kind == "strips":
        # every strip spans the image: each hole pixel lies on a full row or a full column of holes
        m = mask[0].astype(bool)
        assert (m <= (m.all(axis=1)[:, None] | m.all(axis=0)[None, :])).all()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), count=st.integers(1, 5))
def test_metal_invariants(seed, count):
    img = np.full((1, 48, 48), -1000.0, np.float32)
    yy, xx = np.mgrid[:48, :48]
    img[0][((yy - 24) / 18.0) ** 2 + ((xx - 24) / 14.0) ** 2 <= 1] = 40.0
    mask = _mask(RandMetalLikeRegions(count=count, radius=(1, 4), body_threshold=-500), img=img, seed=seed)[0]
    assert mask.sum() > 0
    assert (img[0][mask > 0] == 40.0).all()

"""File datasets: every input format, slicing of volumes, intensity records, masks from files, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from _data_helpers import ct_small_hu, ct_small_path, write_dicom_series, write_formats, write_monochrome1, write_png
from monai.data import DataLoader
from scipy import ndimage

from rfr_inpaint.data.datasets import (
    DataError,
    InpaintingDataset,
    LoadImageSliced,
    build_dataset,
    build_transforms,
    check_items,
    list_items,
    load_datalist,
)
from rfr_inpaint.data.synthetic import SyntheticCTDataset
from rfr_inpaint.transforms.intensity import intensity_inverse


def _check_pair(d, size):
    assert d["image"].shape == (1, size, size) and d["hole"].shape == (1, size, size)
    assert d["image"].dtype == torch.float32 and d["hole"].dtype == torch.float32
    assert 0.0 <= float(d["image"].min()) and float(d["image"].max()) <= 1.0
    assert set(torch.unique(d["hole"]).tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("fmt", ["nifti", "nrrd", "png", "jpeg", "mr_nifti"])
def test_each_file_format_gives_a_training_pair(tmp_path, fmt):
    paths = write_formats(tmp_path)
    intensity = "ct" if fmt in ("nifti", "nrrd") else "percentile"
    ds = build_dataset([{"image": str(paths[fmt])}], intensity=intensity, size=64, flip_prob=0.0)
    d = ds[0]
    _check_pair(d, 64)
    assert d["hole"].sum() == 8 * 8  # default: one square of side 64 / 8
    assert d["image_path"] == str(paths[fmt])
    assert d["image_intensity_mapping"]["method"] == ("ct_window" if intensity == "ct" else "percentile")


def test_nifti_slice_maps_back_to_hounsfield_units(tmp_path):
    paths = write_formats(tmp_path)
    ds = build_dataset([{"image": str(paths["nifti"])}], intensity="ct", size=None, flip_prob=0.0)
    d = ds[0]
    assert d["image"].shape == (1, 128, 128)
    record = d["image_intensity_mapping"]
    assert record["dtype"] == "int16"
    np.testing.assert_array_equal(intensity_inverse(d["image"].numpy()[0], record), ct_small_hu())


def test_dicom_series_slicing_skips_air_slices(tmp_path):
    folder = write_dicom_series(tmp_path / "series", n_slices=6, air_slices=(0, 1, 5))
    items = list_items(tmp_path)
    assert items == [{"image": str(folder)}]
    loader = LoadImageSliced("image")
    seen = set()
    for seed in range(20):
        out = loader.set_random_state(seed)({"image": str(folder)})
        assert out["image"].shape == (1, 128, 128)
        seen.add(out["image_slice"])
        # slice k holds the sample + 10 k HU
        k = out["image_slice"]
        np.testing.assert_array_equal(out["image"][0], ct_small_hu().astype(np.int32) + 10 * k)
    assert seen == {2, 3, 4}
    fixed = LoadImageSliced("image", slice_index=0)({"image": str(folder)})
    assert fixed["image"].max() <= -999
    # slicing along another axis gives (z, x) images: 6 slices are too few, 10 are fine
    with pytest.raises(DataError, match="series: image of shape \\(6, 128\\) is too small"):
        LoadImageSliced("image", axis=1).set_random_state(0)({"image": str(folder)})
    tall = write_dicom_series(tmp_path / "tall", n_slices=10)
    side = LoadImageSliced("image", axis=1).set_random_state(0)({"image": str(tall)})
    assert side["image"].shape == (1, 10, 128)


def test_all_air_volume_and_single_dicom_files(tmp_path):
    air = tmp_path / "air.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.full((4, 32, 32), -1000, np.int16)), str(air))
    with pytest.raises(DataError, match="air.nii.gz.*almost all air"):
        LoadImageSliced("image")({"image": str(air)})
    ct = LoadImageSliced("image")({"image": ct_small_path()})
    assert ct["image"].shape == (1, 128, 128) and ct["image_slice"] == -1 and ct["image_photometric"] == "MONOCHROME2"
    np.testing.assert_array_equal(ct["image"][0], ct_small_hu())


def test_monochrome1_radiograph_reads_with_bone_bright(tmp_path):
    mono = write_monochrome1(tmp_path / "dx.dcm")
    out = LoadImageSliced("image")({"image": str(mono)})
    assert out["image_photometric_file"] == "MONOCHROME1" and out["image_photometric"] == "MONOCHROME2"
    hu = ct_small_hu()
    # SimpleITK (GDCM) inverted the stored values: the order of pixel values is reversed
    np.testing.assert_array_equal(np.argsort(out["image"][0].ravel(), kind="stable")[-1], np.argmin(hu.ravel()))
    d = build_transforms(intensity="percentile", size=None, flip_prob=0.0)({"image": str(mono)})
    record = d["image_intensity_mapping"]
    assert record["invert"] is False  # not inverted twice
    assert float(d["image"][0].flatten()[np.argmax(hu.ravel())]) == pytest.approx(0.0)  # dense bone is dark in raw
    # a raw MONOCHROME1 array (no reader conversion) is inverted by the chain and the record undoes it
    raw = {"image": hu[None].astype(np.int16), "image_photometric": "MONOCHROME1"}
    d = build_transforms(load=False, intensity="percentile", size=None, flip_prob=0.0)(raw)
    assert d["image_intensity_mapping"]["invert"] is True
    assert float(d["image"][0].flatten()[np.argmax(hu.ravel())]) == pytest.approx(0.0)
    inside = (hu >= d["image_intensity_mapping"]["a_min"]) & (hu <= d["image_intensity_mapping"]["a_max"])
    back = intensity_inverse(d["image"].numpy()[0], d["image_intensity_mapping"])
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back[inside], hu[inside])


def test_folder_datalist_and_mask_files(tmp_path):
    paths = write_formats(tmp_path / "imgs")
    mask = np.zeros((128, 128), np.uint8)
    mask[40:56, 30:90] = 1
    mask_path = tmp_path / "mask.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(mask_path))
    datalist = {
        "training": [{"image": "imgs/ct.nii.gz", "mask": "mask.nrrd"}, {"image": "imgs/ct.png"}],
        "validation": [{"image": "imgs/ct.png", "mask": "missing.png"}],
        "test": ["imgs/ct.png"],  # the Decathlon format lists bare image paths under "test" only
    }
    (tmp_path / "list.json").write_text(json.dumps(datalist))
    items = load_datalist(tmp_path / "list.json")
    assert items == [{"image": str(paths["nifti"]), "mask": str(mask_path)}, {"image": str(paths["png"])}]
    assert load_datalist(tmp_path / "list.json", key="test") == [{"image": str(paths["png"])}]
    # a mask that does not exist is still resolved, so that the error names its full path
    assert load_datalist(tmp_path / "list.json", key="validation")[0]["mask"] == str(tmp_path / "missing.png")
    ds = build_dataset(tmp_path / "list.json", intensity="auto", size=64, flip_prob=0.0,
                       mask={"kind": "strips", "width": 8})
    first, second = ds[0], ds[1]
    _check_pair(first, 64)
    _check_pair(second, 64)
    assert first["hole"].sum() == (16 // 2) * (60 // 2)  # the file's mask, resized by 1/2
    assert first["image_intensity_mapping"]["method"] == "ct_window"  # auto: HU values found
    assert second["hole"].sum() == 8 * 64  # a generated strip
    assert second["image_intensity_mapping"]["method"] == "dtype_range"  # auto: an 8-bit PNG maps 0 .. 255
    folder_ds = build_dataset(tmp_path / "imgs", intensity="auto", size=32)
    assert len(folder_ds) == 5
    batch = next(iter(DataLoader(folder_ds, batch_size=5, num_workers=0)))
    assert batch["image"].shape == (5, 1, 32, 32) and batch["hole"].shape == (5, 1, 32, 32)


def test_mask_shape_mismatch_names_the_files(tmp_path):
    paths = write_formats(tmp_path)
    bad_mask = write_png(tmp_path / "small_mask.png", np.ones((64, 64)))
    chain = build_transforms(intensity="ct", size=64)
    with pytest.raises(RuntimeError) as err:
        chain({"image": str(paths["nifti"]), "mask": str(bad_mask)})
    assert "small_mask.png" in str(err.value.__cause__) and "ct.nii.gz" in str(err.value.__cause__)


def test_bad_inputs_raise_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty: no image files"):
        build_dataset(empty)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_dataset(tmp_path / "nowhere")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match="corrupt.png"):
        build_dataset([{"image": str(corrupt)}])
    thin = write_png(tmp_path / "thin.png", np.zeros((64, 1)))
    with pytest.raises(DataError, match="thin.png.*too small"):
        check_items([{"image": str(thin)}])
    with pytest.raises(RuntimeError) as err:
        build_transforms(size=32)({"image": str(thin)})
    assert "thin.png" in str(err.value.__cause__) and "too small" in str(err.value.__cause__)
    nan = tmp_path / "nan.nrrd"  # (SimpleITK drops NaN when writing NIfTI)
    arr = np.zeros((16, 16), np.float32)
    arr[3, 4] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(nan))
    with pytest.raises(RuntimeError) as err:
        build_transforms(size=16)({"image": str(nan)})
    assert "nan.nrrd" in str(err.value.__cause__) and "NaN" in str(err.value.__cause__)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        load_datalist(tmp_path / "bad.json")
    (tmp_path / "nolist.json").write_text(json.dumps({"validation": []}))
    with pytest.raises(DataError, match="no 'training' list"):
        load_datalist(tmp_path / "nolist.json")
    with pytest.raises(DataError, match="nolist.json: datalist 'validation' is empty"):
        load_datalist(tmp_path / "nolist.json", key="validation")
    (tmp_path / "bare.json").write_text(json.dumps({"training": ["imgs/ct.png"], "test": [], "other": [{"x": 1}]}))
    with pytest.raises(DataError, match="bare.json: datalist 'training' must be a list of objects"):
        load_datalist(tmp_path / "bare.json")
    with pytest.raises(DataError, match="bare.json: datalist 'test' is empty"):
        load_datalist(tmp_path / "bare.json", key="test")
    with pytest.raises(DataError, match="bare.json: item 0 of 'other' has no 'image'"):
        load_datalist(tmp_path / "bare.json", key="other")
    with pytest.raises(FileNotFoundError, match="absent.json: datalist not found"):
        load_datalist(tmp_path / "absent.json")
    with pytest.raises(ValueError, match="unknown intensity mode"):
        build_transforms(intensity="gamma")


def test_skip_corrupt_reports_and_continues(tmp_path):
    paths = write_formats(tmp_path)
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"garbage")
    items = [{"image": str(paths["nrrd"])}, {"image": str(corrupt)}]
    with pytest.warns(UserWarning, match="corrupt.nii.gz"):
        ds = build_dataset(items, skip_corrupt=True, size=32)
    assert len(ds) == 1
    # a file that passes the header check but fails later (NaN) is skipped at load time, with a warning
    nan = tmp_path / "nan.nrrd"
    arr = np.full((32, 32), np.nan, np.float32)
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(nan))
    ds = InpaintingDataset([{"image": str(nan)}, {"image": str(paths["nrrd"])}],
                           build_transforms(size=32), skip_corrupt=True)
    with pytest.warns(UserWarning, match="nan.nrrd"):
        d = ds[0]
    _check_pair(d, 32)
    assert ds.skipped == [str(nan)]
    strict = InpaintingDataset([{"image": str(nan)}], build_transforms(size=32))
    with pytest.raises(RuntimeError):
        strict[0]
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no usable item"):
        check_items([{"image": str(corrupt)}], skip_corrupt=True)


def test_synthetic_source_and_flips():
    metal = {"kind": "metal", "radius": (1, 3), "body_threshold": 0.12}
    ds = build_dataset("synthetic", num_samples=4, seed=3, size=48, mask=metal, flip_prob=0.0)
    assert isinstance(ds, SyntheticCTDataset) and len(ds) == 4
    d = ds[1]
    _check_pair(d, 48)
    img = d["image"][0].numpy()
    hole = d["hole"][0].numpy() > 0
    body = ndimage.binary_fill_holes(img > 0.12)
    assert hole.sum() > 0 and not (hole & ~body).any()  # metal-like holes inside the body
    assert np.median(img[hole]) > 0.2  # centred in tissue, not in the lungs
    again = build_dataset("synthetic", num_samples=4, seed=3, size=48, mask=metal, flip_prob=0.0)[1]
    torch.testing.assert_close(again["image"], d["image"])
    flipped = build_transforms(load=False, size=None, flip_prob=1.0, mask={"kind": "square", "size": 4})
    base = np.arange(64, dtype=np.float32).reshape(1, 8, 8) * 10 - 1000
    out = flipped({"image": base})
    np.testing.assert_allclose(out["image"][0].numpy(), ((base[0] + 1024) / 4095)[:, ::-1], atol=1e-6)

"""Reading / writing images with geometry and dtype: PNG, NIfTI, NRRD, DICOM series; clear errors."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from rfr_inpaint.image_io import (
    ImageIOError,
    cast_to_dtype,
    image_format,
    read_image,
    read_mask,
    write_dicom_series,
    write_image,
)

SPACING_XYZ = (0.8, 0.7, 2.5)
ORIGIN = (10.0, -5.0, 3.0)
DIRECTION = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # a 90 degree in-plane rotation (right-handed)


@pytest.fixture
def ct() -> np.ndarray:
    return np.random.default_rng(0).integers(-1024, 3000, size=(5, 12, 14)).astype(np.int16)


def _sitk(array: np.ndarray, spacing=SPACING_XYZ, origin=ORIGIN, direction=DIRECTION) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return image


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_volume_round_trip_keeps_geometry_and_dtype(tmp_path, ct, suffix):
    src = tmp_path / f"ct{suffix}"
    sitk.WriteImage(_sitk(ct), str(src))
    image = read_image(src)
    assert image.array.dtype == np.int16 and image.array.shape == ct.shape
    np.testing.assert_array_equal(image.array, ct)
    np.testing.assert_allclose(image.spacing, SPACING_XYZ, rtol=1e-6)
    np.testing.assert_allclose(image.spacing_numpy, SPACING_XYZ[::-1], rtol=1e-6)
    np.testing.assert_allclose(image.direction, DIRECTION, atol=1e-6)
    out = tmp_path / f"out{suffix}"
    write_image(image, image.array.astype(np.float64) + 0.3, out)  # converted back to int16 by rounding
    back = sitk.ReadImage(str(out))
    assert back.GetPixelID() == sitk.sitkInt16
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), ct)
    np.testing.assert_allclose(back.GetOrigin(), ORIGIN, atol=1e-5)
    np.testing.assert_allclose(back.GetDirection(), DIRECTION, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_png_round_trip_and_grey_rgb(tmp_path):
    grey = np.random.default_rng(1).integers(0, 256, size=(20, 24)).astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(grey), str(tmp_path / "g.png"))
    image = read_image(tmp_path / "g.png")
    assert image.ndim == 2 and image.array.dtype == np.uint8 and image.format == "png"
    write_image(image, image.array, tmp_path / "g2.png")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "g2.png"))), grey)

    rgb = np.stack([grey] * 3, axis=-1)
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "rgb.png"))
    image = read_image(tmp_path / "rgb.png")
    assert image.array.shape == grey.shape and image.num_components == 3
    write_image(image, image.array, tmp_path / "rgb2.png")
    assert sitk.ReadImage(str(tmp_path / "rgb2.png")).GetNumberOfComponentsPerPixel() == 3

    rgb[3, 4, 1] ^= 0xFF
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "colour.png"))
    with pytest.raises(ImageIOError, match=r"colour\.png: multi-component"):
        read_image(tmp_path / "colour.png")


def test_png_refuses_3d_and_wide_dtypes(tmp_path, ct):
    sitk.WriteImage(_sitk(ct), str(tmp_path / "ct.nii.gz"))
    image = read_image(tmp_path / "ct.nii.gz")
    with pytest.raises(ImageIOError, match=r"out\.png: a 3D image"):
        write_image(image, image.array, tmp_path / "out.png")
    sitk.WriteImage(sitk.GetImageFromArray(ct[0]), str(tmp_path / "slice.nii.gz"))
    with pytest.raises(ImageIOError, match="cannot hold int16"):
        write_image(read_image(tmp_path / "slice.nii.gz"), ct[0], tmp_path / "slice.png")


def test_write_refuses_existing_output_unless_overwrite(tmp_path, ct):
    sitk.WriteImage(_sitk(ct), str(tmp_path / "ct.nrrd"))
    image = read_image(tmp_path / "ct.nrrd")
    out = tmp_path / "out.nrrd"
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="out.nrrd"):
        write_image(image, image.array, out)
    assert out.read_bytes() == b"keep me"
    write_image(image, image.array + 1, out, overwrite=True)
    np.testing.assert_array_equal(read_image(out).array, ct + 1)


def test_dicom_series_from_scratch_and_as_new_series(tmp_path, ct):
    src = write_dicom_series(ct, tmp_path / "in", spacing=SPACING_XYZ[::-1], origin=ORIGIN, direction=DIRECTION)
    image = read_image(src)
    assert image.format == "dicom" and len(image.dicom_files) == ct.shape[0]
    assert image.array.dtype == np.int16
    np.testing.assert_array_equal(image.array, ct)
    np.testing.assert_allclose(image.spacing, SPACING_XYZ, rtol=1e-5)
    np.testing.assert_allclose(image.origin, ORIGIN, atol=1e-4)
    np.testing.assert_allclose(image.direction, DIRECTION, atol=1e-5)

    changed = ct.copy()
    changed[2, 3:6, 4:8] = 40
    write_image(image, changed, tmp_path / "out")
    out = read_image(tmp_path / "out")
    np.testing.assert_array_equal(out.array, changed)
    np.testing.assert_allclose(out.origin, ORIGIN, atol=1e-4)
    first_in = pydicom.dcmread(image.dicom_files[0])
    first_out = pydicom.dcmread(out.dicom_files[0])
    assert first_out.SeriesInstanceUID != first_in.SeriesInstanceUID
    assert first_out.SOPInstanceUID != first_in.SOPInstanceUID
    assert first_out.StudyInstanceUID == first_in.StudyInstanceUID  # tags copied from the input series
    assert first_out.PatientID == first_in.PatientID and first_out.PixelRepresentation == 1
    assert "DERIVED" in first_out.ImageType
    with pytest.raises(ImageIOError, match="left-handed"):
        write_dicom_series(ct, tmp_path / "lh", spacing=(1, 1, 1), direction=(0, 1, 0, 1, 0, 0, 0, 0, 1))


def test_dicom_keeps_unsigned_storage_and_rescale(tmp_path):
    hu = np.random.default_rng(2).integers(-1000, 2000, size=(3, 8, 10)).astype(np.int16)
    folder = write_dicom_series(hu, tmp_path / "in", spacing=(2.0, 0.5, 0.5))
    for file in folder.iterdir():  # re-encode as unsigned with intercept -1024, as many scanners store CT
        ds = pydicom.dcmread(file)
        stored = ds.pixel_array.astype(np.int32) + 1024
        ds.PixelRepresentation, ds.RescaleIntercept = 0, "-1024"
        ds.PixelData = stored.astype(np.uint16).tobytes()
        ds.save_as(file)
    image = read_image(folder)
    np.testing.assert_array_equal(image.array.astype(np.int32), hu.astype(np.int32))
    write_image(image, image.array, tmp_path / "out")
    ds = pydicom.dcmread(sorted((tmp_path / "out").iterdir())[0])
    assert ds.PixelRepresentation == 0 and float(ds.RescaleIntercept) == -1024.0
    np.testing.assert_array_equal(read_image(tmp_path / "out").array.astype(np.int32), hu.astype(np.int32))


def test_read_mask_checks_the_grid(tmp_path, ct):
    sitk.WriteImage(_sitk(ct), str(tmp_path / "ct.nii.gz"))
    image = read_image(tmp_path / "ct.nii.gz")
    sitk.WriteImage(_sitk((ct > 2500).astype(np.uint8)), str(tmp_path / "mask.nii.gz"))
    np.testing.assert_array_equal(read_mask(tmp_path / "mask.nii.gz", image), ct > 2500)
    bad = {
        "shape": _sitk(np.zeros((5, 12, 13), np.uint8)),
        "spacing": _sitk(np.zeros_like(ct, np.uint8), spacing=(0.8, 0.7, 2.0)),
        "origin": _sitk(np.zeros_like(ct, np.uint8), origin=(0.0, 0.0, 0.0)),
        "direction": _sitk(np.zeros_like(ct, np.uint8), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)),
    }
    for what, mask in bad.items():
        sitk.WriteImage(mask, str(tmp_path / f"{what}.nii.gz"))
        with pytest.raises(ImageIOError, match=rf"{what}\.nii\.gz: mask grid does not match .*{what}"):
            read_mask(tmp_path / f"{what}.nii.gz", image)


def test_clear_errors_for_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        read_image(tmp_path / "missing.nii.gz")
    (tmp_path / "broken.nii.gz").write_bytes(b"not an image")
    with pytest.raises(ImageIOError, match=r"broken\.nii\.gz: not a readable image"):
        read_image(tmp_path / "broken.nii.gz")
    sitk.WriteImage(sitk.GetImageFromArray(np.random.rand(2, 3, 4, 5).astype(np.float32)), str(tmp_path / "4d.nii.gz"))
    with pytest.raises(ImageIOError, match=r"4d\.nii\.gz: multi-component"):
        read_image(tmp_path / "4d.nii.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageIOError, match="holds no DICOM series"):
        read_image(tmp_path / "empty")
    with pytest.raises(ImageIOError, match=r"unsupported image format '\.xyz'"):
        image_format(tmp_path / "a.xyz")


def test_cast_to_dtype_rounds_and_clips():
    values = np.array([-40000.4, -1.5, 0.49, 2.5, 70000.0])
    np.testing.assert_array_equal(cast_to_dtype(values, np.int16), [-32768, -2, 0, 2, 32767])
    np.testing.assert_array_equal(cast_to_dtype(values, np.uint8), [0, 0, 0, 2, 255])
    assert cast_to_dtype(values, np.float32).dtype == np.float32

"""Writers of small real sample files (from pydicom's own test data) in every input format the data code reads."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


def ct_small_path() -> str:
    """pydicom's 128 x 128 CT slice (HU after rescale: about -900 .. 1200)."""
    return get_testdata_file("CT_small.dcm")


def mr_small_path() -> str:
    """pydicom's 64 x 64 MR slice."""
    return get_testdata_file("MR_small.dcm")


def ct_small_hu() -> np.ndarray:
    """The CT sample as an int16 ``(128, 128)`` HU array."""
    return sitk.GetArrayFromImage(sitk.ReadImage(ct_small_path()))[0].astype(np.int16)


def write_dicom_series(folder: Path, n_slices: int = 5, air_slices: tuple[int, ...] = ()) -> Path:
    """Write CT_small as a DICOM series of ``n_slices`` slices (2.5 mm apart); ``air_slices`` are set to -1000 HU.

    Slice ``k`` holds the sample's values plus ``10 * k`` HU so that slices can be told apart.
    """
    folder.mkdir(parents=True, exist_ok=True)
    src = pydicom.dcmread(ct_small_path())
    slope, intercept = float(src.RescaleSlope), float(src.RescaleIntercept)
    raw = src.pixel_array.astype(np.int32)
    series_uid = generate_uid()
    for k in range(n_slices):
        ds = copy.deepcopy(src)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        pos = [float(v) for v in src.ImagePositionPatient]
        ds.ImagePositionPatient = [pos[0], pos[1], pos[2] + 2.5 * k]
        values = np.full_like(raw, int(round((-1000 - intercept) / slope))) if k in air_slices else raw + 10 * k
        ds.PixelData = values.astype(src.pixel_array.dtype).tobytes()
        ds.save_as(folder / f"slice_{k:03d}.dcm")
    return folder


def write_monochrome1(path: Path) -> Path:
    """Write the CT sample as a MONOCHROME1 DICOM file (high values displayed dark)."""
    ds = pydicom.dcmread(ct_small_path())
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.Modality = "DX"
    ds.save_as(path)
    return path


def write_formats(folder: Path) -> dict[str, Path]:
    """Write the CT sample as NIfTI, NRRD, 8-bit PNG and JPEG, and MR_small as NIfTI; return the paths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    image = sitk.ReadImage(ct_small_path())
    paths = {"nifti": folder / "ct.nii.gz", "nrrd": folder / "ct.nrrd", "png": folder / "ct.png",
             "jpeg": folder / "ct.jpg", "mr_nifti": folder / "mr.nii.gz"}
    sitk.WriteImage(sitk.Cast(image, sitk.sitkInt16), str(paths["nifti"]))
    sitk.WriteImage(sitk.Cast(image, sitk.sitkInt16), str(paths["nrrd"]))
    hu = ct_small_hu().astype(np.float32)
    u8 = np.clip((hu + 1000.0) / 2200.0 * 255.0, 0, 255).astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(u8), str(paths["png"]))
    sitk.WriteImage(sitk.GetImageFromArray(u8), str(paths["jpeg"]))
    sitk.WriteImage(sitk.ReadImage(mr_small_path()), str(paths["mr_nifti"]))
    return paths


def write_png(path: Path, array: np.ndarray) -> Path:
    """Write a 2D uint8 array as PNG."""
    sitk.WriteImage(sitk.GetImageFromArray(np.asarray(array, dtype=np.uint8)), str(path))
    return path

"""Shared helpers of the bundle tests: paths, tiny budgets, running the MONAI bundle CLI, inference inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

BUNDLE_DIR = Path(__file__).resolve().parents[1] / "monai_bundle"
CONFIGS = BUNDLE_DIR / "configs"
META = str(CONFIGS / "metadata.json")
LOGGING = str(CONFIGS / "logging.conf")

#: a training budget that runs in seconds on a CPU: 32 x 32 images, 2 iterations per epoch, 1 epoch.
TINY: dict[str, Any] = {
    "image_size": 32,
    "num_train_images": 4,
    "num_val_images": 2,
    "batch_size": 2,
    "max_epochs": 1,
    "device": "$torch.device('cpu')",
}


def cli_args(overrides: dict[str, Any]) -> list[str]:
    """``--key value`` arguments of the MONAI bundle CLI (values as the CLI parses them)."""
    args: list[str] = []
    for key, value in overrides.items():
        args += [f"--{key}", str(value)]
    return args


def config_list(*names: str) -> str:
    """The CLI form of several config files: ``"['configs/a.json','configs/b.json']"``."""
    return "[" + ",".join(f"'configs/{n}'" for n in names) + "]"


def run_bundle(
    args: Sequence[str], timeout: float = 300, launcher: Sequence[str] | None = None, cwd: Path = BUNDLE_DIR
) -> subprocess.CompletedProcess:
    """Run ``python -m monai.bundle <args>`` (or ``<launcher> -m monai.bundle <args>``) from inside the bundle folder
    (``cwd``: the source's, or a copy), as the documentation tells users to; fail the test with the output when it
    fails."""
    cmd = list(launcher) if launcher else [sys.executable]
    cmd += ["-m", "monai.bundle", *args]
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def write_inference_inputs(folder: Path) -> dict[str, Path]:
    """A synthetic CT volume (int16 HU NIfTI with spacing) and a 2D slice (int16 NRRD), each with its ``_mask`` file.

    Returns:
        the paths by name (``volume``, ``volume_mask``, ``slice``, ``slice_mask``).
    """
    from rfr_inpaint.data import synthetic_ct_slice, synthetic_ct_volume

    folder.mkdir(parents=True, exist_ok=True)
    vol, _ = synthetic_ct_volume((3, 40, 48), seed=1)
    image = sitk.GetImageFromArray(np.round(vol).astype(np.int16))
    image.SetSpacing((0.8, 0.8, 2.5))
    image.SetOrigin((10.0, -5.0, 3.0))
    sitk.WriteImage(image, str(folder / "ct.nii.gz"))
    mask = np.zeros(vol.shape, np.uint8)
    mask[1, 12:22, 14:26] = 1
    mask_image = sitk.GetImageFromArray(mask)
    mask_image.CopyInformation(image)
    sitk.WriteImage(mask_image, str(folder / "ct_mask.nii.gz"))
    sl = np.round(synthetic_ct_slice(36, seed=2)).astype(np.int16)
    sitk.WriteImage(sitk.GetImageFromArray(sl), str(folder / "slice.nrrd"))
    m2 = np.zeros(sl.shape, np.uint8)
    m2[4:12, 20:30] = 1
    sitk.WriteImage(sitk.GetImageFromArray(m2), str(folder / "slice_mask.nrrd"))
    return {
        "volume": folder / "ct.nii.gz",
        "volume_mask": folder / "ct_mask.nii.gz",
        "slice": folder / "slice.nrrd",
        "slice_mask": folder / "slice_mask.nrrd",
    }


def write_radiograph_dicom(path: Path, stored: np.ndarray, photometric: str = "MONOCHROME1") -> Path:
    """A single-file 12-bit unsigned DX radiograph (pydicom ships no MONOCHROME1 test file), with a uint8 hole mask
    ``<name>_mask.nrrd`` beside it on the image's grid (rows 20..27, columns 24..35 are the hole).

    Args:
        path: the ``.dcm`` file to write.
        stored: ``(rows, columns)`` raw stored values in ``[0, 4095]``.
        photometric: ``MONOCHROME1`` (high values dark) or ``MONOCHROME2``.

    Returns:
        ``path``.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid
    from rfr_inpaint.image_io import read_image

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.SeriesDescription = "DX", "rfr-test", "chest"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = ["0.5", "0.5"]
    ds.PixelData = np.asarray(stored, dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if int(pydicom.__version__.split(".")[0]) >= 3:
        ds.save_as(path, enforce_file_format=True)
    else:  # pragma: no cover - pydicom 2.x
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)
    image = read_image(path)
    hole = np.zeros(image.array.shape, np.uint8)
    hole[..., 20:28, 24:36] = 1
    sitk.WriteImage(image.to_sitk(hole), str(path.with_name(path.name[: -len(".dcm")] + "_mask.nrrd")))
    return path

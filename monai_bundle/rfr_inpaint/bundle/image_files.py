"""MONAI's ``LoadImaged`` / ``SaveImaged`` on the files of :mod:`rfr_inpaint.image_io`: a reader, a writer and a
folder layout, so that bundle inference reads and writes images like any MONAI bundle while keeping what this
package guarantees (the input's grid, pixel type and format; a DICOM series written back as a new series with the
input's tags; MONOCHROME1 files stored in their own convention).

* :class:`MedicalImageReader` (``LoadImaged(reader=...)``): the array in NumPy axis order (``(z, y, x)`` /
  ``(y, x)``, the order of :func:`rfr_inpaint.volume.inpaint_volume` and of the network's slices) and the grid in the
  metadata (``spacing``, ``origin``, ``direction`` in ITK order, ``format``, ``dtype``, ``num_components``,
  ``dicom_files``, plus MONAI's ``affine`` / ``spatial_shape``).
* :class:`MedicalImageWriter` (``SaveImaged(writer=...)``): :func:`rfr_inpaint.image_io.write_image` with the grid
  rebuilt from that metadata. MONAI's own writers cannot do it: ITK / NIfTI writers store one format given in
  advance, and none writes a DICOM series carrying the input's tags.
* :class:`SourceFormatLayout` (``SaveImaged(folder_layout=...)``): ``<output_dir>/<name><postfix><the input's
  extension>`` (a DICOM series folder gives a folder), so a folder mixing formats keeps each file's format.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import FolderLayoutBase, ImageReader, ImageWriter
from monai.utils import ImageMetaKey, MetaKeys, ensure_tuple

from rfr_inpaint.image_io import (
    FORMATS_2D,
    FORMATS_3D,
    ImageIOError,
    MedicalImage,
    image_format,
    read_image,
    write_image,
)

__all__ = ["MedicalImageReader", "MedicalImageWriter", "SourceFormatLayout", "output_path", "medical_image_from_meta"]

logger = logging.getLogger(__name__)


def _affine(image: MedicalImage) -> np.ndarray:
    """The RAS affine of the array's index order (NumPy order: the last index is ITK's x)."""
    ndim = image.ndim
    direction = np.asarray(image.direction, dtype=np.float64).reshape(ndim, ndim)
    lps = direction * np.asarray(image.spacing, dtype=np.float64)[None, :]  # columns: ITK index axes x, y, z
    affine = np.eye(ndim + 1)
    affine[:ndim, :ndim] = lps[:, ::-1]  # columns in NumPy index order
    affine[:ndim, ndim] = image.origin
    affine[: min(2, ndim)] *= -1.0  # LPS -> RAS
    affine[ndim, ndim] = 1.0
    return affine


class MedicalImageReader(ImageReader):
    """MONAI image reader of :func:`rfr_inpaint.image_io.read_image` (SimpleITK): 2D photo formats, NIfTI, NRRD,
    MetaImage, single DICOM files and DICOM series folders.

    The array keeps the file's pixel type (give ``LoadImaged(dtype=None)``) and NumPy axis order; MONOCHROME1 files
    read in the MONOCHROME2 convention (GDCM inverts them), as in training.
    """

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        """Whether every name is a file or folder format of :mod:`rfr_inpaint.image_io`."""
        try:
            for name in ensure_tuple(filename):
                image_format(name)
        except ImageIOError:
            return False
        return True

    def read(self, data: Sequence[str | os.PathLike] | str | os.PathLike, **kwargs: Any) -> MedicalImage:
        """Read one image (a sequence must hold one name).

        Raises:
            FileNotFoundError / ImageIOError: the file is missing or unreadable (named).
            ValueError: several files at once.
        """
        names = ensure_tuple(data)
        if len(names) != 1:
            raise ValueError(f"MedicalImageReader reads one image at a time, got {len(names)}: {list(names)}")
        return read_image(names[0])

    def get_data(self, img: MedicalImage) -> tuple[np.ndarray, dict[str, Any]]:
        """The array and its metadata (no channel dimension: ``LoadImaged(ensure_channel_first=True)`` adds it)."""
        meta: dict[str, Any] = {
            "spacing": np.asarray(img.spacing, dtype=np.float64),
            "origin": np.asarray(img.origin, dtype=np.float64),
            "direction": np.asarray(img.direction, dtype=np.float64),
            "format": img.format,
            "dtype": img.array.dtype.name,
            "num_components": int(img.num_components),
            "dicom_files": [str(f) for f in img.dicom_files],
            MetaKeys.AFFINE: _affine(img),
            MetaKeys.ORIGINAL_AFFINE: _affine(img),
            MetaKeys.SPATIAL_SHAPE: np.asarray(img.array.shape),
            MetaKeys.ORIGINAL_CHANNEL_DIM: "no_channel",
            ImageMetaKey.FILENAME_OR_OBJ: str(img.path),
        }
        return img.array, meta


def _values(x: Any) -> list[float]:
    """Floats of a metadata field after MONAI's collation / decollation (array, tensor, list of 0-d tensors)."""
    if isinstance(x, torch.Tensor):
        return [float(v) for v in x.detach().cpu().reshape(-1)]
    return [float(v.item() if isinstance(v, torch.Tensor) else v) for v in np.asarray(x, dtype=object).reshape(-1)]


def medical_image_from_meta(array: Any, meta: Mapping[str, Any]) -> MedicalImage:
    """The :class:`~rfr_inpaint.image_io.MedicalImage` of an array on the grid that :class:`MedicalImageReader`
    recorded in ``meta`` (the array is converted to the recorded dtype).

    Raises:
        KeyError: ``meta`` was not written by :class:`MedicalImageReader`.
        ValueError: the array does not have the recorded spatial shape.
    """
    missing = [k for k in ("spacing", "origin", "direction", "format", ImageMetaKey.FILENAME_OR_OBJ) if k not in meta]
    if missing:
        raise KeyError(f"image metadata lacks {missing}: load the image with rfr_inpaint's MedicalImageReader")
    values = np.asarray(array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array)
    shape = tuple(int(v) for v in _values(meta.get(MetaKeys.SPATIAL_SHAPE, values.shape)))
    if values.shape != shape:
        raise ValueError(f"{meta[ImageMetaKey.FILENAME_OR_OBJ]}: array of shape {values.shape}, the image has {shape}")
    dtype = meta.get("dtype")
    files = meta.get("dicom_files") or ()
    return MedicalImage(
        array=values.astype(np.dtype(dtype), copy=False) if dtype else values,
        spacing=tuple(_values(meta["spacing"])),
        origin=tuple(_values(meta["origin"])),
        direction=tuple(_values(meta["direction"])),
        path=Path(str(meta[ImageMetaKey.FILENAME_OR_OBJ])),
        format=str(meta["format"]),
        num_components=int(_values(meta.get("num_components", 1))[0]),
        dicom_files=tuple(Path(str(f)) for f in ensure_tuple(files)),
    )


class MedicalImageWriter(ImageWriter):
    """MONAI image writer of :func:`rfr_inpaint.image_io.write_image`: the array is written on the grid, with the
    pixel type and, for DICOM, the tags of the image :class:`MedicalImageReader` read (an atomic write; integers
    rounded and clipped to the input's type).

    Args:
        output_dtype: ignored: the input's pixel type is kept (``SaveImaged(output_dtype=None)``).
        scale: ignored (no rescaling: values are in the input's units).
        overwrite: replace an existing output.
    """

    def __init__(self, output_dtype: Any = None, scale: Any = None, overwrite: bool = True, **kwargs: Any) -> None:
        super().__init__(output_dtype=output_dtype, scale=scale, overwrite=overwrite, **kwargs)
        self.reference: MedicalImage | None = None

    def set_data_array(
        self, data_array: Any, channel_dim: int | None = 0, squeeze_end_dims: bool = True, **kwargs: Any
    ) -> None:
        """Take the (one-channel) array; the channel dimension is removed.

        Raises:
            ValueError: more than one channel.
        """
        values = np.asarray(data_array.detach().cpu().numpy() if isinstance(data_array, torch.Tensor) else data_array)
        if channel_dim is not None:
            if values.shape[channel_dim] != 1:
                raise ValueError(f"MedicalImageWriter writes one-channel images, got shape {values.shape}")
            values = np.take(values, 0, axis=channel_dim)
        self.data_obj = values

    def set_metadata(self, meta_dict: Mapping | None, **options: Any) -> None:
        """Rebuild the input's grid from ``meta_dict`` (``resample`` and the other options do not apply)."""
        if meta_dict is None:
            raise KeyError("MedicalImageWriter needs the image's metadata (a MetaTensor read by MedicalImageReader)")
        self.reference = medical_image_from_meta(self.data_obj, meta_dict)

    def write(self, filename: str | os.PathLike, verbose: bool = True, **kwargs: Any) -> None:
        """Write to ``filename`` (its name decides the format; a folder is a DICOM series)."""
        if self.reference is None:
            raise RuntimeError("MedicalImageWriter: call set_data_array and set_metadata before write")
        write_image(self.reference, self.reference.array, filename, overwrite=self.overwrite)
        if verbose:
            logger.info(f"wrote {filename}")


def output_path(source: str | os.PathLike, output_dir: str | os.PathLike, postfix: str = "_inpainted") -> Path:
    """Where the result of ``source`` goes: ``output_dir/<name><postfix><same extension>`` (a DICOM series folder
    gives a folder ``<name><postfix>``)."""
    source = Path(source)
    name = source.name
    suffix = next(
        (s for s in sorted((*FORMATS_2D, *FORMATS_3D), key=len, reverse=True) if name.lower().endswith(s)), ""
    )
    if source.is_dir():
        suffix = ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    return Path(output_dir) / f"{stem}{postfix}{name[len(name) - len(suffix) :] if suffix else ''}"


class SourceFormatLayout(FolderLayoutBase):
    """``SaveImaged`` folder layout keeping each input's format: :func:`output_path` of the source file.

    Args:
        output_dir: output folder (created when missing).
        postfix: added to each name.
    """

    def __init__(self, output_dir: str | os.PathLike, postfix: str = "_inpainted") -> None:
        self.output_dir = Path(output_dir)
        self.postfix = postfix

    def filename(self, subject: str | os.PathLike = "subject", idx: Any = None, **kwargs: Any) -> Path:
        """The output of the source file ``subject`` (MONAI passes the image's ``filename_or_obj``)."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        return output_path(subject, self.output_dir, self.postfix)

"""Reading and writing 2D and 3D medical images with their geometry and pixel type.

Formats: 2D PNG / JPEG / BMP / TIFF, 3D (or 2D) NIfTI, NRRD, MetaImage, and DICOM series folders. Everything is read
with SimpleITK (ITK Python as a fallback for files SimpleITK cannot open) into a :class:`MedicalImage`: a NumPy array in
NumPy axis order (``(z, y, x)`` or ``(y, x)``) plus the ITK geometry (spacing, origin, direction in LPS, ITK ``(x, y,
z)`` order), so that a result is written back on exactly the same grid and with the same pixel type.

Writes go through :func:`rfr_inpaint.safe_io.atomic_path` (files) or an atomically renamed temporary folder (DICOM
series), so an interrupted write never leaves a truncated output behind. A DICOM series is written as a *new* series:
when the input was a DICOM series, every tag of its files is copied, the pixel data are re-encoded with the input's
pixel representation, bit depth and rescale slope / intercept, and new Series / SOP Instance UIDs are generated.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from rfr_inpaint.safe_io import atomic_path

__all__ = [
    "ImageIOError",
    "MedicalImage",
    "read_image",
    "read_mask",
    "write_image",
    "write_dicom_series",
    "cast_to_dtype",
    "image_format",
    "FORMATS_2D",
    "FORMATS_3D",
]

FORMATS_2D = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff"}
FORMATS_3D = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
    ".dcm": "dicom-file",
}

#: relative tolerance on spacing and absolute tolerance (in units of the smallest spacing) on the origin
GRID_TOLERANCE = 1e-4


class ImageIOError(ValueError):
    """An image or mask cannot be read or written; the message names the file and the problem."""


@dataclass
class MedicalImage:
    """A scalar image with its grid.

    Attributes:
        array: pixel values in NumPy axis order, ``(z, y, x)`` for volumes and ``(y, x)`` for 2D images; its dtype
            is the file's pixel type (after DICOM rescale slope / intercept).
        spacing: pixel spacing in ITK order ``(x, y[, z])`` (mm for medical formats).
        origin: position of the first pixel (LPS, mm).
        direction: flattened row-major direction cosine matrix (ITK convention).
        path: the file or folder the image was read from.
        format: ``png``, ``jpeg``, ``bmp``, ``tiff``, ``nifti``, ``nrrd``, ``metaimage``, ``dicom`` or ``dicom-file``.
        num_components: number of identical channels of the file (a grey image saved as RGB reads as one channel and
            is written back with the same number of channels).
        dicom_files: for a DICOM series, its files in slice order (``array[k]`` comes from ``dicom_files[k]``).
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    path: Path
    format: str
    num_components: int = 1
    dicom_files: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return self.array.ndim

    @property
    def spacing_numpy(self) -> tuple[float, ...]:
        """Spacing in NumPy axis order (``(z, y, x)`` or ``(y, x)``), as :func:`rfr_inpaint.volume.inpaint_volume`
        expects it."""
        return tuple(reversed(self.spacing))

    def to_sitk(self, array: np.ndarray | None = None) -> sitk.Image:
        """A SimpleITK image of ``array`` (default: this image's array) on this image's grid."""
        array = self.array if array is None else array
        if array.shape != self.array.shape:
            raise ValueError(f"array of shape {array.shape} does not match the image grid {self.array.shape}")
        image = sitk.GetImageFromArray(np.ascontiguousarray(array))
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    def grid_mismatches(self, other: MedicalImage) -> list[str]:
        """Human-readable differences between the grids of two images (empty when they match).

        Args:
            other: the image to compare with (e.g. a mask).

        Returns:
            one entry per differing attribute among shape, spacing, origin and direction.
        """
        problems = []
        if other.array.shape != self.array.shape:
            problems.append(f"shape {other.array.shape} != {self.array.shape}")
            return problems
        if not np.allclose(other.spacing, self.spacing, rtol=GRID_TOLERANCE, atol=0):
            problems.append(f"spacing {_fmt(other.spacing)} != {_fmt(self.spacing)}")
        if not np.allclose(other.origin, self.origin, rtol=0, atol=GRID_TOLERANCE * max(1.0, min(self.spacing))):
            problems.append(f"origin {_fmt(other.origin)} != {_fmt(self.origin)}")
        if not np.allclose(other.direction, self.direction, rtol=0, atol=GRID_TOLERANCE):
            problems.append(f"direction {_fmt(other.direction)} != {_fmt(self.direction)}")
        return problems

    def geometry_3d(self) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
        """The grid promoted to 3D: ``(spacing (z, y, x), origin (x, y, z), flattened 3x3 direction)``."""
        if self.ndim == 3:
            return self.spacing_numpy, self.origin, self.direction
        direction = np.eye(3)
        direction[:2, :2] = np.asarray(self.direction).reshape(2, 2)
        return (1.0, *self.spacing_numpy), (*self.origin, 0.0), tuple(direction.ravel())


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def image_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its name: a folder (existing, or a name without suffix) is a DICOM series.

    Args:
        path: an image file or DICOM folder, existing or not.

    Returns:
        one of the values of :data:`FORMATS_2D` / :data:`FORMATS_3D`, or ``dicom``.

    Raises:
        ImageIOError: the suffix is not a supported image format.
    """
    path = Path(path)
    if path.is_dir():
        return "dicom"
    name = path.name.lower()
    for suffix, fmt in {**FORMATS_2D, **FORMATS_3D}.items():
        if name.endswith(suffix):
            return fmt
    if not Path(name).suffix:
        return "dicom"
    supported = ", ".join(sorted({*FORMATS_2D, *FORMATS_3D}))
    raise ImageIOError(
        f"{path}: unsupported image format {Path(name).suffix!r} (supported: {supported}, or a folder "
        "holding one DICOM series)"
    )


def cast_to_dtype(array: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Convert ``array`` to ``dtype``, rounding to nearest and clipping to the type's range for integer types.

    Args:
        array: values to convert.
        dtype: target type.

    Returns:
        the converted array (``array`` itself when it already has that type).
    """
    dtype = np.dtype(dtype)
    if array.dtype == dtype:
        return array
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.asarray(array, dtype=np.float64)
        if not np.issubdtype(array.dtype, np.integer):
            values = np.rint(values)
        return np.clip(values, info.min, info.max).astype(dtype)
    if dtype == np.bool_:
        return array != 0
    return array.astype(dtype)


# ----------------------------------------------------------------------------------------------------------- reading
def read_image(path: str | os.PathLike) -> MedicalImage:
    """Read a scalar 2D or 3D image (or a folder holding one DICOM series) with its geometry and pixel type.

    Args:
        path: image file or DICOM series folder.

    Returns:
        the image; a grey image stored with identical RGB(A) channels is read as one channel.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageIOError: the file is not a readable image, holds several DICOM series, has more than 3 dimensions, or has
            several different channels (colour) where a scalar image is expected.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: image not found")
    fmt = image_format(path)
    dicom_files: tuple[Path, ...] = ()
    if fmt == "dicom":
        image, dicom_files = _read_dicom_series(path)
    else:
        image = _read_file(path)
    if image.GetDimension() > 3:
        raise ImageIOError(
            f"{path}: {image.GetDimension()}D image (size {image.GetSize()}); a scalar 2D or 3D image is "
            "expected (split time series / multi-volume files first)"
        )
    array = sitk.GetArrayFromImage(image)
    if fmt == "nifti" and np.issubdtype(array.dtype, np.floating):
        _check_nifti_finite(path)
    num_components = image.GetNumberOfComponentsPerPixel()
    if num_components > 1 and fmt not in FORMATS_2D.values():
        raise ImageIOError(
            f"{path}: multi-component image ({num_components} components per voxel, e.g. a vector, "
            "colour or 4D series); a scalar image is expected"
        )
    if num_components > 1:
        array = _single_channel(array, path)
    if array.ndim == 3 and image.GetDimension() == 3 and array.shape[0] == 1 and fmt in FORMATS_2D.values():
        array = array[0]
    return MedicalImage(
        array=array,
        spacing=tuple(image.GetSpacing()),
        origin=tuple(image.GetOrigin()),
        direction=tuple(image.GetDirection()),
        path=path,
        format=fmt,
        num_components=num_components,
        dicom_files=dicom_files,
    )


def _check_nifti_finite(path: Path) -> None:
    """ITK's NIfTI reader turns NaN / infinite voxels into 0; read the stored values to refuse such files instead."""
    import nibabel

    try:
        data = np.asanyarray(nibabel.load(str(path)).dataobj)
    except Exception:  # noqa: BLE001 - ITK read it; nothing more to learn here
        return
    bad = int(np.count_nonzero(~np.isfinite(data))) if np.issubdtype(data.dtype, np.floating) else 0
    if bad:
        raise ImageIOError(
            f"{path}: NIfTI file holds {bad} NaN or infinite voxel(s), which its reader would silently turn into 0; "
            "replace them (or save the image as .nrrd, which keeps them) first"
        )


def _single_channel(array: np.ndarray, path: Path) -> np.ndarray:
    """The one channel of an RGB(A) array whose colour channels are identical (alpha, if any, fully opaque)."""
    channels = array.shape[-1]
    colour = array[..., : min(channels, 3)]
    if channels == 4 or channels == 2:
        alpha = array[..., -1]
        if alpha.min() != alpha.max():
            raise ImageIOError(f"{path}: image has a non-constant alpha channel; a scalar (grey) image is expected")
        colour = array[..., : channels - 1]
    if not all(np.array_equal(colour[..., 0], colour[..., c]) for c in range(1, colour.shape[-1])):
        raise ImageIOError(
            f"{path}: multi-component image ({channels} channels that differ); a scalar (grey) image is expected"
        )
    return np.ascontiguousarray(colour[..., 0])


def _read_file(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as e:
        sitk_error = e
    try:  # ITK Python supports a few more IOs (e.g. some NRRD / TIFF variants); use it when SimpleITK cannot
        import itk

        itk_image = itk.imread(str(path))
        image = sitk.GetImageFromArray(
            itk.array_from_image(itk_image), isVector=itk_image.GetNumberOfComponentsPerPixel() > 1
        )
        image.SetSpacing(tuple(float(s) for s in itk_image.GetSpacing()))
        image.SetOrigin(tuple(float(o) for o in itk_image.GetOrigin()))
        image.SetDirection(tuple(float(d) for d in np.asarray(itk_image.GetDirection()).ravel()))
        return image
    except Exception as itk_error:  # noqa: BLE001 - both readers failed: report the first reader's message
        first = str(sitk_error).strip().splitlines()
        detail = next((line for line in reversed(first) if line.strip()), type(itk_error).__name__)
        raise ImageIOError(f"{path}: not a readable image ({detail.strip()})") from itk_error


def _read_dicom_series(folder: Path) -> tuple[sitk.Image, tuple[Path, ...]]:
    series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series_ids:
        raise ImageIOError(f"{folder}: folder holds no DICOM series")
    if len(series_ids) > 1:
        raise ImageIOError(
            f"{folder}: folder holds {len(series_ids)} DICOM series ({', '.join(series_ids)}); give a "
            "folder with exactly one series"
        )
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_ids[0])
    listed = {Path(f).resolve() for f in files}
    for other in sorted(folder.iterdir()):
        # GDCM silently leaves out a damaged (e.g. truncated) file: the volume would lose a slice without a word
        if other.is_file() and other.resolve() not in listed and other.name.upper() != "DICOMDIR":
            with open(other, "rb") as f:
                head = f.read(132)
            if other.suffix.lower() == ".dcm" or head[128:132] == b"DICM":
                raise ImageIOError(
                    f"{other}: DICOM file of {folder} cannot be read as part of its series (damaged or truncated?); "
                    "repair or remove it"
                )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as e:
        raise ImageIOError(f"{folder}: DICOM series cannot be read ({str(e).strip().splitlines()[-1]})") from e
    return image, tuple(Path(f) for f in files)


def read_mask(path: str | os.PathLike, reference: MedicalImage) -> np.ndarray:
    """Read a label image on the grid of ``reference`` as a boolean hole mask (nonzero = hole).

    Args:
        path: mask file or DICOM folder.
        reference: the image the mask belongs to.

    Returns:
        boolean array of ``reference.array.shape``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageIOError: the mask is unreadable, not scalar, or its shape, spacing, origin or direction differ from the
            image's.
    """
    mask = read_image(path)
    if mask.ndim == reference.ndim + 1 and mask.array.shape[0] == 1:  # a 2D mask saved as a one-slice volume
        mask = replace(
            mask,
            array=mask.array[0],
            spacing=mask.spacing[:-1],
            origin=mask.origin[:-1],
            direction=tuple(np.asarray(mask.direction).reshape(3, 3)[:2, :2].ravel()),
        )
    problems = reference.grid_mismatches(mask)
    if problems and reference.format in FORMATS_2D.values() and mask.format in FORMATS_2D.values():
        problems = [p for p in problems if p.startswith("shape")]  # 2D photo formats carry no real geometry
    if problems:
        raise ImageIOError(f"{mask.path}: mask grid does not match image {reference.path}: " + "; ".join(problems))
    return mask.array != 0


# ----------------------------------------------------------------------------------------------------------- writing
def write_image(
    reference: MedicalImage,
    array: np.ndarray,
    path: str | os.PathLike,
    overwrite: bool = False,
    series_description: str | None = None,
) -> Path:
    """Write ``array`` on the grid and with the pixel type of ``reference``, atomically.

    The format follows the name of ``path`` (a name without suffix or an existing folder is a DICOM series). DICOM
    outputs derived from DICOM inputs (a series from a series, one ``.dcm`` file from one file) keep the input's tags,
    photometric interpretation included: values read from a MONOCHROME1 file are in the MONOCHROME2 convention
    (GDCM inverts them on reading) and are inverted back when stored.

    Args:
        reference: the image whose grid, dtype and (for DICOM) tags the output keeps.
        array: values of ``reference.array.shape``; converted to ``reference.array.dtype`` (rounded and clipped for
            integer types).
        path: output file or folder.
        overwrite: replace an existing output (otherwise :class:`FileExistsError`).
        series_description: DICOM Series Description of the new series (default: the input's + " inpainted").

    Returns:
        ``path``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ImageIOError: the array does not match the grid, or the format cannot hold the image (e.g. a 3D volume to PNG).
    """
    path = Path(path)
    if array.shape != reference.array.shape:
        raise ImageIOError(
            f"{path}: array of shape {array.shape} does not match the grid of {reference.path} {reference.array.shape}"
        )
    values = cast_to_dtype(array, reference.array.dtype)
    fmt = image_format(path)
    if fmt == "dicom":
        spacing, origin, direction = reference.geometry_3d()
        return write_dicom_series(
            values,
            path,
            spacing,
            origin,
            direction,
            template_files=reference.dicom_files if reference.format == "dicom" else (),
            overwrite=overwrite,
            series_description=series_description,
        )
    if fmt == "dicom-file" and reference.format == "dicom-file" and values.ndim == 3 and values.shape[0] == 1:
        # one DICOM file from one DICOM file: keep its tags and photometric interpretation (ITK would write a new,
        # MONOCHROME2 file)
        return _write_dicom_file_from_template(reference.path, values[0], path, overwrite, series_description)
    if fmt in FORMATS_2D.values() and values.ndim != 2:
        raise ImageIOError(
            f"{path}: a {values.ndim}D image cannot be written as {fmt.upper()}; use .nii.gz, .nrrd or a DICOM folder"
        )
    if fmt in FORMATS_2D.values() and not (
        values.dtype == np.uint8 or (fmt in ("png", "tiff") and values.dtype == np.uint16)
    ):
        raise ImageIOError(f"{path}: {fmt.upper()} cannot hold {values.dtype} pixels; use .nii.gz or .nrrd")
    image = reference.to_sitk(values)
    if reference.num_components > 1 and fmt in FORMATS_2D.values():
        image = sitk.Compose([image] * reference.num_components)
    if path.exists() and path.is_dir():
        raise ImageIOError(f"{path}: output is an existing folder; give a file name")
    with atomic_path(path, overwrite=overwrite) as tmp:
        try:
            sitk.WriteImage(image, str(tmp), useCompression=fmt not in ("jpeg", "bmp"))
        except RuntimeError as e:
            raise ImageIOError(f"{path}: cannot be written ({str(e).strip().splitlines()[-1]})") from e
    return path


@contextlib.contextmanager
def _atomic_folder(path: Path, overwrite: bool) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: output exists; refusing to overwrite it")
    if path.exists() and not path.is_dir():
        raise ImageIOError(f"{path}: output is an existing file; a DICOM series is written to a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path}: output appeared while writing; refusing to overwrite it")
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "content")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_dicom_series(
    array: np.ndarray,
    path: str | os.PathLike,
    spacing: Sequence[float],
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    direction: Sequence[float] = (1, 0, 0, 0, 1, 0, 0, 0, 1),
    template_files: Sequence[str | os.PathLike] = (),
    overwrite: bool = False,
    series_description: str | None = None,
    modality: str = "CT",
) -> Path:
    """Write a volume as a new DICOM series (one file per slice) into the folder ``path``, atomically.

    With ``template_files`` (the input series, one file per slice in slice order), every tag of each template is kept;
    the pixel data are re-encoded with the template's Bits Allocated / Stored, Pixel Representation and Rescale Slope /
    Intercept (values are rounded and clipped to the stored range; a MONOCHROME1 template gets its stored values
    inverted back, ``low + high - s``, as GDCM inverts them on reading), and new Series Instance UID, SOP Instance
    UIDs and Series Number are set. Without templates a CT Image Storage series is created from the geometry (integer
    arrays of at most 16 bits are stored as they are; other arrays are stored as int16 with a rescale slope /
    intercept).

    Args:
        array: ``(z, y, x)`` values in output units (e.g. HU); a 2D array is written as one slice.
        path: output folder (created; must not exist unless ``overwrite``).
        spacing: ``(z, y, x)`` spacing in mm.
        origin: position of voxel (0, 0, 0), LPS mm.
        direction: flattened 3x3 direction matrix (ITK convention: columns are the x, y, z axes).
        template_files: DICOM files of the series the output derives from, ``len(template_files) == array.shape[0]``.
        overwrite: replace an existing output folder.
        series_description: Series Description of the new series.
        modality: Modality of a series created without templates.

    Returns:
        ``path``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ImageIOError: the templates do not match the array or cannot be read.
    """
    import pydicom
    from pydicom.uid import generate_uid

    path = Path(path)
    volume = array[None] if array.ndim == 2 else array
    if template_files and len(template_files) != volume.shape[0]:
        raise ImageIOError(f"{path}: {len(template_files)} template DICOM files for {volume.shape[0]} slices")
    series_uid = generate_uid()
    with _atomic_folder(path, overwrite) as tmp:
        if template_files:
            datasets = []
            for file in template_files:
                try:
                    datasets.append(pydicom.dcmread(str(file)))
                except Exception as e:  # noqa: BLE001 - pydicom raises many types for damaged files
                    raise ImageIOError(f"{file}: template DICOM file cannot be read ({e})") from e
            description = series_description or (str(datasets[0].get("SeriesDescription", "")) + " inpainted").strip()
        else:
            datasets = _new_datasets(volume, spacing, origin, direction, modality)
            description = series_description or "inpainted"
        series_number = int(datasets[0].get("SeriesNumber", 0) or 0) + 1000
        for k, ds in enumerate(datasets):
            _save_derived(
                ds, volume[k], tmp / f"IM{k + 1:05d}.dcm", path, series_uid, description, series_number, k + 1
            )
    return path


def _save_derived(
    ds, values: np.ndarray, out: Path, path: Path, series_uid: str, description: str, series_number: int, instance: int
) -> None:
    """Store ``values`` in the dataset ``ds`` (:func:`_set_pixels`), mark it as a derived instance of a new series and
    save it to ``out`` (``path`` names the output in errors)."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    _set_pixels(ds, values, path)
    ds.SeriesInstanceUID = series_uid
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SeriesDescription = description[:64]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DerivationDescription = "inpainted with rfr-inpaint"
    if int(pydicom.__version__.split(".")[0]) >= 3:
        ds.save_as(out, implicit_vr=False, little_endian=True, enforce_file_format=True)
    else:  # pragma: no cover - pydicom 2.x
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(out, write_like_original=False)


def _write_dicom_file_from_template(
    template: Path, values: np.ndarray, path: Path, overwrite: bool, series_description: str | None
) -> Path:
    """Write a 2D image as one DICOM file keeping every tag of the single-file DICOM ``template`` it derives from
    (photometric interpretation included: a MONOCHROME1 input gives a MONOCHROME1 output), atomically."""
    import pydicom
    from pydicom.uid import generate_uid

    try:
        ds = pydicom.dcmread(str(template))
    except Exception as e:  # noqa: BLE001 - pydicom raises many types for damaged files
        raise ImageIOError(f"{template}: template DICOM file cannot be read ({e})") from e
    description = series_description or (str(ds.get("SeriesDescription", "")) + " inpainted").strip()
    series_number = int(ds.get("SeriesNumber", 0) or 0) + 1000
    if path.exists() and path.is_dir():
        raise ImageIOError(f"{path}: output is an existing folder; give a file name")
    with atomic_path(path, overwrite=overwrite) as tmp:
        _save_derived(ds, values, Path(tmp), path, generate_uid(), description, series_number, 1)
    return path


def _set_pixels(ds, values: np.ndarray, path: Path) -> None:
    """Encode ``values`` (output units) into ``ds``'s Pixel Data with its stored representation."""
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    bits_allocated = int(ds.get("BitsAllocated", 16))
    bits_stored = int(ds.get("BitsStored", bits_allocated))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    if bits_allocated not in (8, 16, 32):
        raise ImageIOError(f"{path}: cannot encode {bits_allocated}-bit DICOM pixels")
    dtype = np.dtype(f"{'int' if signed else 'uint'}{bits_allocated}")
    low, high = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed else (0, 2**bits_stored - 1)
    stored = np.rint((np.asarray(values, dtype=np.float64) - intercept) / slope)
    stored = np.clip(stored, low, high)
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip() == "MONOCHROME1":
        # values are in the MONOCHROME2 convention (GDCM inverts MONOCHROME1 stored values on reading: low + high - s);
        # store them back in the file's own convention
        stored = (low + high) - stored
    stored = stored.astype(dtype)
    if values.shape != (int(ds.get("Rows", values.shape[0])), int(ds.get("Columns", values.shape[1]))):
        raise ImageIOError(f"{path}: slice of shape {values.shape} does not match template Rows x Columns")
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = ds.get("PhotometricInterpretation", "MONOCHROME2")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits_allocated, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(signed)
    for keyword in ("NumberOfFrames", "LossyImageCompression", "LossyImageCompressionRatio"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.PixelData = stored.tobytes()
    ds["PixelData"].VR = "OB" if bits_allocated == 8 else "OW"
    ds["PixelData"].is_undefined_length = False


def _new_datasets(
    volume: np.ndarray, spacing: Sequence[float], origin: Sequence[float], direction: Sequence[float], modality: str
) -> list:
    """Minimal CT Image Storage datasets (one per slice) for ``volume`` on the given grid."""
    import datetime

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, PYDICOM_IMPLEMENTATION_UID, generate_uid

    if np.issubdtype(volume.dtype, np.integer) and volume.dtype.itemsize <= 2:
        slope, intercept = 1.0, 0.0
        bits, signed = volume.dtype.itemsize * 8, np.issubdtype(volume.dtype, np.signedinteger)
    else:  # floats / wide integers: int16 with a linear rescale covering the value range
        low, high = float(np.min(volume)), float(np.max(volume))
        slope = max((high - low) / 65000.0, 1e-6) if high > low else 1.0
        intercept = low + 32768 * slope
        bits, signed = 16, True
    axes = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    if np.linalg.det(axes) < 0:
        raise ImageIOError(
            "a left-handed direction matrix cannot be stored in DICOM (the slice normal is the cross "
            "product of the row and column directions); reorient the image first"
        )
    now = datetime.datetime.now()
    study_uid, frame_uid = generate_uid(), generate_uid()
    datasets = []
    for k in range(volume.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.Modality = modality
        ds.PatientName, ds.PatientID = "Anonymous", "rfr-inpaint"
        ds.StudyInstanceUID, ds.FrameOfReferenceUID = study_uid, frame_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
        ds.StudyID, ds.SeriesNumber = "1", 1
        position = np.asarray(origin, dtype=np.float64) + k * spacing[0] * axes[:, 2]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*axes[:, 0], *axes[:, 1])]
        ds.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[2]:.6f}"]
        ds.SliceThickness = f"{spacing[0]:.6f}"
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = f"{slope:.10g}", f"{intercept:.10g}", "HU"
        ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation = bits, bits, int(signed)
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = volume.shape[1:]
        datasets.append(ds)
    return datasets

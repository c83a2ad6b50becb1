"""Folders and datalists of 2D images or 3D volumes turned into ``(image, hole)`` training pairs.

Sources (:func:`list_items`): a folder (searched recursively) or a MONAI datalist JSON of 2D images (PNG, JPEG, BMP,
TIFF, single DICOM files) or 3D volumes (NIfTI, NRRD, MetaImage, DICOM series folders). An item is a dict
``{"image": path}``, optionally with ``"mask": path`` (a hole mask for that image, 1 / nonzero = hole).

Chain (:func:`build_transforms`), every step a MONAI dictionary transform:

1. :class:`LoadImageSliced`: read the file (SimpleITK through :mod:`rfr_inpaint.image_io`), take a random 2D slice of a
   volume along ``axis`` among the slices that are not almost all air, check it (NaN, tiny, mask shape), record the
   source file, slice index and DICOM PhotometricInterpretation;
2. intensity to [0, 1], invertible and recorded under ``"image_intensity_mapping"``
   (:class:`~rfr_inpaint.transforms.dictionary.IntensityMapd`: CT window, percentiles, pixel-type range or ``auto``,
   the modes every entry point shares); MONOCHROME1 radiographs shown with bone
   bright (SimpleITK inverts their pixel data on reading; raw MONOCHROME1 arrays are inverted here);
3. resize (longest side to ``size``, aspect kept) and zero-pad to ``size x size`` (default 256);
4. random flips (left-right by default);
5. hole mask: from the item's mask file if it has one, else from a generator chosen by ``mask`` options
   (see :class:`~rfr_inpaint.transforms.masks.HoleMaskGenerator`);
6. plain float32 tensors: ``image`` ``(1, H, W)`` in [0, 1] and ``hole`` ``(1, H, W)`` (1 = hole).

:func:`build_dataset` wraps all of it (or the embedded synthetic CT generator, ``source="synthetic"``) in a MONAI
``Dataset``. Bad inputs raise an error naming the file; ``skip_corrupt=True`` drops / skips unreadable files with a
warning that lists them, never silently.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from monai.data import Dataset, load_decathlon_datalist
from monai.transforms import (
    Compose,
    EnsureTyped,
    MapTransform,
    RandFlipd,
    Randomizable,
    ResizeWithPadOrCropd,
    Resized,
    apply_transform,
)

from rfr_inpaint.image_io import FORMATS_2D, FORMATS_3D, ImageIOError, MedicalImage, read_image
from rfr_inpaint.transforms.dictionary import RandHoleMaskd
from rfr_inpaint.transforms.dictionary import IntensityMapd, InvertMonochrome1d
from rfr_inpaint.transforms.intensity import DEFAULT_CT_WINDOW, DEFAULT_PERCENTILES

from .synthetic import SyntheticCTDataset

__all__ = [
    "IMAGE_SUFFIXES",
    "DataError",
    "list_items",
    "load_datalist",
    "check_items",
    "LoadImageSliced",
    "LoadImageSliceD",
    "LoadImageSliceDict",
    "build_transforms",
    "InpaintingDataset",
    "build_dataset",
]

IMAGE_SUFFIXES = tuple(sorted({*FORMATS_2D, *FORMATS_3D}, key=len, reverse=True))
_MIN_SIDE = 8


class DataError(ValueError):
    """A data source or file is unusable; the message names it and the problem."""


def _is_image_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(IMAGE_SUFFIXES)


def _dicom_series_folders(folder: Path) -> tuple[list[Path], list[Path]]:
    """Split the DICOM files of one folder into (series folders, single files)."""
    try:
        ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    except RuntimeError:
        ids = ()
    if len(ids) == 1 and len(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), ids[0])) > 1:
        return [folder], []
    return [], sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() == ".dcm")


def list_items(source: str | os.PathLike, recursive: bool = True) -> list[dict[str, str]]:
    """List the images of a folder as datalist items ``{"image": path}``.

    A folder holding one DICOM series of several files is one (3D) item; other DICOM files are 2D items.

    Args:
        source: a folder.
        recursive: search sub-folders.

    Returns:
        items sorted by path.

    Raises:
        FileNotFoundError: the folder does not exist.
        DataError: it holds no image.
    """
    root = Path(source)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data folder not found")
    folders = [root] + (sorted(p for p in root.rglob("*") if p.is_dir()) if recursive else [])
    items: list[dict[str, str]] = []
    for folder in folders:
        files = sorted(f for f in folder.iterdir() if _is_image_file(f))
        dicoms = [f for f in files if f.suffix.lower() == ".dcm"]
        if dicoms:
            series, singles = _dicom_series_folders(folder)
            items += [{"image": str(s)} for s in series] + [{"image": str(f)} for f in singles]
        items += [{"image": str(f)} for f in files if f.suffix.lower() != ".dcm"]
    if not items:
        raise DataError(f"{root}: no image files found (looked for {', '.join(IMAGE_SUFFIXES)} and DICOM series)")
    return sorted(items, key=lambda d: d["image"])


def load_datalist(
    path: str | os.PathLike, key: str = "training", base_dir: str | os.PathLike | None = None
) -> list[dict[str, Any]]:
    """Read a MONAI (Decathlon) datalist JSON with MONAI's ``load_decathlon_datalist``.

    The format of the Medical Segmentation Decathlon: ``{"training": [{"image": ..., "mask": ...}, ...],
    "test": ["image path", ...]}``: items are objects with an ``image`` path and optionally a ``mask`` (a hole mask
    for that image); only the ``test`` list may give bare image paths. ``image`` paths are resolved against
    ``base_dir`` (default: the JSON file's folder); other entries by MONAI's rule (resolved when the resolved path
    exists), except ``mask``, which is always resolved so that a missing mask is reported with its full path.

    Args:
        path: the JSON file.
        key: the list to read.
        base_dir: folder for relative paths.

    Returns:
        items with absolute ``image`` (and ``mask``) paths.

    Raises:
        FileNotFoundError: the JSON file does not exist.
        DataError: invalid JSON, a missing key, an empty list, an item that is not an object (outside ``test``) or has
            no ``image`` (each naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: datalist not found")
    base = Path(base_dir) if base_dir is not None else path.parent
    try:
        items = load_decathlon_datalist(path, is_segmentation=False, data_list_key=key, base_dir=base)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a valid JSON datalist ({err})") from err
    except ValueError as err:  # MONAI: the key is not in the file
        raise DataError(f"{path}: datalist has no {key!r} list") from err
    except IndexError as err:  # MONAI looks at the first item of a "test" list
        raise DataError(f"{path}: datalist {key!r} is empty") from err
    except TypeError as err:
        raise DataError(
            f"{path}: datalist {key!r} must be a list of objects with an 'image' path (bare paths only in 'test')"
        ) from err
    if not isinstance(items, list) or not items:
        raise DataError(f"{path}: datalist {key!r} is empty")
    for i, item in enumerate(items):
        if "image" not in item:
            raise DataError(f"{path}: item {i} of {key!r} has no 'image'")
        mask = item.get("mask")
        if isinstance(mask, str) and not Path(mask).is_absolute():
            item["mask"] = os.path.normpath(base / mask)
    return items


def _check_readable(path: Path) -> str | None:
    """Return why ``path`` is not a readable image (header check only), or None."""
    if not path.exists():
        return "file not found"
    if path.is_dir():
        try:
            ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
        except RuntimeError as err:
            return f"cannot scan the folder for DICOM ({err})"
        return None if ids else "folder holds no DICOM series"
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        detail = [line for line in str(err).strip().splitlines() if line.strip()]
        return f"not a readable image ({detail[-1].strip() if detail else 'unknown error'})"
    size = reader.GetSize()
    spatial = [s for s in size if s > 1]
    if len(spatial) < 2 or min(size[:2]) < _MIN_SIDE:
        return f"image of size {size} is too small (at least {_MIN_SIDE} x {_MIN_SIDE} pixels)"
    return None


def check_items(items: Sequence[Mapping[str, Any]], skip_corrupt: bool = False) -> list[dict[str, Any]]:
    """Check that every item's image (and mask) can be opened (header only).

    Args:
        items: datalist items.
        skip_corrupt: drop bad items with a warning listing them; otherwise raise at the first bad one.

    Returns:
        the usable items.

    Raises:
        DataError: an item is unusable and ``skip_corrupt`` is False, or no item is usable.
    """
    if not items:
        raise DataError("the dataset has no items")
    good, bad = [], []
    for item in items:
        problems = []
        for key in ("image", "mask"):
            if key in item and item[key] is not None:
                why = _check_readable(Path(item[key]))
                if why:
                    problems.append(f"{item[key]}: {why}")
        if problems:
            if not skip_corrupt:
                raise DataError("; ".join(problems))
            bad.extend(problems)
        else:
            good.append(dict(item))
    if bad:
        warnings.warn(f"skipping {len(bad)} unusable file(s): " + "; ".join(bad), stacklevel=2)
    if not good:
        raise DataError("no usable item in the dataset: " + "; ".join(bad))
    return good


def _photometric(image: MedicalImage) -> str | None:
    """DICOM PhotometricInterpretation of a DICOM file / series (None for other formats or when absent)."""
    if image.format == "dicom-file":
        source = image.path
    elif image.format == "dicom" and image.dicom_files:
        source = image.dicom_files[0]
    else:
        return None
    import pydicom

    try:
        ds = pydicom.dcmread(str(source), stop_before_pixels=True, specific_tags=["PhotometricInterpretation"])
    except Exception:  # noqa: BLE001 - SimpleITK read it; a header pydicom cannot parse just has no interpretation
        return None
    value = getattr(ds, "PhotometricInterpretation", None)
    return None if value is None else str(value)


class LoadImageSliced(Randomizable, MapTransform):
    """Read ``data[key]`` (a path) as a channel-first 2D float32 image ``(1, H, W)``, slicing volumes at random.

    For a 3D volume a slice is drawn among those along ``axis`` (NumPy order: 0 = the slowest axis, axial for CT
    volumes in ``(z, y, x)``) whose body fraction (pixels above ``air_threshold``) is at least
    ``min_body_fraction``. A ``mask_key`` entry, if present, is read the same way (same slice) into ``hole_key``;
    it must have the image's shape. Also writes ``"<key>_path"``, ``"<key>_slice"`` (-1 for 2D), ``"<key>_dtype"``,
    ``"<key>_photometric_file"`` (the file's DICOM PhotometricInterpretation or ``""``) and ``"<key>_photometric"``
    (the array's: SimpleITK's GDCM reader already inverts MONOCHROME1 pixel data, so such files read as
    MONOCHROME2 and :class:`~rfr_inpaint.transforms.dictionary.InvertMonochrome1d` leaves them alone; arrays from
    readers that keep raw MONOCHROME1 values are inverted by it).

    Args:
        keys: image key (one).
        mask_key: key of an optional mask path.
        hole_key: key of the mask read from ``mask_key``.
        axis: slicing axis of volumes.
        air_threshold: value below which a pixel counts as air. None: ``-500`` when the volume holds values below
            -500 (HU), else 10 % of the way from its minimum to its maximum.
        min_body_fraction: slices with a smaller fraction of non-air pixels are skipped.
        slice_index: fixed slice (instead of a random one).
        cache_size: volumes kept in memory (reading a volume for every slice is slow).
        allow_missing_keys: do not raise if a key is missing.

    Raises:
        DataError: unreadable file, NaN / infinite values, an image under 8 pixels wide, a volume without any
            non-air slice, a mask whose shape differs from its image (all naming the file).
    """

    def __init__(
        self,
        keys: str = "image",
        mask_key: str | None = "mask",
        hole_key: str = "hole",
        axis: int = 0,
        air_threshold: float | None = None,
        min_body_fraction: float = 0.05,
        slice_index: int | None = None,
        cache_size: int = 2,
        allow_missing_keys: bool = False,
    ):
        MapTransform.__init__(self, keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError("LoadImageSliced reads one image key")
        self.mask_key = mask_key
        self.hole_key = hole_key
        self.axis = int(axis)
        self.air_threshold = air_threshold
        self.min_body_fraction = float(min_body_fraction)
        self.slice_index = slice_index
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, tuple[np.ndarray, str | None]] = OrderedDict()

    def randomize(self, data: Any = None) -> None:
        """Nothing to pre-draw: the slice is drawn when the volume is known."""

    def _read(self, path: str) -> tuple[np.ndarray, str | None]:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        try:
            image = read_image(path)
        except FileNotFoundError as err:
            raise DataError(str(err)) from err
        except (ImageIOError, RuntimeError, OSError) as err:
            msg = str(err)
            raise DataError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from err
        array = image.array
        if array.ndim == 3 and array.shape[0] == 1:  # a single-slice volume (one DICOM file): a 2D image
            array = array[0]
        if array.dtype == np.bool_:
            array = array.astype(np.uint8)
        if not np.issubdtype(array.dtype, np.number):
            raise DataError(f"{path}: unsupported pixel type {array.dtype}")
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise DataError(f"{path}: image holds NaN or infinite values")
        result = (array, _photometric(image))
        self._cache[path] = result
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result

    def body_slices(self, volume: np.ndarray) -> np.ndarray:
        """Indices of the slices along ``axis`` that are not almost all air."""
        thr = self.air_threshold
        if thr is None:
            lo, hi = float(volume.min()), float(volume.max())
            thr = -500.0 if lo < -500.0 else lo + 0.1 * (hi - lo)
        other = tuple(a for a in range(volume.ndim) if a != self.axis)
        fraction = (volume > thr).mean(axis=other)
        return np.nonzero(fraction >= self.min_body_fraction)[0]

    def _slice(self, array: np.ndarray, path: str, index: int | None) -> tuple[np.ndarray, int]:
        if array.ndim == 2:
            return array, -1
        if array.ndim != 3:
            raise DataError(f"{path}: expected a 2D image or 3D volume, got array shape {array.shape}")
        if not -3 <= self.axis < 3:
            raise DataError(f"{path}: axis {self.axis} out of range for a 3D volume")
        if array.shape[self.axis] == 1:
            return np.take(array, 0, axis=self.axis), 0
        if index is None:
            if self.slice_index is not None:
                index = int(self.slice_index)
            else:
                candidates = self.body_slices(array)
                if candidates.size == 0:
                    raise DataError(
                        f"{path}: every slice along axis {self.axis} is almost all air "
                        f"(body fraction < {self.min_body_fraction})"
                    )
                index = int(candidates[self.R.randint(len(candidates))])
        if not 0 <= index < array.shape[self.axis]:
            raise DataError(f"{path}: slice {index} out of range (0 .. {array.shape[self.axis] - 1})")
        return np.take(array, index, axis=self.axis), index

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            path = str(d[key])
            array, photometric = self._read(path)
            img2d, index = self._slice(array, path, None)
            if min(img2d.shape) < _MIN_SIDE:
                raise DataError(f"{path}: image of shape {img2d.shape} is too small (at least {_MIN_SIDE} pixels/side)")
            d[key] = np.ascontiguousarray(img2d[None])  # original dtype: the intensity mapping records it
            d[f"{key}_path"] = path
            d[f"{key}_slice"] = index
            # SimpleITK's GDCM reader already converts MONOCHROME1 pixel data to MONOCHROME2 (inverted values), so the
            # array's own interpretation is MONOCHROME2; the file's is kept for writing results back.
            d[f"{key}_photometric_file"] = photometric or ""
            d[f"{key}_photometric"] = "MONOCHROME2" if photometric == "MONOCHROME1" else (photometric or "")
            d[f"{key}_dtype"] = str(array.dtype)
            if self.mask_key is not None and d.get(self.mask_key):
                mpath = str(d[self.mask_key])
                marray, _ = self._read(mpath)
                if marray.shape != array.shape:
                    raise DataError(f"{mpath}: mask shape {marray.shape} differs from image {path} shape {array.shape}")
                mask2d, _ = self._slice(marray, mpath, index if index >= 0 else None)
                d[self.hole_key] = (mask2d[None] != 0).astype(np.float32)
        return d


def build_transforms(
    intensity: str = "ct",
    window: Sequence[float] = DEFAULT_CT_WINDOW,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    size: int | None = 256,
    flip_prob: float = 0.5,
    vertical_flip_prob: float = 0.0,
    mask: Mapping[str, Any] | None = None,
    load: bool = True,
    axis: int = 0,
    air_threshold: float | None = None,
    min_body_fraction: float = 0.05,
    image_key: str = "image",
    hole_key: str = "hole",
    mask_key: str = "mask",
) -> Compose:
    """Build the MONAI transform chain from a few options (what the bundle configs reference).

    Args:
        intensity: a mode of :data:`rfr_inpaint.defaults.INTENSITY_MODES` (``ct``, ``percentile``, ``range``,
            ``auto``; see :func:`rfr_inpaint.transforms.intensity.get_intensity_transform`), fitted on the slice's
            known pixels when the item brings its own mask.
        window: CT window ``(a_min, a_max)`` in HU.
        percentiles: ``(lower, upper)`` percentiles.
        size: output side in pixels (longest side resized to it, then zero-padded to square); None keeps the size.
        flip_prob: probability of a left-right flip.
        vertical_flip_prob: probability of an up-down flip.
        mask: options of the hole-mask generator (``{"kind": "square", "hole_ratio": 8, ...}``, see
            ``HoleMaskGenerator``); default square holes of ratio 8. Items with a mask file use it instead.
        load: start with :class:`LoadImageSliced` (False when items already hold ``(1, H, W)`` arrays, e.g. the
            synthetic dataset).
        axis: slicing axis of volumes.
        air_threshold: air threshold for slice selection (see :class:`LoadImageSliced`).
        min_body_fraction: minimum non-air fraction of a sampled slice.
        image_key: image key.
        hole_key: hole-mask key.
        mask_key: key of per-item mask files.

    Returns:
        a ``Compose`` producing ``{image_key: (1, H, W) float32 tensor in [0, 1], hole_key: (1, H, W), ...}``.

    Raises:
        ValueError: unknown intensity mode or bad options.
    """
    transforms: list[Callable] = []
    if load:
        transforms.append(
            LoadImageSliced(image_key, mask_key, hole_key, axis, air_threshold, min_body_fraction)
        )
    transforms.append(IntensityMapd(image_key, intensity, window, percentiles, hole_key=hole_key))
    transforms.append(InvertMonochrome1d(image_key, photometric_key=f"{image_key}_photometric"))
    keys = [image_key, hole_key]
    if size is not None:
        if int(size) < _MIN_SIDE:
            raise ValueError(f"size must be at least {_MIN_SIDE}, got {size}")
        transforms += [
            Resized(keys, spatial_size=int(size), size_mode="longest", mode=("area", "nearest-exact"),
                    allow_missing_keys=True),
            ResizeWithPadOrCropd(keys, spatial_size=(int(size), int(size)), mode="constant", allow_missing_keys=True),
        ]
    if flip_prob > 0:
        transforms.append(RandFlipd(keys, prob=flip_prob, spatial_axis=1, allow_missing_keys=True))
    if vertical_flip_prob > 0:
        transforms.append(RandFlipd(keys, prob=vertical_flip_prob, spatial_axis=0, allow_missing_keys=True))
    mask_opts = dict(mask) if mask is not None else {"kind": "square", "hole_ratio": 8}
    transforms.append(RandHoleMaskd(image_key, hole_key=hole_key, skip_existing=True, **mask_opts))
    transforms.append(EnsureTyped(keys, dtype=np.float32, track_meta=False))
    return Compose(transforms)


class InpaintingDataset(Dataset):
    """A MONAI ``Dataset`` of ``(image, hole)`` pairs from file items, with optional skipping of corrupt files.

    Args:
        items: datalist items (``{"image": path[, "mask": path]}``).
        transform: the chain (default :func:`build_transforms` with its defaults).
        skip_corrupt: when an item fails to load, warn (naming the file) and use the next item instead of
            raising; the failed paths are listed in ``self.skipped``.
        samples_per_volume: repeat each item this many times (useful for volumes, where each read gives a
            different random slice).
    """

    def __init__(
        self,
        items: Sequence[Mapping[str, Any]],
        transform: Callable | None = None,
        skip_corrupt: bool = False,
        samples_per_volume: int = 1,
    ):
        if not items:
            raise DataError("the dataset has no items")
        if samples_per_volume < 1:
            raise ValueError(f"samples_per_volume must be >= 1, got {samples_per_volume}")
        data = [dict(item) for item in items for _ in range(int(samples_per_volume))]
        super().__init__(data=data, transform=transform if transform is not None else build_transforms())
        self.skip_corrupt = skip_corrupt
        self.skipped: list[str] = []

    def _transform(self, index: int) -> Any:
        if not self.skip_corrupt:
            return apply_transform(self.transform, self.data[index])
        for step in range(len(self.data)):
            item = self.data[(index + step) % len(self.data)]
            try:
                return apply_transform(self.transform, item)
            except Exception as err:  # noqa: BLE001 - MONAI wraps the cause in a RuntimeError; report and go on
                cause = err
                while cause.__cause__ is not None:
                    cause = cause.__cause__
                if not isinstance(cause, (DataError, ImageIOError, OSError, ValueError)):
                    raise
                self.skipped.append(str(item.get("image")))
                warnings.warn(f"skipping {item.get('image')}: {cause}", stacklevel=2)
        raise DataError(f"no item of the dataset could be loaded; skipped: {self.skipped}")


def build_dataset(
    source: str | os.PathLike | Sequence[Mapping[str, Any]] = "synthetic",
    datalist_key: str = "training",
    num_samples: int = 1000,
    seed: int = 0,
    skip_corrupt: bool = False,
    samples_per_volume: int = 1,
    recursive: bool = True,
    **transform_options: Any,
) -> Dataset:
    """One call from options to a dataset of ``{"image", "hole"}`` pairs (what bundle configs reference).

    Args:
        source: ``"synthetic"`` (the embedded CT generator), a folder, a datalist JSON file, or a list of items.
        datalist_key: list read from a datalist JSON.
        num_samples: synthetic only: number of slices.
        seed: synthetic only: base seed.
        skip_corrupt: drop unreadable files (with a warning listing them) instead of raising.
        samples_per_volume: file sources: repeat each item (volumes give a new random slice each time).
        recursive: folder sources: search sub-folders.
        transform_options: options of :func:`build_transforms` (``intensity``, ``size``, ``mask``, ...).

    Returns:
        a MONAI ``Dataset``.

    Raises:
        FileNotFoundError / DataError: missing or empty sources, corrupt files (without ``skip_corrupt``).
    """
    if isinstance(source, str) and source == "synthetic":
        size = transform_options.get("size", 256) or 256
        opts = dict(transform_options, load=False, intensity="ct")
        return SyntheticCTDataset(num_samples, size=size, seed=seed, transform=build_transforms(**opts))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            items: list[dict[str, Any]] = list_items(path, recursive=recursive)
        elif path.suffix.lower() == ".json":
            items = load_datalist(path, key=datalist_key)
        elif path.exists():
            items = [{"image": str(path)}]
        else:
            raise FileNotFoundError(f"{path}: data source not found")
    else:
        items = [dict(item) for item in source]
    items = check_items(items, skip_corrupt=skip_corrupt)
    transform = build_transforms(**transform_options)
    return InpaintingDataset(items, transform, skip_corrupt=skip_corrupt, samples_per_volume=samples_per_volume)


LoadImageSliceD = LoadImageSliceDict = LoadImageSliced

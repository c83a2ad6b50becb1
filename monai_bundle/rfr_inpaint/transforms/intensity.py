"""Invertible intensity mappings between original units (Hounsfield units, raw detector values) and [0, 1].

Every mapping used by this package is an affine window ``y = (x - a_min) / (a_max - a_min)``, optionally clipped
to [0, 1] and optionally followed by an inversion ``y -> 1 - y`` (MONOCHROME1 radiographs, where high raw values are
dark). Its parameters are recorded as a plain, JSON-serialisable dict (a *mapping record*)::

    {"method": "ct_window", "a_min": -1024.0, "a_max": 3071.0, "clip": True, "invert": False, "dtype": "int16"}

so that inference can write its results back in the original units and dtype with :func:`intensity_inverse`.
``dtype`` is the dtype of the image the forward mapping saw (``None`` when unknown); it is the default target dtype
of the inverse. Integer targets are rounded and clipped to the dtype's range, so an ``int16`` CT volume whose values
lie inside the window survives the round trip bit-exactly.

One resolver serves every entry point (the ``rfr-inpaint`` command, the Slicer module, the bundle's training and
inference pipelines, :func:`rfr_inpaint.volume.inpaint_volume`):

* :func:`get_intensity_transform` turns a mode name of :data:`rfr_inpaint.defaults.INTENSITY_MODES` into a
  transform; :func:`resolve_intensity` does the same but lets ``auto`` take the mapping a model's bundle records
  (:func:`intensity_for_model`);
* :func:`fit_intensity` fits a transform on the *known* voxels only (outside the hole, in the slices that hold it),
  so a percentile window is never stretched by the metal it is meant to replace.

Array transforms: :class:`CTWindow`, :class:`PercentileScale`, :class:`DtypeRange`, :class:`AutoIntensity`,
:class:`InvertMonochrome1`. Every record has the same fields, so records of a batch collate (``DataLoader``)
whatever transform made them.

Their dictionary versions live in :mod:`rfr_inpaint.transforms.dictionary`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import ScaleIntensityRange, Transform
from monai.transforms.utils_pytorch_numpy_unification import percentile

from rfr_inpaint.defaults import DEFAULT_CT_WINDOW, DEFAULT_PERCENTILES, HU_AIR_THRESHOLD, INTENSITY_MODES

__all__ = [
    "DEFAULT_CT_WINDOW",
    "DEFAULT_PERCENTILES",
    "INTENSITY_MODES",
    "BUNDLE_CONFIGS",
    "MAPPING_KEY_POSTFIX",
    "IntensityMapping",
    "CTWindow",
    "PercentileScale",
    "DtypeRange",
    "AutoIntensity",
    "InvertMonochrome1",
    "intensity_forward",
    "intensity_inverse",
    "mapping_from_window",
    "mapping_key",
    "fit_intensity",
    "get_intensity_transform",
    "intensity_for_model",
    "resolve_intensity",
    "is_monochrome1",
]

#: Postfix of the data-dict key under which dictionary transforms store the mapping record.
MAPPING_KEY_POSTFIX = "intensity_mapping"
#: bundle config files searched, in order, for the intensity mapping a model was trained with
BUNDLE_CONFIGS: tuple[str, ...] = ("inference.json", "train.json")



def mapping_key(key: Hashable, postfix: str = MAPPING_KEY_POSTFIX) -> str:
    """Return the data-dict key that holds the mapping record of image ``key`` (``"<key>_intensity_mapping"``)."""
    return f"{key}_{postfix}"


def _dtype_name(img: Any) -> str | None:
    """Name of an array's / tensor's dtype as a NumPy dtype string (``"int16"``, ``"float32"``), or None."""
    dtype = getattr(img, "dtype", None)
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    return np.dtype(dtype).name


def _as_float(value: Any, name: str) -> float:
    """Convert a scalar (Python, NumPy or 0-d / 1-element tensor) to float with a clear error."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"intensity mapping field {name!r} must be a scalar, got a tensor of shape {value.shape}")
        return float(value.item())
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"intensity mapping field {name!r} must be a scalar, got shape {arr.shape}")
    return float(arr.reshape(-1)[0])


def _field(mapping: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """Read one field of a record; unwrap one-element lists / tensors produced by collation."""
    value = mapping.get(name, default)
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return value


def _check_record(mapping: Mapping[str, Any]) -> tuple[float, float, bool, bool]:
    """Validate a mapping record and return ``(a_min, a_max, clip, invert)``."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"an intensity mapping record must be a dict, got {type(mapping).__name__}")
    missing = [k for k in ("a_min", "a_max") if k not in mapping]
    if missing:
        raise KeyError(f"intensity mapping record lacks {missing}: {dict(mapping)}")
    a_min = _as_float(_field(mapping, "a_min"), "a_min")
    a_max = _as_float(_field(mapping, "a_max"), "a_max")
    if not (math.isfinite(a_min) and math.isfinite(a_max)) or a_max <= a_min:
        raise ValueError(f"intensity mapping needs finite a_min < a_max, got a_min={a_min}, a_max={a_max}")
    return a_min, a_max, bool(_field(mapping, "clip", True)), bool(_field(mapping, "invert", False))


def mapping_from_window(
    a_min: float,
    a_max: float,
    clip: bool = True,
    invert: bool = False,
    dtype: str | np.dtype | torch.dtype | None = None,
    method: str = "window",
    **extra: Any,
) -> dict[str, Any]:
    """Build a mapping record (a plain dict) for the window ``[a_min, a_max] -> [0, 1]``.

    Args:
        a_min: original value mapped to 0.
        a_max: original value mapped to 1 (must exceed ``a_min``).
        clip: whether values outside the window are clipped to [0, 1].
        invert: whether the [0, 1] result is inverted (``1 - y``), as for MONOCHROME1 radiographs.
        dtype: dtype of the original image (default target of the inverse), or None.
        method: name of the transform that produced the record (informative).
        extra: further JSON-serialisable fields to record (e.g. the percentiles used).

    Returns:
        the record.

    Raises:
        ValueError: the window is empty or not finite.
    """
    if isinstance(dtype, torch.dtype):
        dtype_name: str | None = str(dtype).replace("torch.", "")
    elif dtype is not None:
        dtype_name = np.dtype(dtype).name
    else:
        dtype_name = None
    record = {
        "method": str(method),
        "a_min": float(a_min),
        "a_max": float(a_max),
        "clip": bool(clip),
        "invert": bool(invert),
        "dtype": dtype_name,
    }
    record.update(extra)
    _check_record(record)
    return record


def intensity_forward(img: NdarrayOrTensor, mapping: Mapping[str, Any]) -> NdarrayOrTensor:
    """Apply a recorded mapping to an image in original units, giving float32 values in [0, 1].

    Args:
        img: image in original units (NumPy array or tensor, any shape).
        mapping: a record from :func:`mapping_from_window` or a transform's ``get_mapping()``.

    Returns:
        the mapped float32 image, same container type as ``img``.
    """
    a_min, a_max, clip, invert = _check_record(mapping)
    if isinstance(img, torch.Tensor):
        out = ScaleIntensityRange(a_min=a_min, a_max=a_max, b_min=0.0, b_max=1.0, clip=clip, dtype=np.float32)(img)
        return 1.0 - out if invert else out
    # NumPy stays NumPy (ScaleIntensityRange would return a MetaTensor, and small torch ops are slow on busy CPUs)
    out = (np.asarray(img, dtype=np.float64) - a_min) * (1.0 / (a_max - a_min))
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    if invert:
        out = 1.0 - out
    return out.astype(np.float32)


def _restore_dtype(values: NdarrayOrTensor, dtype: Any) -> NdarrayOrTensor:
    """Cast float values to ``dtype``; integers are rounded to nearest and clipped to the dtype's range."""
    if isinstance(values, torch.Tensor):
        if isinstance(dtype, torch.dtype):
            tdtype = dtype
        else:
            tdtype = getattr(torch, np.dtype(dtype).name)
        if tdtype == torch.bool:
            raise TypeError("cannot restore intensities to a boolean dtype")
        if tdtype.is_floating_point:
            return values.to(tdtype)
        info = torch.iinfo(tdtype)
        return torch.clamp(torch.round(values), info.min, info.max).to(tdtype)
    ndtype = np.dtype(str(dtype).replace("torch.", "")) if isinstance(dtype, torch.dtype) else np.dtype(dtype)
    if ndtype.kind == "b":
        raise TypeError("cannot restore intensities to a boolean dtype")
    if ndtype.kind in "iu":
        info = np.iinfo(ndtype)
        return np.clip(np.rint(values), info.min, info.max).astype(ndtype)
    return np.asarray(values).astype(ndtype)


def intensity_inverse(
    img01: NdarrayOrTensor,
    mapping: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    dtype: str | np.dtype | torch.dtype | type | None = None,
) -> NdarrayOrTensor:
    """Map a [0, 1] image back to original units and dtype.

    The computation is done in float64, so integer images whose values lie inside the window come back exactly.
    Inputs are clipped to [0, 1] first when the mapping clipped (a network may overshoot slightly).

    Args:
        img01: image in [0, 1] (NumPy array or tensor, any shape).
        mapping: a record (dict) or a sequence of records applied in that order on the way forward; the inverse
            undoes them in reverse order.
        dtype: target dtype. None: the dtype recorded in the (first) mapping, or float32 if none was recorded.
            Integer dtypes are rounded to nearest and clipped to their range.

    Returns:
        the image in original units, same container type as ``img01``.

    Raises:
        TypeError / KeyError / ValueError: the record is malformed, or ``dtype`` is boolean.
    """
    records = [mapping] if isinstance(mapping, Mapping) else list(mapping)
    if not records:
        raise ValueError("intensity_inverse needs at least one mapping record")
    is_tensor = isinstance(img01, torch.Tensor)
    values: NdarrayOrTensor
    if is_tensor:
        values = img01.as_tensor() if hasattr(img01, "as_tensor") else img01
        values = values.detach().to(torch.float64)
    else:
        values = np.asarray(img01, dtype=np.float64)
    for record in reversed(records):
        a_min, a_max, clip, invert = _check_record(record)
        if invert:
            values = 1.0 - values
        if clip:
            values = torch.clamp(values, 0.0, 1.0) if is_tensor else np.clip(values, 0.0, 1.0)
        values = values * (a_max - a_min) + a_min
    if dtype is None:
        dtype = _field(records[0], "dtype") or "float32"
    return _restore_dtype(values, dtype)


def _as_numpy(img: Any) -> np.ndarray:
    """A NumPy view / copy of an array, tensor or MetaTensor (on the CPU)."""
    if isinstance(img, torch.Tensor):
        return img.detach().cpu().numpy()
    return np.asarray(img)


class IntensityMapping(Transform):
    """Base class of the invertible window mappings: fits a record on an image, applies it, inverts with it.

    Subclasses define :meth:`fit`; calling the transform fits it on the image and maps that image. To fit on some
    voxels and map others (the known voxels of a volume with a hole), use :func:`fit_intensity` and
    :func:`intensity_forward`.
    """

    backend = ScaleIntensityRange.backend

    def __init__(self) -> None:
        self._mapping: dict[str, Any] | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The mapping record of the last call (see :meth:`get_mapping`)."""
        return self.get_mapping()

    def fit(self, img: NdarrayOrTensor) -> dict[str, Any]:
        """Record the mapping of ``img`` (any shape, e.g. its known voxels) and return a copy of the record.

        Raises:
            ValueError: the image is empty or holds NaN / infinite values (for mappings that look at the values).
        """
        raise NotImplementedError(f"{type(self).__name__} must define fit")

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """Fit the mapping on ``img`` and map it to float32 [0, 1] (same container type)."""
        return intensity_forward(img, self.fit(img))

    def get_mapping(self) -> dict[str, Any]:
        """Return a copy of the mapping record of the last call.

        Raises:
            RuntimeError: the transform has not been applied yet and its window depends on the image.
        """
        if self._mapping is None:
            raise RuntimeError(f"{type(self).__name__}: no mapping recorded yet; call the transform on an image first")
        return dict(self._mapping)

    def inverse(self, img01: NdarrayOrTensor, dtype: Any = None) -> NdarrayOrTensor:
        """Map a [0, 1] image back to the original units (and ``dtype``, default: the input's) of the last call."""
        return intensity_inverse(img01, self.get_mapping(), dtype=dtype)


def _finite_values(img: NdarrayOrTensor, name: str) -> np.ndarray:
    data = _as_numpy(img)
    if data.size == 0:
        raise ValueError(f"{name}: the image is empty")
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise ValueError(f"{name}: the image holds NaN or infinite values")
    return data


class CTWindow(IntensityMapping):
    """Map Hounsfield units to [0, 1] through a fixed window, clipped by default (MONAI ``ScaleIntensityRange``).

    Args:
        a_min: HU mapped to 0 (default ``DEFAULT_CT_WINDOW[0]``, -1024, air).
        a_max: HU mapped to 1 (default ``DEFAULT_CT_WINDOW[1]``, 3071, the top of the 12-bit range).
        clip: clip values outside the window.

    Raises:
        ValueError: ``a_max <= a_min``.

    Examples::

        window = CTWindow()
        img01 = window(hu_volume)            # float32 in [0, 1]
        hu = window.inverse(img01)           # back to HU, in hu_volume's dtype
    """

    def __init__(self, a_min: float = DEFAULT_CT_WINDOW[0], a_max: float = DEFAULT_CT_WINDOW[1], clip: bool = True):
        super().__init__()
        self.a_min, self.a_max, self.clip = float(a_min), float(a_max), bool(clip)
        self._mapping = mapping_from_window(self.a_min, self.a_max, clip=self.clip, method="ct_window")  # validates

    def fit(self, img: NdarrayOrTensor) -> dict[str, Any]:
        """Record ``img``'s dtype (the window itself is fixed)."""
        self._mapping = mapping_from_window(
            self.a_min, self.a_max, clip=self.clip, dtype=_dtype_name(img), method="ct_window"
        )
        return dict(self._mapping)


class PercentileScale(IntensityMapping):
    """Map the image's ``lower`` .. ``upper`` percentiles to [0, 1] (radiographs, MR); the values found are recorded.

    Args:
        lower: lower percentile in [0, 100] (default ``DEFAULT_PERCENTILES[0]``, 0.5).
        upper: upper percentile in [0, 100] (default ``DEFAULT_PERCENTILES[1]``, 99.5).
        clip: clip values outside the percentile window.

    Raises:
        ValueError: percentiles out of order or outside [0, 100]; an image that is empty or not finite.
    """

    def __init__(self, lower: float = DEFAULT_PERCENTILES[0], upper: float = DEFAULT_PERCENTILES[1], clip: bool = True):
        super().__init__()
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(f"PercentileScale needs 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
        self.lower, self.upper, self.clip = float(lower), float(upper), bool(clip)

    def fit(self, img: NdarrayOrTensor) -> dict[str, Any]:
        """Record the window between ``img``'s percentiles."""
        data = _finite_values(img, "PercentileScale")
        # NumPy percentiles: torch.quantile refuses inputs over 16 M elements (a 512 x 512 x 64 volume)
        a_min, a_max = (float(v) for v in percentile(data.astype(np.float64, copy=False), [self.lower, self.upper]))
        if a_max <= a_min:  # constant image (or a degenerate histogram): map everything to 0
            a_max = a_min + 1.0
        self._mapping = mapping_from_window(a_min, a_max, clip=self.clip, dtype=_dtype_name(img), method="percentile")
        return dict(self._mapping)


class DtypeRange(IntensityMapping):
    """Map the pixel type's range to [0, 1]: ``0 .. 255`` for ``uint8``, ``-32768 .. 32767`` for ``int16``...; a
    floating-point image maps its own minimum .. maximum.

    Lossless for integer images (every value comes back exactly) and free of parameters: the usual mapping of 8-bit
    photographs and screenshots.
    """

    def fit(self, img: NdarrayOrTensor) -> dict[str, Any]:
        """Record the range of ``img``'s dtype (integers) or of its values (floats)."""
        data = _finite_values(img, "DtypeRange")
        if np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_:
            info = np.iinfo(data.dtype) if data.dtype != np.bool_ else np.iinfo(np.uint8)
            a_min, a_max, method = float(info.min), float(info.max), "dtype_range"
        else:
            a_min, a_max, method = float(data.min()), float(data.max()), "value_range"
            a_max = a_max if a_max > a_min else a_min + 1.0
        self._mapping = mapping_from_window(a_min, a_max, clip=True, dtype=_dtype_name(img), method=method)
        return dict(self._mapping)


class AutoIntensity(IntensityMapping):
    """Choose the mapping from the image: a CT window when the values go below
    :data:`~rfr_inpaint.defaults.HU_AIR_THRESHOLD` (the image holds air in Hounsfield units), the pixel type's range
    for ``uint8`` images, the percentiles otherwise (radiographs, MR, 16-bit images).

    The choice is recorded in the record's ``method`` (``ct_window``, ``dtype_range`` or ``percentile``).

    Args:
        window: CT window of the ``ct`` case.
        percentiles: ``(lower, upper)`` of the percentile case.
    """

    def __init__(
        self, window: Sequence[float] = DEFAULT_CT_WINDOW, percentiles: Sequence[float] = DEFAULT_PERCENTILES
    ) -> None:
        super().__init__()
        self.ct = CTWindow(*_pair(window, "window"))
        self.percentile = PercentileScale(*_pair(percentiles, "percentiles"))
        self.range = DtypeRange()

    def choose(self, img: NdarrayOrTensor) -> IntensityMapping:
        """The mapping ``auto`` picks for ``img``."""
        data = _finite_values(img, "AutoIntensity")
        if float(data.min()) < HU_AIR_THRESHOLD:
            return self.ct
        return self.range if data.dtype == np.uint8 else self.percentile

    def fit(self, img: NdarrayOrTensor) -> dict[str, Any]:
        """Record the mapping chosen for ``img`` (see :meth:`choose`)."""
        self._mapping = self.choose(img).fit(img)
        return dict(self._mapping)


def _pair(values: Sequence[float] | None, name: str) -> tuple[float, float]:
    if values is None:
        return DEFAULT_CT_WINDOW if name == "window" else DEFAULT_PERCENTILES
    values = tuple(float(v) for v in values)
    if len(values) != 2:
        raise ValueError(f"{name} must be two numbers (low, high), got {values}")
    return values  # type: ignore[return-value]


def fit_intensity(
    intensity: IntensityMapping | Mapping[str, Any],
    image: NdarrayOrTensor,
    hole: NdarrayOrTensor | None = None,
    axis: int = 0,
) -> dict[str, Any]:
    """The mapping record of ``image``, fitted on its known voxels: the voxels outside ``hole`` in the slices along
    ``axis`` that hold a hole (in a 2D image, all known pixels).

    This is the one place that decides which voxels a mapping sees: :func:`rfr_inpaint.volume.inpaint_volume` (the
    command and Slicer) and the bundle's :class:`IntensityMapd` call it, so a percentile window ignores the metal
    it is meant to replace wherever the image comes from. With no hole, or a hole that leaves no known voxel in
    those slices, the mapping is fitted on all of them.

    Args:
        intensity: a transform (fitted here) or a record (returned as a checked copy).
        image: 2D image or 3D volume in original units.
        hole: mask of ``image``'s shape, nonzero = hole; None: no hole.
        axis: slicing axis of a 3D volume.

    Returns:
        the record.

    Raises:
        ValueError: ``hole`` does not match ``image``; the transform refuses the voxels (empty, NaN).
    """
    if isinstance(intensity, Mapping):
        record = dict(intensity)
        _check_record(record)
        return record
    data = _as_numpy(image)
    if hole is None:
        return intensity.fit(data)
    mask = _as_numpy(hole) != 0
    if mask.shape != data.shape:
        raise ValueError(f"hole of shape {mask.shape} does not match the image of shape {data.shape}")
    if data.ndim == 3:
        other = tuple(a for a in range(3) if a != axis % 3)
        rows = np.flatnonzero(mask.any(axis=other))
        data, mask = np.take(data, rows, axis=axis % 3), np.take(mask, rows, axis=axis % 3)
    known = data[~mask]
    return intensity.fit(known if known.size else data)


def is_monochrome1(photometric: Any) -> bool:
    """Whether a DICOM PhotometricInterpretation value (str, bytes, or a one-element list) is MONOCHROME1."""
    if isinstance(photometric, (list, tuple)) and len(photometric) == 1:
        photometric = photometric[0]
    if isinstance(photometric, Mapping) and "Value" in photometric:  # PydicomReader's JSON-like meta
        return is_monochrome1(photometric["Value"])
    if isinstance(photometric, bytes):
        photometric = photometric.decode(errors="ignore")
    return isinstance(photometric, str) and photometric.strip().upper() == "MONOCHROME1"


class InvertMonochrome1(Transform):
    """Invert a [0, 1] image (``1 - y``) when its DICOM PhotometricInterpretation is MONOCHROME1.

    MONOCHROME1 radiographs store high values as dark; inverting after scaling gives the usual
    MONOCHROME2 look (bone bright). :meth:`update_mapping` records the inversion in a mapping record so that
    :func:`intensity_inverse` undoes it.

    Args:
        photometric: default interpretation used when a call does not give one. ``"MONOCHROME1"`` (default)
            inverts every image; ``None`` / ``"MONOCHROME2"`` inverts none.
    """

    backend = [*ScaleIntensityRange.backend]

    def __init__(self, photometric: str | None = "MONOCHROME1"):
        self.photometric = photometric

    def __call__(self, img01: NdarrayOrTensor, photometric: Any = None) -> NdarrayOrTensor:
        """Return ``1 - img01`` if the interpretation (argument, else the default) is MONOCHROME1, else ``img01``."""
        interp = self.photometric if photometric is None else photometric
        return 1.0 - img01 if is_monochrome1(interp) else img01

    @staticmethod
    def update_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
        """Return a copy of ``mapping`` whose ``invert`` flag is toggled (an inversion applied after it)."""
        record = dict(mapping)
        record["invert"] = not bool(_field(record, "invert", False))
        return record


def get_intensity_transform(
    mode: str = "auto",
    window: Sequence[float] | None = DEFAULT_CT_WINDOW,
    percentiles: Sequence[float] | None = DEFAULT_PERCENTILES,
) -> IntensityMapping:
    """Build the intensity mapping of a mode name; the one place that gives the names of
    :data:`~rfr_inpaint.defaults.INTENSITY_MODES` their meaning.

    Args:
        mode: ``ct`` (:class:`CTWindow` over ``window``), ``percentile`` (:class:`PercentileScale` between
            ``percentiles``), ``range`` (:class:`DtypeRange`) or ``auto`` (:class:`AutoIntensity`: ``ct`` for
            images holding air in HU, ``range`` for ``uint8``, ``percentile`` otherwise). Case-insensitive.
        window: CT window ``(a_min, a_max)`` in HU (None: the default).
        percentiles: ``(lower, upper)`` percentiles (None: the default).

    Returns:
        the transform (not fitted yet).

    Raises:
        ValueError: unknown mode, a malformed window or percentile pair.
    """
    name = str(mode).lower()
    if name == "ct":
        return CTWindow(*_pair(window, "window"))
    if name == "percentile":
        return PercentileScale(*_pair(percentiles, "percentiles"))
    if name == "range":
        return DtypeRange()
    if name == "auto":
        return AutoIntensity(_pair(window, "window"), _pair(percentiles, "percentiles"))
    raise ValueError(f"unknown intensity mode {mode!r}; choose one of {', '.join(INTENSITY_MODES)}")


def _bundle_of(model_path: str | os.PathLike) -> Path | None:
    """The bundle folder of a model: the folder itself, or ``<bundle>`` of ``<bundle>/models/<file>``."""
    path = Path(model_path)
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "models" else None


def _literal(value: Any) -> bool:
    """Whether a config value is plain data (not a ``$`` expression, ``@`` reference or ``%`` macro)."""
    return not (isinstance(value, str) and value.startswith(("$", "@", "%")))


def intensity_for_model(model_path: str | os.PathLike | None) -> IntensityMapping | None:
    """The intensity mapping recorded by a MONAI bundle: ``intensity_mode`` with its ``ct_window`` and
    ``percentiles`` in the bundle's ``configs/inference.json``, else ``configs/train.json``.

    The configs are read with MONAI's :class:`~monai.bundle.ConfigParser` as data: nothing in them is evaluated,
    and a value written as an expression, a reference or a macro counts as not recorded.

    Args:
        model_path: a bundle folder, a checkpoint file (its bundle is the grandparent folder when it lies in
            ``<bundle>/models/``), or None.

    Returns:
        the transform of :func:`get_intensity_transform`, or None when no config records a mode (the caller keeps
        its own mode).

    Raises:
        ValueError: a config is not readable JSON, or records an unknown mode or a malformed window / percentiles
            (the message names the file).
    """
    if model_path is None:
        return None
    bundle = _bundle_of(model_path)
    if bundle is None:
        return None
    from monai.bundle import ConfigParser

    for name in BUNDLE_CONFIGS:
        config_file = bundle / "configs" / name
        if not config_file.is_file():
            continue
        parser = ConfigParser()
        try:
            parser.read_config(str(config_file))
        except (OSError, ValueError) as e:
            raise ValueError(f"{config_file}: not a readable JSON bundle config ({e})") from e
        mode = parser.get("intensity_mode")
        if not isinstance(mode, str) or not _literal(mode):
            continue  # not recorded here: look at the next config
        settings: dict[str, Any] = {}
        for key, field in (("ct_window", "window"), ("percentiles", "percentiles")):
            value = parser.get(key)
            if value is None:
                continue
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)):
                raise ValueError(f"{config_file}: {key} must be a list [low, high], got {value!r}")
            settings[field] = value
        try:
            return get_intensity_transform(mode, **settings)
        except ValueError as e:
            raise ValueError(f"{config_file}: {e}") from e
    return None


def resolve_intensity(
    mode: str = "auto",
    model_path: str | os.PathLike | None = None,
    window: Sequence[float] | None = DEFAULT_CT_WINDOW,
    percentiles: Sequence[float] | None = DEFAULT_PERCENTILES,
) -> IntensityMapping:
    """The intensity mapping of an inpainting request, as every entry point resolves it.

    ``auto`` with a model whose bundle records a mapping (:func:`intensity_for_model`) gives that mapping, so the
    network sees the intensities it was trained on; otherwise the mode means what :func:`get_intensity_transform`
    says. Fit the result with :func:`fit_intensity` (known voxels only).

    Args:
        mode: a mode of :data:`~rfr_inpaint.defaults.INTENSITY_MODES`.
        model_path: the RFR-Net model (checkpoint or bundle folder), or None (classical methods).
        window: CT window of ``ct`` / ``auto``.
        percentiles: percentiles of ``percentile`` / ``auto``.

    Returns:
        the transform.

    Raises:
        ValueError: unknown mode, or a bundle config recording a malformed mapping.
    """
    transform = get_intensity_transform(mode, window=window, percentiles=percentiles)  # checks the mode first
    if str(mode).lower() == "auto":
        recorded = intensity_for_model(model_path)
        if recorded is not None:
            return recorded
    return transform

"""Invertible intensity mappings between original units (Hounsfield units, raw detector values) and [0, 1].

Every mapping used by this package is an affine window ``y = (x - a_min) / (a_max - a_min)``, optionally clipped
to [0, 1] and optionally followed by an inversion ``y -> 1 - y`` (MONOCHROME1 radiographs, where high raw values are
dark). Its parameters are recorded as a plain, JSON-serialisable dict (a *mapping record*)::

    {"method": "ct_window", "a_min": -1024.0, "a_max": 3071.0, "clip": True, "invert": False, "dtype": "int16"}

so that inference can write its results back in the original units and dtype with :func:`intensity_inverse`.
``dtype`` is the dtype of the image the forward mapping saw (``None`` when unknown); it is the default target dtype
of the inverse. Integer targets are rounded and clipped to the dtype's range, so an ``int16`` CT volume whose values
lie inside the window survives the round trip bit-exactly.

Array transforms: :class:`CTWindow`, :class:`PercentileScale`, :class:`InvertMonochrome1`.
Every record has the same fields, so records of a batch collate (``DataLoader``) whatever transform made them.

Dictionary transforms (mapping stored under ``"<key>_intensity_mapping"``): :class:`CTWindowd`,
:class:`PercentileScaled`, :class:`InvertMonochrome1d`. Factory: :func:`get_intensity_transform`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, ScaleIntensityRange, Transform
from monai.transforms.utils_pytorch_numpy_unification import percentile

__all__ = [
    "DEFAULT_CT_WINDOW",
    "MAPPING_KEY_POSTFIX",
    "IntensityMapping",
    "CTWindow",
    "PercentileScale",
    "InvertMonochrome1",
    "CTWindowd",
    "CTWindowD",
    "CTWindowDict",
    "PercentileScaled",
    "PercentileScaleD",
    "PercentileScaleDict",
    "InvertMonochrome1d",
    "InvertMonochrome1D",
    "InvertMonochrome1Dict",
    "intensity_forward",
    "intensity_inverse",
    "mapping_from_window",
    "mapping_key",
    "get_intensity_transform",
    "is_monochrome1",
]

#: Default CT window in Hounsfield units: the full 12-bit range of most scanners (air -1024 .. dense bone / metal 3071).
DEFAULT_CT_WINDOW: tuple[float, float] = (-1024.0, 3071.0)
#: Postfix of the data-dict key under which dictionary transforms store the mapping record.
MAPPING_KEY_POSTFIX = "intensity_mapping"

_PHOTOMETRIC_META_KEYS = ("0028|0004", "00280004", "PhotometricInterpretation", "photometric_interpretation")


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


class IntensityMapping(Transform):
    """Base class of the invertible window mappings: holds the last record and inverts with it."""

    backend = ScaleIntensityRange.backend

    def __init__(self) -> None:
        self._mapping: dict[str, Any] | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The mapping record of the last call (see :meth:`get_mapping`)."""
        return self.get_mapping()

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


class CTWindow(IntensityMapping):
    """Map Hounsfield units to [0, 1] through a fixed window, clipped by default (MONAI ``ScaleIntensityRange``).

    Args:
        a_min: HU mapped to 0 (default -1024, air).
        a_max: HU mapped to 1 (default 3071, the top of the 12-bit range).
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
        mapping_from_window(a_min, a_max, clip=clip)  # validates
        self.a_min, self.a_max, self.clip = float(a_min), float(a_max), bool(clip)
        self._mapping = mapping_from_window(self.a_min, self.a_max, clip=self.clip, method="ct_window")

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """Window ``img`` (HU) to float32 [0, 1] and record its dtype."""
        self._mapping = mapping_from_window(
            self.a_min, self.a_max, clip=self.clip, dtype=_dtype_name(img), method="ct_window"
        )
        return intensity_forward(img, self._mapping)


class PercentileScale(IntensityMapping):
    """Map the image's ``lower`` .. ``upper`` percentiles to [0, 1] (radiographs, MR); the values found are recorded.

    Args:
        lower: lower percentile in [0, 100] (default 0.5).
        upper: upper percentile in [0, 100] (default 99.5).
        clip: clip values outside the percentile window.

    Raises:
        ValueError: percentiles out of order or outside [0, 100]; an image that is empty or not finite.
    """

    def __init__(self, lower: float = 0.5, upper: float = 99.5, clip: bool = True):
        super().__init__()
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(f"PercentileScale needs 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
        self.lower, self.upper, self.clip = float(lower), float(upper), bool(clip)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """Scale ``img`` to float32 [0, 1] between its percentiles and record the window found."""
        data = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        if data.size == 0:
            raise ValueError("PercentileScale: the image is empty")
        if not np.isfinite(data).all():
            raise ValueError("PercentileScale: the image holds NaN or infinite values")
        # NumPy percentiles: torch.quantile refuses inputs over 16 M elements (a 512 x 512 x 64 volume)
        a_min, a_max = (float(v) for v in percentile(data.astype(np.float64, copy=False), [self.lower, self.upper]))
        if a_max <= a_min:  # constant image (or a degenerate histogram): map everything to 0
            a_max = a_min + 1.0
        self._mapping = mapping_from_window(
            a_min,
            a_max,
            clip=self.clip,
            dtype=_dtype_name(img),
            method="percentile",
        )
        return intensity_forward(img, self._mapping)


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


def _photometric_from(data: Mapping[Hashable, Any], key: Hashable, photometric_key: str | None) -> Any:
    """Find a PhotometricInterpretation for ``data[key]``: the explicit key, then the image's metadata."""
    if photometric_key is not None and photometric_key in data:
        return data[photometric_key]
    meta = getattr(data[key], "meta", None)
    if meta is None:
        meta = data.get(f"{key}_meta_dict")
    if isinstance(meta, Mapping):
        for name in _PHOTOMETRIC_META_KEYS:
            if name in meta:
                return meta[name]
    return None


class _IntensityMapd(MapTransform):
    """Shared logic of the dictionary-based window mappings."""

    def __init__(self, keys: KeysCollection, transform: IntensityMapping, mapping_postfix: str, allow_missing_keys: bool):
        super().__init__(keys, allow_missing_keys)
        self.transform = transform
        self.mapping_postfix = mapping_postfix

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key])
            d[mapping_key(key, self.mapping_postfix)] = self.transform.get_mapping()
        return d

    def inverse_image(self, data: Mapping[Hashable, Any], key: Hashable, dtype: Any = None) -> NdarrayOrTensor:
        """Map ``data[key]`` back to original units with the record stored beside it."""
        return intensity_inverse(data[key], data[mapping_key(key, self.mapping_postfix)], dtype=dtype)


class CTWindowd(_IntensityMapd):
    """Dictionary-based version of :class:`CTWindow`; stores the record under ``"<key>_intensity_mapping"``.

    Args:
        keys: keys of the images to window.
        a_min: HU mapped to 0.
        a_max: HU mapped to 1.
        clip: clip values outside the window.
        mapping_postfix: postfix of the record's key.
        allow_missing_keys: do not raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        a_min: float = DEFAULT_CT_WINDOW[0],
        a_max: float = DEFAULT_CT_WINDOW[1],
        clip: bool = True,
        mapping_postfix: str = MAPPING_KEY_POSTFIX,
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, CTWindow(a_min, a_max, clip), mapping_postfix, allow_missing_keys)


class PercentileScaled(_IntensityMapd):
    """Dictionary-based version of :class:`PercentileScale`; stores the record under ``"<key>_intensity_mapping"``.

    Args:
        keys: keys of the images to scale.
        lower: lower percentile.
        upper: upper percentile.
        clip: clip values outside the percentile window.
        mapping_postfix: postfix of the record's key.
        allow_missing_keys: do not raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = 0.5,
        upper: float = 99.5,
        clip: bool = True,
        mapping_postfix: str = MAPPING_KEY_POSTFIX,
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, PercentileScale(lower, upper, clip), mapping_postfix, allow_missing_keys)


class InvertMonochrome1d(MapTransform):
    """Dictionary-based version of :class:`InvertMonochrome1`.

    The interpretation is read from ``data[photometric_key]`` if given and present, else from the image's metadata
    (``MetaTensor.meta`` or ``"<key>_meta_dict"``, DICOM tag ``0028|0004``), else ``default`` is used. When the image
    is inverted, the record under ``"<key>_intensity_mapping"`` (if any) is updated so the inverse undoes it.

    Args:
        keys: keys of the [0, 1] images.
        photometric_key: optional data key holding the PhotometricInterpretation string.
        default: interpretation used when none is found (default ``None``: leave the image unchanged).
        mapping_postfix: postfix of the record's key.
        allow_missing_keys: do not raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        photometric_key: str | None = None,
        default: str | None = None,
        mapping_postfix: str = MAPPING_KEY_POSTFIX,
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, allow_missing_keys)
        self.photometric_key = photometric_key
        self.default = default
        self.mapping_postfix = mapping_postfix
        self.inverter = InvertMonochrome1(photometric=None)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            photometric = _photometric_from(d, key, self.photometric_key)
            if photometric is None:
                photometric = self.default
            if not is_monochrome1(photometric):
                continue
            d[key] = self.inverter(d[key], photometric="MONOCHROME1")
            record_key = mapping_key(key, self.mapping_postfix)
            if record_key in d:
                d[record_key] = InvertMonochrome1.update_mapping(d[record_key])
        return d


def get_intensity_transform(mode: str = "ct", **kwargs: Any) -> IntensityMapping:
    """Build an intensity mapping by name, as bundle configs and the CLI select it.

    Args:
        mode: ``"ct"`` (:class:`CTWindow`, kwargs ``a_min``, ``a_max``, ``clip``) or ``"percentile"``
            (:class:`PercentileScale`, kwargs ``lower``, ``upper``, ``clip``).
        kwargs: parameters of the selected transform.

    Returns:
        the transform.

    Raises:
        ValueError: unknown mode.
    """
    mode_l = mode.lower()
    if mode_l in ("ct", "hu", "ct_window", "window"):
        return CTWindow(**kwargs)
    if mode_l in ("percentile", "percentiles", "xray", "mr"):
        return PercentileScale(**kwargs)
    raise ValueError(f"unknown intensity mode {mode!r}; expected 'ct' or 'percentile'")


CTWindowD = CTWindowDict = CTWindowd
PercentileScaleD = PercentileScaleDict = PercentileScaled
InvertMonochrome1D = InvertMonochrome1Dict = InvertMonochrome1d

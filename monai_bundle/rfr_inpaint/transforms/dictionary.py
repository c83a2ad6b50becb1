"""Dictionary-based versions of this package's array transforms (the array transforms in :mod:`.masks`,
:mod:`.holes3d` and :mod:`.intensity`, their dictionary wrappers here, as MONAI lays out its transforms).

Hole masks: :class:`RandHoleMaskd` reads the image(s) under ``keys`` and writes the hole mask (float32 ``(1, H, W)``,
1 = hole) under ``hole_key`` (one name, or one per key). Every generator is reached through it by name (``kind``), so
an experiment is a configuration change. A mask is drawn once per key per call; ``set_random_state`` is forwarded to
the wrapped array generator so that a seeded pipeline is reproducible. :class:`RandMetalHoles3Dd` draws metal-like
3-D holes in mm.

Intensity (the mapping record stored under ``"<key>_intensity_mapping"``): :class:`IntensityMapd` (any mode, fitted
on the known voxels), :class:`CTWindowd`, :class:`PercentileScaled`, :class:`InvertMonochrome1d`, and the way back,
:class:`IntensityInversed`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import ensure_tuple

from .holes3d import RandMetalHoles3D
from .intensity import (
    DEFAULT_CT_WINDOW,
    DEFAULT_PERCENTILES,
    MAPPING_KEY_POSTFIX,
    CTWindow,
    IntensityMapping,
    InvertMonochrome1,
    PercentileScale,
    _as_numpy,
    fit_intensity,
    get_intensity_transform,
    intensity_forward,
    intensity_inverse,
    is_monochrome1,
    mapping_key,
)
from .masks import HoleMaskGenerator, LoadExternalMask

__all__ = [
    "RandHoleMaskd",
    "RandHoleMaskD",
    "RandHoleMaskDict",
    "RandMetalHoles3Dd",
    "RandMetalHoles3DD",
    "RandMetalHoles3DDict",
    "IntensityMapd",
    "IntensityMapD",
    "IntensityMapDict",
    "CTWindowd",
    "CTWindowD",
    "CTWindowDict",
    "PercentileScaled",
    "PercentileScaleD",
    "PercentileScaleDict",
    "InvertMonochrome1d",
    "InvertMonochrome1D",
    "InvertMonochrome1Dict",
    "IntensityInversed",
    "IntensityInverseD",
    "IntensityInverseDict",
]

#: metadata keys that may hold a DICOM PhotometricInterpretation
_PHOTOMETRIC_META_KEYS = ("0028|0004", "00280004", "PhotometricInterpretation", "photometric_interpretation")


class RandHoleMaskd(RandomizableTransform, MapTransform):
    """Dictionary-based version of :class:`~rfr_inpaint.transforms.masks.HoleMaskGenerator`: any generator by name.

    Args:
        keys: key(s) of the channel-first images whose spatial shape (and intensities, for ``metal``) are used.
        hole_key: key of the hole mask (or one per key; a single name with several keys becomes ``"<key>_<name>"``).
        kind: generator name or list of names (see ``HoleMaskGenerator``).
        kind_params: options per kind when ``kind`` is a list.
        kind_probs: probabilities per kind when ``kind`` is a list.
        allow_missing_keys: do not raise if a key is missing.
        mask_path_key: for ``kind="external"``: data key holding the mask file of each item (e.g. a datalist's
            ``"mask"`` entry); when absent from an item, the generator's own files are used.
        skip_existing: keep a hole mask already present under the hole key (e.g. read from the item's mask file)
            instead of drawing a new one.
        params: options of the generator.

    Raises:
        ValueError: bad generator options, ``hole_key`` names that do not match ``keys``, or ``mask_path_key``
            without an ``external`` generator.

    Examples::

        RandHoleMaskd(keys="image", hole_key="hole", kind="square", hole_ratio=8, count=2)
        RandHoleMaskd(keys="image", kind="external", mask_path_key="mask")  # each item's own mask file
    """

    backend = HoleMaskGenerator.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        hole_key: str | Sequence[str] = "hole",
        kind: str | Sequence[str] = "square",
        kind_params: Sequence[dict[str, Any]] | None = None,
        kind_probs: Sequence[float] | None = None,
        allow_missing_keys: bool = False,
        mask_path_key: str | None = None,
        skip_existing: bool = False,
        **params: Any,
    ):
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        hole_keys = ensure_tuple(hole_key)
        if len(hole_keys) == 1 and len(self.keys) > 1:
            hole_keys = tuple(f"{k}_{hole_keys[0]}" for k in self.keys)
        if len(hole_keys) != len(self.keys):
            raise ValueError(
                f"hole_key needs one name or one per key: {len(hole_keys)} names for {len(self.keys)} keys"
            )
        self.hole_keys = hole_keys
        self.generator = HoleMaskGenerator(kind, kind_params, kind_probs, **params)
        self.mask_path_key = mask_path_key
        self.skip_existing = skip_existing

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.generator.set_random_state(seed, state)
        return self

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)

    def _mask(self, d: dict[Hashable, Any], key: Hashable, hole_key: Hashable) -> NdarrayOrTensor:
        if self.skip_existing and d.get(hole_key) is not None:
            return d[hole_key]
        if self.mask_path_key is not None and self.mask_path_key in d:
            external = [g for g in self.generator.generators if isinstance(g, LoadExternalMask)]
            if not external:
                raise ValueError(f"mask_path_key {self.mask_path_key!r} needs kind='external'")
            return external[0](d[key], path=d[self.mask_path_key])
        return self.generator(d[key])

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        if self.skip_existing and all(h in d for h in self.hole_keys):
            return d
        self.randomize()
        for key, hole_key in self.key_iterator(d, self.hole_keys):
            d[hole_key] = self._mask(d, key, hole_key)
        return d


RandHoleMaskD = RandHoleMaskDict = RandHoleMaskd


class RandMetalHoles3Dd(RandomizableTransform, MapTransform):
    """Dictionary-based version of :class:`RandMetalHoles3D`: the hole of ``d[key]`` is stored under ``hole_key``.

    The spacing comes from ``spacing``, else the image's MetaTensor ``pixdim``, else ``d[spacing_key]``.

    Args:
        keys: key(s) of channel-first volumes ``(1, D, H, W)``.
        hole_key: output key (one name, or one per key; a single name with several keys becomes ``"<key>_<name>"``).
        kinds, kind_probs, count, body_threshold: as :class:`RandMetalHoles3D`.
        spacing: voxel size in mm in array axis order (overrides the metadata).
        spacing_key: data key holding the spacing when the image carries none.
        allow_missing_keys: do not raise if a key is missing.

    Raises:
        ValueError: as :class:`RandMetalHoles3D`, or ``hole_key`` names that do not match the keys.
    """

    backend = RandMetalHoles3D.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        hole_key: str | Sequence[str] = "hole",
        kinds: Sequence[str] | str | None = None,
        kind_probs: Sequence[float] | None = None,
        count: int | Sequence[int] = 1,
        spacing: Sequence[float] | None = None,
        spacing_key: str | None = None,
        body_threshold: float | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        hole_keys = (hole_key,) if isinstance(hole_key, str) else tuple(hole_key)
        if len(hole_keys) == 1 and len(self.keys) > 1:
            hole_keys = tuple(f"{k}_{hole_keys[0]}" for k in self.keys)
        if len(hole_keys) != len(self.keys):
            raise ValueError(f"hole_key needs one name or one per key: {len(hole_keys)} names for {len(self.keys)} keys")
        self.hole_keys = hole_keys
        self.spacing_key = spacing_key
        self.generator = RandMetalHoles3D(kinds, kind_probs, count, spacing, body_threshold)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.generator.set_random_state(seed, state)
        return self

    def __call__(self, data: Any) -> dict:
        d = dict(data)
        for key, hole_key in self.key_iterator(d, self.hole_keys):
            spacing = self.generator.spacing
            if spacing is None and not isinstance(d[key], MetaTensor) and self.spacing_key is not None:
                if self.spacing_key not in d:
                    raise ValueError(f"RandMetalHoles3Dd: no spacing: key {self.spacing_key!r} missing from the data")
                spacing = d[self.spacing_key]
            d[hole_key] = self.generator(d[key], spacing=spacing)
        return d


RandMetalHoles3DD = RandMetalHoles3DDict = RandMetalHoles3Dd


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


class IntensityMapd(MapTransform):
    """Map images to [0, 1] with a mapping fitted on their known voxels; store the record beside each image.

    The record goes under ``"<key>_intensity_mapping"`` (:func:`mapping_key`), where :class:`IntensityInversed`
    and :class:`InvertMonochrome1d` find it. Images are channel-first (``(1, H, W)`` slices, ``(1, D, H, W)``
    volumes); when ``data[hole_key]`` exists the mapping is fitted by :func:`fit_intensity` on the voxels outside it,
    in the slices along ``axis`` that hold it. A MetaTensor whose metadata records the file's pixel type under
    ``"dtype"`` (:class:`rfr_inpaint.bundle.image_files.MedicalImageReader` does; MONAI holds ``uint16`` as ``int32``)
    is fitted in that type.

    Args:
        keys: keys of the images to map.
        intensity: a mode of :data:`~rfr_inpaint.defaults.INTENSITY_MODES` (see :func:`get_intensity_transform`) or
            an :class:`IntensityMapping`.
        window: CT window of the ``ct`` and ``auto`` modes.
        percentiles: percentiles of the ``percentile`` and ``auto`` modes.
        hole_key: key of the hole mask (1 = hole) whose voxels the fit leaves out; None or absent: all voxels.
        axis: slicing axis of volumes (spatial axes, ``D, H, W`` order).
        mapping_postfix: postfix of the record's key.
        allow_missing_keys: do not raise if a key is missing.

    Raises:
        ValueError: unknown mode.
    """

    def __init__(
        self,
        keys: KeysCollection,
        intensity: str | IntensityMapping = "auto",
        window: Sequence[float] = DEFAULT_CT_WINDOW,
        percentiles: Sequence[float] = DEFAULT_PERCENTILES,
        hole_key: str | None = "hole",
        axis: int = 0,
        mapping_postfix: str = MAPPING_KEY_POSTFIX,
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, allow_missing_keys)
        if isinstance(intensity, IntensityMapping):
            self.transform = intensity
        else:
            self.transform = get_intensity_transform(intensity, window=window, percentiles=percentiles)
        self.hole_key = hole_key
        self.axis = int(axis)
        self.mapping_postfix = mapping_postfix

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, Any]:
        d = dict(data)
        hole = d.get(self.hole_key) if self.hole_key is not None else None
        for key in self.key_iterator(d):
            img = d[key]
            values = _as_numpy(img)
            source_dtype = img.meta.get("dtype") if isinstance(img, MetaTensor) else None
            if source_dtype:  # the file's pixel type (MONAI holds uint16 as int32): the record's dtype and range
                values = values.astype(np.dtype(str(source_dtype)), copy=False)
            if hole is not None and values.shape[0] == 1 and tuple(hole.shape) == values.shape:
                record = fit_intensity(self.transform, values[0], hole[0], self.axis)
            else:  # no hole (or several channels): every voxel counts
                record = fit_intensity(self.transform, values)
            d[key] = intensity_forward(img, record)
            d[mapping_key(key, self.mapping_postfix)] = record
        return d

    def inverse_image(self, data: Mapping[Hashable, Any], key: Hashable, dtype: Any = None) -> NdarrayOrTensor:
        """Map ``data[key]`` back to original units with the record stored beside it."""
        return intensity_inverse(data[key], data[mapping_key(key, self.mapping_postfix)], dtype=dtype)


class CTWindowd(IntensityMapd):
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
        super().__init__(
            keys,
            CTWindow(a_min, a_max, clip),
            hole_key=None,
            mapping_postfix=mapping_postfix,
            allow_missing_keys=allow_missing_keys,
        )


class PercentileScaled(IntensityMapd):
    """Dictionary-based version of :class:`PercentileScale`; stores the record under ``"<key>_intensity_mapping"``.

    Args:
        keys: keys of the images to scale.
        lower: lower percentile.
        upper: upper percentile.
        clip: clip values outside the percentile window.
        hole_key: key of a hole mask whose voxels the percentiles leave out (None: every voxel).
        mapping_postfix: postfix of the record's key.
        allow_missing_keys: do not raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = DEFAULT_PERCENTILES[0],
        upper: float = DEFAULT_PERCENTILES[1],
        clip: bool = True,
        hole_key: str | None = None,
        mapping_postfix: str = MAPPING_KEY_POSTFIX,
        allow_missing_keys: bool = False,
    ):
        super().__init__(
            keys,
            PercentileScale(lower, upper, clip),
            hole_key=hole_key,
            mapping_postfix=mapping_postfix,
            allow_missing_keys=allow_missing_keys,
        )


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


class IntensityInversed(MapTransform):
    """Map [0, 1] images back to original units and dtype with a record stored in the data (the inverse of
    :class:`IntensityMapd`, MONOCHROME1 inversion included when :class:`InvertMonochrome1d` recorded one).

    Args:
        keys: keys of the [0, 1] images (e.g. the network's ``pred``).
        mapping_key: data key of the record (default: each key's own ``"<key>_intensity_mapping"``); a prediction
            uses its input's, e.g. ``"image_intensity_mapping"``.
        dtype: target dtype; None: the dtype recorded in the record (the input's).
        allow_missing_keys: do not raise if a key is missing.

    Raises:
        KeyError: the record is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        mapping_key: str | None = None,
        dtype: str | np.dtype | torch.dtype | None = None,
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, allow_missing_keys)
        self.mapping_key = mapping_key
        self.dtype = dtype

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            record_key = self.mapping_key or mapping_key(key)
            if record_key not in d:
                raise KeyError(f"IntensityInversed: no intensity mapping record {record_key!r} for {key!r}")
            img = d[key]
            out = intensity_inverse(img, d[record_key], dtype=self.dtype)
            d[key] = MetaTensor(out, meta=img.meta) if isinstance(img, MetaTensor) else out
        return d


IntensityMapD = IntensityMapDict = IntensityMapd
CTWindowD = CTWindowDict = CTWindowd
PercentileScaleD = PercentileScaleDict = PercentileScaled
InvertMonochrome1D = InvertMonochrome1Dict = InvertMonochrome1d
IntensityInverseD = IntensityInverseDict = IntensityInversed

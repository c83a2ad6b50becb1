"""Dictionary-based versions of the hole-mask generators of :mod:`rfr_inpaint.transforms.masks`.

Each reads the image(s) under ``keys`` and writes the hole mask (float32 ``(1, H, W)``, 1 = hole) under
``hole_key`` (one name, or one per key). A mask is drawn once per key per call; ``set_random_state`` is forwarded to
the wrapped array generator so that a seeded pipeline is reproducible.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import ensure_tuple

from .masks import (
    HoleMaskGenerator,
    LoadExternalMask,
    MaskGenerator,
    RandFreeFormStrokes,
    RandMetalLikeRegions,
    RandSquareHoles,
    RandStrips,
)

__all__ = [
    "RandHoleMaskd",
    "RandHoleMaskD",
    "RandHoleMaskDict",
    "RandSquareHolesd",
    "RandSquareHolesD",
    "RandSquareHolesDict",
    "RandStripsd",
    "RandStripsD",
    "RandStripsDict",
    "RandFreeFormStrokesd",
    "RandFreeFormStrokesD",
    "RandFreeFormStrokesDict",
    "RandMetalLikeRegionsd",
    "RandMetalLikeRegionsD",
    "RandMetalLikeRegionsDict",
    "LoadExternalMaskd",
    "LoadExternalMaskD",
    "LoadExternalMaskDict",
]


class _HoleMaskd(RandomizableTransform, MapTransform):
    """Shared logic: run an array mask generator on each key and store the mask under its hole key."""

    backend = MaskGenerator.backend

    def __init__(
        self,
        keys: KeysCollection,
        generator: MaskGenerator | HoleMaskGenerator,
        hole_key: str | Sequence[str] = "hole",
        allow_missing_keys: bool = False,
    ):
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        hole_keys = ensure_tuple(hole_key)
        if len(hole_keys) == 1 and len(self.keys) > 1:
            hole_keys = tuple(f"{k}_{hole_keys[0]}" for k in self.keys)
        if len(hole_keys) != len(self.keys):
            raise ValueError(f"hole_key needs one name or one per key: {len(hole_keys)} names for {len(self.keys)} keys")
        self.hole_keys = hole_keys
        self.generator = generator

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.generator.set_random_state(seed, state)
        return self

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)

    def _mask(self, d: dict[Hashable, Any], key: Hashable) -> NdarrayOrTensor:
        return self.generator(d[key])

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize()
        for key, hole_key in self.key_iterator(d, self.hole_keys):
            d[hole_key] = self._mask(d, key)
        return d


class RandHoleMaskd(_HoleMaskd):
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

    Examples::

        RandHoleMaskd(keys="image", hole_key="hole", kind="square", hole_ratio=8, count=2)
    """

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
        super().__init__(keys, HoleMaskGenerator(kind, kind_params, kind_probs, **params), hole_key, allow_missing_keys)
        self.mask_path_key = mask_path_key
        self.skip_existing = skip_existing

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        if self.skip_existing and all(h in data for h in self.hole_keys):
            return dict(data)
        return super().__call__(data)

    def _mask(self, d: dict[Hashable, Any], key: Hashable) -> NdarrayOrTensor:
        if self.skip_existing and d.get(self.hole_keys[self.keys.index(key)]) is not None:
            return d[self.hole_keys[self.keys.index(key)]]
        gen = self.generator
        if self.mask_path_key is not None and self.mask_path_key in d:
            external = [g for g in gen.generators if isinstance(g, LoadExternalMask)]  # type: ignore[union-attr]
            if not external:
                raise ValueError(f"mask_path_key {self.mask_path_key!r} needs kind='external'")
            return external[0](d[key], path=d[self.mask_path_key])
        return gen(d[key])


class RandSquareHolesd(_HoleMaskd):
    """Dictionary-based version of :class:`~rfr_inpaint.transforms.masks.RandSquareHoles`.

    Args:
        keys: image key(s).
        size: hole side in pixels (exclusive with ``hole_ratio``).
        hole_ratio: side = image side / ratio.
        count: number of holes.
        overlap: allow overlapping holes.
        hole_key: output key(s).
        allow_missing_keys: do not raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        size: int | Sequence[int] | None = None,
        hole_ratio: float | Sequence[float] | None = None,
        count: int | Sequence[int] = 1,
        overlap: bool = True,
        hole_key: str | Sequence[str] = "hole",
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, RandSquareHoles(size, hole_ratio, count, overlap), hole_key, allow_missing_keys)


class RandStripsd(_HoleMaskd):
    """Dictionary-based version of :class:`~rfr_inpaint.transforms.masks.RandStrips`.

    Args:
        keys: image key(s).
        width: strip width in pixels.
        count: number of strips.
        orientation: ``horizontal``, ``vertical`` or ``mixed``.
        overlap: allow overlapping parallel strips.
        hole_key: output key(s).
        allow_missing_keys: do not raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        width: int | Sequence[int] = 16,
        count: int | Sequence[int] = 1,
        orientation: str = "horizontal",
        overlap: bool = True,
        hole_key: str | Sequence[str] = "hole",
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, RandStrips(width, count, orientation, overlap), hole_key, allow_missing_keys)


class RandFreeFormStrokesd(_HoleMaskd):
    """Dictionary-based version of :class:`~rfr_inpaint.transforms.masks.RandFreeFormStrokes`.

    Args:
        keys: image key(s).
        hole_key: output key(s).
        allow_missing_keys: do not raise if a key is missing.
        params: options of ``RandFreeFormStrokes`` (``max_vertices``, ``max_length``, ``max_brush_width``, ...).
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        hole_key: str | Sequence[str] = "hole",
        allow_missing_keys: bool = False,
        **params: Any,
    ):
        super().__init__(keys, RandFreeFormStrokes(**params), hole_key, allow_missing_keys)


class RandMetalLikeRegionsd(_HoleMaskd):
    """Dictionary-based version of :class:`~rfr_inpaint.transforms.masks.RandMetalLikeRegions`.

    Args:
        keys: image key(s); their intensities locate the body.
        count: number of blobs.
        radius: range of blob semi-axes in pixels.
        body_threshold: intensity above which a pixel is body (None: automatic).
        margin: pixels kept from the body border.
        on_empty: ``"error"`` or ``"anywhere"`` when no body is found.
        hole_key: output key(s).
        allow_missing_keys: do not raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        count: int | Sequence[int] = (1, 3),
        radius: Sequence[float] = (3.0, 10.0),
        body_threshold: float | None = None,
        margin: int = 2,
        on_empty: str = "error",
        hole_key: str | Sequence[str] = "hole",
        allow_missing_keys: bool = False,
    ):
        gen = RandMetalLikeRegions(count, radius, body_threshold, margin, on_empty)
        super().__init__(keys, gen, hole_key, allow_missing_keys)


class LoadExternalMaskd(_HoleMaskd):
    """Dictionary-based version of :class:`~rfr_inpaint.transforms.masks.LoadExternalMask`.

    Args:
        keys: image key(s) giving the spatial shape.
        path: mask file, folder or list used when an item has no ``mask_path_key`` entry.
        mask_path_key: data key holding each item's mask file (e.g. ``"mask"`` of a datalist entry).
        threshold: hole where the scaled value exceeds it.
        labels: label values counted as holes.
        invert: files use 1 = valid.
        resize: resize to the image (nearest); False raises on a shape mismatch (naming the file).
        slice_index: slice of 3D mask files.
        hole_key: output key(s).
        allow_missing_keys: do not raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        mask_path_key: str | None = "mask",
        threshold: float = 0.5,
        labels: Sequence[float] | None = None,
        invert: bool = False,
        resize: bool = True,
        slice_index: int | None = None,
        hole_key: str | Sequence[str] = "hole",
        allow_missing_keys: bool = False,
    ):
        gen = LoadExternalMask(path, threshold, labels, invert, resize, slice_index)
        super().__init__(keys, gen, hole_key, allow_missing_keys)
        self.mask_path_key = mask_path_key

    def _mask(self, d: dict[Hashable, Any], key: Hashable) -> NdarrayOrTensor:
        path = d.get(self.mask_path_key) if self.mask_path_key is not None else None
        return self.generator(d[key], path=path)  # type: ignore[call-arg]


RandHoleMaskD = RandHoleMaskDict = RandHoleMaskd
RandSquareHolesD = RandSquareHolesDict = RandSquareHolesd
RandStripsD = RandStripsDict = RandStripsd
RandFreeFormStrokesD = RandFreeFormStrokesDict = RandFreeFormStrokesd
RandMetalLikeRegionsD = RandMetalLikeRegionsDict = RandMetalLikeRegionsd
LoadExternalMaskD = LoadExternalMaskDict = LoadExternalMaskd

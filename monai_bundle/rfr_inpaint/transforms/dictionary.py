"""Dictionary-based versions of the hole-mask generators of :mod:`rfr_inpaint.transforms.masks` (array transforms
there, their dictionary wrappers here, as MONAI lays out its transforms).

:class:`RandHoleMaskd` reads the image(s) under ``keys`` and writes the hole mask (float32 ``(1, H, W)``, 1 = hole)
under ``hole_key`` (one name, or one per key). Every generator is reached through it by name (``kind``), so an
experiment is a configuration change. A mask is drawn once per key per call; ``set_random_state`` is forwarded to the
wrapped array generator so that a seeded pipeline is reproducible.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import ensure_tuple

from .masks import HoleMaskGenerator, LoadExternalMask

__all__ = ["RandHoleMaskd", "RandHoleMaskD", "RandHoleMaskDict"]


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

"""The dataset of each bundle stage: synthetic CT slices by default, or the split of a folder / datalist of real images,
with the validation and test sets frozen by a seed.

``train.json`` (and ``evaluate.json``) name :func:`make_dataset` and :class:`FixedDataset`; the preprocessing chain
itself is listed transform by transform in the configs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from monai.data import Dataset
from monai.transforms import Randomizable

from rfr_inpaint.data import SyntheticCTDataset
from rfr_inpaint.data.datasets import DataError, InpaintingDataset, check_items, list_items, load_datalist

__all__ = ["SPLIT_SEED_OFFSETS", "split_items", "make_dataset", "FixedDataset"]

#: synthetic seeds of the splits are ``seed + SPLIT_SEED_OFFSETS[split]``, so splits never share a slice.
SPLIT_SEED_OFFSETS = {"training": 0, "validation": 1000, "test": 2000}


def split_items(
    dataset_dir: str | os.PathLike | None,
    datalist: str | os.PathLike | None,
    split: str,
    val_fraction: float = 0.1,
) -> list[dict[str, Any]]:
    """The file items of one split.

    * ``datalist`` given: its ``split`` list (:func:`rfr_inpaint.data.datasets.load_datalist`); ``test`` falls back to
      ``validation`` when the datalist has no test list.
    * else ``dataset_dir``: its images (:func:`rfr_inpaint.data.datasets.list_items`, recursive), split
      deterministically: the last ``val_fraction`` of the sorted items (at least one) is ``validation`` and ``test``,
      the rest ``training``.

    Args:
        dataset_dir: folder of images or volumes.
        datalist: JSON datalist (wins over ``dataset_dir``).
        split: ``training``, ``validation`` or ``test``.
        val_fraction: share of a folder's items held out.

    Returns:
        the items ``{"image": path[, "mask": path]}``.

    Raises:
        ValueError: unknown split, bad fraction, no source, or a folder with fewer than 2 images.
    """
    if split not in SPLIT_SEED_OFFSETS:
        raise ValueError(f"split must be one of {sorted(SPLIT_SEED_OFFSETS)}, got {split!r}")
    if datalist:
        try:
            return load_datalist(datalist, key=split)
        except (KeyError, ValueError, DataError):
            if split != "test":
                raise
            return load_datalist(datalist, key="validation")
    if not dataset_dir:
        raise ValueError("give a dataset_dir or a datalist (or neither, for the synthetic dataset)")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    items = sorted(list_items(dataset_dir), key=lambda item: str(item["image"]))
    if len(items) < 2:
        raise ValueError(f"{dataset_dir}: at least 2 images are needed to hold one out for validation")
    n_val = max(1, int(round(len(items) * val_fraction)))
    return items[:-n_val] if split == "training" else items[-n_val:]


def make_dataset(
    transform: Callable,
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    split: str = "training",
    num_samples: int = 64,
    image_size: int | Sequence[int] = 256,
    seed: int = 0,
    val_fraction: float = 0.1,
    skip_corrupt: bool = False,
) -> Dataset:
    """The dataset of a bundle stage: synthetic CT slices by default, a folder or a datalist of real images otherwise.

    Without ``dataset_dir`` and ``datalist`` it is :class:`rfr_inpaint.data.SyntheticCTDataset` (``num_samples``
    slices of ``image_size`` in HU, seed ``seed + SPLIT_SEED_OFFSETS[split]``); otherwise the file items of
    :func:`split_items` in an :class:`rfr_inpaint.data.datasets.InpaintingDataset`. ``transform`` is the stage's
    preprocessing (the transforms listed in ``train.json``; its loader is disabled for synthetic slices).

    Args:
        transform: the preprocessing chain.
        dataset_dir: folder of images / volumes (None: synthetic).
        datalist: JSON datalist (wins over ``dataset_dir``).
        split: ``training``, ``validation`` or ``test``.
        num_samples: synthetic items.
        image_size: synthetic image size.
        seed: synthetic base seed.
        val_fraction: share of a folder's items held out for validation / test.
        skip_corrupt: skip unreadable files with a warning instead of raising.

    Returns:
        a MONAI dataset.

    Raises:
        ValueError: unknown split; see :func:`split_items` for file sources.
    """
    if split not in SPLIT_SEED_OFFSETS:
        raise ValueError(f"split must be one of {sorted(SPLIT_SEED_OFFSETS)}, got {split!r}")
    if not dataset_dir and not datalist:
        return SyntheticCTDataset(
            num_samples, size=image_size, seed=seed + SPLIT_SEED_OFFSETS[split], transform=transform
        )
    items = check_items(split_items(dataset_dir, datalist, split, val_fraction), skip_corrupt=skip_corrupt)
    return InpaintingDataset(items, transform, skip_corrupt=skip_corrupt)


class FixedDataset(Dataset):
    """Evaluate a dataset once, with its random transforms seeded, and serve the stored items.

    Validation and evaluation images get the same hole masks in every run and every epoch, so runs are comparable:
    items are computed in index order after ``set_random_state(seed)`` on the dataset's transform.

    Args:
        dataset: the source dataset (its ``transform`` is seeded when it is randomizable).
        seed: the seed of the random transforms.
    """

    def __init__(self, dataset: Dataset, seed: int = 12345) -> None:
        transform = getattr(dataset, "transform", None)
        if isinstance(transform, Randomizable):
            transform.set_random_state(seed=seed)
        self.seed = seed
        super().__init__(data=[dataset[i] for i in range(len(dataset))], transform=None)

    def _transform(self, index: int) -> Any:
        return self.data[index]

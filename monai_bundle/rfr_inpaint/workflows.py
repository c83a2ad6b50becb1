"""Building blocks the bundle's configs call: datasets (synthetic or real), fixed evaluation sets, pretrained weights.

The configs in ``monai_bundle/configs`` stay declarative; the few decisions they need (synthetic data when no
``dataset_dir`` is given, evaluation masks frozen by a seed, loading the previous stage's weights) live here so they
are tested like any other code.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import Dataset
from monai.inferers import Inferer
from monai.transforms import MapTransform, Randomizable

from rfr_inpaint.data import SyntheticCTDataset
from rfr_inpaint.data.datasets import DataError, InpaintingDataset, check_items, list_items, load_datalist
from rfr_inpaint.engines import unwrap
from rfr_inpaint.image_io import FORMATS_2D, FORMATS_3D, cast_to_dtype, read_image, read_mask, write_image
from rfr_inpaint.inference import RFRInpainter
from rfr_inpaint.networks.reference import convert_reference_state_dict, extract_state_dict
from rfr_inpaint.safe_io import CheckpointError, load_checkpoint
from rfr_inpaint.transforms.intensity import (
    IntensityMapping,
    fit_intensity,
    get_intensity_transform,
    intensity_forward,
    intensity_inverse,
    mapping_from_window,
    mapping_key,
)
from rfr_inpaint.volume import inpaint_volume

__all__ = [
    "SPLIT_SEED_OFFSETS",
    "split_items",
    "make_dataset",
    "FixedDataset",
    "load_pretrained",
    "inference_items",
    "LoadInpaintingInputd",
    "VolumeInpaintingInferer",
    "output_path",
    "SaveInpaintedd",
]

logger = logging.getLogger(__name__)

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
    preprocessing (:func:`rfr_inpaint.data.datasets.build_transforms`, with ``load=False`` for synthetic slices).

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


def load_pretrained(
    network: torch.nn.Module, path: str | os.PathLike | None, map_location: str | torch.device = "cpu"
) -> torch.nn.Module:
    """Load weights of an earlier stage (or an authors' checkpoint) into ``network``; ``path=None`` keeps it as is.

    Used by ``finetune.json`` to start from the trained model. Accepts the bundle's ``model.pt`` (bare state dict),
    resume checkpoints (``{"network": ...}``) and the authors' files (converted).

    Args:
        network: the network (possibly DDP-wrapped).
        path: checkpoint file, or None.
        map_location: device of the loaded tensors.

    Returns:
        ``network``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file does not hold weights of this network.
    """
    if path is None or str(path) == "":
        return network
    state, is_reference = extract_state_dict(load_checkpoint(path, map_location=map_location), str(path))
    target = unwrap(network)
    if is_reference:
        state = convert_reference_state_dict(state, in_channels=getattr(target, "in_channels", 3))
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as e:
        detail = "; ".join(ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()) or str(e).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the configured network: {detail}") from e
    logger.info(f"loaded pretrained weights from {path}")
    return network


# ----------------------------------------------------------------------------------------------------------- inference
def inference_items(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    mask_suffix: str = "_mask",
    datalist_key: str = "test",
) -> list[dict[str, str]]:
    """The (image, hole mask) pairs to inpaint.

    * ``datalist``: the ``datalist_key`` list of a JSON datalist; every entry needs ``image`` and ``mask``.
    * ``dataset_dir``: every image file of the folder (not recursive) whose mask lies beside it as
      ``<name><mask_suffix><extension>`` (``ct.nii.gz`` + ``ct_mask.nii.gz``, ``cxr.png`` + ``cxr_mask.png``), and
      every DICOM series folder ``<name>`` with a mask file ``<name><mask_suffix>.<ext>``.

    Args:
        dataset_dir: the input folder.
        datalist: JSON datalist (wins over ``dataset_dir``).
        mask_suffix: suffix of the mask file names.
        datalist_key: list read from the datalist.

    Returns:
        items ``{"image": path, "mask": path}``.

    Raises:
        ValueError: no source, an entry without mask, an image without mask, or nothing to inpaint.
        FileNotFoundError: the folder does not exist.
    """
    if datalist:
        items = [dict(i) for i in load_datalist(datalist, key=datalist_key)]
        for i, item in enumerate(items):
            if "mask" not in item:
                raise ValueError(f"{datalist}: entry {i} of {datalist_key!r} ({item['image']}) has no 'mask'")
        return items
    if not dataset_dir:
        raise ValueError("inference needs a dataset_dir (images with <name>_mask files beside them) or a datalist")
    root = Path(dataset_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: input folder not found")
    known = (*FORMATS_2D, *FORMATS_3D)
    entries = sorted(root.iterdir())
    items, unmatched = [], []
    for path in entries:
        name = path.name
        suffix = next((s for s in sorted(known, key=len, reverse=True) if name.lower().endswith(s)), None)
        stem = name[: len(name) - len(suffix)] if suffix else name
        if stem.endswith(mask_suffix) or (suffix is None and not path.is_dir()):
            continue
        candidates = [root / f"{stem}{mask_suffix}{suffix}"] if suffix else []
        candidates += [root / f"{stem}{mask_suffix}{s}" for s in known if suffix is None or s != suffix]
        mask = next((c for c in candidates if c.exists()), None)
        if mask is None:
            unmatched.append(name)
            continue
        items.append({"image": str(path), "mask": str(mask)})
    if not items:
        raise ValueError(
            f"{root}: no image with a mask beside it (expected e.g. 'ct.nii.gz' + 'ct{mask_suffix}.nii.gz'); "
            f"unmatched: {unmatched[:5]}"
        )
    if unmatched:
        logger.warning(f"{root}: no '{mask_suffix}' mask for {unmatched}; these are not inpainted")
    return items


class LoadInpaintingInputd(MapTransform):
    """Read an image and its hole mask (:mod:`rfr_inpaint.image_io`) and map the image to [0, 1].

    Produces ``image`` ``(1, H, W)`` or ``(1, D, H, W)`` float32 in [0, 1] (NumPy axis order, as read), ``hole`` of
    the same shape (1 = hole), the mapping record in ``<key>_intensity_mapping`` (fitted on the known voxels of the
    slices along ``axis`` that hold the hole, as :func:`rfr_inpaint.volume.inpaint_volume` fits it) and the source
    path in ``<key>_path`` for :class:`SaveInpaintedd`.

    Args:
        keys: the image key (one).
        intensity: the invertible mapping (default: ``auto``).
        mask_key: key of the mask file path.
        hole_key: output key of the hole.
        axis: slicing axis of volumes (the inferer's).
        allow_missing_keys: MONAI option.

    Raises:
        ImageIOError / FileNotFoundError: unreadable files or a mask that does not match the image's grid (named).
        ValueError: NaN or infinite values outside the hole, or a mask covering the whole image (named).
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        intensity: IntensityMapping | None = None,
        mask_key: str = "mask",
        hole_key: str = "hole",
        axis: int = 0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.intensity = intensity if intensity is not None else get_intensity_transform()
        self.mask_key = mask_key
        self.hole_key = hole_key
        self.axis = axis

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = read_image(d[key])
            if self.mask_key not in d:
                raise KeyError(f"{image.path}: no {self.mask_key!r} entry holding its hole mask")
            hole = read_mask(d[self.mask_key], image)
            if np.issubdtype(image.array.dtype, np.floating) and not np.isfinite(image.array[~hole]).all():
                raise ValueError(f"{image.path}: image holds NaN or infinite values outside the hole mask")
            if hole.all():
                raise ValueError(f"{d[self.mask_key]}: the mask covers the whole image {image.path}; nothing is known")
            record = fit_intensity(self.intensity, image.array, hole, self.axis)
            values = np.asarray(intensity_forward(image.array, record), dtype=np.float32)
            d[mapping_key(key)] = record
            d[f"{key}_path"] = str(image.path)
            d[key] = torch.from_numpy(np.ascontiguousarray(values))[None]
            d[self.hole_key] = torch.from_numpy(hole.astype(np.float32))[None]
        return d


class VolumeInpaintingInferer(Inferer):
    """Run a 2D inpainting network on a batch of 2D images ``(N, 1, H, W)`` or 3D volumes ``(N, 1, D, H, W)``.

    Volumes are processed slice by slice along ``axis`` (0 = ``D``), only the slices that hold a hole, in batches,
    through :func:`rfr_inpaint.volume.inpaint_volume` and :class:`rfr_inpaint.inference.RFRInpainter` (padding to a
    multiple of 16, clipping, compositing). The result is composited: every pixel outside the hole is the input's.

    The :class:`~rfr_inpaint.inference.RFRInpainter` (a copy of the network with its BatchNorms folded) is built on
    the first call and reused for every later batch of the same network on the same device; the inferer therefore
    serves inference of a fixed network (call :meth:`reset` after changing its weights).

    Args:
        axis: slicing axis of volumes (in ``D, H, W`` order).
        batch_size: slices per forward pass.
    """

    def __init__(self, axis: int = 0, batch_size: int = 8) -> None:
        super().__init__()
        self.axis = axis
        self.batch_size = batch_size
        self._built: tuple[weakref.ReferenceType, torch.device, RFRInpainter] | None = None

    def reset(self) -> None:
        """Forget the inpainter built for the last network (the next call builds a new one)."""
        self._built = None

    def inpainter_for(self, network: torch.nn.Module, device: torch.device) -> RFRInpainter:
        """The inpainter of ``network`` on ``device``: built once, then reused while both stay the same."""
        if self._built is None or self._built[0]() is not network or self._built[1] != device:
            self._built = (weakref.ref(network), device, RFRInpainter(network, device=device, batch_size=self.batch_size))
        return self._built[2]

    def __call__(self, inputs: torch.Tensor, network: Callable, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Inpaint ``inputs`` where ``args[0]`` (or ``kwargs["hole"]``) is 1.

        Raises:
            ValueError: no hole given, or shapes that are not (N, 1, H, W) / (N, 1, D, H, W).
        """
        hole = args[0] if args else kwargs.get("hole")
        if hole is None:
            raise ValueError("VolumeInpaintingInferer needs the hole mask: inferer(inputs, network, hole)")
        if inputs.dim() not in (4, 5) or inputs.shape[1] != 1 or hole.shape[0] != inputs.shape[0]:
            raise ValueError(
                f"expected (N, 1, [D,] H, W) inputs and holes, got {list(inputs.shape)} / {list(hole.shape)}"
            )
        inpainter = self.inpainter_for(network, inputs.device)
        identity = mapping_from_window(0.0, 1.0, clip=True)
        out = []
        for n in range(inputs.shape[0]):
            volume = inputs[n, 0].detach().float().cpu().numpy()
            holes = hole[n, 0].detach().cpu().numpy() > 0.5
            result, _ = inpaint_volume(
                volume, holes, inpainter, axis=self.axis, margin_mm=0.0, intensity=identity, batch_size=self.batch_size
            )
            out.append(torch.from_numpy(np.asarray(result, dtype=np.float32))[None])
        return torch.stack(out).to(inputs.device)


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


class SaveInpaintedd(MapTransform):
    """Write the inpainted image in the input's format, grid, units and dtype (``rfr_inpaint.image_io.write_image``).

    The [0, 1] result is mapped back with the input's recorded intensity mapping and composited in the original
    units, so every pixel outside the hole is bit-identical to the input file's.

    Args:
        keys: key of the result (``pred``), ``(1, H, W)`` or ``(1, D, H, W)`` in [0, 1].
        output_dir: output folder.
        mapping_key: key of the mapping record written by :class:`LoadInpaintingInputd`.
        path_key: key of the source path (``image_path``).
        hole_key: key of the hole mask.
        output_postfix: added to the file name.
        overwrite: replace existing outputs.
        allow_missing_keys: MONAI option.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        output_dir: str | os.PathLike = "./eval",
        mapping_key: str = "image_intensity_mapping",
        path_key: str = "image_path",
        hole_key: str = "hole",
        output_postfix: str = "_inpainted",
        overwrite: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_dir = Path(output_dir)
        self.mapping_key = mapping_key
        self.path_key = path_key
        self.hole_key = hole_key
        self.output_postfix = output_postfix
        self.overwrite = overwrite

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            reference = read_image(d[self.path_key])
            result01 = np.asarray(torch.as_tensor(d[key]).detach().cpu().numpy(), dtype=np.float64)[0]
            hole = np.asarray(torch.as_tensor(d[self.hole_key]).detach().cpu().numpy())[0] > 0.5
            if result01.shape != reference.array.shape:
                raise ValueError(
                    f"{reference.path}: result of shape {result01.shape} does not match the image "
                    f"{reference.array.shape}"
                )
            values = intensity_inverse(result01, d[self.mapping_key], dtype=np.float64)
            result = np.where(hole, cast_to_dtype(np.asarray(values), reference.array.dtype), reference.array)
            path = output_path(reference.path, self.output_dir, self.output_postfix)
            write_image(reference, result, path, overwrite=self.overwrite)
            d[f"{key}_path"] = str(path)
            logger.info(f"wrote {path}")
        return d

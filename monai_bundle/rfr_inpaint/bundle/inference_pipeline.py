"""The pieces of the bundle's inference pipeline (``configs/inference.json``) that MONAI does not provide.

``inference.json`` reads like a model-zoo bundle: ``LoadImaged`` (with
:class:`~rfr_inpaint.bundle.image_files.MedicalImageReader`), :class:`LoadHoleMaskd`, the recorded intensity mapping
(:class:`~rfr_inpaint.transforms.dictionary.IntensityMapd`), the network through :class:`VolumeInpaintingInferer`, the
inverse mapping (:class:`~rfr_inpaint.transforms.dictionary.IntensityInversed`), :class:`KeepKnownVoxelsd` and
``SaveImaged`` (with :class:`~rfr_inpaint.bundle.image_files.MedicalImageWriter`). :func:`inference_items` pairs the
images of a folder with their masks.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.data.utils import affine_to_spacing
from monai.inferers import Inferer
from monai.transforms import MapTransform

from rfr_inpaint.bundle.image_files import medical_image_from_meta
from rfr_inpaint.data.datasets import load_datalist
from rfr_inpaint.defaults import MASK_MARGIN_MM
from rfr_inpaint.image_io import FORMATS_2D, FORMATS_3D, cast_to_dtype, read_mask
from rfr_inpaint.inference import RFRInpainter
from rfr_inpaint.transforms.intensity import mapping_from_window
from rfr_inpaint.volume import dilate_mm, inpaint_volume

__all__ = ["inference_items", "LoadHoleMaskd", "VolumeInpaintingInferer", "KeepKnownVoxelsd"]

logger = logging.getLogger(__name__)


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


class LoadHoleMaskd(MapTransform):
    """Read the hole mask of an image loaded by ``LoadImaged(reader=MedicalImageReader)``, on the image's grid.

    The mask file (``data[key]``, nonzero = hole) must match the image's shape, spacing, origin and direction
    (:func:`rfr_inpaint.image_io.read_mask`); it is dilated by ``margin_mm`` (default
    :data:`rfr_inpaint.defaults.MASK_MARGIN_MM`: none, a given mask is inpainted as drawn) and stored in
    ``hole_key`` as a float32 ``(1, [D,] H, W)`` tensor, 1 = hole.

    Args:
        keys: key of the mask file path (one).
        image_key: key of the loaded image (a MetaTensor carrying the reader's metadata).
        hole_key: output key of the hole.
        margin_mm: dilation of the mask in mm (with the image's spacing).
        allow_missing_keys: MONAI option.

    Raises:
        ImageIOError / FileNotFoundError: unreadable mask or a mask on another grid (both files named).
        ValueError: NaN or infinite values outside the hole, or a mask covering the whole image (named).
    """

    def __init__(
        self,
        keys: KeysCollection = "mask",
        image_key: str = "image",
        hole_key: str = "hole",
        margin_mm: float = MASK_MARGIN_MM,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.image_key = image_key
        self.hole_key = hole_key
        self.margin_mm = float(margin_mm)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[self.image_key]
            reference = medical_image_from_meta(image[0], image.meta)
            hole = dilate_mm(read_mask(d[key], reference), self.margin_mm, reference.spacing_numpy)
            values = reference.array
            if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values[~hole]).all():
                raise ValueError(f"{reference.path}: image holds NaN or infinite values outside the hole mask")
            if hole.all():
                raise ValueError(f"{d[key]}: the mask covers the whole image {reference.path}; nothing is known")
            d[self.hole_key] = torch.from_numpy(hole.astype(np.float32))[None]
        return d


class VolumeInpaintingInferer(Inferer):
    """Run a 2D inpainting network on a batch of 2D images ``(N, 1, H, W)`` or 3D volumes ``(N, 1, D, H, W)``.

    Volumes are processed slice by slice along ``axis`` (0 = ``D``), only the slices that hold a hole, in batches,
    through :func:`rfr_inpaint.volume.inpaint_volume` and :class:`rfr_inpaint.inference.RFRInpainter` (padding to a
    multiple of 16, clipping, compositing). The result is composited: every pixel outside the hole is the input's.

    Any RFR-Net variant runs here: :class:`~rfr_inpaint.inference.RFRInpainter` builds the guide of a guided network
    (``prior`` / ``context_slices``) itself, from a volume's slab (its 3-D prior, each slice's neighbours) or, for a
    2-D image, from the image alone (the 2-D prior, the image as its own neighbour). Each item of the batch is its own
    image or volume, never a neighbour of the next one. This is why ``inference.json`` and ``evaluate.json`` use this
    inferer: a plain ``SimpleInferer`` calls ``network(image, hole)``, which a guided network refuses.

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
            self._built = (
                weakref.ref(network),
                device,
                RFRInpainter(network, device=device, batch_size=self.batch_size),
            )
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
                volume,
                holes,
                inpainter,
                axis=self.axis,
                spacing=_array_spacing(inputs, n),
                margin_mm=0.0,
                intensity=identity,
                batch_size=self.batch_size,
            )
            out.append(torch.from_numpy(np.asarray(result, dtype=np.float32))[None])
        return torch.stack(out).to(inputs.device)


def _array_spacing(inputs: torch.Tensor, n: int) -> tuple[float, ...] | None:
    """The voxel size of sample ``n``'s array axes, from a MetaTensor's affine (the bundle's reader writes it in
    NumPy index order); None for a plain tensor (``inpaint_volume`` then takes 1 mm)."""
    if not isinstance(inputs, MetaTensor):
        return None
    affine = inputs.affine
    affine = affine[n] if affine.ndim == 3 else affine
    return tuple(float(s) for s in affine_to_spacing(affine, r=inputs.dim() - 2))


class KeepKnownVoxelsd(MapTransform):
    """Composite a result with the original image: outside the hole every voxel is the original's, bit for bit.

    The result (``data[key]``, in the original units, e.g. after
    :class:`~rfr_inpaint.transforms.dictionary.IntensityInversed`) is cast to the original's dtype (integers rounded
    and clipped) in the hole; the output is a copy of ``data[original_key]`` (its MetaTensor metadata included, so
    ``SaveImaged`` writes it on the original's grid).

    Args:
        keys: key(s) of the results.
        original_key: key of the original image (e.g. copied by ``CopyItemsd`` before the intensity mapping).
        hole_key: key of the hole mask, 1 = hole.
        allow_missing_keys: MONAI option.

    Raises:
        ValueError: the result, original and hole shapes differ.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        original_key: str = "original",
        hole_key: str = "hole",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.original_key = original_key
        self.hole_key = hole_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        original = d[self.original_key]
        base = original.detach().cpu().numpy() if isinstance(original, torch.Tensor) else np.asarray(original)
        hole = np.asarray(torch.as_tensor(d[self.hole_key]).detach().cpu().numpy()) > 0.5
        for key in self.key_iterator(d):
            result = d[key]
            values = np.asarray(result.detach().cpu().numpy() if isinstance(result, torch.Tensor) else result)
            if not (values.shape == base.shape == hole.shape):
                raise ValueError(
                    f"{key} of shape {values.shape}, {self.original_key} {base.shape} and {self.hole_key} {hole.shape} "
                    "differ"
                )
            out = base.copy()
            out[hole] = cast_to_dtype(values[hole], base.dtype)
            meta = getattr(original, "meta", None)
            d[key] = MetaTensor(torch.from_numpy(out), meta=dict(meta)) if meta is not None else out
        return d

"""RFR-Net inference on stacks of 2D slices (the project's inpainter interface), full-slice or by region of interest.

Two modes (see ``docs/performance.md``):

* ``"full"``: every slice that holds a hole runs through the network whole (the exact path).
* ``"roi"`` (default): each connected hole component of a slice gets a crop with ``context`` known pixels around its
  bounding box; components whose crops would overlap share one crop. Crop sides are rounded up to a few bucket sizes
  (multiples of 16) so that crops of many slices batch together; each crop's prediction is pasted back on the hole
  pixels of its own components only. A slice whose crops would cover more than ``full_fraction`` of it runs whole.

Peak memory of a forward is estimated before it runs (:func:`estimate_forward_bytes`); batches shrink to fit
``memory_limit_gib`` and an input that cannot fit even alone is refused with a message giving its size and the limit.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from .guides import PRIOR_CONTEXT_SLICES, prior_fill, slice_guide
from .networks import RFRNet, composite, load_network
from .networks.rfr_module import RFRModule
from .networks.rfrnet import Bottleneck

__all__ = [
    "DEFAULT_CONTEXT",
    "MODES",
    "RFRInpainter",
    "Roi",
    "bucket_size",
    "estimate_forward_bytes",
    "fuse_for_inference",
    "plan_rois",
    "resolve_device",
]

#: default number of known pixels kept around each hole component's bounding box in ROI mode (chosen by the
#: quality measurement of ``bench/bench_volume.py``, recorded in ``bench/README.md``).
DEFAULT_CONTEXT = 16
#: inference modes of :class:`RFRInpainter`.
MODES = ("roi", "full")

# Peak memory model of one RFR-Net forward without autograd, in bytes, for a padded H x W input: the attention scores
# (h*w)^2 with h, w = H/8, W/8 (kept for the next recurrence, the floor), three chunks of score temporaries, feature
# maps proportional to H*W, and a fixed part (allocator and oneDNN scratch). Fit, with a margin, to the peaks measured
# by ``bench/bench_memory.py`` (float32, CPU; see bench/README.md).
_SCORE_BYTES = 4
# Above this many hole components in a slice, plan_rois pre-groups them by a dilation before merging boxes.
_MANY_COMPONENTS = 256
_FEATURE_BYTES_PER_PIXEL = 800
_FIXED_BYTES = 100 * 2**20


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def estimate_forward_bytes(height: int, width: int, batch: int = 1, chunk_elements: int = 1 << 24) -> int:
    """Estimated peak memory of a float32 RFR-Net forward without autograd (weights not included).

    Args:
        height: image height (padded up to a multiple of 16 here).
        width: image width.
        batch: images per forward.
        chunk_elements: the attention's chunk size (``RFRNet(attention_chunk_elements=...)``).

    Returns:
        bytes: per image the attention scores ``(H/8 * W/8)^2`` (float32), three chunks of score temporaries and
        800 bytes of features per pixel, plus 100 MiB once.
    """
    h = math.ceil(height / 16) * 16
    w = math.ceil(width / 16) * 16
    positions = (h // 8) * (w // 8)
    chunk = min(positions * positions, max(chunk_elements, positions * (w // 8)))
    per_image = _SCORE_BYTES * (positions * positions + 3 * chunk) + _FEATURE_BYTES_PER_PIXEL * h * w
    return int(batch * per_image + _FIXED_BYTES)


def _available_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def bucket_size(n: int, limit: int, multiple: int = 16) -> int:
    """Round a crop side up to a bucket so that crops of similar size share a shape (and a batch).

    Sides are multiples of ``multiple`` up to ``8 * multiple``, of ``2 * multiple`` up to ``16 * multiple`` and of
    ``4 * multiple`` above (16, 32, ... 128, 160, ... 256, 320, ... for 16); never more than ``limit`` (the image side).

    Args:
        n: wanted side in pixels.
        limit: the image's side.
        multiple: the network's size divisor.

    Returns:
        the crop side.
    """
    step = multiple if n <= 8 * multiple else (2 * multiple if n <= 16 * multiple else 4 * multiple)
    return int(min(limit, math.ceil(max(n, 1) / step) * step))


@dataclass(frozen=True)
class Roi:
    """One crop of a slice: the window ``[y0:y0+height, x0:x0+width]`` and the hole pixels it writes back.

    Attributes:
        index: slice index in the stack.
        y0: top row.
        x0: left column.
        height: crop height.
        width: crop width.
        own: (height, width) bool, the hole pixels of this crop's components (other holes inside the crop are
            masked as holes too, but filled by their own crop).
    """

    index: int
    y0: int
    x0: int
    height: int
    width: int
    own: np.ndarray

    @property
    def window(self) -> tuple[slice, slice]:
        """The crop's (rows, columns) slices."""
        return slice(self.y0, self.y0 + self.height), slice(self.x0, self.x0 + self.width)


def _merge_boxes(boxes: np.ndarray) -> np.ndarray:
    """Group boxes (K, 4) ``[y0, y1, x0, x1)`` whose rectangles intersect, until no two groups' boxes intersect.

    Returns the group index of every box.
    """
    group = np.arange(len(boxes))
    current = boxes
    while True:
        y0, y1, x0, x1 = (current[:, i] for i in range(4))
        hit = (y0[:, None] < y1[None, :]) & (y0[None, :] < y1[:, None])
        hit &= (x0[:, None] < x1[None, :]) & (x0[None, :] < x1[:, None])
        n, labels = connected_components(coo_matrix(hit), directed=False)
        group = labels[group]
        if n == len(current):
            return group
        merged = np.empty((n, 4), dtype=current.dtype)
        for g in range(n):
            sel = current[labels == g]
            merged[g] = (sel[:, 0].min(), sel[:, 1].max(), sel[:, 2].min(), sel[:, 3].max())
        current = merged


def plan_rois(
    hole: np.ndarray,
    context: int = DEFAULT_CONTEXT,
    multiple: int = 16,
    full_fraction: float = 0.5,
    index: int = 0,
) -> list[Roi]:
    """Crops covering the hole of one slice, each with at least ``context`` known pixels around its components.

    Hole components (8-connected) get their bounding box grown by ``context`` on every side (clipped to the image);
    components whose grown boxes intersect are merged into one crop, repeatedly. Each crop's sides are rounded up by
    :func:`bucket_size` and the crop is centred on its box and shifted inside the image. If the crops would cover
    more than ``full_fraction`` of the slice, one crop of the whole slice is returned instead.

    Args:
        hole: (H, W) bool, True = hole.
        context: known pixels kept around each component's bounding box (>= 0).
        multiple: crop sides are multiples of this (the network's divisor), unless a side is the whole image.
        full_fraction: above this fraction of the slice area covered by crops, the slice runs whole.
        index: slice index stored in the returned crops.

    Returns:
        the crops (empty for a slice without hole); every hole pixel is in exactly one crop's ``own``.

    Raises:
        ValueError: ``hole`` is not 2-D, or ``context`` is negative.
    """
    hole = np.asarray(hole, dtype=bool)
    if hole.ndim != 2:
        raise ValueError(f"plan_rois expects one (H, W) hole mask, got shape {hole.shape}")
    if context < 0:
        raise ValueError(f"context must be >= 0 pixels, got {context}")
    height, width = hole.shape
    labels, count = ndimage.label(hole, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return []
    objects = ndimage.find_objects(labels)
    boxes = np.array(
        [
            (max(0, s[0].start - context), min(height, s[0].stop + context),
             max(0, s[1].start - context), min(width, s[1].stop + context))
            for s in objects
        ],
        dtype=np.int64,
    )
    if count > _MANY_COMPONENTS:
        # Many small components (speckle): group them first by the hole dilated by ``context`` (a cheap pass), so
        # that the pairwise box merging below works on few boxes.
        grown = ndimage.maximum_filter(hole.view(np.uint8), size=2 * context + 1) if context else hole.view(np.uint8)
        pre, n_pre = ndimage.label(grown, structure=np.ones((3, 3), dtype=bool))
        pre_of = np.asarray(ndimage.maximum(pre, labels, np.arange(1, count + 1)), dtype=np.int64) - 1
        pre_boxes = np.empty((n_pre, 4), dtype=np.int64)
        pre_boxes[:, [0, 2]] = np.iinfo(np.int64).max
        pre_boxes[:, [1, 3]] = np.iinfo(np.int64).min
        for col, reduce in ((0, np.minimum), (1, np.maximum), (2, np.minimum), (3, np.maximum)):
            reduce.at(pre_boxes[:, col], pre_of, boxes[:, col])
        group = _merge_boxes(pre_boxes)[pre_of]
    else:
        group = _merge_boxes(boxes)
    rois: list[Roi] = []
    area = 0
    for g in range(group.max() + 1):
        members = np.flatnonzero(group == g)
        sel = boxes[members]
        y0, y1, x0, x1 = sel[:, 0].min(), sel[:, 1].max(), sel[:, 2].min(), sel[:, 3].max()
        ch = bucket_size(int(y1 - y0), height, multiple)
        cw = bucket_size(int(x1 - x0), width, multiple)
        cy0 = int(min(max(0, (y0 + y1 - ch) // 2), height - ch))
        cx0 = int(min(max(0, (x0 + x1 - cw) // 2), width - cw))
        crop_labels = labels[cy0 : cy0 + ch, cx0 : cx0 + cw]
        own = np.isin(crop_labels, members + 1)
        rois.append(Roi(index, cy0, cx0, ch, cw, own))
        area += ch * cw
    if area > full_fraction * height * width:
        return [Roi(index, 0, 0, height, width, hole.copy())]
    return rois


class ChannelBias(nn.Module):
    """Adds a per-channel bias: what is left of a BatchNorm whose scale was folded into a partial convolution."""

    def __init__(self, bias: torch.Tensor):
        super().__init__()
        self.register_buffer("bias", bias.detach().clone().view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.to(x.dtype)


def _fused_weights(
    conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d, bias: torch.Tensor | None
) -> tuple[nn.Parameter, nn.Parameter]:
    """Weight and bias of ``conv`` followed by the eval-mode ``bn`` (PyTorch's ``fuse_conv_bn_weights``)."""
    transpose = isinstance(conv, nn.ConvTranspose2d)
    return fuse_conv_bn_weights(
        conv.weight, bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias, transpose=transpose
    )


def _fold_into_conv(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    conv.weight, conv.bias = _fused_weights(conv, bn, conv.bias)


def fuse_for_inference(network: RFRNet, inplace: bool = False) -> RFRNet:
    """Fold every BatchNorm of an RFR-Net into the preceding convolution (inference only).

    A BatchNorm in eval mode is the affine map ``y * s + t`` per channel. After a plain or transposed convolution it
    becomes the convolution's weight times ``s`` and a bias ``t``; after a partial convolution (whose output is
    renormalised per pixel) ``s`` goes into the weight and ``t`` remains as a :class:`ChannelBias`. The results
    equal the plain network's up to float32 rounding (tested to 1e-4).

    Args:
        network: the network (its BatchNorms use their running statistics).
        inplace: modify ``network`` itself instead of a copy.

    Returns:
        the fused network in eval mode (it must not be trained: the BatchNorms are gone).
    """
    net = network if inplace else copy.deepcopy(network)
    net.eval()
    for pconv, bn_name in ((net.head_pconv1, "head_bn1"), (net.head_pconv2, "head_bn2"), (net.step_pconv2, "step_bn")):
        bn = getattr(net, bn_name)
        if isinstance(bn, nn.BatchNorm2d):
            # the bias-free partial convolution renormalises its output: only the scale goes into its weight
            pconv.weight, shift = _fused_weights(pconv, bn, None)
            setattr(net, bn_name, ChannelBias(shift))
    if isinstance(net.up_bn, nn.BatchNorm2d):
        _fold_into_conv(net.up_deconv, net.up_bn)
        net.up_bn = nn.Identity()
    for module in net.modules():
        if isinstance(module, RFRModule):
            for child in module.children():
                if isinstance(child, nn.Sequential) and len(child) == 3 and isinstance(child[1], nn.BatchNorm2d):
                    _fold_into_conv(child[0], child[1])
                    child[1] = nn.Identity()
        elif isinstance(module, Bottleneck):
            for i in (1, 2, 3):
                bn = getattr(module, f"bn{i}")
                if isinstance(bn, nn.BatchNorm2d):
                    _fold_into_conv(getattr(module, f"conv{i}"), bn)
                    setattr(module, f"bn{i}", nn.Identity())
    return net


class _SliceGuides:
    """Guide channels of the slices of one stack, built once per slice (:mod:`rfr_inpaint.guides`)."""

    def __init__(
        self, network: nn.Module, images: np.ndarray, holes: np.ndarray, spacing: tuple[float, ...] | None
    ) -> None:
        self.prior = bool(getattr(network, "prior", False))
        self.context_slices = int(getattr(network, "context_slices", 0))
        self.holes = holes
        exponent = getattr(network, "prior_spacing_exponent", 0.0)
        self.filled = prior_fill(images, holes, consecutive=True, spacing=spacing, spacing_exponent=exponent)
        self._cache: dict[int, np.ndarray] = {}

    def crop(self, roi: Roi) -> np.ndarray:
        """The (G, height, width) guide of a crop."""
        if roi.index not in self._cache:
            self._cache[roi.index] = slice_guide(self.filled, self.holes, roi.index, self.prior, self.context_slices)
        return self._cache[roi.index][(slice(None), *roi.window)]


class RFRInpainter:
    """Inpaint stacks of slices with an RFR-Net: only holes run, in batches, results composited.

    A guided network (``prior`` / ``context_slices``, see :class:`~rfr_inpaint.networks.RFRNet`) is *volumetric*:
    it gets consecutive slices, their 3-D biharmonic prior and each slice's neighbours (:mod:`rfr_inpaint.guides`).

    Args:
        network: an :class:`RFRNet` or a checkpoint path (this project's or the authors', see
            :func:`rfr_inpaint.networks.load_network`). A given network is not modified (``fuse`` works on a copy).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        batch_size: images (slices or crops) per forward pass; lowered automatically to fit ``memory_limit_gib``.
        progress: optional callback ``progress(done, total)`` called after each forward pass, counting the
            images run (whole slices in ``"full"`` mode, crops in ``"roi"`` mode).
        mode: ``"roi"`` (crops around hole components, default) or ``"full"`` (whole slices; the exact path).
        context: ROI mode: known pixels kept around each hole component's bounding box (see :func:`plan_rois`).
        full_fraction: ROI mode: a slice whose crops would cover more than this fraction of it runs whole.
        fuse: fold the BatchNorms into the convolutions (:func:`fuse_for_inference`); same results within 1e-4.
        channels_last: run the network in ``torch.channels_last`` memory format (default; same results within 1e-4,
            measured faster on CPU together with ``fuse``).
        memory_limit_gib: peak memory allowed for one forward; ``None``: 80% of the device's available memory.

    Call with ``images`` (N, H, W) float32 in [0, 1] and ``holes`` (N, H, W) bool; returns (N, H, W) float32 where
    known pixels are bit-identical to the input and hole pixels hold the prediction clipped to [0, 1].

    Raises:
        ValueError: unknown mode, negative context, bad ``full_fraction``.

    Examples::

        inpainter = RFRInpainter("model.pt", device="cpu")            # ROI mode, context 16 px
        filled = inpainter(images, holes)
        exact = RFRInpainter("model.pt", mode="full")(images, holes)  # whole slices
    """

    def __init__(
        self,
        network: RFRNet | str | os.PathLike,
        device: str | torch.device = "auto",
        batch_size: int = 8,
        progress: Callable[[int, int], None] | None = None,
        mode: str = "roi",
        context: int = DEFAULT_CONTEXT,
        full_fraction: float = 0.5,
        fuse: bool = True,
        channels_last: bool = True,
        memory_limit_gib: float | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown RFRInpainter mode {mode!r}; choose one of {', '.join(MODES)}")
        if int(context) < 0:
            raise ValueError(f"context must be >= 0 pixels, got {context}")
        if not 0.0 < float(full_fraction) <= 1.0:
            raise ValueError(f"full_fraction must be in (0, 1], got {full_fraction}")
        if memory_limit_gib is not None and not memory_limit_gib > 0:
            raise ValueError(f"memory_limit_gib must be > 0, got {memory_limit_gib}")
        self.device = resolve_device(device)
        if isinstance(network, (str, os.PathLike, Path)):
            network = load_network(network, map_location="cpu")
        if fuse and isinstance(network, RFRNet):
            network = fuse_for_inference(network)  # a copy: the caller's network is left as it is
        network = network.eval()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.network = network.to(self.device, memory_format=self.memory_format)
        self.batch_size = max(1, int(batch_size))
        self.progress = progress
        self.mode = mode
        self.context = int(context)
        self.full_fraction = float(full_fraction)
        self.memory_limit_gib = memory_limit_gib

    def memory_limit_bytes(self) -> int:
        """The peak memory one forward may use: ``memory_limit_gib`` or 80% of the device's available memory."""
        if self.memory_limit_gib is not None:
            return int(self.memory_limit_gib * 2**30)
        return int(0.8 * _available_memory_bytes(self.device))

    def _chunk_elements(self) -> int:
        kca = getattr(getattr(getattr(self.network, "rfr", None), "attention", None), "kca", None)
        return int(getattr(kca, "chunk_elements", 1 << 24))

    def _batches(self, count: int, height: int, width: int) -> Iterator[tuple[int, int]]:
        """(start, stop) of the forwards for ``count`` images of ``height`` x ``width``, each within the limit."""
        limit = self.memory_limit_bytes()
        one = estimate_forward_bytes(height, width, 1, self._chunk_elements())
        if one > limit:
            raise MemoryError(
                f"an RFR-Net forward on a {height} x {width} image needs about {one / 2**30:.2f} GiB, more than the "
                f"limit of {limit / 2**30:.2f} GiB (memory_limit_gib); use ROI mode with smaller holes, a smaller "
                f"image, or raise the limit"
            )
        per_image = one - estimate_forward_bytes(height, width, 0, self._chunk_elements())
        size = max(1, min(self.batch_size, (limit - one) // per_image + 1))
        for start in range(0, count, size):
            yield start, min(count, start + size)

    @property
    def guided(self) -> bool:
        """Whether the network is a variant with guide channels (classical prior and / or context slices)."""
        return int(getattr(self.network, "guide_channels", 0)) > 0

    @property
    def volumetric(self) -> bool:
        """A guided network reads neighbouring slices and the 3-D prior: :func:`rfr_inpaint.volume.inpaint_volume`
        then gives it consecutive slices (see :meth:`__call__`)."""
        return self.guided

    @property
    def uses_spacing(self) -> bool:
        """A guided network builds its 3-D prior with the voxel size (``prior_spacing_exponent``): the volume path
        then passes ``spacing`` to :meth:`__call__`."""
        return self.guided

    @property
    def context_slices(self) -> int:
        """Slices beyond the hole that a guided network reads: its neighbours, and those of the 3-D prior (which
        also fills the neighbours' holes, so it is read without a prior channel too)."""
        if not self.guided:
            return 0
        return max(int(getattr(self.network, "context_slices", 0)), PRIOR_CONTEXT_SLICES)

    @torch.inference_mode()
    def predict(self, images: torch.Tensor, holes: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        """Composited prediction for a (B, C, H, W) batch already on the right device (``guide``: (B, G, H, W) for
        a guided network)."""
        images = images.contiguous(memory_format=self.memory_format)
        holes = holes.contiguous(memory_format=self.memory_format)
        if guide is None:
            pred = self.network(images, holes)
        else:
            pred = self.network(images, holes, guide.contiguous(memory_format=self.memory_format))
        return composite(images, pred.float().clamp_(0.0, 1.0), holes).contiguous()

    def plan(self, holes: np.ndarray) -> list[Roi]:
        """The crops this inpainter runs for a (N, H, W) hole stack (whole slices in ``"full"`` mode)."""
        holes = np.asarray(holes).astype(bool)
        rois: list[Roi] = []
        n, height, width = holes.shape
        for i in range(n):
            if not holes[i].any():
                continue
            if self.mode == "full":
                rois.append(Roi(i, 0, 0, height, width, holes[i].copy()))
            else:
                rois.extend(plan_rois(holes[i], self.context, 16, self.full_fraction, index=i))
        return rois

    def inpaint_slices(self, images: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """Inpaint independent 2-D images (not slices of one volume): a guided network sees each image alone (2-D
        prior, the image as its own neighbour); other networks run as in :meth:`__call__`.

        Args:
            images: (N, H, W) float32 in [0, 1].
            holes: (N, H, W) bool, True = hole.

        Returns:
            (N, H, W) float32, known pixels bit-identical.
        """
        if not self.guided:
            return self(images, holes)
        images = np.asarray(images, dtype=np.float32)
        holes = np.asarray(holes).astype(bool)
        if images.ndim != 3 or images.shape != holes.shape:
            raise ValueError(f"expected (N, H, W) images and holes of one shape, got {images.shape} and {holes.shape}")
        return np.concatenate([self(images[i : i + 1], holes[i : i + 1]) for i in range(images.shape[0])])

    def __call__(
        self, images: np.ndarray, holes: np.ndarray, spacing: tuple[float, float, float] | None = None
    ) -> np.ndarray:
        """Inpaint a slice stack.

        For a guided network the stack is taken as consecutive slices of one volume (the 3-D prior and the
        neighbouring slices come from it; :meth:`inpaint_slices` inpaints unrelated images).

        Args:
            images: (N, H, W) float32 in [0, 1].
            holes: (N, H, W) bool, True = hole.
            spacing: voxel size of the stack's axes, slice axis first (mm), for a network whose prior knows the
                spacing (``prior_spacing_exponent``); ``None``: 1 on every axis.

        Returns:
            (N, H, W) float32: the input with the hole pixels replaced by the prediction.

        Raises:
            ValueError: shapes differ or are not (N, H, W).
            MemoryError: one image (slice or crop) needs more than the memory limit.
        """
        images = np.asarray(images, dtype=np.float32)
        holes = np.asarray(holes).astype(bool)
        if images.ndim != 3 or images.shape != holes.shape:
            raise ValueError(f"expected (N, H, W) images and holes of one shape, got {images.shape} and {holes.shape}")
        result = images.copy()
        rois = self.plan(holes)
        guides = _SliceGuides(self.network, images, holes, spacing) if self.guided and rois else None
        groups: dict[tuple[int, int], list[Roi]] = {}
        for roi in rois:
            groups.setdefault((roi.height, roi.width), []).append(roi)
        total, done = len(rois), 0
        for (height, width), members in sorted(groups.items(), key=lambda kv: -kv[0][0] * kv[0][1]):
            for start, stop in self._batches(len(members), height, width):
                batch = members[start:stop]
                x = np.stack([images[r.index][r.window] for r in batch])[:, None]
                h = np.stack([holes[r.index][r.window] for r in batch])[:, None].astype(np.float32)
                g = None
                if guides is not None:
                    g = torch.from_numpy(np.stack([guides.crop(r) for r in batch])).to(self.device)
                out = self.predict(torch.from_numpy(x).to(self.device), torch.from_numpy(h).to(self.device), g)
                out = out[:, 0].cpu().numpy()
                # Only the crop's own hole pixels are written: known pixels stay the input's, bit for bit.
                for k, roi in enumerate(batch):
                    result[roi.index][roi.window][roi.own] = out[k][roi.own]
                done += len(batch)
                if self.progress is not None:
                    self.progress(done, total)
        return result


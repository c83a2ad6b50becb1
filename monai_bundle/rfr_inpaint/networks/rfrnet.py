"""RFR-Net (Li et al., "Recurrent Feature Reasoning for Image Inpainting", CVPR 2020)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..baselines import SelfTunedBiharmonic3DInpainter
from ..guides import AUTO_SPACING_EXPONENT, SpacingExponent, prior_spacing_option
from .partial_conv import PartialConv2d
from .rfr_module import RFRModule

__all__ = ["RFRNet", "Bottleneck", "composite", "guide_channels", "pad_to_multiple"]


#: reasoning steps of the paper (networks with another count record theirs in a ``recurrence_config`` buffer).
DEFAULT_RECURRENCES = 6

#: prior channels: the 3-D biharmonic fill (the base the network corrects) and the 2-D (slice-wise) one; which is
#: better depends on the slice thickness, so the network sees both.
PRIOR_CHANNELS = 2


def guide_channels(prior: bool, context_slices: int) -> int:
    """Channels of an :class:`RFRNet` guide: none for the authors' network; else the two prior fills (if ``prior``),
    the slice's own hole, and an image and a hole channel for each of the ``2 * context_slices`` neighbouring slices."""
    if not prior and context_slices <= 0:
        return 0
    return PRIOR_CHANNELS * int(bool(prior)) + 1 + 4 * int(context_slices)


class Bottleneck(nn.Module):
    """Residual bottleneck (1x1 reduce, 3x3, 1x1 expand) of the network's tail."""

    def __init__(self, channels: int = 32, reduced: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, reduced, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(reduced)
        self.conv2 = nn.Conv2d(reduced, reduced, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(reduced)
        self.conv3 = nn.Conv2d(reduced, channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + x)


def pad_to_multiple(x: torch.Tensor, multiple: int = 16) -> tuple[torch.Tensor, list[int]]:
    """Pad the two spatial dimensions of ``x`` up to a multiple of ``multiple``, split evenly on both sides.

    Reflection padding is used where the image is larger than the padding (edge replication otherwise, e.g. for
    images a few pixels wide), so the padding looks like the image's own border rather than a step edge.

    Args:
        x: (N, C, H, W) tensor.
        multiple: the size divisor.

    Returns:
        the padded tensor and the padding ``[left, right, top, bottom]`` (for :func:`crop_padding`).
    """
    h, w = x.shape[-2], x.shape[-1]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    pad = [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]
    if ph == 0 and pw == 0:
        return x, pad
    mode = "reflect" if (max(pad[0], pad[1]) < w and max(pad[2], pad[3]) < h) else "replicate"
    return F.pad(x, pad, mode=mode), pad


def crop_padding(x: torch.Tensor, pad: list[int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`."""
    h, w = x.shape[-2], x.shape[-1]
    return x[..., pad[2] : h - pad[3], pad[0] : w - pad[1]]


def composite(image: torch.Tensor, prediction: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Keep the known pixels of ``image`` and take ``prediction`` inside the hole.

    Args:
        image: (N, C, H, W) input image.
        prediction: (N, C, H, W) raw network output.
        hole: (N, 1 or C, H, W) mask, 1 = hole.

    Returns:
        ``prediction`` where ``hole`` is 1, ``image`` elsewhere (selected, not blended, so known pixels are exact).
    """
    return torch.where(hole > 0.5, prediction.to(image.dtype), image)


class RFRNet(nn.Module):
    """RFR-Net: partial-convolution head, a recurrent feature reasoning module applied ``num_recurrences`` times
    with knowledge-consistent attention, adaptive merging of the recurrences, and a partial-convolution tail.

    The forward pass follows the authors' public implementation exactly (see ``docs/network.md``); checkpoints of
    the authors' code load through :func:`rfr_inpaint.networks.reference.convert_reference_state_dict`.

    Mask convention: ``hole`` is **1 in the hole, 0 on known pixels**. The network masks the image itself, so the
    hole's content never leaks into the result. Inputs of any size are padded to a multiple of 16
    (:func:`pad_to_multiple`): padded pixels take the reflected image and reflected hole, so they act as known
    context where the border is known. The output is cropped back to the input size.

    Args:
        in_channels: image channels (1 for grayscale medical images; 3 reproduces the authors' RGB network).
        num_recurrences: reasoning steps (6 in the paper).
        small_hole: the authors' "smaller hole" variant (5x5 instead of 7x7 kernels in three head layers).
        image_mask_channels: how many channels the image's mask counts for in the partial convolutions'
            renormalisation; defaults to ``in_channels``. A one-channel network converted from an RGB checkpoint
            uses 3 so that it reproduces the RGB network on a replicated gray image exactly.
        attention_chunk_elements: maximum attention scores computed at once per sample (memory bound of the
            attention's temporaries; the result does not depend on it).
        width: feature channels of the head and tail (64 in the paper; the reasoning module's stages are 2x, 4x and
            8x as wide). Narrower networks fit a CPU budget.
        prior: the network receives classical fills of the hole (the 3-D and the 2-D biharmonic fill, the first two
            guide channels) and predicts a correction to the first: the output is ``prior + out_conv(...)`` with
            ``out_conv`` initialised to zero, so an untrained network returns the 3-D biharmonic fill exactly.
        context_slices: 2.5D input: the ``k`` slices on each side of the slice to inpaint, each with its own hole,
            come as guide channels (see :func:`guide_channels`).
        prior_spacing_exponent: how the 3-D prior fill is made (the guide's recipe, not used by the forward pass):
            0 is ``biharmonic3d`` (every axis one unit apart), ``e > 0`` is ``biharmonic3d_mm`` with the axes weighted
            by ``(min(spacing) / spacing) ** e``, ``"auto"`` is ``biharmonic3d_auto`` (the exponent chosen for each
            stack, :func:`rfr_inpaint.guides.prior_inpainter`). Recorded in a ``prior_config`` buffer when not 0
            (``[e]``, or ``[1, 1]`` for ``"auto"``), so that inference builds the prior the network was trained on.

    The guide (``prior`` and/or ``context_slices``) is a tensor of :func:`guide_channels` channels passed as
    ``forward(image, hole, guide)``, known at every pixel: ``[3-D prior fill, 2-D prior fill (if prior)] + [hole of the slice] +
    [neighbour image (its hole filled by the prior), neighbour hole] for each of the 2k neighbours (offsets -1, +1,
    -2, +2, ...)``. Its channels enter the head's and the tail's partial convolutions as valid everywhere, so with a guide
    the reasoning module's masks are complete after the head (the guide tells every pixel something) and the
    recurrences refine features instead of growing them into the hole. Without guide the network is the authors'.

    Examples::

        >>> net = RFRNet(in_channels=1).eval()
        >>> image, hole = torch.rand(2, 1, 100, 120), torch.zeros(2, 1, 100, 120)
        >>> hole[:, :, 40:60, 50:70] = 1
        >>> pred = net(image, hole)                # raw prediction, (2, 1, 100, 120)
        >>> result = composite(image, pred, hole)  # known pixels kept
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_recurrences: int = DEFAULT_RECURRENCES,
        small_hole: bool = False,
        image_mask_channels: Optional[int] = None,
        attention_chunk_elements: int = 1 << 24,
        width: int = 64,
        prior: bool = False,
        context_slices: int = 0,
        prior_spacing_exponent: SpacingExponent = 0.0,
    ):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if num_recurrences < 1:
            raise ValueError(f"num_recurrences must be >= 1, got {num_recurrences}")
        if width < 8 or width % 8:
            raise ValueError(f"width must be a multiple of 8 (>= 8), got {width}")
        if context_slices < 0:
            raise ValueError(f"context_slices must be >= 0, got {context_slices}")
        spacing_exponent = prior_spacing_option(prior_spacing_exponent)
        if spacing_exponent and not prior:
            raise ValueError(f"prior_spacing_exponent needs prior=True, got {prior_spacing_exponent!r}")
        self.in_channels = in_channels
        self.num_recurrences = num_recurrences
        self.small_hole = small_hole
        self.width = width
        self.prior = bool(prior)
        self.context_slices = int(context_slices)
        self.prior_spacing_exponent = spacing_exponent
        self.guide_channels = guide_channels(self.prior, self.context_slices)
        k, p = (5, 2) if small_hole else (7, 3)
        # A buffer, so that a converted network's setting travels with its state dict.
        self.register_buffer(
            "image_mask_channels", torch.tensor(float(image_mask_channels if image_mask_channels else in_channels))
        )
        if self.guide_channels:
            # only variants carry it: the authors' network keeps the authors' keys
            self.register_buffer("guide_config", torch.tensor([int(self.prior), self.context_slices]))
        if self.prior_spacing_exponent == AUTO_SPACING_EXPONENT:
            # [the exponent a tie keeps, chosen per stack]: a second element, so older readers still see a number
            self.register_buffer("prior_config", torch.tensor([SelfTunedBiharmonic3DInpainter.SPACING_EXPONENT, 1.0]))
        elif self.prior_spacing_exponent:
            self.register_buffer("prior_config", torch.tensor([self.prior_spacing_exponent]))
        if num_recurrences != DEFAULT_RECURRENCES:
            # only then: the paper's count keeps the authors' keys, and checkpoints without the buffer mean it
            self.register_buffer("recurrence_config", torch.tensor(int(num_recurrences)))
        g = self.guide_channels
        self.head_pconv1 = PartialConv2d(in_channels + g, width, 7, stride=2, padding=3)
        self.head_bn1 = nn.BatchNorm2d(width)
        self.head_pconv2 = PartialConv2d(width, width, k, stride=1, padding=p)
        self.head_bn2 = nn.BatchNorm2d(width)
        self.step_pconv1 = PartialConv2d(width, width, k, stride=1, padding=p)
        self.step_pconv2 = PartialConv2d(width, width, k, stride=1, padding=p)
        self.step_bn = nn.BatchNorm2d(width)
        self.rfr = RFRModule(width, attention_chunk_elements)
        self.up_deconv = nn.ConvTranspose2d(width, width, 4, stride=2, padding=1, bias=False)
        self.up_bn = nn.BatchNorm2d(width)
        self.tail_pconv = PartialConv2d(in_channels + g + width, width // 2, 3, stride=1, padding=1)
        self.tail_bottleneck = Bottleneck(width // 2, width // 8)
        self.out_conv = nn.Conv2d(width, in_channels, 3, padding=1, bias=False)
        if self.prior:
            nn.init.zeros_(self.out_conv.weight)  # the untrained network returns its prior

    def forward(self, image: torch.Tensor, hole: torch.Tensor, guide: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Predict the image.

        Args:
            image: (N, C, H, W) image in [0, 1]; hole pixels may hold anything (they are zeroed here).
            hole: (N, 1, H, W) (or (N, C, H, W) with identical channels) mask, 1 = hole.
            guide: (N, guide_channels, H, W) prior / neighbouring slices (see the class docstring); required when
                the network has guide channels, refused otherwise.

        Returns:
            the raw prediction (N, C, H, W); combine with :func:`composite` to keep the known pixels.
        """
        if image.dim() != 4 or hole.dim() != 4:
            raise ValueError(f"expected (N, C, H, W) image and hole, got {list(image.shape)} and {list(hole.shape)}")
        if image.shape[1] != self.in_channels:
            raise ValueError(f"the network expects {self.in_channels} image channel(s), got {image.shape[1]}")
        if self.guide_channels:
            if guide is None or guide.dim() != 4 or guide.shape[1] != self.guide_channels:
                got = "none" if guide is None else str(list(guide.shape))
                raise ValueError(f"the network expects a guide of {self.guide_channels} channel(s), got {got}")
            if guide.shape[0] != image.shape[0] or guide.shape[2:] != image.shape[2:]:
                raise ValueError(f"guide {list(guide.shape)} does not match the image {list(image.shape)}")
        elif guide is not None:
            raise ValueError("this network takes no guide (it was built without prior or context slices)")
        valid = 1.0 - hole[:, :1].float()
        image, pad = pad_to_multiple(image, 16)
        valid, _ = pad_to_multiple(valid, 16)
        if guide is not None:
            guide, _ = pad_to_multiple(guide.to(image.dtype), 16)
        out = self._forward_padded(image * valid.to(image.dtype), valid, guide)
        return crop_padding(out, pad)

    def _forward_padded(self, img: torch.Tensor, valid: torch.Tensor, guide: Optional[torch.Tensor]) -> torch.Tensor:
        c_img = float(self.image_mask_channels.item())
        g = float(self.guide_channels)
        head_in = img if guide is None else torch.cat([img, guide], dim=1)
        x, m = self.head_pconv1.forward_counts(head_in, valid * c_img + g, c_img + g)
        x = F.relu(self.head_bn1(x))
        x, m = self.head_pconv2(x, m)
        x = F.relu(self.head_bn2(x))
        # Adaptive merging: running sums of masked features and of masks over all recurrences (the reference
        # stacks them; sums give the same mean with one buffer instead of num_recurrences + 1).
        feat_sum = x * m
        mask_sum = m
        prev_scores: Optional[torch.Tensor] = None
        prev_mask: Optional[torch.Tensor] = None
        for _ in range(self.num_recurrences):
            x, m = self.step_pconv1(x, m)
            x, m = self.step_pconv2(x, m)
            x = F.leaky_relu(self.step_bn(x))
            x, prev_scores, prev_mask = self.rfr(x, m, prev_scores, prev_mask)
            x = x * m
            feat_sum = feat_sum + x * m
            mask_sum = mask_sum + m
        # The attention scores ((H/8 * W/8)^2 per image) are not needed by the tail: free them before it runs at full
        # resolution, so that the two never coexist (the peak of a large slice).
        del prev_scores, prev_mask
        count = float(self.num_recurrences + 1)
        x = (feat_sum / count) / (mask_sum / count + 1e-7)
        x = F.leaky_relu(self.up_bn(self.up_deconv(x)))
        m = F.interpolate(m, scale_factor=2.0, mode="nearest")
        w = float(self.width)
        tail_in = torch.cat([head_in, x * m.to(x.dtype)], dim=1)
        x, _ = self.tail_pconv.forward_counts(tail_in, valid * c_img + g + m * w, c_img + g + w)
        x = F.leaky_relu(x)
        y = self.tail_bottleneck(x)
        out = self.out_conv(torch.cat([x, y], dim=1))
        if self.prior and guide is not None:
            out = out + guide[:, :1].to(out.dtype)
        return out

"""Partial convolution (Liu et al., 2018) with the mask renormalisation of the RFR-Net reference."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PartialConv2d"]


class PartialConv2d(nn.Conv2d):
    """Bias-free partial convolution that renormalises by the number of valid inputs under each window.

    The mask is carried as the per-pixel *count of valid input channels* (shape (N, 1, H, W)) instead of a full
    (N, C_in, H, W) tensor: every mask the network produces is identical across channels, so the count is all the
    renormalisation needs and it costs one channel instead of ``C_in``.

    With ``update = sum of the valid-channel count over the window`` the output is
    ``conv(x * valid, W) * (C_in * k * k) / update`` where ``update > 0`` and 0 elsewhere; the returned mask is
    ``min(update, 1)`` (one channel, to be counted as ``out_channels`` channels by the next layer).

    The window sums are computed with ``avg_pool2d`` in float32 and rounded: they are exact integers even under
    float16 / bfloat16 autocast, where a convolution with a ones kernel would round counts above 256 (bfloat16)
    and where the reference's ``+1e-8`` would underflow.

    Args:
        in_channels: feature channels.
        out_channels: output channels.
        kernel_size: square kernel side.
        stride: stride.
        padding: zero padding.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.window_size = kernel_size * kernel_size

    def forward_counts(
        self, x_masked: torch.Tensor, valid_count: torch.Tensor, total_channels: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Partial convolution of features that are already multiplied by their mask.

        Args:
            x_masked: (N, C_in, H, W) features, zero where invalid.
            valid_count: (N, 1, H, W) float32 number of valid input channels per pixel.
            total_channels: number of input channels the renormalisation counts (``C_in`` for a plain layer).

        Returns:
            the renormalised output (N, C_out, H', W') and the updated one-channel mask (N, 1, H', W') of 0 / 1.
        """
        k = self.kernel_size[0]
        s = self.stride[0]
        p = self.padding[0]
        window_sum = F.avg_pool2d(valid_count.float(), k, s, p, count_include_pad=True) * float(self.window_size)
        window_sum = torch.round(window_sum)
        new_mask = window_sum.clamp(0.0, 1.0)
        ratio = (total_channels * float(self.window_size)) / window_sum.clamp(min=1.0) * new_mask
        out = F.conv2d(x_masked, self.weight, None, self.stride, self.padding, self.dilation, self.groups)
        return out * ratio, new_mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """Partial convolution of ``x`` under a one-channel mask shared by all of its channels.

        Args:
            x: (N, C_in, H, W) features.
            mask: (N, 1, H, W) validity mask, 1 = valid.

        Returns:
            output (N, C_out, H', W') and the updated one-channel mask.
        """
        c = float(self.in_channels)
        return self.forward_counts(x * mask, mask * c, c)

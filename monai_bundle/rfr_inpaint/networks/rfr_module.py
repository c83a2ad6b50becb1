"""The recurrent feature reasoning module: a small U-Net with knowledge-consistent attention."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .attention import AttentionModule

__all__ = ["RFRModule"]


def _encoder(in_channels: int, out_channels: int, downsample: bool) -> nn.Sequential:
    if downsample:
        conv = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
    else:
        conv = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=2, dilation=2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _decoder(in_channels: int, out_channels: int, upsample: bool) -> nn.Sequential:
    if upsample:
        conv: nn.Module = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)
    else:
        conv = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=2, dilation=2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2, inplace=True))


class RFRModule(nn.Module):
    """Encoder (three strided, three dilated stages), decoder with skip connections and attention at 1/4 scale.

    Args:
        channels: input / output channels (64 in RFR-Net); the encoder stages have 2x, 4x and 8x as many.
        attention_chunk_elements: see :class:`~rfr_inpaint.networks.attention.KnowledgeConsistentAttention`.
    """

    def __init__(self, channels: int = 64, attention_chunk_elements: int = 1 << 24):
        super().__init__()
        # the reference's stages are 2x, 4x and 8x the input channels (128, 256, 512 for 64)
        c1, c2, c3 = 2 * channels, 4 * channels, 8 * channels
        self.enc1 = _encoder(channels, c1, True)
        self.enc2 = _encoder(c1, c2, True)
        self.enc3 = _encoder(c2, c3, True)
        self.enc4 = _encoder(c3, c3, False)
        self.enc5 = _encoder(c3, c3, False)
        self.enc6 = _encoder(c3, c3, False)
        self.dec5 = _decoder(2 * c3, c3, False)
        self.dec4 = _decoder(2 * c3, c3, False)
        self.dec3 = _decoder(2 * c3, c3, True)
        self.attention = AttentionModule(c3, attention_chunk_elements)
        self.dec2 = _decoder(c3 + c2, c2, True)
        self.dec1 = _decoder(c2 + c1, channels, True)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, prev_scores: Optional[torch.Tensor], prev_mask: Optional[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One reasoning step.

        Args:
            x: (N, channels, H, W) features.
            mask: (N, 1, H, W) validity mask of this recurrence.
            prev_scores: attention scores of the previous recurrence, or None.
            prev_mask: the attention's mask of the previous recurrence, or None.

        Returns:
            the reasoned features (N, channels, H, W) and the attention state for the next recurrence.
        """
        h1 = self.enc1(x)
        h2 = self.enc2(h1)
        h3 = self.enc3(h2)
        h4 = self.enc4(h3)
        h5 = self.enc5(h4)
        h = self.enc6(h5)
        h = self.dec5(torch.cat([h, h5], dim=1))
        h = self.dec4(torch.cat([h, h4], dim=1))
        h = self.dec3(torch.cat([h, h3], dim=1))
        h, scores, mask_small = self.attention(h, mask, prev_scores, prev_mask)
        h = self.dec2(torch.cat([h, h2], dim=1))
        h = self.dec1(torch.cat([h, h1], dim=1))
        return h, scores, mask_small

"""Knowledge-consistent attention of RFR-Net, batched and computed in chunks of query rows."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["KnowledgeConsistentAttention", "AttentionModule"]


class KnowledgeConsistentAttention(nn.Module):
    """Patch-similarity attention whose scores are blended with those of the previous recurrence.

    For features ``f`` (N, C, h, w) every position's feature vector (plus 1e-7, L2-normalised) is a key ``K_j``.
    The score of key ``j`` at query position ``p`` is the 3x3 box sum over ``p``'s neighbourhood of ``<K_j, f_q>``,
    soft-maxed over ``j``. When the previous recurrence left scores ``a_prev`` and a mask ``m_prev``, the scores
    become ``(a_prev * m_prev + a * r) / (m_prev + r)`` with ``r = |ratio| + 1e-7`` (a learned scalar). The output at
    ``p`` is ``sum_j a[j, p] K_j``.

    The (h*w) x (h*w) score matrix per sample is the memory floor of the network (it must be kept for the next
    recurrence). Everything else is computed in chunks of query rows of at most ``chunk_elements`` scores per sample,
    which is exact: a query row needs only its neighbour rows for the box sum, and the soft-max runs over keys.
    Without autograd (inference) the new scores overwrite the previous ones in place, so one score matrix is alive.

    Args:
        chunk_elements: maximum number of score entries computed at once per sample.
    """

    def __init__(self, chunk_elements: int = 1 << 24):
        super().__init__()
        self.ratio = nn.Parameter(torch.ones(1))
        self.chunk_elements = int(chunk_elements)

    def forward(
        self, features: torch.Tensor, mask: torch.Tensor, prev_scores: Optional[torch.Tensor], prev_mask: Optional[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attend.

        Args:
            features: (N, C, h, w).
            mask: (N, 1, H, W) validity mask (1 = valid), resized here to (h, w) by nearest interpolation.
            prev_scores: scores (N, h*w, h, w) of the previous recurrence, or None in the first one.
            prev_mask: resized mask (N, 1, h, w) of the previous recurrence, or None.

        Returns:
            the attended features (N, C, h, w), this call's scores and resized mask (to pass to the next recurrence).
        """
        n, c, h, w = features.shape
        hw = h * w
        mask_small = F.interpolate(mask, size=[h, w], mode="nearest")
        # Normalise in float32: a sum of squares over 512 channels can overflow float16 under autocast.
        keys = F.normalize(features.float() + 1e-7, p=2.0, dim=1).to(features.dtype).reshape(n, c, hw)
        keys_t = keys.transpose(1, 2)  # (N, hw, C): one 1x1 kernel per position
        r = torch.abs(self.ratio) + 1e-7
        rows = max(1, min(h, self.chunk_elements // max(1, hw * w)))
        grad = torch.is_grad_enabled()
        # Without autograd the new scores overwrite the previous ones: one score matrix alive, not two.
        buffer: Optional[torch.Tensor] = None if grad else prev_scores
        chunks: list[torch.Tensor] = []
        outputs: list[torch.Tensor] = []
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            lo = max(0, r0 - 1)
            hi = min(h, r1 + 1)
            query = features[:, :, lo:hi, :].reshape(n, c, (hi - lo) * w)
            sim = torch.bmm(keys_t, query).reshape(n, hw, hi - lo, w)
            # 3x3 box sum with zero padding at the image border only; inner chunk borders use real neighbour rows.
            sim = F.pad(sim, [0, 0, 1 if r0 == 0 else 0, 1 if r1 == h else 0])
            sim = F.avg_pool2d(sim, kernel_size=3, stride=1, padding=[0, 1], count_include_pad=True) * 9.0
            scores = torch.softmax(sim, dim=1)
            if prev_scores is not None and prev_mask is not None:
                pm = prev_mask[:, :, r0:r1, :]
                scores = (prev_scores[:, :, r0:r1, :] * pm + scores * r) / (pm + r)
            if grad:
                chunks.append(scores)
            else:
                if buffer is None:
                    buffer = torch.empty((n, hw, h, w), dtype=scores.dtype, device=scores.device)
                buffer[:, :, r0:r1, :] = scores
            outputs.append(torch.bmm(keys, scores.reshape(n, hw, (r1 - r0) * w).to(keys.dtype)))
        if buffer is not None:
            all_scores = buffer
        elif len(chunks) == 1:
            all_scores = chunks[0]
        else:
            all_scores = torch.cat(chunks, dim=2)
        out = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
        return out.reshape(n, c, h, w), all_scores, mask_small


class AttentionModule(nn.Module):
    """Knowledge-consistent attention followed by a 1x1 convolution (with bias) over ``[attended, input]``.

    Args:
        channels: feature channels.
        chunk_elements: see :class:`KnowledgeConsistentAttention`.
    """

    def __init__(self, channels: int = 512, chunk_elements: int = 1 << 24):
        super().__init__()
        self.kca = KnowledgeConsistentAttention(chunk_elements)
        self.combiner = nn.Conv2d(2 * channels, channels, kernel_size=1, bias=True)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, prev_scores: Optional[torch.Tensor], prev_mask: Optional[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns the combined features and the attention state for the next recurrence."""
        attended, scores, mask_small = self.kca(x, mask, prev_scores, prev_mask)
        return self.combiner(torch.cat([attended, x], dim=1)), scores, mask_small

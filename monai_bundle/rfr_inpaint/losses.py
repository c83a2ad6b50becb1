"""The RFR-Net training loss: hole / valid L1, perceptual and style on frozen VGG16 features, total variation.

``L = hole_weight * L_hole + valid_weight * L_valid + style_weight * L_style + perceptual_weight * L_perceptual
+ tv_weight * L_tv`` with the reference's defaults 6, 1, 120, 0.05, 0.1 (seed study eq. 10-13 plus TV). Our hole
masks are **1 = hole** (the reference's masks are 1 = valid).
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import nn

from rfr_inpaint.vgg import VGG16Features, default_vgg16_weights_path, find_vgg16_weights

__all__ = ["RFRLoss", "gram_matrix", "LOSS_TERMS"]

#: names of the individual terms, in the order of the total.
LOSS_TERMS = ("hole", "valid", "perceptual", "style", "tv")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of feature maps divided by ``C * H * W`` (eq. 11-12 of the seed study).

    Args:
        features: ``(N, C, H, W)``.

    Returns:
        ``(N, C, C)``.
    """
    n, c, h, w = features.shape
    f = features.float().reshape(n, c, h * w)
    # Sums of h*w squared activations overflow float16 (max 65504): always float32, also under autocast.
    with torch.autocast(device_type=f.device.type, enabled=False):
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


class RFRLoss(nn.Module):
    """Loss of RFR-Net (Li et al., CVPR 2020) with the reference implementation's term definitions.

    With ``out`` the raw network output, ``gt`` the truth, ``hole`` the mask (1 = hole) broadcast over channels and
    ``comp = hole * out + (1 - hole) * gt``:

    * ``L_hole = mean(hole * |out - gt|)`` and ``L_valid = mean((1 - hole) * |out - gt|)`` (means over all
      elements, as ``nn.L1Loss`` on masked images in the reference);
    * ``L_perceptual = sum_i mean|phi_i(out) - phi_i(gt)| + mean|phi_i(comp) - phi_i(gt)|`` over the VGG16 pool1,
      pool2, pool3 features ``phi_i`` (:class:`~rfr_inpaint.vgg.VGG16Features`);
    * ``L_style``: the same with the Gram matrices of the features divided by ``C * H * W``;
    * ``L_tv``: mean absolute difference between horizontal and vertical neighbours of ``comp``, counted on the
      pairs that touch the hole (the hole dilated by one pixel) and divided by the number of all pairs; pairs of two
      known pixels are constant and left out, so the term vanishes for an empty hole.

    Perceptual and style need VGG16 weights (a local torchvision-format file, see
    :func:`~rfr_inpaint.vgg.find_vgg16_weights`). When none is found, both terms are switched off (their weights
    set to 0) with one warning at construction; random features and downloads are never used. They are also not
    built when both of their weights are 0.

    Args:
        hole_weight: weight of ``L_hole``.
        valid_weight: weight of ``L_valid``.
        style_weight: weight of ``L_style``.
        perceptual_weight: weight of ``L_perceptual``.
        tv_weight: weight of ``L_tv``.
        vgg_weights: torchvision-format VGG16 weights file; ``None``: torch hub's cache
            (``$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth``) when present.

    Raises:
        ValueError: a weight is negative.
        FileNotFoundError: ``vgg_weights`` is given but does not exist.
        rfr_inpaint.safe_io.CheckpointError: the weights file is unreadable or not a VGG16 state dict.

    Examples::

        loss_fn = RFRLoss(vgg_weights="/models/vgg16-397923af.pth")
        total = loss_fn(out, gt, hole)
        total, terms = loss_fn(out, gt, hole, return_terms=True)  # terms["hole"], ..., also loss_fn.last_terms
    """

    def __init__(
        self,
        hole_weight: float = 6.0,
        valid_weight: float = 1.0,
        style_weight: float = 120.0,
        perceptual_weight: float = 0.05,
        tv_weight: float = 0.1,
        vgg_weights: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        weights = {
            "hole": float(hole_weight),
            "valid": float(valid_weight),
            "perceptual": float(perceptual_weight),
            "style": float(style_weight),
            "tv": float(tv_weight),
        }
        for name, w in weights.items():
            if not w >= 0:
                raise ValueError(f"RFRLoss: {name} weight must be >= 0, got {w}")
        self.vgg: VGG16Features | None = None
        if weights["perceptual"] > 0 or weights["style"] > 0:
            path = find_vgg16_weights(vgg_weights)
            if path is None:
                message = (
                    "RFRLoss: no VGG16 weights file (looked for a 'vgg_weights' path, then "
                    f"{default_vgg16_weights_path()}): the perceptual and style terms are turned off. "
                    "Place torchvision's vgg16-397923af.pth there or set vgg_weights to enable them."
                )
                warnings.warn(message, stacklevel=2)
                weights["perceptual"] = weights["style"] = 0.0
            else:
                self.vgg = VGG16Features(path)
        self.weights = weights
        self.last_terms: dict[str, float] = {}

    @property
    def uses_vgg(self) -> bool:
        """Whether the perceptual and style terms are active."""
        return self.vgg is not None

    @staticmethod
    def _tv(comp: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        dh = (comp[..., 1:, :] - comp[..., :-1, :]).abs()
        dw = (comp[..., :, 1:] - comp[..., :, :-1]).abs()
        mh = torch.maximum(hole[..., 1:, :], hole[..., :-1, :])
        mw = torch.maximum(hole[..., :, 1:], hole[..., :, :-1])
        return (dh * mh).mean() + (dw * mw).mean()

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor, return_terms: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss (and the unweighted terms).

        Args:
            pred: raw network output ``(N, C, H, W)`` (C = 1 or 3), before compositing.
            target: ground truth of the same shape.
            hole: hole mask ``(N, 1, H, W)`` or ``(N, C, H, W)``, 1 = hole.
            return_terms: also return the unweighted terms (keys of :data:`LOSS_TERMS`).

        Returns:
            the weighted total (a scalar), or ``(total, terms)``. The terms, as floats, are also kept in
            :attr:`last_terms` for logging.

        Raises:
            ValueError: shapes do not match.
        """
        if pred.shape != target.shape or pred.ndim != 4:
            raise ValueError(
                f"RFRLoss: pred and target must be (N, C, H, W) of the same shape, got {tuple(pred.shape)} "
                f"and {tuple(target.shape)}"
            )
        if hole.ndim != 4 or hole.shape[0] != pred.shape[0] or hole.shape[2:] != pred.shape[2:]:
            raise ValueError(
                f"RFRLoss: hole must be (N, 1, H, W) matching {tuple(pred.shape)}, got {tuple(hole.shape)}"
            )
        hole = hole.to(pred.dtype).expand_as(pred)
        comp = hole * pred + (1 - hole) * target
        abs_err = (pred - target).abs()
        zero = pred.new_zeros(())
        terms: dict[str, torch.Tensor] = {
            "hole": (hole * abs_err).mean(),
            "valid": ((1 - hole) * abs_err).mean(),
            "perceptual": zero,
            "style": zero,
            "tv": self._tv(comp, hole),
        }
        if self.vgg is not None:
            with torch.no_grad():
                feats_gt = self.vgg(target)
            feats = self.vgg(torch.cat([pred, comp], dim=0))
            perceptual, style = zero, zero
            for f, f_gt in zip(feats, feats_gt):
                f_gt2 = torch.cat([f_gt, f_gt], dim=0)
                perceptual = perceptual + 2 * (f - f_gt2).abs().mean()  # mean of out and comp terms, times 2
                g, g_gt = gram_matrix(f), gram_matrix(f_gt)
                style = style + 2 * (g - torch.cat([g_gt, g_gt], dim=0)).abs().mean()
            terms["perceptual"] = perceptual
            terms["style"] = style
        total = sum(self.weights[k] * terms[k] for k in LOSS_TERMS)
        self.last_terms = {k: float(v.detach()) for k, v in terms.items()}
        self.last_terms["total"] = float(total.detach())  # type: ignore[union-attr]
        return (total, terms) if return_terms else total  # type: ignore[return-value]

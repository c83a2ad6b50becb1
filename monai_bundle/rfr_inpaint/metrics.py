"""Image-quality metrics restricted to the hole region, as plain functions, MONAI metrics and Ignite handlers.

Conventions (see ``docs/metrics.md``):

* images are tensors ``(N, C, H, W)`` (or ``(N, H, W)``, read as one channel) in [0, 1]; the hole mask is
  ``(N, 1, H, W)`` (or ``(N, H, W)`` / ``(N, C, H, W)``) with **1 = hole**; it is broadcast over the channels;
* every function returns one value per image, shape ``(N,)``, averaged over the hole pixels (and channels);
* an image whose hole is empty gets ``NaN``; the MONAI metrics leave NaN values out of the mean;
* PSNR uses an MSE floor of :data:`PSNR_MSE_FLOOR` (``1e-10``), so an exact reconstruction scores
  :data:`PSNR_CAP_DB` (100 dB) instead of ``inf``.

:func:`brats_metrics` is the second mode: it follows the definitions of the BraTS 2023 inpainting challenge
(``inpainting.challenge_metrics_2023.generate_metrics``): percentile normalisation, SSIM with a data range taken from
the images, and a PSNR with a fixed [0, 1] range and an epsilon.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from ignite.metrics.metric import reinit__is_reduced
from monai.handlers import IgniteMetricHandler, from_engine
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

__all__ = [
    "PSNR_MSE_FLOOR",
    "PSNR_CAP_DB",
    "masked_ssim_map",
    "masked_ssim",
    "masked_psnr",
    "masked_rmse",
    "masked_mae",
    "masked_mse",
    "brats_metrics",
    "BRATS_METRIC_NAMES",
    "MaskedSSIMMetric",
    "MaskedPSNRMetric",
    "MaskedRMSEMetric",
    "MaskedMAEMetric",
    "MaskedMetricHandler",
    "MaskedSSIMHandler",
    "MaskedPSNRHandler",
    "MaskedRMSEHandler",
    "MaskedMAEHandler",
    "DEFAULT_OUTPUT_KEYS",
]

#: MSE floor of :func:`masked_psnr`: PSNR = 10 log10(range^2 / max(MSE, floor)).
PSNR_MSE_FLOOR = 1e-10
#: the largest PSNR :func:`masked_psnr` returns for data range 1 (an exact reconstruction).
PSNR_CAP_DB = 10.0 * math.log10(1.0 / PSNR_MSE_FLOOR)
#: keys of :func:`brats_metrics`' result.
BRATS_METRIC_NAMES = ("ssim", "mse", "rmse", "mae", "psnr_01", "psnr_01_eps")
#: keys read from the evaluator's output by the handlers' default ``output_transform``.
DEFAULT_OUTPUT_KEYS = ("pred", "label", "hole")

_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5  # 11 x 11 window: the radius scikit-image / scipy use for sigma 1.5 (truncate 3.5)


def _as_nchw(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """Turn an array or tensor into a float ``(N, C, H, W)`` tensor (``(N, H, W)`` becomes one channel)."""
    t = torch.as_tensor(x)
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.ndim != 4:
        raise ValueError(f"{name}: expected a (N, C, H, W) or (N, H, W) batch, got shape {tuple(t.shape)}")
    return t if t.is_floating_point() else t.float()


def _prepare(
    y_pred: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, hole: torch.Tensor | np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check shapes and return ``(y_pred, y, hole)`` with the hole as a float {0, 1} tensor broadcast to ``y``."""
    p = _as_nchw(y_pred, "y_pred")
    t = _as_nchw(y, "y")
    if p.shape != t.shape:
        raise ValueError(f"y_pred and y must have the same shape, got {tuple(p.shape)} and {tuple(t.shape)}")
    h = _as_nchw(hole, "hole").to(device=p.device)
    if h.shape[0] != p.shape[0] or h.shape[2:] != p.shape[2:] or h.shape[1] not in (1, p.shape[1]):
        raise ValueError(
            f"hole must have shape (N, 1, H, W) or (N, C, H, W) matching the images {tuple(p.shape)}, "
            f"got {tuple(h.shape)}"
        )
    dtype = torch.promote_types(p.dtype, torch.float32)
    p, t = p.to(dtype), t.to(device=p.device, dtype=dtype)
    h = (h > 0.5).to(dtype).expand_as(p)
    return p, t, h


def _masked_mean(values: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over hole pixels per image; NaN where the hole is empty."""
    num = torch.where(hole > 0, values, torch.zeros_like(values)).flatten(1).sum(1)  # NaN outside never leaks
    den = hole.flatten(1).sum(1)
    out = num / den.clamp(min=1)
    return torch.where(den > 0, out, torch.full_like(out, float("nan")))


def _symmetric_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two axes by mirroring with the edge pixel repeated (scipy's / scikit-image's ``reflect``)."""

    def index(n: int) -> torch.Tensor:
        i = torch.arange(-pad, n + pad, device=x.device) % (2 * n)
        return torch.where(i >= n, 2 * n - 1 - i, i)

    return x.index_select(-2, index(x.shape[-2])).index_select(-1, index(x.shape[-1]))


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian weights of the 11-tap window (sigma 1.5)."""
    x = torch.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (x / _SSIM_SIGMA) ** 2)
    return (g / g.sum()).to(dtype=dtype, device=device)


def _ssim_from_padded(
    p: torch.Tensor, t: torch.Tensor, data_range: float, clamp_variance: bool, k1: float = 0.01, k2: float = 0.03
) -> torch.Tensor:
    """SSIM map of images already padded by the window radius (valid separable Gaussian filtering).

    The formula is the one of MONAI's :func:`monai.metrics.regression.compute_ssim_and_cs`; it is evaluated here in
    the inputs' precision because MONAI's function casts to float32, where the cancellation in
    ``E[x^2] - E[x]^2`` shifts the SSIM of flat regions by up to ~2e-4.
    """
    c = p.shape[1]
    g = _gaussian_window(p.dtype, p.device)
    kh = g.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    kw = g.view(1, 1, 1, -1).expand(c, 1, 1, -1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, kh, groups=c), kw, groups=c)

    mu_p, mu_t = blur(p), blur(t)
    var_p = blur(p * p) - mu_p**2
    var_t = blur(t * t) - mu_t**2
    if clamp_variance:
        var_p, var_t = var_p.clamp(min=0), var_t.clamp(min=0)
    cov = blur(p * t) - mu_p * mu_t
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    return ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / ((mu_p**2 + mu_t**2 + c1) * (var_p + var_t + c2))


def _ssim_map(p: torch.Tensor, t: torch.Tensor, data_range: float) -> torch.Tensor:
    """Full-size SSIM map in float64 (11 x 11 Gaussian window, sigma 1.5, symmetric padding)."""
    dtype = torch.float64 if p.device.type != "mps" else torch.float32
    p64, t64 = p.to(dtype), t.to(dtype)
    ssim = _ssim_from_padded(
        _symmetric_pad(p64, _SSIM_RADIUS), _symmetric_pad(t64, _SSIM_RADIUS), data_range, clamp_variance=False
    )
    return ssim.to(p.dtype)


def masked_ssim_map(
    y_pred: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, data_range: float = 1.0
) -> torch.Tensor:
    """Full-size SSIM map (11 x 11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, population covariance).

    Borders are handled by symmetric padding (the edge pixel repeated), as in scikit-image's
    ``structural_similarity(..., gaussian_weights=True, use_sample_covariance=False, full=True)``, so that every
    pixel, including hole pixels at the border, has a value. The formula is MONAI's
    :func:`monai.metrics.regression.compute_ssim_and_cs`, evaluated in float64 (see ``docs/metrics.md``).

    Args:
        y_pred: prediction ``(N, C, H, W)`` or ``(N, H, W)``.
        y: ground truth of the same shape.
        data_range: value range of the images (1 for [0, 1]).

    Returns:
        the SSIM map, ``(N, C, H, W)``.

    Raises:
        ValueError: the shapes differ or are not 3-D / 4-D.
    """
    p = _as_nchw(y_pred, "y_pred")
    t = _as_nchw(y, "y")
    if p.shape != t.shape:
        raise ValueError(f"y_pred and y must have the same shape, got {tuple(p.shape)} and {tuple(t.shape)}")
    dtype = torch.promote_types(p.dtype, torch.float32)
    return _ssim_map(p.to(dtype), t.to(device=p.device, dtype=dtype), data_range)


def masked_ssim(
    y_pred: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    hole: torch.Tensor | np.ndarray,
    data_range: float = 1.0,
) -> torch.Tensor:
    """SSIM map of :func:`masked_ssim_map` (the whole image as context) averaged over the hole pixels.

    Args:
        y_pred: prediction ``(N, C, H, W)`` or ``(N, H, W)`` in [0, 1].
        y: ground truth of the same shape.
        hole: hole mask (1 = hole) ``(N, 1, H, W)``, ``(N, C, H, W)`` or ``(N, H, W)``.
        data_range: value range of the images.

    Returns:
        ``(N,)`` tensor; NaN for an image with an empty hole.

    Raises:
        ValueError: shapes do not match.
    """
    p, t, h = _prepare(y_pred, y, hole)
    return _masked_mean(_ssim_map(p, t, data_range), h)


def masked_mse(
    y_pred: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, hole: torch.Tensor | np.ndarray
) -> torch.Tensor:
    """Mean squared error over the hole pixels (and channels); arguments as :func:`masked_ssim`.

    Returns:
        ``(N,)`` tensor; NaN for an image with an empty hole.
    """
    p, t, h = _prepare(y_pred, y, hole)
    return _masked_mean((p - t) ** 2, h)


def masked_rmse(
    y_pred: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, hole: torch.Tensor | np.ndarray
) -> torch.Tensor:
    """Root mean squared error over the hole pixels: ``sqrt(mean_hole((y_pred - y)^2))``.

    Args:
        y_pred: prediction ``(N, C, H, W)`` or ``(N, H, W)``.
        y: ground truth of the same shape.
        hole: hole mask (1 = hole).

    Returns:
        ``(N,)`` tensor; NaN for an image with an empty hole.
    """
    return masked_mse(y_pred, y, hole).sqrt()


def masked_mae(
    y_pred: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, hole: torch.Tensor | np.ndarray
) -> torch.Tensor:
    """Mean absolute error over the hole pixels: ``mean_hole(|y_pred - y|)``.

    Args:
        y_pred: prediction ``(N, C, H, W)`` or ``(N, H, W)``.
        y: ground truth of the same shape.
        hole: hole mask (1 = hole).

    Returns:
        ``(N,)`` tensor; NaN for an image with an empty hole.
    """
    p, t, h = _prepare(y_pred, y, hole)
    return _masked_mean((p - t).abs(), h)


def masked_psnr(
    y_pred: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    hole: torch.Tensor | np.ndarray,
    data_range: float = 1.0,
    mse_floor: float = PSNR_MSE_FLOOR,
) -> torch.Tensor:
    """PSNR over the hole pixels: ``10 log10(data_range^2 / max(MSE_hole, mse_floor))``.

    The floor caps the PSNR of an exact reconstruction at ``10 log10(data_range^2 / mse_floor)`` (100 dB for the
    defaults) instead of ``inf``, so means over images stay finite.

    Args:
        y_pred: prediction ``(N, C, H, W)`` or ``(N, H, W)``.
        y: ground truth of the same shape.
        hole: hole mask (1 = hole).
        data_range: value range of the images.
        mse_floor: smallest MSE used (must be > 0).

    Returns:
        ``(N,)`` tensor in dB; NaN for an image with an empty hole.

    Raises:
        ValueError: ``mse_floor`` is not positive, or shapes do not match.
    """
    if not mse_floor > 0:
        raise ValueError(f"mse_floor must be > 0, got {mse_floor}")
    mse = masked_mse(y_pred, y, hole)
    return 10.0 * torch.log10(data_range**2 / mse.clamp(min=mse_floor))


# ---------------------------------------------------------------------------------------------------------------
# BraTS 2023 inpainting-challenge mode
# ---------------------------------------------------------------------------------------------------------------


def _brats_normalize(x: torch.Tensor, v_min: float, v_max: float) -> torch.Tensor:
    return (x.clamp(v_min, v_max) - v_min) / (v_max - v_min)


def _brats_ssim_map(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """SSIM map as the challenge computes it (torchmetrics): data range from the images, *reflect* padding (edge
    not repeated), variances clamped at 0, float32."""
    data_range = max(float(p.max() - p.min()), float(t.max() - t.min()))
    pad = (_SSIM_RADIUS,) * 4
    return _ssim_from_padded(
        F.pad(p, pad, mode="reflect"), F.pad(t, pad, mode="reflect"), data_range, clamp_variance=True
    )


def brats_metrics(
    pred: torch.Tensor | np.ndarray,
    truth: torch.Tensor | np.ndarray,
    hole: torch.Tensor | np.ndarray,
    normalization: torch.Tensor | np.ndarray | None = None,
    p_min: float = 0.5,
    p_max: float = 99.5,
) -> dict[str, float]:
    """Metrics of the BraTS 2023 inpainting challenge for one image or volume.

    Follows the definitions of ``inpainting.challenge_metrics_2023.generate_metrics``:

    1. ``pred * hole`` and ``truth * hole`` are normalised with the ``p_min`` / ``p_max`` percentiles of
       ``normalization`` (the lower one raised to 0 if negative), clipped, and scaled to [0, 1];
    2. ``ssim``: SSIM map (11 x 11 Gaussian window, sigma 1.5, reflect padding, data range = the larger value range
       of the two normalised images) averaged over hole pixels;
    3. ``mse``, ``rmse``, ``mae`` over the hole pixels of the normalised images;
    4. ``psnr_01 = 10 log10(1 / mse)`` (``inf`` for an exact reconstruction) and the challenge's ranking metric
       ``psnr_01_eps = 10 log10(1 / (mse + eps))`` with ``eps = sys.float_info.epsilon``.

    The SSIM window slides over the last two axes and every leading axis is a separate slice, as in the challenge
    code (which hands its ``(1, X, Y, Z)`` volumes to torchmetrics as ``(N, C, H, W)``).

    Args:
        pred: prediction, ``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)`` (one sample; the challenge uses
            ``(1, X, Y, Z)``), any intensity range.
        truth: ground truth of the same shape.
        hole: hole mask (non-zero = hole, the challenge's "healthy mask") of the same shape.
        normalization: image whose percentiles set the intensity normalisation; default ``truth * (1 - hole)``,
            the voided image the inpainter sees (the challenge passes ``t1n_voided``).
        p_min: lower percentile.
        p_max: upper percentile.

    Returns:
        dict with the keys of :data:`BRATS_METRIC_NAMES`.

    Raises:
        ValueError: shapes differ, the hole is empty, or the normalisation image has no intensity range.
    """
    p = torch.as_tensor(pred).detach().float().cpu()
    t = torch.as_tensor(truth).detach().float().cpu()
    h = torch.as_tensor(hole).detach().cpu() != 0
    if p.shape != t.shape or h.shape != p.shape:
        raise ValueError(
            f"pred, truth and hole must have the same shape, got {tuple(p.shape)}, {tuple(t.shape)}, {tuple(h.shape)}"
        )
    if not 2 <= p.ndim <= 4:
        raise ValueError(f"expected a (H, W), (C, H, W) or (B, C, H, W) sample, got shape {tuple(p.shape)}")
    if min(p.shape[-2:]) <= _SSIM_RADIUS:
        raise ValueError(
            f"images must be larger than {_SSIM_RADIUS} pixels along the last two axes, got {tuple(p.shape)}"
        )
    if not bool(h.any()):
        raise ValueError("the hole mask is empty: BraTS metrics are only defined over hole voxels")
    norm = t * (~h) if normalization is None else torch.as_tensor(normalization).detach().float().cpu()
    v_lo, v_hi = np.percentile(norm.numpy(), [p_min, p_max])
    v_lo = max(float(v_lo), 0.0)
    v_hi = float(v_hi)
    if not v_hi > v_lo:
        raise ValueError(
            f"the normalisation image has no intensity range between its {p_min} and {p_max} percentiles "
            f"({v_lo} .. {v_hi})"
        )
    p_n = _brats_normalize(p * h, v_lo, v_hi)
    t_n = _brats_normalize(t * h, v_lo, v_hi)
    shape4 = (1,) * (4 - p.ndim) + tuple(p.shape)
    ssim_map = _brats_ssim_map(p_n.reshape(shape4), t_n.reshape(shape4)).reshape(p.shape)
    diff = p_n[h] - t_n[h]
    mse = float((diff**2).mean())
    return {
        "ssim": float(ssim_map[h].mean()),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(diff.abs().mean()),
        "psnr_01": 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf,
        "psnr_01_eps": 10.0 * math.log10(1.0 / (mse + sys.float_info.epsilon)),
    }


# ---------------------------------------------------------------------------------------------------------------
# MONAI metrics
# ---------------------------------------------------------------------------------------------------------------


def _stack(x: Any, name: str) -> torch.Tensor:
    """Batch a list of channel-first tensors (MONAI's decollated engine output) into one batch-first tensor."""
    if isinstance(x, (list, tuple)):
        if len(x) == 0:
            raise ValueError(f"{name}: empty list")
        return torch.stack([torch.as_tensor(i) for i in x])
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return torch.as_tensor(x)
    raise TypeError(f"{name}: expected a tensor or a list of channel-first tensors, got {type(x).__name__}")


class _MaskedRegressionMetric(CumulativeIterationMetric):
    """Base of the hole-region metrics: a MONAI :class:`~monai.metrics.CumulativeIterationMetric` of
    ``(y_pred, y, hole)``.

    Call it as ``metric(y_pred, y, hole)`` with batch-first tensors or lists of channel-first tensors; each call
    appends one value per image to the buffer (shape ``(N, 1)``). :meth:`aggregate` reduces the buffer with
    MONAI's NaN-aware reduction: images with an empty hole (NaN) are left out of the mean, and a reduction over
    no valid image gives NaN (not MONAI's 0).

    Args:
        reduction: MONAI reduction mode applied by :meth:`aggregate` (``"mean"`` by default).
        get_not_nans: if True, :meth:`aggregate` returns ``(value, number of images counted)``.
    """

    def __init__(self, reduction: MetricReduction | str = MetricReduction.MEAN, get_not_nans: bool = False) -> None:
        super().__init__()
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    def _per_image(self, y_pred: torch.Tensor, y: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define _per_image")

    def __call__(  # type: ignore[override]
        self, y_pred: Any, y: Any = None, hole: Any = None, **kwargs: Any
    ) -> torch.Tensor:
        """Compute the metric of one batch and append it to the buffer.

        Args:
            y_pred: prediction, batch-first tensor ``(N, C, H, W)`` or list of ``(C, H, W)`` tensors.
            y: ground truth, same form.
            hole: hole mask (1 = hole), same form with 1 or C channels.
            kwargs: not used; accepted for MONAI's interface.

        Returns:
            ``(N, 1)`` tensor of per-image values.

        Raises:
            ValueError: ``y`` or ``hole`` is missing, or shapes do not match.
        """
        if y is None or hole is None:
            raise ValueError(f"{type(self).__name__} needs y_pred, y and the hole mask")
        return super().__call__(_stack(y_pred, "y_pred"), _stack(y, "y"), hole=_stack(hole, "hole"))

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None, hole: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        if y is None or hole is None:
            raise ValueError(f"{type(self).__name__} needs y_pred, y and the hole mask")
        p, t, h = _prepare(y_pred, y, hole.detach())
        return self._per_image(p, t, h).unsqueeze(1)

    def aggregate(  # type: ignore[override]
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reduce the buffered per-image values, leaving NaN (empty holes) out.

        Args:
            reduction: overrides the reduction given at construction.

        Returns:
            the reduced value (NaN where no image counted), and the count if ``get_not_nans``.

        Raises:
            ValueError: nothing has been buffered yet.
        """
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor) or data.numel() == 0:
            raise ValueError(f"{type(self).__name__}: no values to aggregate; call the metric on a batch first")
        f, not_nans = do_metric_reduction(data.clone(), reduction or self.reduction)
        if (reduction or self.reduction) != MetricReduction.NONE:
            f = torch.where(not_nans > 0, f, torch.full_like(f, float("nan")))
        return (f, not_nans) if self.get_not_nans else f


class MaskedSSIMMetric(_MaskedRegressionMetric):
    """SSIM over the hole region (:func:`masked_ssim`) as a cumulative MONAI metric.

    Args:
        data_range: value range of the images.
        reduction: MONAI reduction mode of :meth:`aggregate`.
        get_not_nans: also return the number of images counted.

    Examples::

        metric = MaskedSSIMMetric()
        metric(pred, truth, hole)  # (N, 1, H, W) each, hole = 1
        mean_ssim = metric.aggregate().item()
        metric.reset()
    """

    def __init__(
        self,
        data_range: float = 1.0,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(reduction=reduction, get_not_nans=get_not_nans)
        self.data_range = data_range

    def _per_image(self, y_pred: torch.Tensor, y: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        return masked_ssim(y_pred, y, hole, data_range=self.data_range)


class MaskedPSNRMetric(_MaskedRegressionMetric):
    """PSNR over the hole region (:func:`masked_psnr`, capped through an MSE floor) as a cumulative MONAI metric.

    Args:
        data_range: value range of the images.
        mse_floor: smallest MSE used, which caps the PSNR (100 dB for the defaults).
        reduction: MONAI reduction mode of :meth:`aggregate`.
        get_not_nans: also return the number of images counted.
    """

    def __init__(
        self,
        data_range: float = 1.0,
        mse_floor: float = PSNR_MSE_FLOOR,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(reduction=reduction, get_not_nans=get_not_nans)
        if not mse_floor > 0:
            raise ValueError(f"mse_floor must be > 0, got {mse_floor}")
        self.data_range = data_range
        self.mse_floor = mse_floor

    def _per_image(self, y_pred: torch.Tensor, y: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        return masked_psnr(y_pred, y, hole, data_range=self.data_range, mse_floor=self.mse_floor)


class MaskedRMSEMetric(_MaskedRegressionMetric):
    """RMSE over the hole region (:func:`masked_rmse`) as a cumulative MONAI metric (per-image RMSE, then mean).

    Args:
        reduction: MONAI reduction mode of :meth:`aggregate`.
        get_not_nans: also return the number of images counted.
    """

    def _per_image(self, y_pred: torch.Tensor, y: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        return masked_rmse(y_pred, y, hole)


class MaskedMAEMetric(_MaskedRegressionMetric):
    """MAE over the hole region (:func:`masked_mae`) as a cumulative MONAI metric.

    Args:
        reduction: MONAI reduction mode of :meth:`aggregate`.
        get_not_nans: also return the number of images counted.
    """

    def _per_image(self, y_pred: torch.Tensor, y: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        return masked_mae(y_pred, y, hole)


# ---------------------------------------------------------------------------------------------------------------
# Ignite handlers
# ---------------------------------------------------------------------------------------------------------------


def _default_output_transform() -> Callable:
    return from_engine(list(DEFAULT_OUTPUT_KEYS))


def _batched(output_transform: Callable) -> Callable:
    """``output_transform`` followed by the check of its ``(y_pred, y, hole)`` triple and the batching of each item.

    Ignite unrolls lists of per-image tensors only for ``(y_pred, y)`` pairs; batch-first tensors reach
    :meth:`MaskedMetricHandler.update` whole.
    """

    def transform(output: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        items = output_transform(output)
        if not isinstance(items, (list, tuple)) or len(items) != 3:
            raise ValueError(
                "hole-region metrics need output_transform to return (y_pred, y, hole), e.g. "
                f"monai.handlers.from_engine({list(DEFAULT_OUTPUT_KEYS)}); got {type(items).__name__}"
                + (f" of length {len(items)}" if isinstance(items, (list, tuple)) else "")
            )
        y_pred, y, hole = (_stack(item, name) for item, name in zip(items, DEFAULT_OUTPUT_KEYS, strict=True))
        return y_pred, y, hole

    return transform


class MaskedMetricHandler(IgniteMetricHandler):
    """Ignite metric for an evaluator, wrapping one of the hole-region MONAI metrics.

    ``output_transform`` must turn ``engine.state.output`` into ``(y_pred, y, hole)``. The default,
    ``monai.handlers.from_engine(["pred", "label", "hole"])``, reads the evaluator's (decollated or batched) output
    dict: ``pred`` the composited prediction, ``label`` the ground truth, ``hole`` the hole mask (1 = hole).

    Args:
        metric_fn: a :class:`MaskedSSIMMetric`, :class:`MaskedPSNRMetric`, :class:`MaskedRMSEMetric` or
            :class:`MaskedMAEMetric` (any ``_MaskedRegressionMetric``).
        output_transform: callable returning ``(y_pred, y, hole)``.
        save_details: store per-image values in ``engine.state.metric_details[name]``.

    Raises:
        TypeError: ``metric_fn`` is not a hole-region metric.
    """

    def __init__(
        self,
        metric_fn: _MaskedRegressionMetric,
        output_transform: Callable | None = None,
        save_details: bool = True,
    ) -> None:
        if not isinstance(metric_fn, _MaskedRegressionMetric):
            raise TypeError(f"metric_fn must be a hole-region metric of rfr_inpaint.metrics, got {type(metric_fn)}")
        super().__init__(
            metric_fn=metric_fn,
            output_transform=_batched(output_transform or _default_output_transform()),
            save_details=save_details,
        )

    @reinit__is_reduced
    def update(self, output: Sequence[Any]) -> None:  # type: ignore[override]
        """Add one iteration's batched ``(y_pred, y, hole)`` to the metric.

        Raises:
            ValueError: ``output`` does not hold exactly three items.
        """
        if not isinstance(output, (list, tuple)) or len(output) != 3:
            raise ValueError(f"hole-region metrics update with (y_pred, y, hole), got {type(output).__name__}")
        y_pred, y, hole = output
        self.metric_fn(y_pred, y, hole)


class MaskedSSIMHandler(MaskedMetricHandler):
    """Ignite handler of :class:`MaskedSSIMMetric`; see :class:`MaskedMetricHandler` for ``output_transform``.

    Args:
        data_range: value range of the images.
        output_transform: callable returning ``(y_pred, y, hole)``; default reads ``pred``, ``label``, ``hole``.
        save_details: store per-image values in ``engine.state.metric_details``.
    """

    def __init__(
        self, data_range: float = 1.0, output_transform: Callable | None = None, save_details: bool = True
    ) -> None:
        super().__init__(MaskedSSIMMetric(data_range=data_range), output_transform, save_details)


class MaskedPSNRHandler(MaskedMetricHandler):
    """Ignite handler of :class:`MaskedPSNRMetric`; see :class:`MaskedMetricHandler` for ``output_transform``.

    Args:
        data_range: value range of the images.
        mse_floor: smallest MSE used (caps the PSNR).
        output_transform: callable returning ``(y_pred, y, hole)``; default reads ``pred``, ``label``, ``hole``.
        save_details: store per-image values in ``engine.state.metric_details``.
    """

    def __init__(
        self,
        data_range: float = 1.0,
        mse_floor: float = PSNR_MSE_FLOOR,
        output_transform: Callable | None = None,
        save_details: bool = True,
    ) -> None:
        super().__init__(MaskedPSNRMetric(data_range=data_range, mse_floor=mse_floor), output_transform, save_details)


class MaskedRMSEHandler(MaskedMetricHandler):
    """Ignite handler of :class:`MaskedRMSEMetric`; see :class:`MaskedMetricHandler` for ``output_transform``.

    Args:
        output_transform: callable returning ``(y_pred, y, hole)``; default reads ``pred``, ``label``, ``hole``.
        save_details: store per-image values in ``engine.state.metric_details``.
    """

    def __init__(self, output_transform: Callable | None = None, save_details: bool = True) -> None:
        super().__init__(MaskedRMSEMetric(), output_transform, save_details)


class MaskedMAEHandler(MaskedMetricHandler):
    """Ignite handler of :class:`MaskedMAEMetric`; see :class:`MaskedMetricHandler` for ``output_transform``.

    Args:
        output_transform: callable returning ``(y_pred, y, hole)``; default reads ``pred``, ``label``, ``hole``.
        save_details: store per-image values in ``engine.state.metric_details``.
    """

    def __init__(self, output_transform: Callable | None = None, save_details: bool = True) -> None:
        super().__init__(MaskedMAEMetric(), output_transform, save_details)

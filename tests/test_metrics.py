"""Tests of rfr_inpaint.metrics: hole-region metrics, MONAI metric classes, Ignite handlers, BraTS 2023 mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from skimage.metrics import structural_similarity

from rfr_inpaint.metrics import (
    PSNR_CAP_DB,
    MaskedMAEHandler,
    MaskedMAEMetric,
    MaskedPSNRHandler,
    MaskedPSNRMetric,
    MaskedRMSEHandler,
    MaskedRMSEMetric,
    MaskedSSIMHandler,
    MaskedSSIMMetric,
    brats_metrics,
    masked_mae,
    masked_psnr,
    masked_rmse,
    masked_ssim,
    masked_ssim_map,
)


def _pair(seed: int = 0, n: int = 3, c: int = 1, h: int = 40, w: int = 48) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.3 + 0.4 * np.sin(6 * xx) * np.cos(4 * yy)
    truth = np.clip(base + 0.05 * rng.standard_normal((n, c, h, w)), 0, 1).astype(np.float32)
    pred = np.clip(truth + 0.1 * rng.standard_normal(truth.shape), 0, 1).astype(np.float32)
    hole = np.zeros((n, 1, h, w), np.float32)
    hole[:, :, 0:12, 3:30] = 1  # touches the border: exercises the padded SSIM border
    hole[-1, :, 20:40, 30:48] = 1
    return pred, truth, hole


def test_constant_images_hand_computed() -> None:
    truth = torch.full((2, 1, 16, 16), 0.5)
    pred = truth.clone()
    hole = torch.zeros(2, 1, 16, 16)
    hole[:, :, 4:8, 4:8] = 1
    pred[0][hole[0] > 0] = 0.6  # error 0.1 in the hole of image 0; image 1 is exact
    pred[:, :, 15, 15] = 1.0  # error outside the hole (and beyond the SSIM window) must not count
    np.testing.assert_allclose(masked_mae(pred, truth, hole).numpy(), [0.1, 0.0], atol=1e-6)
    outside_nan = pred.clone()
    outside_nan[:, :, 15, 14] = float("nan")  # garbage far outside the hole does not reach hole metrics
    np.testing.assert_allclose(masked_mae(outside_nan, truth, hole).numpy(), [0.1, 0.0], atol=1e-6)
    np.testing.assert_allclose(masked_rmse(pred, truth, hole).numpy(), [0.1, 0.0], atol=1e-6)
    psnr = masked_psnr(pred, truth, hole).numpy()
    assert psnr[0] == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 -> 10 log10(1 / 0.01)
    assert psnr[1] == pytest.approx(PSNR_CAP_DB) and PSNR_CAP_DB == pytest.approx(100.0)
    ssim = masked_ssim(pred, truth, hole).numpy()
    assert ssim[1] == pytest.approx(1.0, abs=1e-6)
    # constant 0.5 vs constant 0.6 in the window centre: luminance term (2*.6*.5 + C1) / (.36 + .25 + C1)
    c1 = (0.01) ** 2
    centre = masked_ssim_map(torch.full((1, 1, 11, 11), 0.6), torch.full((1, 1, 11, 11), 0.5))[0, 0, 5, 5]
    assert centre.item() == pytest.approx((2 * 0.6 * 0.5 + c1) / (0.36 + 0.25 + c1), abs=1e-6)


def test_known_mse_gives_psnr_and_channels_average() -> None:
    truth = torch.zeros(1, 3, 8, 8)
    pred = truth.clone()
    pred[:, 0] = 0.2  # squared errors 0.04, 0, 0 over three channels: MSE 0.04 / 3
    hole = torch.ones(1, 1, 8, 8)
    mse = 0.04 / 3
    assert masked_psnr(pred, truth, hole).item() == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)
    assert masked_rmse(pred, truth, hole).item() == pytest.approx(math.sqrt(mse), abs=1e-6)
    assert masked_mae(pred, truth, hole).item() == pytest.approx(0.2 / 3, abs=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_skimage_map_in_hole(channels: int) -> None:
    pred, truth, hole = _pair(c=channels)
    ours = masked_ssim(torch.from_numpy(pred), torch.from_numpy(truth), torch.from_numpy(hole)).numpy()
    for i in range(pred.shape[0]):
        maps = []
        for ch in range(channels):
            _, full = structural_similarity(
                pred[i, ch],
                truth[i, ch],
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1,
                full=True,
            )
            maps.append(full[hole[i, 0] > 0])
        assert ours[i] == pytest.approx(float(np.mean(maps)), abs=1e-5)
    assert np.all(ours < 0.99)  # noisy predictions: the test would fail for a constant 1


def test_empty_hole_is_nan_and_left_out_of_mean() -> None:
    pred, truth, hole = _pair()
    hole[1] = 0
    for fn in (masked_ssim, masked_psnr, masked_rmse, masked_mae):
        values = fn(pred, truth, hole)
        assert values.shape == (3,)
        assert torch.isnan(values[1]) and torch.isfinite(values[[0, 2]]).all()
    metric = MaskedRMSEMetric(get_not_nans=True)
    metric(torch.from_numpy(pred), torch.from_numpy(truth), torch.from_numpy(hole))
    value, count = metric.aggregate()
    expected = masked_rmse(pred, truth, hole)[[0, 2]].mean()
    assert value.item() == pytest.approx(expected.item(), abs=1e-6) and count.item() == 2
    metric.reset()
    metric(torch.from_numpy(pred[1:2]), torch.from_numpy(truth[1:2]), torch.from_numpy(hole[1:2]))
    value, count = metric.aggregate()
    assert torch.isnan(value) and count.item() == 0  # no image with a hole: NaN, not a misleading 0


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="same shape"):
        masked_mae(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="hole must have shape"):
        masked_mae(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 4, 8))
    with pytest.raises(ValueError, match="needs y_pred, y and the hole"):
        MaskedMAEMetric()(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="no values"):
        MaskedMAEMetric().aggregate()


@pytest.mark.parametrize(
    "metric_cls, fn",
    [
        (MaskedSSIMMetric, masked_ssim),
        (MaskedPSNRMetric, masked_psnr),
        (MaskedRMSEMetric, masked_rmse),
        (MaskedMAEMetric, masked_mae),
    ],
)
def test_metric_classes_accumulate_aggregate_reset(metric_cls: type, fn: object) -> None:
    pred, truth, hole = (torch.from_numpy(a) for a in _pair(seed=1))
    metric = metric_cls()
    per_image = metric(pred[:2], truth[:2], hole[:2])
    assert per_image.shape == (2, 1)
    metric([p for p in pred[2:]], [t for t in truth[2:]], [h for h in hole[2:]])  # decollated lists
    assert metric.get_buffer().shape == (3, 1)
    expected = fn(pred, truth, hole)  # type: ignore[operator]
    assert metric.aggregate().item() == pytest.approx(expected.mean().item(), rel=1e-5)
    none = metric.aggregate(reduction="none")
    np.testing.assert_allclose(none[:, 0].numpy(), expected.numpy(), rtol=1e-5)
    metric.reset()
    metric(pred[:1], truth[:1], hole[:1])
    assert metric.aggregate().item() == pytest.approx(expected[0].item(), rel=1e-5)


def test_ignite_handlers_on_evaluator_output() -> None:
    pred, truth, hole = (torch.from_numpy(a) for a in _pair(seed=2, n=4))
    batches = [(0, 2), (2, 4)]

    def step(engine: Engine, batch: tuple[int, int]) -> list[dict[str, torch.Tensor]]:
        a, b = batch  # decollated output, as MONAI's evaluators produce by default
        return [{"pred": pred[i], "label": truth[i], "hole": hole[i], "image": truth[i] * 0} for i in range(a, b)]

    engine = Engine(step)
    handlers = {
        "ssim": (MaskedSSIMHandler(), masked_ssim),
        "psnr": (MaskedPSNRHandler(), masked_psnr),
        "rmse": (MaskedRMSEHandler(), masked_rmse),
        "mae": (MaskedMAEHandler(), masked_mae),
    }
    for name, (handler, _) in handlers.items():
        handler.attach(engine, name)
    engine.run(batches, max_epochs=1)
    for name, (_, fn) in handlers.items():
        expected = fn(pred, truth, hole)  # type: ignore[operator]
        assert engine.state.metrics[name] == pytest.approx(expected.mean().item(), rel=1e-5)
        assert engine.state.metric_details[name].shape == (4, 1)

    bad = MaskedMAEHandler(output_transform=lambda out: (out[0]["pred"], out[0]["label"]))
    engine2 = Engine(step)
    bad.attach(engine2, "mae")
    with pytest.raises(ValueError, match=r"\(y_pred, y, hole\)"):
        engine2.run(batches, max_epochs=1)


def test_brats_mode_agrees_with_inpainting_package() -> None:
    generate_metrics = pytest.importorskip("inpainting.challenge_metrics_2023").generate_metrics
    pred, truth, hole = _pair(seed=3, n=1)
    # 2-D image in raw units (the package normalises with percentiles of the voided image)
    cases = [(torch.from_numpy(pred) * 300 + 20, torch.from_numpy(truth) * 300 + 20, torch.from_numpy(hole) > 0)]
    rng = np.random.default_rng(4)
    vol = torch.from_numpy(rng.random((1, 12, 20, 16)).astype(np.float32)) * 1000  # the challenge's (1, X, Y, Z)
    vmask = torch.zeros_like(vol, dtype=torch.bool)
    vmask[:, 3:8, 5:12, 4:10] = True
    cases.append((vol + 50 * torch.from_numpy(rng.standard_normal(vol.shape).astype(np.float32)), vol, vmask))
    for p, t, m in cases:
        ref = generate_metrics(prediction=p, target=t, normalization_tensor=t * ~m, mask=m)
        ours = brats_metrics(p, t, m)
        for key in ("ssim", "mse", "rmse", "mae", "psnr_01", "psnr_01_eps"):
            assert ours[key] == pytest.approx(ref[key], rel=1e-5, abs=1e-6), key
        assert 0 < ours["ssim"] < 0.999
    exact = brats_metrics(cases[0][1], cases[0][1], cases[0][2])
    assert exact["psnr_01"] == math.inf and math.isfinite(exact["psnr_01_eps"]) and exact["ssim"] == pytest.approx(1)
    with pytest.raises(ValueError, match="empty"):
        brats_metrics(cases[0][0], cases[0][1], torch.zeros_like(cases[0][2]))
    with pytest.raises(ValueError, match="no intensity range"):
        brats_metrics(cases[0][0], cases[0][1], cases[0][2], normalization=torch.ones_like(cases[0][1]))
    with pytest.raises(ValueError, match="larger than 5 pixels"):
        brats_metrics(torch.rand(1, 1, 4, 9), torch.rand(1, 1, 4, 9), torch.ones(1, 1, 4, 9))


def test_handlers_from_bundle_config() -> None:
    from monai.bundle import ConfigParser

    parser = ConfigParser(
        {
            "val_ssim": {"_target_": "rfr_inpaint.metrics.MaskedSSIMHandler"},
            "val_psnr": {
                "_target_": "rfr_inpaint.metrics.MaskedPSNRHandler",
                "output_transform": "$monai.handlers.from_engine(['pred', 'label', 'hole'])",
            },
        }
    )
    pred, truth, hole = (torch.from_numpy(a) for a in _pair(seed=5, n=2))
    engine = Engine(lambda e, b: {"pred": pred, "label": truth, "hole": hole})  # batched (not decollated) output
    parser.get_parsed_content("val_ssim").attach(engine, "ssim")
    parser.get_parsed_content("val_psnr").attach(engine, "psnr")
    engine.run([0], max_epochs=1)
    assert engine.state.metrics["ssim"] == pytest.approx(masked_ssim(pred, truth, hole).mean().item(), rel=1e-5)
    assert engine.state.metrics["psnr"] == pytest.approx(masked_psnr(pred, truth, hole).mean().item(), rel=1e-5)

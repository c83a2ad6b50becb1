"""Tests of rfr_inpaint.losses.RFRLoss: term definitions, weighting, VGG terms, warning without weights."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from rfr_inpaint.losses import LOSS_TERMS, RFRLoss, gram_matrix
from rfr_inpaint.vgg import VGG16_WEIGHTS_FILENAME

from _vgg_helpers import save_random_vgg16


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_vgg16(tmp_path_factory.mktemp("vgg") / VGG16_WEIGHTS_FILENAME)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(2, 1, 32, 32, generator=g)
    hole = torch.zeros(2, 1, 32, 32)
    hole[:, :, 8:20, 10:24] = 1
    pred = (gt + 0.2 * torch.randn(gt.shape, generator=g)).clamp(0, 1)
    return pred, gt, hole


def test_hole_and_valid_terms_hand_computed() -> None:
    gt = torch.zeros(1, 1, 4, 4)
    hole = torch.zeros(1, 1, 4, 4)
    hole[..., :2, :] = 1  # 8 hole pixels, 8 known pixels
    pred = torch.zeros(1, 1, 4, 4)
    pred[..., 0, 0] = 0.8  # hole error
    pred[..., 3, 3] = 0.4  # known-pixel error
    loss = RFRLoss(style_weight=0, perceptual_weight=0, tv_weight=0)
    total, terms = loss(pred, gt, hole, return_terms=True)
    assert terms["hole"].item() == pytest.approx(0.8 / 16)
    assert terms["valid"].item() == pytest.approx(0.4 / 16)
    assert total.item() == pytest.approx(6 * 0.8 / 16 + 0.4 / 16)
    # TV of the composite: only pairs touching the hole count; (0,0) = 0.8 differs from 2 neighbours
    assert terms["tv"].item() == pytest.approx(0.8 / 12 + 0.8 / 12)  # 12 vertical pairs, 12 horizontal pairs
    assert set(loss.last_terms) == set(LOSS_TERMS) | {"total"}
    assert loss.last_terms["total"] == pytest.approx(total.item())


def test_tv_ignores_known_region_and_weights_scale() -> None:
    gt = torch.rand(1, 1, 16, 16)
    hole = torch.zeros(1, 1, 16, 16)
    loss = RFRLoss(style_weight=0, perceptual_weight=0)
    _, terms = loss(gt.clone(), gt, hole, return_terms=True)
    assert all(terms[k].item() == 0 for k in LOSS_TERMS)  # no hole, exact: every term vanishes
    pred, gt, hole = _batch()
    a = RFRLoss(style_weight=0, perceptual_weight=0)(pred, gt, hole, return_terms=True)[1]
    b = RFRLoss(hole_weight=1, valid_weight=2, tv_weight=3, style_weight=0, perceptual_weight=0)
    total = b(pred, gt, hole)
    assert total.item() == pytest.approx((a["hole"] + 2 * a["valid"] + 3 * a["tv"]).item(), rel=1e-6)
    with pytest.raises(ValueError, match="hole weight"):
        RFRLoss(hole_weight=-1)


def test_with_vgg_terms_zero_for_exact_and_gradients_flow(vgg_file: Path) -> None:
    loss = RFRLoss(vgg_weights=vgg_file)
    assert loss.uses_vgg
    pred, gt, hole = _batch()
    _, exact = loss(gt.clone(), gt, hole, return_terms=True)
    for k in ("hole", "valid", "perceptual", "style"):
        assert exact[k].item() == pytest.approx(0.0, abs=1e-7), k
    assert exact["tv"].item() > 0  # TV of the truth's own texture in the hole
    out = pred.clone().requires_grad_(True)
    total, terms = loss(out, gt, hole, return_terms=True)
    assert terms["perceptual"].item() > 0 and terms["style"].item() > 0
    expected = sum(w * terms[k] for k, w in zip(LOSS_TERMS, (6, 1, 0.05, 120, 0.1)))
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    total.backward()
    assert out.grad is not None and out.grad[hole.bool()].abs().sum() > 0 and out.grad[~hole.bool()].abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())


def test_perceptual_and_style_definitions(vgg_file: Path) -> None:
    loss = RFRLoss(hole_weight=0, valid_weight=0, tv_weight=0, vgg_weights=vgg_file)
    pred, gt, hole = _batch(seed=1)
    _, terms = loss(pred, gt, hole, return_terms=True)
    comp = hole * pred + (1 - hole) * gt
    f_out, f_comp, f_gt = loss.vgg(pred), loss.vgg(comp), loss.vgg(gt)  # type: ignore[misc]
    perceptual = sum((a - c).abs().mean() + (b - c).abs().mean() for a, b, c in zip(f_out, f_comp, f_gt))
    style = sum(
        (gram_matrix(a) - gram_matrix(c)).abs().mean() + (gram_matrix(b) - gram_matrix(c)).abs().mean()
        for a, b, c in zip(f_out, f_comp, f_gt)
    )
    assert terms["perceptual"].item() == pytest.approx(perceptual.item(), rel=1e-5)
    assert terms["style"].item() == pytest.approx(style.item(), rel=1e-5)
    f = torch.ones(1, 2, 3, 4)
    torch.testing.assert_close(gram_matrix(f), torch.full((1, 2, 2), 12 / 24))


def test_missing_vgg_warns_once_and_turns_terms_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    with pytest.warns(UserWarning, match="perceptual and style terms are turned off") as record:
        loss = RFRLoss()
    assert len([w for w in record if "VGG16" in str(w.message)]) == 1
    assert not loss.uses_vgg and loss.weights["perceptual"] == 0 and loss.weights["style"] == 0
    pred, gt, hole = _batch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no further warning per call
        _, terms = loss(pred, gt, hole, return_terms=True)
    assert terms["perceptual"].item() == 0 and terms["style"].item() == 0 and terms["hole"].item() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about when the VGG terms are not wanted
        RFRLoss(style_weight=0, perceptual_weight=0)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        RFRLoss(vgg_weights=tmp_path / "nope.pth")
    cached = save_random_vgg16(tmp_path / "empty_torch_home" / "hub" / "checkpoints" / VGG16_WEIGHTS_FILENAME)
    assert RFRLoss().vgg.weights_path == cached  # type: ignore[union-attr]


def test_gram_matrix_is_finite_and_float32_under_float16_autocast():
    features = torch.full((1, 4, 64, 64), 40.0)  # 4096 * 40^2 = 6.5e6 per entry: inf in float16
    with torch.autocast("cpu", dtype=torch.float16):
        g = gram_matrix(features.half())
    assert g.dtype == torch.float32
    assert torch.isfinite(g).all()
    assert torch.allclose(g, torch.full_like(g, 1600.0 / 4))

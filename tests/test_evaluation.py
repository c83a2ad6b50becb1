"""Model vs classical baselines: per-image scores, summaries, tables and the evaluator handler (fast, no training)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from rfr_inpaint.baselines import make_baseline
from rfr_inpaint.engines import RFREvaluator
from rfr_inpaint.evaluation import METRICS, BaselineComparison, compare, format_table, score, summarize, write_results
from rfr_inpaint.metrics import masked_psnr, masked_ssim


def _data(n: int = 3, size: int = 24):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    truths = np.stack([0.3 + 0.4 * np.sin(3 * xx + k) * yy for k in range(n)]).astype(np.float32)
    truths += rng.normal(0, 0.01, truths.shape).astype(np.float32)
    holes = np.zeros_like(truths, dtype=bool)
    holes[:, 8:14, 9:15] = True
    return truths, holes


def test_score_matches_metric_functions():
    truths, holes = _data()
    results = np.where(holes, 0.5, truths).astype(np.float32)
    s = score(results, truths, holes)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[:, None]  # noqa: E731
    np.testing.assert_allclose(s["ssim"], masked_ssim(t(results), t(truths), t(holes)).numpy(), rtol=1e-6)
    np.testing.assert_allclose(s["psnr"], masked_psnr(t(results), t(truths), t(holes)).numpy(), rtol=1e-6)
    rmse = np.sqrt([((results[i] - truths[i])[holes[i]] ** 2).mean() for i in range(3)])
    np.testing.assert_allclose(s["rmse"], rmse, rtol=1e-5)
    with pytest.raises(ValueError, match="shapes differ"):
        score(results[:2], truths, holes)


def test_compare_runs_every_method_on_the_same_holes():
    truths, holes = _data()
    seen = []

    def spy(images, h):
        seen.append((images.copy(), h.copy()))
        return make_baseline("mean")(images, h)

    perfect = truths.copy()
    rows = compare(truths, truths, holes, {"spy": spy, "telea": make_baseline("telea")}, {"oracle": perfect}, 5)
    assert [r["method"] for r in rows[:3]] == ["oracle", "spy", "telea"] and len(rows) == 9
    assert {r["index"] for r in rows} == {5, 6, 7}
    images, h = seen[0]
    assert np.array_equal(h, holes) and (images[holes] == 0).all()  # the hole's content is never given
    oracle = [r for r in rows if r["method"] == "oracle"]
    assert all(r["ssim"] == pytest.approx(1.0) and r["mae"] == 0.0 for r in oracle)
    assert all(r["hole_fraction"] == pytest.approx(36 / 576) for r in rows)
    with pytest.raises(RuntimeError, match="'bad' returned shape"):
        compare(truths, truths, holes, {"bad": lambda i, h: i[:1]})


def test_summarize_leaves_nan_out_and_uses_sample_std():
    rows = [
        {"method": "a", "ssim": 0.5, "psnr": 20.0, "rmse": 0.1, "mae": 0.05},
        {"method": "a", "ssim": 0.7, "psnr": 30.0, "rmse": 0.3, "mae": 0.15},
        {"method": "a", "ssim": float("nan"), "psnr": float("nan"), "rmse": float("nan"), "mae": float("nan")},
        {"method": "b", "ssim": 0.9, "psnr": 40.0, "rmse": 0.01, "mae": 0.01},
    ]
    s = summarize(rows)
    assert s["a"]["ssim"] == {"mean": pytest.approx(0.6), "std": pytest.approx(np.std([0.5, 0.7], ddof=1)), "n": 2}
    assert s["b"]["psnr"] == {"mean": 40.0, "std": 0.0, "n": 1}
    table = format_table(s).splitlines()
    assert table[0].startswith("| method | ssim") and len(table) == 4
    assert "**0.9000 ± 0.0000**" in table[3] and "**0.0100 ± 0.0000**" in table[3]  # best ssim and rmse
    assert "| a | 0.6000 ± 0.1414" in table[2]


def test_write_results_files(tmp_path: Path):
    truths, holes = _data()
    rows = compare(truths, truths, holes, {m: make_baseline(m) for m in ("biharmonic", "mean")})
    paths = write_results(rows, tmp_path / "out", {"note": "test"})
    with open(paths["per_image"]) as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["index", "method", *METRICS, "hole_fraction"] and len(table) == 6
    summary = json.loads(paths["summary_json"].read_text())
    assert summary["note"] == "test" and summary["higher_is_better"]["rmse"] is False
    assert summary["metrics"]["biharmonic"]["ssim"]["n"] == 3
    bi = [float(r["psnr"]) for r in table if r["method"] == "biharmonic"]
    assert summary["metrics"]["biharmonic"]["psnr"]["mean"] == pytest.approx(np.mean(bi), rel=1e-5)
    # smooth images: biharmonic beats mean fill
    assert summary["metrics"]["biharmonic"]["rmse"]["mean"] < summary["metrics"]["mean"]["rmse"]["mean"]
    assert paths["summary_md"].read_text().count("\n") == 4
    with pytest.raises(ValueError, match="no results"):
        write_results([], tmp_path)


class _Copy(torch.nn.Module):
    """Predicts 0.5 everywhere (mean-fill-like): the evaluator composites it."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, image, hole):
        return torch.full_like(image, 0.5) + self.dummy


def test_baseline_comparison_handler_on_an_evaluator(tmp_path: Path):
    truths, holes = _data(4)
    loader = [
        {
            "image": torch.from_numpy(truths[i : i + 2, None]),
            "hole": torch.from_numpy(holes[i : i + 2, None].astype(np.float32)),
        }
        for i in (0, 2)
    ]
    handler = BaselineComparison(tmp_path, baselines=("mean", "ns"), extra={"run": 1})
    evaluator = RFREvaluator(device="cpu", val_data_loader=loader, network=_Copy(), val_handlers=[handler])
    evaluator.run()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["metrics"]) == ["rfr", "mean", "ns"] and summary["images"] == 4 and summary["run"] == 1
    with open(tmp_path / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["index"] for r in rows if r["method"] == "rfr"] == ["0", "1", "2", "3"]
    # the model's result is 0.5 in the hole: its MAE is the mean |truth - 0.5| over the hole
    expected = [float(np.abs(truths[i][holes[i]] - 0.5).mean()) for i in range(4)]
    got = [float(r["mae"]) for r in rows if r["method"] == "rfr"]
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert all(math.isfinite(float(r["psnr"])) for r in rows)
    with pytest.raises(ValueError, match="unknown classical inpainter"):
        BaselineComparison(tmp_path, baselines=("nope",))


def test_volumetric_methods_are_refused_on_independent_images(tmp_path):
    from rfr_inpaint.baselines import BASELINES
    from rfr_inpaint.evaluation import DEFAULT_BASELINES, check_baselines

    # the default comparison is every slice-wise classical method; biharmonic3d is compared on volumes only
    assert set(DEFAULT_BASELINES) == {n for n, cls in BASELINES.items() if not getattr(cls, "volumetric", False)}
    assert "biharmonic3d" in BASELINES and "biharmonic3d" not in DEFAULT_BASELINES
    assert check_baselines(["mean", "biharmonic"]) == ("mean", "biharmonic")
    rng = np.random.default_rng(0)
    images = rng.random((3, 24, 24)).astype(np.float32)  # three unrelated images, not slices of one volume
    holes = np.zeros(images.shape, dtype=bool)
    holes[:, 8:14, 8:14] = True
    with pytest.raises(ValueError, match="'biharmonic3d' fills consecutive slices"):
        compare(images, images, holes, {"biharmonic3d": make_baseline("biharmonic3d")})
    with pytest.raises(ValueError, match="'biharmonic3d' fills consecutive slices"):
        BaselineComparison(tmp_path, baselines=("mean", "biharmonic3d"))
    with pytest.raises(ValueError, match="unknown classical inpainter 'rfr'"):
        check_baselines(["rfr"])

"""Experiment grids from a spec file: spec checks, grid expansion, and one tiny end-to-end grid (train once on one
setting, test on two: one in distribution, one out of distribution)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from _bundle_helpers import BUNDLE_DIR
from PIL import Image
from rfr_inpaint import experiments, locations
from rfr_inpaint.experiments import (
    BUNDLE_CONFIG_FILES,
    expand_grid,
    find_bundle_dir,
    load_spec,
    main,
    plan_runs,
    setting_label,
)


def _write(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec))
    return path


def test_expand_grid_and_plans():
    grid = [{"kind": "strips", "count": [1, 2], "orientation": ["horizontal", "vertical"]}, {"kind": "square"}]
    settings = expand_grid(grid)
    assert len(settings) == 5 and settings[0] == {"kind": "strips", "count": 1, "orientation": "horizontal"}
    assert (
        setting_label(settings[-1]) == "square" and setting_label(settings[1]) == "strips count=1 orientation=vertical"
    )
    spec = {"grid": {"kind": "square", "hole_ratio": [4, 8, 4]}}
    assert len(expand_grid(spec["grid"])) == 2  # duplicates removed
    assert [len(r["tests"]) for r in plan_runs({**spec, "train_on": "each"})] == [1, 1]
    assert [len(r["tests"]) for r in plan_runs({**spec, "train_on": "all"})] == [2, 2]
    ood = plan_runs({**spec, "train_on": {"kind": "square", "hole_ratio": 4}})
    assert len(ood) == 1 and ood[0]["tests"][1] == {"kind": "square", "hole_ratio": 8}
    with pytest.raises(ValueError, match="'kind'"):
        expand_grid({"hole_ratio": [4]})
    with pytest.raises(ValueError, match="no values"):
        expand_grid({"kind": "square", "hole_ratio": []})


def test_spec_errors_name_the_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_spec(tmp_path / "missing.json")
    bad = _write(tmp_path / "bad.json", {"grid": {"kind": "square"}, "budgte": {}})
    with pytest.raises(ValueError, match=r"bad.json: unknown spec keys \['budgte'\]"):
        load_spec(bad)
    nogrid = _write(tmp_path / "nogrid.json", {"name": "x"})
    with pytest.raises(ValueError, match="nogrid.json: the spec needs a 'grid'"):
        load_spec(nogrid)
    mode = _write(tmp_path / "mode.json", {"grid": {"kind": "square"}, "train_on": "some"})
    with pytest.raises(ValueError, match="train_on"):
        load_spec(mode)
    assert main([str(nogrid)]) == 2


def test_bundle_folder_of_a_regular_install(tmp_path: Path, monkeypatch, capsys):
    """Installed without the source tree: the package alone in site-packages, the bundle folder somewhere else."""
    site = tmp_path / "site-packages" / "rfr_inpaint"
    site.mkdir(parents=True)
    monkeypatch.setattr(locations, "__file__", str(site / "locations.py"))
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(FileNotFoundError, match=r"--bundle_dir; looked at .*work \(lacks configs/train.json"):
        find_bundle_dir()
    spec = _write(tmp_path / "spec.json", {"grid": {"kind": "square"}})
    assert main([str(spec)]) == 2 and "no MONAI bundle folder found" in capsys.readouterr().err
    bundle = tmp_path / "my_bundle"
    (bundle / "configs").mkdir(parents=True)
    for name in BUNDLE_CONFIG_FILES[:-1]:
        (bundle / "configs" / name).write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"my_bundle: not a bundle folder: configs/ lacks metadata.json"):
        find_bundle_dir(bundle)
    (bundle / "configs" / BUNDLE_CONFIG_FILES[-1]).write_text("{}")
    assert find_bundle_dir(bundle) == bundle  # given explicitly
    monkeypatch.chdir(bundle)
    assert find_bundle_dir() == bundle  # run from the bundle folder
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(locations, "__file__", str(BUNDLE_DIR / "rfr_inpaint" / "locations.py"))
    assert find_bundle_dir() == BUNDLE_DIR.resolve()  # a source checkout / editable install: the package's folder


def test_shipped_specs_are_valid():
    for path in sorted((BUNDLE_DIR / "configs" / "experiments").glob("*.json")):
        spec = load_spec(path)
        assert plan_runs(spec), path


@pytest.mark.slow
def test_tiny_grid_end_to_end(tmp_path: Path, capsys):
    spec = _write(
        tmp_path / "tiny.json",
        {
            "name": "tiny",
            "grid": {"kind": "square", "hole_ratio": [4, 8]},
            "train_on": {"kind": "square", "hole_ratio": 4},
            "budget": {"image_size": 32, "num_train_images": 2, "num_val_images": 2, "batch_size": 2, "max_epochs": 1},
            "test": {"num_test_images": 2, "seed": 7},
            "baselines": ["mean"],
        },
    )
    out = tmp_path / "out"
    assert main([str(spec), "--output_dir", str(out), "--device", "cpu"]) == 0
    assert "results:" in capsys.readouterr().out
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["test"], r["method"]) for r in rows] == [
        ("square hole_ratio=4", "rfr"),
        ("square hole_ratio=4", "mean"),
        ("square hole_ratio=8", "rfr"),
        ("square hole_ratio=8", "mean"),
    ]
    assert [r["in_distribution"] for r in rows] == ["True", "True", "False", "False"]
    assert {r["train"] for r in rows} == {"square hole_ratio=4"} and {r["iterations"] for r in rows} == {"1"}
    # hole ratio 4 on 32 px: an 8 x 8 hole (1/16 of the image); ratio 8: 4 x 4 (1/64)
    assert float(rows[0]["hole_fraction"]) == pytest.approx(1 / 16) and float(
        rows[2]["hole_fraction"]
    ) == pytest.approx(1 / 64)
    for r in rows:
        assert -1 <= float(r["ssim"]) <= 1 and float(r["rmse"]) >= 0 and r["n"] == "2"
    with open(out / "history.csv") as f:
        history = list(csv.DictReader(f))
    assert len(history) == 1 and history[0]["iteration"] == "1" and "val_ssim" in history[0]
    for name in ("metrics_vs_hole_ratio.png", "metrics_vs_iterations.png"):
        image = np.asarray(Image.open(out / name))
        assert image.shape[0] > 100 and image.shape[1] > 200 and image.std() > 0
    spec_out = json.loads((out / "spec.json").read_text())
    assert spec_out["budget"]["checkpoint_interval"] == 0 and len(spec_out["runs"]) == 1


def test_spec_baselines_are_checked_before_any_training(tmp_path: Path):
    ok = load_spec(_write(tmp_path / "ok.json", {"grid": {"kind": "square"}, "baselines": ["biharmonic", "mean"]}))
    assert ok["baselines"] == ["biharmonic", "mean"]
    volumetric = _write(tmp_path / "vol.json", {"grid": {"kind": "square"}, "baselines": ["biharmonic3d"]})
    with pytest.raises(ValueError, match=r"vol\.json: baselines: method 'biharmonic3d' fills consecutive slices"):
        load_spec(volumetric)
    unknown = _write(tmp_path / "unknown.json", {"grid": {"kind": "square"}, "baselines": ["magic"]})
    with pytest.raises(ValueError, match=r"unknown\.json: baselines: unknown classical inpainter 'magic'"):
        load_spec(unknown)
    text = _write(tmp_path / "text.json", {"grid": {"kind": "square"}, "baselines": "mean"})
    with pytest.raises(ValueError, match=r"text\.json: baselines must be a list"):
        load_spec(text)

"""The headroom benchmark (bench/bench_headroom.py) on the committed real chest CT slices (tests/data)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CT = ROOT / "tests" / "data" / "real_ct_chest.nii.gz"


@pytest.fixture(scope="module")
def report():
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(ROOT / "bench"))
    for name in ("bench_accuracy", "bench_headroom"):
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        mp.setitem(sys.modules, name, module)  # dataclasses look their module up there
        spec.loader.exec_module(module)
    try:
        yield module.main(["--volume", str(CT), "--crop", "96", "--z-context", "3", "--cases-per-family", "1",
                           "--exponents", "0,2"])
    finally:
        mp.undo()


def test_every_family_and_oracle_is_reported(report):
    assert list(report["families"]) == ["square-1", "square-2", "square-4", "square-8", "strip-1", "strip-2",
                                        "strip-4", "ellipsoid", "screw", "dental"]
    assert report["overall"]["n_cases"] == 10 and report["split"] is None
    fills = {"biharmonic3d_mm", "best_exponent", "smooth_0.5", "smooth_1", "smooth_2"}
    assert fills | {"n_cases"} == set(report["overall"])


def test_oracles_bound_the_classical_fill(report):
    for family, row in report["families"].items():
        # the default exponent (1) is always one of the choices, so picking the best per case never loses
        assert row["best_exponent"]["gain_db"] >= 0.0, family
    overall = report["overall"]
    # the truth smoothed by half a pixel keeps almost all of the anatomy: far above any fill of the hole
    assert overall["smooth_0.5"]["gain_db"] > 5.0
    assert overall["smooth_0.5"]["psnr"] > overall["smooth_1"]["psnr"] > overall["smooth_2"]["psnr"]
    assert 0.0 < overall["biharmonic3d_mm"]["ssim"] < overall["smooth_0.5"]["ssim"] <= 1.0


def test_bad_arguments_are_refused(report):
    spec = importlib.util.spec_from_file_location("bench_headroom_cli", ROOT / "bench" / "bench_headroom.py")
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(ROOT / "bench"))
    try:
        cli = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cli)
        with pytest.raises(SystemExit, match="--sigmas > 0"):
            cli.main(["--volume", str(CT), "--sigmas", "0"])
        with pytest.raises(SystemExit, match="give --data DIR"):
            cli.main([])
    finally:
        mp.undo()

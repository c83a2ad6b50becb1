"""``monai_bundle/scripts/make_readme_figure.py``: the README's picture on a held-out CT of a data folder's test split."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _bundle_helpers import BUNDLE_DIR
from PIL import Image
from test_shipped_model import _tiny_guided_checkpoint

REAL_CT = Path(__file__).resolve().parent / "data" / "real_ct_chest.nii.gz"


def _script():
    path = BUNDLE_DIR / "scripts" / "make_readme_figure.py"
    spec = importlib.util.spec_from_file_location("make_readme_figure", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_figure_on_a_held_out_patient(tmp_path, capsys):
    data = tmp_path / "real_ct"
    (data / "images").mkdir(parents=True)
    shutil.copy(REAL_CT, data / "images" / "chest.nii.gz")
    entry = {"image": "images/chest.nii.gz", "modality": "CT"}
    datalist = {"training": [{**entry, "patient": "seen"}], "test": [{**entry, "patient": "held_out"}]}
    (data / "datalist.json").write_text(json.dumps(datalist))
    model = _tiny_guided_checkpoint(tmp_path / "model.pt", prior_spacing_exponent="auto")  # the recipe's prior
    script = _script()
    out = tmp_path / "figure.png"
    argv = ["--data", str(data), "--model", str(model), "--out", str(out), "--patient", "held_out"]
    assert script.main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    scores = report["hole_psnr_db"]
    assert set(scores) == {"rfr", "biharmonic3d_auto", "biharmonic3d_mm", "biharmonic"} and report["hole_voxels"] > 0
    # the untrained guided network returns its 3-D prior (biharmonic3d_auto): the same scores
    assert scores["rfr"] == pytest.approx(scores["biharmonic3d_auto"])
    assert all(np.isfinite(v) and 10.0 < v < 100.0 for s in scores.values() for v in s.values())
    width, height = Image.open(out).size
    assert width > 2 * height > 0  # 2 rows of 5 panels
    with pytest.raises(SystemExit, match="no CT of patient 'seen' in the test split \\(it holds: held_out\\)"):
        script.main([*argv[:-1], "seen"])

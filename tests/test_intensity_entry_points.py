"""Every entry point resolves the same intensity mapping for the same image and hole: the Python API
(``inpaint_volume``), the ``rfr-inpaint`` command, the Slicer logic, the bundle's inference and training pipelines.
Same mode names, same meaning of ``auto`` (the model bundle's recorded mapping first), fitted on the known voxels
only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from _bundle_helpers import CONFIGS
from _reliability_helpers import save_tiny_checkpoint
from monai.bundle import ConfigParser
from rfr_inpaint.cli import main
from rfr_inpaint.data import synthetic_ct_slice
from rfr_inpaint.defaults import DEFAULT_CT_WINDOW, INTENSITY_MODES
from rfr_inpaint.inpainters import get_inpainter
from rfr_inpaint.transforms import intensity as intensity_module
from rfr_inpaint.transforms.intensity import fit_intensity, get_intensity_transform, resolve_intensity
from rfr_inpaint.volume import inpaint_volume

METAL_HU = 3071
#: (mode, CT window): the default window and a narrow one
CASES = [(mode, DEFAULT_CT_WINDOW) for mode in INTENSITY_MODES] + [("ct", (-300.0, 500.0))]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A 2D int16 CT slice with a metal disc (the hole, on which a whole-image percentile would stretch), its mask
    file beside it, and a bundle folder recording a percentile mapping."""
    folder = tmp_path_factory.mktemp("entry")
    image = np.rint(synthetic_ct_slice(48, seed=3)).astype(np.int16)
    yy, xx = np.mgrid[:48, :48]
    hole = (yy - 20) ** 2 + (xx - 26) ** 2 <= 30
    image[hole] = METAL_HU
    sitk.WriteImage(sitk.GetImageFromArray(image), str(folder / "ct.nrrd"))
    sitk.WriteImage(sitk.GetImageFromArray(hole.astype(np.uint8)), str(folder / "ct_mask.nrrd"))
    bundle = folder / "bundle"
    (bundle / "configs").mkdir(parents=True)
    save_tiny_checkpoint((bundle / "models").mkdir() or bundle / "models" / "model.pt")
    (bundle / "configs" / "inference.json").write_text(
        json.dumps({"intensity_mode": "percentile", "percentiles": [2, 98]})
    )
    return {"folder": folder, "image": image, "hole": hole, "bundle": bundle}


@pytest.fixture()
def fitted(monkeypatch):
    """Records every mapping the package fits (all entry points go through ``fit_intensity``)."""
    records: list[dict] = []
    real = intensity_module.fit_intensity

    def spy(*args, **kwargs):
        records.append(real(*args, **kwargs))
        return records[-1]

    monkeypatch.setattr(intensity_module, "fit_intensity", spy)
    return records


def _expected(inputs, mode, window=DEFAULT_CT_WINDOW, **options):
    return fit_intensity(get_intensity_transform(mode, window=window, **options), inputs["image"], inputs["hole"])


def _cli(inputs, tmp_path, mode, window, model=None):
    folder = inputs["folder"]
    argv = ["--image", str(folder / "ct.nrrd"), "--mask", str(folder / "ct_mask.nrrd")]
    argv += ["--output", str(tmp_path / f"out_{mode}.nrrd"), "--overwrite", "--quiet", "--intensity", mode]
    argv += ["--window", *(str(v) for v in window)]
    argv += ["--method", "rfr", "--model", str(model), "--device", "cpu"] if model else ["--method", "mean"]
    assert main(argv) == 0


def _bundle_record(inputs, config: str, section: str, **overrides):
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / config))
    parser.update({"dataset_dir": str(inputs["folder"]), **overrides})
    item = {"image": str(inputs["folder"] / "ct.nrrd"), "mask": str(inputs["folder"] / "ct_mask.nrrd")}
    return dict(parser.get_parsed_content(section)(item)["image_intensity_mapping"])


@pytest.mark.parametrize("mode,window", CASES)
def test_api_command_line_and_bundle_pipelines_fit_the_same_mapping(inputs, tmp_path, fitted, mode, window):
    expected = _expected(inputs, mode, window)
    assert expected["a_max"] < METAL_HU or mode != "percentile"  # the metal is not in the fit
    inpaint_volume(
        inputs["image"],
        inputs["hole"],
        get_inpainter("mean"),
        margin_mm=0.0,
        intensity=resolve_intensity(mode, window=window),
    )
    _cli(inputs, tmp_path, mode, window)
    assert fitted == [expected, expected]
    options = {"intensity_mode": mode, "ct_window": list(window)}
    assert _bundle_record(inputs, "inference.json", "preprocessing", **options) == expected
    assert _bundle_record(inputs, "train.json", "validate#preprocessing", image_size=48, **options) == expected


def test_auto_takes_the_mapping_the_model_bundle_records(inputs, tmp_path, fitted):
    expected = _expected(inputs, "percentile", percentiles=(2, 98))
    assert expected != _expected(inputs, "auto")  # the image alone would give a CT window
    _cli(inputs, tmp_path, "auto", DEFAULT_CT_WINDOW, model=inputs["bundle"] / "models" / "model.pt")
    _cli(inputs, tmp_path, "ct", DEFAULT_CT_WINDOW, model=inputs["bundle"])  # an explicit mode wins
    assert fitted == [expected, _expected(inputs, "ct")]
    recorded = {"intensity_mode": "percentile", "percentiles": [2, 98]}  # the bundle's own inference config
    assert _bundle_record(inputs, "inference.json", "preprocessing", **recorded) == expected


def test_slicer_logic_fits_the_same_mapping(inputs, fitted):
    slicer = pytest.importorskip("slicer")
    module_dir = Path(__file__).resolve().parents[1] / "RFRInpaint"
    if str(module_dir) not in sys.path:
        sys.path.insert(0, str(module_dir))
    from RFRInpaintLib.logic import InpaintOptions, RFRInpaintProcessor

    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT")
    slicer.util.updateVolumeFromArray(node, inputs["image"][None])  # one axial slice
    processor = RFRInpaintProcessor()
    threshold = {"metalThresholdHU": METAL_HU, "marginMm": 0.0}
    for mode, window in CASES:
        processor.process(node, InpaintOptions(**threshold, method="mean", intensity=mode, window=window))
    model = {"method": "rfr", "device": "cpu", "modelPath": str(inputs["bundle"])}
    processor.process(node, InpaintOptions(**threshold, **model, intensity="auto"))
    expected = [_expected(inputs, mode, window) for mode, window in CASES]
    assert fitted == [*expected, _expected(inputs, "percentile", percentiles=(2, 98))]

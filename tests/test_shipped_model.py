"""The shipped model and the default method: one place each (``rfr_inpaint.defaults``, ``rfr_inpaint.locations``),
used by ``get_inpainter``, the ``rfr-inpaint`` command, the 3D Slicer logic and the MONAI Label app.

Each entry point runs on a temporary bundle folder holding a tiny guided checkpoint (``RFRNet(prior=True)``, float16,
untrained: it returns the 3-D biharmonic fill), so nothing here depends on the real model; when
``monai_bundle/models/model.pt`` is there, :func:`test_the_real_shipped_model` checks it too.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from _bundle_helpers import BUNDLE_DIR
from rfr_inpaint import defaults, locations
from rfr_inpaint.cli import EXIT_CODES, build_parser, main
from rfr_inpaint.defaults import DEFAULT_METHOD, SHIPPED_MODEL, THRESHOLD_MARGIN_MM
from rfr_inpaint.image_io import read_image
from rfr_inpaint.inpainters import get_inpainter, resolve_model_path
from rfr_inpaint.transforms.holes3d import metal_holes_3d
from rfr_inpaint.volume import dilate_mm, inpaint_volume

ROOT = Path(__file__).resolve().parents[1]
REAL_CT = Path(__file__).resolve().parent / "data" / "real_ct_chest.nii.gz"


def _tiny_guided_checkpoint(path: Path, prior_spacing_exponent: float | str = 0.0) -> Path:
    """An untrained guided RFR-Net (prior, one context slice), float16 like the shipped model."""
    from rfr_inpaint.networks import RFRNet

    torch.manual_seed(0)
    network = RFRNet(width=8, prior=True, context_slices=1, prior_spacing_exponent=prior_spacing_exponent)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in network.state_dict().items()}, path)
    return path


def _bundle(folder: Path) -> Path:
    """A bundle folder: ``configs/metadata.json`` and the tiny model as ``models/model.pt``."""
    (folder / "configs").mkdir(parents=True)
    (folder / "configs" / "metadata.json").write_text("{}")
    _tiny_guided_checkpoint(folder / SHIPPED_MODEL)
    return folder


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A temporary bundle folder that is the current folder; the package's own folder holds no model."""
    bundle = _bundle(tmp_path / "bundle")
    empty = tmp_path / "package_dir"
    empty.mkdir()
    monkeypatch.setattr(locations, "package_bundle_dir", lambda: empty)
    monkeypatch.chdir(bundle)
    return bundle


@pytest.fixture(scope="module")
def real_ct():
    """(int16 HU volume, spacing (z, y, x), metal-like screw hole): 8 real chest CT slices, 96 x 96 in-plane."""
    image = sitk.ReadImage(str(REAL_CT))
    volume = sitk.GetArrayFromImage(image)[:, 48:144, 48:144]
    spacing = tuple(reversed(image.GetSpacing()))
    hole = metal_holes_3d(volume.shape, spacing, np.random.default_rng(0), kind="screw", body=volume > -500)
    return volume, spacing, hole


def test_shipped_model_is_looked_for_in_bundle_folders_only(tmp_path, monkeypatch):
    empty = tmp_path / "package_dir"
    empty.mkdir()
    monkeypatch.setattr(locations, "package_bundle_dir", lambda: empty)
    stray = tmp_path / "elsewhere"
    _tiny_guided_checkpoint(stray / SHIPPED_MODEL)  # a models/model.pt outside any bundle folder is not taken
    monkeypatch.chdir(stray)
    with pytest.raises(FileNotFoundError) as error:
        locations.shipped_model_path()
    message = str(error.value)
    assert f"{stray} (lacks configs/metadata.json)" in message
    assert f"{empty} (lacks configs/metadata.json, models/model.pt)" in message
    with pytest.raises(FileNotFoundError, match="no shipped RFR-Net model"):
        resolve_model_path(None)
    # the package's folder (a source checkout), then a folder a caller adds, then the current folder first of all
    package = _bundle(tmp_path / "package_bundle")
    monkeypatch.setattr(locations, "package_bundle_dir", lambda: package)
    assert locations.shipped_model_path() == package / SHIPPED_MODEL
    monkeypatch.setattr(locations, "package_bundle_dir", lambda: empty)
    extra = _bundle(tmp_path / "repo" / "monai_bundle")
    assert locations.shipped_model_path(extra_dirs=[extra]) == extra / SHIPPED_MODEL
    current = _bundle(tmp_path / "current")
    monkeypatch.chdir(current)
    assert locations.shipped_model_path(extra_dirs=[extra]) == current / SHIPPED_MODEL
    assert resolve_model_path(None) == current / SHIPPED_MODEL


def test_get_inpainter_rfr_without_a_model_is_the_shipped_one(shipped, real_ct):
    volume, spacing, hole = real_ct
    inpainter = get_inpainter("rfr", device="cpu")
    assert inpainter.volumetric and inpainter.network.prior and inpainter.network.context_slices == 1
    result, used = inpaint_volume(volume, hole, inpainter, spacing=spacing, margin_mm=1.0)
    reference, _ = inpaint_volume(volume, hole, get_inpainter("biharmonic3d"), spacing=spacing, margin_mm=1.0)
    np.testing.assert_array_equal(result[~used], volume[~used])
    assert (result[used] != volume[used]).mean() > 0.9
    # the untrained guided network returns its 3-D biharmonic prior: the same HU as biharmonic3d
    np.testing.assert_array_equal(result, reference)


def _write_nifti(array: np.ndarray, spacing, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in reversed(spacing)))
    sitk.WriteImage(image, str(path))
    return path


def test_cli_defaults_to_the_shipped_model_and_the_default_method(shipped, real_ct, tmp_path, capsys):
    volume, spacing, hole = real_ct
    with_metal = np.where(hole, 3071, volume).astype(np.int16)
    image = _write_nifti(with_metal, spacing, tmp_path / "ct.nii.gz")
    code = main(
        [
            "--image",
            str(image),
            "--metal-threshold",
            "--output",
            str(tmp_path / "out.nii.gz"),
            "--device",
            "cpu",
            "--progress",
            "json",
        ]
    )
    assert code == EXIT_CODES["ok"], capsys.readouterr().err
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "start" and events[0]["method"] == DEFAULT_METHOD
    out = read_image(tmp_path / "out.nii.gz").array
    assert (
        main(
            [
                "--image",
                str(image),
                "--metal-threshold",
                "--output",
                str(tmp_path / "b3d.nii.gz"),
                "--method",
                DEFAULT_METHOD,
                "--quiet",
            ]
        )
        == 0
    )
    # without --method: the default method, as if named; the metal is gone
    np.testing.assert_array_equal(out, read_image(tmp_path / "b3d.nii.gz").array)
    used = dilate_mm(with_metal >= 2500, THRESHOLD_MARGIN_MM, spacing)
    np.testing.assert_array_equal(out[~used], with_metal[~used])
    assert out[hole].max() < 2000


def test_default_method_is_read_by_the_cli_and_the_slicer_module(monkeypatch):
    from rfr_inpaint.cli import _resolve_method

    parser = build_parser()
    assert parser.get_default("method") is None  # resolved when the command runs: a --model implies rfr
    assert f"inpainting method (default: {DEFAULT_METHOD};" in " ".join(parser.format_help().split())
    args = parser.parse_args(["--image", "x.nii.gz", "--metal-threshold"])
    _resolve_method(args)
    assert args.method == DEFAULT_METHOD
    args = parser.parse_args(["--image", "x.nii.gz", "--metal-threshold", "--model", "m.pt"])
    _resolve_method(args)
    assert args.method == "rfr"
    other = next(m for m in ("mean", "biharmonic") if m != DEFAULT_METHOD)
    monkeypatch.setattr(defaults, "DEFAULT_METHOD", other)  # read when the parser is built and when the command runs
    assert f"(default: {other};" in " ".join(build_parser().format_help().split())
    args = build_parser().parse_args(["--image", "x.nii.gz", "--metal-threshold"])
    _resolve_method(args)
    assert args.method == other
    # the Slicer panel's parameter node default is the name DEFAULT_METHOD imported from rfr_inpaint.defaults (the
    # module needs the Slicer application to import, so it is read as source)
    tree = ast.parse((ROOT / "RFRInpaint" / "RFRInpaint.py").read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "rfr_inpaint.defaults"
        for alias in node.names
    }
    parameters = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RFRInpaintParameterNode")
    method = next(n for n in parameters.body if isinstance(n, ast.AnnAssign) and n.target.id == "method")
    assert "DEFAULT_METHOD" in imported and isinstance(method.value, ast.Name) and method.value.id == "DEFAULT_METHOD"


def test_slicer_logic_defaults_to_the_default_method_and_the_shipped_model(shipped, real_ct):
    slicer = pytest.importorskip("slicer")
    module_dir = ROOT / "RFRInpaint"
    if str(module_dir) not in sys.path:
        sys.path.insert(0, str(module_dir))
    from RFRInpaintLib.logic import InpaintOptions, RFRInpaintProcessor

    assert InpaintOptions().method == DEFAULT_METHOD
    volume, spacing, hole = real_ct
    with_metal = np.where(hole, 3071, volume).astype(np.int16)
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT")
    slicer.util.updateVolumeFromArray(node, with_metal)
    node.SetSpacing(*reversed(spacing))
    models = []

    def factory(method, model_path=None, device="auto", **options):
        models.append((method, model_path))
        return get_inpainter(method, model_path=model_path, device=device, **options)

    result = RFRInpaintProcessor(factory).process(node, InpaintOptions(method="rfr", metalThresholdHU=2500.0))
    assert models == [("rfr", str(shipped / SHIPPED_MODEL))]
    out = slicer.util.arrayFromVolume(result.outputVolume)
    np.testing.assert_array_equal(out[~result.usedMask], with_metal[~result.usedMask])
    assert out[hole].max() < 2000


def test_monailabel_app_serves_the_shipped_model(tmp_path, monkeypatch):
    if importlib.util.find_spec("monailabel") is None or importlib.util.find_spec("fastapi") is None:
        pytest.skip("monailabel is not installed (monailabel_app/install.sh)")
    app_dir = ROOT / "monailabel_app"
    monkeypatch.syspath_prepend(str(app_dir))
    spec = importlib.util.spec_from_file_location("rfr_inpaint_monailabel_main", app_dir / "main.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    empty = tmp_path / "package_dir"
    empty.mkdir()
    monkeypatch.setattr(locations, "package_bundle_dir", lambda: empty)
    monkeypatch.chdir(empty)
    repo = tmp_path / "repo"
    (repo / "monailabel_app").mkdir(parents=True)
    assert app._shipped_model(repo / "monailabel_app") is None  # no model: rfr is not offered
    _bundle(repo / "monai_bundle")  # the app's repository holds the bundle with its shipped model
    assert app._shipped_model(repo / "monailabel_app") == (repo / "monai_bundle" / SHIPPED_MODEL).resolve()


@pytest.mark.skipif(not (BUNDLE_DIR / SHIPPED_MODEL).is_file(), reason="the shipped model is not committed yet")
def test_the_real_shipped_model(real_ct, monkeypatch):
    from rfr_inpaint.networks import load_network
    from rfr_inpaint.safe_io import load_checkpoint

    path = BUNDLE_DIR / SHIPPED_MODEL
    monkeypatch.chdir(BUNDLE_DIR.parent)  # the repository root: the package's folder is the bundle
    assert locations.shipped_model_path() == path.resolve()
    state = load_checkpoint(path)  # weights_only=True
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    network = load_network(path)
    assert network.guide_channels > 0 and network.prior  # a guided variant: it starts from the classical prior
    volume, spacing, hole = real_ct
    result, used = inpaint_volume(volume, hole, get_inpainter("rfr", device="cpu"), spacing=spacing, margin_mm=1.0)
    np.testing.assert_array_equal(result[~used], volume[~used])  # known voxels composited exactly
    assert result.dtype == volume.dtype and (result[used] != volume[used]).any()


def test_ship_model_script_stores_float16_checks_and_records_the_digest(tmp_path, capsys):
    import hashlib
    import shutil

    from rfr_inpaint.networks import load_network
    from rfr_inpaint.safe_io import load_checkpoint

    spec = importlib.util.spec_from_file_location("ship_model", BUNDLE_DIR / "scripts" / "ship_model.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    source = _tiny_guided_checkpoint(tmp_path / "stage" / "model.pt", prior_spacing_exponent=1.0)
    large_files = tmp_path / "large_files.yml"
    shutil.copy(BUNDLE_DIR / "large_files.yml", large_files)
    dest = tmp_path / "models" / "model.pt"
    dest.parent.mkdir()
    argv = [str(source), "--dest", str(dest), "--large-files", str(large_files)]
    assert script.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    assert report["sha256"] == digest and f'hash_val: "{digest}"' in large_files.read_text()
    assert large_files.read_text().count("hash_val") == (BUNDLE_DIR / "large_files.yml").read_text().count("hash_val")
    stored = load_checkpoint(dest)
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())
    assert load_network(dest).prior_spacing_exponent == 1.0 and report["variant"]["context_slices"] == 1
    before = dest.read_bytes()
    with pytest.raises(SystemExit):  # an existing shipped model is replaced only with --force
        script.main(argv)
    with pytest.raises(SystemExit, match="no single entry"):  # a wrong entry is refused before anything is written
        script.main([*argv, "--force", "--entry", "models/other.pt"])
    assert dest.read_bytes() == before
    assert script.main([*argv, "--force"]) == 0

"""The Slicer module's GUI-free logic (RFRInpaint/RFRInpaintLib) on a real MRML scene from the slicer-core wheel."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "RFRInpaint"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

from RFRInpaintLib import BUNDLE_SOURCE_DIR, ensure_rfr_inpaint_importable  # noqa: E402
from RFRInpaintLib import dependencies  # noqa: E402
from RFRInpaintLib.logic import (  # noqa: E402
    ORIGINAL_REFERENCE_ROLE,
    InpaintOptions,
    RFRInpaintProcessor,
    holeFromSegment,
    numpyAxisForPlane,
)
from rfr_inpaint.data.synthetic import insert_metal, synthetic_ct_volume  # noqa: E402
from rfr_inpaint.inpainters import get_inpainter  # noqa: E402
from rfr_inpaint.volume import InpaintingCancelled, dilate_mm, slices_with_hole  # noqa: E402

SPACING_KJI = (3.0, 1.5, 1.5)
METAL_SLICES = [4, 5, 6]


@pytest.fixture(scope="module")
def ct():
    """(metal-free truth, int16 volume with metal, metal mask), 12 x 64 x 64 voxels."""
    truth, spacing = synthetic_ct_volume((12, 64, 64), seed=1, spacing=SPACING_KJI)
    with_metal, metal = insert_metal(truth, seed=2, n_objects=2, slices=METAL_SLICES, spacing=spacing)
    return np.rint(truth).astype(np.int16), np.rint(with_metal).astype(np.int16), metal


class CountingFactory:
    """Wraps get_inpainter and records the slices each inpainter call receives."""

    def __init__(self):
        self.batches: list[np.ndarray] = []

    def __call__(self, method, model_path=None, device="auto", **options):
        inner = get_inpainter(method, model_path=model_path, device=device, **options)

        def inpainter(images, holes):
            self.batches.append(images.copy())
            return inner(images, holes)

        return inpainter

    @property
    def slices(self) -> int:
        return sum(len(b) for b in self.batches)


def _scene_with_volume(array: np.ndarray, name: str = "CT"):
    scene = slicer.vtkMRMLScene()
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    slicer.util.updateVolumeFromArray(volume, array)
    volume.SetSpacing(*reversed(SPACING_KJI))
    volume.SetOrigin(-40.0, 25.0, 100.0)
    directions = vtk.vtkMatrix4x4()  # LPS-like: I -> -R, J -> -A, K -> S
    directions.SetElement(0, 0, -1.0)
    directions.SetElement(1, 1, -1.0)
    volume.SetIJKToRASDirectionMatrix(directions)
    volume.CreateDefaultDisplayNodes()
    return scene, volume


def _segmentation_of(scene, volume, mask: np.ndarray, name: str = "metal") -> tuple[object, str]:
    """A segmentation node whose segment is imported from a labelmap on the volume grid."""
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "label")
    labelmap.CopyOrientation(volume)
    slicer.util.updateVolumeFromArray(labelmap, mask.astype(np.uint8))
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    scene.RemoveNode(labelmap)
    segment_id = segmentation.GetSegmentation().GetNthSegmentID(0)
    segmentation.GetSegmentation().GetSegment(segment_id).SetName(name)
    return segmentation, segment_id


def _geometry(node) -> tuple:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return (
        tuple(round(matrix.GetElement(r, c), 9) for r in range(4) for c in range(4)),
        node.GetImageData().GetDimensions(),
        node.GetImageData().GetScalarType(),
    )


def _data_nodes(scene) -> list[str]:
    """IDs of the scene's nodes except the subject hierarchy (which the scene creates on first use)."""
    nodes = (scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes()))
    return [n.GetID() for n in nodes if n.GetClassName() != "vtkMRMLSubjectHierarchyNode"]


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def test_segment_export_matches_the_mask(ct):
    _, with_metal, metal = ct
    scene, volume = _scene_with_volume(with_metal)
    segmentation, segment_id = _segmentation_of(scene, volume, metal)
    nodes_before = _data_nodes(scene)
    np.testing.assert_array_equal(holeFromSegment(volume, segmentation, segment_id), metal)
    assert _data_nodes(scene) == nodes_before  # the temporary labelmap and its colour table are removed
    with pytest.raises(ValueError, match="has no segment 'nope'"):
        holeFromSegment(volume, segmentation, "nope")


def test_new_volume_from_segment(ct):
    truth, with_metal, metal = ct
    scene, volume = _scene_with_volume(with_metal)
    segmentation, segment_id = _segmentation_of(scene, volume, metal)
    factory = CountingFactory()
    progress = []
    result = RFRInpaintProcessor(factory).process(
        volume,
        InpaintOptions(
            segmentationNode=segmentation, segmentId=segment_id, marginMm=2.0, method="biharmonic", batchSize=2
        ),
        progress=lambda done, total: progress.append((done, total)),
    )
    output = result.outputVolume
    assert output is not volume and output.GetName() == "CT inpainted" and result.originalVolume is None
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), with_metal)  # input untouched
    assert _geometry(output) == _geometry(volume)  # spacing, origin, directions, dimensions, scalar type
    out = slicer.util.arrayFromVolume(output)
    assert out.dtype == np.int16
    expected_mask = dilate_mm(metal, 2.0, SPACING_KJI)
    np.testing.assert_array_equal(result.usedMask, expected_mask)
    assert expected_mask.sum() > metal.sum()  # 2 mm > 1.5 mm in-plane spacing: the margin grew the region
    np.testing.assert_array_equal(out[~expected_mask], with_metal[~expected_mask])
    # only the slices containing the (dilated) mask reach the inpainter: here exactly the metal slices
    np.testing.assert_array_equal(result.processedSlices, METAL_SLICES)
    assert factory.slices == len(METAL_SLICES) and result.sliceAxis == 0
    assert progress[-1] == (3, 3)
    inside = expected_mask
    assert _mae(out[inside], truth[inside]) < 0.25 * _mae(with_metal[inside], truth[inside])
    assert out[inside].max() < 2500


def test_in_place_keeps_a_recoverable_original(ct):
    _, with_metal, metal = ct
    scene, volume = _scene_with_volume(with_metal)
    segmentation, segment_id = _segmentation_of(scene, volume, metal)
    geometry = _geometry(volume)
    nodes = _data_nodes(scene)
    processor = RFRInpaintProcessor()
    result = processor.process(
        volume, InpaintOptions(segmentationNode=segmentation, segmentId=segment_id, method="telea", inPlace=True)
    )
    np.testing.assert_array_equal(result.usedMask, metal)  # a segment is inpainted as drawn: no default margin
    assert result.outputVolume is volume
    backup = result.originalVolume
    assert backup is processor.originalVolume(volume) and backup.GetHideFromEditors()
    assert volume.GetNodeReferenceID(ORIGINAL_REFERENCE_ROLE) == backup.GetID()
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(backup), with_metal)
    assert _geometry(volume) == geometry
    inpainted = slicer.util.arrayFromVolume(volume).copy()
    np.testing.assert_array_equal(inpainted[~result.usedMask], with_metal[~result.usedMask])
    assert inpainted[metal].max() < 2500

    again = processor.process(
        volume, InpaintOptions(segmentationNode=segmentation, segmentId=segment_id, method="mean", inPlace=True)
    )
    assert again.originalVolume is backup  # a second run keeps the very first original
    assert processor.restoreOriginal(volume)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), with_metal)
    assert _geometry(volume) == geometry
    assert processor.originalVolume(volume) is None and scene.GetNodeByID(backup.GetID()) is None
    assert _data_nodes(scene) == nodes  # the hidden clone and its display node are gone
    assert not processor.restoreOriginal(volume)


def test_metal_threshold_without_segment_and_existing_output(ct):
    _, with_metal, metal = ct
    scene, volume = _scene_with_volume(with_metal)
    target = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "target")
    result = RFRInpaintProcessor().process(
        volume, InpaintOptions(metalThresholdHU=2500, marginMm=0.0, method="mean", outputVolume=target)
    )
    assert result.outputVolume is target
    np.testing.assert_array_equal(result.usedMask, with_metal >= 2500)
    assert (with_metal >= 2500).sum() >= metal.sum() > 0
    assert _geometry(target) == _geometry(volume)
    assert slicer.util.arrayFromVolume(target)[result.usedMask].max() < 2500
    # a threshold's region gets the threshold margin by default (streaks around metal), 2500 HU by default
    default = RFRInpaintProcessor().process(volume, InpaintOptions(method="mean"))
    np.testing.assert_array_equal(default.usedMask, dilate_mm(with_metal >= 2500, 1.0, SPACING_KJI))
    nothing = RFRInpaintProcessor().process(volume, InpaintOptions(metalThresholdHU=5000, method="mean"))
    assert not nothing.usedMask.any() and len(nothing.processedSlices) == 0
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(nothing.outputVolume), with_metal)


def test_slice_axis_follows_the_volume_directions(ct):
    _, with_metal, metal = ct
    scene, volume = _scene_with_volume(with_metal)
    assert [numpyAxisForPlane(volume, p) for p in ("axial", "coronal", "sagittal")] == [0, 1, 2]
    assert [numpyAxisForPlane(volume, p) for p in ("K", "J", "I", 2)] == [0, 1, 2, 2]
    permuted = vtk.vtkMatrix4x4()  # I -> A, J -> S, K -> R: a sagittal acquisition
    permuted.Zero()
    permuted.SetElement(1, 0, 1.0)
    permuted.SetElement(2, 1, 1.0)
    permuted.SetElement(0, 2, 1.0)
    permuted.SetElement(3, 3, 1.0)
    volume.SetIJKToRASDirectionMatrix(permuted)
    assert numpyAxisForPlane(volume, "axial") == 1  # J is superior: axial slices are (K, I) planes
    assert numpyAxisForPlane(volume, "sagittal") == 0
    assert numpyAxisForPlane(volume, "coronal") == 2
    factory = CountingFactory()
    options = InpaintOptions(marginMm=0.0, sliceAxis="axial", method="mean")
    result = RFRInpaintProcessor(factory).process(volume, options)
    assert result.sliceAxis == 1
    np.testing.assert_array_equal(result.processedSlices, slices_with_hole(with_metal >= 2500, 1))
    assert all(batch.shape[1:] == (12, 64) for batch in factory.batches)  # (K, I) slices
    with pytest.raises(ValueError, match="unknown slice axis"):
        numpyAxisForPlane(volume, "oblique")


def test_cancel_leaves_the_scene_unchanged(ct):
    _, with_metal, metal = ct
    scene, volume = _scene_with_volume(with_metal)
    nodes = _data_nodes(scene)
    with pytest.raises(InpaintingCancelled):
        RFRInpaintProcessor().process(volume, InpaintOptions(method="mean", inPlace=True), cancel=lambda: True)
    assert _data_nodes(scene) == nodes
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), with_metal)


def test_bad_requests_are_refused(ct, tmp_path, monkeypatch):
    from rfr_inpaint import locations

    _, with_metal, _ = ct
    scene, volume = _scene_with_volume(with_metal)
    processor = RFRInpaintProcessor()
    monkeypatch.chdir(tmp_path)  # no shipped model where it is looked for
    monkeypatch.setattr(locations, "package_bundle_dir", lambda: tmp_path)
    with pytest.raises(ValueError, match="needs a model file .*no shipped RFR-Net model"):
        processor.process(volume, InpaintOptions(method="rfr"))
    with pytest.raises(ValueError, match="unknown method"):
        processor.process(volume, InpaintOptions(method="magic"))
    with pytest.raises(ValueError, match="unknown intensity mapping"):
        processor.process(volume, InpaintOptions(intensity="loud"))
    with pytest.raises(ValueError, match="no input volume"):
        processor.process(None)
    vector = scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "rgb")
    slicer.util.updateVolumeFromArray(vector, np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="3 components per voxel"):
        processor.process(vector, InpaintOptions(method="mean"))


def test_rfr_model_file_and_bundle_folder(ct, tmp_path):
    torch = pytest.importorskip("torch")
    from rfr_inpaint.networks import RFRNet

    _, with_metal, metal = ct
    scene, volume = _scene_with_volume(with_metal)
    segmentation, segment_id = _segmentation_of(scene, volume, metal)
    torch.manual_seed(0)
    bundle = tmp_path / "bundle"
    (bundle / "models").mkdir(parents=True)
    torch.save(RFRNet(in_channels=1, num_recurrences=2).state_dict(), bundle / "models" / "model.pt")
    (bundle / "configs").mkdir()  # the bundle records the HU window its model was trained with
    (bundle / "configs" / "inference.json").write_text('{"intensity_mode": "ct", "ct_window": [-200, 400]}')
    factory = CountingFactory()
    for model in (bundle / "models" / "model.pt", bundle):
        result = RFRInpaintProcessor(factory).process(
            volume,
            InpaintOptions(
                segmentationNode=segmentation,
                segmentId=segment_id,
                method="rfr",
                modelPath=str(model),
                device="cpu",
                marginMm=1.0,
            ),
        )
        out = slicer.util.arrayFromVolume(result.outputVolume)
        assert out.dtype == np.int16 and _geometry(result.outputVolume) == _geometry(volume)
        np.testing.assert_array_equal(out[~result.usedMask], with_metal[~result.usedMask])
        assert not np.array_equal(out[result.usedMask], with_metal[result.usedMask])
        # the network's [0, 1] output goes back through the bundle's window, not the default -1024 .. 3071 HU
        assert -200 <= out[result.usedMask].min() and out[result.usedMask].max() <= 400
    assert factory.slices == 2 * len(METAL_SLICES)


def test_subprocess_run_matches_in_process_and_reports_json_progress(ct):
    _, with_metal, metal = ct
    scene, volume = _scene_with_volume(with_metal)
    segmentation, segment_id = _segmentation_of(scene, volume, metal)
    processor = RFRInpaintProcessor()
    options = dict(segmentationNode=segmentation, segmentId=segment_id, marginMm=2.0, method="biharmonic", batchSize=2)
    in_process = processor.process(volume, InpaintOptions(**options))
    progress = []
    child = processor.process(
        volume, InpaintOptions(runInSubprocess=True, **options), progress=lambda d, t: progress.append((d, t))
    )
    np.testing.assert_array_equal(child.usedMask, in_process.usedMask)
    np.testing.assert_array_equal(
        slicer.util.arrayFromVolume(child.outputVolume), slicer.util.arrayFromVolume(in_process.outputVolume)
    )
    assert _geometry(child.outputVolume) == _geometry(volume)
    assert progress[0] == (0, 3) and progress[-1] == (3, 3)  # parsed from the child's JSON lines


def test_subprocess_failure_and_cancel(ct, tmp_path):
    from RFRInpaintLib.runner import SubprocessInpainting

    _, with_metal, metal = ct
    run = SubprocessInpainting()
    run.start(with_metal, metal, SPACING_KJI, method="rfr", model_path=str(tmp_path / "missing.pt"))
    with pytest.raises(RuntimeError, match=r"exit status 6\): .*missing\.pt: model file not found"):
        run.wait(timeout=120)
    assert run.workdir is None  # temporary files removed

    scene, volume = _scene_with_volume(with_metal)
    nodes = _data_nodes(scene)
    with pytest.raises(InpaintingCancelled, match="process was stopped"):
        RFRInpaintProcessor().process(
            volume, InpaintOptions(method="biharmonic", runInSubprocess=True), cancel=lambda: True
        )
    assert _data_nodes(scene) == nodes
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), with_metal)


# ----------------------------------------------------------------------------------------------- dependencies
def test_all_module_requirements_are_importable_here():
    requirements = dependencies.read_requirements()
    assert any(spec.startswith("monai") for spec in requirements)
    assert dependencies.missing_requirements() == []
    asked = []
    assert dependencies.ensure_dependencies(confirm=lambda text: asked.append(text) or True)
    assert asked == []  # nothing missing: the user is not asked


def test_missing_packages_are_installed_only_after_consent(monkeypatch):
    specs = ["numpy>=1", "surely-not-installed-rfr-pkg>=1.0"]
    installed: list[list[str]] = []
    with pytest.raises(dependencies.DependencyError, match="declined"):
        dependencies.ensure_dependencies(
            confirm=lambda text: False,
            requirements=specs,
            pip_install=lambda s: installed.append(list(s)),
            torch_installer=None,
        )
    assert installed == []
    messages = []
    with pytest.raises(dependencies.DependencyError, match="still missing .*surely-not-installed-rfr-pkg"):
        dependencies.ensure_dependencies(
            confirm=lambda text: messages.append(text) or True,
            requirements=specs,
            pip_install=lambda s: installed.append(list(s)),
            torch_installer=None,
        )
    assert installed == [["surely-not-installed-rfr-pkg>=1.0"]] and "surely-not-installed-rfr-pkg" in messages[0]

    real_find_spec = importlib.util.find_spec
    state = {"torch": False}

    def fake_find_spec(name, *args):
        if name == "torch" and not state["torch"]:
            return None
        return real_find_spec(name, *args)

    def install_torch():
        state["torch"] = True
        return True

    monkeypatch.setattr(dependencies.importlib.util, "find_spec", fake_find_spec)
    assert dependencies.ensure_dependencies(
        confirm=lambda text: "PyTorch extension" in text,
        requirements=["numpy"],
        pip_install=lambda s: installed.append(list(s)),
        torch_installer=install_torch,
    )
    assert state["torch"] and installed == [["surely-not-installed-rfr-pkg>=1.0"]]


def test_rfr_inpaint_is_found_from_the_source_tree(monkeypatch):
    import RFRInpaintLib

    assert ensure_rfr_inpaint_importable() is None  # installed here
    assert (BUNDLE_SOURCE_DIR / "rfr_inpaint" / "volume.py").is_file()
    monkeypatch.setattr(RFRInpaintLib.importlib.util, "find_spec", lambda name, *a: None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert ensure_rfr_inpaint_importable() == BUNDLE_SOURCE_DIR and sys.path[0] == str(BUNDLE_SOURCE_DIR)


# ------------------------------------------------------------------------------------- extension consistency
def test_ui_parameters_cmake_and_icon_are_consistent():
    source = (MODULE_DIR / "RFRInpaint.py").read_text()
    tree = ast.parse(source)  # the module file is valid Python
    parameter_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RFRInpaintParameterNode")
    fields = {n.target.id for n in parameter_class.body if isinstance(n, ast.AnnAssign)}
    ui = ET.parse(MODULE_DIR / "Resources" / "UI" / "RFRInpaint.ui").getroot()
    bound = {prop.find("string").text for prop in ui.iter("property") if prop.get("name") == "SlicerParameterName"}
    assert bound and bound <= fields
    widgets = {w.get("name") for w in ui.iter("widget")}
    used = set(re.findall(r"self\.ui\.(\w+)", source))
    assert used <= widgets, used - widgets
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text()
    for script in sorted((MODULE_DIR / "RFRInpaintLib").glob("*.py")):
        assert f"${{MODULE_NAME}}Lib/{script.name}" in cmake
    for resource in (
        "Resources/Icons/${MODULE_NAME}.png",
        "Resources/UI/${MODULE_NAME}.ui",
        "Resources/requirements.txt",
    ):
        assert resource in cmake and (MODULE_DIR / resource.replace("${MODULE_NAME}", "RFRInpaint")).is_file()
    from PIL import Image

    assert Image.open(MODULE_DIR / "Resources" / "Icons" / "RFRInpaint.png").size == (128, 128)
    root_cmake = (ROOT / "CMakeLists.txt").read_text()
    for key in (
        "project(RFRInpaint)",
        "EXTENSION_DEPENDS",
        "find_package(Slicer REQUIRED)",
        "add_subdirectory(RFRInpaint)",
        "Slicer_EXTENSION_GENERATE_CONFIG",
        "Slicer_EXTENSION_CPACK",
    ):
        assert key in root_cmake


def _cmake_list(cmake: str, name: str) -> list[str]:
    body = re.search(rf"set\({name}\s+(.*?)\)", cmake, re.S)
    assert body, name
    return body.group(1).split()


def test_installed_extension_finds_the_shipped_model(tmp_path):
    """Lay out an installed extension as RFRInpaint/CMakeLists.txt installs it (module, package copy, bundle files
    in RFRInpaintBundle/) and resolve the shipped model there, from a folder that is no bundle."""
    import shutil
    import subprocess

    cmake = (MODULE_DIR / "CMakeLists.txt").read_text()
    modules = tmp_path / "qt-scripted-modules"
    for script in _cmake_list(cmake, "MODULE_PYTHON_SCRIPTS"):
        target = modules / script.replace("${MODULE_NAME}", "RFRInpaint")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(MODULE_DIR / target.relative_to(modules), target)
    shutil.copytree(BUNDLE_SOURCE_DIR / "rfr_inpaint", modules / "rfr_inpaint", ignore=shutil.ignore_patterns("__pycache__"))
    for name in _cmake_list(cmake, "RFR_INPAINT_BUNDLE_FILES"):
        target = modules / "RFRInpaintBundle" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(BUNDLE_SOURCE_DIR / name, target)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    probe = (
        "import rfr_inpaint, RFRInpaintLib.logic as logic\n"
        "print(rfr_inpaint.__file__)\n"
        "print(logic._rfrModelPath(logic.InpaintOptions()))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(modules)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    package, model = done.stdout.split()
    assert Path(package).is_relative_to(modules)  # the installed copy, not the source tree
    assert Path(model) == modules / "RFRInpaintBundle" / "models" / "model.pt"
    # without the bundle folder the module says where it looked
    shutil.rmtree(modules / "RFRInpaintBundle")
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "method 'rfr' needs a model file" in done.stderr and str(elsewhere) in done.stderr


def test_user_guide_figure_script(tmp_path):
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(MODULE_DIR / "Testing"))
    try:
        from make_figure import main as make_figure_main
    finally:
        sys.path.remove(str(MODULE_DIR / "Testing"))
    assert make_figure_main([str(tmp_path / "figure.png")]) == 0
    from PIL import Image

    width, height = Image.open(tmp_path / "figure.png").size
    assert width > 3 * height > 0  # four panels side by side


def test_biharmonic3d_is_offered_and_runs_through_the_logic(ct):
    from RFRInpaintLib.logic import METHODS

    from rfr_inpaint import inpainters
    from rfr_inpaint.defaults import DEFAULT_CT_WINDOW
    from rfr_inpaint.transforms.intensity import CTWindow
    from rfr_inpaint.volume import inpaint_volume

    # the module offers the package's one list: the parameter node's Choice and the combo box tooltip name them all
    assert METHODS is inpainters.METHODS and "biharmonic3d" in METHODS
    assert "Choice(list(METHODS))" in (MODULE_DIR / "RFRInpaint.py").read_text()
    ui = ET.parse(MODULE_DIR / "Resources" / "UI" / "RFRInpaint.ui").getroot()
    combo = next(w for w in ui.iter("widget") if w.get("name") == "methodComboBox")
    tooltip = next(p for p in combo.iter("property") if p.get("name") == "toolTip").find("string").text
    assert set(METHODS) <= set(re.findall(r"\w+", tooltip))

    truth, with_metal, metal = ct
    scene, volume = _scene_with_volume(with_metal)
    segmentation, segment_id = _segmentation_of(scene, volume, metal)
    options = dict(segmentationNode=segmentation, segmentId=segment_id, marginMm=2.0, intensity="ct")
    progress = []
    result = RFRInpaintProcessor().process(
        volume, InpaintOptions(method="biharmonic3d", **options), progress=lambda d, t: progress.append((d, t))
    )
    out = slicer.util.arrayFromVolume(result.outputVolume)
    assert out.dtype == np.int16 and _geometry(result.outputVolume) == _geometry(volume)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), with_metal)  # input untouched
    used = dilate_mm(metal, 2.0, SPACING_KJI)
    np.testing.assert_array_equal(result.usedMask, used)
    np.testing.assert_array_equal(out[~used], with_metal[~used])
    assert progress == [(0, 3), (3, 3)]  # one call on the slab of the 3 slices with hole
    np.testing.assert_array_equal(result.processedSlices, METAL_SLICES)
    # the volume path of the CLI and the bundle with the 3D solve, not the slice-wise method
    window = CTWindow(*DEFAULT_CT_WINDOW)
    inpainter = inpainters.get_inpainter("biharmonic3d")
    expected, _ = inpaint_volume(with_metal, metal, inpainter, spacing=SPACING_KJI, margin_mm=2.0, intensity=window)
    np.testing.assert_array_equal(out, expected)
    slice_wise = RFRInpaintProcessor().process(volume, InpaintOptions(method="biharmonic", **options))
    assert not np.array_equal(slicer.util.arrayFromVolume(slice_wise.outputVolume), out)
    assert _mae(out[used], truth[used]) < 0.25 * _mae(with_metal[used], truth[used])

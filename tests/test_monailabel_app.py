"""The MONAI Label app (``monailabel_app/``) on a real ``monailabel start_server`` process, and its clients.

One server (module fixture) on 127.0.0.1 and a free port, started from a copy of the app folder (the server writes
``logs/``, ``model/``... into its app folder), with a tiny randomly initialised RFR-Net given as ``--conf model``;
stopped by its PID afterwards. Results are compared voxel by voxel with :func:`rfr_inpaint.volume.inpaint_volume`
run here. ``.ci/run`` installs monailabel (``monailabel_app/install.sh``); without it the tests are skipped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("monailabel") is None or importlib.util.find_spec("fastapi") is None:
    pytest.skip("monailabel is not installed (bash monailabel_app/install.sh installs it)", allow_module_level=True)
requests = pytest.importorskip("requests")
sitk = pytest.importorskip("SimpleITK")

from rfr_inpaint.data.synthetic import insert_metal, synthetic_ct_volume
from rfr_inpaint.image_io import read_image
from rfr_inpaint.inpainters import get_inpainter
from rfr_inpaint.transforms.intensity import resolve_intensity
from rfr_inpaint.volume import inpaint_volume, metal_mask

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "monailabel_app"
MODULE_DIR = ROOT / "RFRInpaint"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

from RFRInpaintLib.monailabel_client import InpaintingServerClient, ServerError

SPACING = (3.0, 1.0, 1.0)  # (z, y, x) mm
ORIGIN = (10.0, -5.0, 3.0)
DIRECTION = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
BATCH = 8  # the Slicer logic's default batch size; given in every request so that runs here match
STARTUP_SECONDS = 240  # bounded wait for the server (it imports PyTorch and MONAI on a shared 2-core CPU)


def _image(array: np.ndarray, spacing=SPACING, origin=ORIGIN, direction=DIRECTION):
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(tuple(reversed(spacing)))
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return image


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 16 x 96 x 96 int16 CT with metal in slices 6-8, its files, a study and a tiny RFR-Net checkpoint."""
    import torch
    from rfr_inpaint.networks import RFRNet

    root = tmp_path_factory.mktemp("monailabel")
    truth, spacing = synthetic_ct_volume((16, 96, 96), seed=3, spacing=SPACING)
    with_metal, metal = insert_metal(truth, seed=4, n_objects=2, slices=[6, 7, 8], spacing=spacing)
    volume = np.rint(with_metal).astype(np.int16)
    (root / "studies").mkdir()
    sitk.WriteImage(_image(volume), str(root / "ct.nrrd"))
    sitk.WriteImage(_image(volume), str(root / "studies" / "case1.nrrd"))
    sitk.WriteImage(_image(metal.astype(np.uint8)), str(root / "mask.nrrd"))
    torch.manual_seed(0)
    model = root / "tiny_rfr.pt"
    torch.save(RFRNet(in_channels=1, num_recurrences=1, width=8).state_dict(), model)
    return {"root": root, "volume": volume, "metal": metal, "model": model}


@pytest.fixture(scope="module")
def server(data):
    """``monailabel start_server`` (what the ``monailabel`` script runs) on 127.0.0.1; yields its URL."""
    root = data["root"]
    app = root / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "logs", "model", "bin"))
    port = _free_port()
    command = [
        sys.executable, "-m", "monailabel.main", "start_server", "--app", str(app), "--studies", str(root / "studies"),
        "--host", "127.0.0.1", "--port", str(port), "--conf", "model", str(data["model"]), "--conf", "device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "MONAI_LABEL_DATASTORE_AUTO_RELOAD": "false"}
    with open(root / "server.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited ({process.returncode}):\n{(root / 'server.log').read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/info/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not up after {STARTUP_SECONDS} s:\n{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def _infer(url, method, params=None, files=None, image="", output=None):
    """A raw ``POST /infer/<method>`` (MONAI Label's form fields ``params``, ``file``, ``label``)."""
    with contextlib.ExitStack() as stack:
        handles = {key: (Path(path).name, stack.enter_context(open(path, "rb"))) for key, path in (files or {}).items()}
        query = {"image": image, **({"output": output} if output else {})}
        return requests.post(
            f"{url}/infer/{method}", params=query, data={"params": json.dumps(params or {})}, files=handles, timeout=300
        )


def _expected(data, method, hole, margin_mm, batch_size=BATCH):
    """What the server must answer: the one volume path, run here with the request's settings."""
    model = data["model"] if method == "rfr" else None
    options = {"batch_size": batch_size} if method == "rfr" else {}
    inpainter = get_inpainter(method, model_path=model, device="cpu", **options)
    return inpaint_volume(
        data["volume"],
        hole,
        inpainter,
        spacing=SPACING,
        margin_mm=margin_mm,
        intensity=resolve_intensity("auto", model_path=model),
        batch_size=batch_size,
    )


def _check_result(path: Path, data, expected, used):
    result = read_image(path)
    assert result.array.dtype == np.int16  # the input's pixel type, not the uint8 of MONAI Label's label writer
    np.testing.assert_allclose(result.spacing, tuple(reversed(SPACING)))
    np.testing.assert_allclose(result.origin, ORIGIN)
    np.testing.assert_allclose(result.direction, DIRECTION)
    np.testing.assert_array_equal(result.array, expected)  # voxel by voxel, the one volume path
    np.testing.assert_array_equal(result.array[~used], data["volume"][~used])
    assert not np.array_equal(result.array[used], data["volume"][used])


def test_server_lists_every_method_with_the_package_defaults(server):
    info = requests.get(f"{server}/info/", timeout=30).json()
    from rfr_inpaint.defaults import MASK_MARGIN_MM, THRESHOLD_MARGIN_MM
    from rfr_inpaint.inpainters import METHODS

    assert list(info["models"]) == list(METHODS)  # rfr included: --conf model
    params = info["models"]["biharmonic"]["params"]
    assert params["margin_mm"] == {"with label": MASK_MARGIN_MM, "with metal_threshold": THRESHOLD_MARGIN_MM}
    assert "device" not in info["models"]["rfr"]["config"]


@pytest.mark.parametrize("method", ["biharmonic", "rfr"])
def test_label_upload_matches_inpaint_volume(server, data, tmp_path, method):
    root = data["root"]
    response = _infer(
        server, method, {"margin_mm": 1.5, "batch_size": BATCH}, {"file": root / "ct.nrrd", "label": root / "mask.nrrd"}
    )
    assert response.status_code == 200, response.text
    (tmp_path / "out.nrrd").write_bytes(_part(response, "image"))
    info = json.loads(_part(response, "params"))
    expected, used = _expected(data, method, data["metal"], 1.5)
    _check_result(tmp_path / "out.nrrd", data, expected, used)
    assert info["hole_voxels"] == int(used.sum()) and info["slices"] == [6, 7, 8] and info["hole_from"] == "label"


def _part(response, name: str) -> bytes:
    """One field of MONAI Label's multipart answer (``params`` JSON, ``image`` file)."""
    from requests_toolbelt.multipart.decoder import MultipartDecoder

    for part in MultipartDecoder.from_response(response).parts:
        disposition = part.headers[b"Content-Disposition"].decode()
        if f'name="{name}"' in disposition:
            return part.content
    raise AssertionError(f"no {name!r} in the answer")


def test_metal_threshold_on_a_study_matches_inpaint_volume(server, data, tmp_path):
    # the study is named by its id in the studies folder; the hole is the threshold, the 3D biharmonic fill
    response = _infer(
        server,
        "biharmonic3d",
        {"metal_threshold": 2000, "margin_mm": 2.0, "batch_size": BATCH},
        image="case1",
        output="image",
    )
    assert response.status_code == 200, response.text
    (tmp_path / "out.nrrd").write_bytes(response.content)
    expected, used = _expected(data, "biharmonic3d", metal_mask(data["volume"], 2000), 2.0)
    _check_result(tmp_path / "out.nrrd", data, expected, used)


def test_bad_requests_get_a_4xx_naming_the_problem(server, data, tmp_path):
    root = data["root"]
    sitk.WriteImage(_image(np.zeros_like(data["metal"], dtype=np.uint8)), str(tmp_path / "empty.nrrd"))
    sitk.WriteImage(_image(data["metal"][:, :64].astype(np.uint8)), str(tmp_path / "small.nrrd"))
    sitk.WriteImage(_image(data["metal"].astype(np.uint8), spacing=(2.0, 1.0, 1.0)), str(tmp_path / "spacing.nrrd"))
    (tmp_path / "broken.nrrd").write_bytes(b"NRRD0004\nthis is not an image\n")
    ct, mask = root / "ct.nrrd", root / "mask.nrrd"
    cases = [
        # (method, params, files, image id, status, message)
        ("biharmonic", {}, {"file": ct, "label": tmp_path / "empty.nrrd"}, "", 400, "holds no hole voxel"),
        ("biharmonic", {"metal_threshold": 5000}, {"file": ct}, "", 400, "no hole: no voxel at or above .*5000"),
        (
            "biharmonic",
            {},
            {"file": ct, "label": tmp_path / "small.nrrd"},
            "",
            400,
            "label: .*grid does not match.*shape",
        ),
        ("biharmonic", {}, {"file": ct, "label": tmp_path / "spacing.nrrd"}, "", 400, "grid does not match.*spacing"),
        ("biharmonic", {}, {"file": tmp_path / "broken.nrrd"}, "", 400, "image: .*not a readable image"),
        ("nope", {}, {"file": ct}, "", 404, "unknown method 'nope'; this server offers rfr, biharmonic"),
        ("biharmonic", {"margin_mm": -1}, {"file": ct}, "", 400, "'margin_mm' must be >= 0"),
        ("biharmonic", {"margin_mm": "wide"}, {"file": ct}, "", 400, "'margin_mm' must be a finite number"),
        ("biharmonic", {"axis": 3}, {"file": ct}, "", 400, "'axis' must be one of 0, 1, 2"),
        ("biharmonic", {"window": [400, -200]}, {"file": ct}, "", 400, "'window' must be a pair"),
        ("biharmonic", {"batch_size": 0}, {"file": ct}, "", 400, "'batch_size' must be >= 1"),
        ("biharmonic", {"intensity": "log"}, {"file": ct}, "", 400, "'intensity' must be one of auto"),
        ("biharmonic", {"margin": 2}, {"file": ct}, "", 400, "unknown parameter.*'margin'"),
        ("biharmonic", {"mode": "full"}, {"file": ct}, "", 400, "only apply to method 'rfr'"),
        ("biharmonic", {"metal_threshold": 2000}, {"file": ct, "label": mask}, "", 400, "either an uploaded label"),
        ("biharmonic", {"result_extension": ".exe"}, {"file": ct}, "", 400, "'result_extension' must be one of"),
        ("rfr", {"mode": "tiles"}, {"file": ct}, "", 400, "'mode' must be one of roi, full"),
        # server-side paths: never readable through a request
        ("biharmonic", {}, {}, str(root / "ct.nrrd"), 403, "not a path"),
        ("biharmonic", {}, {}, "../ct.nrrd", 403, "not a path"),
        ("biharmonic", {"image": str(root / "ct.nrrd")}, {"file": ct}, "", 403, "not a path"),
        ("biharmonic", {"label": str(mask)}, {"file": ct}, "", 403, "label must be uploaded"),
        ("biharmonic", {}, {}, "case2", 404, "no such study"),
    ]
    for method, params, files, image, status, message in cases:
        response = _infer(server, method, params, files, image=image)
        assert response.status_code == status, (method, params, response.status_code, response.text)
        detail = response.json()["detail"]
        assert re.search(message, detail), (params, detail)
        assert "rfr-inpaint-monailabel" not in detail  # the server's private upload folder is never shown


@pytest.mark.parametrize("backend", ["monailabel", "requests"])
def test_python_client_backends(server, data, backend):
    client = InpaintingServerClient(server, timeout=300, backend=backend)
    assert client.backend == backend
    assert "biharmonic" in client.methods() and "rfr" in client.methods()
    result, info = client.inpaint_array(
        data["volume"], data["metal"], SPACING, "biharmonic", {"margin_mm": 1.0, "batch_size": BATCH}
    )
    expected, used = _expected(data, "biharmonic", data["metal"], 1.0)
    np.testing.assert_array_equal(result, expected)
    assert result.dtype == np.int16 and info["hole_voxels"] == int(used.sum())
    with pytest.raises(ServerError, match=r"'axis' must be one of 0, 1, 2, got 7 \(HTTP 400\)") as refused:
        client.inpaint_array(data["volume"], data["metal"], SPACING, "biharmonic", {"axis": 7})
    assert refused.value.status == 400
    with pytest.raises(ServerError, match="cannot reach") as unreachable:
        InpaintingServerClient(f"http://127.0.0.1:{_free_port()}", timeout=5, backend=backend).methods()
    assert unreachable.value.status is None


def test_client_falls_back_to_requests_without_monailabel_client(monkeypatch):
    import RFRInpaintLib.monailabel_client as module

    monkeypatch.setattr(module, "CLIENT_MODULES", ("surely_not_a_module.client",))
    assert module.monailabel_client_class() is None
    assert InpaintingServerClient("http://127.0.0.1:1").backend == "requests"
    with pytest.raises(ImportError, match="not importable"):
        InpaintingServerClient("http://127.0.0.1:1", backend="monailabel")
    with pytest.raises(ValueError, match="must start with http"):
        InpaintingServerClient("127.0.0.1:8000")


# ------------------------------------------------------------------------------------------ the Slicer logic
def _scene_with_volume(array):
    slicer = pytest.importorskip("slicer")
    vtk = pytest.importorskip("vtk")
    scene = slicer.vtkMRMLScene()
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT")
    slicer.util.updateVolumeFromArray(volume, array)
    volume.SetSpacing(*reversed(SPACING))
    volume.SetOrigin(-40.0, 25.0, 100.0)
    directions = vtk.vtkMatrix4x4()
    directions.SetElement(0, 0, -1.0)
    directions.SetElement(1, 1, -1.0)
    volume.SetIJKToRASDirectionMatrix(directions)
    volume.CreateDefaultDisplayNodes()
    return scene, volume


def test_slicer_logic_runs_on_the_server(server, data):
    slicer = pytest.importorskip("slicer")
    from RFRInpaintLib.logic import InpaintOptions, RFRInpaintProcessor

    scene, volume = _scene_with_volume(data["volume"])
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "label")
    labelmap.CopyOrientation(volume)
    slicer.util.updateVolumeFromArray(labelmap, data["metal"].astype(np.uint8))
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    segment_id = segmentation.GetSegmentation().GetNthSegmentID(0)

    processor = RFRInpaintProcessor()
    options = {"segmentationNode": segmentation, "segmentId": segment_id, "marginMm": 2.0, "method": "biharmonic"}
    local = processor.process(volume, InpaintOptions(**options))
    remote = processor.process(volume, InpaintOptions(serverUrl=server, **options))
    np.testing.assert_array_equal(remote.usedMask, local.usedMask)
    np.testing.assert_array_equal(
        slicer.util.arrayFromVolume(remote.outputVolume), slicer.util.arrayFromVolume(local.outputVolume)
    )
    assert remote.outputVolume.GetImageData().GetScalarType() == volume.GetImageData().GetScalarType()
    assert list(remote.processedSlices) == [6, 7, 8]

    # the server's model: RFR-Net needs no model file on the Slicer side; in place keeps the original
    before = np.array(slicer.util.arrayFromVolume(volume))
    result = processor.process(volume, InpaintOptions(method="rfr", serverUrl=server, inPlace=True))
    expected, used = _expected(data, "rfr", metal_mask(data["volume"]), 1.0)
    np.testing.assert_array_equal(result.usedMask, used)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), expected)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(result.originalVolume), before)

    # a failed request leaves the scene as it was
    nodes = scene.GetNumberOfNodes()
    with pytest.raises(ServerError, match="cannot reach"):
        processor.process(volume, InpaintOptions(serverUrl=f"http://127.0.0.1:{_free_port()}", **options))
    assert scene.GetNumberOfNodes() == nodes
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), expected)

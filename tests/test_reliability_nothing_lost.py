"""Guarantee "nothing lost": voxels outside the (dilated) hole come back bit-identical with the input's dtype and
geometry in every path (Python API, bundle inference, command line, Slicer logic); an empty mask returns the input
without running the model; outputs and checkpoints are written atomically (a failed or killed write leaves the
previous good file as it was)."""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from _reliability_helpers import (
    BUNDLE_DIR,
    DIRECTION,
    ORIGIN,
    PYTHON,
    SPACING,
    ForbiddenNetwork,
    ct_like,
    files_in,
    forbidden_inpainter,
    hole_box,
    python_env,
    run_cli,
    same_bits,
    save_tiny_checkpoint,
    tiny_network,
    write_sitk,
)
from rfr_inpaint.image_io import ImageIOError, read_image, write_image
from rfr_inpaint.inference import RFRInpainter
from rfr_inpaint.inpainters import get_inpainter
from rfr_inpaint.safe_io import atomic_torch_save, load_checkpoint
from rfr_inpaint.volume import dilate_mm, inpaint_volume

DTYPES = [np.int16, np.uint16, np.float32]
SHAPE = (4, 32, 32)


def _volume_with_metal(dtype) -> tuple[np.ndarray, np.ndarray]:
    """A CT-like volume of ``dtype`` whose hole holds metal-bright values (so that inpainting must change them)."""
    volume = ct_like(SHAPE, dtype)
    hole = hole_box(SHAPE)
    volume[hole] = 3000 + (1024 if np.dtype(dtype).kind == "u" else 0)
    return volume, hole


def _check_result(volume: np.ndarray, hole: np.ndarray, used: np.ndarray, result: np.ndarray) -> None:
    assert result.dtype == volume.dtype and result.shape == volume.shape
    assert used[hole].all()  # the dilated hole holds the hole
    assert same_bits(result[~used], volume[~used])  # every voxel outside it is the input's, bit for bit
    assert not np.array_equal(result[hole], volume[hole])  # and the hole was really filled


# ---------------------------------------------------------------------------------------------------- Python API
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("method", ["rfr-roi", "rfr-full", "biharmonic", "telea", "ns", "mean"])
def test_python_api_keeps_every_voxel_outside_the_dilated_hole(method, dtype):
    volume, hole = _volume_with_metal(dtype)
    if method.startswith("rfr"):
        inpainter = RFRInpainter(tiny_network(), device="cpu", mode=method.split("-")[1])
    else:
        inpainter = get_inpainter(method)
    spacing = SPACING[::-1]  # NumPy (z, y, x) order
    result, used = inpaint_volume(volume, hole, inpainter, spacing=spacing, margin_mm=1.0)
    assert np.array_equal(used, dilate_mm(hole, 1.0, spacing))
    _check_result(volume, hole, used, result)


@pytest.mark.parametrize("mode", ["roi", "full"])
def test_rfr_inpainter_returns_known_pixels_bit_identical(mode):
    rng = np.random.default_rng(3)
    images = rng.random((3, 40, 56), dtype=np.float32)
    holes = np.zeros(images.shape, dtype=bool)
    holes[0, 5:12, 7:30] = True
    holes[0, 30:38, 40:50] = True
    holes[2, 0:40, 0:3] = True  # a strip on the border
    out = RFRInpainter(tiny_network(), device="cpu", mode=mode)(images, holes)
    assert out.dtype == np.float32
    assert same_bits(out[~holes], images[~holes])
    assert same_bits(out[1], images[1])  # a slice without hole is untouched


# -------------------------------------------------------------------------------------------------- command line
@pytest.mark.parametrize(
    "dtype,suffix", [(np.int16, ".nii.gz"), (np.uint16, ".nrrd"), (np.float32, ".nrrd")], ids=["int16", "uint16", "f32"]
)
@pytest.mark.parametrize("method", ["rfr", "biharmonic"])
def test_cli_keeps_voxels_dtype_and_geometry(tmp_path: Path, method, dtype, suffix):
    volume, hole = _volume_with_metal(dtype)
    image_path = write_sitk(volume, tmp_path / f"ct{suffix}")
    mask_path = write_sitk(hole.astype(np.uint8), tmp_path / f"mask{suffix}")
    output = tmp_path / f"out{suffix}"
    model = ["--model", save_tiny_checkpoint(tmp_path / "model.pt")] if method == "rfr" else []
    code, err = run_cli(
        [
            "--image",
            image_path,
            "--mask",
            mask_path,
            "--output",
            output,
            "--method",
            method,
            "--margin-mm",
            "1",
            "--device",
            "cpu",
            "--quiet",
            *model,
        ]
    )
    assert code == 0, err
    src, out = sitk.ReadImage(str(image_path)), sitk.ReadImage(str(output))
    assert out.GetPixelID() == src.GetPixelID()
    assert out.GetSpacing() == src.GetSpacing() and out.GetOrigin() == src.GetOrigin()
    assert out.GetDirection() == src.GetDirection()
    np.testing.assert_allclose(out.GetDirection(), DIRECTION, atol=1e-6)
    original = sitk.GetArrayFromImage(src)
    used = dilate_mm(hole, 1.0, src.GetSpacing()[::-1])
    _check_result(original, hole, used, sitk.GetArrayFromImage(out))


# ------------------------------------------------------------------------------------------------ bundle inference
@pytest.mark.slow
def test_bundle_inference_keeps_voxels_dtype_and_geometry(tmp_path: Path):
    from monai.bundle import ConfigWorkflow

    data = tmp_path / "data"
    data.mkdir()
    inputs = {}
    for dtype, name in [(np.int16, "a.nii.gz"), (np.uint16, "b.nrrd"), (np.float32, "c.nrrd")]:
        volume, hole = _volume_with_metal(dtype)
        write_sitk(volume, data / name)
        stem, ext = name.split(".", 1)
        write_sitk(hole.astype(np.uint8), data / f"{stem}_mask.{ext}")
        inputs[name] = (volume, hole)
    out_dir = tmp_path / "out"
    wf = ConfigWorkflow(
        config_file=str(BUNDLE_DIR / "configs" / "inference.json"),
        meta_file=str(BUNDLE_DIR / "configs" / "metadata.json"),
        workflow_type="infer",
        bundle_root=str(tmp_path),
        dataset_dir=str(data),
        output_dir=str(out_dir),
        model_path=str(save_tiny_checkpoint(tmp_path / "model.pt")),
        device="$torch.device('cpu')",
        **{"network_def#num_recurrences": 1},
    )
    wf.initialize()
    wf.run()
    wf.finalize()
    for name, (volume, hole) in inputs.items():
        stem, ext = name.split(".", 1)
        src = sitk.ReadImage(str(data / name))
        out = sitk.ReadImage(str(out_dir / f"{stem}_inpainted.{ext}"))
        assert out.GetPixelID() == src.GetPixelID(), name
        assert (out.GetSpacing(), out.GetOrigin(), out.GetDirection()) == (
            src.GetSpacing(),
            src.GetOrigin(),
            src.GetDirection(),
        ), name
        _check_result(sitk.GetArrayFromImage(src), hole, hole, sitk.GetArrayFromImage(out))  # no dilation here


# ---------------------------------------------------------------------------------------------------- Slicer logic
def _slicer_volume(array: np.ndarray):
    slicer = pytest.importorskip("slicer")
    vtk = pytest.importorskip("vtk")
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT")
    slicer.util.updateVolumeFromArray(node, array)
    node.SetSpacing(*SPACING)
    node.SetOrigin(*ORIGIN)
    matrix = vtk.vtkMatrix4x4()
    (
        matrix.SetElement(0, 0, 0.0),
        matrix.SetElement(0, 1, -1.0),
        matrix.SetElement(1, 0, 1.0),
        matrix.SetElement(1, 1, 0.0),
    )
    node.SetIJKToRASDirectionMatrix(matrix)
    node.CreateDefaultDisplayNodes()
    node.scene_reference = scene  # keep the scene alive as long as the node (VTK holds it weakly)
    return slicer, vtk, node


def _slicer_logic():
    import sys

    from _reliability_helpers import SLICER_MODULE_DIR

    if str(SLICER_MODULE_DIR) not in sys.path:
        sys.path.insert(0, str(SLICER_MODULE_DIR))
    from RFRInpaintLib.logic import RFRInpaintProcessor

    return RFRInpaintProcessor


def _slicer_options(**options):
    from RFRInpaintLib.logic import InpaintOptions  # importable once _slicer_logic() has run

    return InpaintOptions(**options)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_slicer_logic_keeps_voxels_dtype_and_geometry(tmp_path: Path, dtype):
    volume, hole = _volume_with_metal(dtype)
    slicer, vtk, node = _slicer_volume(volume)
    processor = _slicer_logic()()
    threshold = 2500 + (1024 if np.dtype(dtype).kind == "u" else 0)
    res = processor.process(
        node,
        _slicer_options(
            metalThresholdHU=threshold,
            marginMm=1.0,
            method="rfr",
            modelPath=str(save_tiny_checkpoint(tmp_path / "m.pt")),
            device="cpu",
            intensity="ct",
            window=(-1024.0, 3071.0) if dtype != np.uint16 else (0.0, 4095.0),
        ),
    )
    target = res.outputVolume
    out = slicer.util.arrayFromVolume(target)
    assert target is not node and same_bits(slicer.util.arrayFromVolume(node), volume)  # the input is untouched
    used = np.asarray(res.usedMask)
    _check_result(volume, hole, used, out)
    assert target.GetSpacing() == node.GetSpacing() and target.GetOrigin() == node.GetOrigin()
    a, b = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    node.GetIJKToRASDirectionMatrix(a)
    target.GetIJKToRASDirectionMatrix(b)
    assert [a.GetElement(i, j) for i in range(4) for j in range(4)] == [
        b.GetElement(i, j) for i in range(4) for j in range(4)
    ]


# ------------------------------------------------------------------------------------------------------ empty mask
def test_empty_mask_returns_the_input_without_running_the_model(tmp_path: Path, monkeypatch):
    volume = ct_like(SHAPE, np.int16)
    empty = np.zeros(SHAPE, dtype=bool)
    # Python API: volume level and slice-stack level
    result, used = inpaint_volume(volume, empty, forbidden_inpainter, margin_mm=3.0)
    assert same_bits(result, volume) and result is not volume and not used.any()
    images = np.random.default_rng(0).random((2, 32, 32), dtype=np.float32)
    assert same_bits(RFRInpainter(ForbiddenNetwork(), device="cpu")(images, np.zeros(images.shape, bool)), images)
    # bundle inferer
    from rfr_inpaint.bundle.inference_pipeline import VolumeInpaintingInferer

    x = torch.from_numpy(images[None, None])
    assert torch.equal(VolumeInpaintingInferer()(x, ForbiddenNetwork(), torch.zeros_like(x)), x)
    # command line: the model is not even loaded
    import rfr_inpaint.inpainters

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built for an empty mask")

    monkeypatch.setattr(rfr_inpaint.inpainters, "get_inpainter", no_model)
    image_path = write_sitk(volume, tmp_path / "ct.nrrd")
    mask_path = write_sitk(empty.astype(np.uint8), tmp_path / "mask.nrrd")
    code, err = run_cli(
        [
            "--image",
            image_path,
            "--mask",
            mask_path,
            "--output",
            tmp_path / "out.nrrd",
            "--method",
            "rfr",
            "--model",
            save_tiny_checkpoint(tmp_path / "m.pt"),
        ]
    )
    assert code == 0 and "empty mask" in err
    assert same_bits(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out.nrrd"))), volume)


def test_empty_mask_in_slicer_returns_the_input_without_running_the_inpainter():
    volume = ct_like(SHAPE, np.int16)
    slicer, _, node = _slicer_volume(volume)
    processor = _slicer_logic()(inpainterFactory=lambda *a, **k: forbidden_inpainter)
    res = processor.process(node, _slicer_options(metalThresholdHU=30000.0, method="biharmonic"))
    assert same_bits(slicer.util.arrayFromVolume(res.outputVolume), volume)


# -------------------------------------------------------------------------------------------------- atomic writes
def _half_then_fail(real_save):
    def save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        data = Path(f).read_bytes()
        Path(f).write_bytes(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    return save


def test_failed_checkpoint_write_keeps_the_previous_file(tmp_path: Path, monkeypatch):
    path = tmp_path / "checkpoint_2.pt"
    atomic_torch_save({"network": tiny_network(0).state_dict(), "iteration": 2}, path)
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", _half_then_fail(torch.save))
    with pytest.raises(OSError, match="No space left"):
        atomic_torch_save({"network": tiny_network(1).state_dict(), "iteration": 4}, path)
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["checkpoint_2.pt"]  # no temporary file left
    assert load_checkpoint(path)["iteration"] == 2


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".png"])
def test_failed_image_write_keeps_the_previous_output(tmp_path: Path, monkeypatch, suffix):
    array = (ct_like((32, 32), np.int16) // 8 + 128).clip(0, 255).astype(np.uint8)
    src = write_sitk(array, tmp_path / f"in{suffix}")
    reference = read_image(src)
    output = tmp_path / f"out{suffix}"
    write_image(reference, reference.array, output)
    before = output.read_bytes()
    mask = write_sitk(np.pad(np.ones((4, 4), np.uint8), 14), tmp_path / f"mask{suffix}")

    def broken(image, filename, *args, **kwargs):
        Path(filename).write_bytes(b"half an image")
        raise RuntimeError("sitk::ERROR: simulated write failure")

    monkeypatch.setattr(sitk, "WriteImage", broken)
    with pytest.raises(ImageIOError, match="out"):
        write_image(reference, reference.array // 2, output, overwrite=True)
    assert output.read_bytes() == before
    assert files_in(tmp_path) == sorted([src.name, output.name, mask.name])
    # the command line reports it with the write exit code and keeps the old output too
    code, err = run_cli(["--image", src, "--mask", mask, "--output", output, "--overwrite", "--method", "mean"])
    assert code == 8 and str(output) in err
    assert output.read_bytes() == before
    assert files_in(tmp_path) == sorted([src.name, output.name, mask.name])


def test_checkpoint_write_killed_midway_leaves_the_last_good_checkpoint(tmp_path: Path):
    from rfr_inpaint.handlers import latest_checkpoint

    good = tmp_path / "checkpoint_2.pt"
    atomic_torch_save({"network": tiny_network(0).state_dict(), "iteration": 2}, good)
    before = good.read_bytes()
    child = textwrap.dedent(
        f"""
        import sys, time, torch
        from rfr_inpaint.safe_io import atomic_torch_save
        real = torch.save
        def slow(obj, f, *a, **k):
            real(obj, f, *a, **k)
            print("half written", flush=True)
            time.sleep(60)
        torch.save = slow
        for name in ("checkpoint_2.pt", "checkpoint_4.pt"):  # overwrite the good one, then a newer one
            atomic_torch_save({{"iteration": 4, "w": torch.zeros(100000)}}, {str(tmp_path)!r} + "/" + name)
        """
    )
    proc = subprocess.Popen([PYTHON, "-c", child], stdout=subprocess.PIPE, text=True, env=python_env())
    try:
        assert proc.stdout.readline().strip() == "half written"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert good.read_bytes() == before  # the replaced checkpoint is intact
    assert not (tmp_path / "checkpoint_4.pt").exists()
    leftovers = [n for n in files_in(tmp_path) if n != good.name]
    assert all(n.startswith(".") and ".tmp" in n for n in leftovers)  # only a hidden temporary remains
    assert latest_checkpoint(tmp_path) == good  # which resuming ignores
    assert load_checkpoint(latest_checkpoint(tmp_path))["iteration"] == 2


def test_output_write_killed_midway_leaves_the_previous_output(tmp_path: Path):
    output = write_sitk(ct_like((4, 32, 32), np.int16), tmp_path / "out.nii.gz")
    before = output.read_bytes()
    child = textwrap.dedent(
        f"""
        import time
        from rfr_inpaint.safe_io import atomic_path
        with atomic_path({str(output)!r}) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"partial")
                f.flush()
            print("half written", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([PYTHON, "-c", child], stdout=subprocess.PIPE, text=True, env=python_env())
    try:
        assert proc.stdout.readline().strip() == "half written"
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert output.read_bytes() == before
    assert same_bits(sitk.GetArrayFromImage(sitk.ReadImage(str(output))), ct_like((4, 32, 32), np.int16))


def test_failed_dicom_series_write_keeps_the_previous_series(tmp_path: Path, monkeypatch):
    import pydicom
    from _data_helpers import write_dicom_series

    reference = read_image(write_dicom_series(tmp_path / "in", n_slices=3))
    output = tmp_path / "out"
    write_image(reference, reference.array, output)
    before = {p.name: p.read_bytes() for p in output.iterdir()}
    real_save = pydicom.dataset.Dataset.save_as
    written: list[str] = []

    def fail_on_second(self, filename, *args, **kwargs):
        if written:
            raise OSError(28, "No space left on device")
        written.append(str(filename))
        return real_save(self, filename, *args, **kwargs)

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", fail_on_second)
    with pytest.raises(OSError, match="No space left"):
        write_image(reference, reference.array // 2, output, overwrite=True)
    assert written  # the failure happened half-way through the series
    assert {p.name: p.read_bytes() for p in output.iterdir()} == before
    assert files_in(tmp_path) == ["in", "out"]  # no temporary folder left

"""Guarantee "bad input is a clear error": each damaged or unsuitable input is refused, through the command line (exit
code and a message naming the file and the problem) and through the Python APIs (an exception saying the same)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import torch
from _data_helpers import write_dicom_series
from _reliability_helpers import (
    ct_like,
    last_error_line,
    run_cli,
    same_bits,
    save_tiny_checkpoint,
    tiny_network,
    write_sitk,
)
from PIL import Image
from rfr_inpaint.image_io import ImageIOError, read_image, read_mask
from rfr_inpaint.inpainters import get_inpainter
from rfr_inpaint.networks import load_network
from rfr_inpaint.safe_io import CheckpointError, atomic_torch_save
from rfr_inpaint.volume import inpaint_volume

EXIT_INPUT, EXIT_MASK, EXIT_MODEL, EXIT_INPAINT = 3, 4, 6, 7


def _cli(tmp_path: Path, image: Path, mask: Path | None = None, *extra) -> tuple[int, str]:
    region = ["--mask", mask] if mask is not None else ["--metal-threshold"]
    code, err = run_cli(["--image", image, *region, "--output", tmp_path / "out.nrrd", "--method", "mean", *extra])
    assert not (tmp_path / "out.nrrd").exists() or code == 0  # a refused input never leaves an output
    return code, last_error_line(err)


# ---------------------------------------------------------------------------------------------------------- DICOM
def test_truncated_dicom_file_is_named(tmp_path: Path):
    folder = write_dicom_series(tmp_path / "series", n_slices=3)
    damaged = sorted(folder.iterdir())[1]
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageIOError, match=rf"{damaged.name}.*(damaged|truncated)"):
        read_image(folder)
    code, message = _cli(tmp_path, folder)
    assert code == EXIT_INPUT and str(damaged) in message and "truncated" in message
    code, message = _cli(tmp_path, damaged)  # the damaged file given alone
    assert code == EXIT_INPUT and str(damaged) in message and "not a readable image" in message


def _strip_meta_header(path: Path) -> None:
    """Rewrite a DICOM file as a bare data set: no 128-byte preamble, no 'DICM', no file meta information."""
    ds = pydicom.dcmread(path)
    buffer = io.BytesIO()
    fp = pydicom.filebase.DicomFileLike(buffer)
    fp.is_little_endian, fp.is_implicit_VR = True, False
    del ds.file_meta
    pydicom.filewriter.write_dataset(fp, ds)
    path.write_bytes(buffer.getvalue())


def test_dicom_without_meta_header_is_read_faithfully_or_refused(tmp_path: Path):
    """GDCM reads bare data sets (explicit VR little endian); what it returns must be the series' true voxels and
    geometry, never a misread volume."""
    reference = read_image(write_dicom_series(tmp_path / "with", n_slices=3))
    folder = write_dicom_series(tmp_path / "without", n_slices=3)
    for f in folder.iterdir():
        _strip_meta_header(f)
        assert f.read_bytes()[128:132] != b"DICM"
    try:
        image = read_image(folder)
    except ImageIOError as e:
        assert str(folder) in str(e)
    else:
        assert np.array_equal(image.array, reference.array) and image.array.dtype == reference.array.dtype
        assert (image.spacing, image.origin, image.direction) == (
            reference.spacing,
            reference.origin,
            reference.direction,
        )
    noise = tmp_path / "noise.dcm"
    noise.write_bytes(os.urandom(2000))
    code, message = _cli(tmp_path, noise)
    assert code == EXIT_INPUT and str(noise) in message


# ---------------------------------------------------------------------------------------------- unreadable files
@pytest.mark.parametrize("name", ["random.png", "random.nii.gz", "empty.png", "empty.nii.gz", "empty.nrrd"])
def test_random_bytes_or_empty_file_is_named(tmp_path: Path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else os.urandom(4096))
    with pytest.raises(ImageIOError, match=rf"{name}: not a readable image"):
        read_image(path)
    code, message = _cli(tmp_path, path)
    assert code == EXIT_INPUT and f"{path}: not a readable image" in message
    good = write_sitk(ct_like((4, 32, 32), np.int16), tmp_path / "ct.nrrd")  # as a mask too
    code, message = _cli(tmp_path, good, path)
    assert code == EXIT_MASK and f"{path}: not a readable image" in message


def test_missing_files_are_named(tmp_path: Path):
    code, message = _cli(tmp_path, tmp_path / "nothing.nii.gz")
    assert code == EXIT_INPUT and "nothing.nii.gz: image not found" in message
    good = write_sitk(ct_like((4, 32, 32), np.int16), tmp_path / "ct.nrrd")
    code, message = _cli(tmp_path, good, tmp_path / "nomask.nrrd")
    assert code == EXIT_MASK and "nomask.nrrd" in message and "not found" in message


# ------------------------------------------------------------------------------------------------ values and size
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_nan_or_inf_in_the_image_is_refused(tmp_path: Path, bad):
    volume = ct_like((4, 32, 32), np.float32)
    volume[0, 3, 4] = bad
    hole = np.zeros(volume.shape, bool)
    hole[2, 10:15, 10:15] = True
    with pytest.raises(ValueError, match=r"NaN or infinite.*\(0, 3, 4\)"):
        inpaint_volume(volume, hole, get_inpainter("mean"))
    image = write_sitk(volume, tmp_path / "ct.nrrd")  # NRRD keeps NaN / Inf
    mask = write_sitk(hole.astype(np.uint8), tmp_path / "mask.nrrd")
    code, message = _cli(tmp_path, image, mask)
    assert code == EXIT_INPAINT and str(image) in message and "NaN or infinite" in message
    # a non-finite value inside the hole is replaced, not refused
    volume[0, 3, 4] = 0.0
    volume[2, 12, 12] = bad
    result, _ = inpaint_volume(volume, hole, get_inpainter("mean"), spacing=(2.5, 0.9, 0.7))
    assert np.isfinite(result).all()


def test_nifti_with_nan_is_refused_not_zeroed(tmp_path: Path):
    """ITK's NIfTI reader turns NaN into 0; such a file is refused rather than silently changed."""
    import nibabel

    volume = ct_like((4, 32, 32), np.float32)
    volume[1, 2, 3] = np.nan
    image = write_sitk(volume, tmp_path / "ct.nii.gz")
    assert np.isnan(np.asanyarray(nibabel.load(str(image)).dataobj)).sum() == 1  # the file does hold the NaN
    with pytest.raises(ImageIOError, match=r"ct\.nii\.gz: NIfTI file holds 1 NaN or infinite voxel"):
        read_image(image)
    code, message = _cli(tmp_path, image)
    assert code == EXIT_INPUT and str(image) in message and "silently turn into 0" in message
    volume[1, 2, 3] = 0.0
    assert same_bits(read_image(write_sitk(volume, tmp_path / "ok.nii.gz")).array, volume)


def test_too_small_image_is_refused(tmp_path: Path):
    for shape in [(1, 1), (1, 7), (3, 1, 8), (0, 4, 4)]:
        with pytest.raises(ValueError, match=r"too small"):
            inpaint_volume(np.zeros(shape, np.int16), np.ones(shape, bool), get_inpainter("mean"))
    image = tmp_path / "one.png"
    Image.fromarray(np.full((1, 1), 100, np.uint8)).save(image)
    mask = tmp_path / "one_mask.png"
    Image.fromarray(np.full((1, 1), 255, np.uint8)).save(mask)
    code, message = _cli(tmp_path, image, mask)
    assert code == EXIT_INPAINT and str(image) in message and "too small" in message


def test_mask_that_is_all_hole_is_refused(tmp_path: Path):
    volume = ct_like((4, 32, 32), np.int16)
    with pytest.raises(ValueError, match=r"covers the whole image"):
        inpaint_volume(volume, np.ones(volume.shape, bool), get_inpainter("mean"))
    with pytest.raises(ValueError, match=r"covers the whole image"):  # also once dilated
        hole = np.zeros(volume.shape, bool)
        hole[:, ::2, ::2] = True
        inpaint_volume(volume, hole, get_inpainter("mean"), margin_mm=2.0)
    image = write_sitk(volume, tmp_path / "ct.nrrd")
    mask = write_sitk(np.ones(volume.shape, np.uint8), tmp_path / "mask.nrrd")
    code, message = _cli(tmp_path, image, mask)
    assert code == EXIT_INPAINT and str(image) in message and "covers the whole image" in message


# ------------------------------------------------------------------------------------------------ mask grid
@pytest.mark.parametrize(
    "change,expected",
    [
        ({"shape": (4, 32, 30)}, "shape (4, 32, 30) != (4, 32, 32)"),
        ({"spacing": (0.7, 0.9, 3.0)}, "spacing"),
        ({"origin": (-12.5, 41.0, 7.25)}, "origin"),
    ],
    ids=["shape", "spacing", "origin"],
)
def test_mask_on_another_grid_is_refused(tmp_path: Path, change, expected):
    image = write_sitk(ct_like((4, 32, 32), np.int16), tmp_path / "ct.nii.gz")
    hole = np.zeros(change.get("shape", (4, 32, 32)), np.uint8)
    hole[1, 5:9, 5:9] = 1
    kwargs = {k: v for k, v in change.items() if k != "shape"}
    mask = write_sitk(hole, tmp_path / "mask.nii.gz", **kwargs)
    with pytest.raises(ImageIOError, match="mask grid does not match") as info:
        read_mask(mask, read_image(image))
    assert str(mask) in str(info.value) and str(image) in str(info.value) and expected in str(info.value)
    code, message = _cli(tmp_path, image, mask)
    assert code == EXIT_MASK and str(mask) in message and expected in message
    with pytest.raises(ValueError, match="does not match"):  # the Python API refuses arrays of another shape
        inpaint_volume(np.zeros((4, 32, 32), np.int16), np.zeros((4, 32, 30), bool), get_inpainter("mean"))


# ---------------------------------------------------------------------------------------------- non-scalar inputs
def test_4d_or_multichannel_input_is_refused(tmp_path: Path):
    four_d = tmp_path / "series.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 4, 8, 8), np.int16)), str(four_d))
    vector = tmp_path / "vector.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.random.rand(4, 8, 8, 3).astype(np.float32), isVector=True), str(vector))
    colour = tmp_path / "colour.png"
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(colour)
    for path in (four_d, vector, colour):
        with pytest.raises(ImageIOError, match="scalar") as info:
            read_image(path)
        assert str(path) in str(info.value)
        code, message = _cli(tmp_path, path)
        assert code == EXIT_INPUT and str(path) in message and "scalar" in message
    with pytest.raises(ValueError, match="2D image or a 3D volume"):
        inpaint_volume(np.zeros((2, 4, 8, 8)), np.zeros((2, 4, 8, 8), bool), get_inpainter("mean"))
    with pytest.raises(ValueError, match=r"must be \(N, H, W\)"):
        get_inpainter("mean")(np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8, 3), bool))


# --------------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_of_another_architecture_names_the_keys(tmp_path: Path):
    state = dict(tiny_network().state_dict())
    missing = next(k for k in state if k.startswith("rfr."))
    state.pop(missing)
    state["decoder.extra.weight"] = torch.zeros(3)
    other = tmp_path / "other.pt"
    atomic_torch_save(state, other)
    with pytest.raises(CheckpointError) as info:
        load_network(other)
    text = str(info.value)
    assert str(other) in text and missing in text and "decoder.extra.weight" in text
    code, err = run_cli(
        [
            "--image",
            write_sitk(ct_like((4, 32, 32), np.int16), tmp_path / "ct.nrrd"),
            "--metal-threshold",
            "0",
            "--output",
            tmp_path / "o.nrrd",
            "--model",
            other,
        ]
    )
    assert code == EXIT_MODEL and str(other) in last_error_line(err) and missing in last_error_line(err)
    # a checkpoint of an unrelated network (here a small CNN)
    cnn = tmp_path / "cnn.pt"
    atomic_torch_save(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 1, 3)).state_dict(), cnn)
    with pytest.raises(CheckpointError, match=r"not an RFR-Net checkpoint.*0\.weight"):
        load_network(cnn)
    # a wrong shape (a 3-channel network where the bundle config wants 1 channel)
    from rfr_inpaint.bundle.weights import load_pretrained
    from rfr_inpaint.networks import RFRNet

    rgb = tmp_path / "rgb.pt"
    atomic_torch_save(RFRNet(in_channels=3, num_recurrences=1).state_dict(), rgb)
    with pytest.raises(CheckpointError, match=rf"{rgb.name}.*size mismatch for head_pconv1\.weight"):
        load_pretrained(RFRNet(in_channels=1, num_recurrences=1), rgb)
    shapes = dict(tiny_network().state_dict())
    shapes["out_conv.weight"] = torch.zeros(2, 64, 3, 3)  # same keys, one shape that does not fit
    wrong = tmp_path / "wrong_shape.pt"
    atomic_torch_save(shapes, wrong)
    with pytest.raises(CheckpointError, match=rf"{wrong.name}.*size mismatch for out_conv\.weight"):
        load_network(wrong)
    # not a checkpoint at all
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match=rf"{junk.name}: not a readable PyTorch checkpoint"):
        load_network(junk)
    ok = save_tiny_checkpoint(tmp_path / "ok.pt")
    assert load_network(ok).in_channels == 1  # the checks are not simply refusing everything


def test_missing_vgg_weights_file_is_named(tmp_path: Path, monkeypatch):
    from rfr_inpaint.losses import RFRLoss
    from rfr_inpaint.vgg import VGG16Features

    missing = tmp_path / "weights" / "vgg16-397923af.pth"
    with pytest.raises(FileNotFoundError, match=rf"{missing}: VGG16 weights file not found"):
        VGG16Features(missing)
    with pytest.raises(FileNotFoundError, match=rf"{missing}"):
        RFRLoss(vgg_weights=missing)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no cached weights either
    with pytest.raises(FileNotFoundError, match=r"torch_home.*vgg16-397923af\.pth.*never downloaded"):
        VGG16Features()
    with pytest.warns(UserWarning, match=r"torch_home.*turned off"):
        loss = RFRLoss()
    assert not loss.uses_vgg


def test_bundle_inference_names_the_file_with_nan_or_an_all_hole_mask(tmp_path: Path):
    from _bundle_helpers import CONFIGS
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    load = parser.get_parsed_content("preprocessing")  # LoadImaged, LoadHoleMaskd, the intensity mapping...

    def refusal(item: dict) -> BaseException:
        with pytest.raises(RuntimeError) as info:  # MONAI's Compose names the transform, the cause the problem
            load(item)
        cause = info.value
        while cause.__cause__ is not None:
            cause = cause.__cause__
        return cause

    volume = ct_like((4, 32, 32), np.float32)
    hole = np.zeros(volume.shape, np.uint8)
    hole[1, 4:9, 4:9] = 1
    mask = write_sitk(hole, tmp_path / "ct_mask.nrrd")
    good = write_sitk(volume, tmp_path / "ct.nrrd")
    assert load({"image": str(good), "mask": str(mask)})["image"].shape == (1, 4, 32, 32)
    volume[0, 3, 4] = np.nan
    bad = write_sitk(volume, tmp_path / "nan.nrrd")
    cause = refusal({"image": str(bad), "mask": str(mask)})
    assert isinstance(cause, ValueError) and f"{bad.name}: image holds NaN or infinite values" in str(cause)
    full = write_sitk(np.ones(volume.shape, np.uint8), tmp_path / "full_mask.nrrd")
    cause = refusal({"image": str(good), "mask": str(full)})
    assert isinstance(cause, ValueError)
    assert re.search(rf"{full.name}: the mask covers the whole image .*{good.name}", str(cause))
    other = write_sitk(hole[:, :16], tmp_path / "other_grid_mask.nrrd")
    cause = refusal({"image": str(good), "mask": str(other)})
    assert f"{other.name}: mask grid does not match image" in str(cause) and good.name in str(cause)

"""Fast checks of the bundle's building blocks (rfr_inpaint.bundle): data splits, pairs to inpaint, output names,
pretrained weights, the volume inferer, the MONAI reader / writer of the image files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rfr_inpaint.bundle.image_files import output_path
from rfr_inpaint.bundle.inference_pipeline import VolumeInpaintingInferer, inference_items
from rfr_inpaint.bundle.stage_data import FixedDataset, make_dataset, split_items
from rfr_inpaint.bundle.weights import load_pretrained
from rfr_inpaint.networks import RFRNet
from rfr_inpaint.safe_io import CheckpointError, atomic_torch_save


def _pngs(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.full((8, 8), 100, np.uint8)).save(folder / name)


def test_split_items_of_a_folder_and_a_datalist(tmp_path: Path):
    _pngs(tmp_path / "d", [f"{k}.png" for k in range(10)])
    train = split_items(tmp_path / "d", None, "training")
    val = split_items(tmp_path / "d", None, "validation")
    assert len(train) == 9 and [Path(i["image"]).name for i in val] == ["9.png"]
    assert split_items(tmp_path / "d", None, "test") == val
    datalist = tmp_path / "list.json"
    datalist.write_text(json.dumps({"training": ["d/0.png"], "validation": [{"image": "d/1.png", "mask": "d/2.png"}]}))
    assert split_items(None, datalist, "test")[0]["mask"].endswith("2.png")  # test falls back to validation
    with pytest.raises(ValueError, match="split must be"):
        split_items(tmp_path / "d", None, "train")
    with pytest.raises(ValueError, match="dataset_dir or a datalist"):
        split_items(None, None, "training")
    _pngs(tmp_path / "one", ["a.png"])
    with pytest.raises(ValueError, match="at least 2 images"):
        split_items(tmp_path / "one", None, "training")


def test_synthetic_splits_differ_and_fixed_dataset_freezes_masks():
    from rfr_inpaint.data.datasets import build_transforms

    transform = build_transforms(load=False, size=32, flip_prob=0.0, mask={"kind": "square", "hole_ratio": 4})
    train = make_dataset(transform, split="training", num_samples=2, image_size=32)
    val = make_dataset(transform, split="validation", num_samples=2, image_size=32)
    assert not torch.equal(train[0]["image"], val[0]["image"])
    a = FixedDataset(make_dataset(transform, split="validation", num_samples=3, image_size=32), seed=5)
    b = FixedDataset(make_dataset(transform, split="validation", num_samples=3, image_size=32), seed=5)
    c = FixedDataset(make_dataset(transform, split="validation", num_samples=3, image_size=32), seed=6)
    assert all(torch.equal(a[i]["hole"], b[i]["hole"]) for i in range(3))
    assert torch.equal(a[0]["hole"], a[0]["hole"]) and any(
        not torch.equal(a[i]["hole"], c[i]["hole"]) for i in range(3)
    )


def test_inference_items_pairs_images_with_masks(tmp_path: Path):
    _pngs(tmp_path, ["a.png", "a_mask.png", "b.png", "c.png", "c_mask.png"])
    items = inference_items(tmp_path)
    assert [(Path(i["image"]).name, Path(i["mask"]).name) for i in items] == [
        ("a.png", "a_mask.png"),
        ("c.png", "c_mask.png"),
    ]
    with pytest.raises(ValueError, match="no image with a mask"):
        inference_items(tmp_path, mask_suffix="_hole")
    with pytest.raises(FileNotFoundError, match="missing"):
        inference_items(tmp_path / "missing")
    datalist = tmp_path / "list.json"
    datalist.write_text(json.dumps({"test": [{"image": "a.png"}]}))
    with pytest.raises(ValueError, match="has no 'mask'"):
        inference_items(None, datalist)


def test_output_path_keeps_the_format(tmp_path: Path):
    assert output_path("/x/ct.nii.gz", tmp_path) == tmp_path / "ct_inpainted.nii.gz"
    assert output_path("/x/cxr.PNG", tmp_path, "_filled") == tmp_path / "cxr_filled.PNG"
    (tmp_path / "series").mkdir()
    assert output_path(tmp_path / "series", tmp_path / "out") == tmp_path / "out" / "series_inpainted"


def test_load_pretrained_checks_the_weights(tmp_path: Path):
    net = RFRNet(1, num_recurrences=1)
    assert load_pretrained(net, None) is net
    source = RFRNet(1, num_recurrences=1)
    atomic_torch_save(source.state_dict(), tmp_path / "m.pt")
    load_pretrained(net, tmp_path / "m.pt")
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), source.state_dict().values()))
    atomic_torch_save({"network": RFRNet(3, num_recurrences=1).state_dict()}, tmp_path / "rgb.pt")
    with pytest.raises(CheckpointError, match="rgb.pt: weights do not fit"):
        load_pretrained(net, tmp_path / "rgb.pt")
    with pytest.raises(FileNotFoundError):
        load_pretrained(net, tmp_path / "none.pt")


def test_volume_inferer_fills_only_hole_slices():
    calls = []

    class Constant(torch.nn.Module):
        def forward(self, image, hole):
            calls.append(image.shape[0])
            return torch.full_like(image, 0.25)

    network = Constant()

    volume = torch.rand(1, 1, 4, 20, 20)
    hole = torch.zeros_like(volume)
    hole[0, 0, 2, 5:10, 5:10] = 1
    out = VolumeInpaintingInferer(batch_size=8)(volume, network, hole)
    assert calls == [1]  # one slice holds the hole
    assert torch.equal(out[hole == 0], volume[hole == 0]) and torch.allclose(out[hole == 1], torch.tensor(0.25))
    image2d = torch.rand(2, 1, 20, 20)
    out2d = VolumeInpaintingInferer()(image2d, network, hole[:, :, 2].expand(2, 1, 20, 20))
    assert out2d.shape == (2, 1, 20, 20)
    with pytest.raises(ValueError, match="needs the hole"):
        VolumeInpaintingInferer()(volume, network)


def test_volume_inferer_passes_the_metatensors_spacing_to_a_spaced_prior():
    """A guided network whose prior knows the spacing gets it from the MetaTensor's affine (array index order)."""
    from _variant_helpers import box_hole, real_ct_01
    from monai.data import MetaTensor

    from rfr_inpaint.inpainters import get_inpainter
    from rfr_inpaint.transforms.intensity import mapping_from_window
    from rfr_inpaint.volume import inpaint_volume

    volume = real_ct_01()[:, 40:104, 50:114].copy()
    hole = box_hole(volume.shape, (3, 5, 20, 40, 28, 33))
    spacing = (2.5, 0.7, 0.7)
    network = RFRNet(width=8, num_recurrences=1, prior=True, context_slices=1, prior_spacing_exponent=1.0).eval()
    affine = torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64))
    inputs = MetaTensor(torch.from_numpy(volume)[None, None], affine=affine)
    holes = torch.from_numpy(hole.astype(np.float32))[None, None]
    out = VolumeInpaintingInferer()(inputs, network, holes)[0, 0].numpy()
    identity = mapping_from_window(0.0, 1.0, clip=True)
    expected, _ = inpaint_volume(volume, hole, get_inpainter("biharmonic3d_mm"), spacing=spacing, margin_mm=0.0,
                                 intensity=identity)
    assert np.abs(out - expected).max() < 1e-5  # the untrained network is its prior, made with the spacing
    plain = VolumeInpaintingInferer()(torch.from_numpy(volume)[None, None], network, holes)[0, 0].numpy()
    assert np.abs(plain - out).max() > 1e-3  # a plain tensor has no spacing: 1 mm


@pytest.mark.parametrize("slope_intercept", [(1.0, 0.0), (2.0, 10.0)])
def test_monochrome1_dicom_series_is_written_back_as_monochrome1(tmp_path: Path, slope_intercept):
    """A MONOCHROME1 series reads inverted (GDCM: stored ``4095 - s``); writing it back with the series as template
    stores the values in MONOCHROME1 again, so unchanged pixels keep their stored values and the file reads the same."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid
    from rfr_inpaint.image_io import read_image, write_image

    slope, intercept = slope_intercept
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 4096, (2, 6, 7)).astype(np.uint16)
    series, study = generate_uid(), generate_uid()
    (tmp_path / "in").mkdir()
    for k in range(2):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "DX", "t", study, series
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, 2.0 * k], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness, ds.InstanceNumber = [1, 1], 2, k + 1
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 6, 7, 1, "MONOCHROME1"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = stored[k].tobytes()
        ds.save_as(tmp_path / "in" / f"{k}.dcm", enforce_file_format=True)
    image = read_image(tmp_path / "in")
    np.testing.assert_allclose(image.array, slope * (4095 - stored.astype(np.float64)) + intercept)  # inverted
    changed = image.array.copy()
    changed[1, 2, 3] = slope * 1000 + intercept
    write_image(image, changed, tmp_path / "out")
    out_files = sorted((tmp_path / "out").iterdir())
    for k, file in enumerate(out_files):
        ds = pydicom.dcmread(file)
        assert ds.PhotometricInterpretation == "MONOCHROME1"
        expected = stored[k].copy()
        if k == 1:
            expected[2, 3] = 4095 - 1000
        assert np.array_equal(ds.pixel_array, expected)
    np.testing.assert_allclose(read_image(tmp_path / "out").array, changed)


def test_volume_inferer_builds_the_inpainter_once_per_network(monkeypatch):
    """The network is copied and its BatchNorms folded once, not for every batch of the evaluator."""
    import rfr_inpaint.bundle.inference_pipeline as pipeline

    built = []
    real = pipeline.RFRInpainter

    def counting(*args, **kwargs):
        built.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "RFRInpainter", counting)
    torch.manual_seed(0)
    first, second = RFRNet(in_channels=1, num_recurrences=1), RFRNet(in_channels=1, num_recurrences=1)
    inferer = VolumeInpaintingInferer(batch_size=4)
    volume = torch.rand(2, 1, 3, 16, 16)
    hole = torch.zeros_like(volume)
    hole[:, :, 1, 4:9, 4:9] = 1
    outputs = [inferer(volume, first, hole) for _ in range(3)]  # three batches of two volumes
    assert built == [first]
    assert all(torch.equal(out, outputs[0]) for out in outputs)
    inferer(volume, second, hole)  # another network: a new inpainter
    inferer(volume, second, hole)
    assert built == [first, second]
    inferer.reset()
    inferer(volume, second, hole)
    assert built == [first, second, second]


@pytest.mark.parametrize("kind", ["dicom_series", "png16", "nifti_float"])
def test_inference_pipeline_writes_back_the_input_format_grid_and_dtype(tmp_path: Path, kind):
    """inference.json's LoadImaged / SaveImaged with the package's reader and writer: with the network's output equal
    to its input, the file written is the input (a DICOM series as a new series with the input's tags)."""
    import pydicom
    import SimpleITK as sitk
    from _bundle_helpers import CONFIGS
    from monai.bundle import ConfigParser
    from rfr_inpaint.image_io import read_image, write_dicom_series

    rng = np.random.default_rng(0)
    if kind == "dicom_series":
        image = write_dicom_series(
            rng.integers(-1000, 2000, (3, 16, 20)).astype(np.int16), tmp_path / "in" / "ct", spacing=(2.0, 0.7, 0.7)
        )
    elif kind == "png16":
        image = tmp_path / "in" / "xray.png"
        image.parent.mkdir()
        sitk.WriteImage(sitk.GetImageFromArray(rng.integers(0, 4096, (16, 20)).astype(np.uint16)), str(image))
    else:
        image = tmp_path / "in" / "mr.nii.gz"
        image.parent.mkdir()
        itk_image = sitk.GetImageFromArray(rng.random((3, 16, 20)).astype(np.float32) * 900)
        itk_image.SetSpacing((0.5, 0.5, 3.0))
        sitk.WriteImage(itk_image, str(image))
    source = read_image(image)
    hole = np.zeros(source.array.shape, np.uint8)
    hole[..., 4:9, 5:12] = 1
    mask = tmp_path / "in" / "hole_mask.nrrd"
    sitk.WriteImage(source.to_sitk(hole), str(mask))
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    parser.update({"output_dir": str(tmp_path / "out"), "intensity_mode": "auto"})
    data = parser.get_parsed_content("preprocessing")({"image": str(image), "mask": str(mask)})
    assert data["image"].dtype == torch.float32
    assert data["image_intensity_mapping"]["dtype"] == source.array.dtype.name  # the file's type, uint16 included
    data["pred"] = data["image"].clone()  # an identity network
    parser.get_parsed_content("postprocessing")(data)
    out = output_path(image, tmp_path / "out")
    result = read_image(out)
    assert result.format == source.format and result.array.dtype == source.array.dtype
    assert result.spacing == pytest.approx(source.spacing) and result.origin == pytest.approx(source.origin)
    known = hole == 0
    assert np.array_equal(result.array[known], source.array[known])  # bit-identical outside the hole
    inside = np.abs(result.array[~known].astype(np.float64) - source.array[~known]).max()
    assert inside <= 1e-3 * float(np.ptp(source.array))  # the identity network's output, mapped back
    if kind == "dicom_series":
        first_in, first_out = pydicom.dcmread(source.dicom_files[0]), pydicom.dcmread(result.dicom_files[0])
        assert first_out.SeriesInstanceUID != first_in.SeriesInstanceUID
        assert first_out.StudyInstanceUID == first_in.StudyInstanceUID and len(result.dicom_files) == 3

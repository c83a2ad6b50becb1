"""The ``rfr-inpaint`` command on PNG, NIfTI and DICOM inputs: results, safety rules and exit codes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from rfr_inpaint import locations
from rfr_inpaint.cli import EXIT_CODES, main
from rfr_inpaint.data.synthetic import insert_metal, synthetic_ct_slice, synthetic_ct_volume
from rfr_inpaint.image_io import read_image, write_dicom_series
from rfr_inpaint.volume import dilate_mm

SPACING_KJI = (3.0, 1.5, 1.5)
DIRECTION = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


@pytest.fixture(scope="module")
def ct():
    """(metal-free truth, int16 volume with metal, metal mask), 8 x 48 x 48."""
    truth, spacing = synthetic_ct_volume((8, 48, 48), seed=3, spacing=SPACING_KJI)
    with_metal, metal = insert_metal(truth, seed=4, n_objects=2, slices=[3, 4], spacing=spacing)
    return np.rint(truth).astype(np.int16), np.rint(with_metal).astype(np.int16), metal


def _write_nifti(array: np.ndarray, path, spacing=SPACING_KJI) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(reversed(spacing)))
    image.SetOrigin((12.0, -30.0, 7.5))
    image.SetDirection(DIRECTION)
    sitk.WriteImage(image, str(path))


def _mae(a, b) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def test_png_with_mask(tmp_path, capsys):
    truth = synthetic_ct_slice(64, seed=5)
    with_metal, metal = insert_metal(truth, seed=6, n_objects=1, spacing=(1.0, 1.0))
    to_uint8 = lambda hu: np.clip((hu + 1024) / 4095 * 255, 0, 255).round().astype(np.uint8)  # noqa: E731
    image, clean = to_uint8(with_metal), to_uint8(truth)
    sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / "xray.png"))
    sitk.WriteImage(sitk.GetImageFromArray(metal.astype(np.uint8) * 255), str(tmp_path / "mask.png"))
    code = main(
        [
            "--image",
            str(tmp_path / "xray.png"),
            "--mask",
            str(tmp_path / "mask.png"),
            "--output",
            str(tmp_path / "out.png"),
            "--method",
            "biharmonic",
        ]
    )
    assert code == 0
    out = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out.png")))
    assert out.dtype == np.uint8 and out.shape == image.shape
    used = metal  # an explicit mask is inpainted as drawn (no margin by default)
    np.testing.assert_array_equal(out[~used], image[~used])
    next_to_hole = dilate_mm(metal, 1.0, (1.0, 1.0)) & ~metal
    assert next_to_hole.sum() > 10 and np.array_equal(out[next_to_hole], image[next_to_hole])
    assert _mae(out[used], clean[used]) < 0.3 * _mae(image[used], clean[used])
    err = capsys.readouterr().err
    assert "slice" in err and "wrote" in err  # progress bar over slices, final message


def test_nifti_with_mask_keeps_geometry_and_dtype(tmp_path, ct):
    truth, with_metal, metal = ct
    _write_nifti(with_metal, tmp_path / "ct.nii.gz")
    _write_nifti(metal.astype(np.uint8) * 3, tmp_path / "metal.nii.gz")  # any nonzero label is hole
    code = main(
        [
            "--image",
            str(tmp_path / "ct.nii.gz"),
            "--mask",
            str(tmp_path / "metal.nii.gz"),
            "--output",
            str(tmp_path / "out.nii.gz"),
            "--method",
            "telea",
            "--margin-mm",
            "2",
            "--quiet",
        ]
    )
    assert code == 0
    src, out = sitk.ReadImage(str(tmp_path / "ct.nii.gz")), sitk.ReadImage(str(tmp_path / "out.nii.gz"))
    assert out.GetPixelID() == src.GetPixelID() == sitk.sitkInt16
    assert out.GetSpacing() == src.GetSpacing() and out.GetOrigin() == src.GetOrigin()
    np.testing.assert_allclose(out.GetDirection(), src.GetDirection(), atol=1e-7)
    result = sitk.GetArrayFromImage(out)
    used = dilate_mm(metal, 2.0, SPACING_KJI)
    np.testing.assert_array_equal(result[~used], with_metal[~used])
    assert _mae(result[used], truth[used]) < 0.3 * _mae(with_metal[used], truth[used])


def test_dicom_series_with_metal_threshold(tmp_path, ct):
    truth, with_metal, metal = ct
    write_dicom_series(with_metal, tmp_path / "series", spacing=SPACING_KJI, origin=(0.0, 0.0, -20.0))
    code = main(
        [
            "--image",
            str(tmp_path / "series"),
            "--metal-threshold",
            "--output",
            str(tmp_path / "out"),
            "--method",
            "mean",
            "--quiet",
        ]
    )
    assert code == 0
    src, out = read_image(tmp_path / "series"), read_image(tmp_path / "out")
    assert out.array.dtype == src.array.dtype and out.spacing == pytest.approx(src.spacing)
    assert out.origin == pytest.approx(src.origin)
    used = dilate_mm(with_metal >= 2500, 1.0, SPACING_KJI)
    np.testing.assert_array_equal(out.array[~used], with_metal[~used])
    assert out.array[used].max() < 2500
    first_in, first_out = pydicom.dcmread(src.dicom_files[0]), pydicom.dcmread(out.dicom_files[0])
    assert first_out.SeriesInstanceUID != first_in.SeriesInstanceUID
    assert first_out.StudyInstanceUID == first_in.StudyInstanceUID


def test_margin_defaults_a_mask_as_drawn_a_threshold_dilated(tmp_path, ct, capsys):
    """An explicit mask gets no margin unless asked; a metal threshold's mask gets 1 mm (rfr_inpaint.defaults)."""
    from rfr_inpaint.defaults import MASK_MARGIN_MM, THRESHOLD_MARGIN_MM

    assert (MASK_MARGIN_MM, THRESHOLD_MARGIN_MM) == (0.0, 1.0)
    _, with_metal, metal = ct
    spacing = (2.0, 0.8, 0.8)  # in-plane voxels closer than 1 mm: the default threshold margin adds a ring
    _write_nifti(with_metal, tmp_path / "ct.nii.gz", spacing)
    _write_nifti(metal.astype(np.uint8), tmp_path / "metal.nii.gz", spacing)
    ring = dilate_mm(metal, 1.0, spacing) & ~metal
    assert ring.sum() > 10
    base = ["--image", str(tmp_path / "ct.nii.gz"), "--method", "mean", "--quiet", "--overwrite"]
    outputs = {}
    for name, region in (
        ("mask", ["--mask", str(tmp_path / "metal.nii.gz")]),
        ("mask_margin", ["--mask", str(tmp_path / "metal.nii.gz"), "--margin-mm", "1"]),
        ("threshold", ["--metal-threshold", "2500"]),
    ):
        assert main([*base, *region, "--output", str(tmp_path / f"{name}.nii.gz")]) == 0
        outputs[name] = read_image(tmp_path / f"{name}.nii.gz").array
    assert metal.any() and np.array_equal(metal, with_metal >= 2500)  # the same region, drawn or thresholded
    np.testing.assert_array_equal(outputs["mask"][~metal], with_metal[~metal])  # no known voxel changes
    assert not np.array_equal(outputs["mask"][metal], with_metal[metal])
    for name in ("mask_margin", "threshold"):  # the 1 mm ring around the metal is inpainted too
        assert not np.array_equal(outputs[name][ring], with_metal[ring]), name
        np.testing.assert_array_equal(outputs[name][~(ring | metal)], with_metal[~(ring | metal)])
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "default: 0 for --mask" in " ".join(capsys.readouterr().out.split())


def test_rfr_with_a_model_file(tmp_path, ct):
    torch = pytest.importorskip("torch")
    from rfr_inpaint.networks import RFRNet

    _, with_metal, metal = ct
    _write_nifti(with_metal, tmp_path / "ct.nrrd")
    _write_nifti(metal.astype(np.uint8), tmp_path / "metal.nrrd")
    torch.manual_seed(0)
    torch.save({"network": RFRNet(in_channels=1, num_recurrences=2).state_dict()}, tmp_path / "model.pt")
    code = main(
        [
            "--image",
            str(tmp_path / "ct.nrrd"),
            "--mask",
            str(tmp_path / "metal.nrrd"),
            "--output",
            str(tmp_path / "out.nrrd"),
            "--method",
            "rfr",
            "--model",
            str(tmp_path / "model.pt"),
            "--device",
            "cpu",
            "--batch-size",
            "1",
            "--quiet",
        ]
    )
    assert code == 0
    result = read_image(tmp_path / "out.nrrd").array
    np.testing.assert_array_equal(result[~metal], with_metal[~metal])
    assert not np.array_equal(result[metal], with_metal[metal])


def test_bundle_folder_model_uses_the_recorded_intensity_mapping(tmp_path, ct):
    torch = pytest.importorskip("torch")
    from rfr_inpaint.transforms.intensity import intensity_for_model
    from rfr_inpaint.networks import RFRNet
    from rfr_inpaint.transforms.intensity import CTWindow, PercentileScale

    _, with_metal, metal = ct
    bundle = tmp_path / "bundle"
    (bundle / "models").mkdir(parents=True)
    (bundle / "configs").mkdir()
    torch.manual_seed(1)
    torch.save(RFRNet(in_channels=1, num_recurrences=1).state_dict(), bundle / "models" / "model.pt")
    (bundle / "configs" / "inference.json").write_text('{"intensity_mode": "$@train#mode"}')  # an expression: skipped
    (bundle / "configs" / "train.json").write_text('{"intensity_mode": "ct", "ct_window": [-300, 500]}')
    mapping = intensity_for_model(bundle)
    assert isinstance(mapping, CTWindow) and (mapping.a_min, mapping.a_max) == (-300.0, 500.0)
    assert isinstance(intensity_for_model(bundle / "models" / "model.pt"), CTWindow)
    assert intensity_for_model(None) is None and intensity_for_model(tmp_path / "loose.pt") is None

    _write_nifti(with_metal, tmp_path / "ct.nii.gz")
    _write_nifti(metal.astype(np.uint8), tmp_path / "metal.nii.gz")
    assert (
        main(
            [
                "--image",
                str(tmp_path / "ct.nii.gz"),
                "--mask",
                str(tmp_path / "metal.nii.gz"),
                "--output",
                str(tmp_path / "out.nii.gz"),
                "--model",
                str(bundle),
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    result = read_image(tmp_path / "out.nii.gz").array
    assert -300 <= result[metal].min() and result[metal].max() <= 500  # mapped back through the bundle's window
    np.testing.assert_array_equal(result[~metal], with_metal[~metal])

    (bundle / "configs" / "train.json").write_text('{"intensity_mode": "percentile"}')
    assert isinstance(intensity_for_model(bundle), PercentileScale)
    (bundle / "configs" / "train.json").write_text('{"intensity_mode": "ct", "ct_window": "wide"}')
    with pytest.raises(ValueError, match=r"train\.json: ct_window must be a list"):
        intensity_for_model(bundle)


def test_never_overwrites_without_permission(tmp_path, ct):
    _, with_metal, metal = ct
    _write_nifti(with_metal, tmp_path / "ct.nii.gz")
    _write_nifti(metal.astype(np.uint8), tmp_path / "metal.nii.gz")
    original = (tmp_path / "ct.nii.gz").read_bytes()
    base = [
        "--image",
        str(tmp_path / "ct.nii.gz"),
        "--mask",
        str(tmp_path / "metal.nii.gz"),
        "--method",
        "mean",
        "--quiet",
    ]

    assert main([*base, "--output", str(tmp_path / "ct.nii.gz")]) == EXIT_CODES["output"]
    assert main([*base, "--output", str(tmp_path / "." / "ct.nii.gz"), "--overwrite"]) == EXIT_CODES["output"]
    assert (tmp_path / "ct.nii.gz").read_bytes() == original

    (tmp_path / "out.nii.gz").write_bytes(b"previous result")
    assert main([*base, "--output", str(tmp_path / "out.nii.gz")]) == EXIT_CODES["output"]
    assert (tmp_path / "out.nii.gz").read_bytes() == b"previous result"
    assert main([*base, "--output", str(tmp_path / "out.nii.gz"), "--overwrite"]) == 0
    assert read_image(tmp_path / "out.nii.gz").array[metal].max() < 2500

    assert main([*base, "--in-place"]) == 0
    inpainted = read_image(tmp_path / "ct.nii.gz").array
    assert inpainted[metal].max() < 2500 and inpainted.dtype == np.int16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz", "metal.nii.gz", "out.nii.gz"]  # no temp left


def test_failures_have_distinct_exit_codes_and_one_line_messages(tmp_path, ct, capsys, monkeypatch):
    _, with_metal, metal = ct
    # no shipped model anywhere the command looks (the current folder, the package's folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(locations, "package_bundle_dir", lambda: tmp_path)
    _write_nifti(with_metal, tmp_path / "ct.nii.gz")
    _write_nifti(metal.astype(np.uint8), tmp_path / "metal.nii.gz")
    _write_nifti(metal.astype(np.uint8), tmp_path / "other_grid.nii.gz", spacing=(2.0, 1.5, 1.5))
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    ok_io = ["--image", str(tmp_path / "ct.nii.gz"), "--mask", str(tmp_path / "metal.nii.gz")]
    cases = [
        (
            [
                "--image",
                str(tmp_path / "missing.nii.gz"),
                "--metal-threshold",
                "--output",
                str(tmp_path / "o.nii.gz"),
                "--method",
                "mean",
            ],
            "input",
            "missing.nii.gz: image not found",
        ),
        (
            [
                "--image",
                str(tmp_path / "ct.nii.gz"),
                "--mask",
                str(tmp_path / "other_grid.nii.gz"),
                "--output",
                str(tmp_path / "o.nii.gz"),
                "--method",
                "mean",
            ],
            "mask",
            "other_grid.nii.gz: mask grid does not match",
        ),
        ([*ok_io, "--output", str(tmp_path / "o.png"), "--method", "mean"], "output", "o.png: a 3D image"),
        ([*ok_io, "--output", str(tmp_path / "o.xyz"), "--method", "mean"], "output", "unsupported image format"),
        (
            [*ok_io, "--output", str(tmp_path / "o.nii.gz"), "--model", str(tmp_path / "none.pt")],
            "model",
            "none.pt: model file not found",
        ),
        (
            [*ok_io, "--output", str(tmp_path / "o.nii.gz"), "--model", str(tmp_path / "broken.pt")],
            "model",
            "broken.pt: ",
        ),
        (
            [*ok_io, "--output", str(tmp_path / "o.nii.gz"), "--method", "rfr"],
            "model",
            "no shipped RFR-Net model: models/model.pt",
        ),
        (
            [
                *ok_io,
                "--output",
                str(tmp_path / "o.nii.gz"),
                "--method",
                "mean",
                "--model",
                str(tmp_path / "broken.pt"),
            ],
            "usage",
            "--model is only used by --method rfr",
        ),
        ([*ok_io, "--method", "mean"], "usage", "--output is required"),
    ]
    for argv, kind, message in cases:
        assert main([*argv, "--quiet"]) == EXIT_CODES[kind], (argv, kind)
        err = capsys.readouterr().err.strip()
        assert err.startswith("rfr-inpaint: error: ") and message in err and "\n" not in err, err
    assert not (tmp_path / "o.nii.gz").exists()
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)

    with pytest.raises(SystemExit) as info:  # argparse: --mask and --metal-threshold exclude each other
        main([*ok_io, "--metal-threshold", "2000", "--output", str(tmp_path / "o.nii.gz")])
    assert info.value.code == EXIT_CODES["usage"]


def test_empty_mask_writes_a_copy_with_a_warning(tmp_path, ct, capsys):
    _, with_metal, _ = ct
    _write_nifti(with_metal, tmp_path / "ct.nii.gz")
    assert (
        main(
            [
                "--image",
                str(tmp_path / "ct.nii.gz"),
                "--metal-threshold",
                "9000",
                "--output",
                str(tmp_path / "out.nii.gz"),
                "--method",
                "mean",
                "--quiet",
            ]
        )
        == 0
    )
    assert "empty mask" in capsys.readouterr().err
    np.testing.assert_array_equal(read_image(tmp_path / "out.nii.gz").array, with_metal)


def test_json_progress_lines(tmp_path, ct, capsys):
    import json

    _, with_metal, metal = ct
    _write_nifti(with_metal, tmp_path / "ct.nii.gz")
    _write_nifti(metal.astype(np.uint8), tmp_path / "metal.nii.gz")
    argv = ["--image", str(tmp_path / "ct.nii.gz"), "--mask", str(tmp_path / "metal.nii.gz"), "--output",
            str(tmp_path / "out.nii.gz"), "--method", "mean", "--batch-size", "1", "--progress", "json"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert [e["event"] for e in events] == ["start", "progress", "progress", "progress", "done"]
    assert events[0]["hole_voxels"] == int(metal.sum())
    assert [(e["done"], e["total"]) for e in events[1:4]] == [(0, 2), (1, 2), (2, 2)]
    assert events[-1]["output"] == str(tmp_path / "out.nii.gz") and events[-1]["seconds"] >= 0
    assert "inpainting" not in captured.err  # no progress bar in JSON mode
    assert main(argv) == EXIT_CODES["output"]
    error = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert error["event"] == "error" and error["code"] == EXIT_CODES["output"] and "output exists" in error["message"]


def test_console_script_runs_as_a_process(tmp_path):
    image = np.full((24, 24), 100, np.uint8)
    image[10:14, 10:14] = 255
    sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / "in.png"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rfr_inpaint.cli",
            "--image",
            str(tmp_path / "in.png"),
            "--metal-threshold",
            "200",
            "--output",
            str(tmp_path / "out.png"),
            "--method",
            "ns",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out.png")))
    assert out.max() < 200 and out[0, 0] == 100
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "rfr_inpaint.cli",
            "--image",
            str(tmp_path / "in.png"),
            "--metal-threshold",
            "200",
            "--output",
            str(tmp_path / "out.png"),
            "--method",
            "ns",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == EXIT_CODES["output"] and "output exists" in again.stderr


def test_rfr_mode_and_context_options_reach_the_inpainter(tmp_path, ct):
    torch = pytest.importorskip("torch")
    from rfr_inpaint.networks import RFRNet

    _, with_metal, metal = ct
    _write_nifti(with_metal, tmp_path / "ct.nrrd")
    _write_nifti(metal.astype(np.uint8), tmp_path / "metal.nrrd")
    torch.manual_seed(0)
    torch.save({"network": RFRNet(in_channels=1).state_dict()}, tmp_path / "model.pt")
    common = ["--image", str(tmp_path / "ct.nrrd"), "--mask", str(tmp_path / "metal.nrrd"), "--method", "rfr"]
    common += ["--model", str(tmp_path / "model.pt"), "--device", "cpu", "--quiet"]
    outputs = {}
    for name, extra in {"full": ["--mode", "full"], "wide": ["--context", "4096"], "tight": ["--context", "2"]}.items():
        assert main(common + ["--output", str(tmp_path / f"{name}.nrrd")] + extra) == 0
        outputs[name] = read_image(tmp_path / f"{name}.nrrd").array
    # a crop whose context covers the whole slice is the full-slice forward; a tight crop sees less context
    assert np.array_equal(outputs["full"], outputs["wide"])
    assert not np.array_equal(outputs["full"], outputs["tight"])
    with pytest.raises(SystemExit) as info:
        main(common + ["--output", str(tmp_path / "bad.nrrd"), "--mode", "tiles"])
    assert info.value.code == EXIT_CODES["usage"]


@pytest.mark.parametrize("fmt", ["nii.gz", "nrrd", "dicom", "png"])
def test_biharmonic3d_end_to_end(tmp_path, ct, fmt, capsys, monkeypatch):
    from rfr_inpaint.baselines import Biharmonic3DInpainter, BiharmonicInpainter
    from rfr_inpaint.inpainters import CLASSICAL_METHODS
    from rfr_inpaint.transforms.intensity import CTWindow
    from rfr_inpaint.volume import inpaint_volume

    truth, with_metal, metal = ct
    if fmt == "png":  # a 2D image: the volumetric method is 2D biharmonic there
        truth, with_metal, metal = truth[3], with_metal[3], metal[3]
        image_path, out_path = tmp_path / "in.png", tmp_path / "out.png"
        to_uint16 = lambda hu: np.clip(hu.astype(np.int32) + 1024, 0, 4095).astype(np.uint16)  # noqa: E731
        truth, with_metal = to_uint16(truth), to_uint16(with_metal)
        sitk.WriteImage(sitk.GetImageFromArray(with_metal), str(image_path))
        region = ["--metal-threshold", str(int(with_metal.max()))]
        hole = with_metal >= with_metal.max()
        intensity = ["--intensity", "range"]
    else:
        if fmt == "dicom":
            image_path, out_path = tmp_path / "series", tmp_path / "out"
            geometry = {"spacing": SPACING_KJI, "origin": (12.0, -30.0, 7.5), "direction": DIRECTION}  # the mask's
            write_dicom_series(with_metal, image_path, **geometry)
        else:
            image_path, out_path = tmp_path / f"ct.{fmt}", tmp_path / f"out.{fmt}"
            _write_nifti(with_metal, image_path)
        _write_nifti(metal.astype(np.uint8), tmp_path / "metal.nii.gz")
        region, hole = ["--mask", str(tmp_path / "metal.nii.gz")], metal
        intensity = ["--intensity", "ct", "--window", "-1024", "3071"]
    argv = ["--image", str(image_path), *region, "--margin-mm", "2", *intensity, "--quiet"]
    assert main([*argv, "--method", "biharmonic3d", "--output", str(out_path)]) == 0
    src, out = read_image(image_path), read_image(out_path)
    assert out.array.dtype == src.array.dtype and out.array.shape == src.array.shape
    assert out.spacing == pytest.approx(src.spacing) and out.origin == pytest.approx(src.origin)
    used = dilate_mm(hole, 2.0, src.spacing_numpy)
    np.testing.assert_array_equal(out.array[~used], with_metal[~used])
    assert _mae(out.array[used], truth[used]) < 0.3 * _mae(with_metal[used], truth[used])
    if fmt == "png":
        slice_wise = tmp_path / "slice_wise.png"
        assert main([*argv, "--method", "biharmonic", "--output", str(slice_wise)]) == 0
        np.testing.assert_array_equal(out.array, read_image(slice_wise).array)
    else:  # the one volume path, with the 3D solve (not the slice-wise method)
        window = CTWindow(-1024, 3071)
        expected, _ = inpaint_volume(src.array, hole, Biharmonic3DInpainter(), spacing=src.spacing_numpy,
                                     margin_mm=2.0, intensity=window)  # fmt: skip
        np.testing.assert_array_equal(out.array, expected)
        flat, _ = inpaint_volume(src.array, hole, BiharmonicInpainter(), spacing=src.spacing_numpy, margin_mm=2.0,
                                 intensity=window)  # fmt: skip
        assert not np.array_equal(out.array, flat)
    # the method list of the no-model error comes from the package's one list
    monkeypatch.chdir(tmp_path)  # no shipped model where it is looked for
    monkeypatch.setattr(locations, "package_bundle_dir", lambda: tmp_path)
    code = main(["--image", str(image_path), *region, "--output", str(tmp_path / "x.nrrd"), "--method", "rfr", "--quiet"])
    assert code == EXIT_CODES["model"]
    assert f"({', '.join(CLASSICAL_METHODS)})" in capsys.readouterr().err

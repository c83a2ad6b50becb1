"""``rfr-inpaint --preview``: the before / after / difference PNG of the most affected slice, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image
from rfr_inpaint.cli import EXIT_CODES, main
from rfr_inpaint.preview import most_affected_slice, write_preview
from rfr_inpaint.transforms.holes3d import metal_holes_3d

REAL_CT = Path(__file__).resolve().parent / "data" / "real_ct_chest.nii.gz"


@pytest.fixture(scope="module")
def ct_with_metal(tmp_path_factory):
    """A real CT cut (8 x 96 x 96, HU) with a screw at 3071 HU, written as NIfTI; (path, volume, metal)."""
    image = sitk.ReadImage(str(REAL_CT))
    cut = image[48:144, 48:144, :]
    volume = sitk.GetArrayFromImage(cut)
    spacing = tuple(reversed(cut.GetSpacing()))
    metal = metal_holes_3d(volume.shape, spacing, np.random.default_rng(1), kind="screw", body=volume > -500)
    with_metal = sitk.GetImageFromArray(np.where(metal, 3071, np.minimum(volume, 2400)).astype(np.int16))
    with_metal.CopyInformation(cut)
    path = tmp_path_factory.mktemp("ct") / "ct.nii.gz"
    sitk.WriteImage(with_metal, str(path))
    return path, sitk.GetArrayFromImage(with_metal), metal


def _panels(path: Path) -> np.ndarray:
    picture = np.asarray(Image.open(path).convert("RGB"))
    assert picture.shape[1] > 2.5 * picture.shape[0] > 0  # three panels side by side
    return picture


def test_cli_preview_shows_the_most_affected_slice(ct_with_metal, tmp_path, capsys):
    path, volume, _ = ct_with_metal
    out, preview = tmp_path / "out.nii.gz", tmp_path / "before_after.png"
    argv = ["--image", str(path), "--metal-threshold", "2500", "--output", str(out), "--method", "biharmonic3d"]
    assert main([*argv, "--preview", str(preview)]) == EXIT_CODES["ok"]
    err = capsys.readouterr().err
    assert err.rstrip().endswith(f"rfr-inpaint: wrote {out}\nrfr-inpaint: wrote {preview}")
    picture = _panels(preview)
    third = picture.shape[1] // 3
    before, after = picture[:, :third].astype(int), picture[:, third : 2 * third].astype(int)
    red = (before[..., 0] > 200) & (before[..., 1] < 80) & (before[..., 2] < 80)
    assert red.sum() > 20 and not ((after[..., 0] > 200) & (after[..., 1] < 80)).any()  # the hole outlined before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["before_after.png", "out.nii.gz"]  # no temporary left
    # nothing is overwritten without --overwrite, and the refusal comes before any work
    out.unlink()
    assert main([*argv, "--preview", str(preview), "--quiet"]) == EXIT_CODES["output"]
    assert "before_after.png: preview exists; use --overwrite" in capsys.readouterr().err and not out.exists()
    assert main([*argv, "--preview", str(tmp_path / "p.jpg"), "--quiet"]) == EXIT_CODES["usage"]
    assert not out.exists()
    png = tmp_path / "slice.png"  # a 2D image: the preview may be neither the input nor the output
    Image.fromarray(np.clip((volume[4] + 1024) / 16, 0, 255).astype(np.uint8)).save(png)
    png_argv = ["--image", str(png), "--metal-threshold", "250", "--method", "biharmonic", "--quiet"]
    assert main([*png_argv, "--output", str(tmp_path / "o.png"), "--preview", str(png)]) == EXIT_CODES["output"]
    same = ["--output", str(preview), "--preview", str(preview), "--overwrite"]
    assert main([*png_argv, *same]) == EXIT_CODES["output"]
    assert "--preview must not be the input or the output" in capsys.readouterr().err
    assert main([*argv, "--preview", str(preview), "--overwrite", "--quiet"]) == EXIT_CODES["ok"]


def test_write_preview_picks_the_slice_with_most_hole_and_checks_its_inputs(tmp_path):
    rng = np.random.default_rng(0)
    before = rng.normal(40.0, 30.0, (5, 32, 40))  # soft tissue in HU, with air around: shown as CT
    before[:, :, :4] = -1000.0
    hole = np.zeros(before.shape, bool)
    hole[1, 10:14, 10:14] = True
    hole[3, 8:20, 8:20] = True
    after = np.where(hole, 60.0, before)
    assert most_affected_slice(hole) == 3 and most_affected_slice(hole[3]) == 0
    assert most_affected_slice(hole, axis=2) == int(np.argmax(hole.sum(axis=(0, 1))))
    assert write_preview(tmp_path / "p.png", before, after, hole) == 3
    _panels(tmp_path / "p.png")
    assert write_preview(tmp_path / "p2.png", before[3], after[3], hole[3]) == 0  # a 2D image is its own slice
    with pytest.raises(FileExistsError):
        write_preview(tmp_path / "p.png", before, after, hole)
    with pytest.raises(ValueError, match="name it"):
        write_preview(tmp_path / "p.tif", before, after, hole)
    with pytest.raises(ValueError, match="one shape"):
        write_preview(tmp_path / "p3.png", before, after[1:], hole)

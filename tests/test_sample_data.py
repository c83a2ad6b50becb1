"""The shipped sample CT volume with metal (``monai_bundle/sample_data/``): what it holds, that its metal is exactly
what the script inserts, and the README's first command on it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from _bundle_helpers import BUNDLE_DIR
from rfr_inpaint.cli import EXIT_CODES, main
from rfr_inpaint.image_io import read_image

SAMPLE_DIR = BUNDLE_DIR / "sample_data"


def _script():
    spec = importlib.util.spec_from_file_location("make_sample_data", BUNDLE_DIR / "scripts" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sample_volume_is_a_real_ct_with_exactly_the_inserted_metal():
    script = _script()
    volume, mask, truth = script.sample_volume_truth(SAMPLE_DIR)
    image = sitk.ReadImage(str(SAMPLE_DIR / script.VOLUME_FILES[0]))
    assert image.GetPixelID() == sitk.sitkInt16 and volume.shape == (16, 256, 256)
    assert image.GetSpacing() == pytest.approx((0.703125, 0.703125, 2.5))
    assert sum((SAMPLE_DIR / name).stat().st_size for name in script.VOLUME_FILES) < 1.5e6
    # the metal is the only thing at or above the README's threshold, and it hides ordinary tissue
    np.testing.assert_array_equal(volume >= 2500, mask)
    assert (volume[mask] == 3071).all() and truth[mask].max() < 2000 and truth.min() == -1024
    np.testing.assert_array_equal(truth[~mask], volume[~mask])
    slices = np.flatnonzero(mask.any(axis=(1, 2)))
    assert len(slices) >= 3 and np.array_equal(slices, np.arange(slices[0], slices[-1] + 1))
    # the script's drawing, replayed on the metal-free truth, gives the shipped mask (no download needed)
    spacing = tuple(float(s) for s in reversed(image.GetSpacing()))
    np.testing.assert_array_equal(script.insert_sample_metal(truth, spacing), mask)
    mask_image = sitk.ReadImage(str(SAMPLE_DIR / script.VOLUME_FILES[1]))
    assert mask_image.GetOrigin() == image.GetOrigin() and mask_image.GetDirection() == image.GetDirection()


def test_readme_first_command_on_the_sample_volume(tmp_path, monkeypatch):
    """The README's first command (RFR-Net with the shipped model) on the sample; the shipped model stands in as
    the tiny untrained guided network of a temporary bundle, so this runs without the real model."""
    from rfr_inpaint import locations
    from test_shipped_model import _bundle

    bundle = _bundle(tmp_path / "bundle")
    monkeypatch.setattr(locations, "package_bundle_dir", lambda: bundle)
    monkeypatch.chdir(tmp_path)
    _, mask, truth = _script().sample_volume_truth(SAMPLE_DIR)
    argv = ["--image", str(SAMPLE_DIR / "ct_volume_metal.nii.gz"), "--metal-threshold", "2500", "--method", "rfr"]
    argv += ["--output", "ct_inpainted.nii.gz", "--preview", "before_after.png", "--quiet"]
    assert main(argv) == EXIT_CODES["ok"]
    out = read_image(tmp_path / "ct_inpainted.nii.gz").array
    error = np.abs(out[mask].astype(float) - truth[mask])
    assert error.mean() < 250 and out[mask].max() < 2000  # the metal (about 3000 HU above the truth) is gone
    assert (tmp_path / "before_after.png").stat().st_size > 10_000

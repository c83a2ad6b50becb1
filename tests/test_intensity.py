"""Invertible intensity mappings: HU round trips, percentile windows, MONOCHROME1 inversion, records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rfr_inpaint.transforms.intensity import (
    CTWindow,
    CTWindowd,
    InvertMonochrome1,
    InvertMonochrome1d,
    PercentileScale,
    PercentileScaled,
    get_intensity_transform,
    intensity_forward,
    intensity_inverse,
    is_monochrome1,
    mapping_from_window,
    mapping_key,
)


def test_ct_window_maps_hu_to_unit_range_and_clips():
    hu = np.array([-2000, -1024, 0, 1000, 3071, 4000], dtype=np.int16)
    out = CTWindow()(hu)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.0, 1024 / 4095, 2024 / 4095, 1.0, 1.0], rtol=1e-6)


def test_ct_window_int16_round_trip_is_exact():
    rng = np.random.default_rng(0)
    hu = rng.integers(-1024, 3072, size=(4, 33, 47)).astype(np.int16)
    window = CTWindow()
    img01 = window(hu)
    back = window.inverse(img01)
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, hu)
    # through the JSON-serialised record, as inference reads it back from a file
    record = json.loads(json.dumps(window.get_mapping()))
    np.testing.assert_array_equal(intensity_inverse(img01, record), hu)


def test_ct_window_torch_round_trip_and_float_tolerance():
    rng = np.random.default_rng(1)
    hu = torch.from_numpy(rng.uniform(-1000, 3000, size=(2, 16, 16)).astype(np.float32))
    window = CTWindow(a_min=-1024, a_max=3071)
    img01 = window(hu)
    assert isinstance(img01, torch.Tensor) and img01.dtype == torch.float32
    back = window.inverse(img01)
    assert back.dtype == torch.float32
    assert torch.allclose(back, hu, atol=0.01)


def test_inverse_integer_dtype_rounds_and_clips_safely():
    record = mapping_from_window(0.0, 1000.0, clip=False)
    img01 = np.array([-0.5, 0.00049, 0.0006, 0.5, 70.0])  # way outside [0, 1] when clip is off
    out = intensity_inverse(img01, record, dtype=np.uint8)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [0, 0, 1, 255, 255])
    out16 = intensity_inverse(img01, record, dtype="int16")
    np.testing.assert_array_equal(out16, [-500, 0, 1, 500, 32767])
    # with clip (default) a network's overshoot is clipped to the window
    out_clip = intensity_inverse(np.array([-0.1, 1.2]), CTWindow().get_mapping(), dtype=np.int16)
    np.testing.assert_array_equal(out_clip, [-1024, 3071])


@settings(max_examples=40, deadline=None)
@given(
    a_min=st.integers(-3000, 1000),
    width=st.integers(1, 6000),
    seed=st.integers(0, 2**16),
)
def test_window_round_trip_property(a_min, width, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(a_min, a_min + width + 1, size=64).astype(np.int32)
    window = CTWindow(a_min=a_min, a_max=a_min + width)
    img01 = window(values)
    assert img01.min() >= 0.0 and img01.max() <= 1.0
    np.testing.assert_array_equal(window.inverse(img01), values)


def test_percentile_scale_records_window_and_inverts():
    rng = np.random.default_rng(2)
    raw = rng.normal(2000, 300, size=(64, 64)).clip(0, 4095).astype(np.uint16)
    scale = PercentileScale(lower=0.5, upper=99.5)
    img01 = scale(raw)
    record = scale.get_mapping()
    assert record["method"] == "percentile" and record["dtype"] == "uint16"
    assert record["a_min"] == pytest.approx(np.percentile(raw, 0.5))
    assert record["a_max"] == pytest.approx(np.percentile(raw, 99.5))
    assert img01.min() == 0.0 and img01.max() == 1.0
    inside = (raw >= record["a_min"]) & (raw <= record["a_max"])
    back = scale.inverse(img01)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back[inside], raw[inside])
    assert 0.005 < np.mean(~inside) < 0.02  # about 1 % of the pixels are clipped


def test_percentile_scale_constant_image_and_bad_input():
    out = PercentileScale()(np.full((8, 8), 7.0, dtype=np.float32))
    np.testing.assert_array_equal(out, 0.0)
    with pytest.raises(ValueError, match="NaN"):
        PercentileScale()(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="lower"):
        PercentileScale(lower=50, upper=10)
    with pytest.raises(ValueError, match="a_min < a_max"):
        CTWindow(a_min=10, a_max=10)
    with pytest.raises(RuntimeError, match="no mapping"):
        PercentileScale().get_mapping()


def test_monochrome1_inversion_recorded_and_undone():
    raw = np.arange(0, 4096, 16, dtype=np.uint16).reshape(16, 16)
    d = PercentileScaled(keys="image", lower=0, upper=100)({"image": raw})
    d["photometric"] = "MONOCHROME1 "
    out = InvertMonochrome1d(keys="image", photometric_key="photometric")(d)
    record = out[mapping_key("image")]
    assert record["invert"] is True
    # the brightest raw value is now the darkest
    assert out["image"][0, 0] == pytest.approx(1.0) and out["image"][-1, -1] == pytest.approx(0.0)
    np.testing.assert_array_equal(intensity_inverse(out["image"], record), raw)
    # MONOCHROME2 is left alone
    d2 = dict(d, photometric="MONOCHROME2")
    same = InvertMonochrome1d(keys="image", photometric_key="photometric")(d2)
    np.testing.assert_array_equal(same["image"], d["image"])
    assert same[mapping_key("image")]["invert"] is False


def test_invert_monochrome1_array_and_metadata_lookup():
    img = np.array([[0.0, 0.25, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(InvertMonochrome1()(img), [[1.0, 0.75, 0.0]])
    np.testing.assert_allclose(InvertMonochrome1(photometric=None)(img), img)
    np.testing.assert_allclose(InvertMonochrome1(photometric=None)(img, photometric=[b"MONOCHROME1"]), 1 - img)
    assert is_monochrome1({"vr": "CS", "Value": ["MONOCHROME1"]})
    assert not is_monochrome1("MONOCHROME2")
    from monai.data import MetaTensor

    meta_img = MetaTensor(torch.tensor([[0.0, 1.0]]), meta={"0028|0004": "MONOCHROME1"})
    out = InvertMonochrome1d(keys="image")({"image": meta_img})
    assert torch.allclose(out["image"].as_tensor(), torch.tensor([[1.0, 0.0]]))


def test_dictionary_ct_window_stores_record_per_key():
    hu = np.array([[-1024, 0], [1000, 3071]], dtype=np.int16)
    d = CTWindowd(keys=["image", "other"], allow_missing_keys=True)({"image": hu})
    assert set(d) == {"image", "image_intensity_mapping"}
    np.testing.assert_array_equal(intensity_inverse(d["image"], d["image_intensity_mapping"]), hu)
    with pytest.raises(KeyError):
        CTWindowd(keys=["image", "other"])({"image": hu})


def test_chained_records_and_factory():
    x = np.linspace(-500, 500, 11)
    first = mapping_from_window(-500, 500)
    second = mapping_from_window(0.0, 0.5, clip=False)  # a second stretch applied to the [0, 1] image
    y = intensity_forward(intensity_forward(x, first), second)
    np.testing.assert_allclose(intensity_inverse(y, [first, second], dtype=np.float64), x, atol=1e-3)
    assert isinstance(get_intensity_transform("ct", a_min=-1000, a_max=1000), CTWindow)
    assert isinstance(get_intensity_transform("percentile", lower=1, upper=99), PercentileScale)
    with pytest.raises(ValueError, match="unknown intensity mode"):
        get_intensity_transform("gamma")
    with pytest.raises(KeyError, match="a_max"):
        intensity_inverse(x, {"a_min": 0})
    with pytest.raises(TypeError, match="boolean"):
        intensity_inverse(x, first, dtype=bool)

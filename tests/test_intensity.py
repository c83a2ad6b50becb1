"""Invertible intensity mappings: HU round trips, percentile windows, MONOCHROME1 inversion, records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rfr_inpaint.transforms.dictionary import (
    CTWindowd,
    IntensityInversed,
    IntensityMapd,
    InvertMonochrome1d,
    PercentileScaled,
)
from rfr_inpaint.transforms.intensity import (
    AutoIntensity,
    CTWindow,
    DtypeRange,
    InvertMonochrome1,
    PercentileScale,
    fit_intensity,
    get_intensity_transform,
    intensity_for_model,
    intensity_forward,
    intensity_inverse,
    is_monochrome1,
    mapping_from_window,
    mapping_key,
    resolve_intensity,
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
    window = get_intensity_transform("ct", window=(-1000, 1000))
    assert isinstance(window, CTWindow) and (window.a_min, window.a_max) == (-1000.0, 1000.0)
    scale = get_intensity_transform("PERCENTILE", percentiles=(1, 99))
    assert isinstance(scale, PercentileScale) and (scale.lower, scale.upper) == (1.0, 99.0)
    for name in ("gamma", "hu", "window", "xray"):  # one name per mode, no synonyms
        with pytest.raises(ValueError, match="unknown intensity mode .*auto, ct, percentile, range"):
            get_intensity_transform(name)
    with pytest.raises(KeyError, match="a_max"):
        intensity_inverse(x, {"a_min": 0})
    with pytest.raises(TypeError, match="boolean"):
        intensity_inverse(x, first, dtype=bool)


def test_dtype_range_and_auto_choose_from_the_image():
    u8 = np.array([[0, 10], [200, 255]], dtype=np.uint8)
    record = DtypeRange().fit(u8)
    assert (record["method"], record["a_min"], record["a_max"]) == ("dtype_range", 0.0, 255.0)
    np.testing.assert_array_equal(intensity_inverse(DtypeRange()(u8), record), u8)  # lossless
    floats = np.array([2.0, 6.0], dtype=np.float32)
    assert (DtypeRange().fit(floats)["a_min"], DtypeRange().fit(floats)["a_max"]) == (2.0, 6.0)
    auto = AutoIntensity(window=(-1000, 2000))
    hu = np.array([-1000, 40, 900], dtype=np.int16)
    assert auto.fit(hu) == CTWindow(-1000, 2000).fit(hu)  # air in HU: a CT window
    assert auto.fit(u8)["method"] == "dtype_range"
    mr = np.arange(0, 1000, dtype=np.uint16)
    assert auto.fit(mr) == PercentileScale().fit(mr)  # 16-bit, no air: percentiles
    assert isinstance(get_intensity_transform("auto"), AutoIntensity)
    assert isinstance(get_intensity_transform("range"), DtypeRange)


def test_fit_intensity_sees_only_the_known_voxels_of_the_slices_with_hole():
    volume = np.zeros((3, 4, 4), np.int16)
    volume[0] = 900  # a slice without hole: left out
    volume[1] = np.arange(16).reshape(4, 4)
    volume[1, 0, 0] = 3000  # the metal: in the hole, left out
    hole = np.zeros(volume.shape, bool)
    hole[1, 0, 0] = True
    record = fit_intensity(PercentileScale(0, 100), volume, hole, axis=0)
    assert (record["a_min"], record["a_max"]) == (1.0, 15.0)
    record = fit_intensity(PercentileScale(0, 100), volume, hole, axis=1)  # slices along y: row 0 of each z
    assert (record["a_min"], record["a_max"]) == (0.0, 900.0)
    assert fit_intensity(PercentileScale(0, 100), volume)["a_max"] == 3000.0  # no hole: every voxel
    assert fit_intensity(record, volume, hole) == record  # a record is used as given
    with pytest.raises(ValueError, match="does not match"):
        fit_intensity(PercentileScale(), volume, hole[0])


def test_dictionary_mapping_fits_outside_the_hole_and_inverts_back():
    image = np.arange(64, dtype=np.int16).reshape(1, 8, 8) * 10
    hole = np.zeros((1, 8, 8), np.float32)
    hole[0, 6:, 6:] = 1
    image[0, 6:, 6:] = 4000
    d = IntensityMapd("image", "percentile", percentiles=(0, 100))({"image": image, "hole": hole})
    record = d["image_intensity_mapping"]
    assert (record["a_min"], record["a_max"]) == (0.0, 610.0)  # the hole's 4000 is not in the fit
    d["pred"] = d["image"]
    out = IntensityInversed("pred", mapping_key="image_intensity_mapping")(d)
    assert out["pred"].dtype == np.int16
    known = hole == 0
    np.testing.assert_array_equal(out["pred"][known], image[known])
    with pytest.raises(KeyError, match="no intensity mapping record"):
        IntensityInversed("pred")({"pred": d["image"]})


def test_a_bundle_records_its_mapping_in_its_configs(tmp_path):
    bundle = tmp_path / "bundle"
    (bundle / "configs").mkdir(parents=True)
    assert intensity_for_model(bundle) is None  # nothing recorded
    (bundle / "configs" / "train.json").write_text(json.dumps({"intensity_mode": "percentile", "percentiles": [1, 99]}))
    scale = intensity_for_model(bundle)
    assert isinstance(scale, PercentileScale) and (scale.lower, scale.upper) == (1.0, 99.0)
    assert isinstance(resolve_intensity("auto", model_path=bundle), PercentileScale)
    assert isinstance(resolve_intensity("range", model_path=bundle), DtypeRange)  # an explicit mode wins
    assert isinstance(resolve_intensity("auto"), AutoIntensity)  # no model
    (bundle / "configs" / "inference.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"inference\.json: not a readable JSON"):
        intensity_for_model(bundle)
    (bundle / "configs" / "inference.json").write_text(json.dumps({"intensity_mode": "gamma"}))
    with pytest.raises(ValueError, match=r"inference\.json: unknown intensity mode 'gamma'"):
        intensity_for_model(bundle)
    with pytest.raises(ValueError, match="unknown intensity mode"):
        resolve_intensity("hu", model_path=bundle)

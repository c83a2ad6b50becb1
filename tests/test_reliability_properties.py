"""Property-based (hypothesis) checks of the guarantees over many random shapes, masks and seeds: the hole-mask
generators (shape, binary, within bounds, determinism), the network's pad / crop path (round trip for any
``H, W >= 1``), compositing (known pixels bit-identical for any mask) and the memory limit (refused before
allocation, with size and limit in the message)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _reliability_helpers import ForbiddenNetwork, same_bits, tiny_network
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from rfr_inpaint.inference import RFRInpainter, estimate_forward_bytes, plan_rois
from rfr_inpaint.inpainters import get_inpainter
from rfr_inpaint.networks import crop_padding, pad_to_multiple
from rfr_inpaint.transforms.dictionary import RandHoleMaskd
from rfr_inpaint.transforms.masks import HoleMaskGenerator, RandMetalLikeRegions, RandSquareHoles
from rfr_inpaint.volume import dilate_mm, inpaint_volume

_NET: list[torch.nn.Module] = []


def _shared_net() -> torch.nn.Module:
    """One tiny RFR-Net for every example (building one costs more than running it)."""
    if not _NET:
        _NET.append(tiny_network())
    return _NET[0]


FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KINDS = {
    "square": lambda c: {"hole_ratio": (4, 10), "count": c},
    "strips": lambda c: {"width": (1, 5), "count": c, "orientation": "mixed"},
    "free_form": lambda c: {"max_length": 15, "max_brush_width": 5, "min_brush_width": 1, "strokes": c},
}


def _draw(generator, img, seed: int) -> np.ndarray:
    generator.set_random_state(seed)
    out = generator(img)
    return np.asarray(out.numpy() if isinstance(out, torch.Tensor) else out)


# ------------------------------------------------------------------------------------------------- mask generators
@FAST
@given(
    h=st.integers(16, 80),  # free-form strokes 5 px wide can cover all of an 8 x 8 image
    w=st.integers(16, 80),
    kind=st.sampled_from(sorted(KINDS)),
    count=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 2),
    as_tensor=st.booleans(),
)
def test_mask_generators_are_binary_in_bounds_and_deterministic(h, w, kind, count, seed, as_tensor):
    img = np.zeros((1, h, w), np.float32)
    img = torch.from_numpy(img) if as_tensor else img
    gen = HoleMaskGenerator(kind, **KINDS[kind](count))
    mask = _draw(gen, img, seed)
    assert mask.shape == (1, h, w) and mask.dtype == np.float32
    assert np.isin(mask, (0.0, 1.0)).all()
    assert 0 < mask.sum() < h * w  # a hole, and known pixels left to inpaint from
    again = _draw(HoleMaskGenerator(kind, **KINDS[kind](count)), img, seed)
    assert same_bits(mask, again)  # same seed, same mask
    assert same_bits(np.asarray(gen(img, randomize=False)), mask)  # the kept mask is returned again
    item = RandHoleMaskd(keys="image", kind=kind, **KINDS[kind](count)).set_random_state(seed)({"image": img})
    assert np.asarray(item["hole"]).shape == (1, h, w) and item["image"] is img  # the image itself is untouched


@FAST
@given(
    h=st.integers(4, 64),
    w=st.integers(4, 64),
    size=st.integers(1, 8),
    count=st.integers(1, 5),
    seed=st.integers(0, 10**6),
)
def test_square_holes_lie_inside_the_image(h, w, size, count, seed):
    if size > min(h, w):
        with pytest.raises(ValueError, match="does not fit"):
            _draw(RandSquareHoles(size=size, count=count), np.zeros((1, h, w)), seed)
        return
    mask = _draw(RandSquareHoles(size=size, count=count), np.zeros((1, h, w)), seed)[0].astype(bool)
    rows = np.nonzero(mask)[0]
    assert rows.size >= size * size and rows.size <= count * size * size
    # every hole pixel belongs to a full size x size square inside the image
    from scipy import ndimage

    opened = ndimage.binary_opening(mask, structure=np.ones((size, size), bool), border_value=0)
    assert (opened == mask).all()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), count=st.integers(1, 3))
def test_metal_regions_stay_inside_the_body(seed, count):
    img = np.full((1, 40, 40), -1000.0, np.float32)
    yy, xx = np.mgrid[:40, :40]
    body = ((yy - 20) / 16.0) ** 2 + ((xx - 20) / 12.0) ** 2 <= 1
    img[0][body] = 50.0
    mask = _draw(RandMetalLikeRegions(count=count, radius=(1, 3), body_threshold=-500), img, seed)[0].astype(bool)
    assert mask.any() and not (mask & ~body).any()
    assert same_bits(
        mask, _draw(RandMetalLikeRegions(count=count, radius=(1, 3), body_threshold=-500), img, seed)[0].astype(bool)
    )


# ------------------------------------------------------------------------------------------------------ pad / crop
@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 70),
    w=st.integers(1, 70),
    multiple=st.sampled_from([1, 2, 8, 16, 32]),
    channels=st.integers(1, 3),
)
def test_pad_then_crop_is_the_identity_for_any_size(h, w, multiple, channels):
    x = torch.randn(2, channels, h, w)
    padded, pad = pad_to_multiple(x, multiple)
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert padded.shape[-2] - h < multiple and padded.shape[-1] - w < multiple
    assert all(p >= 0 for p in pad)
    assert torch.equal(crop_padding(padded, pad), x)
    assert torch.equal(padded[..., pad[2] : pad[2] + h, pad[0] : pad[0] + w], x)  # the image sits in the middle


@settings(max_examples=8, deadline=None)
@given(h=st.integers(2, 40), w=st.integers(2, 40), seed=st.integers(0, 1000))
def test_network_output_has_the_input_size_for_any_size(h, w, seed):
    net = _shared_net()
    rng = np.random.default_rng(seed)
    image = torch.from_numpy(rng.random((1, 1, h, w), dtype=np.float32))
    hole = torch.zeros(1, 1, h, w)
    hole[0, 0, h // 3 : h // 3 + max(1, h // 3), w // 3 : w // 3 + max(1, w // 3)] = 1
    with torch.no_grad():
        out = net(image, hole)
    assert out.shape == image.shape and torch.isfinite(out).all()


# ------------------------------------------------------------------------------------------------- compositing
@settings(max_examples=8, deadline=None)
@given(
    holes=arrays(bool, (2, 24, 20), elements=st.booleans()),
    mode=st.sampled_from(["roi", "full"]),
)
def test_rfr_inpainter_never_changes_a_known_pixel(holes, mode):
    images = np.random.default_rng(0).random(holes.shape, dtype=np.float32)
    out = RFRInpainter(_shared_net(), device="cpu", mode=mode, fuse=False)(images, holes)
    assert same_bits(out[~holes], images[~holes])
    assert ((out >= 0) & (out <= 1)).all()


@settings(max_examples=40, deadline=None)
@given(
    hole=arrays(bool, st.tuples(st.integers(2, 30), st.integers(2, 30)), elements=st.booleans()),
    context=st.integers(0, 20),
)
def test_roi_plan_writes_every_hole_pixel_exactly_once(hole, context):
    covered = np.zeros(hole.shape, np.int32)
    for roi in plan_rois(hole, context=context):
        assert (
            0 <= roi.y0 and roi.y0 + roi.height <= hole.shape[0] and 0 <= roi.x0 and roi.x0 + roi.width <= hole.shape[1]
        )
        assert not (roi.own & ~hole[roi.window]).any()  # a crop writes hole pixels only
        covered[roi.window] += roi.own
    assert (covered == hole).all()


@settings(max_examples=30, deadline=None)
@given(
    dtype=st.sampled_from([np.int16, np.uint16, np.float32, np.uint8, np.int32, np.float64]),
    hole=arrays(bool, (3, 12, 10), elements=st.booleans()),
    margin=st.sampled_from([0.0, 1.0, 2.5]),
    axis=st.integers(0, 2),
    seed=st.integers(0, 1000),
)
def test_inpaint_volume_keeps_every_voxel_outside_the_dilated_hole(dtype, hole, margin, axis, seed):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    rng = np.random.default_rng(seed)
    low, high = (max(info.min, -2000), min(info.max, 4000)) if info else (-2000.0, 4000.0)
    volume = rng.uniform(low, high, hole.shape).astype(dtype)
    spacing = (2.0, 0.8, 0.9)
    used = dilate_mm(hole, margin, spacing)
    if not hole.any():
        result, _ = inpaint_volume(
            volume, hole, lambda *a: pytest.fail("inpainter called"), axis=axis, margin_mm=margin
        )
        assert same_bits(result, volume)
        return
    if used.all():
        with pytest.raises(ValueError, match="covers the whole image"):
            inpaint_volume(volume, hole, get_inpainter("mean"), axis=axis, spacing=spacing, margin_mm=margin)
        return
    result, got = inpaint_volume(volume, hole, get_inpainter("mean"), axis=axis, spacing=spacing, margin_mm=margin)
    assert np.array_equal(got, used) and result.dtype == volume.dtype
    assert same_bits(result[~used], volume[~used])


# -------------------------------------------------------------------------------------------------------- limits
@settings(max_examples=10, deadline=None)
@given(h=st.integers(64, 4096), w=st.integers(64, 4096))
def test_an_input_over_the_memory_limit_is_refused_before_running(h, w):
    need = estimate_forward_bytes(h, w)
    limit_gib = need / 2**30 * 0.9  # just under what one forward needs
    inpainter = RFRInpainter(ForbiddenNetwork(), device="cpu", memory_limit_gib=limit_gib, mode="full")
    holes = np.zeros((1, h, w), bool)
    holes[0, h // 2, w // 2] = True
    images = np.zeros((1, h, w), np.float32)
    with pytest.raises(
        MemoryError, match=rf"{h} x {w} image needs about [\d.]+ GiB, more than the limit of [\d.]+ GiB"
    ):
        inpainter(images, holes)  # ForbiddenNetwork proves nothing ran (nothing was allocated for the forward)


def test_a_batch_is_split_to_fit_the_memory_limit():
    calls: list[int] = []

    class Counting(torch.nn.Module):
        def forward(self, image, hole):
            calls.append(image.shape[0])
            return image

    one = estimate_forward_bytes(64, 64, 1)
    per_image = one - estimate_forward_bytes(64, 64, 0)
    inpainter = RFRInpainter(
        Counting(), device="cpu", batch_size=16, mode="full", memory_limit_gib=(one + 2.5 * per_image) / 2**30
    )
    holes = np.zeros((10, 64, 64), bool)
    holes[:, 30:34, 30:34] = True
    inpainter(np.zeros((10, 64, 64), np.float32), holes)
    assert max(calls) == 3 and sum(calls) == 10  # batches of at most 3 instead of 16


def test_the_command_line_refuses_an_image_over_the_memory_limit(tmp_path, monkeypatch):
    """A slice too large for the memory left is a one-line error (exit 7) with the size and the limit."""
    import rfr_inpaint.inference
    from _reliability_helpers import last_error_line, run_cli, save_tiny_checkpoint, write_sitk

    monkeypatch.setattr(rfr_inpaint.inference, "_available_memory_bytes", lambda device: 100 * 2**20)
    image = write_sitk(np.zeros((256, 256), np.int16), tmp_path / "big.nrrd")
    hole = np.zeros((256, 256), np.uint8)
    hole[20:236, 20:236] = 1  # most of the slice: it runs whole
    mask = write_sitk(hole, tmp_path / "big_mask.nrrd")
    model = save_tiny_checkpoint(tmp_path / "model.pt")
    args = ["--image", image, "--mask", mask, "--output", tmp_path / "o.nrrd", "--model", model, "--device", "cpu"]
    code, err = run_cli(args)
    message = last_error_line(err)
    assert code == 7 and str(image) in message, err
    assert "256 x 256 image needs about" in message and "more than the limit of 0.08 GiB" in message
    assert not (tmp_path / "o.nrrd").exists()

"""RFRInpainter: ROI planning, ROI vs full-slice, compositing, batching across slices, memory limit, options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from rfr_inpaint.inference import (
    DEFAULT_CONTEXT,
    RFRInpainter,
    bucket_size,
    estimate_forward_bytes,
    plan_rois,
)
from rfr_inpaint.networks import RFRNet, composite


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    network = RFRNet(in_channels=1, num_recurrences=2).eval()
    # Non-trivial BatchNorm statistics, so that folding them is really exercised.
    g = torch.Generator().manual_seed(1)
    for m in network.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return network


def _stack(n=3, size=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    images = np.stack([0.5 + 0.3 * np.sin(6 * xx + k) * np.cos(4 * yy) for k in range(n)]).astype(np.float32)
    images += rng.normal(0, 0.02, images.shape).astype(np.float32)
    return np.clip(images, 0, 1), np.zeros((n, size, size), bool)


class _CountingForward:
    """Records the batch shapes the network is called with."""

    def __init__(self, inpainter):
        self.shapes = []
        inpainter.network.register_forward_hook(lambda m, args, out: self.shapes.append(tuple(args[0].shape)))


def test_bucket_sizes():
    assert [bucket_size(n, 1000) for n in (1, 16, 17, 128, 129, 150, 256, 257, 300)] == [
        16, 16, 32, 128, 160, 160, 256, 320, 320
    ]
    assert bucket_size(300, 200) == 200  # never more than the image


def test_plan_rois_context_merging_and_buckets():
    hole = np.zeros((200, 240), bool)
    hole[50:54, 50:56] = True  # two components 10 px apart: merged
    hole[50:54, 66:70] = True
    hole[150:160, 200:205] = True  # far away: its own crop
    rois = plan_rois(hole, context=16, full_fraction=1.0)
    assert len(rois) == 2
    for roi in rois:
        assert roi.height % 16 == 0 and roi.width % 16 == 0
        assert 0 <= roi.y0 and roi.y0 + roi.height <= 200 and 0 <= roi.x0 and roi.x0 + roi.width <= 240
    first = next(r for r in rois if r.y0 < 100)
    # the merged box grown by the context lies inside the crop
    assert first.y0 <= 50 - 16 and first.y0 + first.height >= 54 + 16
    assert first.x0 <= 50 - 16 and first.x0 + first.width >= 70 + 16
    assert first.own.sum() == 4 * 6 + 4 * 4


def test_plan_rois_separate_crops_write_only_their_own_component():
    hole = np.zeros((128, 128), bool)
    hole[20:24, 20:24] = True
    hole[20:24, 60:64] = True  # grown boxes (context 8) do not touch: two crops, which overlap after bucketing
    rois = plan_rois(hole, context=8, full_fraction=1.0)
    assert len(rois) == 2
    for roi in rois:
        assert roi.own.sum() == 16
        crop_hole = hole[roi.window]
        assert crop_hole.sum() >= roi.own.sum()


def test_plan_rois_many_components_are_pre_grouped_to_the_same_plan(monkeypatch):
    hole = np.zeros((800, 800), bool)
    hole[5::40, 5::40] = True  # 400 isolated pixels: more than the pre-grouping threshold
    hole[200:203, 206:209] = True  # 1 px from a grid pixel: merged with it
    rois = plan_rois(hole, context=8, full_fraction=1.0)
    assert len(rois) == 400
    covered = np.zeros(hole.shape, np.int32)
    for roi in rois:
        covered[roi.window][roi.own] += 1
    np.testing.assert_array_equal(covered, hole.astype(np.int32))
    monkeypatch.setattr("rfr_inpaint.inference._MANY_COMPONENTS", 10**9)  # the pairwise path alone
    pairwise = plan_rois(hole, context=8, full_fraction=1.0)
    assert sorted((r.y0, r.x0, r.height, r.width) for r in pairwise) == sorted(
        (r.y0, r.x0, r.height, r.width) for r in rois
    )


def test_plan_rois_large_cover_runs_whole_slice_and_empty_plans_nothing():
    hole = np.zeros((64, 64), bool)
    assert plan_rois(hole) == []
    hole[20:40, 20:40] = True
    (roi,) = plan_rois(hole, context=DEFAULT_CONTEXT)
    assert (roi.y0, roi.x0, roi.height, roi.width) == (0, 0, 64, 64)
    np.testing.assert_array_equal(roi.own, hole)


def test_plan_rois_rejects_bad_input():
    with pytest.raises(ValueError, match="context"):
        plan_rois(np.zeros((8, 8), bool), context=-1)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        plan_rois(np.zeros((2, 8, 8), bool))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shape=st.tuples(st.integers(1, 90), st.integers(1, 90)),
    density=st.floats(0.0, 0.05),
    context=st.integers(0, 40),
)
def test_plan_rois_partitions_the_hole(seed, shape, density, context):
    rng = np.random.default_rng(seed)
    hole = rng.random(shape) < density
    hole = ndimage.binary_dilation(hole, iterations=int(rng.integers(0, 3))) if hole.any() else hole
    rois = plan_rois(hole, context=context, full_fraction=float(rng.uniform(0.1, 1.0)))
    covered = np.zeros(shape, np.int32)
    for roi in rois:
        assert roi.own.shape == (roi.height, roi.width)
        assert 0 <= roi.y0 and roi.y0 + roi.height <= shape[0] and 0 <= roi.x0 and roi.x0 + roi.width <= shape[1]
        assert roi.height % 16 == 0 or roi.height == shape[0]
        assert roi.width % 16 == 0 or roi.width == shape[1]
        window = covered[roi.window]
        window[roi.own] += 1
        assert not (roi.own & ~hole[roi.window]).any()
    np.testing.assert_array_equal(covered, hole.astype(np.int32))  # every hole pixel written exactly once


def test_roi_equals_full_when_the_crop_covers_the_image(net):
    images, holes = _stack(2, 64)
    holes[0, 20:28, 30:36] = True
    holes[1, 40:44, 10:20] = True
    full = RFRInpainter(net, device="cpu", mode="full")(images, holes)
    roi = RFRInpainter(net, device="cpu", mode="roi", context=64)(images, holes)
    np.testing.assert_array_equal(roi, full)


def test_roi_result_is_the_crop_forward_pasted_on_the_hole(net):
    images, holes = _stack(1, 96)
    holes[0, 40:46, 40:47] = True
    inpainter = RFRInpainter(net, device="cpu", mode="roi", context=8, fuse=False, channels_last=False)
    (roi,) = inpainter.plan(holes)
    assert (roi.height, roi.width) == (32, 32)
    out = inpainter(images, holes)
    x = torch.from_numpy(images[0][roi.window])[None, None]
    h = torch.from_numpy(holes[0][roi.window].astype(np.float32))[None, None]
    with torch.no_grad():
        expected = composite(x, net(x, h).clamp(0, 1), h)[0, 0].numpy()
    np.testing.assert_array_equal(out[0][roi.window], expected)
    outside = np.ones_like(holes[0])
    outside[roi.window] = False
    np.testing.assert_array_equal(out[0][outside], images[0][outside])


def test_known_pixels_bit_identical_and_hole_filled(net):
    images, holes = _stack(4, 80)
    holes[0, 10:14, 10:14] = True
    holes[0, 60:70, 50:52] = True
    holes[2, 30:50, 30:50] = True  # slice 1 and 3 have no hole
    for mode in ("roi", "full"):
        out = RFRInpainter(net, device="cpu", mode=mode)(images, holes)
        assert out.dtype == np.float32 and out.shape == images.shape
        np.testing.assert_array_equal(out[~holes], images[~holes])
        assert np.all((out[holes] >= 0) & (out[holes] <= 1))
        assert not np.allclose(out[holes], images[holes])


def test_crops_of_many_slices_share_one_forward(net):
    images, holes = _stack(5, 96)
    for k in range(4):  # same-size holes in four slices: one shape, one batch
        holes[k, 20 + 5 * k : 26 + 5 * k, 30:36] = True
    inpainter = RFRInpainter(net, device="cpu", mode="roi", context=10, batch_size=8)
    calls = _CountingForward(inpainter)
    inpainter(images, holes)
    assert calls.shapes == [(4, 1, 32, 32)]
    calls.shapes.clear()
    inpainter(images, np.zeros_like(holes))
    assert calls.shapes == []  # no hole: no forward


def test_progress_counts_crops(net):
    images, holes = _stack(3, 64)
    holes[0, 5:8, 5:8] = holes[2, 50:54, 50:54] = True
    seen = []
    RFRInpainter(net, device="cpu", context=4, batch_size=1, progress=lambda d, t: seen.append((d, t)))(images, holes)
    assert seen == [(1, 2), (2, 2)]


def test_memory_limit_shrinks_batches_and_refuses_what_cannot_fit(net):
    images, holes = _stack(3, 64)
    holes[:, 20:40, 20:40] = True
    one = estimate_forward_bytes(64, 64, 1)
    per_image = one - estimate_forward_bytes(64, 64, 0)
    limit = (one + 0.5 * per_image) / 2**30  # room for one image, not two
    inpainter = RFRInpainter(net, device="cpu", mode="full", batch_size=8, memory_limit_gib=limit)
    calls = _CountingForward(inpainter)
    out = inpainter(images, holes)
    assert [s[0] for s in calls.shapes] == [1, 1, 1]
    np.testing.assert_array_equal(out[~holes], images[~holes])
    tight = RFRInpainter(net, device="cpu", mode="full", memory_limit_gib=0.5 * one / 2**30)
    with pytest.raises(MemoryError, match=r"64 x 64 image needs about .* GiB, more than the limit of .* GiB"):
        tight(images, holes)


def test_memory_estimate_grows_with_the_attention_floor():
    small, large = estimate_forward_bytes(256, 256), estimate_forward_bytes(1024, 1024)
    assert estimate_forward_bytes(250, 250) == small  # padded to 256
    floor = (128 * 128) ** 2 * 4  # the 1024 x 1024 attention scores
    assert floor < large < 3 * 2**30
    assert estimate_forward_bytes(256, 256, batch=4) < 4 * small


def test_given_network_is_not_modified_and_options_are_checked(net):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    inpainter = RFRInpainter(net, device="cpu", fuse=True)
    assert inpainter.network is not net
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    with pytest.raises(ValueError, match="mode"):
        RFRInpainter(net, device="cpu", mode="tiles")
    with pytest.raises(ValueError, match="context"):
        RFRInpainter(net, device="cpu", context=-2)
    with pytest.raises(ValueError, match="full_fraction"):
        RFRInpainter(net, device="cpu", full_fraction=0)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        inpainter(np.zeros((4, 4), np.float32), np.zeros((4, 4), bool))


def test_checkpoint_path_is_loaded(tmp_path, net):
    path = tmp_path / "model.pt"
    torch.save({"network": net.state_dict()}, path)
    images, holes = _stack(1, 48)
    holes[0, 10:20, 10:20] = True
    from_file = RFRInpainter(path, device="cpu", fuse=False)
    assert isinstance(from_file.network, RFRNet)
    for key, value in net.state_dict().items():
        assert torch.equal(from_file.network.state_dict()[key], value), key
    out = from_file(images, holes)
    np.testing.assert_array_equal(out[~holes], images[~holes])

"""The RFR-Net variants (``width``, ``prior``, ``context_slices``, ``small_hole``): shapes, the prior identity at
initialisation, guide checks, learning past the zero-initialised output layer, checkpoint round trips (float16 and
``weights_only`` included), the authors' keys of the faithful network, TorchScript and BatchNorm folding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from _reference_weights import read_reference_keys
from _variant_helpers import box_hole, perturb, real_ct, single_thread
from rfr_inpaint.baselines import Biharmonic3DInpainter, BiharmonicInpainter
from rfr_inpaint.guides import PRIOR_CONTEXT_SLICES
from rfr_inpaint.inference import RFRInpainter, fuse_for_inference
from rfr_inpaint.networks import RFRNet, convert_reference_state_dict, load_network
from rfr_inpaint.networks.rfrnet import PRIOR_CHANNELS, guide_channels
from rfr_inpaint.safe_io import load_checkpoint
from rfr_inpaint.volume import inpaint_volume

#: (width, prior, context_slices, small_hole): every combination at width 8, and the wider networks on a few
#: (the faithful 64-channel layout among them).
VARIANTS = [(8, p, k, s) for p, k, s in itertools.product((False, True), (0, 1, 2), (False, True))] + [
    (16, True, 2, False),
    (16, False, 1, True),
    (64, True, 1, False),
    (64, False, 0, True),
]
GUIDED = [v for v in VARIANTS if v[1] or v[2]]
PRIOR = [v for v in VARIANTS if v[1] and v[0] < 64]
#: round trips: the faithful 64-channel network's is in test_networks.py (a 120 MB file per form is slow to write)
ROUND_TRIP = [v for v in VARIANTS if v[0] < 64 or v[1]]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with single_thread():
        yield


def _name(v) -> str:
    width, prior, context, small = v
    return f"w{width}-{'prior' if prior else 'noprior'}-ctx{context}{'-small' if small else ''}"


def _net(v, recurrences: int = 1) -> RFRNet:
    width, prior, context, small = v
    return RFRNet(
        in_channels=1, num_recurrences=recurrences, width=width, prior=prior, context_slices=context, small_hole=small
    )


def _inputs(net: RFRNet, n: int = 2, h: int = 37, w: int = 29, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 1, h, w, generator=gen)
    hole = torch.zeros(n, 1, h, w)
    hole[:, :, h // 4 : h // 2 + 3, w // 5 : w // 2 + 4] = 1
    guide = torch.rand(n, net.guide_channels, h, w, generator=gen) if net.guide_channels else None
    return image, hole, guide


@pytest.mark.parametrize("variant", VARIANTS, ids=_name)
def test_forward_shapes_on_odd_sizes(variant):
    width, prior, context, _ = variant
    net = _net(variant).eval()
    expected = 0 if not (prior or context) else PRIOR_CHANNELS * prior + 1 + 4 * context
    assert net.guide_channels == guide_channels(prior, context) == expected
    assert net.head_pconv1.in_channels == 1 + expected
    assert net.tail_pconv.in_channels == 1 + expected + width
    for h, w in ((37, 29), (17, 50)):
        image, hole, guide = _inputs(net, 2, h, w)
        with torch.no_grad():
            out = net(image, hole) if guide is None else net(image, hole, guide)
        assert out.shape == (2, 1, h, w)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("variant", PRIOR, ids=_name)
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_untrained_prior_variant_returns_its_prior_exactly(variant, train):
    net = _net(variant, recurrences=2).train(train)
    image, hole, guide = _inputs(net, 2, 37, 29)
    with torch.no_grad():
        out = net(image, hole, guide)
    assert torch.equal(out, guide[:, :1])  # every pixel, hole and known, bit for bit


@pytest.mark.parametrize(("context", "mode"), [(0, "roi"), (2, "full"), (1, "roi")])
def test_untrained_prior_network_through_inpaint_volume_is_biharmonic3d(context, mode):
    hu, spacing = real_ct()
    volume = hu[:, 60:124, 60:124].copy()
    hole = box_hole(volume.shape, (3, 5, 20, 34, 24, 40), (4, 5, 40, 48, 10, 20))
    net = RFRNet(width=8, num_recurrences=1, prior=True, context_slices=context)
    inpainter = RFRInpainter(net, device="cpu", mode=mode)
    assert inpainter.volumetric and inpainter.context_slices == max(context, PRIOR_CONTEXT_SLICES)
    ours, used = inpaint_volume(volume, hole, inpainter, spacing=spacing, margin_mm=0)
    reference, _ = inpaint_volume(volume, hole, Biharmonic3DInpainter(), spacing=spacing, margin_mm=0)
    assert np.array_equal(used, hole)
    assert np.array_equal(ours[~hole], volume[~hole])  # known voxels bit-identical
    assert not np.array_equal(ours[hole], volume[hole])
    assert np.array_equal(ours, reference)


def test_untrained_prior_network_on_a_2d_image_is_biharmonic():
    hu, spacing = real_ct()
    image = hu[5, 50:130, 40:120].copy()
    hole = box_hole(image.shape, (30, 50, 20, 44))
    net = RFRNet(width=8, num_recurrences=1, prior=True, context_slices=2)
    ours, _ = inpaint_volume(image, hole, RFRInpainter(net, device="cpu"), spacing=spacing[1:], margin_mm=0)
    reference, _ = inpaint_volume(image, hole, BiharmonicInpainter(), spacing=spacing[1:], margin_mm=0)
    assert np.array_equal(ours, reference)


def test_guide_is_required_checked_and_refused():
    guided = RFRNet(width=8, num_recurrences=1, prior=True, context_slices=1).eval()  # 2 + 1 + 4 channels
    image, hole, guide = _inputs(guided, 2, 32, 32)
    with pytest.raises(ValueError, match=r"guide of 7 channel\(s\), got none"):
        guided(image, hole)
    with pytest.raises(ValueError, match=r"guide of 7 channel\(s\), got \[2, 6, 32, 32\]"):
        guided(image, hole, guide[:, :6])
    with pytest.raises(ValueError, match="does not match the image"):
        guided(image, hole, guide[:1])
    with pytest.raises(ValueError, match="does not match the image"):
        guided(image, hole, guide[..., :16])
    plain = RFRNet(width=8, num_recurrences=1).eval()
    with pytest.raises(ValueError, match="takes no guide"):
        plain(image, hole, guide)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"width": 12}, "multiple of 8"), ({"width": 0}, "multiple of 8"), ({"context_slices": -1}, "context_slices")],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        RFRNet(**options)


def test_learning_passes_the_zero_initialised_output_layer():
    torch.manual_seed(0)
    net = RFRNet(width=8, num_recurrences=2, prior=True, context_slices=1).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    image, hole, guide = _inputs(net, 2, 32, 32)
    names = [n for n, _ in net.named_parameters()]

    def step() -> dict[str, torch.Tensor]:
        optimizer.zero_grad()
        out = net(image, hole, guide)
        ((out - image).abs() * hole).mean().backward()
        grads = {n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None}
        optimizer.step()
        return grads

    first = step()
    # the zero output layer is the only one the first step can move (its input gradient is W^T g = 0)
    assert [n for n in names if first[n].abs().sum() > 0] == ["out_conv.weight"]
    assert net.out_conv.weight.abs().sum() > 0
    second = step()
    assert set(second) == set(names)
    assert all(torch.isfinite(g).all() for g in second.values())
    assert not [n for n in names if second[n].abs().sum() == 0]
    assert second["head_pconv1.weight"].abs().sum() > 0  # the head learns from the second step on


def _state(net: RFRNet, half: bool = False) -> dict[str, torch.Tensor]:
    return {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}


@pytest.mark.parametrize("variant", ROUND_TRIP, ids=_name)
def test_checkpoint_round_trip_rebuilds_every_variant(variant, tmp_path):
    width, prior, context, small = variant
    net = perturb(_net(variant)).eval()
    image, hole, guide = _inputs(net, 1, 40, 24)
    args = (image, hole) if guide is None else (image, hole, guide)
    assert ("guide_config" in net.state_dict()) == bool(prior or context)
    with torch.no_grad():
        expected = net(*args)
    for form, checkpoint in (("bare", _state(net)), ("network", {"network": _state(net)})):
        path = tmp_path / f"{form}.pt"
        torch.save(checkpoint, path)
        loaded = load_network(path, num_recurrences=1)  # strict keys and shapes
        rebuilt = (loaded.width, loaded.prior, loaded.context_slices, loaded.small_hole, loaded.in_channels)
        assert rebuilt == (width, prior, context, small, 1)
        assert loaded.guide_channels == net.guide_channels and not loaded.training
        assert all(torch.equal(a, loaded.state_dict()[k]) for k, a in net.state_dict().items())
        with torch.no_grad():
            assert torch.equal(loaded(*args), expected)
    # float16 storage (the shipped model's format), loaded with weights_only=True into a float32 network
    path = tmp_path / "half.pt"
    torch.save({"network": _state(net, half=True)}, path)
    stored = load_checkpoint(path)["network"]  # weights_only=True
    assert stored["head_pconv1.weight"].dtype == torch.float16
    assert torch.load(path, weights_only=True)["network"].keys() == net.state_dict().keys()
    loaded = load_network(path, num_recurrences=1)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert (loaded.width, loaded.prior, loaded.context_slices, loaded.small_hole) == (width, prior, context, small)
    rounded = _net(variant).eval()
    rounded.load_state_dict(stored)
    with torch.no_grad():
        assert torch.equal(loaded(*args), rounded(*args))
        assert (loaded(*args) - expected).abs().max() < 0.05 * expected.abs().max() + 1e-3


def test_checkpoint_records_a_recurrence_count_other_than_the_papers(tmp_path):
    net = perturb(RFRNet(width=8, num_recurrences=2, prior=True, context_slices=1)).eval()
    assert int(net.state_dict()["recurrence_config"]) == 2
    assert "recurrence_config" not in RFRNet(width=8, prior=True, context_slices=1).state_dict()  # 6: no key
    path = tmp_path / "r2.pt"
    torch.save({"network": _state(net, half=True)}, path)
    loaded = load_network(path)  # no num_recurrences given: the checkpoint's own
    assert loaded.num_recurrences == 2
    image, hole, guide = _inputs(net, 1, 40, 24)
    three = RFRNet(width=8, num_recurrences=3, prior=True, context_slices=1).eval()
    three.load_state_dict({k: v for k, v in net.state_dict().items() if k != "recurrence_config"}, strict=False)
    with torch.no_grad():
        expected = net(image, hole, guide)
        assert (loaded(image, hole, guide) - expected).abs().max() < 0.05 * expected.abs().max() + 1e-3
        assert (three(image, hole, guide) - expected).abs().max() > 1e-4  # the count changes the result
    path = tmp_path / "r6.pt"
    torch.save(RFRNet(width=8, prior=True, context_slices=1).state_dict(), path)
    assert load_network(path).num_recurrences == 6  # without the key: the paper's count


def test_checkpoint_records_the_priors_spacing_exponent(tmp_path):
    net = perturb(RFRNet(width=8, num_recurrences=1, prior=True, context_slices=1, prior_spacing_exponent=1.0))
    assert float(net.state_dict()["prior_config"][0]) == 1.0
    assert "prior_config" not in RFRNet(width=8, prior=True, context_slices=1).state_dict()  # 0: no key
    path = tmp_path / "mm.pt"
    torch.save({"network": _state(net, half=True)}, path)
    assert load_network(path).prior_spacing_exponent == 1.0
    path = tmp_path / "unit.pt"
    torch.save(RFRNet(width=8, prior=True, context_slices=1).state_dict(), path)
    assert load_network(path).prior_spacing_exponent == 0.0
    with pytest.raises(ValueError, match="prior_spacing_exponent"):
        RFRNet(width=8, context_slices=1, prior_spacing_exponent=1.0)  # no prior to make
    with pytest.raises(ValueError, match="prior_spacing_exponent"):
        RFRNet(width=8, prior=True, prior_spacing_exponent=-1.0)


def test_checkpoint_records_a_self_tuned_prior(tmp_path):
    net = perturb(RFRNet(width=8, num_recurrences=1, prior=True, context_slices=1, prior_spacing_exponent="AUTO")).eval()
    assert net.prior_spacing_exponent == "auto"
    assert net.state_dict()["prior_config"].tolist() == [1.0, 1.0]  # [the exponent a tie keeps, chosen per stack]
    path = tmp_path / "auto.pt"
    torch.save({"network": _state(net, half=True)}, path)
    loaded = load_network(path)
    assert loaded.prior_spacing_exponent == "auto"
    image, hole = torch.rand(1, 1, 32, 32), torch.zeros(1, 1, 32, 32)
    hole[..., 10:20, 12:22] = 1
    guide = torch.rand(1, loaded.guide_channels, 32, 32)
    with torch.no_grad():
        expected = net(image, hole, guide)
        assert (loaded(image, hole, guide) - expected).abs().max() < 0.05 * expected.abs().max() + 1e-3
    for bad in ("mm", float("nan"), float("inf"), None):
        with pytest.raises(ValueError, match="prior_spacing_exponent"):
            RFRNet(width=8, prior=True, prior_spacing_exponent=bad)
    with pytest.raises(ValueError, match="needs prior=True"):
        RFRNet(width=8, context_slices=1, prior_spacing_exponent="auto")


def test_faithful_network_has_exactly_the_authors_keys():
    keys = read_reference_keys()
    converted = convert_reference_state_dict({k: torch.zeros(s) for k, s, _ in keys})
    for net in (RFRNet(in_channels=3), RFRNet(in_channels=3, width=64, prior=False, context_slices=0)):
        state = net.state_dict()
        assert "guide_config" not in state and net.guide_channels == 0
        assert set(state) == set(converted)
        assert all(tuple(state[k].shape) == tuple(v.shape) for k, v in converted.items())
    default = RFRNet()
    assert (default.width, default.prior, default.context_slices) == (64, False, 0)
    assert "guide_config" in RFRNet(in_channels=3, context_slices=1).state_dict()


@pytest.mark.parametrize("variant", [(8, True, 2, False), (16, False, 1, True)], ids=_name)
def test_torchscript_of_a_guided_variant_matches_eager(variant):
    net = perturb(_net(variant, recurrences=2)).eval()
    scripted = torch.jit.script(net)
    image, hole, guide = _inputs(net, 2, 37, 29)
    with torch.no_grad():
        assert (scripted(image, hole, guide) - net(image, hole, guide)).abs().max().item() < 1e-6


def test_fuse_for_inference_keeps_a_guided_variant():
    net = perturb(RFRNet(width=16, num_recurrences=2, prior=True, context_slices=2)).eval()
    fused = fuse_for_inference(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    image, hole, guide = _inputs(net, 2, 37, 29)
    with torch.no_grad():
        reference = net(image, hole, guide)
        assert (reference - guide[:, :1]).abs().max() > 0.1  # the weights matter, not only the prior
        assert (fused(image, hole, guide) - reference).abs().max().item() < 1e-4

"""RFR-Net: parity with the authors' reference, conversion, padding, batching, gradients, TorchScript."""

from __future__ import annotations

import pytest
import torch

from _reference_weights import PARITY_FILE, read_reference_keys, reference_state_dict
from rfr_inpaint.networks import (
    RFRNet,
    composite,
    convert_reference_state_dict,
    load_network,
    load_reference_checkpoint,
    pad_to_multiple,
)
from rfr_inpaint.networks.rfrnet import crop_padding
from rfr_inpaint.safe_io import CheckpointError


@pytest.fixture(scope="module")
def fixture():
    return torch.load(PARITY_FILE, weights_only=True)


@pytest.fixture(scope="module")
def reference_weights(fixture):
    return reference_state_dict(fixture["phase"])


@pytest.fixture(scope="module")
def gray_net(reference_weights):
    net = RFRNet(in_channels=1).eval()
    net.load_state_dict(convert_reference_state_dict(reference_weights, in_channels=1), strict=True)
    return net


def _hole(n, h, w, box):
    hole = torch.zeros(n, 1, h, w)
    y0, y1, x0, x1 = box
    hole[:, :, y0:y1, x0:x1] = 1
    return hole


def test_keys_file_matches_the_network():
    keys = read_reference_keys()
    converted = convert_reference_state_dict({k: torch.zeros(s) for k, s, _ in keys})
    net = RFRNet(in_channels=3)
    assert set(converted) == set(net.state_dict())
    for k, shape in ((k, tuple(v.shape)) for k, v in converted.items()):
        assert tuple(net.state_dict()[k].shape) == shape, k


def test_parity_with_reference_fixture(fixture, reference_weights):
    net = RFRNet(in_channels=3).eval()
    net.load_state_dict(convert_reference_state_dict(reference_weights), strict=True)
    hole = 1.0 - fixture["mask"][:, :1]  # the reference's mask is 1 on valid pixels
    with torch.no_grad():
        out = net(fixture["masked_image"], hole)
    assert out.shape == fixture["output"].shape
    assert (out - fixture["output"]).abs().max().item() < 1e-4


def test_authors_checkpoint_file_loads_and_converts_to_grayscale(tmp_path, reference_weights, gray_net):
    path = tmp_path / "authors.pth"
    torch.save({"n_iter": 10, "generator": reference_weights, "optimizer_G": {}}, path)
    rgb = load_reference_checkpoint(path, in_channels=3)
    gray = load_reference_checkpoint(path, in_channels=1)
    g = torch.rand(2, 1, 48, 80, generator=torch.Generator().manual_seed(1))
    hole = _hole(2, 48, 80, (10, 30, 20, 50))
    with torch.no_grad():
        rgb_out = rgb(g.expand(-1, 3, -1, -1), hole).mean(dim=1, keepdim=True)
        gray_out = gray(g, hole)
        ref_out = gray_net(g, hole)
    assert (rgb_out - gray_out).abs().max().item() < 1e-5
    assert torch.equal(gray_out, ref_out)
    assert gray.in_channels == 1 and float(gray.image_mask_channels) == 3.0


def test_authors_checkpoint_with_wrong_keys_names_them(tmp_path, reference_weights):
    bad = dict(reference_weights)
    bad.pop("bn1.weight")
    bad["extra.layer"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save({"n_iter": 1, "generator": bad, "optimizer_G": {}}, path)
    with pytest.raises(CheckpointError, match=r"extra\.layer"):
        load_network(path)
    del bad["extra.layer"]
    torch.save({"n_iter": 1, "generator": bad, "optimizer_G": {}}, path)
    with pytest.raises(CheckpointError, match=r"missing keys.*head_bn1\.weight"):
        load_network(path)


def test_own_checkpoint_round_trip_and_architecture_mismatch(tmp_path, gray_net):
    path = tmp_path / "model.pt"
    torch.save(gray_net.state_dict(), path)
    loaded = load_network(path)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), gray_net.state_dict().values()))
    small = RFRNet(in_channels=1, small_hole=True)
    torch.save({"network": small.state_dict()}, path)
    assert load_network(path).small_hole
    other = torch.nn.Conv2d(1, 4, 3)
    torch.save(other.state_dict(), path)
    with pytest.raises(CheckpointError, match="not an RFR-Net checkpoint"):
        load_network(path)


@pytest.mark.parametrize("size", [(33, 47), (16, 16), (70, 21), (5, 3), (1, 1)])
def test_any_size_is_padded_and_cropped(gray_net, size):
    h, w = size
    image = torch.rand(1, 1, h, w)
    hole = torch.zeros(1, 1, h, w)
    hole[..., h // 3 : max(h // 3 + 1, 2 * h // 3), w // 3 : max(w // 3 + 1, 2 * w // 3)] = 1
    with torch.no_grad():
        out = gray_net(image, hole)
    assert out.shape == image.shape
    assert torch.isfinite(out).all()


def test_pad_and_crop_are_inverse():
    x = torch.arange(2 * 3 * 37 * 20, dtype=torch.float32).reshape(2, 3, 37, 20)
    padded, pad = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (48, 32)
    assert torch.equal(crop_padding(padded, pad), x)


def test_hole_content_does_not_leak(gray_net):
    image = torch.rand(1, 1, 64, 64)
    hole = _hole(1, 64, 64, (20, 40, 20, 40))
    other = image.clone()
    other[hole.bool()] = 1.0 - other[hole.bool()]
    with torch.no_grad():
        assert torch.equal(gray_net(image, hole), gray_net(other, hole))


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_no_nan_for_all_hole_and_no_hole(gray_net, fill):
    image = torch.rand(2, 1, 32, 48)
    hole = torch.full((2, 1, 32, 48), fill)
    with torch.no_grad():
        out = gray_net(image, hole)
    assert torch.isfinite(out).all()
    if fill == 0.0:
        assert torch.equal(composite(image, out, hole), image)


def test_batch_equals_single_forwards(gray_net):
    gen = torch.Generator().manual_seed(3)
    image = torch.rand(4, 1, 48, 64, generator=gen)
    hole = torch.zeros(4, 1, 48, 64)
    for i, box in enumerate([(0, 10, 0, 10), (10, 30, 5, 60), (30, 48, 40, 64), (5, 40, 20, 30)]):
        hole[i, :, box[0] : box[1], box[2] : box[3]] = 1
    with torch.no_grad():
        batched = gray_net(image, hole)
        single = torch.cat([gray_net(image[i : i + 1], hole[i : i + 1]) for i in range(4)])
    assert (batched - single).abs().max().item() < 1e-5


def test_chunked_attention_equals_single_chunk(gray_net):
    chunked = RFRNet(in_channels=1, attention_chunk_elements=1).eval()
    chunked.load_state_dict(gray_net.state_dict())
    image = torch.rand(2, 1, 64, 64)
    hole = _hole(2, 64, 64, (16, 48, 8, 40))
    with torch.no_grad():
        a, b = gray_net(image, hole), chunked(image, hole)
    assert (a - b).abs().max().item() < 1e-5
    # the training path (autograd on) takes the non-in-place branch: same result
    assert (chunked(image, hole).detach() - a).abs().max().item() < 1e-5


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = RFRNet(in_channels=1, num_recurrences=2).train()
    image = torch.rand(2, 1, 32, 32)
    hole = _hole(2, 32, 32, (8, 24, 8, 24))
    out = net(image, hole)
    ((out - image).abs() * hole).mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    zero = [n for n, p in net.named_parameters() if p.grad.abs().sum() == 0]
    assert not zero, zero


def test_composite_keeps_known_pixels_exactly():
    image = torch.rand(1, 1, 16, 16)
    pred = torch.rand(1, 1, 16, 16)
    hole = _hole(1, 16, 16, (4, 8, 4, 8))
    out = composite(image, pred, hole)
    assert torch.equal(out[hole == 0], image[hole == 0])
    assert torch.equal(out[hole == 1], pred[hole == 1])


def test_torchscript_matches_eager(gray_net):
    scripted = torch.jit.script(gray_net)
    image = torch.rand(1, 1, 40, 56)
    hole = _hole(1, 40, 56, (10, 20, 10, 30))
    with torch.no_grad():
        assert (scripted(image, hole) - gray_net(image, hole)).abs().max().item() < 1e-6


def test_autocast_bfloat16_on_cpu_is_finite_and_close(gray_net):
    image = torch.rand(1, 1, 32, 32)
    hole = _hole(1, 32, 32, (8, 20, 8, 20))
    with torch.no_grad():
        ref = gray_net(image, hole)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = gray_net(image, hole)
    assert torch.isfinite(low).all()
    assert (low.float() - ref).abs().max().item() < 0.1 * ref.abs().max().item() + 0.05


def test_rejects_wrong_channels_and_ranks(gray_net):
    with pytest.raises(ValueError, match="image channel"):
        gray_net(torch.rand(1, 3, 16, 16), torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match="expected"):
        gray_net(torch.rand(1, 16, 16), torch.zeros(1, 16, 16))

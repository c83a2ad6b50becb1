"""Every optimised inference path against the plain path: BN folding, channels_last, inference mode, chunked
attention (with and without autograd), batching, bfloat16 autocast, and the benchmark scripts' JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rfr_inpaint.inference import ChannelBias, RFRInpainter, fuse_for_inference
from rfr_inpaint.networks import RFRNet
from rfr_inpaint.networks.attention import KnowledgeConsistentAttention

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    network = RFRNet(in_channels=1, num_recurrences=3).eval()
    g = torch.Generator().manual_seed(2)
    for m in network.modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics far from the identity, as after training
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 2 + 0.2)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.2)
    return network


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 1, 48, 64, generator=g)
    h = torch.zeros(2, 1, 48, 64)
    h[0, :, 10:30, 12:40] = 1
    h[1, :, 30:44, 40:60] = 1
    return x, h


@pytest.fixture(scope="module")
def plain(net, batch):
    with torch.no_grad():
        return net(*batch)


def test_fused_equals_unfused(net, batch, plain):
    fused = fuse_for_inference(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, ChannelBias) for m in fused.modules()) == 3
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())  # the original is untouched
    with torch.inference_mode():
        out = fused(*batch)
    assert (out - plain).abs().max() <= 1e-4 * max(1.0, float(plain.abs().max()))


def test_channels_last_equals_plain(net, batch, plain):
    import copy

    cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = cl(*(t.contiguous(memory_format=torch.channels_last) for t in batch))
    torch.testing.assert_close(out, plain, atol=1e-4, rtol=1e-4)


def test_inference_mode_equals_no_grad(net, batch, plain):
    with torch.inference_mode():
        out = net(*batch)
    torch.testing.assert_close(out, plain, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("fuse,channels_last", [(True, False), (False, True), (True, True)])
def test_inpainter_options_equal_the_plain_inpainter(net, fuse, channels_last):
    rng = np.random.default_rng(0)
    images = rng.random((3, 40, 56), dtype=np.float32)
    holes = np.zeros(images.shape, bool)
    holes[0, 5:15, 5:20] = holes[2, 20:35, 30:50] = True
    reference = RFRInpainter(net, device="cpu", mode="full", fuse=False, channels_last=False)(images, holes)
    out = RFRInpainter(net, device="cpu", mode="full", fuse=fuse, channels_last=channels_last)(images, holes)
    np.testing.assert_allclose(out, reference, atol=1e-4)
    np.testing.assert_array_equal(out[~holes], images[~holes])


@pytest.mark.parametrize("grad", [False, True])
def test_chunked_attention_equals_unchunked(grad):
    torch.manual_seed(1)
    features = torch.randn(2, 16, 12, 10)
    mask = (torch.rand(2, 1, 24, 20) > 0.3).float()
    whole = KnowledgeConsistentAttention(chunk_elements=1 << 30)
    chunked = KnowledgeConsistentAttention(chunk_elements=(12 * 10) * 10 * 2)  # two query rows per chunk
    with torch.set_grad_enabled(grad):
        out_a, scores_a, m_a = whole(features, mask, None, None)
        out_b, scores_b, m_b = chunked(features, mask, None, None)
        torch.testing.assert_close(out_b, out_a, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(scores_b, scores_a, atol=1e-6, rtol=1e-5)
        # second recurrence: blending with the previous scores (overwritten in place without autograd)
        prev_a, prev_b = scores_a.clone(), scores_b.clone()
        out2_a, _, _ = whole(features * 0.5, mask, prev_a, m_a)
        out2_b, _, _ = chunked(features * 0.5, mask, prev_b, m_b)
        torch.testing.assert_close(out2_b, out2_a, atol=1e-5, rtol=1e-5)


def test_batched_forward_equals_single_forwards(net, batch, plain):
    x, h = batch
    with torch.inference_mode():
        singles = torch.cat([net(x[i : i + 1], h[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(singles, plain, atol=1e-5, rtol=1e-5)


def test_bfloat16_autocast_is_finite_and_close(net, batch, plain):
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(*batch).float()
    assert torch.isfinite(out).all()
    # bfloat16 has 8 bits of mantissa: compare relative to the output's scale
    assert (out - plain).abs().mean() <= 0.05 * float(plain.abs().mean()) + 1e-3


def _run_bench(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True, check=True, timeout=300
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout  # exactly one JSON object
    result = json.loads(lines[0])
    assert result["cpu_count"] >= 1 and result["torch"] == torch.__version__
    return result


def test_forward_benchmark_prints_one_json_with_small_differences():
    result = _run_bench("bench_forward.py", "--size", "32", "--batches", "1,2", "--repeats", "1")
    for batch in ("1", "2"):
        for variant, figures in result["batches"][batch].items():
            assert figures["seconds_per_image"] > 0
            assert figures["max_abs_diff_vs_plain"] <= 1e-4, variant


def test_memory_benchmark_reports_peaks():
    result = _run_bench("bench_memory.py", "--sizes", "32")
    (entry,) = result["sizes"]
    assert entry["size"] == 32 and entry["finite"] and entry["peak_rss_gib"] >= entry["peak_above_baseline_gib"] >= 0

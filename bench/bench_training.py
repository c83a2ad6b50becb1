"""Training throughput of RFR-Net with the full loss: iterations / s at 256 x 256, batch 4 (issue 8).

One iteration is the bundle's training step (:class:`rfr_inpaint.engines.RFRTrainer`, the iteration ``train.json``
runs): forward, :class:`rfr_inpaint.losses.RFRLoss` (hole, valid, perceptual, style, TV; VGG16 weights are random,
written in torchvision's format to a temporary file unless ``--vgg`` names a real file: the cost is the same),
backward, Adam step. ``--amp fp16`` / ``--amp bf16`` run the forward and the loss under ``torch.autocast`` with the
trainer's gradient scaler (CUDA; a CPU run stays float32). Prints one JSON object.

    python bench/bench_training.py                      # CPU, float32
    python bench/bench_training.py --device cuda --amp bf16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import box_holes, emit, machine_info, rfr_trainer, smooth_images, sync
from ignite.engine import Engine, Events
from rfr_inpaint.losses import RFRLoss
from rfr_inpaint.networks import RFRNet

# torchvision's VGG16 ``features`` convolutions up to pool3: index -> (out, in) channels.
_VGG_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256), 14: (256, 256)}


def write_random_vgg16(path: Path, seed: int = 0) -> Path:
    """Save random VGG16 feature weights under torchvision's key names (``features.N.weight`` / ``.bias``)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for idx, (cout, cin) in _VGG_CONVS.items():
        state[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (cin * 9)) ** 0.5
        state[f"features.{idx}.bias"] = torch.zeros(cout)
    torch.save(state, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=3, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--amp", choices=("none", "fp16", "bf16"), default="none")
    parser.add_argument("--channels-last", action="store_true", help="network and inputs in channels_last")
    parser.add_argument("--vgg", default=None, help="torchvision VGG16 weights (default: random, same cost)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        vgg = args.vgg or write_random_vgg16(Path(tmp) / "vgg16-397923af.pth")
        loss_fn = RFRLoss(vgg_weights=vgg).to(device)
    net = RFRNet(in_channels=1).to(device).train()
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
    batch = {"image": smooth_images(args.batch, args.size), "hole": box_holes(args.batch, args.size)}
    batches = [batch] * (args.warmup + args.iters)
    trainer = rfr_trainer(net, optimizer, loss_fn, batches, device, args.amp, channels_last=args.channels_last)
    times: list[float] = []
    losses: list[float] = []
    started = [0.0]

    @trainer.on(Events.ITERATION_STARTED)
    def _start(engine: Engine) -> None:
        sync(device)
        started[0] = time.perf_counter()

    @trainer.on(Events.ITERATION_COMPLETED)
    def _stop(engine: Engine) -> None:
        sync(device)
        losses.append(float(engine.state.output["loss"]))
        if engine.state.iteration > args.warmup:  # the first iterations warm the allocator and oneDNN up
            times.append(time.perf_counter() - started[0])

    trainer.run()
    result = {
        "benchmark": "training_throughput",
        **machine_info(device),
        "size": args.size,
        "batch": args.batch,
        "amp": args.amp if trainer.amp else "none",
        "channels_last": args.channels_last,
        "loss_terms_active": [k for k, w in loss_fn.weights.items() if w > 0],
        "seconds_per_iteration": round(min(times), 4),
        "seconds_per_iteration_mean": round(sum(times) / len(times), 4),
        "iterations_per_second": round(1.0 / min(times), 3),
        "images_per_second": round(args.batch / min(times), 3),
        "losses_finite": all(torch.isfinite(torch.tensor(losses)).tolist()),
        "iters_timed": args.iters,
    }
    if device.type == "cuda":
        result["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    emit(result)


if __name__ == "__main__":
    main()

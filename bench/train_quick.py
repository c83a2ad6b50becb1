"""Train an RFR-Net briefly on synthetic CT slices, for the quality measurements of the benchmarks (not a product).

The data is a ``.npy`` stack ``(N, H, W)`` of slices already mapped to [0, 1] (``--make-data`` writes one from
:func:`rfr_inpaint.data.synthetic.synthetic_ct_volume` with the default CT window). Each step takes random crops
with metal-like holes (ellipses and rods of 2 to 24 pixels, one to four per crop) and runs the bundle's training
step (:class:`rfr_inpaint.engines.RFRTrainer`, the iteration ``train.json`` runs) with the RFR loss without its VGG
terms (hole 6, valid 1, TV 0.1) for ``--seconds``. Prints one JSON object; saves ``{"network": state}``.

    python bench/train_quick.py --make-data .benchdata/train_slices.npy
    python bench/train_quick.py --data .benchdata/train_slices.npy --device cuda --amp bf16 --seconds 240 \\
        --out model.pt
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator

import numpy as np
import torch
from _common import emit, machine_info, rfr_trainer
from ignite.engine import Engine, Events
from rfr_inpaint.losses import RFRLoss
from rfr_inpaint.networks import RFRNet


def make_data(path: str, volumes: int = 8, slices_per_volume: int = 8, size: int = 512) -> None:
    """Write ``volumes * slices_per_volume`` windowed synthetic CT slices (seeds 100, 101, ...) as float16."""
    from rfr_inpaint.data.synthetic import synthetic_ct_volume
    from rfr_inpaint.transforms.intensity import CTWindow

    window = CTWindow()
    out = []
    for v in range(volumes):
        vol, _ = synthetic_ct_volume((slices_per_volume, size, size), seed=100 + v)
        out.append(np.asarray(window(vol)).astype(np.float16))
    np.save(path, np.concatenate(out))


def metal_like_holes(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, size, size) float32 masks with one to four ellipses / rods of half-lengths 2..24 px (1 = hole)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    holes = np.zeros((n, size, size), np.float32)
    for i in range(n):
        for _ in range(int(rng.integers(1, 5))):
            cy, cx = rng.uniform(0.15 * size, 0.85 * size, 2)
            a = rng.uniform(2, 24)
            b = rng.uniform(1.5, 4) if rng.random() < 0.4 else a * rng.uniform(0.5, 1.0)
            t = rng.uniform(0, math.pi)
            u = (xx - cx) * math.cos(t) + (yy - cy) * math.sin(t)
            w = -(xx - cx) * math.sin(t) + (yy - cy) * math.cos(t)
            holes[i][(u / a) ** 2 + (w / b) ** 2 <= 1.0] = 1.0
    return holes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-data", default=None, help="write the training stack here and exit")
    parser.add_argument("--data", default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", choices=("none", "fp16", "bf16"), default="bf16")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--out", default="rfr_quick.pt")
    parser.add_argument("--half", action="store_true", help="save the weights as float16 (half the file size)")
    args = parser.parse_args()
    if args.make_data:
        make_data(args.make_data)
        return
    device = torch.device(args.device)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = torch.from_numpy(np.load(args.data).astype(np.float32)).to(device)
    n, h, w = data.shape

    def batches() -> Iterator[dict[str, torch.Tensor]]:
        """Endless batches of random crops with metal-like holes."""
        while True:
            idx = rng.integers(0, n, args.batch)
            ys = rng.integers(0, h - args.crop + 1, args.batch)
            xs = rng.integers(0, w - args.crop + 1, args.batch)
            crops = [data[i, y : y + args.crop, x : x + args.crop] for i, y, x in zip(idx, ys, xs, strict=True)]
            hole = torch.from_numpy(metal_like_holes(args.batch, args.crop, rng))[:, None]
            yield {"image": torch.stack(crops)[:, None], "hole": hole}

    net = RFRNet(in_channels=1).to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    loss_fn = RFRLoss(style_weight=0.0, perceptual_weight=0.0)
    trainer = rfr_trainer(net, optimizer, loss_fn, batches(), device, args.amp, epoch_length=2**62)
    history: list[float] = []

    @trainer.on(Events.ITERATION_COMPLETED)
    def _budget(engine: Engine) -> None:
        if engine.state.iteration % 25 == 0:
            history.append(round(float(engine.state.output["loss"]), 5))
        if time.perf_counter() - start >= args.seconds:
            engine.terminate()

    start = time.perf_counter()
    trainer.run()
    steps = trainer.state.iteration
    elapsed = time.perf_counter() - start
    net.eval()
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    if args.half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"network": state}, args.out)
    emit(
        {
            "benchmark": "train_quick",
            **machine_info(device),
            "amp": args.amp if trainer.amp else "none",
            "crop": args.crop,
            "batch": args.batch,
            "steps": steps,
            "seconds": round(elapsed, 1),
            "iterations_per_second": round(steps / elapsed, 3),
            "loss_every_25_steps": history,
            "out": args.out,
        }
    )


if __name__ == "__main__":
    main()

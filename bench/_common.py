"""Shared helpers of the benchmark scripts: machine description, timing, synthetic inputs, one-JSON output."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# The scripts run from a checkout without installation too.
_SRC = Path(__file__).resolve().parents[1] / "monai_bundle"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))


def machine_info(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Core count, torch version, thread count and the device's name."""
    device = torch.device(device)
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (timings on CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], repeats: int, warmup: int = 1, device: torch.device | None = None) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    device = device or torch.device("cpu")
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def smooth_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """(n, 1, size, size) smooth random images in [0, 1] (benchmark inputs; content does not change the cost)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size // 8 + 1, size // 8 + 1, generator=g)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    return x.clamp(0.0, 1.0)


def box_holes(n: int, size: int, fraction: float = 0.25, seed: int = 0) -> torch.Tensor:
    """(n, 1, size, size) masks (1 = hole) with one random square covering ``fraction`` of each image."""
    g = torch.Generator().manual_seed(seed)
    side = max(1, int(size * fraction**0.5))
    holes = torch.zeros(n, 1, size, size)
    for i in range(n):
        y, x = (int(v) for v in torch.randint(0, size - side + 1, (2,), generator=g))
        holes[i, :, y : y + side, x : x + side] = 1.0
    return holes


def emit(result: dict[str, Any]) -> None:
    """Print the benchmark's one JSON object."""
    print(json.dumps(result, sort_keys=False))


def rfr_trainer(
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_function: Callable,
    batches: Any,
    device: torch.device,
    amp: str = "none",
    epoch_length: int | None = None,
    channels_last: bool = False,
) -> Any:
    """The bundle's training step, :class:`rfr_inpaint.engines.RFRTrainer`, on batches ``{"image", "hole"}``.

    Args:
        network: the RFR-Net, on ``device``.
        optimizer: its optimizer.
        loss_function: ``(raw, target, hole) -> loss`` (an :class:`rfr_inpaint.losses.RFRLoss`).
        batches: an iterable of batch dicts (``(N, 1, H, W)`` tensors); with ``epoch_length`` it may be endless.
        device: the device of the run.
        amp: ``none``, ``fp16`` or ``bf16``: the autocast dtype (CUDA only; the trainer runs float32 on a CPU).
        epoch_length: iterations of the single epoch (default: the length of ``batches``).
        channels_last: move the batches in ``torch.channels_last`` memory format (the network must be too).

    Returns:
        the trainer (``trainer.run()`` trains).
    """
    from rfr_inpaint.engines import RFRTrainer

    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(amp)
    return RFRTrainer(
        device=device,
        max_epochs=1,
        train_data_loader=batches,
        epoch_length=epoch_length,
        network=network,
        optimizer=optimizer,
        loss_function=loss_function,
        amp=amp_dtype is not None and device.type == "cuda",
        amp_kwargs={"dtype": amp_dtype} if amp_dtype is not None else None,
        decollate=False,
        optim_set_to_none=True,
        to_kwargs={"memory_format": torch.channels_last} if channels_last else None,
    )

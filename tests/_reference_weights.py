"""The deterministic weights of the parity fixture, generated from the formula of the reference document."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).parent / "data"
KEYS_FILE = DATA / "rfrnet_reference_keys.txt"
PARITY_FILE = DATA / "rfrnet_parity_64x64.pt"
_M32 = np.uint64(0xFFFFFFFF)


def read_reference_keys(path: Path = KEYS_FILE) -> list[tuple[str, tuple[int, ...], str]]:
    """(key, shape, dtype) of every state-dict entry of the authors' RFR-Net, in their order."""
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        key, rest = line.split(" ", 1)
        shape_text, dtype = rest.rsplit(" ", 1)
        shape = tuple(int(v) for v in shape_text.strip("()").split(",") if v.strip())
        rows.append((key, shape, dtype))
    return rows


def hash_uniform(n: int, s: int) -> np.ndarray:
    """n numbers in [-1, 1) from the fixture's 32-bit integer hash with stream ``s``."""
    k = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (k * np.uint64(0x9E3779B1) + np.uint64(s) * np.uint64(0x85EBCA77)) & _M32
        x ^= x >> np.uint64(15)
        x = (x * np.uint64(0x2C1B3C6D)) & _M32
        x ^= x >> np.uint64(12)
        x = (x * np.uint64(0x297A2D39)) & _M32
        x ^= x >> np.uint64(15)
    return x.astype(np.float64) / 2.0**31 - 1.0


def reference_state_dict(phase: int = 0) -> "OrderedDict[str, torch.Tensor]":
    """The authors'-format state dict whose weights produce the fixture's output."""
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for i, (key, shape, _dtype) in enumerate(read_reference_keys()):
        n = int(np.prod(shape)) if shape else 1
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=torch.int64)
            continue
        u = hash_uniform(n, i + 1000 * phase).reshape(shape)
        if key.endswith("running_var"):
            v = 1.0 + 0.5 * np.abs(u)
        elif key.endswith("running_mean"):
            v = 0.1 * u
        elif len(shape) == 1:
            v = 1.0 + 0.1 * u if key.endswith(".weight") else 0.1 * u
        else:
            v = u * np.sqrt(6.0 / (n / shape[0]))
        state[key] = torch.from_numpy(np.asarray(v, dtype=np.float64)).to(torch.float32)
    return state

"""Shared test setup: make `tests/` importable for helper modules and keep runs deterministic and light."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
ROOT = TESTS.parent
BUNDLE = ROOT / "monai_bundle"

# Tests never reach the network and never look for weights in a user's cache.
os.environ.setdefault("TORCH_HOME", str(TESTS / ".torch_home_unused"))


@pytest.fixture(autouse=True)
def _seed_everything():
    import numpy as np
    import torch

    torch.manual_seed(0)
    np.random.seed(0)
    yield

"""Data sources of RFR Inpaint: the embedded synthetic CT generator and file datasets."""

from __future__ import annotations

from .synthetic import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403

"""MONAI transforms of RFR Inpaint: invertible intensity mappings and hole-mask generators."""

from __future__ import annotations

from .intensity import *  # noqa: F401,F403

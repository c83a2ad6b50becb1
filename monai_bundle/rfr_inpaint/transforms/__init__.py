"""MONAI transforms of RFR Inpaint: invertible intensity mappings and hole-mask generators."""

from __future__ import annotations

from .dictionary import *  # noqa: F401,F403
from .intensity import *  # noqa: F401,F403
from .masks import *  # noqa: F401,F403
from .holes3d import *  # noqa: F401,F403

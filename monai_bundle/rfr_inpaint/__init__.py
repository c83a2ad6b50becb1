"""RFR Inpaint: medical image inpainting with Recurrent Feature Reasoning (Li et al., CVPR 2020).

Public API conventions shared by every module of this package:

* images are float tensors / arrays scaled to [0, 1] (see :mod:`rfr_inpaint.transforms.intensity` for the
  invertible mapping from Hounsfield units or raw radiograph values);
* hole masks are **1 = hole (to inpaint), 0 = known pixel**, like a segment.
"""

from __future__ import annotations

__version__ = "0.1.0"

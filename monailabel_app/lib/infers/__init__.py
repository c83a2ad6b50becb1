"""Infer tasks of the RFR Inpaint MONAI Label app."""

from .inpaint import InpaintTask

__all__ = ["InpaintTask"]

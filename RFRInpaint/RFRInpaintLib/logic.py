"""Inpainting of a Slicer scalar volume inside a segment (or above a metal threshold): the module's real logic.

No Qt here: it runs in Slicer, in ``PythonSlicer`` and in plain Python with the ``slicer-core`` wheel (where the
tests run). The computation itself is :func:`rfr_inpaint.volume.inpaint_volume`.

Array axes: ``slicer.util.arrayFromVolume`` gives ``(K, J, I)`` arrays, so NumPy axis 0 is the volume's K axis. The
slice axis is chosen by anatomical plane: ``axial`` (the IJK axis closest to S in the IJK-to-RAS directions),
``coronal`` (closest to A) or ``sagittal`` (closest to R); for a usual axial acquisition these are K, J and I, i.e.
NumPy axes 0, 1 and 2. ``K``, ``J`` and ``I`` select an IJK axis directly.

In place: the volume's voxels are replaced and the original is kept in a hidden volume node referenced from the
volume (role :data:`ORIGINAL_REFERENCE_ROLE`, saved with the scene); :meth:`RFRInpaintProcessor.restoreOriginal` puts
it back. Geometry (spacing, origin, directions), scalar type and every voxel outside the dilated mask are unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from RFRInpaintLib import ensure_rfr_inpaint_importable

__all__ = [
    "ORIGINAL_REFERENCE_ROLE",
    "SLICE_AXES",
    "METHODS",
    "InpaintResult",
    "numpyAxisForPlane",
    "holeFromSegment",
    "holeFromThreshold",
    "RFRInpaintProcessor",
]

logger = logging.getLogger(__name__)

#: node reference role from an in-place inpainted volume to its hidden original
ORIGINAL_REFERENCE_ROLE = "RFRInpaintOriginal"
#: slice axis choices: anatomical planes, or IJK axis names
SLICE_AXES = ("axial", "coronal", "sagittal", "K", "J", "I")
#: methods offered in the module (see ``rfr_inpaint.inpainters``)
METHODS = ("rfr", "biharmonic", "telea", "ns", "mean")
_RAS_INDEX = {"sagittal": 0, "coronal": 1, "axial": 2}
_IJK_INDEX = {"I": 0, "J": 1, "K": 2}


@dataclass
class InpaintResult:
    """What :meth:`RFRInpaintProcessor.process` did.

    Attributes:
        outputVolume: the volume holding the result (the input volume itself when in place).
        originalVolume: the hidden copy of the original (in place only), else None.
        usedMask: the dilated hole that was filled, ``(K, J, I)`` bool.
        sliceAxis: NumPy axis (0 = K, 1 = J, 2 = I) along which slices were inpainted.
        processedSlices: indices along ``sliceAxis`` of the slices given to the inpainter.
        seconds: wall time.
    """

    outputVolume: Any
    originalVolume: Any
    usedMask: np.ndarray
    sliceAxis: int
    processedSlices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seconds: float = 0.0


def numpyAxisForPlane(volumeNode: Any, plane: str | int) -> int:
    """NumPy axis of ``arrayFromVolume(volumeNode)`` along which slices of ``plane`` are stacked.

    Args:
        volumeNode: a ``vtkMRMLVolumeNode``.
        plane: ``axial``, ``coronal``, ``sagittal`` (by the IJK-to-RAS directions), ``K`` / ``J`` / ``I``, or a NumPy
            axis 0, 1, 2.

    Returns:
        0, 1 or 2.

    Raises:
        ValueError: unknown plane.
    """
    import vtk

    if isinstance(plane, (int, np.integer)):
        if int(plane) not in (0, 1, 2):
            raise ValueError(f"slice axis must be 0, 1 or 2, got {plane}")
        return int(plane)
    name = str(plane)
    if name in _IJK_INDEX:
        return 2 - _IJK_INDEX[name]
    if name.lower() not in _RAS_INDEX:
        raise ValueError(f"unknown slice axis {plane!r}; choose one of {', '.join(SLICE_AXES)}")
    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASDirectionMatrix(matrix)
    row = _RAS_INDEX[name.lower()]
    ijk = int(np.argmax([abs(matrix.GetElement(row, column)) for column in range(3)]))
    return 2 - ijk


def _spacingKJI(volumeNode: Any) -> tuple[float, float, float]:
    return tuple(float(s) for s in reversed(volumeNode.GetSpacing()))  # type: ignore[return-value]


def _checkScalarVolume(volumeNode: Any) -> None:
    if volumeNode is None:
        raise ValueError("no input volume selected")
    if volumeNode.GetImageData() is None:
        raise ValueError(f"volume '{volumeNode.GetName()}' holds no image data")
    if volumeNode.GetImageData().GetNumberOfScalarComponents() != 1:
        raise ValueError(
            f"volume '{volumeNode.GetName()}' has {volumeNode.GetImageData().GetNumberOfScalarComponents()}"
            " components per voxel; a scalar volume is expected"
        )


def holeFromSegment(volumeNode: Any, segmentationNode: Any, segmentId: str) -> np.ndarray:
    """The segment as a boolean ``(K, J, I)`` mask on the volume's grid (resampled by the segmentation logic).

    Args:
        volumeNode: the reference ``vtkMRMLScalarVolumeNode``.
        segmentationNode: a ``vtkMRMLSegmentationNode``.
        segmentId: ID of the segment.

    Returns:
        the mask.

    Raises:
        ValueError: the segment does not exist or the export fails.
    """
    import slicer
    import vtk

    segmentation = segmentationNode.GetSegmentation()
    if not segmentId or segmentation.GetSegment(segmentId) is None:
        raise ValueError(f"segmentation '{segmentationNode.GetName()}' has no segment {segmentId!r}")
    scene = volumeNode.GetScene()
    existingIds = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__RFRInpaint_temp__")
    labelmap.SetHideFromEditors(True)
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segmentId)
        logic = slicer.vtkSlicerSegmentationsModuleLogic
        if not logic.ExportSegmentsToLabelmapNode(segmentationNode, ids, labelmap, volumeNode):
            raise ValueError(
                f"segment {segmentId!r} of '{segmentationNode.GetName()}' cannot be exported to the grid "
                f"of '{volumeNode.GetName()}'"
            )
        mask = np.array(slicer.util.arrayFromVolume(labelmap)) != 0
    finally:
        displayNode = labelmap.GetDisplayNode()
        if displayNode is not None:
            colorNode = displayNode.GetColorNode()
            # the export makes a colour table for this labelmap only; shared tables (e.g. in a scene loaded with
            # colour nodes) are referenced elsewhere and kept
            if colorNode is not None and colorNode.GetID() not in existingIds:
                scene.RemoveNode(colorNode)
            scene.RemoveNode(displayNode)
        scene.RemoveNode(labelmap)
    expected = tuple(reversed(volumeNode.GetImageData().GetDimensions()))
    if mask.shape != expected:
        raise ValueError(f"exported segment has shape {mask.shape}, volume has {expected}")
    return mask


def holeFromThreshold(volumeNode: Any, thresholdHU: float) -> np.ndarray:
    """Voxels of the volume at or above ``thresholdHU`` (automatic metal mask), ``(K, J, I)`` bool."""
    import slicer
    from rfr_inpaint.volume import metal_mask

    return metal_mask(slicer.util.arrayFromVolume(volumeNode), thresholdHU)


class RFRInpaintProcessor:
    """Runs the inpainting of a volume node; the Slicer module's logic delegates to it.

    Args:
        inpainterFactory: builds an inpainter from ``(method, model_path, device, **options)`` (default
            :func:`rfr_inpaint.inpainters.get_inpainter`); tests may wrap it to observe the calls.
    """

    def __init__(self, inpainterFactory: Callable[..., Any] | None = None):
        self.inpainterFactory = inpainterFactory

    def _factory(self) -> Callable[..., Any]:
        if self.inpainterFactory is not None:
            return self.inpainterFactory
        from rfr_inpaint.inpainters import get_inpainter

        return get_inpainter

    def process(
        self,
        inputVolume: Any,
        segmentationNode: Any = None,
        segmentId: str | None = None,
        metalThresholdHU: float = 2500.0,
        marginMm: float = 1.0,
        sliceAxis: str | int = "axial",
        method: str = "biharmonic",
        modelPath: str | None = None,
        device: str = "auto",
        inPlace: bool = False,
        outputVolume: Any = None,
        intensity: str = "auto",
        window: tuple[float, float] = (-1024.0, 3071.0),
        batchSize: int = 8,
        progress: Callable[[int, int], Any] | None = None,
        cancel: Callable[[], bool] | None = None,
        runInSubprocess: bool = False,
        pythonExecutable: str | None = None,
    ) -> InpaintResult:
        """Inpaint ``inputVolume`` inside a segment, or above ``metalThresholdHU`` when no segment is given.

        Args:
            inputVolume: ``vtkMRMLScalarVolumeNode`` (HU for CT).
            segmentationNode: ``vtkMRMLSegmentationNode`` holding the region; None: automatic metal threshold.
            segmentId: ID of the segment in ``segmentationNode``.
            metalThresholdHU: threshold of the automatic metal mask (default 2500 HU).
            marginMm: the region is dilated by this distance in mm (default 1 mm).
            sliceAxis: ``axial`` (default), ``coronal``, ``sagittal``, ``K``, ``J``, ``I`` or a NumPy axis.
            method: ``rfr`` (needs ``modelPath``), ``biharmonic``, ``telea``, ``ns`` or ``mean``.
            modelPath: RFR-Net checkpoint or MONAI bundle folder.
            device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
            inPlace: replace the input's voxels (the original is kept in a hidden node) instead of a new volume.
            outputVolume: existing volume to receive the result (new-volume mode); None creates
                ``"<input name> inpainted"``.
            intensity: ``auto`` (the mapping recorded by the MONAI bundle of an RFR model, else ``ct``), ``ct`` (HU
                window ``window``) or ``percentile`` (0.5-99.5 percentiles, for MR).
            window: HU window mapped to [0, 1] in ``ct`` mode.
            batchSize: slices per inpainter call.
            progress: ``progress(done_slices, total_slices)``.
            cancel: returns True to stop; the scene is then left unchanged.
            runInSubprocess: run ``rfr-inpaint`` in a child process (:class:`RFRInpaintLib.runner.
                SubprocessInpainting`): progress arrives as JSON lines, cancel kills the process at once.
            pythonExecutable: interpreter of the child process (default: ``PythonSlicer`` in Slicer).

        Returns:
            the :class:`InpaintResult`.

        Raises:
            ValueError: missing / non-scalar input, unknown segment, bad axis or method, RFR without a model.
            rfr_inpaint.volume.InpaintingCancelled: ``cancel()`` returned True.
        """
        import slicer

        ensure_rfr_inpaint_importable()
        from rfr_inpaint.inpainters import intensity_for_model
        from rfr_inpaint.transforms.intensity import CTWindow, PercentileScale
        from rfr_inpaint.volume import inpaint_volume, slices_with_hole

        start = time.time()
        _checkScalarVolume(inputVolume)
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if method == "rfr" and not modelPath:
            raise ValueError("method 'rfr' needs a model file (RFR-Net checkpoint or MONAI bundle folder)")
        axis = numpyAxisForPlane(inputVolume, sliceAxis)
        if segmentationNode is not None:
            hole = holeFromSegment(inputVolume, segmentationNode, segmentId or "")
        else:
            hole = holeFromThreshold(inputVolume, metalThresholdHU)
        if intensity not in ("auto", "ct", "percentile"):
            raise ValueError(f"unknown intensity mapping {intensity!r}; choose auto, ct or percentile")
        mapping = intensity_for_model(modelPath) if intensity == "auto" and method == "rfr" else None
        if mapping is None:
            mapping = PercentileScale() if intensity == "percentile" else CTWindow(*window)
        original = np.array(slicer.util.arrayFromVolume(inputVolume))  # a copy: the input stays untouched until the end
        if runInSubprocess:
            result, used = self._runSubprocess(
                original,
                hole,
                _spacingKJI(inputVolume),
                method,
                modelPath,
                axis,
                marginMm,
                device,
                intensity,
                window,
                batchSize,
                progress,
                cancel,
                pythonExecutable,
            )
        else:
            options = {"batch_size": batchSize} if method == "rfr" else {}
            inpainter = self._factory()(
                method, model_path=modelPath if method == "rfr" else None, device=device, **options
            )
            result, used = inpaint_volume(
                original,
                hole,
                inpainter,
                axis=axis,
                spacing=_spacingKJI(inputVolume),
                margin_mm=marginMm,
                intensity=mapping,
                batch_size=batchSize,
                progress=progress,
                cancel=cancel,
            )

        backup = None
        if inPlace:
            backup = self._keepOriginal(inputVolume)
            target = inputVolume
        else:
            target = outputVolume
            if target is None or target is inputVolume:
                target = inputVolume.GetScene().AddNewNodeByClass(
                    "vtkMRMLScalarVolumeNode", f"{inputVolume.GetName()} inpainted"
                )
            self._copyGeometryAndDisplay(inputVolume, target)
        slicer.util.updateVolumeFromArray(target, result)
        target.Modified()
        seconds = time.time() - start
        processed = slices_with_hole(used, axis) if used.any() else np.zeros(0, dtype=np.int64)
        logger.info("RFR Inpaint: %s, %d voxels in %d slices, %.1f s", method, int(used.sum()), len(processed), seconds)
        return InpaintResult(target, backup, used, axis, processed, seconds)

    @staticmethod
    def _runSubprocess(
        volume: np.ndarray,
        hole: np.ndarray,
        spacing: tuple[float, float, float],
        method: str,
        modelPath: str | None,
        axis: int,
        marginMm: float,
        device: str,
        intensity: str,
        window: tuple[float, float],
        batchSize: int,
        progress: Callable[[int, int], Any] | None,
        cancel: Callable[[], bool] | None,
        pythonExecutable: str | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The same computation in a child ``rfr-inpaint`` process; returns ``(result, used_hole)``."""
        from rfr_inpaint.volume import dilate_mm

        from RFRInpaintLib.runner import SubprocessInpainting

        used = dilate_mm(hole, marginMm, spacing)
        if not used.any():
            return volume.copy(), used
        run = SubprocessInpainting(python=pythonExecutable)
        run.start(
            volume,
            hole,
            spacing,
            method=method,
            model_path=modelPath if method == "rfr" else None,
            axis=axis,
            margin_mm=marginMm,
            device=device,
            intensity=intensity,
            window=window,
            batch_size=batchSize,
        )
        return run.wait(progress=progress, cancel=cancel), used

    @staticmethod
    def _copyGeometryAndDisplay(source: Any, target: Any) -> None:
        target.CopyOrientation(source)  # spacing, origin, IJK-to-RAS directions
        target.SetAndObserveTransformNodeID(source.GetTransformNodeID())
        if target.GetDisplayNode() is None:
            target.CreateDefaultDisplayNodes()
        sourceDisplay, targetDisplay = source.GetDisplayNode(), target.GetDisplayNode()
        if sourceDisplay is not None and targetDisplay is not None:
            targetDisplay.SetAutoWindowLevel(sourceDisplay.GetAutoWindowLevel())
            targetDisplay.SetWindowLevel(sourceDisplay.GetWindow(), sourceDisplay.GetLevel())
            if sourceDisplay.GetColorNodeID():
                targetDisplay.SetAndObserveColorNodeID(sourceDisplay.GetColorNodeID())

    def _keepOriginal(self, volumeNode: Any) -> Any:
        """Hidden copy of ``volumeNode`` (only the first in-place run makes one: the very first original is kept)."""
        import vtk

        existing = self.originalVolume(volumeNode)
        if existing is not None:
            return existing
        scene = volumeNode.GetScene()
        backup = scene.CreateNodeByClass("vtkMRMLScalarVolumeNode")
        backup.UnRegister(None)
        backup.SetName(f"{volumeNode.GetName()} (original, before RFR Inpaint)")
        backup.SetHideFromEditors(True)
        backup.SetAttribute("SubjectHierarchy.ExcludeFromPotentialNodesList", "1")
        scene.AddNode(backup)
        backup.CopyOrientation(volumeNode)
        backup.SetAndObserveTransformNodeID(volumeNode.GetTransformNodeID())
        image = vtk.vtkImageData()
        image.DeepCopy(volumeNode.GetImageData())
        backup.SetAndObserveImageData(image)
        volumeNode.SetNodeReferenceID(ORIGINAL_REFERENCE_ROLE, backup.GetID())
        return backup

    @staticmethod
    def originalVolume(volumeNode: Any) -> Any:
        """The hidden original of a volume inpainted in place, or None."""
        return volumeNode.GetNodeReference(ORIGINAL_REFERENCE_ROLE) if volumeNode is not None else None

    def restoreOriginal(self, volumeNode: Any) -> bool:
        """Put back the voxels of a volume inpainted in place and remove the hidden copy.

        Args:
            volumeNode: a volume processed with ``inPlace=True``.

        Returns:
            True if an original was restored, False if the volume has none.
        """
        import vtk

        backup = self.originalVolume(volumeNode)
        if backup is None:
            return False
        image = vtk.vtkImageData()
        image.DeepCopy(backup.GetImageData())
        volumeNode.SetAndObserveImageData(image)
        volumeNode.RemoveNodeReferenceIDs(ORIGINAL_REFERENCE_ROLE)
        volumeNode.GetScene().RemoveNode(backup)
        volumeNode.Modified()
        return True

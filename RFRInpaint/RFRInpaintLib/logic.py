"""Inpainting of a Slicer scalar volume inside a segment (or above a metal threshold): the module's real logic.

No Qt here: it runs in Slicer, in ``PythonSlicer`` and in plain Python with the ``slicer-core`` wheel (where the
tests run). The computation itself is :func:`rfr_inpaint.volume.inpaint_volume`.

Array axes: ``slicer.util.arrayFromVolume`` gives ``(K, J, I)`` arrays, so NumPy axis 0 is the volume's K axis. The
slice axis is chosen by anatomical plane: ``axial`` (the IJK axis closest to S in the IJK-to-RAS directions),
``coronal`` (closest to A) or ``sagittal`` (closest to R); for a usual axial acquisition these are K, J and I, i.e.
NumPy axes 0, 1 and 2. ``K``, ``J`` and ``I`` select an IJK axis directly.

In place: the volume's voxels are replaced and the original is kept in a hidden clone (Slicer's volumes logic)
referenced from the volume (role :data:`ORIGINAL_REFERENCE_ROLE`, saved with the scene);
:meth:`RFRInpaintProcessor.restoreOriginal` puts it back. Geometry (spacing, origin, directions), scalar type and
every voxel outside the dilated mask are unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from RFRInpaintLib import ensure_rfr_inpaint_importable, moduleBundleDirs

ensure_rfr_inpaint_importable()
# the package's one list of methods and default method (rfr_inpaint.inpainters imports NumPy only, defaults nothing:
# no PyTorch / MONAI at module load)
from rfr_inpaint.defaults import DEFAULT_METHOD  # noqa: E402
from rfr_inpaint.inpainters import METHODS  # noqa: E402

__all__ = [
    "ORIGINAL_REFERENCE_ROLE",
    "SLICE_AXES",
    "METHODS",
    "InpaintOptions",
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
_RAS_INDEX = {"sagittal": 0, "coronal": 1, "axial": 2}
_IJK_INDEX = {"I": 0, "J": 1, "K": 2}

#: a volume's run: ``run(volume, hole, spacing, axis, margin_mm, progress, cancel) -> (result, used_hole)``
_Run = Callable[..., "tuple[np.ndarray, np.ndarray]"]


@dataclass
class InpaintOptions:
    """What :meth:`RFRInpaintProcessor.process` inpaints and how (the module's parameter node as plain values).

    Attributes:
        segmentationNode: ``vtkMRMLSegmentationNode`` holding the region; None: automatic metal threshold.
        segmentId: ID of the segment in ``segmentationNode``.
        metalThresholdHU: threshold of the automatic metal mask (None: ``rfr_inpaint.volume``'s default, 2500 HU).
        marginMm: the region is dilated by this distance in mm. None: the default of the region's source
            (``rfr_inpaint.defaults``: none around a segment, which is inpainted as drawn; 1 mm around a metal
            threshold, whose streaks and partial-volume voxels surround the metal).
        sliceAxis: ``axial`` (default), ``coronal``, ``sagittal``, ``K``, ``J``, ``I`` or a NumPy axis.
        method: one of :data:`METHODS` (the package's list; default ``rfr_inpaint.defaults.DEFAULT_METHOD``):
            ``rfr`` (RFR-Net) or a classical method; ``biharmonic3d``, ``biharmonic3d_mm`` (slices weighed by
            their distance in mm) and ``biharmonic3d_auto`` (that weighing chosen per volume) fill the region in 3D,
            the others slice by slice.
        modelPath: RFR-Net checkpoint or MONAI bundle folder; None: the project's shipped model
            (``rfr_inpaint.locations.shipped_model_path``).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        inPlace: replace the input's voxels (the original is kept in a hidden node) instead of a new volume.
        outputVolume: existing volume to receive the result (new-volume mode); None creates
            ``"<input name> inpainted"``.
        intensity: a mode of ``rfr_inpaint.defaults.INTENSITY_MODES``, resolved as every entry point resolves it
            (``rfr_inpaint.transforms.intensity.resolve_intensity``): ``auto`` (the mapping recorded by the MONAI
            bundle of an RFR model, else decided from the image), ``ct`` (HU window ``window``), ``percentile``
            (for MR) or ``range`` (the pixel type's range).
        window: HU window mapped to [0, 1] in ``ct`` mode (None: the package's default CT window).
        batchSize: slices per inpainter call.
        runInSubprocess: run ``rfr-inpaint`` in a child process (:class:`RFRInpaintLib.runner.SubprocessInpainting`):
            progress arrives as JSON lines, cancel kills the process tree at once.
        pythonExecutable: interpreter of the child process (default: ``PythonSlicer`` in Slicer).
        serverUrl: run on a MONAI Label server of the RFR Inpaint app (``monailabel_app/``), e.g.
            ``http://127.0.0.1:8000``: the volume and its region are uploaded, the server's model serves ``rfr``
            (``modelPath`` and ``device`` are the server's); None or empty: run here.
    """

    segmentationNode: Any = None
    segmentId: str | None = None
    metalThresholdHU: float | None = None
    marginMm: float | None = None
    sliceAxis: str | int = "axial"
    method: str = DEFAULT_METHOD
    modelPath: str | None = None
    device: str = "auto"
    inPlace: bool = False
    outputVolume: Any = None
    intensity: str = "auto"
    window: tuple[float, float] | None = None
    batchSize: int = 8
    runInSubprocess: bool = False
    pythonExecutable: str | None = None
    serverUrl: str | None = None

    @property
    def usesSegment(self) -> bool:
        """True when the region is a segment, False for the automatic metal threshold."""
        return self.segmentationNode is not None


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
    # Not slicer.util.arrayFromSegmentBinaryLabelmap: it exports into the application's scene (slicer.mrmlScene)
    # through slicer.modules.segmentations, which the slicer-core wheel the tests run on does not have, and it leaves
    # the temporary labelmap's display node in the scene (seen with slicer-core 5.13). Same export, in the volume's
    # own scene, everything temporary removed.
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


def holeFromThreshold(volumeNode: Any, thresholdHU: float | None = None) -> np.ndarray:
    """Voxels of the volume at or above ``thresholdHU`` (automatic metal mask), ``(K, J, I)`` bool.

    Args:
        volumeNode: the ``vtkMRMLScalarVolumeNode`` (HU).
        thresholdHU: the threshold (None: ``rfr_inpaint.volume.DEFAULT_METAL_THRESHOLD_HU``).

    Returns:
        the mask.
    """
    import slicer
    from rfr_inpaint.volume import DEFAULT_METAL_THRESHOLD_HU, metal_mask

    threshold = DEFAULT_METAL_THRESHOLD_HU if thresholdHU is None else float(thresholdHU)
    return metal_mask(slicer.util.arrayFromVolume(volumeNode), threshold)


def _rfrModelPath(options: InpaintOptions) -> str:
    """The RFR-Net model of a run here: ``options.modelPath``, else the project's shipped model.

    Raises:
        ValueError: no model file given and no shipped model (the message names the folders looked at).
    """
    if options.modelPath:
        return str(options.modelPath)
    from rfr_inpaint.locations import shipped_model_path

    try:
        return str(shipped_model_path(extra_dirs=moduleBundleDirs()))
    except FileNotFoundError as e:
        raise ValueError(f"method 'rfr' needs a model file (RFR-Net checkpoint or MONAI bundle folder): {e}") from e


class RFRInpaintProcessor:
    """Runs the inpainting of a volume node; the Slicer module's logic delegates to it.

    Args:
        inpainterFactory: builds an inpainter from ``(method, model_path, device, **options)`` (default
            :func:`rfr_inpaint.inpainters.get_inpainter`); tests may wrap it to observe the calls.
    """

    def __init__(self, inpainterFactory: Callable[..., Any] | None = None):
        self.inpainterFactory = inpainterFactory

    def process(
        self,
        inputVolume: Any,
        options: InpaintOptions | None = None,
        progress: Callable[[int, int], Any] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> InpaintResult:
        """Inpaint ``inputVolume`` inside a segment, or above the metal threshold when no segment is given.

        The scene is only changed at the end (the last step): a cancelled or failed run leaves it as it was.

        Args:
            inputVolume: ``vtkMRMLScalarVolumeNode`` (HU for CT).
            options: what to inpaint and how (default :class:`InpaintOptions`).
            progress: ``progress(done_slices, total_slices)``.
            cancel: returns True to stop; the scene is then left unchanged.

        Returns:
            the :class:`InpaintResult`.

        Raises:
            ValueError: missing / non-scalar input, unknown segment, bad axis or method, RFR without a model file
                and no shipped model.
            rfr_inpaint.volume.InpaintingCancelled: ``cancel()`` returned True.
        """
        ensure_rfr_inpaint_importable()
        from rfr_inpaint.volume import slices_with_hole

        options = options or InpaintOptions()
        start = time.time()
        self._checkRequest(inputVolume, options)
        axis = numpyAxisForPlane(inputVolume, options.sliceAxis)
        volume = self._loadVolume(inputVolume)
        hole = self._buildHole(inputVolume, options)
        run = self._buildRun(options)
        result, used = run(
            volume, hole, _spacingKJI(inputVolume), axis, self._marginMm(options), progress=progress, cancel=cancel
        )
        target, backup = self._writeResult(inputVolume, result, options)
        seconds = time.time() - start
        processed = slices_with_hole(used, axis) if used.any() else np.zeros(0, dtype=np.int64)
        logger.info(
            "RFR Inpaint: %s, %d voxels in %d slices, %.1f s", options.method, int(used.sum()), len(processed), seconds
        )
        return InpaintResult(target, backup, used, axis, processed, seconds)

    # --- the steps of a run ------------------------------------------------------------------------------------------
    @staticmethod
    def _checkRequest(inputVolume: Any, options: InpaintOptions) -> None:
        """Refuse what cannot run, before anything is computed."""
        _checkScalarVolume(inputVolume)
        if options.method not in METHODS:
            raise ValueError(f"unknown method {options.method!r}; choose one of {', '.join(METHODS)}")
        from rfr_inpaint.defaults import INTENSITY_MODES

        if options.intensity not in INTENSITY_MODES:
            raise ValueError(
                f"unknown intensity mapping {options.intensity!r}; choose one of {', '.join(INTENSITY_MODES)}"
            )
        if options.method == "rfr" and not options.serverUrl:
            _rfrModelPath(options)  # the shipped model when none is given: refused now if there is none

    @staticmethod
    def _loadVolume(inputVolume: Any) -> np.ndarray:
        """The voxels as a ``(K, J, I)`` copy: the input node stays untouched until the result is written."""
        import slicer

        return np.array(slicer.util.arrayFromVolume(inputVolume))

    @staticmethod
    def _buildHole(inputVolume: Any, options: InpaintOptions) -> np.ndarray:
        """The region to fill, before the margin: the segment, or the metal threshold."""
        if options.usesSegment:
            return holeFromSegment(inputVolume, options.segmentationNode, options.segmentId or "")
        return holeFromThreshold(inputVolume, options.metalThresholdHU)

    @staticmethod
    def _marginMm(options: InpaintOptions) -> float:
        if options.marginMm is not None:
            return float(options.marginMm)
        from rfr_inpaint.defaults import MASK_MARGIN_MM, THRESHOLD_MARGIN_MM

        return MASK_MARGIN_MM if options.usesSegment else THRESHOLD_MARGIN_MM

    @staticmethod
    def _window(options: InpaintOptions) -> tuple[float, float]:
        if options.window is not None:
            return float(options.window[0]), float(options.window[1])
        from rfr_inpaint.defaults import DEFAULT_CT_WINDOW

        return DEFAULT_CT_WINDOW

    def _buildRun(self, options: InpaintOptions) -> _Run:
        """The method as a run of one volume: in this process, or in a child ``rfr-inpaint`` process."""
        if options.serverUrl:
            return self._serverRun(options)
        return self._subprocessRun(options) if options.runInSubprocess else self._inProcessRun(options)

    def _inProcessRun(self, options: InpaintOptions) -> _Run:
        from rfr_inpaint.transforms.intensity import resolve_intensity
        from rfr_inpaint.volume import inpaint_volume

        isRFR = options.method == "rfr"
        modelPath = _rfrModelPath(options) if isRFR else None
        mapping = resolve_intensity(options.intensity, model_path=modelPath, window=self._window(options))
        factory = self.inpainterFactory
        if factory is None:
            from rfr_inpaint.inpainters import get_inpainter as factory
        inpainter = factory(
            options.method,
            model_path=modelPath,
            device=options.device,
            **({"batch_size": options.batchSize} if isRFR else {}),
        )

        def run(volume, hole, spacing, axis, marginMm, progress=None, cancel=None):
            return inpaint_volume(
                volume,
                hole,
                inpainter,
                axis=axis,
                spacing=spacing,
                margin_mm=marginMm,
                intensity=mapping,
                batch_size=options.batchSize,
                progress=progress,
                cancel=cancel,
            )

        return run

    def _subprocessRun(self, options: InpaintOptions) -> _Run:
        from rfr_inpaint.volume import dilate_mm

        from RFRInpaintLib.runner import SubprocessInpainting

        def run(volume, hole, spacing, axis, marginMm, progress=None, cancel=None):
            used = dilate_mm(hole, marginMm, spacing)
            if not used.any():
                return volume.copy(), used
            child = SubprocessInpainting(python=options.pythonExecutable)
            child.start(
                volume,
                hole,
                spacing,
                method=options.method,
                model_path=_rfrModelPath(options) if options.method == "rfr" else None,
                axis=axis,
                margin_mm=marginMm,
                device=options.device,
                intensity=options.intensity,
                window=self._window(options),
                batch_size=options.batchSize,
            )
            return child.wait(progress=progress, cancel=cancel), used

        return run

    def _serverRun(self, options: InpaintOptions) -> _Run:
        """The same computation on a MONAI Label server (:mod:`RFRInpaintLib.monailabel_client`)."""
        from rfr_inpaint.volume import InpaintingCancelled, dilate_mm, slices_with_hole

        from RFRInpaintLib.monailabel_client import InpaintingServerClient, ServerError

        client = InpaintingServerClient(options.serverUrl)

        def run(volume, hole, spacing, axis, marginMm, progress=None, cancel=None):
            used = dilate_mm(hole, marginMm, spacing)
            if not used.any():
                return volume.copy(), used
            total = len(slices_with_hole(used, axis))
            if progress is not None:
                progress(0, total)
            if cancel is not None and cancel():  # one request: it can only be cancelled before it is sent
                raise InpaintingCancelled("inpainting cancelled before the request was sent")
            params = {"margin_mm": marginMm, "axis": axis, "intensity": options.intensity}
            params.update(window=list(self._window(options)), batch_size=options.batchSize)
            result, info = client.inpaint_array(volume, hole, spacing, options.method, params)
            if info.get("hole_voxels") != int(used.sum()):
                raise ServerError(200, f"the server filled {info.get('hole_voxels')} voxels, not {int(used.sum())}")
            if progress is not None:
                progress(total, total)
            return result, used

        return run

    def _writeResult(self, inputVolume: Any, result: np.ndarray, options: InpaintOptions) -> tuple[Any, Any]:
        """Resolve the output node and write the result into it; returns ``(target, hidden original or None)``."""
        import slicer

        backup = None
        if options.inPlace:
            backup = self._keepOriginal(inputVolume)
            target = inputVolume
        else:
            target = options.outputVolume
            if target is None or target is inputVolume:
                target = inputVolume.GetScene().AddNewNodeByClass(
                    "vtkMRMLScalarVolumeNode", f"{inputVolume.GetName()} inpainted"
                )
            self._copyGeometryAndDisplay(inputVolume, target)
        slicer.util.updateVolumeFromArray(target, result)
        target.Modified()
        return target, backup

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

    # --- the hidden original of an in-place run ----------------------------------------------------------------------
    def _keepOriginal(self, volumeNode: Any) -> Any:
        """Hidden clone of ``volumeNode`` (only the first in-place run makes one: the very first original is kept)."""
        import slicer

        existing = self.originalVolume(volumeNode)
        if existing is not None:
            return existing
        scene = volumeNode.GetScene()
        # the volumes logic clones geometry, parent transform, attributes and a deep copy of the voxels
        backup = slicer.vtkSlicerVolumesLogic.CloneVolume(
            scene, volumeNode, f"{volumeNode.GetName()} (original, before RFR Inpaint)"
        )
        backup.SetHideFromEditors(True)
        backup.SetAttribute("SubjectHierarchy.ExcludeFromPotentialNodesList", "1")
        volumeNode.SetNodeReferenceID(ORIGINAL_REFERENCE_ROLE, backup.GetID())
        return backup

    @staticmethod
    def originalVolume(volumeNode: Any) -> Any:
        """The hidden original of a volume inpainted in place, or None."""
        return volumeNode.GetNodeReference(ORIGINAL_REFERENCE_ROLE) if volumeNode is not None else None

    def restoreOriginal(self, volumeNode: Any) -> bool:
        """Put back the voxels of a volume inpainted in place and remove the hidden copy (and its display nodes).

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
        scene = volumeNode.GetScene()
        displayNodes = [backup.GetNthDisplayNode(i) for i in range(backup.GetNumberOfDisplayNodes())]
        scene.RemoveNode(backup)
        for displayNode in displayNodes:
            if displayNode is not None and scene.IsNodePresent(displayNode):
                scene.RemoveNode(displayNode)
        volumeNode.Modified()
        return True

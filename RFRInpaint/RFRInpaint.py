"""RFR Inpaint: 3D Slicer module that inpaints a segmented region (e.g. metal) of a CT volume with RFR-Net.

Thin Slicer / Qt layer: the computation is in ``RFRInpaintLib`` (no Qt), which calls the ``rfr_inpaint`` package
shared with the MONAI bundle and the ``rfr-inpaint`` command.
"""

from __future__ import annotations

import pathlib
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from RFRInpaintLib import ensure_rfr_inpaint_importable, moduleBundleDirs
from RFRInpaintLib.logic import METHODS, SLICE_AXES, InpaintOptions, InpaintResult, RFRInpaintProcessor

ensure_rfr_inpaint_importable()
from rfr_inpaint.defaults import DEFAULT_METHOD, MASK_MARGIN_MM, THRESHOLD_MARGIN_MM  # noqa: E402 (imports nothing)


#
# RFRInpaint
#


class RFRInpaint(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel and Help & Acknowledgement section."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("RFR Inpaint")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Filtering")]
        self.parent.dependencies = ["Segmentations"]
        self.parent.contributors = ["RFR Inpaint developers"]
        self.parent.helpText = _("""
Fill a region of a volume (typically metal and its streaks in CT) with plausible anatomy, slice by slice, with
RFR-Net (Recurrent Feature Reasoning) or a classical method (biharmonic, Telea, Navier-Stokes, mean; biharmonic3d
fills the region in 3D, from the neighbouring slices too; biharmonic3d_mm weighs those slices by their distance in mm;
biharmonic3d_auto chooses that weighing from the known voxels around the region, at several times the time).
Select the input volume and a segment (or use the automatic metal threshold), the margin in mm, the slice axis and
the method, then Apply. By default a new volume is created; "in place" keeps the original in a hidden node that
"Restore original" brings back. Voxels outside the dilated region are never changed.
See <a href="https://github.com/rfr-inpaint/rfr-inpaint/blob/main/docs/slicer_user_guide.md">the user guide</a>.
""")
        self.parent.acknowledgementText = _("""
RFR-Net: J. Li, N. Wang, L. Zhang, B. Du, D. Tao, "Recurrent Feature Reasoning for Image Inpainting", CVPR 2020.
Medical application study: Goyal and Kumar, "Recurrent Feature Reasoning in Medical Image Inpainting" (CS736).
Built on MONAI, PyTorch, SimpleITK and scikit-image; module layout after the Slicer extension templates.
""")


#
# RFRInpaintParameterNode
#


@parameterNodeWrapper
class RFRInpaintParameterNode:
    """Parameters of the module, saved with the scene.

    inputVolume - volume to inpaint (HU for CT).
    segmentationNode / segmentId - region to inpaint; no segmentation: voxels >= metalThresholdHU.
    metalThresholdHU - automatic metal threshold.
    marginMm - dilation of the region in mm (set to the source's default when the source changes: none around a
        segment, which is inpainted as drawn; THRESHOLD_MARGIN_MM around the metal threshold).
    sliceAxis - plane of the 2D slices given to the inpainter.
    method / modelPath / device - inpainting method (default: the package's DEFAULT_METHOD), RFR-Net model file or
        bundle folder (empty: the shipped model), compute device.
    runInSubprocess - run in a PythonSlicer child process (responsive GUI, immediate cancel).
    serverUrl - run on a MONAI Label server of the RFR Inpaint app (its model serves rfr); empty: run here.
    inPlace - overwrite the input (original kept hidden) instead of writing outputVolume.
    outputVolume - result volume (created when empty).
    """

    inputVolume: vtkMRMLScalarVolumeNode
    segmentationNode: vtkMRMLSegmentationNode
    segmentId: str = ""
    metalThresholdHU: Annotated[float, WithinRange(-1024.0, 30000.0)] = 2500.0
    marginMm: Annotated[float, WithinRange(0.0, 50.0)] = THRESHOLD_MARGIN_MM  # no segment at first: the threshold
    sliceAxis: Annotated[str, Choice(list(SLICE_AXES))] = "axial"
    method: Annotated[str, Choice(list(METHODS))] = DEFAULT_METHOD
    modelPath: pathlib.Path
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    runInSubprocess: bool = False
    serverUrl: str = ""
    inPlace: bool = False
    outputVolume: vtkMRMLScalarVolumeNode


def _modelPath(node: RFRInpaintParameterNode) -> str | None:
    """The model file of the parameter node, or None when the path field is empty."""
    path = str(node.modelPath) if node.modelPath is not None else ""
    return path if path not in ("", ".") else None


def _hasShippedModel() -> bool:
    """Whether the project's shipped RFR-Net model is there (method rfr then needs no model file)."""
    from rfr_inpaint.locations import shipped_model_path

    try:
        shipped_model_path(extra_dirs=moduleBundleDirs())
    except FileNotFoundError:
        return False
    return True


def optionsFromParameterNode(node: RFRInpaintParameterNode) -> InpaintOptions:
    """The run's options from the panel's parameters (a segmentation without a chosen segment: metal threshold)."""
    return InpaintOptions(
        segmentationNode=node.segmentationNode if node.segmentId else None,
        segmentId=node.segmentId or None,
        metalThresholdHU=node.metalThresholdHU,
        marginMm=node.marginMm,
        sliceAxis=node.sliceAxis,
        method=node.method,
        modelPath=_modelPath(node),
        device=node.device,
        inPlace=node.inPlace,
        outputVolume=None if node.inPlace else node.outputVolume,
        runInSubprocess=node.runInSubprocess,
        serverUrl=node.serverUrl.strip() or None,
    )


#
# RFRInpaintWidget
#


class RFRInpaintWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Panel: loads Resources/UI/RFRInpaint.ui, binds it to the parameter node, runs the logic with a progress
    dialog."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/RFRInpaint.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = RFRInpaintLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        # the segment selector is not bound by name (segment IDs are not nodes): synchronised by hand
        self.ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentChanged)
        self.ui.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentationChanged)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.restoreButton.connect("clicked(bool)", self.onRestoreButton)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolume:
                self._parameterNode.inputVolume = firstVolume

    def setParameterNode(self, inputParameterNode: RFRInpaintParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self.ui.segmentSelector.setCurrentNode(self._parameterNode.segmentationNode)
            self.ui.segmentSelector.setCurrentSegmentID(self._parameterNode.segmentId)
            self._checkCanApply()

    def onSegmentationChanged(self, node) -> None:
        if self._parameterNode:
            self._parameterNode.segmentationNode = node

    def onSegmentChanged(self, segmentId: str) -> None:
        if self._parameterNode:
            hadSegment = bool(self._parameterNode.segmentId)
            self._parameterNode.segmentId = segmentId or ""
            if hadSegment != bool(segmentId):  # the region's source changed: its own default margin
                self._parameterNode.marginMm = MASK_MARGIN_MM if segmentId else THRESHOLD_MARGIN_MM

    def _checkCanApply(self, caller=None, event=None) -> None:
        node = self._parameterNode
        # on a server, the server's model serves rfr; here, a model file or the shipped model
        ready = bool(
            node
            and node.inputVolume
            and (node.method != "rfr" or _modelPath(node) or node.serverUrl.strip() or _hasShippedModel())
        )
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = (
            _("Inpaint the region") if ready else _("Select an input volume (and a model file for the RFR method)")
        )
        hasOriginal = bool(node and node.inputVolume and self.logic.originalVolume(node.inputVolume))
        self.ui.restoreButton.enabled = hasOriginal
        self.ui.thresholdSpinBox.enabled = bool(node and not (node.segmentationNode and node.segmentId))

    def onApplyButton(self) -> None:
        from RFRInpaintLib.dependencies import ensure_dependencies

        with slicer.util.tryWithErrorDisplay(_("Failed to inpaint the volume."), waitCursor=True):
            ensure_dependencies(confirm=lambda text: slicer.util.confirmOkCancelDisplay(text, _("RFR Inpaint")))
            node = self._parameterNode
            dialog = slicer.util.createProgressDialog(
                labelText=_("Inpainting slices..."), maximum=100, windowTitle=_("RFR Inpaint")
            )
            dialog.setCancelButtonText(_("Cancel"))

            def cancel() -> bool:
                slicer.app.processEvents()  # keeps the dialog (and its Cancel button) alive while a child process runs
                return dialog.wasCanceled

            def progress(done: int, total: int) -> None:
                dialog.setValue(int(100 * done / max(total, 1)))
                dialog.setLabelText(_("Inpainting slices: {done} / {total}").format(done=done, total=total))
                slicer.app.processEvents()

            try:
                result = self.logic.process(
                    node.inputVolume, optionsFromParameterNode(node), progress=progress, cancel=cancel
                )
            finally:
                dialog.close()
            if not node.inPlace:
                node.outputVolume = result.outputVolume
            slicer.util.setSliceViewerLayers(background=result.outputVolume)
            self.ui.statusLabel.text = _("{n} slices inpainted in {s:.1f} s").format(
                n=len(result.processedSlices), s=result.seconds
            )
            self._checkCanApply()

    def onRestoreButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to restore the original."), waitCursor=True):
            if self.logic.restoreOriginal(self._parameterNode.inputVolume):
                self.ui.statusLabel.text = _("Original voxels restored")
            self._checkCanApply()


#
# RFRInpaintLogic
#


class RFRInpaintLogic(ScriptedLoadableModuleLogic):
    """Slicer logic: owns the parameter node; the processing is delegated to RFRInpaintLib (GUI-free, tested in CI)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.processor = RFRInpaintProcessor()

    def getParameterNode(self) -> RFRInpaintParameterNode:
        return RFRInpaintParameterNode(super().getParameterNode())

    def process(
        self,
        inputVolume: vtkMRMLScalarVolumeNode,
        options: InpaintOptions | None = None,
        progress=None,
        cancel=None,
    ) -> InpaintResult:
        """Inpaint ``inputVolume`` (see ``RFRInpaintLib.logic.RFRInpaintProcessor.process``).

        Args:
            inputVolume: the volume to inpaint.
            options: what to inpaint and how (``RFRInpaintLib.logic.InpaintOptions``; default: its defaults).
            progress: ``progress(done_slices, total_slices)``.
            cancel: returns True to stop (the scene is then left unchanged).

        Returns:
            the ``InpaintResult``.
        """
        return self.processor.process(inputVolume, options, progress=progress, cancel=cancel)

    def originalVolume(self, volumeNode: vtkMRMLScalarVolumeNode):
        """The hidden original of a volume inpainted in place, or None."""
        return self.processor.originalVolume(volumeNode)

    def restoreOriginal(self, volumeNode: vtkMRMLScalarVolumeNode) -> bool:
        """Undo an in-place run (see ``RFRInpaintProcessor.restoreOriginal``)."""
        return self.processor.restoreOriginal(volumeNode)


#
# RFRInpaintTest
#


class RFRInpaintTest(ScriptedLoadableModuleTest):
    """Self-test run inside Slicer (Reload and Test): a synthetic CT with metal, a segment, both output modes."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_RFRInpaint_synthetic_metal()

    def test_RFRInpaint_synthetic_metal(self) -> None:
        import numpy as np

        from RFRInpaintLib import ensure_rfr_inpaint_importable
        from RFRInpaintLib.dependencies import ensure_dependencies

        ensure_dependencies(confirm=lambda text: slicer.util.confirmOkCancelDisplay(text, "RFR Inpaint self-test"))
        ensure_rfr_inpaint_importable()
        from rfr_inpaint.data.synthetic import insert_metal, synthetic_ct_volume

        self.delayDisplay("Creating a synthetic CT with metal")
        truth, spacing = synthetic_ct_volume((8, 64, 64), seed=1, spacing=(3.0, 1.5, 1.5))
        withMetal, metal = insert_metal(truth, seed=2, n_objects=2, slices=[3, 4], spacing=spacing)
        volume = slicer.util.addVolumeFromArray(np.rint(withMetal).astype(np.int16), name="SyntheticCT")
        volume.SetSpacing(spacing[2], spacing[1], spacing[0])
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Metal")
        segmentation.CreateDefaultDisplayNodes()
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
        segmentId = segmentation.GetSegmentation().AddEmptySegment("metal")
        slicer.util.updateSegmentBinaryLabelmapFromArray(metal.astype(np.uint8), segmentation, segmentId, volume)

        self.delayDisplay("Inpainting into a new volume")
        logic = RFRInpaintLogic()
        before = slicer.util.arrayFromVolume(volume).copy()
        result = logic.process(
            volume,
            InpaintOptions(segmentationNode=segmentation, segmentId=segmentId, method="biharmonic", marginMm=2.0),
        )
        after = slicer.util.arrayFromVolume(result.outputVolume)
        self.assertEqual(after.dtype, before.dtype)
        self.assertTrue(np.array_equal(after[~result.usedMask], before[~result.usedMask]))
        self.assertEqual(list(result.processedSlices), [3, 4])
        inside = result.usedMask
        self.assertLess(np.abs(after[inside] - truth[inside]).mean(), np.abs(before[inside] - truth[inside]).mean())

        self.delayDisplay("Inpainting in place and restoring")
        logic.process(
            volume,
            InpaintOptions(segmentationNode=segmentation, segmentId=segmentId, method="biharmonic", inPlace=True),
        )
        self.assertIsNotNone(logic.originalVolume(volume))
        self.assertTrue(logic.restoreOriginal(volume))
        self.assertTrue(np.array_equal(slicer.util.arrayFromVolume(volume), before))
        self.delayDisplay("Test passed")

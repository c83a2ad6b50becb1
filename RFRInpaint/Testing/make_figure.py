"""Make the before / after / difference figure of the Slicer user guide from the synthetic CT.

Runs the module's own logic (``RFRInpaintLib.logic.RFRInpaintProcessor``) on a real MRML scene (3D Slicer's Python,
or plain Python with the ``slicer-core`` wheel): a synthetic CT volume with inserted metal, a segmentation node whose
segment is the metal, a 1 mm margin and a classical method (no trained model is needed), or RFR-Net with ``--model``.

Usage::

    python RFRInpaint/Testing/make_figure.py docs/images/slicer_before_after.png [--method biharmonic] [--model FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

MODULE_DIR = Path(__file__).resolve().parents[1]
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))


def build_scene(shape=(16, 160, 160), spacing=(2.5, 1.0, 1.0), seed=7):
    """A scene holding the synthetic CT with metal and a metal segment; returns (scene, volume, seg, id, truth)."""
    import slicer

    from RFRInpaintLib import ensure_rfr_inpaint_importable

    ensure_rfr_inpaint_importable()
    from rfr_inpaint.data.synthetic import insert_metal, synthetic_ct_volume

    truth, spacing = synthetic_ct_volume(shape, seed=seed, spacing=spacing, noise_std=8.0)
    middle = shape[0] // 2
    with_metal, metal = insert_metal(
        truth, seed=seed + 1, n_objects=3, slices=[middle - 1, middle, middle + 1], size_mm=(4.0, 10.0), spacing=spacing
    )
    truth = np.rint(truth).astype(np.int16)
    with_metal = np.rint(with_metal).astype(np.int16)
    scene = slicer.vtkMRMLScene()
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "SyntheticCT")
    slicer.util.updateVolumeFromArray(volume, with_metal)
    volume.SetSpacing(*reversed(spacing))
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "metal")
    labelmap.CopyOrientation(volume)
    slicer.util.updateVolumeFromArray(labelmap, metal.astype(np.uint8))
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Metal")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    scene.RemoveNode(labelmap)
    return scene, volume, segmentation, segmentation.GetSegmentation().GetNthSegmentID(0), truth


def make_figure(output: Path, method: str = "biharmonic", model: str | None = None) -> dict[str, float]:
    """Inpaint the synthetic CT through the module logic and save the figure.

    Args:
        output: PNG file to write.
        method: inpainting method.
        model: RFR-Net model file (method ``rfr``).

    Returns:
        mean absolute errors (HU) to the metal-free volume inside the dilated mask, before and after.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import slicer

    from RFRInpaintLib.logic import InpaintOptions, RFRInpaintProcessor
    from rfr_inpaint.safe_io import atomic_path

    scene, volume, segmentation, segment_id, truth = build_scene()
    before = np.array(slicer.util.arrayFromVolume(volume))
    options = InpaintOptions(
        segmentationNode=segmentation, segmentId=segment_id, marginMm=1.0, method=method, modelPath=model
    )
    result = RFRInpaintProcessor().process(volume, options)
    after = np.array(slicer.util.arrayFromVolume(result.outputVolume))
    used = result.usedMask
    k = int(result.processedSlices[len(result.processedSlices) // 2])
    errors = {
        "before": float(np.abs(before[used].astype(float) - truth[used]).mean()),
        "after": float(np.abs(after[used].astype(float) - truth[used]).mean()),
    }
    window = dict(cmap="gray", vmin=-300, vmax=500)
    panels = [
        (truth[k], "metal-free synthetic CT", window),
        (before[k], "before: metal (outline: segment + 1 mm)", window),
        (after[k], f"after: {method}", window),
        (
            after[k].astype(float) - before[k],
            "difference after - before (HU)",
            dict(cmap="coolwarm", vmin=-3000, vmax=3000),
        ),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(14, 4))
    for ax, (image, title, style) in zip(axes, panels, strict=True):
        shown = ax.imshow(image, **style)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    axes[1].contour(used[k], levels=[0.5], colors="yellow", linewidths=0.8)
    fig.colorbar(shown, ax=axes[3], fraction=0.046, pad=0.04)
    fig.suptitle(
        f"RFR Inpaint on a synthetic CT, slice {k}: mean |error| to the metal-free volume inside the mask "
        f"{errors['before']:.0f} HU before, {errors['after']:.0f} HU after",
        fontsize=11,
    )
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="PNG file to write")
    parser.add_argument("--method", default="biharmonic", help="inpainting method (default biharmonic)")
    parser.add_argument("--model", help="RFR-Net model file for --method rfr")
    args = parser.parse_args(argv)
    errors = make_figure(args.output, args.method, args.model)
    print(
        f"wrote {args.output}; mean |error| in mask: {errors['before']:.1f} HU before, {errors['after']:.1f} HU after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

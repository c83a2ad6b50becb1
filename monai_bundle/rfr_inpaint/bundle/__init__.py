"""The building blocks the bundle's configs (``monai_bundle/configs``) name, by role.

* :mod:`~rfr_inpaint.bundle.stage_data`: the dataset of each stage (synthetic or files, split, frozen masks);
* :mod:`~rfr_inpaint.bundle.weights`: loading an earlier stage's (or the authors') weights;
* :mod:`~rfr_inpaint.bundle.image_files`: MONAI reader, writer and folder layout of :mod:`rfr_inpaint.image_io`;
* :mod:`~rfr_inpaint.bundle.inference_pipeline`: the pieces of ``inference.json`` MONAI does not provide.

The training and evaluation iterations are :mod:`rfr_inpaint.engines`, their handlers :mod:`rfr_inpaint.handlers`.
"""

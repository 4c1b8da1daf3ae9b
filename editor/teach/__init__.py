"""Teachable classifier: a dataset of classes on disk, a trained model, its exports.

The package is Qt-free and imports torch only inside functions, so the CLI and
the editor start fast.

- :mod:`editor.teach.dataset` -- the project folder (one subfolder of images per
  class plus a JSON manifest), import, capture, stratified split.
- :mod:`editor.teach.images` -- reading a class image as a square RGB input.
- :mod:`editor.teach.augment` -- augmentation built from the editor's registered ops.
- :mod:`editor.teach.backbones` -- the frozen EfficientNet-Lite0 and the small CNN fallback.
- :mod:`editor.teach.features` -- features computed once per image, cached on disk.
- :mod:`editor.teach.config` -- the training settings, declared once with their bounds.
- :mod:`editor.teach.train` -- training the head (or the small CNN) with live history.
- :mod:`editor.teach.model` -- the trained model: predict, save/load, TorchScript/ONNX.
- :mod:`editor.teach.predict` -- many files to CSV, one image with its Grad-CAM.
- :mod:`editor.teach.robustness` -- FGSM and editor-op sweeps against the user's model.
- :mod:`editor.teach.explain` -- Grad-CAM on the user's model.
"""

DEFAULT_CLASSES = ("Class 1", "Class 2")

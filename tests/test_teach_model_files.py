"""Model files are untrusted input: every field of the description is bounded, and the
tensor table is checked against it, before anything is allocated.

The hostile files are built here the way an attacker would: a real (small) model
saved by Convolve, then its JSON description or tensors rewritten.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.cli import main
from editor.core.context import OpError
from editor.teach.backbones import build_net
from editor.teach.model import META_KEY, TeachModel, read_meta

safetensors_numpy = pytest.importorskip("safetensors.numpy")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    net = build_net("small_cnn", 3, 16)  # a hidden layer, so both head shapes exist
    model = TeachModel(net, {"class_names": ["cat", "coffee", "person"],
                             "backbone": "small_cnn", "hidden": 16, "fine_tuned": False})
    return model.save(tmp_path_factory.mktemp("model") / "pets.safetensors")


def _rewrite(src: Path, dst: Path, meta_change=None, tensor_change=None) -> Path:
    """Copy a model file, editing its description and/or tensors."""
    meta = read_meta(src)
    tensors = safetensors_numpy.load_file(str(src))
    if meta_change:
        meta_change(meta)
    if tensor_change:
        tensor_change(tensors)
    safetensors_numpy.save_file(tensors, str(dst), metadata={META_KEY: json.dumps(meta)})
    return dst


def _set(path: str, value):
    def change(meta):
        *parents, key = path.split(".")
        target = meta
        for p in parents:
            target = target.setdefault(p, {})
        target[key] = value
    return change


def test_a_saved_model_loads(model_file):
    model = TeachModel.load(model_file)
    assert model.class_names == ["cat", "coffee", "person"] and model.size == 96


HOSTILE = [
    # (what, meta change, words the one-sentence message must hold)
    ("huge input size", _set("input.size", 12000), "input size 12000"),
    ("huge hidden layer", _set("hidden", 1e9), "hidden layer size 1000000000.0"),
    ("hidden as an int", _set("hidden", 10**9), "from 0 to 4096"),
    ("negative hidden", _set("hidden", -1), "hidden layer size -1"),
    ("hidden as text", _set("hidden", "16"), "hidden layer size '16'"),
    ("two thousand classes", _set("class_names", [f"c{i}" for i in range(2000)]),
     "2,000 classes"),
    ("a 10 MB description", _set("notes", ["x" * 100] * 100_000), "10,"),
    ("no classes", _set("class_names", []), "no list of class names"),
    ("class names not text", _set("class_names", [1, 2, 3]), "class names must be text"),
    ("unknown backbone", _set("backbone", "resnet9000"), "unknown backbone 'resnet9000'"),
    ("std of zero", _set("input.std", [0, 0, 0]), "input std"),
    ("mean not numbers", _set("input.mean", ["a", "b", "c"]), "input mean"),
    ("description not a table", lambda m: m.update(input=[1, 2]), "input description"),
    ("format from the future", _set("format_version", 99), "newer Convolve"),
]


@pytest.mark.parametrize("what,change,words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_description_refused_in_one_sentence(model_file, tmp_path, what, change,
                                                     words):
    bad = _rewrite(model_file, tmp_path / "bad.safetensors", meta_change=change)
    with pytest.raises(OpError) as e:
        TeachModel.load(bad)
    text = str(e.value)
    assert words in text and text.startswith("bad.safetensors ") and "\n" not in text, text


def test_tensor_shapes_must_match_the_description(model_file, tmp_path):
    # four classes claimed, three in the tensors: refused before a network is built
    bad = _rewrite(model_file, tmp_path / "bad.safetensors",
                   meta_change=_set("class_names", ["a", "b", "c", "d"]))
    with pytest.raises(OpError, match=r"tensor head\.4\.weight is of shape \[3, 16\], "
                                      r"expected \[4, 16\]"):
        TeachModel.load(bad)

    def stray(tensors):
        tensors["trunk.evil"] = np.zeros(4, np.float32)
    bad = _rewrite(model_file, tmp_path / "stray.safetensors", tensor_change=stray)
    with pytest.raises(OpError, match="tensors a classifier does not have"):
        TeachModel.load(bad)


def test_damaged_file_message_has_no_raw_library_text(model_file, tmp_path):
    data = model_file.read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(OpError) as e:
        TeachModel.load(bad)
    assert str(e.value) == ("cut.safetensors is not a Convolve model file (.safetensors) or "
                            "it is damaged")


def test_predict_with_a_hostile_model_exits_2_at_once(model_file, tmp_path, capsys,
                                                      astronaut):
    """Before: input.size=12000 made `convolve predict` on a 200x200 photo take 5.9 GB."""
    bad = _rewrite(model_file, tmp_path / "big.safetensors",
                   meta_change=_set("input.size", 12000))
    photo = tmp_path / "p.png"
    Image.fromarray(astronaut[:200, :200]).save(photo)
    assert main(["predict", str(bad), str(photo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("convolve: error: big.safetensors is not a "
                                               "usable classifier: its input size 12000"), err

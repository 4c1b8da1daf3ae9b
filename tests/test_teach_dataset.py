"""Classifier dataset on disk, stratified split and augmentation (no torch, no Qt)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import load_photo

from editor.core.context import OpError
from editor.teach.augment import AugmentConfig, augment, available_steps, preview_grid, sample_rng
from editor.teach.dataset import MANIFEST, Dataset, stratified_split
from editor.teach.images import read_rgb, square_input

OFF = dict(flip=0.0, rotate=0.0, brightness=0.0, contrast=0.0, crop=1.0, blur=0.0, noise=0.0)


def test_project_roundtrip_on_disk(tmp_path, chelsea, coffee):
    ds = Dataset.create(tmp_path / "p", ["Plant", "Charger"])
    assert ds.counts() == {"Plant": 0, "Charger": 0}
    a = ds.add_image("Plant", chelsea)
    ds.add_image("Plant", coffee)
    ds.add_image("Charger", coffee)
    ds.add_class("Cup")
    ds.rename_class("Charger", "Cable")
    # reopening restores everything: nothing lived only in memory
    again = Dataset.open(tmp_path / "p")
    assert again.class_names == ["Plant", "Cable", "Cup"]
    assert again.counts() == {"Plant": 2, "Cable": 1, "Cup": 0}
    assert again.class_dir("Cable").name == "cable"
    manifest = json.loads((tmp_path / "p" / MANIFEST).read_text())
    assert [c["name"] for c in manifest["classes"]] == ["Plant", "Cable", "Cup"]
    # a capture is a JPEG of the frame (q95: within a few levels of the original)
    back = read_rgb(a)
    assert back.shape == chelsea.shape
    assert np.abs(back.astype(int) - chelsea).mean() < 3
    again.delete_image(a)
    assert again.counts()["Plant"] == 1
    again.remove_class("Cup")
    assert Dataset.open(tmp_path / "p").class_names == ["Plant", "Cable"]


def test_class_names_are_checked(tmp_path):
    ds = Dataset.create(tmp_path / "p")
    assert ds.class_names == ["Class 1", "Class 2"]
    with pytest.raises(OpError, match="already"):
        ds.add_class("Class 1")
    with pytest.raises(OpError, match="name"):
        ds.rename_class("Class 1", "  ")
    assert ds.add_class().name == "Class 3"
    # names that are not file-system safe still get a folder of their own
    ds.add_class("a/b: ..")
    assert ds.class_dir("a/b: ..").parent == ds.root


def test_plain_folder_of_class_folders_opens(tmp_path, chelsea):
    from PIL import Image

    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        Image.fromarray(chelsea[:64, :64]).save(tmp_path / cls / "a.png")
    ds = Dataset.open(tmp_path)
    assert ds.class_names == ["cats", "dogs"]
    paths, labels = ds.samples()
    assert labels.tolist() == [0, 1] and paths[0].name == "a.png"


def test_import_skips_corrupt_files_with_warning(tmp_path, chelsea):
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(chelsea).save(src / "good.png")
    Image.fromarray(chelsea).save(src / "good.jpg")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ds = Dataset.create(tmp_path / "p", ["A", "B"])
    with pytest.warns(UserWarning, match="broken.jpg"):
        added, skipped = ds.import_files("A", [src])
    assert len(added) == 2 and len(skipped) == 1
    assert ds.counts()["A"] == 2


def test_damaged_manifest_is_a_clear_error(tmp_path):
    Dataset.create(tmp_path / "p")
    (tmp_path / "p" / MANIFEST).write_text("{not json")
    with pytest.raises(OpError, match="damaged"):
        Dataset.open(tmp_path / "p")


def test_stratified_split_keeps_class_shares_and_is_seeded():
    labels = np.repeat([0, 1, 2], [100, 40, 7])
    tr, te = stratified_split(labels, 0.15, seed=3)
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == len(labels)
    # each class gives round(n * 0.15) images (at least one) to the test split
    assert np.bincount(labels[te]).tolist() == [15, 6, 1]
    tr2, te2 = stratified_split(labels, 0.15, seed=3)
    assert np.array_equal(te, te2)
    assert not np.array_equal(te, stratified_split(labels, 0.15, seed=4)[1])
    # a class of one image stays in training
    assert len(stratified_split(np.array([0, 1, 1, 1]), 0.5)[1]) == 2


def test_augment_flip_matches_numpy(astronaut):
    img = astronaut[::4, ::4]
    out = augment(img, np.random.default_rng(0), AugmentConfig(**dict(OFF, flip=1.0)))
    np.testing.assert_array_equal(out, img[:, ::-1])  # independent: a NumPy mirror


def test_augment_brightness_follows_the_registered_op(chelsea):
    from editor.ops import get_op, run_op

    img = chelsea[::2, ::2]
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    out = augment(img, rng_a, AugmentConfig(**dict(OFF, brightness=0.3)))
    amount = (rng_b.random(8)[3] * 2 - 1) * 0.3
    np.testing.assert_array_equal(out, run_op(get_op("brightness"), img, {"amount": amount}))
    # and it really moves the mean the way the draw says
    assert np.sign(out.astype(float).mean() - img.mean()) == np.sign(amount)


def test_augment_is_reproducible_and_varied():
    img = load_photo("coffee.png")[::2, ::2]
    a = augment(img, sample_rng(0, 1, "x.jpg"))
    b = augment(img, sample_rng(0, 1, "x.jpg"))
    c = augment(img, sample_rng(0, 2, "x.jpg"))
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)
    assert a.dtype == np.uint8 and a.ndim == 3
    steps = available_steps()
    assert steps["flip"] and steps["brightness"] and steps["contrast"]


def test_preview_grid_tiles(chelsea, coffee):
    tiles = preview_grid([chelsea, coffee], seed=0, per_image=3, size=64)
    assert len(tiles) == 8 and all(t.shape == (64, 64, 3) for t in tiles)
    np.testing.assert_array_equal(tiles[0], square_input(chelsea, 64))


def test_square_input_is_a_centre_crop(astronaut):
    rect = astronaut[:, 50:450]  # 512 x 400 -> centre rows 56..456
    out = square_input(rect, 100)
    # independent: a 4x4 box average in NumPy (what area resampling is for a whole factor);
    # 1 level of tolerance for rounding
    ref = rect[56:456].reshape(100, 4, 100, 4, 3).mean(axis=(1, 3))
    assert np.abs(out - ref).max() <= 1.0

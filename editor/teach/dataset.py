"""The classifier's dataset: a project folder on disk, one subfolder per class.

Layout::

    project/
        convolve-classes.json     manifest: class names, their folders, dates
        plant/                    images of class "Plant" (any format Pillow reads)
        charger/
        .cache/                   features computed once per image (safe to delete)

Nothing lives only in memory: every capture is written as a file at once and
the class list is saved on every change, so reopening the folder restores the
project. A plain folder of class subfolders (no manifest) opens too; the
subfolder names become the class names.

Examples
--------
>>> import tempfile, numpy as np
>>> ds = Dataset.create(tempfile.mkdtemp(), ["Plant", "Charger"])
>>> _ = ds.add_image("Plant", np.zeros((8, 8, 3), np.uint8))
>>> ds.counts()
{'Plant': 1, 'Charger': 0}
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from editor.core.context import OpError
from editor.core.image import as_rgb, to_uint8
from editor.teach import DEFAULT_CLASSES
from editor.teach.images import UnreadableImage, is_image_file, read_rgb

MANIFEST = "convolve-classes.json"
CACHE_DIR = ".cache"
_FORMAT = "convolve-classes"


@dataclass
class ClassEntry:
    """One class: its display name and its folder name inside the project."""

    name: str
    folder: str


class Dataset:
    """A classification project folder.

    Use :meth:`create` for a new project and :meth:`open` for an existing one
    (or for a plain folder with one subfolder of images per class).
    """

    def __init__(self, root: str | Path, classes: list[ClassEntry], created: str = "") -> None:
        self.root = Path(root)
        self.classes = classes
        self.created = created or _now()
        self._counter = 0

    # -- opening and saving ----------------------------------------------
    @classmethod
    def create(cls, root: str | Path, class_names=DEFAULT_CLASSES) -> Dataset:
        """Make a new project in ``root`` (created if missing) with the given classes."""
        root = Path(root)
        if (root / MANIFEST).exists():
            raise OpError(f"{root} already holds a classifier project; open it instead")
        root.mkdir(parents=True, exist_ok=True)
        ds = cls(root, [])
        for name in class_names:
            ds.add_class(name)
        ds.save()
        return ds

    @classmethod
    def open(cls, root: str | Path) -> Dataset:
        """Open a project folder, or a plain folder of class subfolders."""
        root = Path(root)
        if not root.is_dir():
            raise OpError(f"{root} is not a folder")
        manifest = root / MANIFEST
        if manifest.exists():
            try:
                data = json.loads(manifest.read_text("utf-8"))
                if data.get("format") != _FORMAT:
                    raise ValueError("not a classifier manifest")
                classes = [ClassEntry(str(c["name"]), str(c["folder"]))
                           for c in data["classes"]]
            except (ValueError, KeyError, TypeError) as e:
                raise OpError(f"{manifest} is damaged ({e})") from None
            ds = cls(root, classes, data.get("created", ""))
            for c in ds.classes:
                (root / c.folder).mkdir(exist_ok=True)
            return ds
        folders = sorted(p for p in root.iterdir()
                         if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise OpError(f"{root} has no class subfolders (one folder of images per class)")
        return cls(root, [ClassEntry(p.name, p.name) for p in folders])

    @classmethod
    def open_or_create(cls, root: str | Path) -> Dataset:
        """Open ``root`` if it holds a project or class folders, else create one there."""
        root = Path(root)
        if (root / MANIFEST).exists() or (
                root.is_dir() and any(p.is_dir() and not p.name.startswith(".")
                                      for p in root.iterdir())):
            return cls.open(root)
        return cls.create(root)

    def save(self) -> None:
        """Write the manifest (atomically, so a crash never leaves half a file)."""
        data = {"format": _FORMAT, "version": 1, "created": self.created,
                "modified": _now(),
                "classes": [{"name": c.name, "folder": c.folder} for c in self.classes]}
        tmp = self.root / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), "utf-8")
        os.replace(tmp, self.root / MANIFEST)

    @property
    def cache_dir(self) -> Path:
        """``<project>/.cache``, or a per-project folder in the user cache when the
        project folder is read-only (a dataset on a shared drive still trains)."""
        if os.access(self.root, os.W_OK):
            return self.root / CACHE_DIR
        import hashlib

        digest = hashlib.sha1(str(self.root.resolve()).encode("utf-8")).hexdigest()[:16]
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        return Path(base) / "convolve" / "teach" / digest

    # -- classes -----------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def entry(self, name: str) -> ClassEntry:
        for c in self.classes:
            if c.name == name:
                return c
        raise OpError(f"no class named {name!r}")

    def class_dir(self, name: str) -> Path:
        return self.root / self.entry(name).folder

    def add_class(self, name: str | None = None) -> ClassEntry:
        """Add a class (``"Class N"`` when no name is given) and its folder."""
        name = (name or self._free_name()).strip()
        self._check_new_name(name)
        entry = ClassEntry(name, self._free_folder(name))
        (self.root / entry.folder).mkdir(parents=True, exist_ok=True)
        self.classes.append(entry)
        self.save()
        return entry

    def rename_class(self, old: str, new: str) -> None:
        """Rename a class; its folder is renamed too so the layout stays readable."""
        new = new.strip()
        if new == old:
            return
        self._check_new_name(new)
        entry = self.entry(old)
        folder = self._free_folder(new, ignore=entry.folder)
        if folder != entry.folder:
            os.replace(self.root / entry.folder, self.root / folder)
        entry.name, entry.folder = new, folder
        self.save()

    def remove_class(self, name: str) -> None:
        """Remove a class and delete its folder of images."""
        entry = self.entry(name)
        shutil.rmtree(self.root / entry.folder, ignore_errors=True)
        self.classes.remove(entry)
        self.save()

    def _check_new_name(self, name: str) -> None:
        if not name:
            raise OpError("a class needs a name")
        if any(c.name == name for c in self.classes):
            raise OpError(f"there is already a class named {name!r}")

    def _free_name(self) -> str:
        n = len(self.classes) + 1
        while any(c.name == f"Class {n}" for c in self.classes):
            n += 1
        return f"Class {n}"

    def _free_folder(self, name: str, ignore: str | None = None) -> str:
        base = re.sub(r"[^\w\-]+", "_", name.strip().lower(), flags=re.UNICODE).strip("_") \
            or "class"
        if base.startswith("."):
            base = "_" + base
        folder, n = base, 2
        taken = {c.folder for c in self.classes} - {ignore}
        while folder in taken or (folder != ignore and (self.root / folder).exists()):
            folder, n = f"{base}_{n}", n + 1
        return folder

    # -- images ----------------------------------------------------------
    def images(self, name: str) -> list[Path]:
        """Image files of a class, oldest name first (capture names sort by time)."""
        folder = self.class_dir(name)
        if not folder.is_dir():
            return []
        return sorted((p for p in folder.iterdir() if p.is_file() and is_image_file(p)),
                      key=lambda p: p.name)

    def counts(self) -> dict[str, int]:
        return {c.name: len(self.images(c.name)) for c in self.classes}

    def samples(self) -> tuple[list[Path], np.ndarray]:
        """Every image path with its class index (in ``class_names`` order)."""
        paths, labels = [], []
        for i, c in enumerate(self.classes):
            imgs = self.images(c.name)
            paths += imgs
            labels += [i] * len(imgs)
        return paths, np.asarray(labels, dtype=np.int64)

    def add_image(self, name: str, rgb: np.ndarray, quality: int = 95) -> Path:
        """Write one captured frame (RGB ``uint8``) into a class as a JPEG file."""
        import cv2

        folder = self.class_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self._new_name(".jpg")
        bgr = np.ascontiguousarray(as_rgb(to_uint8(np.asarray(rgb)))[..., ::-1])
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise OpError(f"could not encode an image for class {name!r}")
        path.write_bytes(buf.tobytes())
        return path

    def import_files(self, name: str, paths, ctx=None) -> tuple[list[Path], list[str]]:
        """Copy image files (or every image in given folders) into a class.

        Each file is decoded first; unreadable ones are skipped and listed in
        the returned warnings instead of being copied.

        Returns
        -------
        added : list of Path
            The new files inside the class folder.
        skipped : list of str
            One message per file that was not imported.
        """
        files: list[Path] = []
        for p in map(Path, paths):
            if p.is_dir():
                files += sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f))
            else:
                files.append(p)
        folder = self.class_dir(name)
        added, skipped = [], []
        for k, src in enumerate(files):
            if ctx is not None:
                ctx.report(k / max(1, len(files)), f"importing {src.name}")
            try:
                read_rgb(src, max_side=64)  # decodes the file: a cheap validity check
            except UnreadableImage as e:
                skipped.append(str(e))
                continue
            dst = folder / self._new_name(src.suffix.lower() or ".png", stem=src.stem)
            shutil.copyfile(src, dst)
            added.append(dst)
        for msg in skipped:
            warnings.warn(f"skipped {msg}", UserWarning, stacklevel=2)
        return added, skipped

    def delete_image(self, path: str | Path) -> None:
        """Delete one image file of this project."""
        path = Path(path).resolve()
        if self.root.resolve() not in path.parents:
            raise OpError(f"{path} is not part of this project")
        path.unlink(missing_ok=True)

    def class_of(self, path: str | Path) -> str | None:
        """Name of the class whose folder holds ``path`` (None if outside)."""
        parent = Path(path).parent.name
        for c in self.classes:
            if c.folder == parent:
                return c.name
        return None

    def _new_name(self, suffix: str, stem: str = "") -> str:
        # Millisecond time plus a counter: unique, and sorts in capture order.
        self._counter += 1
        safe = re.sub(r"[^\w\-]+", "_", stem)[:40]
        return f"{int(time.time() * 1000):013d}_{self._counter:04d}" + \
            (f"_{safe}" if safe else "") + suffix


def stratified_split(labels: np.ndarray, test_fraction: float = 0.15,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train/test split that keeps each class's share.

    Each class with at least two images gives ``round(n * test_fraction)``
    images (at least one) to the test set; the choice depends only on
    ``seed``, so a split is reproducible.

    Returns
    -------
    train_idx, test_idx : ndarray of int
        Sorted indices into ``labels``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_test = 0
        if test_fraction > 0 and len(idx) >= 2:
            n_test = min(len(idx) - 1, max(1, round(len(idx) * test_fraction)))
        test += idx[:n_test].tolist()
        train += idx[n_test:].tolist()
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(test, dtype=np.int64))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")

"""What a batch will do: the input files, the output name of each, the save options.

Everything here is decided before the first image is read, on the machine that
starts the batch, so a wrong pattern or an output that would overwrite an input
is refused in one sentence instead of failing on file 5,000.

Inputs
------
* a **file** is taken as given;
* a **folder** gives every image under it, recursively (hidden files and
  folders skipped), or only the files matching ``glob`` (``"*.jpg"``, or a
  pattern with ``/`` matched against the path inside the folder);
* a **list file** (``.txt``/``.lst``/``.list``, or any file named as
  ``@FILE``) names one image per line; blank lines and ``#`` comments are
  skipped; relative paths are read from the list's folder.

Output names
------------
The naming pattern (``{stem}_edit.{ext}``) is formatted per file with:

``{stem}``   file name without its extension        ``{name}``  file name
``{ext}``    the output format's extension (``jpg``) ``{n}``     1-based index (``{n:04d}``)
``{dir}``    the file's folder inside the input folder (empty for files named directly)
``{parent}`` the name of the file's folder          ``{recipe}`` the recipe file's stem

The default, :data:`DEFAULT_PATTERN`, mirrors the input folders under the
output folder and keeps each file's format.

Examples
--------
>>> output_name("{stem}_edit.{ext}", Path("shoot/IMG_0001.JPG"), 1, "", fmt="JPEG")
'IMG_0001_edit.jpg'
>>> output_name("{n:03d}-{stem}.{ext}", Path("a.png"), 7, "", fmt="PNG")
'007-a.png'
"""

from __future__ import annotations

import fnmatch
import os
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from editor.io.formats import EXPORT_FORMATS, format_for_path, normalize_format

#: Mirror the input folders, keep the name and the format.
DEFAULT_PATTERN = "{dir}/{stem}.{ext}"
#: What a folder gives when no glob is set (lower-case suffixes).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".tif",
                            ".tiff", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".pnm"})
LIST_SUFFIXES = (".txt", ".lst", ".list")
#: The manifest's file name in the output folder (``.csv`` and ``.json`` beside it).
MANIFEST_NAME = "convolve-batch"
FIELDS = ("stem", "name", "ext", "n", "dir", "parent", "recipe")


class PlanError(ValueError):
    """The batch cannot start as asked (one sentence; a usage error on the command line)."""


@dataclass(frozen=True)
class SaveOptions:
    """How every output is written (the keywords of :func:`editor.io.save_image`).

    ``format`` None keeps each file's format (or follows the naming pattern's
    extension); ``max_pixels`` None is the loader's limit in force.
    """

    format: str | None = None
    quality: int = 90
    progressive: bool = False
    lossless: bool = False
    strip_metadata: bool = False
    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["background"] = list(self.background)
        return d


@dataclass(frozen=True)
class Item:
    """One file of the batch: where it is read and where its result goes."""

    index: int          # 1-based, in input order
    input: str
    output: str


@dataclass
class BatchPlan:
    """Inputs, outputs and options of one batch (see :func:`make_plan`)."""

    items: list[Item]
    out_dir: Path
    options: SaveOptions = field(default_factory=SaveOptions)
    pattern: str = DEFAULT_PATTERN

    def __len__(self) -> int:
        return len(self.items)

    @property
    def manifest_base(self) -> Path:
        """``OUT_DIR/convolve-batch`` (the manifest adds ``.csv`` and ``.json``)."""
        return self.out_dir / MANIFEST_NAME


@dataclass(frozen=True)
class _Source:
    path: Path
    dir: str  # folder inside the input folder ("" for files named directly)


def expand_inputs(inputs: list[str | os.PathLike[str]], glob: str | None = None,
                  exclude: Path | None = None) -> list[_Source]:
    """The files named by ``inputs`` (see the module docstring), in order, each once.

    Parameters
    ----------
    inputs : list of path
        Files, folders and list files.
    glob : str, optional
        Which files of a folder to take; default every image suffix.
    exclude : Path, optional
        A folder whose files are never taken (the output folder, when it lies
        inside an input folder, so a second run does not edit its own results).

    Raises
    ------
    PlanError
        An input does not exist, or a list file cannot be read.
    """
    out: list[_Source] = []
    seen: set[str] = set()
    skip = exclude.resolve() if exclude is not None else None

    def add(path: Path, folder: str) -> None:
        key = os.path.normcase(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            out.append(_Source(path, folder))

    for raw in inputs:
        text = os.fspath(raw)
        if "://" in text:
            raise PlanError(f"{text}: URLs are not read directly; mount the storage and give "
                            "its path (every worker must see the same path)")
        is_list = text.startswith("@")
        path = Path(text[1:] if is_list else text)
        if path.is_dir():
            for f in _folder_files(path, glob, skip):
                rel = f.relative_to(path).parent
                add(f, "" if str(rel) == "." else rel.as_posix())
        elif is_list or (path.suffix.lower() in LIST_SUFFIXES and path.is_file()):
            for f in _list_files(path):
                add(f, "")
        elif path.exists():
            add(path, "")
        else:
            raise PlanError(f"{text}: no such file or folder")
    return out


def _folder_files(folder: Path, glob: str | None, skip: Path | None) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        # hidden folders (.cache, .git) and the output folder are not part of the input
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (skip is None or (here / d).resolve() != skip))
        for name in sorted(names):
            if name.startswith("."):
                continue
            f = here / name
            if glob is None:
                if f.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
            elif not _matches(f.relative_to(folder), glob):
                continue
            files.append(f)
    return files


def _matches(rel: Path, glob: str) -> bool:
    pattern = glob.lower()
    target = rel.as_posix().lower() if "/" in pattern else rel.name.lower()
    return fnmatch.fnmatchcase(target, pattern)


def _list_files(path: Path) -> list[Path]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{path}: no such list file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError(f"{path}: cannot read the list ({getattr(e, 'strerror', None) or e})") \
            from None
    files = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = Path(line).expanduser()
        files.append(f if f.is_absolute() else path.parent / f)
    return files


def output_format(name: str, source: Path, fmt: str | None) -> str:
    """The export format of one output: ``fmt``, else the name's extension."""
    if fmt:
        return normalize_format(fmt)
    return format_for_path(name)


def _source_format(source: Path) -> str:
    """The input's own format when it can be written, else PNG (GIF, PPM...)."""
    try:
        return format_for_path(source)
    except ValueError:
        return "PNG"


def output_name(pattern: str, source: Path, n: int, folder: str, *, fmt: str | None = None,
                recipe: str = "") -> str:
    """Format the naming pattern for one file (a relative POSIX path).

    ``fmt`` sets ``{ext}``; None takes the input's format (PNG when that cannot
    be written).
    """
    ext_fmt = normalize_format(fmt) if fmt else _source_format(source)
    values = {
        "stem": source.stem,
        "name": source.name,
        "ext": EXPORT_FORMATS[ext_fmt]["extensions"][0].lstrip("."),
        "n": n,
        "dir": folder,
        "parent": source.parent.name,
        "recipe": recipe,
    }
    if fmt is None and source.suffix.lower() in EXPORT_FORMATS[ext_fmt]["extensions"]:
        values["ext"] = source.suffix.lower().lstrip(".")  # a .jpeg stays .jpeg
    return pattern.format_map(values)


def check_pattern(pattern: str) -> None:
    """Refuse a naming pattern with an unknown or malformed field (:class:`PlanError`)."""
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as e:
        raise PlanError(f"the naming pattern {pattern!r} is malformed ({e})") from None
    known = ", ".join("{" + f + "}" for f in FIELDS)
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        if field_name not in FIELDS:
            raise PlanError(f"the naming pattern uses {{{field_name}}}; it can use {known}")
    if not any(f in ("stem", "name", "n") for _, f, _, _ in parsed if f):
        raise PlanError("the naming pattern must contain {stem}, {name} or {n}, or every "
                        "file would get the same name")


def _relative_target(name: str) -> PurePosixPath:
    rel = PurePosixPath(*[p for p in PurePosixPath(name.replace("\\", "/")).parts
                          if p not in ("", ".", "/")])
    if not rel.parts or ".." in rel.parts:
        raise PlanError(f"the naming pattern gives {name!r}, which is not a file inside the "
                        "output folder")
    return rel


def make_plan(inputs: list[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
              pattern: str = DEFAULT_PATTERN, glob: str | None = None,
              options: SaveOptions | None = None, recipe_name: str = "") -> BatchPlan:
    """Expand the inputs and name every output.

    Raises
    ------
    PlanError
        No input file, a bad pattern or format, two files given the same output
        name, or an output that would replace its input.
    """
    options = options or SaveOptions()
    if options.format:
        try:
            options = SaveOptions(**{**options.to_json(), "background": options.background,
                                     "format": normalize_format(options.format)})
        except ValueError as e:
            raise PlanError(str(e)) from None
    check_pattern(pattern)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PlanError(f"{out_dir} is a file, not an output folder")
    sources = expand_inputs(inputs, glob, exclude=out_dir)
    if not sources:
        raise PlanError("no images found in the inputs" + (f" matching {glob!r}" if glob else ""))
    items: list[Item] = []
    owner: dict[str, str] = {}
    inputs_seen = {os.path.normcase(os.path.abspath(s.path)) for s in sources}
    for n, src in enumerate(sources, 1):
        name = output_name(pattern, src.path, n, src.dir, fmt=options.format,
                           recipe=recipe_name)
        target = out_dir / _relative_target(name)
        try:
            output_format(str(target), src.path, options.format)
        except ValueError as e:
            raise PlanError(f"{src.path.name}: {e} (set the format, or {{ext}} in the naming "
                            "pattern)") from None
        key = os.path.normcase(os.path.abspath(target))
        if key in inputs_seen:
            raise PlanError(f"{src.path}: its output would replace an input file; choose "
                            "another output folder or naming pattern")
        if key in owner:
            raise PlanError(f"{owner[key]} and {src.path} would both be written to "
                            f"{target.relative_to(out_dir)}; add {{dir}} or {{n}} to the "
                            "naming pattern")
        owner[key] = str(src.path)
        items.append(Item(n, str(src.path), str(target)))
    return BatchPlan(items, out_dir, options, pattern)

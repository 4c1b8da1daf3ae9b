"""The batch manifest: one row per file, as CSV (for a spreadsheet) and JSON (for programs).

Columns: ``input``, ``output``, ``status``, ``error``, ``seconds``,
``recipe_sha256``, ``notes``. Statuses:

``done``     the output was written (by this run, or by an earlier one when resuming)
``failed``   the file could not be read, edited or written; ``error`` says why
``skipped``  the output existed and ``--skip-existing`` was asked
``pending``  not processed: the batch was interrupted before this file

Both files are replaced atomically (:func:`editor.core.atomic.atomic_write_bytes`),
at the end of the batch and every few seconds while it runs, so an interrupted
or killed batch leaves a manifest that ``--resume`` can continue from.

The recipe's SHA-256 is taken over its canonical JSON (the steps only, keys
sorted), so re-saving a recipe or a new Convolve version does not change it,
while any change of an operation or a value does.

Examples
--------
>>> from editor.core.recipe import Recipe
>>> a = Recipe.from_json('[{"op": "invert"}]')
>>> b = Recipe.from_json('{"format": 1, "steps": [{"params": {}, "op": "invert"}]}')
>>> recipe_sha256(a) == recipe_sha256(b), recipe_sha256(a)[:12]
(True, '1f9767ad9145')
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from editor.core.atomic import atomic_write_bytes

COLUMNS = ("input", "output", "status", "error", "seconds", "recipe_sha256", "notes")
DONE, FAILED, SKIPPED, PENDING = "done", "failed", "skipped", "pending"
#: A manifest larger than this is not read back for ``--resume`` (a million rows is ~300 MB).
MAX_MANIFEST_BYTES = 2_000_000_000


@dataclass
class Row:
    """One file's line in the manifest."""

    input: str
    output: str
    status: str = PENDING
    error: str = ""
    seconds: float = 0.0
    recipe_sha256: str = ""
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(float(self.seconds), 4)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Row:
        return cls(**{k: d.get(k, getattr(cls, k, "")) for k in COLUMNS})


def recipe_sha256(recipe) -> str:
    """SHA-256 (hex) of a :class:`~editor.core.recipe.Recipe`'s canonical JSON."""
    steps = [s.to_dict() for s in recipe.steps]
    text = json.dumps(steps, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _key(row_input: str, row_output: str) -> tuple[str, str]:
    return (os.path.normcase(os.path.abspath(row_input)),
            os.path.normcase(os.path.abspath(row_output)))


def write_manifest(base: Path, rows: list[Row], header: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``base.csv`` and ``base.json`` atomically; returns both paths."""
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r.input, r.output, r.status, r.error, f"{r.seconds:.4f}",
                    r.recipe_sha256, r.notes])
    csv_path = base.with_name(base.name + ".csv")
    json_path = base.with_name(base.name + ".json")
    atomic_write_bytes(csv_path, buf.getvalue().encode("utf-8"))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    doc = dict(header, written=time.strftime("%Y-%m-%dT%H:%M:%S%z"), counts=counts,
               rows=[r.to_json() for r in rows])
    atomic_write_bytes(json_path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
    return csv_path, json_path


def read_rows(base: Path) -> list[Row]:
    """The rows of an earlier manifest (JSON, else CSV); empty when there is none.

    A damaged manifest is not trusted: nothing is resumed from it.
    """
    base = Path(base)
    json_path = base.with_name(base.name + ".json")
    csv_path = base.with_name(base.name + ".csv")
    try:
        if json_path.is_file() and json_path.stat().st_size <= MAX_MANIFEST_BYTES:
            doc = json.loads(json_path.read_text(encoding="utf-8"))
            return [Row.from_json(d) for d in doc.get("rows", []) if isinstance(d, dict)]
        if csv_path.is_file() and csv_path.stat().st_size <= MAX_MANIFEST_BYTES:
            with open(csv_path, newline="", encoding="utf-8") as fh:
                return [Row(**{k: (float(v or 0) if k == "seconds" else v)
                               for k, v in d.items() if k in COLUMNS})
                        for d in csv.DictReader(fh)]
    except (OSError, ValueError, TypeError, AttributeError):
        return []
    return []


def finished_rows(base: Path, recipe_hash: str) -> dict[tuple[str, str], Row]:
    """Rows an earlier run of the same recipe finished, whose output still exists.

    Keyed by (input, output) so a changed naming pattern or output folder is
    not mistaken for finished work.
    """
    done = {}
    for row in read_rows(base):
        if row.status == DONE and row.recipe_sha256 == recipe_hash \
                and os.path.isfile(row.output):
            done[_key(row.input, row.output)] = row
    return done


def previous_outputs(base: Path) -> set[tuple[str, str]]:
    """(input, output) of every row of an earlier manifest (any status)."""
    return {_key(r.input, r.output) for r in read_rows(base)}


def row_key(row_input: str, row_output: str) -> tuple[str, str]:
    """The key :func:`finished_rows` uses for a file."""
    return _key(row_input, row_output)

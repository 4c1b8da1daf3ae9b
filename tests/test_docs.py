"""docs/ops.md is generated from the registry and must be kept current."""

from __future__ import annotations

import pytest

from editor.docsgen import DOCS_PATH, cli_text, example_command, render_ops_markdown
from editor.ops import all_ops


def test_ops_page_is_up_to_date():
    assert DOCS_PATH.exists(), "docs/ops.md is missing: run `convolve docs`"
    assert DOCS_PATH.read_text(encoding="utf-8") == render_ops_markdown(), (
        "docs/ops.md is stale: run `convolve docs` and commit the result")


def test_page_documents_every_op_and_parameter():
    page = render_ops_markdown()
    for spec in all_ops():
        assert f"### {spec.title} (`{spec.name}`)" in page
        assert example_command(spec) in page
        for p in spec.params:
            assert f"| `{p.name}` |" in page


@pytest.mark.parametrize("spec", all_ops(), ids=lambda s: s.name)
def test_cli_text_round_trips_every_default(spec):
    """What the docs and `convolve ops` print as a default parses back to that default."""
    for p in spec.params:
        if p.default is None or (p.kind == "path" and p.default == ""):
            continue
        text = cli_text(p, p.default)
        assert p.validate(p.parse(text)) == p.validate(p.default), (p.name, text)

"""Descriptions render as rich text and counts have their plurals (issue 13)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import Qt

from editor.ops import all_ops, get_op
from editor.ui.forms import form_class_for
from editor.ui.forms.param_form import ParamForm
from editor.ui.richtext import count, plain_text, rich_text

pytestmark = pytest.mark.gui

RAW_MARKUP = re.compile(r"``|:(func|class|meth|mod|math|data|attr):`|(?<!\w)\*\w")


def test_inline_markup_becomes_html():
    assert rich_text("every value ``v`` becomes ``max - v``") == \
        "<qt>every value <code>v</code> becomes <code>max - v</code></qt>"
    assert rich_text("a *soft* mask, **not** a `channel`") == \
        "<qt>a <i>soft</i> mask, <b>not</b> a <i>channel</i></qt>"
    assert rich_text(":class:`~editor.ops.params.Param` and :func:`spectrum`") == \
        "<qt><code>Param</code> and <code>spectrum</code></qt>"
    assert rich_text(r":math:`\alpha_k = \sum_{i} x^2`") == \
        "<qt><i>α<sub>k</sub> = Σ<sub>i</sub> x<sup>2</sup></i></qt>"
    # HTML in the text is shown, not interpreted; a product's star is not emphasis
    assert rich_text("x < 3 & y > 2, sx * sy") == "<qt>x &lt; 3 &amp; y &gt; 2, sx * sy</qt>"
    assert rich_text("one.\n\ntwo\nlines") == "<qt>one.<br><br>two lines</qt>"
    assert plain_text("the ``size`` x ``size`` square") == "the size x size square"


def test_counts_read_as_english():
    assert [count(n, "step") for n in (0, 1, 2)] == ["0 steps", "1 step", "2 steps"]
    assert count(1, "notch", "notches") == "1 notch" and count(3, "notch", "notches") == \
        "3 notches"


def test_no_raw_markup_in_any_forms_tooltips(qtbot):
    for spec in all_ops():
        form = form_class_for(spec.name)(spec)
        qtbot.addWidget(form)
        for w in [form, *form.findChildren(object)]:
            tip = w.toolTip() if hasattr(w, "toolTip") else ""
            assert not RAW_MARKUP.search(tip), (spec.name, tip)


def test_generic_form_tooltip_shows_code(qtbot):
    spec = get_op("levels")
    form = ParamForm(spec)
    qtbot.addWidget(form)
    tip = form.labels["in_low"].toolTip()
    assert "<code>in_low &lt; in_high</code>" in tip and "``" not in tip


def test_tools_dock_summary_and_tree_tips_are_rich(window):
    w = window
    w.tools.select_op("median")
    text = w.tools.summary.text()
    assert "<code>size</code>" in text and "``" not in text
    assert w.tools.summary.textFormat() != Qt.TextFormat.PlainText
    tree = w.tools.tree
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        for j in range(top.childCount()):
            assert not RAW_MARKUP.search(top.child(j).toolTip(0))


def test_notch_status_counts(qtbot):
    spec = get_op("notch_filter")
    form = form_class_for("notch_filter")(spec)
    qtbot.addWidget(form)
    form.set_image(np.zeros((64, 64, 3), np.uint8))
    form.set_params({"points": [(0.1, 0.1)]})
    assert form.status.text() == "1 stroke, 1 notch"
    form.set_params({"points": [(0.1, 0.1), (0.2, 0.1)]})
    assert form.status.text() == "1 stroke, 2 notches"

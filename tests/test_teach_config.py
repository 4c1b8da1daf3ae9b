"""Training settings declared once: TrainConfig, ``convolve train`` and the Train panel
refuse the same out-of-range value with the same sentence, and use the same bounds."""

from __future__ import annotations

import argparse

import pytest

from editor.core.context import OpError
from editor.teach.config import SETTINGS, AugmentConfig, TrainConfig, setting

NUMBERS = [s for s in SETTINGS if s.kind in (int, float)]


def too_big(s) -> str:
    """A number just above the setting's bound, as a person would type it."""
    return str(int(s.hi) + 1) if s.kind is int else f"{s.hi + 1:g}"


def too_small(s) -> str | None:
    if s.kind is int:
        return str(int(s.lo) - 1) if s.lo > 0 else None
    return "0" if s.lo > 0 else None


def test_every_numeric_setting_has_bounds_and_a_default_inside_them():
    for s in NUMBERS:
        assert s.lo < s.hi and s.lo <= s.default <= s.hi, s.name
        assert s.message().endswith(".") and s.message().count(".") <= 2  # one sentence
    cfg = TrainConfig()
    cfg.validate()
    assert cfg.values() == {s.name: s.default for s in SETTINGS}
    assert AugmentConfig().flip == setting("augment.flip").default


@pytest.mark.parametrize("s", NUMBERS, ids=lambda s: s.name)
def test_library_and_cli_refuse_with_the_same_sentence(s, tmp_path, capsys):
    from editor.cli import main

    value = float(too_big(s)) if s.kind is float else int(too_big(s))
    with pytest.raises(OpError) as info:
        TrainConfig.from_values({s.name: value})
    assert str(info.value) == s.message()
    cfg = TrainConfig()
    if "." in s.name:
        cfg.augment = AugmentConfig(**{s.name.split(".")[1]: value})
    else:
        setattr(cfg, s.name, value)
    with pytest.raises(OpError, match="^" + s.message().replace(".", r"\.") + "$"):
        cfg.validate()

    (tmp_path / "data").mkdir()
    code = main(["train", str(tmp_path / "data"), "-o", str(tmp_path / "m.safetensors"),
                 s.option, too_big(s)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].endswith(s.message())


def test_cli_refuses_a_word_and_a_wrong_backbone_in_one_sentence(tmp_path, capsys):
    from editor.cli import main

    (tmp_path / "d").mkdir()
    for flag, value, s in (("--epochs", "many", setting("epochs")),
                           ("--epochs", "2.5", setting("epochs")),
                           ("--backbone", "resnet", setting("backbone"))):
        assert main(["train", str(tmp_path / "d"), "-o", str(tmp_path / "m"), flag,
                     value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].endswith(s.message())
    assert setting("backbone").message() == \
        "Backbone must be one of auto, efficientnet_lite0, efficientnet_lite2, small_cnn."


def test_cli_flags_come_from_the_table(capsys):
    from editor.cli import main
    from editor.cli_teach import _train_config, add_commands

    assert main(["train", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for s in SETTINGS:
        assert f"{s.option} " in help_text and s.describe() in help_text, s.name
    assert "--epochs N passes over the training images (1 to 1000, default 30)" in help_text
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_commands(sub)
    args = parser.parse_args(["train", "d", "-o", "m", "--lr", "0.01", "--augment-flip", "0",
                              "--fine-tune"])
    cfg = _train_config(args)
    assert cfg.learning_rate == 0.01 and cfg.augment.flip == 0.0 and cfg.fine_tune
    assert cfg.epochs == setting("epochs").default


@pytest.mark.gui
def test_train_panel_widgets_use_the_bounds_and_refuse_with_the_same_sentence(qtbot,
                                                                               tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QCheckBox, QComboBox

    from editor.ui.teach.window import ClassifierWindow

    win = ClassifierWindow(project=tmp_path / "p")
    qtbot.addWidget(win)
    win.show()
    panel = win.train_panel
    panel.tabs.setCurrentWidget(panel.settings_tab)
    assert panel.config() == TrainConfig()
    for s in SETTINGS:
        w = panel.widget(s.name)
        if s.kind is bool:
            assert isinstance(w, QCheckBox) and w.isChecked() == s.default
        elif s.kind is str:
            assert isinstance(w, QComboBox)
            assert [w.itemText(i) for i in range(w.count())] == list(s.choices)
        else:
            assert (w.minimum(), w.maximum(), w.value()) == (s.lo, s.hi, s.default), s.name
    for s in NUMBERS:
        w = panel.widget(s.name)
        win.status("")
        w.setFocus()
        w.lineEdit().clear()
        qtbot.keyClicks(w.lineEdit(), too_big(s))
        assert win.status_label.text() == s.message(), s.name
        assert w.value() <= s.hi
        small = too_small(s)
        if small is not None:  # Qt keeps a too-small number until Enter, then reverts it
            win.status("")
            w.lineEdit().clear()
            qtbot.keyClicks(w.lineEdit(), small)
            qtbot.keyClick(w.lineEdit(), Qt.Key.Key_Return)
            assert win.status_label.text() == s.message(), s.name
            assert w.value() >= s.lo
    panel.widget("epochs").setValue(7)
    panel.widget("augment.rotate").setValue(5)
    cfg = panel.config()
    assert cfg.epochs == 7 and cfg.augment.rotate == 5.0

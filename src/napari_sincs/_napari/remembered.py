"""The compress widget's settings, remembered between launches of napari (Qt's QSettings, an
ini file in the user's configuration folder).

Only choices that mean the same for any image are kept (guarantee, ratio, saliency, networks,
...); the layer, its axes and the output path belong to one image, and "overwrite" is never
carried into a later session, where it could replace a file nobody meant to.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QSettings
from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

ORGANISATION = "napari-sincs"
APPLICATION = "compress-widget"


def store() -> QSettings:
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION
    )


def restore(controls: dict[str, Any]) -> None:
    """Set each control to its remembered value, in the order given (a later control may
    depend on an earlier one, as Steps does on Networks and Preset); unreadable values are
    skipped, never half-applied."""
    settings = store()
    for key, control in controls.items():
        value = settings.value(key)
        if value is None:
            continue
        try:
            _set(control, str(value))
        except ValueError:
            continue


def remember(controls: dict[str, Any]) -> None:
    """Save every control's value now, and again whenever it changes."""
    settings = store()

    def save(key: str, control: Any) -> None:
        settings.setValue(key, _get(control))
        settings.sync()

    for key, control in controls.items():
        save(key, control)
        signal = _changed(control)
        signal.connect(lambda *args, key=key, control=control: save(key, control))


def _get(control: Any) -> str:
    if isinstance(control, QComboBox):
        return control.currentText()
    if isinstance(control, QCheckBox):
        return "true" if control.isChecked() else "false"
    if isinstance(control, QLineEdit):
        return control.text()
    return repr(control.value())


def _set(control: Any, text: str) -> None:
    if isinstance(control, QComboBox):
        if control.findText(text) < 0:
            raise ValueError(text)
        control.setCurrentText(text)
    elif isinstance(control, QCheckBox):
        control.setChecked(text == "true")
    elif isinstance(control, QLineEdit):
        control.setText(text)
    elif isinstance(control, QSpinBox):
        control.setValue(int(text))
    elif isinstance(control, QDoubleSpinBox):
        control.setValue(float(text))


def _changed(control: Any) -> Any:
    if isinstance(control, QComboBox):
        return control.currentTextChanged
    if isinstance(control, QCheckBox):
        return control.toggled
    if isinstance(control, QLineEdit):
        return control.editingFinished
    return control.valueChanged

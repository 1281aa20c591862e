"""The key overlay (? or F1): every key on one translucent page over the window; any key or a
click closes it."""
from __future__ import annotations

import html
from typing import Sequence

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from db.types import ClassInfo
from labeler.keys import CATALOG, DECISIONS, MOVING, VIEW, table


MODIFIER_KEYS = {Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_AltGr, Qt.Key.Key_Meta,
                 Qt.Key.Key_Super_L, Qt.Key.Key_Super_R, Qt.Key.Key_CapsLock}


class KeyOverlay(QWidget):
    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 30, 40, 30)
        self.heading = QLabel("<b>Keys</b> &nbsp; <span style='color:#bbb'>(any key or a click closes this)</span>")
        self.heading.setStyleSheet("color:white; font-size:16pt")
        outer.addWidget(self.heading)
        self.columns = QHBoxLayout()
        self.columns.setSpacing(40)
        outer.addLayout(self.columns)
        outer.addStretch(1)
        self.hide()
        parent.installEventFilter(self)

    def set_classes(self, classes: Sequence[ClassInfo]) -> None:
        while self.columns.count():
            w = self.columns.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        groups = table(classes)
        # Three columns: deciding; moving and the view; the catalog.
        parts = [[g for g in groups if g[0] == DECISIONS], [g for g in groups if g[0] in (MOVING, VIEW)],
                 [g for g in groups if g[0] == CATALOG]]
        for part in parts:
            text = ""
            for heading, rows in part:
                text += (f"<p style='color:#9cc3ff; font-size:12pt; margin-top:10px'><b>{html.escape(heading)}</b></p>"
                         "<table cellspacing=4>")
                for keys, what in rows:
                    text += (f"<tr><td style='white-space:nowrap; padding-right:12px'><span style='background:#ffffff;"
                             f" color:#111; font-family:monospace'>&nbsp;{html.escape(keys)}&nbsp;</span></td>"
                             f"<td style='color:white'>{html.escape(what)}</td></tr>")
                text += "</table>"
            label = QLabel(text)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setStyleSheet("font-size:11pt")
            label.setAlignment(Qt.AlignmentFlag.AlignTop)
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            self.columns.addWidget(label, 1)

    def toggle(self) -> None:
        if self.isVisible():
            self.close_overlay()
        else:
            from PySide6.QtWidgets import QApplication

            self._return_focus = QApplication.focusWidget()
            self.setGeometry(self.parentWidget().rect())
            self.raise_()
            self.show()
            self.setFocus()

    def close_overlay(self) -> None:
        """Hide it; the keys go where they went before (the grid), at once."""
        self.hide()
        back = getattr(self, "_return_focus", None)
        (back if back is not None and back is not self else self.parentWidget()).setFocus()

    def paintEvent(self, event) -> None:  # noqa: N802
        QPainter(self).fillRect(self.rect(), QColor(20, 24, 32, 225))

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() not in MODIFIER_KEYS:  # Shift alone is half of "?", which toggles it closed
            self.close_overlay()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.close_overlay()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(obj.rect())
        return False

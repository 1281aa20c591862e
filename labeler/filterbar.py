"""The filter bar (Ctrl+F): one drop-down per dimension, combined, and the order. Every change
re-lists the faces at once (the catalog runs the filter in SQL). Esc goes back to the grid."""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from db.types import ClassInfo, ModelInfo, Order
from labeler.filters import (
    DUPLICATE_CHOICES,
    MODEL_CHOICES,
    MODEL_ORDERS,
    NONE,
    ORDER_CHOICES,
    STATUS_CHOICES,
    FilterSpec,
)

ANY = "Any"


class FilterBar(QWidget):
    changed = Signal(object)  # FilterSpec
    done = Signal()  # Esc: back to the grid

    def __init__(self, parent=None):
        super().__init__(parent)
        self._quiet = False
        self._has_model = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 3, 6, 3)
        outer.setSpacing(2)
        self.combos: dict[str, QComboBox] = {}
        rows = ((("status", "Status"), ("label", "Label"), ("suggested", "Suggested"), ("source", "Source"),
                 ("query", "Query")),
                (("order", "Order"), ("model", "Model"), ("duplicates", "Duplicates"), ("split", "Split")))
        for row in rows:
            lay = QHBoxLayout()
            lay.setSpacing(4)
            for key, title in row:
                caption = QLabel(title)
                caption.setStyleSheet("color:#555")
                combo = QComboBox()
                combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
                combo.setMaximumWidth(300)
                combo.setObjectName(f"filter_{key}")
                combo.currentIndexChanged.connect(self._emit)
                caption.setBuddy(combo)
                lay.addWidget(caption)
                lay.addWidget(combo)
                lay.addSpacing(6)
                self.combos[key] = combo
            lay.addStretch(1)
            outer.addLayout(lay)

    def populate(self, classes: Sequence[ClassInfo], choices: dict, models: Sequence[ModelInfo],
                 spec: FilterSpec) -> None:
        """Fill the drop-downs from the catalog and show `spec`."""
        self._quiet = True
        try:
            names = [(c.name, f"{c.emoji} {c.name}") for c in classes]
            self._fill("status", STATUS_CHOICES)
            self._fill("label", [(None, ANY), (NONE, "no label")] + names)
            self._fill("suggested", [(None, ANY), (NONE, "no suggestion")] + names)
            self._fill("source", [(None, ANY)] + [(s, s) for s in choices["sources"]])
            self._fill("query", [(None, ANY)] + [(q, q) for q in choices["queries"]])
            self._fill("split", [(None, ANY), (NONE, "no split hint")] + [(s, s) for s in choices["split_hints"]])
            self._fill("duplicates", DUPLICATE_CHOICES)
            self._fill("model", MODEL_CHOICES)
            self._fill("order", ORDER_CHOICES)
            has_model = self._has_model = bool(models)
            for key in ("model",):
                self.combos[key].setEnabled(has_model)
            order = self.combos["order"]
            for i in range(order.count()):
                item = order.model().item(i)
                item.setEnabled(has_model or order.itemData(i) not in MODEL_ORDERS)
            if not has_model:
                tip = "No model predictions in this catalog yet (train suggest stores them)"
                self.combos["model"].setToolTip(tip)
            self.set_spec(spec)
        finally:
            self._quiet = False

    def _fill(self, key: str, pairs) -> None:
        combo = self.combos[key]
        combo.clear()
        for value, text in pairs:
            combo.addItem(text, value)

    def set_spec(self, spec: FilterSpec) -> None:
        quiet, self._quiet = self._quiet, True
        try:
            for key in self.combos:
                value = getattr(spec, key)
                combo = self.combos[key]
                i = combo.findData(value)
                combo.setCurrentIndex(max(i, 0))
        finally:
            self._quiet = quiet

    def spec(self) -> FilterSpec:
        values = {key: combo.currentData() for key, combo in self.combos.items()}
        values["order"] = values["order"] or Order.CATALOG
        values["status"] = values["status"] or "unreviewed"
        return replace(FilterSpec(), **values)

    def set_images_mode(self, images: bool) -> None:
        """Images without a face have no label, suggestion, split, group or prediction."""
        for key, combo in self.combos.items():
            if key not in ("status", "source"):
                combo.setEnabled(not images and (key != "model" or self._has_model))

    def focus_first(self) -> None:
        self.combos["status"].setFocus(Qt.FocusReason.ShortcutFocusReason)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.done.emit()
            return
        super().keyPressEvent(event)

    def _emit(self) -> None:
        if not self._quiet:
            self.changed.emit(self.spec())

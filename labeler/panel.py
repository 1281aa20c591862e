"""The side panel: the current face large (or the model's explanation of it: its Grad-CAM map, as
`train explain` stored it), its original photo with the face box, where it came from, its
annotation, its duplicate group, the model's top three and its history from the audit."""
from __future__ import annotations

import html
from typing import Sequence

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from db.types import ClassInfo, LabelEvent
from labeler.grid import Item
from labeler.style import local_time, status_html
from labeler.thumbs import Thumbnails

CROP_SIDE = 220
PHOTO_SIDE = 320
PHOTO_HEIGHT = 240
GROUP_ICON = 56


class Bar(QWidget):
    """A probability bar. Not QProgressBar: its setValue repaints at once (a synchronous paint and
    flush per bar, 2-7 ms each here, three per face while a key is held); this one paints with the
    rest of the window."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFixedSize(120, 10)
        self._value = 0

    def value(self) -> int:
        return self._value

    def set_value(self, value: int) -> None:
        if value != self._value:
            self._value = value
            self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#e6e6e6"))
        p.fillRect(QRect(0, 0, round(self.width() * self._value / 100), self.height()), QColor("#3b6fd8"))
        p.end()


def _esc(value) -> str:
    return html.escape(str(value)) if value not in (None, "") else '<span style="color:#999">—</span>'


class SidePanel(QScrollArea):
    face_clicked = Signal(int)  # a duplicate-group member was clicked
    explain_toggled = Signal(bool)  # the "Explanation" box was clicked

    def __init__(self, thumbs: Thumbnails, classes: Sequence[ClassInfo], parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self.emoji = {c.name: c.emoji for c in classes}
        self.key: int | None = None
        self.setWidgetResizable(True)
        self.setMinimumWidth(PHOTO_SIDE + 40)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 10, 10, 10)
        self.crop = QLabel()
        self.crop.setFixedSize(CROP_SIDE, CROP_SIDE)
        self.crop.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.crop.setStyleSheet("background:#f1f1f1; border:1px solid #ccc")
        self.explaining = False
        self._crop_image: tuple[int, QImage] | None = None  # the large crop, to go back to
        self._explained: int | None = None  # the face whose explanation is shown
        self.explain_box = QCheckBox("Explanation (E): what drove the model")
        self.explain_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.explain_box.toggled.connect(self.explain_toggled)
        self.explain_note = self._text()
        self.explain_note.setStyleSheet("color:#555")
        self.explain_note.setFixedWidth(PHOTO_SIDE)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.photo = QLabel("")
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.photo.setMinimumHeight(80)
        self.photo.setWordWrap(True)
        self.photo.setStyleSheet("color:#777")
        self.details = self._text()
        self.model_box = QWidget()
        self.model_grid = QGridLayout(self.model_box)
        self.model_grid.setContentsMargins(0, 4, 0, 4)
        self.model_grid.setHorizontalSpacing(8)
        self.model_grid.setVerticalSpacing(2)
        self._build_model_box()
        self.group_title = QLabel()
        self.group_box = QWidget()
        self.group_grid = QGridLayout(self.group_box)
        self.group_grid.setContentsMargins(0, 0, 0, 0)
        self.group_buttons: dict[int, QToolButton] = {}
        self.history = self._text()
        for w in (self.crop, self.explain_box, self.explain_note, self.title, self.photo, self.details, self.model_box,
                  self.group_title, self.group_box, self.history):
            lay.addWidget(w, alignment=Qt.AlignmentFlag.AlignHCenter if w in (self.crop, self.photo) else
                          Qt.AlignmentFlag.AlignLeft)
        lay.addStretch(1)
        self.setWidget(body)
        thumbs.ready.connect(self._thumbs_ready)
        self.show_item(None)

    @staticmethod
    def _text() -> QLabel:
        label = QLabel()
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        label.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        return label

    # --- what the window calls ----------------------------------------------------------------------
    def show_item(self, item: Item | None, pending=None) -> None:
        self.item = item
        self.key = None if item is None else item.row.id
        self._crop_image = None
        self._explained = None
        self.explain_box.setVisible(item is not None and not item.is_image)
        self.explain_note.setText("loading the explanation…" if self.explaining else "")
        self.explain_note.setVisible(self.explaining and item is not None and not item.is_image)
        self._show_crop()
        self._photo_text("")
        self.history.clear()
        self.group_title.clear()
        self._set_group([])
        if item is None:
            self.title.setText('<span style="color:#888">No face selected</span>')
            self.details.clear()
            self.model_box.hide()
            return
        r = item.row
        if item.is_image:
            self.title.setText(f"<b>Image {r.id}</b> &nbsp; {status_html('deleted' if r.extraction_state == 'rejected' else 'no_face')}")
            self.details.setText(self._table([
                ("Found", "no face" if r.extraction_state != "rejected" else "no face; rejected"),
                ("Source", r.source_name), ("Query", r.query), ("URL", r.url), ("Page", r.page_url),
                ("Dataset path", r.dataset_path), ("Size", f"{r.width} × {r.height} {r.format}"),
            ]) + '<p style="color:#666">Delete (or X) rejects it; Ctrl+Z brings it back.</p>')
            self.model_box.hide()
            self._photo_text("loading the photo…")
            return
        label, status = pending or (r.label, r.status.value)
        self.title.setText(f"<b>Face {r.id}</b> &nbsp; {status_html(status)}"
                           + (' <span style="color:#3b6fd8">saving…</span>' if pending else ""))
        self.details.setText(self._table([
            ("Label", self._class(label)), ("Suggested", self._class(r.suggested_label)),
            ("Source", f"{html.escape(r.source_name)} ({html.escape(r.source_kind)})"),
            ("Query", r.query), ("URL", r.url), ("Dataset path", r.dataset_path),
            ("Split hint", r.split_hint), ("Annotator", r.annotator), ("Version", r.version),
            ("Detector", f"{r.detector}" + (f" ({r.score:.2f})" if r.score is not None else "")),
            ("Face box", "{} {} {}×{}".format(*r.bbox)),
        ], raw={"Label", "Suggested", "Source"}))
        self._show_prediction(item, label or r.suggested_label)
        self._photo_text("loading the original photo…")
        self.group_title.setText(f"<b>Duplicate group {r.dup_group}</b>" if r.dup_group else "")

    def set_photo(self, key: int, image: QImage | None, bbox=None, scale: float = 1.0, error: str | None = None) -> None:
        if key != self.key:
            return
        if image is None or image.isNull():
            self._photo_text(error or "the original photo cannot be read")
            return
        pix = QPixmap.fromImage(image)
        width = min(PHOTO_SIDE, max(120, self.viewport().width() - 30))
        fit = min(width / pix.width(), PHOTO_HEIGHT / pix.height())
        if fit < 1:  # fit the panel (the box is drawn after, at the shown scale)
            scale *= fit
            pix = pix.scaled(round(pix.width() * fit), round(pix.height() * fit), Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        if bbox is not None:
            p = QPainter(pix)
            p.setPen(QPen(QColor("#ff3b30"), 3))
            left, top, w, h = bbox
            p.drawRect(QRect(int(left * scale), int(top * scale), int(w * scale), int(h * scale)))
            p.end()
        self.photo.setPixmap(pix)
        self.photo.setFixedSize(pix.size())

    def _photo_text(self, text: str) -> None:
        self.photo.setPixmap(QPixmap())
        self.photo.setMinimumSize(0, 0)
        self.photo.setMaximumSize(16777215, 16777215)
        self.photo.setFixedWidth(PHOTO_SIDE)
        self.photo.setText(text)

    def set_history(self, key: int, events: Sequence[LabelEvent]) -> None:
        if key != self.key:
            return
        if not events:
            self.history.setText('<b>History</b><br><span style="color:#888">no changes yet</span>')
            return
        lines = []
        for e in reversed(events[-30:]):
            what = []
            if e.from_label != e.to_label:
                what.append(f"{html.escape(e.from_label or '—')} → <b>{html.escape(e.to_label or '—')}</b>")
            if e.from_status != e.to_status:
                what.append(f"{e.from_status} → <b>{e.to_status}</b>")
            via = f" via {html.escape(e.via)}" if e.via else ""
            lines.append(f"{local_time(e.at):%Y-%m-%d %H:%M} <b>{html.escape(e.annotator)}</b>{via}: {', '.join(what) or 'no change'}")
        self.history.setText("<b>History</b><br>" + "<br>".join(lines))

    def set_group(self, key: int, members: Sequence[int]) -> None:
        if key == self.key:
            self._set_group([m for m in members if m != key])

    # --- drawing ---------------------------------------------------------------------------------------
    def _class(self, name: str | None) -> str:
        if not name:
            return _esc(None)
        return f"{self.emoji.get(name, '')} {html.escape(name)}"

    @staticmethod
    def _table(rows, raw=frozenset()) -> str:
        cells = "".join(f'<tr><td style="color:#666; padding-right:8px">{k}</td>'
                        f'<td>{v if k in raw else _esc(v)}</td></tr>' for k, v in rows if v not in (None, "") or k in raw)
        return f"<table>{cells}</table>"

    def _build_model_box(self) -> None:
        """The model's top three: built once, refilled for each face (no widgets made per move)."""
        self.model_head = QLabel()
        self.model_grid.addWidget(self.model_head, 0, 0, 1, 3)
        self.model_rows = []
        for i in range(1, 4):
            name, bar, pct = QLabel(), Bar(), QLabel()
            pct.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for col, w in enumerate((name, bar, pct)):
                self.model_grid.addWidget(w, i, col)
            self.model_rows.append((name, bar, pct))
        self.model_note = QLabel()
        self.model_grid.addWidget(self.model_note, 4, 0, 1, 3)

    def _show_prediction(self, item: Item, own: str | None) -> None:
        p = item.prediction
        self.model_box.setVisible(p is not None)
        if p is None:
            return
        disagree = own is not None and p.label != own
        self.model_head.setText("<b>Model</b>" + (" <span style='color:#c0392b'>disagrees with the label</span>"
                                                  if disagree else ""))
        top = sorted(p.probabilities.items(), key=lambda kv: -kv[1])[:3]
        for (name, bar, pct), entry in zip(self.model_rows, top + [None] * (3 - len(top))):
            for w in (name, bar, pct):
                w.setVisible(entry is not None)
            if entry is not None:
                cls, prob = entry
                name.setText(self._class(cls) + (" <span style='color:#666'>(its label)</span>" if cls == own else ""))
                bar.set_value(round(prob * 100))
                pct.setText(f"{prob:.0%}")
        note = []
        if own is not None and own in p.probabilities:
            note.append(f"probability of its label {p.probabilities[own]:.2f}")
        if p.in_sample:
            note.append("it was in the training set")
        if p.issue:
            note.append("<b style='color:#c0392b'>flagged by confident learning</b>")
        self.model_note.setText(f"<span style='color:#666'>{', '.join(note)}</span>")
        self.model_note.setVisible(bool(note))

    def set_explaining(self, on: bool) -> None:
        """Show the explanation instead of the crop (the window fetches it), or the crop again."""
        self.explaining = on
        self.explain_box.blockSignals(True)
        self.explain_box.setChecked(on)
        self.explain_box.blockSignals(False)
        face = self.item is not None and not self.item.is_image
        self.explain_note.setVisible(on and face)
        if not on:
            self._explained = None
            if self._crop_image is not None:
                self.set_crop(*self._crop_image)

    def set_explanation(self, key: int, image: QImage | None, text: str) -> None:
        """The stored explanation of the face (None: there is none; text says how to make one)."""
        if key != self.key or not self.explaining:
            return
        self.explain_note.setText(text)
        self.explain_note.updateGeometry()
        if image is None or image.isNull():
            return
        self._explained = key
        pix = QPixmap.fromImage(image)
        pix.setDevicePixelRatio(self.devicePixelRatioF())
        self.crop.setPixmap(pix)

    def set_crop(self, key: int, image: QImage) -> None:
        """The face's crop, large (decoded for the panel off the GUI thread)."""
        if key != self.key:
            return
        self._crop_image = (key, image)
        if self._explained == key:  # the explanation is on show; the crop waits for the box to be unticked
            return
        if image.isNull():
            self.crop.setPixmap(QPixmap())
            self.crop.setText("this crop cannot be decoded")
            return
        pix = QPixmap.fromImage(image)
        pix.setDevicePixelRatio(self.devicePixelRatioF())
        self.crop.setPixmap(pix)

    def _show_crop(self) -> None:
        """Until the large crop arrives: the thumbnail, if it is there."""
        pix = None if self.key is None else self.thumbs.pixmap(self.key)
        if isinstance(pix, QPixmap):
            side = CROP_SIDE - 4
            big = pix.scaled(round(side * pix.devicePixelRatio()), round(side * pix.devicePixelRatio()),
                             Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
            big.setDevicePixelRatio(pix.devicePixelRatio())
            self.crop.setPixmap(big)
        else:
            self.crop.setPixmap(QPixmap())
            self.crop.setText("")

    def _set_group(self, members: Sequence[int]) -> None:
        for b in self.group_buttons.values():
            b.deleteLater()
        self.group_buttons = {}
        for i, fid in enumerate(members[:24]):
            b = QToolButton()
            b.setToolTip(f"face {fid}: show it")
            b.setIconSize(QSize(GROUP_ICON, GROUP_ICON))
            b.setText(str(fid))
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(lambda _=False, f=fid: self.face_clicked.emit(f))
            self.group_grid.addWidget(b, i // 4, i % 4)
            self.group_buttons[fid] = b
            self._group_icon(fid)
        self.group_box.setVisible(bool(members))

    def _group_icon(self, fid: int) -> None:
        pix = self.thumbs.pixmap(fid)
        if isinstance(pix, QPixmap) and fid in self.group_buttons:
            self.group_buttons[fid].setIcon(QIcon(pix))

    def group_members(self) -> list[int]:
        return list(self.group_buttons)

    def _thumbs_ready(self, ids: list) -> None:
        for fid in ids:
            if fid in self.group_buttons:
                self._group_icon(fid)

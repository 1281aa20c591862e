"""The grid: a list model holding only the ids of the current filter (rows loaded a page at a time,
when first painted), a delegate that draws a face with its label, status and the model's guess, and
an icon-mode list view set up for 100,000 items (uniform sizes, static, batched layout)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from db.types import ClassInfo, FaceRow, ImageRow, PredictionRow
from labeler.style import STATUS_STYLE, emoji_font
from labeler.thumbs import BROKEN, Thumbnails

ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
PAGE = 200  # rows loaded at once
ZOOMS = (48, 64, 80, 96, 128, 160, 200)


@dataclass(frozen=True)
class Item:
    """What one grid cell shows: a face (with the model's prediction, if any) or an image."""

    row: FaceRow | ImageRow
    prediction: PredictionRow | None = None

    @property
    def is_image(self) -> bool:
        return isinstance(self.row, ImageRow)


class ListModel(QAbstractListModel):
    """Ids of the current filter, in order; their items are fetched a page at a time on first use
    and kept in a bounded cache. Nothing is fetched for rows nobody looks at."""

    load_failed = Signal(str)

    def __init__(self, fetch: Callable[[list[int]], dict[int, Item]], capacity: int = 30_000):
        super().__init__()
        self.fetch = fetch
        self.ids: list[int] = []
        self._row_of: dict[int, int] | None = None
        self._items: OrderedDict[int, Item] = OrderedDict()
        self._capacity = capacity
        self.pending: dict[int, tuple[str | None, str]] = {}  # written soon: (label, status)
        self.others: dict[int, str | None] = {}  # unreviewed faces another app claims: its annotator
        self.failed_at: float = 0.0

    # --- Qt's side -----------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.ids)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == ITEM_ROLE:
            return self.item(index.row())
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            item = self.item(index.row())
            return None if item is None else describe(item, self.pending.get(item.row.id))
        return None

    def flags(self, index) -> Qt.ItemFlag:
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable if index.isValid() else Qt.ItemFlag.NoItemFlags

    # --- the window's side -----------------------------------------------------------------------
    def set_ids(self, ids: list[int]) -> None:
        self.beginResetModel()
        self.ids = ids
        self._row_of = None
        self.endResetModel()

    def clear_cache(self) -> None:
        self._items.clear()

    def row_of(self, key: int) -> int | None:
        if self._row_of is None:
            self._row_of = {k: r for r, k in enumerate(self.ids)}
        return self._row_of.get(key)

    def append(self, ids: Sequence[int]) -> int:
        """New faces that match the filter join at the end (nothing already shown moves); returns
        how many joined."""
        new = [i for i in ids if self.row_of(i) is None]
        if not new:
            return 0
        first = len(self.ids)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self.ids.extend(new)
        for r, k in enumerate(new, first):
            self._row_of[k] = r
        self.endInsertRows()
        return len(new)

    def cached(self, key: int) -> Item | None:
        return self._items.get(key)

    def item(self, row: int) -> Item | None:
        if not 0 <= row < len(self.ids):
            return None
        key = self.ids[row]
        item = self._items.get(key)
        if item is None:
            self._load_page(row)
            item = self._items.get(key)
        return item

    def items(self, rows: Sequence[int]) -> list[Item]:
        """Items of these rows (loading the missing ones in one go)."""
        missing = [self.ids[r] for r in rows if self.ids[r] not in self._items]
        for i in range(0, len(missing), 1000):
            self._store(self._fetch(missing[i : i + 1000]))
        return [it for it in (self._items.get(self.ids[r]) for r in rows) if it is not None]

    def replace_items(self, items: dict[int, Item]) -> None:
        """Fresh items (after a write, a change elsewhere): repaint their rows where they are."""
        self._store(items)
        self._changed(items.keys())

    def update_rows(self, updates: dict[int, dict]) -> None:
        """Change fields of cached rows (a committed write: label, status, version, annotator)."""
        for key, fields in updates.items():
            item = self._items.get(key)
            if item is not None:
                self._items[key] = replace(item, row=replace(item.row, **fields))
        self._changed(updates.keys())

    def set_pending(self, pending: dict[int, tuple[str | None, str]]) -> None:
        self.pending.update(pending)
        self._changed(pending.keys())

    def clear_pending(self, keys: Sequence[int]) -> None:
        for k in keys:
            self.pending.pop(k, None)
        self._changed(keys)

    def set_others(self, others: dict[int, str | None]) -> None:
        changed = set(others) ^ set(self.others)
        self.others = dict(others)
        self._changed(changed)

    def _changed(self, keys) -> None:
        for k in keys:
            r = self.row_of(k)
            if r is not None:
                ix = self.index(r)
                self.dataChanged.emit(ix, ix)

    def _fetch(self, keys: list[int]) -> dict[int, Item]:
        import time

        try:
            return self.fetch(keys)
        except Exception as exc:  # an unreachable catalog: say so once in a while, draw placeholders
            now = time.monotonic()
            if now - self.failed_at > 5:
                self.failed_at = now
                self.load_failed.emit(f"cannot read faces from the catalog: {exc}".splitlines()[0])
            return {}

    def _load_page(self, row: int) -> None:
        import time

        if time.monotonic() - self.failed_at < 2:  # do not hammer a catalog that just failed
            return
        start = row - row % PAGE
        keys = [k for k in self.ids[start : start + PAGE] if k not in self._items]
        self._store(self._fetch(keys))

    def _store(self, items: dict[int, Item]) -> None:
        for k, it in items.items():
            self._items[k] = it
            self._items.move_to_end(k)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


def describe(item: Item, pending=None) -> str:
    """One line about a cell (the accessible text, the tooltip)."""
    r = item.row
    if item.is_image:
        return f"image {r.id}: no face found ({r.extraction_state}), {r.source_name}"
    label, status = pending or (r.label, r.status.value)
    text = f"face {r.id}: {label or 'no label'}"
    if not r.label and r.suggested_label and not pending:
        text = f"face {r.id}: suggested {r.suggested_label}"
    text += f" ({status}{', saving' if pending else ''})"
    if item.prediction is not None:
        text += f"; model: {item.prediction.label} {item.prediction.confidence:.0%}"
    return text


class FaceDelegate(QStyledItemDelegate):
    """Draws a cell: the thumbnail, a status badge, the label (or the suggestion, drawn in italics
    with a question mark) with its emoji, and the model's guess (red when it disagrees)."""

    def __init__(self, thumbs: Thumbnails, classes: Sequence[ClassInfo], model: ListModel, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self.model = model
        self.emoji = {c.name: c.emoji for c in classes}
        self.side = thumbs.size
        self.text_font = QFont()
        self.text_font.setPointSizeF(9)
        self.small_font = QFont()
        self.small_font.setPointSizeF(7.5)
        self.badge_font = QFont()
        self.badge_font.setBold(True)
        self.emoji_font = emoji_font(11)

    def cell(self) -> QSize:
        return QSize(max(self.side + 12, 104), self.side + 48)

    def sizeHint(self, option, index) -> QSize:
        return self.cell()

    def paint(self, painter: QPainter, option, index) -> None:
        item = index.data(ITEM_ROLE)
        rect = option.rect.adjusted(2, 2, -2, -2)
        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        view = self.parent()
        current = view is not None and view.currentIndex() == index
        if selected:
            painter.fillRect(rect, QColor("#cfe3ff"))
        if item is None:
            painter.fillRect(QRect(rect.x() + (rect.width() - self.side) // 2, rect.y() + 4, self.side, self.side),
                             QColor("#e4e4e4"))
            painter.restore()
            return
        key = item.row.id
        pending = self.model.pending.get(key)
        if item.is_image:
            label, status = None, ("deleted" if item.row.extraction_state == "rejected" else "no_face")
        else:
            label, status = pending or (item.row.label, item.row.status.value)
        thumb = QRect(rect.x() + (rect.width() - self.side) // 2, rect.y() + 4, self.side, self.side)
        pix = self.thumbs.pixmap(key)
        if pix is None:
            painter.fillRect(thumb, QColor("#e4e4e4"))
        elif pix is BROKEN:
            painter.fillRect(thumb, QColor("#fbe9e9"))
            painter.setPen(QColor("#b03030"))
            painter.setFont(self.small_font)
            painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "unreadable\nimage" if item.is_image else "unreadable\ncrop")
        else:
            target = QRect(0, 0, pix.width(), pix.height())
            target.moveCenter(thumb.center())
            painter.drawPixmap(target, pix)
        if status == "deleted" or key in self.model.others:
            painter.fillRect(thumb, QColor(255, 255, 255, 150))
        colour = QColor(STATUS_STYLE[status][1])
        # The status: a coloured frame around the face, and a badge in its corner.
        painter.setPen(QPen(colour, 2 if status != "unreviewed" else 1))
        painter.drawRect(thumb.adjusted(0, 0, -1, -1))
        self._badge(painter, thumb, status, colour)
        if pending:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#3b6fd8"))
            painter.drawEllipse(thumb.x() + 3, thumb.y() + 3, 9, 9)  # saving...
        if key in self.model.others:
            painter.setPen(QColor("#333"))
            painter.setFont(self.small_font)
            painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             f"claimed by\n{self.model.others[key] or 'another app'}")
        line1 = QRect(rect.x(), thumb.bottom() + 4, rect.width(), 17)
        line2 = QRect(rect.x(), line1.bottom() + 1, rect.width(), 14)
        if item.is_image:
            painter.setPen(QColor("#555"))
            painter.setFont(self.small_font)
            painter.drawText(line1, Qt.AlignmentFlag.AlignCenter, "no face found" if status != "deleted" else "rejected")
        else:
            self._label_line(painter, line1, label, item.row.suggested_label)
            if item.prediction is not None:
                own = label or item.row.suggested_label
                p = item.prediction
                painter.setFont(self.small_font)
                painter.setPen(QColor("#c0392b") if own and p.label != own else QColor("#666"))
                text = f"model: {p.label} {p.confidence:.0%}"
                painter.drawText(line2, Qt.AlignmentFlag.AlignCenter,
                                 painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, line2.width()))
        if current:
            painter.setPen(QPen(QColor("#1f5fd1"), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
        painter.restore()

    def _badge(self, painter: QPainter, thumb: QRect, status: str, colour: QColor) -> None:
        symbol = STATUS_STYLE[status][0]
        d = 18 if self.side >= 80 else 14
        badge = QRect(thumb.right() - d - 1, thumb.top() + 2, d, d)
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(colour)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.drawEllipse(badge)
        painter.setFont(self.badge_font)
        painter.setPen(QColor("white"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, symbol)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _label_line(self, painter: QPainter, line: QRect, label: str | None, suggested: str | None) -> None:
        if label:
            name, font, colour = label, QFont(self.text_font), QColor("#111")
            font.setBold(True)
        elif suggested:
            name, font, colour = f"{suggested}?", QFont(self.text_font), QColor("#6a6f78")
            font.setItalic(True)
        else:
            painter.setFont(self.text_font)
            painter.setPen(QColor("#9aa0a6"))
            painter.drawText(line, Qt.AlignmentFlag.AlignCenter, "no label")
            return
        emoji = self.emoji.get(label or suggested, "")
        painter.setFont(font)
        fm = painter.fontMetrics()
        painter.setFont(self.emoji_font)
        em_w = painter.fontMetrics().horizontalAdvance(emoji + " ") if emoji else 0
        painter.setFont(font)
        name = fm.elidedText(name, Qt.TextElideMode.ElideRight, line.width() - em_w - 4)
        total = em_w + fm.horizontalAdvance(name)
        x = line.x() + (line.width() - total) // 2
        if emoji:
            painter.setFont(self.emoji_font)
            painter.drawText(QRect(x, line.y(), em_w, line.height()), Qt.AlignmentFlag.AlignVCenter, emoji)
        painter.setFont(font)
        painter.setPen(colour)
        painter.drawText(QRect(x + em_w, line.y(), line.width(), line.height()), Qt.AlignmentFlag.AlignVCenter, name)
        if not label:  # a suggestion: dotted underline, "not decided yet"
            painter.setPen(QPen(colour, 1, Qt.PenStyle.DotLine))
            y = line.y() + line.height() - 2
            painter.drawLine(x + em_w, y, x + total, y)


class GridView(QListView):
    """Icon mode for 100,000 faces: uniform item sizes (no size asked per item), static movement,
    batched layout. Type-to-search is off: letters and digits are decision keys."""

    zoom_requested = Signal(int)  # +1 larger, -1 smaller

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)
        self.setMovement(QListView.Movement.Static)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(5000)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWrapping(True)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setDragEnabled(False)
        self.setSpacing(0)
        self.setMouseTracking(False)

    def keyboardSearch(self, search: str) -> None:  # noqa: N802 (Qt's name)
        pass

    def wheelEvent(self, event) -> None:  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_requested.emit(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
            return
        super().wheelEvent(event)

    def set_cell(self, size: QSize) -> None:
        self.setGridSize(size)
        self.setIconSize(size)
        self.verticalScrollBar().setSingleStep(max(8, size.height() // 4))

    def visible_rows(self) -> tuple[int, int]:
        """(first, last) row on screen; (-1, -1) when empty."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return -1, -1
        vp = self.viewport().rect()
        first = self.indexAt(vp.topLeft() + QPoint(2, 2))
        grid = self.gridSize()
        per_row = max(1, vp.width() // max(1, grid.width()))
        if not first.isValid():
            # Between cells (spacing): search the first row's cells.
            for dx in range(0, vp.width(), max(1, grid.width() // 2)):
                first = self.indexAt(vp.topLeft() + QPoint(dx + 2, grid.height() // 2))
                if first.isValid():
                    break
        if not first.isValid():
            return 0, min(model.rowCount() - 1, per_row * (vp.height() // max(1, grid.height()) + 1))
        rows_on_screen = vp.height() // max(1, grid.height()) + 2
        start = first.row() - first.row() % per_row
        return start, min(model.rowCount() - 1, start + per_row * rows_on_screen - 1)

    def current_persistent(self) -> QPersistentModelIndex:
        return QPersistentModelIndex(self.currentIndex())

"""Dialogs: File > Open (a directory or a PostgreSQL URL), Export the current filter (curate's export:
the same module, the same manifest), and the statistics window."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
)

from curation.export import FORMATS, export
from curation.selection import SelectionSpec
from db.types import ClassInfo
from labeler.offthread import run_off_thread


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _with_browse(edit: QLineEdit, browse) -> QHBoxLayout:
    """A path field with its Browse… button."""
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row


class OpenDialog(QDialog):
    """Where the catalog is: a directory, or a database URL with its blob directory."""

    def __init__(self, current: str, store: str | None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Open a catalog")
        form = QFormLayout(self)
        self.location = QLineEdit(current)
        self.location.setPlaceholderText("/path/to/catalog  or  postgresql+psycopg://user@host/db")
        self.location.setMinimumWidth(460)
        form.addRow("Catalog (directory or URL)", _with_browse(self.location, self._browse))
        self.store = QLineEdit(store or "")
        self.store.setPlaceholderText("blob directory, for a database URL")
        form.addRow("Blob store", self.store)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Catalog directory", self.location.text())
        if d:
            self.location.setText(d)

    def values(self) -> tuple[str, str | None]:
        return self.location.text().strip(), self.store.text().strip() or None


class _Progress(QObject):
    """What curate's export drives (a tqdm-like bar), as signals to the dialog."""

    total = Signal(int)
    step = Signal(int)

    def reset(self, total=None):
        self.total.emit(int(total or 0))

    def update(self, n=1):
        self.step.emit(int(n))


class ExportDialog(QDialog):
    """Export the faces of the current filter: format, status, classes, split."""

    finished_export = Signal(object, object)  # ExportResult or None, error text or None

    def __init__(self, catalog, classes: Sequence[ClassInfo], face_ids: Sequence[int], description: str,
                 last_dir: str, parent=None):
        super().__init__(parent)
        self.catalog = catalog
        self.face_ids = frozenset(face_ids)
        self.description = description
        self.setWindowTitle("Export the current filter")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"<b>{len(self.face_ids):,} faces</b> in the filter: {description}.<br>"
                             "Only those with a label (or confirmed, below) are exported, never deleted ones."))
        form = QFormLayout()
        self.out = QLineEdit(str(Path(last_dir) / "export") if last_dir else "")
        form.addRow("Output folder", _with_browse(self.out, self._browse))
        self.fmt = QComboBox()
        for f, text in (("folders", "class folders (Keras, torchvision)"), ("csv", "FER2013 CSV (48×48)"),
                        ("npz", "NumPy .npz")):
            self.fmt.addItem(text, f)
        assert {self.fmt.itemData(i) for i in range(self.fmt.count())} == set(FORMATS)
        form.addRow("Format", self.fmt)
        self.status = QComboBox()
        self.status.addItem("labeled (has a label, not deleted)", "labeled")
        self.status.addItem("confirmed only (reviewed and kept)", "confirmed")
        form.addRow("Faces", self.status)
        self.classes = QListWidget()
        for c in classes:
            it = QListWidgetItem(f"{c.emoji} {c.name}")
            it.setData(Qt.ItemDataRole.UserRole, c.name)
            it.setCheckState(Qt.CheckState.Checked)
            self.classes.addItem(it)
        self.classes.setMaximumHeight(150)
        form.addRow("Classes", self.classes)
        self.split = QComboBox()
        self.split.setEditable(True)
        self.split.addItems(["80/10/10", "70/15/15", "90/10/0", "keep"])
        self.split.setToolTip("train/val/test percentages (duplicate groups stay in one split), or keep: the faces' split hints")
        form.addRow("Split", self.split)
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        form.addRow("Seed", self.seed)
        self.size = QSpinBox()
        self.size.setRange(0, 1024)
        self.size.setSpecialValueText("default (48 for csv, else the crops' size)")
        form.addRow("Size", self.size)
        self.force = QCheckBox("replace the folder if it holds an earlier export")
        form.addRow("", self.force)
        lay.addLayout(form)
        self.bar = QProgressBar()
        self.bar.hide()
        lay.addWidget(self.bar)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.rejected.connect(self.reject)
        self.export_button.clicked.connect(self.start)
        lay.addWidget(self.buttons)
        self.progress = _Progress()
        self.progress.total.connect(self._set_total)
        self.progress.step.connect(self._step)
        self.result = None

    def _set_total(self, n: int) -> None:
        self.bar.setRange(0, max(n, 1))
        self.bar.setValue(0)

    def _step(self, n: int) -> None:
        self.bar.setValue(self.bar.value() + n)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export into", str(Path(self.out.text()).parent))
        if d:
            self.out.setText(str(Path(d) / "export"))

    def spec(self) -> SelectionSpec:
        chosen = tuple(self.classes.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.classes.count())
                       if self.classes.item(i).checkState() == Qt.CheckState.Checked)
        return SelectionSpec(status=self.status.currentData(), classes=chosen or None, split=self.split.currentText(),
                             seed=self.seed.value(), face_ids=self.face_ids,
                             faces_from=f"labeler filter: {self.description}")

    def start(self) -> None:
        out = self.out.text().strip()
        if not out:
            self.message.setText("Choose an output folder.")
            return
        spec, fmt = self.spec(), self.fmt.currentData()
        size, force = (self.size.value() or None), self.force.isChecked()
        self.export_button.setEnabled(False)
        self.bar.show()
        self.message.setText("exporting…")

        catalog, progress = self.catalog, self.progress
        run_off_thread(lambda: export(catalog, Path(out), fmt, spec, size=size, force=force, progress=progress),
                       self._done, "label-export")

    def _done(self, result, error: BaseException | None) -> None:
        self.export_button.setEnabled(True)
        if error is not None:
            self.bar.hide()
            self.message.setText(f"<span style='color:#b03030'>Not exported: {html.escape(_first_line(error))}</span>")
            self.finished_export.emit(None, _first_line(error))
            return
        self.result = result
        c = result.counts
        self.message.setText(f"Exported <b>{c['faces']:,}</b> faces ({result.size}×{result.size}, {result.format}) "
                             f"to {result.path}<br>manifest sha256 {result.manifest_sha256[:16]}…")
        self.buttons.clear()
        close = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.accept)
        self.finished_export.emit(result, None)


class StatsWindow(QDialog):
    """Class balance per source and review progress per annotator (pictures drawn off the GUI thread)."""

    drawn = Signal()  # the pictures, or why there are none, are shown

    def __init__(self, catalog, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Statistics")
        self.resize(1200, 640)
        lay = QVBoxLayout(self)
        self.tabs = QTabWidget()
        self.balance = FittedPicture("drawing…")
        self.progress = FittedPicture("drawing…")
        for label, title in ((self.balance, "Class balance per source"), (self.progress, "Review progress")):
            area = QScrollArea()
            area.setWidget(label)
            area.setWidgetResizable(True)
            self.tabs.addTab(area, title)
        lay.addWidget(self.tabs)
        run_off_thread(lambda: _statistics_pngs(catalog), self._show, "label-stats")

    def _show(self, pngs: tuple[bytes, bytes] | None, error: BaseException | None) -> None:
        if error is not None:
            self.balance.setText(f"cannot draw the statistics: {_first_line(error)}")
            self.progress.setText("")
        else:
            for label, png in zip((self.balance, self.progress), pngs):
                pix = QPixmap()
                pix.loadFromData(png)
                label.set_picture(pix)
        self.drawn.emit()


def _statistics_pngs(catalog) -> tuple[bytes, bytes]:
    """The class balance per source and the review progress, as PNGs (matplotlib: seconds, off the GUI thread)."""
    from labeler.progress_plot import class_balance_png, progress_png

    return class_balance_png(catalog), progress_png(catalog.review_progress())


class FittedPicture(QLabel):
    """A picture shown at the label's width (never wider than drawn), kept sharp on resize."""

    def __init__(self, text: str = ""):
        super().__init__(text)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumWidth(200)
        self._picture: QPixmap | None = None

    def set_picture(self, pix: QPixmap) -> None:
        self._picture = pix
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._picture is None or self._picture.isNull():
            return
        width = min(self.width() - 8, self._picture.width())
        if width > 0 and (self.pixmap().isNull() or self.pixmap().width() != width):
            self.setPixmap(self._picture.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation))


"""The main window: the grid of the current filter, the side panel, the filter bar, the status bar,
and the keys. Thin: what a key does (labeler.decisions), how it is written (labeler.writer), the
filters (labeler.filters), claims (labeler.claims) and changes from elsewhere (labeler.sync) are
plain modules; the catalog runs every filter and order (db.browse)."""
from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QSplitter,
    QTextEdit,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.exc import SQLAlchemyError

from db.errors import CatalogError
from db.types import DecisionContext, Status
from labeler.background import Background
from labeler.claims import ClaimKeeper, claim_rows
from labeler.conflictbar import ConflictBar, Pending
from labeler.decisions import Action, Change, FaceState, plan
from labeler.filterbar import FilterBar
from labeler.filters import FilterSpec
from labeler.grid import PAGE, ZOOMS, FaceDelegate, GridView, Item, ListModel
from labeler.keys import COMMANDS, TYPED_KEYS, class_bindings, clashes
from labeler.overlay import KeyOverlay
from labeler.pace import Pace
from labeler.panel import CROP_SIDE, PHOTO_SIDE, SidePanel
from labeler.sync import POLL_S, ChangeWatcher
from labeler.thumbs import (
    ThumbnailLoader, Thumbnails, decode_crops, decode_image, decode_photos, fit, photo_reader, read_blob, read_photo,
)
from labeler.writer import DecisionWriter, Job, WriteResult

DECISION_COMMANDS = {"confirm": Action.CONFIRM, "delete": Action.DELETE, "uncertain": Action.UNCERTAIN}
PREFETCH_SCREENS = 1  # thumbnails decoded ahead, beyond the screen
CLAIM_DELAY_MS = 300  # claims follow the screen once a move settles, not at every key
ROWS_AHEAD = 2 * PAGE  # rows fetched ahead of the screen, each way (Page Down: ~10 screens)
PANEL_DELAY_S = 0.04  # a lone move's side panel: after the grid's repaint
ROWS_NICE = 4  # the rows ahead are needed soon: ahead of the other background work, behind the GUI


class _Bridge(QObject):
    """Worker threads' callbacks, as signals: their slots run on the GUI thread."""

    write_result = Signal(object)
    write_state = Signal(object)
    task_done = Signal(str, object, object)
    rows_done = Signal(str, object, object)

    def emitter(self, name: str) -> Callable:
        """The named signal's emit, for a worker thread; quiet once Qt has deleted the window's objects.
        It holds the bridge (a signal does not): a bridge collected while a worker emits on it crashes."""
        def emit(*args):
            try:
                getattr(self, name).emit(*args)
            except RuntimeError:
                pass

        return emit


def short_error(exc: BaseException) -> str:
    from db.errors import database_error_message

    return database_error_message(exc) if isinstance(exc, SQLAlchemyError) else (str(exc).splitlines() or [""])[0]


class MainWindow(QMainWindow):
    first_screen = Signal()  # the first screen of thumbnails is painted (once)
    relisted = Signal()  # a new list is shown
    open_requested = Signal(str, object)  # File > Open: location, store

    def __init__(self, catalog, *, annotator: str, settings: QSettings, spec: FilterSpec | None = None,
                 model: int | str | None = None):
        super().__init__()
        self.catalog = catalog
        self.settings = settings
        self.annotator = annotator
        self.classes = catalog.classes()
        self.class_names = [c.name for c in self.classes]
        self.models = catalog.models_with_predictions()
        self.model_info = self._pick_model(model)
        # Explanations (`train explain`) of the model shown, else of the newest model that has some.
        self.explained_models = catalog.models_with_explanations()
        self.explaining = str(settings.value("explain", "false")).lower() == "true"
        self.keeper = ClaimKeeper()
        self.spec = FilterSpec()
        self._first_screen_done = False
        self._closed = False
        self._writer_problem: str | None = None

        self.bridge = _Bridge()
        self.bridge.write_result.connect(self._on_write)
        self.bridge.write_state.connect(self._on_write_state)
        self.bridge.task_done.connect(self._on_task)
        self.writer = DecisionWriter(catalog, annotator, self.bridge.emitter("write_result"),
                                     self.bridge.emitter("write_state"))
        self.background = Background(self.bridge.emitter("task_done"))
        self._outstanding: dict[str, int] = {}  # background results not yet handled, by key
        # Rows of the pages around the screen, fetched before they are painted (one fetch at a time).
        self.bridge.rows_done.connect(self._on_rows_ahead)
        self.rows_ahead = Background(self.bridge.emitter("rows_done"), name="label-rows", nice=ROWS_NICE)
        self._rows_token: int | None = None  # the fetch ahead in flight (ListModel.begin_prefetch)
        self._rows_failed_at = 0.0  # a failed fetch ahead: the next waits a moment (no retry per key)
        self._jobs = 0  # writes submitted whose result the window has not handled yet
        self.watcher = ChangeWatcher(catalog)

        zoom = int(settings.value("zoom", 96))
        self.zoom = zoom if zoom in ZOOMS else 96
        self.face_thumbs = Thumbnails(ThumbnailLoader(lambda ids, side: decode_crops(catalog, ids, side)),
                                      self._wanted_faces, self.zoom)
        self.photo_thumbs = Thumbnails(ThumbnailLoader(lambda ids, side: decode_photos(catalog, ids, side)),
                                       self._wanted_photos, self.zoom)
        for t in (self.face_thumbs, self.photo_thumbs):
            t.dpr = self.devicePixelRatioF()
            t.ready.connect(self._thumbs_ready)
            t.loader.failed.connect(self._thumbnails_failed)  # a method: never called once the window is gone

        self.model = ListModel(self._fetch_items)
        self.model.load_failed.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        self.view = GridView()
        self.view.setModel(self.model)
        self.delegate = FaceDelegate(self.face_thumbs, self.classes, self.model, self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.set_cell(self.delegate.cell())
        self.view.zoom_requested.connect(self.zoom_by)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.verticalScrollBar().valueChanged.connect(lambda _v: self._view_moved())
        self.empty = QLabel("No faces match this filter. Ctrl+F changes it.", self.view.viewport())
        self.empty.setStyleSheet("color:#777; font-size:13pt")
        self.empty.hide()

        self.panel = SidePanel(self.face_thumbs, self.classes)
        self.panel.face_clicked.connect(self.go_to_face)
        self.panel.set_explaining(self.explaining)
        self.panel.explain_toggled.connect(self.set_explaining)
        self.filterbar = FilterBar()
        self.filterbar.changed.connect(self.relist)
        self.filterbar.done.connect(lambda: self.view.setFocus())
        self.conflicts = ConflictBar()
        self.conflicts.apply_mine.connect(self._apply_mine)
        self.conflicts.keep_theirs.connect(lambda p: self.statusBar().showMessage(
            f"face {p.conflict.face_id}: kept as {p.conflict.annotator or 'someone'} left it", 4000))
        self.conflicts.show_face.connect(self.go_to_face)

        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.filterbar)
        lay.addWidget(self.conflicts)
        lay.addWidget(self.view, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 1)
        split.setSizes([1000, PHOTO_SIDE + 60])
        central = QWidget()  # (a QSplitter would take the overlay in as one more pane)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(split)
        self.setCentralWidget(central)
        self.overlay = KeyOverlay(central)
        self.overlay.set_classes(self.classes)

        self._build_status_bar()
        self.actions: dict[str, QAction] = {}
        self._build_actions()
        self._build_menus()
        self.setWindowTitle(f"facecat label — {catalog.display}")
        self.resize(1400, 900)

        self._panel_timer = self._single_shot(0, self._update_panel)  # started by _panel_soon, with the pace's delay
        self._panel_pace = Pace(lone_s=PANEL_DELAY_S)  # while keys keep coming, the panel waits for them to stop
        self._claim_timer = self._single_shot(CLAIM_DELAY_MS, self._sync_claims)
        self._counts_timer = self._single_shot(1000, self._refresh_counts)
        self._poll_timer = QTimer(self)
        self._poll_timer.timeout.connect(self._poll)
        self._poll_timer.start(int(POLL_S * 1000))
        self._renew_timer = QTimer(self)
        self._renew_timer.timeout.connect(self._renew)
        self._renew_timer.start(15_000)
        QApplication.instance().installEventFilter(self)

        self.filterbar.populate(self.classes, {"sources": [], "queries": [], "split_hints": []}, self.models, self.spec)
        geometry = settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.relist(spec or FilterSpec())
        problems = clashes(self.classes)
        if problems:
            self.statusBar().showMessage("no key for " + "; ".join(problems) +
                                         " (give it another with `curate classes --add NAME --key K`)", 15000)
        self._background("choices", self.catalog.review_choices)  # sources, queries, splits: a moment later
        self.view.setFocus()

    # --- construction ---------------------------------------------------------------------------------
    def _single_shot(self, ms: int, slot: Callable) -> QTimer:
        t = QTimer(self)
        t.setSingleShot(True)
        t.setInterval(ms)
        t.timeout.connect(slot)
        return t

    def _pick_model(self, ref):
        if ref is not None:
            info = self.catalog.get_model(ref)
            if info is None:
                raise CatalogError(f"no model {ref!r} in {self.catalog.display} (train lists them)")
            return info
        return self.models[0] if self.models else None

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.position_label = QLabel()
        self.reviewed_label = QLabel()
        self.counts_label = QLabel()
        font = self.counts_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.counts_label.setFont(font)
        self.saved_label = QLabel("✓ saved")
        self.annotator_button = QToolButton()
        self.annotator_button.setAutoRaise(True)
        self.annotator_button.setToolTip("The name written into every decision; click to change (Ctrl+Shift+A)")
        self.annotator_button.clicked.connect(self.change_annotator)
        self.annotator_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.catalog_label = QLabel(self.catalog.display)
        self.catalog_label.setStyleSheet("color:#666")
        for w in (self.position_label, self.reviewed_label, self.counts_label, self.saved_label,
                  self.annotator_button, self.catalog_label):
            bar.addPermanentWidget(w)
        self._show_annotator()

    def _build_actions(self) -> None:
        bindings = class_bindings(self.classes) + COMMANDS
        handlers = {
            "undo": lambda: self._submit(Job("undo")), "redo": lambda: self._submit(Job("redo")),
            "filter": self.focus_filter, "refresh": lambda: self.relist(self.spec),
            "zoom_in": lambda: self.zoom_by(1), "zoom_out": lambda: self.zoom_by(-1),
            "stats": self.show_stats, "help": self.overlay.toggle, "open": self.ask_open,
            "export": self.ask_export, "annotator": self.change_annotator, "quit": self.close,
            "explain": lambda: self.set_explaining(not self.explaining),
        }
        for b in bindings:
            act = QAction(b.text, self)
            act.setShortcuts([QKeySequence(k) for k in b.keys if k not in TYPED_KEYS])
            act.setObjectName(b.command)
            if b.command.startswith("label:"):
                name = b.command.split(":", 1)[1]
                emoji = next(c.emoji for c in self.classes if c.name == name)
                act.setText(f"{emoji} {name}")
                act.setIconText(f"{b.keys[0]}  {emoji} {name}")
                act.triggered.connect(lambda _=False, n=name: self.decide(Action.LABEL, n))
                self._grid_action(act)
            elif b.command in DECISION_COMMANDS:
                act.triggered.connect(lambda _=False, a=DECISION_COMMANDS[b.command]: self.decide(a))
                act.setIconText({"confirm": "Enter  confirm", "delete": "Del  delete",
                                 "uncertain": "U  uncertain"}[b.command])
                self._grid_action(act)
            elif b.command == "explain":  # a plain letter: the grid's, so typing E in the filter bar is just an E
                act.setCheckable(True)
                act.setChecked(self.explaining)
                act.triggered.connect(handlers[b.command])
                self._grid_action(act)
            else:
                act.triggered.connect(handlers[b.command])
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
                self.addAction(act)
            self.actions[b.command] = act
        self.actions["undo"].setEnabled(False)
        self.actions["redo"].setEnabled(False)

    def _grid_action(self, act: QAction) -> None:
        # Decision keys act on the grid only: a digit typed into the filter bar is not a decision.
        act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.view.addAction(act)

    def _build_menus(self) -> None:
        a = self.actions
        file_menu = self.menuBar().addMenu("&File")
        for k in ("open", "export", "stats", "annotator", "quit"):
            file_menu.addAction(a[k])
        decide = self.menuBar().addMenu("&Decide")
        for b in class_bindings(self.classes):
            decide.addAction(a[b.command])
        decide.addSeparator()
        for k in ("confirm", "delete", "uncertain"):
            decide.addAction(a[k])
        decide.addSeparator()
        decide.addAction(a["undo"])
        decide.addAction(a["redo"])
        view = self.menuBar().addMenu("&View")
        for k in ("filter", "refresh", "zoom_in", "zoom_out", "explain"):
            view.addAction(a[k])
        models = view.addMenu("Model predictions")
        group = QActionGroup(self)
        for info in [None] + self.models:
            act = QAction("none" if info is None else f"{info.name} (model {info.id}, {info.kind})", self)
            act.setCheckable(True)
            act.setChecked((info is None and self.model_info is None) or
                           (info is not None and self.model_info is not None and info.id == self.model_info.id))
            act.triggered.connect(lambda _=False, i=info: self.set_model(i))
            group.addAction(act)
            models.addAction(act)
        helpm = self.menuBar().addMenu("&Help")
        helpm.addAction(a["help"])
        tools = QToolBar("Decisions")
        tools.setObjectName("decisions")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tools.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for b in class_bindings(self.classes):
            tools.addAction(a[b.command])
        tools.addSeparator()
        for k in ("confirm", "delete", "uncertain"):
            tools.addAction(a[k])
        tools.addSeparator()
        help_button = QAction("?  keys", self)
        help_button.triggered.connect(self.overlay.toggle)
        tools.addAction(help_button)
        for button in tools.findChildren(QToolButton):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, tools)

    # --- listing ----------------------------------------------------------------------------------------
    def relist(self, spec: FilterSpec) -> bool:
        """Show the faces of `spec`, in its order. The catalog lists the ids in SQL; rows come later."""
        if spec.needs_model and self.model_info is None:
            spec = spec.without_model()
            self.statusBar().showMessage("no model predictions in this catalog: model filters and orders are off", 6000)
        current = self.current_key()
        try:
            if spec.images:
                ids = self.catalog.no_face_image_ids(include_rejected=True,
                                                     sources=None if spec.source is None else (spec.source,))
            else:
                ids = self.catalog.review_ids(spec.review_filter(self._model_id(), self.keeper.holder), spec.order)
        except (CatalogError, SQLAlchemyError) as exc:
            self.statusBar().showMessage(f"cannot list the faces: {short_error(exc)}", 10000)
            self.filterbar.set_spec(self.spec)
            return False
        mode_changed = spec.images != self.spec.images
        self.spec = spec
        self.filterbar.set_spec(spec)
        self.filterbar.set_images_mode(spec.images)
        self.delegate.thumbs = self.photo_thumbs if spec.images else self.face_thumbs
        # Rows are read again: they may have changed in ways no event records (dedupe, predictions).
        self.model.clear_cache()
        self.model.others = {}
        self.model.set_ids(ids)
        row = 0
        if current is not None and not mode_changed:
            try:
                row = ids.index(current)  # the face that was current stays current, if it is listed
            except ValueError:
                pass
        self.select_row(row)
        QTimer.singleShot(150, lambda: self.model.row_of(-1))  # the id -> row map, once the list is painted
        self.empty.setVisible(not ids)
        if not ids:
            self.empty.adjustSize()
            self.empty.move(30, 30)
        self._claim_timer.start(0)
        self._counts_timer.start()  # the counts a moment later: the new list paints first
        self._update_position()
        self.relisted.emit()
        return True

    def _model_id(self) -> int | None:
        return None if self.model_info is None else self.model_info.id

    def set_model(self, info) -> None:
        self.model_info = info
        self.relist(self.spec)

    def explanation_model(self):
        if self.model_info is not None:
            return self.model_info
        return self.explained_models[0] if self.explained_models else None

    def set_explaining(self, on: bool) -> None:
        """The side panel shows the model's explanation (Grad-CAM map) of the face instead of its crop."""
        self.explaining = bool(on)
        self.settings.setValue("explain", "true" if self.explaining else "false")
        self.panel.set_explaining(self.explaining)
        act = self.actions.get("explain")
        if act is not None and act.isChecked() != self.explaining:
            act.setChecked(self.explaining)
        self._panel_soon()

    def _panel_soon(self) -> None:
        """Show the current face in the side panel once the moves have paused (labeler.pace)."""
        self._panel_timer.start(max(1, round(self._panel_pace.wait_s(time.monotonic()) * 1000)))

    def _fetch_items(self, ids: list[int]) -> dict[int, Item]:
        """Rows for a page of ids (faces with the model's prediction, or images)."""
        return self._items_reader()(ids)

    def _items_reader(self) -> Callable[[list[int]], dict[int, Item]]:
        """What reads rows of the current list; its kind and model are taken now (a worker may run
        it after a re-list)."""
        catalog, images, model_id = self.catalog, self.spec.images, self._model_id()

        def read(ids: list[int]) -> dict[int, Item]:
            if images:
                return {r.id: Item(r) for r in catalog.images_by_ids(ids)}
            rows = catalog.faces_by_ids(ids)
            preds = catalog.predictions(model_id, ids) if model_id is not None else {}
            return {r.id: Item(r, preds.get(r.id)) for r in rows}

        return read

    def _fetch_ahead(self) -> None:
        """Fetch on a worker the rows the view nears (below the screen first, then above), so that
        painting them rarely reads the catalog on the GUI thread. The model's page fetch stays the
        fallback for a row nobody fetched ahead."""
        if self._rows_token is not None or self._closed or time.monotonic() - self._rows_failed_at < 2:
            return
        first, last = self.view.visible_rows()
        if first < 0:
            return
        # Only once a page's worth either way is not all there, then up to ROWS_AHEAD rows, at most a
        # page per read: a few reads rather than one per key, none long (after a jump, 400 rows read
        # at once held the interpreter lock beside the next keys). (The screen's rows: its paint reads them.)
        if self.model.missing(last + 1, last + PAGE):
            keys = self.model.missing(last + 1, last + ROWS_AHEAD)[:PAGE]
        elif self.model.missing(first - PAGE, first - 1):
            keys = self.model.missing(first - ROWS_AHEAD, first - 1)[::-1][:PAGE]  # nearest first
        else:
            return
        read = self._items_reader()
        self._rows_token = self.model.begin_prefetch()
        self.rows_ahead.submit("rows", lambda: read(keys))

    def _on_rows_ahead(self, _key: str, result, error) -> None:
        token, self._rows_token = self._rows_token, None
        if self._closed:
            return
        if error is not None:  # said by the GUI thread's own fetch, should it fail too when it paints
            self._rows_failed_at = time.monotonic()
        elif token is not None:
            self.model.store_prefetched(result, token)
            self._fetch_ahead()  # the view may have moved on meanwhile

    # --- moving -------------------------------------------------------------------------------------------
    def current_key(self) -> int | None:
        ix = self.view.currentIndex()
        return self.model.ids[ix.row()] if ix.isValid() and ix.row() < len(self.model.ids) else None

    def select_row(self, row: int) -> None:
        if not self.model.ids:
            self._current_changed()
            return
        row = max(0, min(row, len(self.model.ids) - 1))
        ix = self.model.index(row)
        self.view.selectionModel().setCurrentIndex(ix, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.view.scroll_to_current()

    def select_keys(self, keys) -> None:
        rows = sorted(r for r in (self.model.row_of(k) for k in keys) if r is not None)
        if not rows:
            return
        sel = self.view.selectionModel()
        sel.setCurrentIndex(self.model.index(rows[0]), QItemSelectionModel.SelectionFlag.ClearAndSelect)
        for r in rows[1:]:
            sel.select(self.model.index(r), QItemSelectionModel.SelectionFlag.Select)
        self.view.scroll_to_current()

    def go_to_face(self, key: int) -> None:
        row = self.model.row_of(key)
        if row is not None:
            self.select_row(row)
            self.view.setFocus()
            return
        self.statusBar().showMessage(f"face {key} is not in this filter; change the filter (Ctrl+F) to see it", 6000)

    def _selected_rows(self) -> list[int]:
        rows = sorted(ix.row() for ix in self.view.selectionModel().selectedIndexes())
        if not rows and self.view.currentIndex().isValid():
            rows = [self.view.currentIndex().row()]
        return rows

    def _advance(self, after_row: int) -> None:
        """Select the face after `after_row` (skipping faces another app claims); a decided face
        stays where it is."""
        nxt = after_row + 1
        while nxt < len(self.model.ids) and self.model.ids[nxt] in self.model.others:
            nxt += 1
        if nxt >= len(self.model.ids):
            self.select_row(after_row)
            self.statusBar().showMessage("that was the last face of this list", 4000)
            return
        self.select_row(nxt)

    def _current_changed(self, *_args) -> None:
        self._update_position()
        self._panel_pace.moved(time.monotonic())
        self._panel_soon()
        self._claim_timer.start()
        self._fetch_ahead()

    def _view_moved(self) -> None:
        for t in (self.face_thumbs, self.photo_thumbs):
            t.moved()
        self._claim_timer.start()
        self._fetch_ahead()

    def _update_position(self) -> None:
        ix = self.view.currentIndex()
        n = len(self.model.ids)
        what = "images" if self.spec.images else "faces"
        self.position_label.setText(f"{ix.row() + 1:,} of {n:,} {what}" if ix.isValid() else f"0 of {n:,} {what}")

    # --- deciding -----------------------------------------------------------------------------------------
    def decide(self, action: Action, label: str | None = None) -> None:
        if self.overlay.isVisible():
            self.overlay.close_overlay()
            return
        rows = self._selected_rows()
        if not rows:
            self.statusBar().showMessage("no face selected", 3000)
            return
        if self.spec.images:
            if action is Action.DELETE:
                self._submit(Job("reject", image_ids=tuple(self.model.ids[r] for r in rows)))
                self._advance(rows[-1])
            else:
                self.statusBar().showMessage("an image without a face: Delete (or X) rejects it", 4000)
            return
        items = self.model.items(rows)
        states = []
        for it in items:
            label_now, status_now = self.model.pending.get(it.row.id, (it.row.label, it.row.status.value))
            states.append(FaceState(it.row.id, it.row.version, label_now, it.row.suggested_label, status_now))
        p = plan(action, states, label)
        if p.changes:
            by_key = {it.row.id: it for it in items}
            contexts = {c.face_id: self._context(by_key[c.face_id]) for c in p.changes}
            self._submit(Job("decide", tuple(p.changes), contexts))
            self.model.set_pending({c.face_id: c.after for c in p.changes})
        message = p.message()
        if message:
            self.statusBar().showMessage(message, 6000)
        if p.changes or p.unchanged or len(rows) == 1 and not p.refused:
            self._advance(rows[-1])

    def _context(self, item: Item) -> DecisionContext:
        """The prediction on screen when the person decided (the audit keeps it)."""
        p = item.prediction
        if p is None or self.model_info is None:
            return DecisionContext(via="labeler")
        return DecisionContext(via="labeler", model_id=self.model_info.id, predicted_label=p.label,
                               predicted_confidence=p.confidence)

    def _submit(self, job: Job) -> None:
        self._jobs += 1
        self.writer.submit(job)
        self._show_saved()

    def _apply_mine(self, pending: Pending) -> None:
        c = pending.conflict
        change = Change(c.face_id, c.actual_version, (c.label, c.status), pending.mine)
        item = self.model.cached(c.face_id)
        context = self._context(item) if item is not None else DecisionContext(via="labeler")
        self._submit(Job("decide", (change,), {c.face_id: context}))
        self.model.set_pending({c.face_id: pending.mine})

    def _on_write(self, result: WriteResult) -> None:
        self._jobs -= 1
        if self._closed:
            return
        job = result.job
        updates = {fid: {"label": label, "status": Status(status), "version": version, "annotator": self.annotator}
                   for fid, (label, status, version) in result.applied.items()}
        if not self.spec.images:
            self.model.update_rows(updates)
        done = set(result.applied) | {c.face_id for c in result.conflicts} | {c.face_id for c in job.changes}
        self.model.clear_pending(list(done))
        if result.images and self.spec.images:
            self.model.update_rows({i: {"extraction_state": s} for i, s in result.images.items()})
        for c in result.conflicts:
            self.conflicts.add(Pending(c, result.wanted.get(c.face_id, (None, "unreviewed"))))
        if result.conflicts:
            keys = [c.face_id for c in result.conflicts]
            self._background(f"rows:{','.join(map(str, keys))}", lambda: self._fetch_faces(keys))
        if result.message:
            self.statusBar().showMessage(result.message, 5000)
        if job.kind in ("undo", "redo"):
            self.select_keys(result.faces or list(result.images))
        self.actions["undo"].setEnabled(result.undo_depth > 0)
        self.actions["redo"].setEnabled(result.redo_depth > 0)
        if self.current_key() in done or self.current_key() in result.images:
            self._panel_soon()
        self._counts_timer.start()
        self._show_saved()

    def _on_write_state(self, problem) -> None:
        self._writer_problem = problem
        self._show_saved()

    def _show_saved(self) -> None:
        n = self.writer.pending
        if self._writer_problem:
            self.saved_label.setText("⚠ not saved yet")
            self.saved_label.setToolTip(self._writer_problem)
            self.saved_label.setStyleSheet("color:#b03030; font-weight:bold")
        elif n:
            self.saved_label.setText(f"saving {n}…")
            self.saved_label.setStyleSheet("color:#3b6fd8")
        else:
            self.saved_label.setText("✓ saved")
            self.saved_label.setToolTip("every decision is in the catalog")
            self.saved_label.setStyleSheet("color:#24964a")

    def _fetch_faces(self, keys):
        rows = self.catalog.faces_by_ids(keys)
        preds = self.catalog.predictions(self.model_info.id, keys) if self.model_info is not None else {}
        return {r.id: Item(r, preds.get(r.id)) for r in rows}

    # --- background tasks: claims, changes, counts, the panel's photo and history -------------------
    def _on_task(self, key: str, result, error) -> None:
        left = self._outstanding.get(key, 1) - 1
        if left > 0:
            self._outstanding[key] = left
        else:
            self._outstanding.pop(key, None)
        if self._closed:
            return
        kind = key.split(":", 1)[0]
        if error is not None:
            self.statusBar().showMessage(f"catalog: {short_error(error)}", 8000)
            return
        if kind == "rows":
            if not self.spec.images:
                self.model.replace_items({k: v for k, v in result.items() if self.model.row_of(k) is not None})
                if self.current_key() in result:
                    self._panel_soon()
        elif kind == "claims":
            granted, others = result
            self.keeper.claimed(granted, others)
            self.model.set_others({k: v for k, v in others.items() if self.model.row_of(k) is not None})
        elif kind == "changes":
            self._apply_changes(result)
        elif kind == "new":
            joined = self.model.append(result)
            if joined:
                self.statusBar().showMessage(f"{joined} new face(s) joined this list at the end", 5000)
                self._update_position()
        elif kind == "counts":
            self._show_counts(result)
        elif kind == "choices":
            self.filterbar.populate(self.classes, result, self.models, self.spec)
        elif kind == "photo":
            fid, image, bbox, scale, err = result
            self.panel.set_photo(fid, image, bbox, scale, err)
        elif kind == "crop":
            fid, image = result
            self.panel.set_crop(fid, image)
        elif kind == "explain":
            self.panel.set_explanation(*result)
        elif kind == "history":
            fid, events = result
            self.panel.set_history(fid, events)
        elif kind == "group":
            fid, members = result
            self.panel.set_group(fid, members)
            self.face_thumbs.schedule()

    def _background(self, key: str, fn) -> None:
        if not self.background.submit(key, fn):
            self._outstanding[key] = self._outstanding.get(key, 0) + 1

    def _poll(self) -> None:
        self._background("changes", self.watcher.poll)

    def _apply_changes(self, update) -> None:
        stale = [fid for fid, v in update.changed.items()
                 if (it := self.model.cached(fid)) is not None and not it.is_image and it.row.version < v]
        if stale and not self.spec.images:
            self._background(f"rows:{stale[0]}:{len(stale)}", lambda: self._fetch_faces(stale))
        if update.new_faces and not self.spec.images:
            flt, order = self.spec.review_filter(self._model_id(), self.keeper.holder), self.spec.order
            new = list(update.new_faces)
            self._background("new", lambda: self.catalog.review_ids(flt, order, among=new))
        if update.changed or update.new_faces:
            self._counts_timer.start()

    def _refresh_counts(self) -> None:
        if self.spec.images:
            n = len(self.model.ids)
            self.reviewed_label.setText("")
            self.counts_label.setText(f"{n:,} image(s) without a face")
            return
        flt = self.spec.review_filter(self._model_id(), self.keeper.holder)
        self._background("counts", lambda: self.catalog.review_counts(flt))

    def _show_counts(self, counts) -> None:
        if self.spec.images:
            return
        share = f" ({100 * counts.reviewed / counts.faces:.1f}%)" if counts.faces else ""
        self.reviewed_label.setText(f"reviewed {counts.reviewed:,}{share}")
        parts = [f"{c.emoji} {counts.by_label.get(c.name, 0):,}" for c in self.classes]
        if counts.by_label.get(None):
            parts.append(f"no label {counts.by_label[None]:,}")
        self.counts_label.setText("  ".join(parts))
        self.counts_label.setToolTip("\n".join(f"{c.name}: {counts.by_label.get(c.name, 0):,}" for c in self.classes))

    def _sync_claims(self) -> None:
        # A re-list claims at once (start(0)), which also set the interval: back to the settle delay,
        # else every later key press wrote claims (a transaction per Page Down while scrolling).
        self._claim_timer.setInterval(CLAIM_DELAY_MS)
        if self._closed:
            return
        holder, annotator = self.keeper.holder, self.annotator
        if self.spec.images or not self.spec.includes_unreviewed:
            if self.keeper.granted:
                self.keeper.claimed([], {})
                def release():
                    self.catalog.release_claims(holder)
                    return [], {}

                self._background("claims", release)
            return
        first, last = self.view.visible_rows()
        cur = self.view.currentIndex().row() if self.view.currentIndex().isValid() else first
        keys = []
        for r in claim_rows(first, last, cur, len(self.model.ids)):
            k = self.model.ids[r]
            it = self.model.cached(k)
            if (it is None or it.row.status is Status.UNREVIEWED) and k not in self.model.pending:
                keys.append(k)

        def claim():
            res = self.catalog.claim_faces(holder, keys, annotator, ttl_s=self.keeper.ttl_s)
            return res.granted, res.held_by_others

        self.keeper.last_claim = time.monotonic()
        self._background("claims", claim)

    def _renew(self) -> None:
        if self.keeper.due():
            self._sync_claims()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.Wheel):
            was_idle = self.keeper.idle()
            self.keeper.touch()
            if was_idle and not self._closed:
                self._claim_timer.start()
            if (kind == QEvent.Type.KeyPress and event.text() in TYPED_KEYS and not event.isAutoRepeat()
                    and self._typed_key_is_a_command(obj)):
                self.actions[TYPED_KEYS[event.text()]].trigger()
                return True
        return False

    def _typed_key_is_a_command(self, obj) -> bool:
        """A key typed into this window, not into a text field (where "?" is just a character)."""
        if not isinstance(obj, QWidget) or obj.window() is not self:
            return False
        return not isinstance(QApplication.focusWidget(), (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox))

    # --- the side panel -----------------------------------------------------------------------------------
    def _update_panel(self) -> None:
        ix = self.view.currentIndex()
        item = self.model.item(ix.row()) if ix.isValid() else None
        if item is None:
            self.panel.show_item(None)
            return
        key = item.row.id
        self.panel.show_item(item, None if item.is_image else self.model.pending.get(key))
        if item.is_image:
            rel = item.row.blob_path
            self._photo_task(key, lambda: self._load_photo(key, rel, None, item.row.width))
            return
        row = item.row
        image_id = row.image_id
        bbox = row.bbox
        self._photo_task(key, lambda: self._load_photo(key, self.catalog.image_blob_paths([image_id]).get(image_id),
                                                       bbox, None))
        side = round((CROP_SIDE - 4) * self.devicePixelRatioF())
        self._background("crop", lambda: (key, decode_crops(self.catalog, [key], side)[key]))
        if self.explaining:
            self._explain(key, side)
        self._background("history", lambda: (key, self.catalog.label_events(key)))
        if row.dup_group is not None:
            group = row.dup_group
            self._background("group", lambda: (key, self.catalog.duplicate_group(group)))

    def _explain(self, key: int, side: int) -> None:
        info = self.explanation_model()
        if info is None:
            self.panel.set_explanation(key, None, "No model in this catalog has explanations: train one "
                                       "(`train fit`), then `train explain MODEL --catalog ...`.")
            return
        catalog, display = self.catalog, self.catalog.display

        def load():
            row = catalog.explanation(info.id, key)
            if row is None:
                return key, None, (f"No explanation of face {key} by model {info.name} yet. Make one with "
                                   f"<code>train explain {info.name} --catalog {display} --face {key}</code> "
                                   f"(or for many faces: --source NAME, --status unreviewed).")
            return key, fit(decode_image(row.png), side), (
                f"Grad-CAM of model {info.name}: what drove <b>{row.label}</b> (red: most).")

        self._background("explain", load)

    def _photo_task(self, key: int, load) -> None:
        """Load the panel's photo in the background; a failure (the database gone, a store that
        refuses the read) is said where the photo would be, on this face's panel."""
        def run():
            try:
                return load()
            except Exception as e:
                return key, None, None, 1.0, f"cannot read the original photo: {short_error(e)}"

        self._background("photo", run)

    def _load_photo(self, key: int, rel: str | None, bbox, width: int | None):
        if rel is None:
            return key, None, None, 1.0, "the face's image is no longer in the catalog"
        data = read_blob(self.catalog, rel)
        if data is None:
            return key, None, None, 1.0, f"the original photo is missing from the blob store ({rel})"
        full = photo_reader(data)
        original = full.size()
        image = read_photo(data, PHOTO_SIDE)
        if image.isNull():
            return key, None, None, 1.0, f"the original photo cannot be decoded ({rel}): {full.errorString()}"
        if max(image.width(), image.height()) < 160:  # a 48x48 dataset picture: show it larger
            image = image.scaled(image.width() * 4, image.height() * 4, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.FastTransformation)
        scale = image.width() / original.width() if original.isValid() and original.width() else 1.0
        return key, QImage(image), bbox, scale, None

    # --- thumbnails ---------------------------------------------------------------------------------------
    def _screen_rows(self) -> range:
        first, last = self.view.visible_rows()
        if first < 0:
            return range(0)
        extra = (last - first + 1) * PREFETCH_SCREENS
        return range(first, min(len(self.model.ids), last + 1 + extra))

    def _wanted_faces(self) -> list[int]:
        if self.spec.images:
            return list(self.panel.group_members())
        rows = self._screen_rows()
        cur = self.current_key()
        keys = ([cur] if cur is not None else []) + [self.model.ids[r] for r in rows]
        return keys + self.panel.group_members()

    def _wanted_photos(self) -> list[int]:
        if not self.spec.images:
            return []
        return [self.model.ids[r] for r in self._screen_rows()]

    def _thumbs_ready(self, keys: list) -> None:
        for k in keys:
            r = self.model.row_of(k)
            if r is not None:
                ix = self.model.index(r)
                self.view.update(ix)
        if not self._first_screen_done:
            first, last = self.view.visible_rows()
            thumbs = self.delegate.thumbs
            visible = [self.model.ids[r] for r in range(max(first, 0), last + 1)] if first >= 0 else []
            if first >= 0 and not thumbs.missing(visible):
                self._first_screen_done = True
                self.view.viewport().repaint()
                self.first_screen.emit()
        # More may be wanted (the loader works a batch at a time).
        self.delegate.thumbs.schedule()

    def zoom_by(self, step: int) -> None:
        i = ZOOMS.index(self.zoom) if self.zoom in ZOOMS else 3
        self.zoom = ZOOMS[max(0, min(len(ZOOMS) - 1, i + step))]
        self.settings.setValue("zoom", self.zoom)
        for t in (self.face_thumbs, self.photo_thumbs):
            t.set_size(self.zoom)
        self.delegate.resize(self.zoom)
        self.view.set_cell(self.delegate.cell())
        self.view.scroll_to_current()

    def idle(self) -> bool:
        """Nothing in flight: every write committed, every background read back, the screen's
        thumbnails decoded (what tests and the benchmark wait for)."""
        if self._jobs or self._outstanding or self._rows_token is not None or self._claim_timer.isActive() \
                or self._counts_timer.isActive() or self._panel_timer.isActive():
            return False
        first, last = self.view.visible_rows()
        if first < 0:
            return True
        return not self.delegate.thumbs.missing([self.model.ids[r] for r in range(first, last + 1)])

    # --- commands -------------------------------------------------------------------------------------------
    def focus_filter(self) -> None:
        self.filterbar.show()
        self.filterbar.focus_first()

    def change_annotator(self) -> None:
        name, ok = QInputDialog.getText(self, "Annotator", "Name written into every decision:", text=self.annotator)
        name = name.strip()
        if ok and name:
            self.set_annotator(name)

    def set_annotator(self, name: str) -> None:
        self.annotator = name
        self.writer.annotator = name
        self.settings.setValue("annotator", name)
        self._show_annotator()

    def _show_annotator(self) -> None:
        self.annotator_button.setText(f"✎ {self.annotator}")

    def ask_open(self) -> None:
        loc = self.catalog.location
        current = str(loc.directory) if loc.directory is not None else loc.display
        from labeler.dialogs import OpenDialog

        dialog = OpenDialog(current, None if loc.directory is not None else str(loc.store_root), self)
        if dialog.exec():
            location, store = dialog.values()
            if location:
                self.open_requested.emit(location, store)

    def ask_export(self) -> None:
        if self.spec.images:
            self.statusBar().showMessage("images without a face cannot be exported; pick a face filter", 5000)
            return
        from labeler.dialogs import ExportDialog  # curate's export, numpy and all: only when asked

        dialog = ExportDialog(self.catalog, self.classes, self.model.ids, self.spec.describe(),
                              str(self.settings.value("export_dir", "")), self)
        dialog.finished_export.connect(lambda result, _err: result is not None and self.settings.setValue(
            "export_dir", str(result.path.parent)))
        dialog.exec()

    def show_stats(self) -> None:
        from labeler.dialogs import StatsWindow

        StatsWindow(self.catalog, self).show()

    # --- closing ------------------------------------------------------------------------------------------------
    def _thumbnails_failed(self, message: str) -> None:
        self.statusBar().showMessage(message, 5000)

    def closeEvent(self, event) -> None:  # noqa: N802
        if self._closed:
            event.accept()
            return
        if self.writer.pending:
            self.statusBar().showMessage("saving the last decisions…")
            deadline = time.monotonic() + 10
            while self.writer.pending and time.monotonic() < deadline:
                QApplication.processEvents()
                self.writer.wait_idle(0.05)
            if self.writer.pending:
                answer = QMessageBox.question(
                    self, "Not saved", f"{self.writer.pending} change(s) could not be written to the catalog "
                    f"({self._writer_problem or 'it does not answer'}). Quit anyway and lose them?")
                if answer != QMessageBox.StandardButton.Yes:
                    event.ignore()
                    return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop the workers, release the claims; the catalog stays open for the caller to close."""
        if self._closed:
            return
        self._closed = True
        QApplication.instance().removeEventFilter(self)
        for t in (self._poll_timer, self._renew_timer, self._panel_timer, self._claim_timer, self._counts_timer):
            t.stop()
        self.writer.close(timeout=1)
        self.background.stop()
        self.rows_ahead.stop()
        for t in (self.face_thumbs, self.photo_thumbs):
            t.stop()
        try:
            self.catalog.release_claims(self.keeper.holder)
        except (CatalogError, SQLAlchemyError):
            pass  # unreachable: the claims lapse on their own
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.sync()


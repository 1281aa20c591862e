"""Starting the Qt application: settings, the annotator's name, the main window, File > Open."""
from __future__ import annotations

import gc
import getpass
import os
import signal
import sys
import traceback

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy.exc import SQLAlchemyError

from db import open_catalog
from db.errors import CatalogError
from labeler import qtfix
from labeler.filters import FilterSpec
from labeler.window import MainWindow, short_error

APP_NAME = "facecat label"


def application(argv: list[str] | None = None) -> QApplication:
    qtfix.guard()
    app = QApplication.instance() or QApplication(argv if argv is not None else [sys.argv[0]])
    app.setApplicationName("label")
    app.setOrganizationName("facecat")
    app.setApplicationDisplayName(APP_NAME)
    return app


def settings(path: str | None = None) -> QSettings:
    """The app's settings (annotator, zoom, last export folder): QSettings' usual place, or an ini
    file ($FACECAT_LABEL_SETTINGS, for tests and portable setups)."""
    path = path or os.environ.get("FACECAT_LABEL_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("facecat", "label")


def resolve_annotator(given: str | None, store: QSettings) -> str:
    """--annotator, else the one remembered, else the OS user name."""
    if given and given.strip():
        name = given.strip()
        store.setValue("annotator", name)
        return name
    remembered = store.value("annotator")
    if remembered:
        return str(remembered)
    try:
        return getpass.getuser()
    except Exception:  # no user name (a container without one)
        return "annotator"


def create_window(catalog, annotator: str, store: QSettings, spec: FilterSpec | None = None,
                  model: int | str | None = None) -> MainWindow:
    window = MainWindow(catalog, annotator=annotator, settings=store, spec=spec, model=model)
    window.open_requested.connect(lambda loc, blob: _reopen(window, loc, blob))
    # Python's full collections walk every object; the startup heap (Qt's wrappers, SQLAlchemy,
    # the modules) took 150-400 ms a walk, blocking the grid. Once the window is up, that heap is
    # frozen out of the walks (gc.freeze: no collection, no pause); later ones walk the caches only.
    window.first_screen.connect(gc.freeze)
    return window


_windows: list[MainWindow] = []


def _message(exc: Exception) -> str:
    return str(exc) if isinstance(exc, CatalogError) else short_error(exc)


def _reopen(old: MainWindow, location: str, store: str | None) -> None:
    """File > Open: the new catalog in a new window; the old one closes once the new one is up."""
    try:
        catalog = open_catalog(location, store)
    except (CatalogError, SQLAlchemyError) as exc:
        QMessageBox.warning(old, "Cannot open the catalog", _message(exc))
        return
    try:
        window = create_window(catalog, old.annotator, old.settings, FilterSpec())
    except (CatalogError, SQLAlchemyError) as exc:  # e.g. the server gone between the two
        catalog.close()
        QMessageBox.warning(old, "Cannot open the catalog", _message(exc))
        return
    window.show()
    _windows.append(window)
    old.close()


def _excepthook(kind, value, tb) -> None:
    """A bug in a slot: say so in a dialog and on stderr; the app keeps working."""
    text = "".join(traceback.format_exception(kind, value, tb))
    sys.stderr.write(text)
    app = QApplication.instance()
    if app is not None and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        QMessageBox.critical(None, APP_NAME, f"Something went wrong (a bug; please report it):\n\n{value}")


def _quit_on_signals(app: QApplication) -> None:
    """Ctrl-C or SIGTERM closes the windows as the Quit command does (the last writes finish, the
    claims are released). Python only sees a signal when it runs: a timer lets it, 5 times a second."""
    def close_all(*_args):
        for w in _windows:
            w.close()
        app.quit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, close_all)
    tick = QTimer(app)
    tick.timeout.connect(lambda: None)
    tick.start(200)


def run(catalog, annotator: str | None, spec: FilterSpec, model: int | str | None) -> int:
    app = application()
    store = settings()
    name = resolve_annotator(annotator, store)
    sys.excepthook = _excepthook
    window = create_window(catalog, name, store, spec, model)
    window.show()
    window.raise_()
    window.activateWindow()  # the keys work at once
    _windows.append(window)
    _quit_on_signals(app)
    code = app.exec()
    for w in _windows:
        w.shutdown()
        w.catalog.close()
    return code

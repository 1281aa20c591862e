"""Child process of test_kill: opens the real window on a catalog, presses a class key, and says so
on stdout the moment the window shows the decision as saved; then keeps running until killed."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from db import open_catalog  # noqa: E402
from labeler.app import application, create_window, settings  # noqa: E402


def main() -> None:
    location, store, settings_path = sys.argv[1], (sys.argv[2] or None), sys.argv[3]
    app = application()
    cat = open_catalog(location, store)
    window = create_window(cat, "killed", settings(settings_path))
    window.show()
    face = window.current_key()

    def press():
        if not window.isActiveWindow():  # keys go to the active window, as a person's would
            window.activateWindow()
            QTimer.singleShot(10, press)
            return
        QTest.keyClick(window.view, Qt.Key.Key_6)
        QTimer.singleShot(1, watch)

    def watch():
        # What a person sees: the face shown as confirmed, nothing pending, and "saved".
        item = window.model.cached(face)
        shown = item is not None and item.row.status.value == "confirmed" and item.row.label == "surprise"
        if shown and not window.model.pending and window.saved_label.text() == "✓ saved":
            print(f"SHOWN_DONE {face}", flush=True)
        else:
            QTimer.singleShot(1, watch)

    QTimer.singleShot(100, press)
    app.exec()


if __name__ == "__main__":
    main()

"""The labeler's tests drive the real window (Qt's offscreen platform) with real key presses."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt starts (pytest-qt creates the app lazily)

import pytest  # noqa: E402


@pytest.fixture
def open_window(qtbot, tmp_path):
    """open_window(catalog, spec=None, annotator="tester", **options) -> a shown MainWindow with its
    first screen of thumbnails painted and nothing left to load; shut down afterwards."""
    from labeler.app import create_window, settings

    windows = []

    def make(cat, spec=None, annotator: str = "tester", settings_name: str = "label.ini", **kw):
        w = create_window(cat, annotator, settings(str(tmp_path / settings_name)), spec, **kw)
        qtbot.addWidget(w)
        w.resize(1200, 800)
        w.show()
        qtbot.waitExposed(w)
        w.view.setFocus()
        qtbot.waitUntil(w.idle, timeout=10_000)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()


def settle(qtbot, *windows, timeout: int = 10_000) -> None:
    """Wait until every write is committed and every background read is back."""
    for w in windows:
        qtbot.waitUntil(w.idle, timeout=timeout)

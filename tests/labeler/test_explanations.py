"""The side panel's Explanation toggle (E): the stored Grad-CAM picture of the face, or how to make one."""
from __future__ import annotations

import io
import subprocess
import sys

from PIL import Image
from PySide6.QtCore import Qt

from db.types import NewExplanation
from tests.labeler.conftest import settle
from tests.labeler.helpers import add_faces, add_model


def red_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (100, 100), (230, 20, 20)).save(buf, format="PNG")
    return buf.getvalue()


def shown_colour(panel) -> tuple[int, int, int]:
    img = panel.crop.pixmap().toImage()
    c = img.pixelColor(img.width() // 2, img.height() // 2)
    return c.red(), c.green(), c.blue()


def test_the_explanation_toggle_shows_the_stored_map_or_how_to_make_one(catalog, open_window, qtbot, tmp_path):
    faces = add_faces(catalog, 2, label="happy")
    mid = add_model(catalog, tmp_path, {f: {"happy": 0.8, "sad": 0.2} for f in faces}, name="fer")
    catalog.store_explanations(mid, [NewExplanation(faces[0], "happy", red_png())])
    w = open_window(catalog)
    assert w.current_key() == faces[0] and not w.explaining
    r, g, b = shown_colour(w.panel)
    assert abs(r - g) < 10 and abs(g - b) < 10  # the grayscale crop
    qtbot.keyClick(w.view, Qt.Key.Key_E)
    settle(qtbot, w)
    assert w.explaining and w.panel.explain_box.isChecked() and w.actions["explain"].isChecked()
    r, g, b = shown_colour(w.panel)
    assert r > 200 and g < 60 and b < 60  # the stored picture
    assert "Grad-CAM of model fer" in w.panel.explain_note.text() and "<b>happy</b>" in w.panel.explain_note.text()
    qtbot.keyClick(w.view, Qt.Key.Key_Right)
    settle(qtbot, w)
    assert w.current_key() == faces[1]
    note = w.panel.explain_note.text()
    assert f"No explanation of face {faces[1]} by model fer" in note and f"train explain fer --catalog" in note
    r, g, b = shown_colour(w.panel)
    assert abs(r - g) < 10  # its own crop, still
    w.panel.explain_box.click()  # the box, as the key
    settle(qtbot, w)
    assert not w.explaining and not w.panel.explain_note.isVisible()
    qtbot.keyClick(w.view, Qt.Key.Key_Left)
    settle(qtbot, w)
    r, g, b = shown_colour(w.panel)
    assert abs(r - g) < 10  # off: the crop, not the map
    # Remembered for the next session.
    assert str(w.settings.value("explain")) == "false"


def test_the_labeler_does_not_import_tensorflow():
    code = ("import sys; import labeler.app, labeler.window, labeler.panel; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'training')]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr

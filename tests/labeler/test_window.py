"""The real window (offscreen), driven by real key presses; then the catalog's rows and audit are read.
On SQLite and on the PostgreSQL server (any_catalog)."""
from __future__ import annotations

import pytest

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from db.types import Order, Status
from labeler.filters import FilterSpec
from tests.labeler.conftest import settle
from tests.labeler.helpers import add_faces, add_model, add_no_face_images, second_session, watch_paints


def _press(qtbot, w, *keys, modifier=Qt.KeyboardModifier.NoModifier):
    """Keys typed into this window's grid (it is made the active window first, as a person's click
    would: with two windows open, shortcuts go to the active one)."""
    if not w.isActiveWindow():
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    w.view.setFocus()
    for k in keys:
        qtbot.keyClick(w.view, k, modifier)


def _state(cat, fid):
    f = cat.get_face(fid, with_crop=False)
    return f.label, f.status.value


def test_keys_label_confirm_delete_and_mark_uncertain(any_catalog, open_window, qtbot):
    cat = any_catalog
    faces = add_faces(cat, 6, source="bing: angry face", kind="scrape", query="angry face", suggested="angry")
    w = open_window(cat)
    assert w.model.ids == faces and w.current_key() == faces[0]  # the first face is selected at once
    _press(qtbot, w, Qt.Key.Key_4)  # happy
    _press(qtbot, w, Qt.Key.Key_Return)  # confirm the suggestion
    _press(qtbot, w, Qt.Key.Key_Space)  # confirm the suggestion
    _press(qtbot, w, Qt.Key.Key_Delete)
    _press(qtbot, w, Qt.Key.Key_U)
    _press(qtbot, w, Qt.Key.Key_X)
    settle(qtbot, w)
    assert [_state(cat, f) for f in faces] == [
        ("happy", "confirmed"), ("angry", "confirmed"), ("angry", "confirmed"),
        (None, "deleted"), (None, "uncertain"), (None, "deleted")]
    events = [cat.label_events(f)[0] for f in faces]
    assert {(e.annotator, e.via) for e in events} == {("tester", "labeler")}
    # A decided face stays where it is (no jumping) until the list is refreshed.
    assert w.model.ids == faces
    _press(qtbot, w, Qt.Key.Key_F5)
    settle(qtbot, w)
    assert w.model.ids == []  # the unreviewed queue is empty now
    assert w.empty.isVisible()


def test_enter_on_a_face_with_nothing_to_confirm_says_why(catalog, open_window, qtbot):
    faces = add_faces(catalog, 2)
    w = open_window(catalog)
    _press(qtbot, w, Qt.Key.Key_Return)
    settle(qtbot, w)
    assert _state(catalog, faces[0]) == (None, "unreviewed")
    assert "no label and no suggestion" in w.statusBar().currentMessage()
    assert w.current_key() == faces[0]  # it stays: the person has to press a class key


def test_undo_and_redo_go_through_the_version_check(any_catalog, open_window, qtbot):
    cat = any_catalog
    faces = add_faces(cat, 3, label="happy")
    w = open_window(cat)
    _press(qtbot, w, Qt.Key.Key_5, Qt.Key.Key_Delete)
    settle(qtbot, w)
    _press(qtbot, w, Qt.Key.Key_Z, modifier=Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, w)
    assert _state(cat, faces[1]) == ("happy", "unreviewed")
    assert w.current_key() == faces[1]  # undo goes back to the face it changed
    _press(qtbot, w, Qt.Key.Key_Z, modifier=Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, w)
    assert _state(cat, faces[0]) == ("happy", "unreviewed")
    _press(qtbot, w, Qt.Key.Key_Y, modifier=Qt.KeyboardModifier.ControlModifier)
    _press(qtbot, w, Qt.Key.Key_Z, modifier=Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    settle(qtbot, w)
    assert _state(cat, faces[0]) == ("sad", "confirmed") and _state(cat, faces[1]) == ("happy", "deleted")
    # Someone else changes a face: undoing our change to it is a conflict, not an overwrite.
    with second_session(cat) as other:
        other.annotate(faces[1], cat.get_face(faces[1]).version, "bob", label="angry")
    _press(qtbot, w, Qt.Key.Key_Z, modifier=Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, w)
    assert _state(cat, faces[1]) == ("angry", "deleted")
    assert w.conflicts.isVisible() and "bob" in w.conflicts.text.text()
    assert [e.annotator for e in cat.label_events(faces[1])][-1] == "bob"


def test_a_key_applies_to_every_selected_face_as_one_undo_step(any_catalog, open_window, qtbot):
    cat = any_catalog
    faces = add_faces(cat, 6, label="happy")
    w = open_window(cat)
    _press(qtbot, w, Qt.Key.Key_Right, Qt.Key.Key_Right, modifier=Qt.KeyboardModifier.ShiftModifier)
    _press(qtbot, w, Qt.Key.Key_1)
    settle(qtbot, w)
    assert [_state(cat, f)[0] for f in faces] == ["angry"] * 3 + ["happy"] * 3
    assert w.current_key() == faces[3]
    _press(qtbot, w, Qt.Key.Key_Z, modifier=Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, w)
    assert [_state(cat, f) for f in faces[:3]] == [("happy", "unreviewed")] * 3
    assert sorted(w.model.ids[ix.row()] for ix in w.view.selectionModel().selectedIndexes()) == faces[:3]
    # Ctrl+A then U: everything in the filter.
    _press(qtbot, w, Qt.Key.Key_A, modifier=Qt.KeyboardModifier.ControlModifier)
    _press(qtbot, w, Qt.Key.Key_U)
    settle(qtbot, w)
    assert {_state(cat, f)[1] for f in faces} == {"uncertain"}


def test_the_deleted_filter_shows_deleted_faces_and_a_class_key_brings_one_back(catalog, open_window, qtbot):
    faces = add_faces(catalog, 3, label="sad")
    catalog.annotate(faces[1], 1, "x", status=Status.DELETED)
    w = open_window(catalog)
    assert w.model.ids == [faces[0], faces[2]]
    w.filterbar.set_spec(FilterSpec(status="deleted"))
    w.relist(w.filterbar.spec())
    settle(qtbot, w)
    assert w.model.ids == [faces[1]]
    _press(qtbot, w, Qt.Key.Key_2)
    settle(qtbot, w)
    assert _state(catalog, faces[1]) == ("disgust", "confirmed")


def test_filters_and_orders_from_the_filter_bar(any_catalog, open_window, qtbot, tmp_path):
    cat = any_catalog
    fer = add_faces(cat, 4, source="fer2013", label="happy", split_hint="Training")
    other = add_faces(cat, 2, source="jaffe", label="sad", seed=1)
    add_model(cat, tmp_path, {fer[0]: {"happy": 0.9, "sad": 0.1}, fer[1]: {"happy": 0.05, "sad": 0.95},
                              fer[2]: {"happy": 0.4, "sad": 0.6}, other[0]: {"happy": 0.3, "sad": 0.7}})
    w = open_window(cat)
    assert w.model.ids == fer + other
    combo = w.filterbar.combos["source"]
    combo.setCurrentIndex(combo.findData("jaffe"))
    settle(qtbot, w)
    assert w.model.ids == other
    combo.setCurrentIndex(combo.findData(None))
    model_combo = w.filterbar.combos["model"]
    model_combo.setCurrentIndex(model_combo.findData("disagrees"))
    order = w.filterbar.combos["order"]
    order.setCurrentIndex(order.findData(Order.SELF_CONFIDENCE))
    settle(qtbot, w)
    assert w.model.ids == [fer[1], fer[2]]  # most confident disagreement first
    # The decision records the prediction that was on screen.
    _press(qtbot, w, Qt.Key.Key_5)
    settle(qtbot, w)
    (event,) = cat.label_events(fer[1])
    assert (event.via, event.model_id, event.predicted_label, event.predicted_confidence) == (
        "labeler", w.model_info.id, "sad", 0.95)
    assert w.model.ids == [fer[1], fer[2]]  # no jump after the decision
    # Ctrl+F focuses the filter bar, Esc goes back to the grid.
    _press(qtbot, w, Qt.Key.Key_F, modifier=Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is w.filterbar.combos["status"]
    qtbot.keyClick(w.filterbar.combos["status"], Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is w.view


def test_conflicting_change_elsewhere_is_shown_and_nothing_is_overwritten(any_catalog, open_window, qtbot):
    cat = any_catalog
    faces = add_faces(cat, 2, label="happy")
    w = open_window(cat)
    with second_session(cat) as other:  # another annotator, while this window shows version 1
        other.annotate(faces[0], 1, "bob", label="surprise", status="confirmed")
    _press(qtbot, w, Qt.Key.Key_5)
    settle(qtbot, w)
    assert _state(cat, faces[0]) == ("surprise", "confirmed")
    assert w.conflicts.isVisible()
    text = w.conflicts.text.text()
    assert "bob" in text and "surprise · confirmed" in text and "sad · confirmed" in text
    qtbot.waitUntil(lambda: w.model.cached(faces[0]).row.label == "surprise", timeout=5000)  # the grid shows theirs
    # The person decides: apply theirs over with mine.
    qtbot.mouseClick(w.conflicts.mine_button, Qt.MouseButton.LeftButton)
    settle(qtbot, w)
    assert _state(cat, faces[0]) == ("sad", "confirmed") and not w.conflicts.isVisible()
    assert [e.annotator for e in cat.label_events(faces[0])] == ["bob", "tester"]


def test_changes_made_elsewhere_appear_within_seconds(any_catalog, open_window, qtbot):
    cat = any_catalog
    faces = add_faces(cat, 3, label="happy")
    w = open_window(cat, FilterSpec(status="active"))
    with second_session(cat) as other:
        other.annotate(faces[2], 1, "bob", label="fear", status="confirmed")
        new = add_faces(other, 2, source="later", label="sad", seed=5)
    qtbot.waitUntil(lambda: w.model.cached(faces[2]) is not None and w.model.cached(faces[2]).row.label == "fear",
                    timeout=8000)
    qtbot.waitUntil(lambda: w.model.ids[-2:] == new, timeout=8000)  # new faces join at the end
    assert w.model.ids[:3] == faces


def test_two_apps_on_one_queue_see_disjoint_faces(any_catalog, open_window, qtbot):
    cat = any_catalog
    add_faces(cat, 300, suggested="happy")
    a = open_window(cat, annotator="alice", settings_name="a.ini")
    settle(qtbot, a)
    with second_session(cat) as cat_b:
        b = open_window(cat_b, annotator="bob", settings_name="b.ini")
        settle(qtbot, a, b)
        mine_a, mine_b = a.keeper.granted, b.keeper.granted
        assert mine_a and mine_b and not mine_a & mine_b
        assert not set(b.model.ids) & mine_a  # B's queue leaves out what A shows
        first_b, last_b = b.view.visible_rows()
        shown_b = {b.model.ids[r] for r in range(first_b, last_b + 1)}
        first_a, last_a = a.view.visible_rows()
        shown_a = {a.model.ids[r] for r in range(first_a, last_a + 1)}
        assert shown_a and shown_b and not shown_a & shown_b
        # Bob decides a face of his: Alice's list does not lose or move anything.
        _press(qtbot, b, Qt.Key.Key_Return)
        settle(qtbot, b)
        # Closing releases the claims: a third app may take Bob's faces.
        b.close()
        assert not set(cat.live_claims()) & mine_b


def test_two_apps_opening_at_once_never_both_get_a_face(any_catalog, open_window, qtbot):
    """Both list the same queue before either claims: the catalog grants each face to one app; the
    other shows it as claimed and skips it."""
    cat = any_catalog
    faces = add_faces(cat, 80, suggested="sad")
    with second_session(cat) as cat_b:
        a = open_window(cat, annotator="alice", settings_name="a.ini")
        assert set(faces[:40]) <= a.keeper.granted
        # B's claim lands between A's listing and A's claim (A's claim is undone to stage it).
        cat.release_claims(a.keeper.holder)
        assert cat_b.claim_faces("bob-app", faces[5:10], annotator="bob").granted == faces[5:10]
        a._sync_claims()
        settle(qtbot, a)
        assert {faces[i] for i in range(5, 10)} <= set(a.model.others)
        assert not a.keeper.granted & set(faces[5:10])
        a.select_row(4)
        _press(qtbot, a, Qt.Key.Key_Return)  # the next face selected skips the claimed ones
        assert a.current_key() == faces[10]
        # A claim never blocks a decision: alice can still click a claimed face and decide it.
        a.select_row(6)
        _press(qtbot, a, Qt.Key.Key_1)
        settle(qtbot, a)
        assert _state(cat, faces[6]) == ("angry", "confirmed")


def test_images_without_a_face_are_shown_rejected_and_brought_back(catalog, open_window, qtbot):
    add_faces(catalog, 2, label="happy")
    images = add_no_face_images(catalog, 3)
    w = open_window(catalog, FilterSpec(status="no_face"))
    assert w.model.ids == images and w.model.item(0).is_image
    _press(qtbot, w, Qt.Key.Key_Delete)
    _press(qtbot, w, Qt.Key.Key_4)  # no class for an image: nothing happens, and it says so
    settle(qtbot, w)
    assert catalog.no_face_image_ids() == images[1:]
    assert "Delete" in w.statusBar().currentMessage()
    _press(qtbot, w, Qt.Key.Key_Z, modifier=Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, w)
    assert catalog.no_face_image_ids() == images


def test_a_corrupt_crop_and_a_missing_photo_are_shown_and_the_rest_works(catalog, open_window, qtbot):
    faces = add_faces(catalog, 3, label="happy")
    with catalog._writing() as conn:  # damage the first face's crop, as a bad disk would
        conn.exec_driver_sql(f"UPDATE faces SET crop_png = x'89504e470d0a1a0a0000' WHERE id = {faces[0]}")
    row, third = (catalog.get_face(f, with_crop=False) for f in faces[1:])
    catalog.blobs.path(catalog.image_blob_paths([row.image_id])[row.image_id]).unlink()
    # A store that fails the read itself (a directory where the blob was: not "missing").
    blob = catalog.blobs.path(catalog.image_blob_paths([third.image_id])[third.image_id])
    blob.unlink()
    blob.mkdir()
    w = open_window(catalog)
    from labeler.thumbs import BROKEN

    assert w.face_thumbs.pixmap(faces[0]) is BROKEN
    assert "cannot be decoded" in w.panel.crop.text()
    w.select_row(1)
    settle(qtbot, w)
    assert "missing from the blob store" in w.panel.photo.text()
    _press(qtbot, w, Qt.Key.Key_3)
    settle(qtbot, w)
    assert _state(catalog, faces[1]) == ("fear", "confirmed")
    assert w.current_key() == faces[2]
    assert "cannot read the original photo" in w.panel.photo.text()
    _press(qtbot, w, Qt.Key.Key_1)
    settle(qtbot, w)
    assert _state(catalog, faces[2])[0] == "angry"


def test_the_side_panel_shows_details_group_prediction_and_history(catalog, open_window, qtbot, tmp_path):
    faces = add_faces(catalog, 3, source="bing: sad face", kind="scrape", query="sad face", suggested="sad")
    catalog.set_duplicate_groups({faces[0]: faces[0], faces[2]: faces[0]})
    add_model(catalog, tmp_path, {faces[0]: {"sad": 0.2, "happy": 0.7, "angry": 0.1}})
    catalog.annotate(faces[0], 1, "carol", status="uncertain")
    w = open_window(catalog, FilterSpec(status="active"))
    settle(qtbot, w)
    assert "sad face" in w.panel.details.text() and "https://example.org/bing: sad face/0.png" in w.panel.details.text()
    assert w.panel.group_members() == [faces[2]]
    assert "carol" in w.panel.history.text() and "uncertain" in w.panel.history.text()
    texts = " ".join(lbl.text() for lbl in w.panel.model_box.findChildren(type(w.panel.title)))
    assert "disagrees" in texts and "70%" in texts and "its label" in texts
    assert w.panel.photo.pixmap() is not None and not w.panel.photo.pixmap().isNull()
    w.panel.group_buttons[faces[2]].click()
    assert w.current_key() == faces[2]


def test_the_key_overlay_zoom_and_annotator(catalog, open_window, qtbot):
    add_faces(catalog, 4, label="happy")
    w = open_window(catalog, annotator="dana")
    assert "dana" in w.annotator_button.text()
    qtbot.keyClick(w.view, Qt.Key.Key_F1)
    assert w.overlay.isVisible()
    texts = " ".join(lbl.text() for lbl in w.overlay.findChildren(type(w.overlay.heading)))
    assert "Ctrl+Z" in texts and "angry" in texts and "PgUp" in texts
    qtbot.keyClick(w.overlay, Qt.Key.Key_Escape)
    assert not w.overlay.isVisible()
    before = w.view.gridSize()
    _press(qtbot, w, Qt.Key.Key_Plus, modifier=Qt.KeyboardModifier.ControlModifier)
    assert w.view.gridSize().width() > before.width()
    w.set_annotator("erin")
    _press(qtbot, w, Qt.Key.Key_4)
    settle(qtbot, w)
    assert catalog.label_events()[-1].annotator == "erin"
    assert w.settings.value("annotator") == "erin"


def test_export_of_the_current_filter_uses_curates_export_and_manifest(catalog, open_window, qtbot, tmp_path):
    import json

    faces = add_faces(catalog, 6, label=["happy", "sad"] * 3)
    w = open_window(catalog, FilterSpec(status="active", label="sad"))
    from labeler.dialogs import ExportDialog

    dialog = ExportDialog(catalog, w.classes, w.model.ids, w.spec.describe(), str(tmp_path), w)
    dialog.out.setText(str(tmp_path / "out"))
    dialog.split.setCurrentText("100/0/0")
    with qtbot.waitSignal(dialog.finished_export, timeout=20_000):
        dialog.start()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sorted(f["id"] for f in manifest["faces"]) == faces[1::2]
    assert manifest["filters"]["only_faces"] == {"from": "labeler filter: all but deleted, label sad", "count": 3}
    assert "Exported" in dialog.message.text()


def test_an_export_that_fails_says_why_in_the_dialog(catalog, open_window, qtbot, tmp_path):
    import html

    from labeler.dialogs import ExportDialog

    add_faces(catalog, 2, label="happy")
    w = open_window(catalog)
    (tmp_path / "a-file").write_text("not a folder")
    dialog = ExportDialog(catalog, w.classes, w.model.ids, w.spec.describe(), str(tmp_path), w)
    dialog.out.setText(str(tmp_path / "a-file" / "out"))
    with qtbot.waitSignal(dialog.finished_export, timeout=20_000) as done:
        dialog.start()
    result, error = done.args
    assert result is None and error == f"cannot create the folder {tmp_path / 'a-file'}: File exists"
    assert f"Not exported: {html.escape(error)}" in dialog.message.text() and dialog.export_button.isEnabled()


def test_file_open_switches_catalog_and_a_bad_one_is_a_dialog(catalog, open_window, qtbot, tmp_path, monkeypatch):
    from db import open_catalog
    from labeler import app as label_app

    add_faces(catalog, 2, label="happy")
    w = open_window(catalog)
    warnings = []
    monkeypatch.setattr(label_app.QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    w.open_requested.emit(str(tmp_path / "nothing"), None)
    assert warnings and "no catalog at" in warnings[0] and w.isVisible()  # the current catalog stays
    with open_catalog(tmp_path / "other", create=True) as other:
        faces = add_faces(other, 3, label="sad", source="other")
    w.open_requested.emit(str(tmp_path / "other"), None)
    new = label_app._windows[-1]
    qtbot.addWidget(new)
    try:
        qtbot.waitUntil(new.idle, timeout=10_000)
        assert new.model.ids == faces and new.catalog.display == str(tmp_path / "other")
        assert not w.isVisible() and new.annotator == w.annotator
    finally:
        new.shutdown()
        new.catalog.close()
        label_app._windows.remove(new)


def test_the_statistics_window_draws_balance_and_progress(catalog, open_window, qtbot):
    faces = add_faces(catalog, 4, label="happy")
    catalog.annotate(faces[0], 1, "alice", status="confirmed")
    w = open_window(catalog)
    from labeler.dialogs import StatsWindow

    stats = StatsWindow(catalog, w)
    qtbot.addWidget(stats)
    with qtbot.waitSignal(stats.drawn, timeout=30_000):
        stats.show()
    qtbot.waitUntil(lambda: not stats.progress.pixmap().isNull(), timeout=5000)
    assert stats.balance.pixmap().width() > 100


def test_a_statistics_window_deleted_before_its_pictures_are_drawn_crashes_nothing(catalog, open_window, qtbot,
                                                                                   monkeypatch):
    """Its window closed (Qt deletes the dialog), the drawing thread finishes later: it must not emit on
    the deleted dialog (emitting on an object as Qt deletes it crashed a CI run)."""
    import threading

    import shiboken6

    from labeler import progress_plot
    from labeler.dialogs import StatsWindow

    add_faces(catalog, 2, label="happy")
    w = open_window(catalog)
    drawing, release = threading.Event(), threading.Event()
    draw = progress_plot.class_balance_png
    monkeypatch.setattr(progress_plot, "class_balance_png",
                        lambda cat: (drawing.set(), release.wait(10), draw(cat))[-1])
    errors, shown = [], []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    monkeypatch.setattr(StatsWindow, "_show", lambda self, *result: shown.append(result))
    before = set(threading.enumerate())
    stats = StatsWindow(catalog, w)
    [thread] = [t for t in set(threading.enumerate()) - before if t.name == "label-stats"]
    assert drawing.wait(10)
    shiboken6.delete(stats)  # as closing the main window does
    release.set()
    thread.join(30)
    QApplication.processEvents()
    assert not thread.is_alive() and errors == [] and shown == []  # the deleted dialog is not called


def test_two_apps_changing_one_face_show_a_conflict_and_overwrite_nothing(any_catalog, open_window, qtbot):
    cat = any_catalog
    faces = add_faces(cat, 3, label="happy")
    a = open_window(cat, FilterSpec(status="active"), annotator="alice", settings_name="a.ini")
    with second_session(cat) as cat_b:
        b = open_window(cat_b, FilterSpec(status="active"), annotator="bob", settings_name="b.ini")
        assert a.current_key() == b.current_key() == faces[0]  # browsing: both see the face
        b._poll_timer.stop()  # bob's window has not heard of alice's change yet
        _press(qtbot, a, Qt.Key.Key_5)
        settle(qtbot, a)
        _press(qtbot, b, Qt.Key.Key_1)
        settle(qtbot, b)
        assert _state(cat, faces[0]) == ("sad", "confirmed")  # alice's stands
        assert b.conflicts.isVisible() and "alice" in b.conflicts.text.text()
        assert "angry · confirmed" in b.conflicts.text.text()
        qtbot.mouseClick(b.conflicts.theirs_button, Qt.MouseButton.LeftButton)  # bob keeps alice's
        settle(qtbot, b)
        assert _state(cat, faces[0]) == ("sad", "confirmed") and not b.conflicts.isVisible()
        assert [e.annotator for e in cat.label_events(faces[0])] == ["alice"]


def test_a_relist_shows_the_current_face_far_down_and_claims_only_what_is_seen(any_catalog, open_window,
                                                                               qtbot, tmp_path):
    """A new order puts the current face (it stays current) far down the list. The first paint of
    the new list shows it: the view is laid out and scrolled before it paints (it once painted the
    top of the list, then jumped; before that it stayed there, the selected face off screen). The
    grid reads the rows of that screen only, and the claims are the screen and a page after the
    current face, not every row between the top and the current face (once 60,000 rows)."""
    cat = any_catalog
    faces = add_faces(cat, 400, suggested="happy")
    # Least confidence first: the model is surest of the first faces, so they go to the end.
    add_model(cat, tmp_path, {f: {"happy": 0.99 - i / 1000, "sad": 0.01 + i / 1000} for i, f in enumerate(faces)})
    w = open_window(cat)
    # A layout in passes of 50 cells would place row 394 on the 8th (as 100,000 cells took 20 passes
    # of 5,000): the one-pass layout ignores this; a return to batches fails the test.
    w.view.setBatchSize(50)
    w.select_row(5)
    settle(qtbot, w)
    claimed, claim_faces = [], w.catalog.claim_faces

    def recording(holder, keys, *args, **kwargs):
        claimed.append(len(keys))
        return claim_faces(holder, keys, *args, **kwargs)

    painted = []  # the rows on screen at each paint of the grid
    watch = watch_paints(w.view.viewport(), lambda: painted.append(w.view.visible_rows()))
    w.catalog.claim_faces = recording
    read_from, fetch = [], w.model.fetch

    def reading(keys):  # the page reads of the GUI thread: where they start
        read_from.extend(w.model.row_of(k) for k in keys[:1])
        return fetch(keys)

    w.model.fetch = reading
    w.relist(FilterSpec(order=Order.LEAST_CONFIDENCE))
    assert w.model.ids.index(faces[5]) == 394 and w.current_key() == faces[5]
    qtbot.waitUntil(lambda: bool(painted), timeout=5000)
    w.view.viewport().removeEventFilter(watch)
    first, last = painted[0]
    assert first <= 394 <= last
    settle(qtbot, w)
    assert read_from and all(r >= first for r in read_from), (read_from, first)  # never the top of the list
    assert faces[5] in w.keeper.granted
    assert claimed and max(claimed) < 200, claimed  # every claim since the re-list, not only the last


def _when_modal(kind, act, within_s: float = 5.0) -> None:
    """act(dialog) on the next modal dialog of this kind, once it is up (exec() blocks until then);
    given up after within_s (the test's own assertions then fail), so it never reaches a later test."""
    import time

    from PySide6.QtCore import QTimer

    deadline = time.monotonic() + within_s

    def check():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, kind):
            act(dialog)
        elif time.monotonic() < deadline:  # not up yet: the key is pressed after this is armed
            QTimer.singleShot(10, check)

    QTimer.singleShot(0, check)


def _answer_open_dialog(location: str, store: str) -> None:
    """Fill in File > Open's dialog and accept it."""
    from labeler.dialogs import OpenDialog

    def fill(dialog):
        dialog.location.setText(location)
        dialog.store.setText(store)
        dialog.accept()

    _when_modal(OpenDialog, fill)


def test_the_other_keys_move_zoom_and_open_their_windows(catalog, open_window, qtbot):
    """The keys the overlay lists that other tests do not press: each does what it says."""
    from PySide6.QtWidgets import QInputDialog, QLineEdit

    from labeler.dialogs import ExportDialog, StatsWindow

    faces = add_faces(catalog, 300, label="happy")
    w = open_window(catalog)
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    _press(qtbot, w, Qt.Key.Key_End)
    assert w.current_key() == faces[-1]
    _press(qtbot, w, Qt.Key.Key_PageUp)
    row = w.model.row_of(w.current_key())
    assert 0 < row < len(faces) - 1
    _press(qtbot, w, Qt.Key.Key_Home)
    assert w.current_key() == faces[0]
    _press(qtbot, w, Qt.Key.Key_PageDown)
    assert w.model.row_of(w.current_key()) > 0
    qtbot.keyClick(w.view, Qt.Key.Key_Question, shift)  # "?" as a US keyboard types it: Shift+/
    assert w.overlay.isVisible()
    qtbot.keyClick(w.overlay, Qt.Key.Key_Question, shift)
    assert not w.overlay.isVisible()
    before = w.view.gridSize()
    _press(qtbot, w, Qt.Key.Key_Minus, modifier=ctrl)
    assert w.view.gridSize().width() < before.width()
    seen = []
    _when_modal(ExportDialog, lambda d: (seen.append("export"), d.reject()))
    _press(qtbot, w, Qt.Key.Key_E, modifier=ctrl)

    def type_name(dialog):  # typed in a text field, "?" is a character, not the key overlay
        seen.append("annotator")
        dialog.setTextValue("")
        qtbot.keyClicks(dialog.findChild(QLineEdit), "fr?n")
        dialog.accept()

    _when_modal(QInputDialog, type_name)
    _press(qtbot, w, Qt.Key.Key_A, modifier=ctrl | shift)
    assert len(seen) == 2 and w.annotator == "fr?n" and not w.overlay.isVisible()
    _press(qtbot, w, Qt.Key.Key_I, modifier=ctrl)
    stats = [s for s in w.findChildren(StatsWindow) if s.isVisible()]
    assert len(stats) == 1
    stats[0].close()


@pytest.mark.postgres
def test_ctrl_o_opens_a_postgresql_catalog_and_an_unreachable_one_is_a_dialog(catalog, open_window, qtbot, tmp_path,
                                                                                 monkeypatch, pg_url):
    from db import open_catalog
    from labeler import app as label_app

    add_faces(catalog, 2, label="happy")
    with open_catalog(pg_url, tmp_path / "pg-blobs", create=True) as other:
        faces = add_faces(other, 3, label="sad", source="other")
    w = open_window(catalog)
    warnings = []
    monkeypatch.setattr(label_app.QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    _answer_open_dialog("postgresql+psycopg://facecat@127.0.0.1:1/nothing", str(tmp_path / "pg-blobs"))
    _press(qtbot, w, Qt.Key.Key_O, modifier=Qt.KeyboardModifier.ControlModifier)
    assert len(warnings) == 1 and "127.0.0.1" in warnings[0] and "\n" not in warnings[0]
    assert w.isVisible() and w.catalog is catalog  # the current catalog stays
    _answer_open_dialog(pg_url, str(tmp_path / "pg-blobs"))
    _press(qtbot, w, Qt.Key.Key_O, modifier=Qt.KeyboardModifier.ControlModifier)
    new = label_app._windows[-1]
    qtbot.addWidget(new)
    try:
        qtbot.waitUntil(new.idle, timeout=10_000)
        assert new.model.ids == faces and new.catalog.location.url == pg_url and not w.isVisible()
    finally:
        new.shutdown()
        new.catalog.close()
        label_app._windows.remove(new)


def test_the_mouse_selects_several_faces_and_ctrl_wheel_zooms(catalog, open_window, qtbot):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication as App

    faces = add_faces(catalog, 6, label="happy")
    w = open_window(catalog)
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier

    def click(row, modifier=Qt.KeyboardModifier.NoModifier):
        rect = w.view.visualRect(w.model.index(row))
        qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())

    click(1)
    click(3, shift)  # 1..3
    click(5, ctrl)  # and 5
    _press(qtbot, w, Qt.Key.Key_5)
    settle(qtbot, w)
    assert [_state(catalog, f)[0] for f in faces] == ["happy", "sad", "sad", "sad", "happy", "sad"]
    before = w.view.gridSize().width()
    centre = QPointF(w.view.viewport().rect().center())
    wheel = QWheelEvent(centre, QPointF(w.view.viewport().mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton, ctrl, Qt.ScrollPhase.NoScrollPhase, False)
    App.sendEvent(w.view.viewport(), wheel)
    assert w.view.gridSize().width() > before


def test_the_panel_says_when_the_model_trained_on_the_face(catalog, open_window, qtbot, tmp_path):
    from db.types import NewModel, NewPrediction

    faces = add_faces(catalog, 2, label="happy")
    mid = catalog.register_model(NewModel(name="m", path=str(tmp_path / "m"), classes=catalog.class_names()))
    probs = {"happy": 0.2, "sad": 0.7, "angry": 0.1}
    catalog.store_predictions(mid, [NewPrediction(faces[0], probs, in_sample=True), NewPrediction(faces[1], probs)])
    w = open_window(catalog)
    settle(qtbot, w)
    assert "in the training set" in w.panel.model_note.text()
    _press(qtbot, w, Qt.Key.Key_Right)
    settle(qtbot, w)
    assert "in the training set" not in w.panel.model_note.text() and "0.20" in w.panel.model_note.text()

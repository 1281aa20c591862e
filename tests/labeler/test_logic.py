"""The labeler's plain modules, without a display: what a key does, undo and redo, the filter spec,
the key table, claims, and the writer thread on a real catalog."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import OperationalError

from db.types import DecisionContext, Order, Status
from labeler.claims import ClaimKeeper, claim_rows
from labeler.decisions import NO_LABEL, Action, FaceState, plan
from labeler.filters import NONE, STATUS_CHOICES, FilterSpec
from labeler.keys import COMMANDS, all_bindings, table
from labeler.sync import ChangeWatcher
from labeler.undo import Edit, Step, UndoStack, moved, redo_decisions, undo_decisions
from labeler.writer import DecisionWriter, Job
from tests.labeler.helpers import add_faces, second_session


def _face(fid, label=None, suggested=None, status="unreviewed", version=1):
    return FaceState(fid, version, label, suggested, status)


def test_a_class_key_labels_and_confirms():
    p = plan(Action.LABEL, [_face(1), _face(2, "sad", status="confirmed"), _face(3, "happy", status="deleted")], "sad")
    assert [(c.face_id, c.before, c.after) for c in p.changes] == [
        (1, (None, "unreviewed"), ("sad", "confirmed")), (3, ("happy", "deleted"), ("sad", "confirmed"))]
    assert p.unchanged == [2] and p.refused == {} and p.message() is None
    with pytest.raises(ValueError):
        plan(Action.LABEL, [_face(1)])


def test_enter_confirms_the_label_else_the_suggestion_else_says_why_not():
    p = plan(Action.CONFIRM, [_face(1, "happy"), _face(2, suggested="angry"), _face(3)])
    assert [(c.face_id, c.after) for c in p.changes] == [(1, ("happy", "confirmed")), (2, ("angry", "confirmed"))]
    assert p.refused == {3: NO_LABEL}
    assert p.message() == f"face 3 not changed: {NO_LABEL}"
    assert "2 faces not changed" in plan(Action.CONFIRM, [_face(4), _face(5)]).message()


def test_delete_and_uncertain_keep_the_label():
    d = plan(Action.DELETE, [_face(1, "happy", status="confirmed")])
    u = plan(Action.UNCERTAIN, [_face(1, "happy")])
    assert d.changes[0].after == ("happy", "deleted") and u.changes[0].after == ("happy", "uncertain")
    assert plan(Action.DELETE, [_face(1, status="deleted")]).unchanged == [1]


def test_undo_redo_steps_move_between_stacks_at_their_new_versions():
    stack = UndoStack()
    step = Step((Edit(1, (None, "unreviewed"), ("sad", "confirmed"), 2), Edit(2, ("a", "unreviewed"), ("b", "confirmed"), 5)))
    stack.push(step)
    assert stack.depths() == (1, 0)
    undo = stack.pop_undo()
    decisions = undo_decisions(undo, DecisionContext(via="labeler"))
    assert [(d.face_id, d.expected_version, d.label, d.status) for d in decisions] == [
        (1, 2, None, "unreviewed"), (2, 5, "a", "unreviewed")]
    back = moved(undo, {1: 3})  # face 2 conflicted: dropped
    stack.undone(back)
    assert stack.depths() == (0, 1) and [e.face_id for e in back.edits] == [1]
    redo = stack.pop_redo()
    assert [(d.expected_version, d.label, d.status) for d in redo_decisions(redo)] == [(3, "sad", "confirmed")]
    stack.redone(moved(redo, {1: 4}))
    assert stack.undo[-1].edits[0].version == 4
    stack.undone(Step())  # nothing applied: nothing to redo
    assert stack.depths() == (1, 0)
    stack.redo.append(Step(rejected_images=(9,)))
    stack.push(Step((Edit(7, (None, "unreviewed"), ("x", "confirmed"), 2),)))  # a new change clears redo
    assert stack.depths() == (2, 0)


def test_the_filter_spec_becomes_a_catalog_filter():
    spec = FilterSpec(status="unreviewed", label=NONE, suggested="happy", source="fer2013", split="Training",
                      model="disagrees", order=Order.MARGIN)
    flt = spec.review_filter(model_id=3, holder="me")
    assert flt.statuses == ("unreviewed",) and flt.labels == (None,) and flt.suggested == ("happy",)
    assert flt.sources == ("fer2013",) and flt.split_hints == ("Training",)
    assert flt.model_id == 3 and flt.model_disagrees and flt.skip_claimed_by_others == "me"
    assert spec.needs_model and not spec.without_model().needs_model
    assert FilterSpec(status="confirmed").review_filter(None, "me").skip_claimed_by_others is None
    assert FilterSpec(status="active").statuses() is None
    assert set(FilterSpec(status="everything").statuses()) == {s.value for s in Status}
    assert FilterSpec(status="no_face").images
    assert spec.describe() == ("unreviewed, label none, suggested happy, source fer2013, split Training, "
                               "model disagrees with the label, likely mislabeled first (normalized margin)")
    assert {s for s, _ in STATUS_CHOICES} >= {"unreviewed", "deleted", "no_face"}


def test_every_key_is_in_the_table_once(catalog):
    classes = catalog.classes()
    keys = [k for b in all_bindings(classes) for k in b.keys]
    assert len(keys) == len(set(keys)), "a key bound twice"
    assert [b.keys for b in all_bindings(classes)[:7]] == [(str(i),) for i in range(1, 8)]
    shown = " ".join(k for _, rows in table(classes) for k, _ in rows)
    for b in COMMANDS:
        assert b.keys[0].replace("Return", "Enter") in shown


def test_a_class_key_that_a_command_uses_is_not_bound_and_says_why(catalog):
    from labeler.keys import class_bindings, clashes

    catalog.set_class("contempt", key="u", emoji="😒")
    classes = catalog.classes()
    assert "label:contempt" not in [b.command for b in class_bindings(classes)]
    assert clashes(classes) == ["class contempt: key u is the key of uncertain"]


def test_claim_rows_cover_the_screen_and_a_page_ahead():
    assert claim_rows(0, 29, 0, 1000, lookahead=60) == list(range(0, 61))
    assert claim_rows(100, 129, 120, 1000, lookahead=60) == list(range(100, 181))
    assert claim_rows(100, 129, 90, 1000, lookahead=10) == list(range(90, 130))
    assert claim_rows(0, 5, 3, 6) == list(range(0, 6))
    assert claim_rows(0, 29, -1, 1000, lookahead=60) == list(range(0, 61))
    assert claim_rows(-1, -1, -1, 0) == []


def test_claim_rows_leave_out_what_lies_between_the_screen_and_a_far_current_face():
    # Right after a re-list the view still shows the top while the current face, kept, is far down:
    # the screen and a page from the current face, not the 80,000 rows between (as once happened).
    rows = claim_rows(0, 29, 80_000, 100_000, lookahead=60)
    assert rows == list(range(0, 30)) + list(range(80_000, 80_061))
    assert claim_rows(0, 29, 99_990, 100_000, lookahead=60) == list(range(0, 30)) + list(range(99_990, 100_000))


def test_claims_are_renewed_while_working_and_left_to_lapse_when_idle():
    k = ClaimKeeper(renew_s=60, idle_s=240)
    k.touch(now=1000)
    assert k.due(now=1000)  # never claimed
    k.claimed([1, 2], {3: "bob"}, now=1000)
    assert not k.due(now=1030) and k.due(now=1061)
    assert k.idle(now=1241) and not k.due(now=1300)  # idle: no renewal, the claims lapse
    k.touch(now=1300)
    assert k.due(now=1300)
    assert k.granted == {1, 2} and k.held_by_others == {3: "bob"}
    assert ClaimKeeper().holder != ClaimKeeper().holder


def test_the_change_watcher_sees_changes_and_new_faces_once(any_catalog):
    faces = add_faces(any_catalog, 3, label="happy")
    watcher = ChangeWatcher(any_catalog)
    assert watcher.poll().new_faces == []  # what was there at the start is not new
    with second_session(any_catalog) as other:
        other.annotate(faces[0], 1, "bob", label="sad")
        later = add_faces(other, 2, source="later")
    first = watcher.poll()
    assert first.changed == {faces[0]: 2} and first.new_faces == later
    assert watcher.poll().new_faces == []  # each new face once, though the overlap reads it again


class _Collect:
    def __init__(self):
        self.results, self.states = [], []
        self.done = threading.Event()

    def result(self, r):
        self.results.append(r)
        self.done.set()

    def state(self, s):
        self.states.append(s)


def _writer(cat, who="alice"):
    c = _Collect()
    return DecisionWriter(cat, who, c.result, c.state), c


def _decide(face_id, version, before, after):
    from labeler.decisions import Change

    return Job("decide", (Change(face_id, version, before, after),), {face_id: DecisionContext(via="labeler")})


def test_the_writer_writes_in_order_undoes_and_redoes(any_catalog):
    (fid,) = add_faces(any_catalog, 1, suggested="happy")
    w, got = _writer(any_catalog)
    try:
        # Two decisions on one face queued before the window heard of the first: the second is
        # based on the version the person saw, and the writer knows it moved that version on.
        w.submit(_decide(fid, 1, (None, "unreviewed"), ("happy", "confirmed")))
        w.submit(_decide(fid, 1, ("happy", "confirmed"), ("sad", "confirmed")))
        w.submit(Job("undo"))
        assert w.wait_idle(30)
        first, second, undo = got.results
        assert first.applied == {fid: ("happy", "confirmed", 2)} and not first.conflicts
        assert second.applied == {fid: ("sad", "confirmed", 3)}
        assert undo.applied == {fid: ("happy", "confirmed", 4)} and (undo.undo_depth, undo.redo_depth) == (1, 1)
        w.submit(Job("redo"))
        w.submit(Job("redo"))
        assert w.wait_idle(30)
        assert got.results[3].applied == {fid: ("sad", "confirmed", 5)}
        assert got.results[4].message == "nothing to redo"
        events = any_catalog.label_events(fid)
        assert [(e.to_label, e.version, e.via) for e in events] == [
            ("happy", 2, "labeler"), ("sad", 3, "labeler"), ("happy", 4, "labeler"), ("sad", 5, "labeler")]
    finally:
        w.close()


def test_the_writer_reports_a_conflict_and_overwrites_nothing(any_catalog):
    (fid,) = add_faces(any_catalog, 1, label="happy")
    with second_session(any_catalog) as other:
        other.annotate(fid, 1, "bob", label="angry", status="confirmed")
    w, got = _writer(any_catalog)
    try:
        w.submit(_decide(fid, 1, ("happy", "unreviewed"), ("sad", "confirmed")))
        assert w.wait_idle(30)
        (r,) = got.results
        assert r.applied == {} and r.wanted == {fid: ("sad", "confirmed")}
        (c,) = r.conflicts
        assert (c.annotator, c.label, c.status, c.actual_version) == ("bob", "angry", "confirmed", 2)
        assert any_catalog.get_face(fid).label == "angry"
        w.submit(Job("undo"))  # nothing was applied, so nothing to undo
        assert w.wait_idle(30) and got.results[-1].message == "nothing to undo"
    finally:
        w.close()


def _failing_writes(catalog, monkeypatch, failures, commit_first=False):
    """annotate_many raising a lost connection on the calls marked True (after committing, with
    commit_first: the answer is what is lost)."""
    monkeypatch.setattr("labeler.writer.RETRY_S", (0.01,))
    real = catalog.annotate_many
    plan_ = iter(failures)

    def flaky(decisions, annotator):
        fail = next(plan_, False)
        result = real(decisions, annotator) if commit_first or not fail else None
        if fail:
            raise OperationalError("UPDATE", {}, Exception("server closed the connection unexpectedly"))
        return result

    monkeypatch.setattr(catalog, "annotate_many", flaky)


def test_the_writer_keeps_the_queue_while_the_catalog_cannot_be_reached(catalog, monkeypatch):
    (fid,) = add_faces(catalog, 1, label="happy")
    _failing_writes(catalog, monkeypatch, [True, True])
    w, got = _writer(catalog)
    try:
        w.submit(_decide(fid, 1, ("happy", "unreviewed"), ("happy", "confirmed")))
        assert w.wait_idle(30)
        assert got.results[0].applied == {fid: ("happy", "confirmed", 2)}
        assert "cannot write to the catalog (server closed the connection unexpectedly)" in got.states[0]
        assert got.states[-1] is None  # reachable again
    finally:
        w.close()


def test_a_retry_that_finds_its_own_committed_write_counts_it_applied(catalog, monkeypatch):
    """The commit went through but its answer was lost: the retry's conflict is our own change."""
    (fid,) = add_faces(catalog, 1, label="happy")
    _failing_writes(catalog, monkeypatch, [True], commit_first=True)
    w, got = _writer(catalog)
    try:
        w.submit(_decide(fid, 1, ("happy", "unreviewed"), ("sad", "confirmed")))
        assert w.wait_idle(30)
        assert got.results[0].applied == {fid: ("sad", "confirmed", 2)} and got.results[0].conflicts == []
    finally:
        w.close()


def test_the_none_leak_guard_finds_a_leaking_call_and_this_pyside6_is_clean():
    import ctypes

    from labeler.qtfix import none_leaks

    def leaky():
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))  # keep the count where it was...
        ctypes.pythonapi.Py_DecRef(ctypes.py_object(None))
        ctypes.pythonapi.Py_DecRef(ctypes.py_object(None))  # ...then lose one, as PySide6 6.12.0 does
        return None

    try:
        assert none_leaks(leaky)
    finally:
        for _ in range(65):  # give back what the probe took (1 + 64 calls)
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))
    assert not none_leaks()  # pyproject keeps leaking builds out


def test_the_list_model_hands_out_more_items_than_its_cache_keeps():
    from db.types import ImageRow
    from labeler.grid import Item, ListModel

    def fetch(keys):
        return {k: Item(ImageRow(k, "b", 1, 1, "PNG", "s", None, None, None, None, "no_face")) for k in keys}

    model = ListModel(fetch, capacity=10)
    model.set_ids(list(range(1, 2501)))
    items = model.items(range(2500))  # Ctrl+A, then a key
    assert [it.row.id for it in items] == list(range(1, 2501))
    assert model.item(5).row.id == 6 and model.row_of(2500) == 2499


def test_the_annotator_is_given_else_remembered_else_the_os_user(tmp_path, monkeypatch):
    from labeler.app import resolve_annotator, settings

    store = settings(str(tmp_path / "s.ini"))
    monkeypatch.setattr("getpass.getuser", lambda: "osuser")
    assert resolve_annotator(None, store) == "osuser"
    assert resolve_annotator("  alice ", store) == "alice"  # and remembered
    assert resolve_annotator(None, settings(str(tmp_path / "s.ini"))) == "alice"


def test_a_scripted_review_writes_what_the_keys_would_with_its_own_tool_in_the_audit(any_catalog):
    from labeler.scripted import decide

    ids = add_faces(any_catalog, 3, suggested=["happy", "sad", None], kind="scrape", source="bing: x", query="x")
    faces = any_catalog.faces_by_ids(ids)
    r = decide(any_catalog, faces, "confirm", annotator="demo", via="demo")
    assert {f: (lab, st) for f, (lab, st, _v) in r.applied.items()} == {ids[0]: ("happy", "confirmed"),
                                                                        ids[1]: ("sad", "confirmed")}
    assert r.refused == {ids[2]: NO_LABEL} and not r.conflicts and r.message is None
    (event,) = any_catalog.label_events(ids[0])
    assert (event.annotator, event.via, event.to_label, event.to_status) == ("demo", "demo", "happy", "confirmed")
    # A face read before someone else changed it: the catalog refuses the stale decision, nothing is written.
    stale = any_catalog.faces_by_ids([ids[0]])
    assert decide(any_catalog, stale, "delete", annotator="demo", via="demo").applied
    again = decide(any_catalog, stale, "label", annotator="demo", via="demo", label="sad")
    assert not again.applied and [c.face_id for c in again.conflicts] == [ids[0]]
    assert any_catalog.get_face(ids[0], with_crop=False).status is Status.DELETED

"""Label issues in the catalog (mark_issues, unresolved_issues) and what review changed
(review_summary), on SQLite and PostgreSQL."""
from __future__ import annotations

import time

from db.types import DecisionContext, NewModel, NewPrediction, Status
from tests.db.helpers import add_faces


def _model(cat, tmp_path, name="cv", kind="cross-val") -> int:
    return cat.register_model(NewModel(name=name, path=str(tmp_path / name), classes=["happy", "sad"], kind=kind))


def _predict(cat, mid, faces, p_happy=0.2):
    cat.store_predictions(mid, [NewPrediction(f, {"happy": p_happy, "sad": 1 - p_happy}) for f in faces])


def test_mark_issues_replaces_the_models_flags(any_catalog, tmp_path):
    faces = add_faces(any_catalog, 5)
    a, b = _model(any_catalog, tmp_path, "a"), _model(any_catalog, tmp_path, "b")
    _predict(any_catalog, a, faces)
    _predict(any_catalog, b, faces)
    assert any_catalog.mark_issues(a, faces[:3] + [999_999]) == 3  # a face without a prediction is ignored
    assert any_catalog.mark_issues(b, [faces[4]]) == 1
    assert any_catalog.issue_face_ids(a) == faces[:3] and any_catalog.issue_face_ids(b) == [faces[4]]
    assert any_catalog.mark_issues(a, [faces[1]]) == 1  # the new set replaces the old
    assert any_catalog.issue_face_ids(a) == [faces[1]] and any_catalog.issue_face_ids(b) == [faces[4]]
    assert [m.name for m in any_catalog.models_with_issues()] == ["b", "a"]
    # A check of some faces (suggest --classes, --source): only their flags are replaced.
    assert any_catalog.mark_issues(a, [faces[3]], among=faces[1:4]) == 1
    assert any_catalog.issue_face_ids(a) == [faces[3]]
    any_catalog.mark_issues(a, [faces[0], faces[2]])
    assert any_catalog.mark_issues(a, [faces[3]], among=faces[2:4]) == 1
    assert any_catalog.issue_face_ids(a) == [faces[0], faces[3]]
    any_catalog.mark_issues(a, [faces[1]])
    preds = any_catalog.predictions(a)
    assert preds[faces[1]].issue and not preds[faces[0]].issue
    _predict(any_catalog, a, faces[1:2])  # a new prediction resets its flag (flag again after storing)
    assert any_catalog.issue_face_ids(a) == []


def test_an_issue_is_resolved_once_someone_confirms_the_face_after_the_prediction(any_catalog, tmp_path):
    faces = add_faces(any_catalog, 5)
    before = faces[0]
    any_catalog.annotate(before, 1, "ann", status=Status.CONFIRMED)  # confirmed before the prediction
    time.sleep(0.01)
    mid = _model(any_catalog, tmp_path)
    _predict(any_catalog, mid, faces)
    any_catalog.mark_issues(mid, faces)
    time.sleep(0.01)
    any_catalog.annotate(faces[1], 1, "ann", label="sad", status=Status.CONFIRMED)  # relabeled and confirmed
    any_catalog.annotate(faces[2], 1, "ann", status=Status.CONFIRMED)  # kept as it is, confirmed
    any_catalog.annotate(faces[3], 1, "ann", label="sad", status=Status.UNCERTAIN)  # changed, not confirmed
    any_catalog.annotate(faces[4], 1, "ann", status=Status.DELETED)
    assert any_catalog.unresolved_issues(mid) == {before, faces[3]}


def test_review_summary_counts_review_and_the_decisions_after_a_suggestion(any_catalog, tmp_path):
    faces = add_faces(any_catalog, 6)
    mid = _model(any_catalog, tmp_path)
    ctx = DecisionContext(via="labeler", model_id=mid, predicted_label="sad", predicted_confidence=0.8)
    any_catalog.annotate(faces[0], 1, "ann", label="sad", status=Status.CONFIRMED, context=ctx)  # to the model's
    any_catalog.annotate(faces[1], 1, "ann", label="happy", status=Status.CONFIRMED, context=ctx)  # kept
    other = DecisionContext(via="labeler", model_id=mid, predicted_label="happy", predicted_confidence=0.6)
    any_catalog.annotate(faces[2], 1, "ann", label="sad", status=Status.UNCERTAIN, context=other)  # not the model's
    any_catalog.annotate(faces[3], 1, "ann", label="sad", status=Status.CONFIRMED)  # no model shown
    any_catalog.annotate(faces[4], 1, "ann", status=Status.DELETED)
    s = any_catalog.review_summary(faces[:5])
    assert s.faces == 5 and s.reviewed == 4 and s.by_status == {"confirmed": 3, "deleted": 1, "uncertain": 1}
    assert s.relabeled == 3 and s.after_suggestion == 3 and s.changed_after_suggestion == 2
    assert s.to_model_class == 1 and s.changes == {"happy->sad": 2} and s.by_model == {mid: 3}
    assert s.as_dict()["by_model"] == {str(mid): 3}
    untouched = any_catalog.review_summary([faces[5]])
    assert untouched.reviewed == 0 and untouched.after_suggestion == 0 and untouched.by_status == {"unreviewed": 1}

"""Models and their predictions in the catalog; the context of a decision in the audit."""
from __future__ import annotations

import pytest

from db.types import DecisionContext, NewModel, NewPrediction, Status
from tests.db.helpers import add_faces


def _model(tmp_path, name="m1", **kw) -> NewModel:
    return NewModel(name=name, path=str(tmp_path / "models" / name), classes=["happy", "sad"], **kw)


def test_register_finds_and_updates_a_model_by_path(any_catalog, tmp_path):
    first = any_catalog.register_model(_model(tmp_path, metrics={"val": {"accuracy": 0.5}}))
    other = any_catalog.register_model(_model(tmp_path, "m2", kind="cross-val"))
    again = any_catalog.register_model(_model(tmp_path, metrics={"val": {"accuracy": 0.7}}))
    assert again == first != other
    assert [x.name for x in any_catalog.models()] == ["m1", "m2"]  # newest first: m1 was re-registered
    info = any_catalog.get_model(tmp_path / "models" / "m1")
    assert info.id == first and info.metrics == {"val": {"accuracy": 0.7}} and info.kind == "model"
    assert any_catalog.get_model("m2").kind == "cross-val"
    assert any_catalog.get_model(str(other)).name == "m2"
    assert any_catalog.get_model("nothing") is None


def test_predictions_are_stored_replaced_and_read(any_catalog, tmp_path):
    faces = add_faces(any_catalog, 3, label="happy")
    mid = any_catalog.register_model(_model(tmp_path))
    n = any_catalog.store_predictions(mid, [
        NewPrediction(faces[0], {"happy": 0.9, "sad": 0.1}),
        NewPrediction(faces[1], {"happy": 0.2, "sad": 0.8}, in_sample=True),
    ])
    assert n == 2
    got = any_catalog.predictions(mid, faces)
    assert set(got) == {faces[0], faces[1]}
    assert (got[faces[0]].label, got[faces[0]].confidence, got[faces[0]].second_confidence) == ("happy", 0.9, 0.1)
    assert got[faces[1]].in_sample and not got[faces[0]].in_sample
    any_catalog.store_predictions(mid, [NewPrediction(faces[0], {"happy": 0.3, "sad": 0.7})])
    again = any_catalog.predictions(mid)
    assert again[faces[0]].label == "sad" and again[faces[0]].probabilities == {"happy": 0.3, "sad": 0.7}
    assert [x.id for x in any_catalog.models_with_predictions()] == [mid]


def test_a_decision_keeps_its_context_in_the_audit(any_catalog, tmp_path):
    (face,) = add_faces(any_catalog, 1, label="happy")
    mid = any_catalog.register_model(_model(tmp_path))
    any_catalog.annotate(face, 1, "ann", label="sad", status=Status.CONFIRMED,
                         context=DecisionContext(via="labeler", model_id=mid, predicted_label="sad",
                                                 predicted_confidence=0.8))
    any_catalog.annotate(face, 2, "ann", status=Status.UNCERTAIN)
    first, second = any_catalog.label_events(face)
    assert (first.via, first.model_id, first.predicted_label, first.predicted_confidence) == ("labeler", mid, "sad", 0.8)
    assert (second.via, second.model_id) == (None, None)


def test_a_prediction_without_probabilities_is_refused(catalog, tmp_path):
    (face,) = add_faces(catalog, 1)
    mid = catalog.register_model(_model(tmp_path))
    with pytest.raises(Exception, match="no probabilities"):
        catalog.store_predictions(mid, [NewPrediction(face, {})])

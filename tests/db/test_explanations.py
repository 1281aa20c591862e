"""Explanations stored by model and face (migration 0007), on SQLite and PostgreSQL."""
from __future__ import annotations

from db.types import NewExplanation, NewModel
from tests.db.helpers import add_faces


def test_explanations_are_stored_replaced_and_go_with_their_face(any_catalog):
    cat = any_catalog
    faces = add_faces(cat, 3)
    mid = cat.register_model(NewModel(name="m", path="/models/m", classes=["happy", "sad"]))
    other = cat.register_model(NewModel(name="n", path="/models/n", classes=["happy", "sad"]))
    assert cat.store_explanations(mid, [NewExplanation(f, "happy", b"png%d" % f) for f in faces[:2]]) == 2
    assert cat.explanation(mid, faces[0]).png == b"png%d" % faces[0]
    assert cat.explanation(mid, faces[2]) is None and cat.explanation(other, faces[0]) is None
    cat.store_explanations(mid, [NewExplanation(faces[0], "sad", b"again")])
    row = cat.explanation(mid, faces[0])
    assert (row.label, row.png, row.method, row.model_id) == ("sad", b"again", "grad-cam", mid)
    assert cat.explained_faces(mid) == 2 and cat.explained_faces(other) == 0
    assert [m.id for m in cat.models_with_explanations()] == [mid]

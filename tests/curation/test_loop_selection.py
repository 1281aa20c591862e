"""The selection's part in the loop: a duplicate group's confirmed label wins (status labeled), a
model's unresolved label issues left out (exclude_issues), and cross-validation folds."""
from __future__ import annotations

from collections import Counter

import pytest

from curation.selection import SelectionSpec, issues_model, select_split
from curation.selection import SelectionError
from curation.split import SplitItem, assign_folds
from db.types import NewModel, NewPrediction, Status
from tests.db.helpers import add_faces


def test_a_groups_confirmed_label_wins_over_its_unreviewed_members(catalog):
    faces = add_faces(catalog, 8, label="happy")
    catalog.annotate(faces[1], 1, "ann", label="sad", status=Status.CONFIRMED)
    catalog.annotate(faces[5], 1, "ann", label="sad", status=Status.CONFIRMED)
    catalog.annotate(faces[6], 1, "ann", status=Status.CONFIRMED)  # a group whose confirmed faces disagree
    catalog.set_duplicate_groups({faces[0]: 1, faces[1]: 1, faces[2]: 1, faces[4]: 2, faces[5]: 2, faces[6]: 2,
                                  faces[7]: 3})
    catalog.annotate(faces[2], 1, "ann", status=Status.UNCERTAIN)
    sel = select_split(catalog, SelectionSpec(split="100/0/0"))
    labels = {a.face.id: a.label for a in sel.assignments}
    assert labels[faces[0]] == labels[faces[2]] == "sad" and sel.relabeled_by_review == 2
    assert labels[faces[4]] == "happy" and labels[faces[5]] == "sad"  # group 2: confirmed sad and happy, left as is
    assert labels[faces[3]] == labels[faces[7]] == "happy"
    confirmed = select_split(catalog, SelectionSpec(status="confirmed", split="100/0/0"))
    assert confirmed.relabeled_by_review == 0 and len(confirmed.assignments) == 3


def test_exclude_issues_leaves_out_the_unresolved_flags_of_one_model(catalog, tmp_path):
    faces = add_faces(catalog, 6, label="happy")
    mids = [catalog.register_model(NewModel(name=n, path=str(tmp_path / n), classes=["happy", "sad"]))
            for n in ("a", "b")]
    for mid in mids:
        catalog.store_predictions(mid, [NewPrediction(f, {"happy": 0.1, "sad": 0.9}) for f in faces])
    catalog.mark_issues(mids[0], faces[:3])
    catalog.mark_issues(mids[1], faces[3:])
    catalog.annotate(faces[0], 1, "ann", status=Status.CONFIRMED)
    sel = select_split(catalog, SelectionSpec(split="100/0/0", exclude_issues=mids[0]))
    assert {a.face.id for a in sel.assignments} == {faces[0]} | set(faces[3:]) and sel.excluded_issues == 2
    assert sel.spec.as_dict()["exclude_issues"] == {"model_id": mids[0]}
    assert "exclude_issues" not in SelectionSpec().as_dict()  # earlier manifests stay byte-identical
    assert issues_model(catalog, None).id == mids[1]  # the newest with predictions
    assert issues_model(catalog, "a").id == mids[0]
    with pytest.raises(SelectionError, match="no model 'c'"):
        issues_model(catalog, "c")


def test_exclude_issues_needs_predictions(catalog):
    add_faces(catalog, 2)
    with pytest.raises(SelectionError, match="no model has stored predictions"):
        issues_model(catalog, None)


def test_folds_are_stratified_deterministic_and_keep_duplicate_groups_whole():
    labels = ["happy"] * 40 + ["sad"] * 25 + ["fear"] * 10
    groups = {i: i // 3 for i in range(0, 30)}  # happy faces in groups of three
    groups.update({50: 900, 51: 900, 60: 900})  # a group across classes
    items = [SplitItem(i, k, groups.get(i), f"px{i}") for i, k in enumerate(labels)]
    items.append(SplitItem(100, "sad", None, "px5"))  # identical pixels to face 5
    folds = assign_folds(items, 5, seed=0)
    assert folds == assign_folds(items, 5, seed=0) and folds != assign_folds(items, 5, seed=1)
    assert set(folds) == {it.face_id for it in items} and set(folds.values()) == set(range(5))
    for g in range(10):
        assert len({folds[i] for i in range(g * 3, g * 3 + 3)}) == 1
    assert folds[50] == folds[51] == folds[60] and folds[100] == folds[5]
    # Each class spread evenly, up to the size of a group (a group counts under its majority label).
    stratum = {it.face_id: ("sad" if it.face_id in (50, 51, 60) else "happy" if it.face_id == 100 else it.label)
               for it in items}
    per_fold = Counter((folds[f], k) for f, k in stratum.items())
    for label, slack in (("happy", 3), ("sad", 3), ("fear", 1)):
        counts = [per_fold[(f, label)] for f in range(5)]
        assert max(counts) - min(counts) <= slack, (label, counts)
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(items, 1)

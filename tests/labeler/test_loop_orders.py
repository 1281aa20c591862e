"""The labeler consumes what `train suggest` stores: predictions and confident-learning flags written
by training.suggest.store_and_check (the function both `train suggest MODEL` and `--cross-val`
store through), read by the window's default model (the newest with predictions: here a
cross-validation), its "likely mislabeled first" orders and its "flagged" filter."""
from __future__ import annotations

import numpy as np

from db.types import NewModel, NewPrediction, Order, Status
from labeler.filters import FilterSpec
from tests.labeler.conftest import settle
from tests.labeler.helpers import add_faces
from training.suggest import store_and_check

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _cross_val(cat, tmp_path, labels: list[str], planted: set[int], seed: int = 0):
    """A cross-validation's row and its out-of-fold probabilities: right about every face, except that
    the faces at the `planted` positions are labeled wrong (the model says another class)."""
    faces = add_faces(cat, len(labels), label=labels, source="fer2013")
    rng = np.random.default_rng(seed)
    probs = np.zeros((len(faces), len(CLASSES)))
    for i, label in enumerate(labels):
        if i in planted:  # truly the next class, and the model is sure of it
            row = rng.dirichlet(np.ones(len(CLASSES))) * 0.05
            row[(CLASSES.index(label) + 1) % len(CLASSES)] += 0.95
        else:
            row = rng.dirichlet(np.ones(len(CLASSES))) * 0.4
            row[CLASSES.index(label)] += 0.6 - rng.uniform(0, 0.2)
        probs[i] = row / row.sum()
    mid = cat.register_model(NewModel(name="cv5", path=str(tmp_path / "runs" / "cv5"), classes=CLASSES,
                                      kind="cross-val"))
    info = cat.get_model(mid)
    rows = cat.faces_by_ids(faces)
    check = store_and_check(cat, info, rows, probs, labels, np.zeros(len(faces), dtype=bool))
    return faces, probs, info, check


def test_the_orders_and_the_flagged_filter_read_the_cross_validations_predictions(any_catalog, open_window, qtbot,
                                                                                 tmp_path):
    cat = any_catalog
    # An older model with predictions of its own: the window must pick the newer cross-validation.
    old = add_faces(cat, 2, label="happy", source="old", seed=9)
    old_id = cat.register_model(NewModel(name="old", path=str(tmp_path / "models" / "old"), classes=CLASSES))
    cat.store_predictions(old_id, [NewPrediction(f, {k: 1 / 7 for k in CLASSES}) for f in old])
    labels = [CLASSES[i % 7] for i in range(70)]
    planted = {3, 11, 19, 27, 40, 52, 66}
    faces, probs, info, check = _cross_val(cat, tmp_path, labels, planted)
    flagged = [faces[i] for i in sorted(planted)]
    assert check.issues == len(planted) and set(cat.issue_face_ids(info.id)) == set(flagged)

    stored = cat.predictions(info.id, faces)  # what the SQL orders read: 6 decimals
    probs = np.array([[stored[f].probabilities[k] for k in CLASSES] for f in faces])
    w = open_window(cat, FilterSpec(status="active", model="flagged", order=Order.SELF_CONFIDENCE))
    assert w.model_info.id == info.id and w.model_info.kind == "cross-val"
    own = probs[np.arange(len(faces)), [CLASSES.index(k) for k in labels]]
    by_self = sorted(planted, key=lambda i: own[i])
    assert w.model.ids == [faces[i] for i in by_self]
    # The panel of the first face says it was flagged.
    texts = " ".join(lbl.text() for lbl in w.panel.model_box.findChildren(type(w.panel.title)))
    assert "flagged by confident learning" in texts

    # Likely mislabeled first over every face (no filter): the flagged ones lead.
    order = w.filterbar.combos["order"]
    model_combo = w.filterbar.combos["model"]
    model_combo.setCurrentIndex(model_combo.findData(None))
    for o, score in ((Order.SELF_CONFIDENCE, own), (Order.MARGIN, None), (Order.LEAST_CONFIDENCE, probs.max(axis=1))):
        order.setCurrentIndex(order.findData(o))
        settle(qtbot, w)
        if score is None:  # the normalized margin of the face's own label
            others = probs.copy()
            others[np.arange(len(faces)), [CLASSES.index(k) for k in labels]] = -1
            score = (own - others.max(axis=1) + 1) / 2
        expected = [faces[i] for i in sorted(range(len(faces)), key=lambda i: (score[i], faces[i]))]
        assert w.model.ids[: len(faces)] == expected, o  # then the old source's faces, not predicted by it
        assert set(w.model.ids[len(faces):]) == set(old)
        if o is not Order.LEAST_CONFIDENCE:
            assert set(w.model.ids[: len(planted)]) == set(flagged)

    # A person fixes the first flagged face: the audit records the cross-validation's prediction.
    model_combo.setCurrentIndex(model_combo.findData("flagged"))
    order.setCurrentIndex(order.findData(Order.SELF_CONFIDENCE))
    settle(qtbot, w)
    first = w.model.ids[0]
    from PySide6.QtCore import Qt

    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    w.view.setFocus()
    i = faces.index(first)
    truth = (CLASSES.index(labels[i]) + 1) % 7
    qtbot.keyClick(w.view, getattr(Qt.Key, f"Key_{truth + 1}"))
    settle(qtbot, w)
    (event,) = cat.label_events(first)
    assert (event.via, event.model_id, event.predicted_label) == ("labeler", info.id, CLASSES[truth])
    face = cat.get_face(first, with_crop=False)
    assert face.label == CLASSES[truth] and face.status is Status.CONFIRMED
    assert first not in cat.unresolved_issues(info.id)  # confirmed since the prediction: resolved


def test_the_labeler_can_be_told_another_model(catalog, open_window, tmp_path):
    _, _, info, _ = _cross_val(catalog, tmp_path, [CLASSES[i % 7] for i in range(14)], {2})
    old = add_faces(catalog, 1, label="sad", source="old", seed=5)
    old_id = catalog.register_model(NewModel(name="single", path=str(tmp_path / "m"), classes=CLASSES))
    catalog.store_predictions(old_id, [NewPrediction(old[0], {k: 1 / 7 for k in CLASSES})])
    w = open_window(catalog, FilterSpec(status="active"), model="cv5")
    assert w.model_info.id == info.id
    w2 = open_window(catalog, FilterSpec(status="active"), settings_name="b.ini")
    assert w2.model_info.id == old_id  # the newest with predictions

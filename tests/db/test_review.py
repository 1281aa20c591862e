"""Review lists, decisions in bulk, claims and changes: the repository API the labeler uses, on
SQLite and PostgreSQL alike."""
from __future__ import annotations

import threading

import pytest

from db import UNSET, CatalogError, open_catalog
from db.types import (
    DecisionContext,
    Duplicates,
    ExtractionState,
    FaceDecision,
    NewFace,
    NewImage,
    NewModel,
    NewPrediction,
    NewSource,
    Order,
    ReviewFilter,
    Status,
)
from tests.db.helpers import add_faces


def _second_session(cat):
    loc = cat.location
    return open_catalog(loc.url if loc.directory is None else loc.directory, loc.store_root)


def _model(cat, tmp_path, name="m") -> int:
    return cat.register_model(NewModel(name=name, path=str(tmp_path / name),
                                       classes=["angry", "happy", "sad"]))


def _scraped(cat, query: str, n: int, suggested: str | None) -> list[int]:
    sid = cat.add_source(NewSource(kind="scrape", name=f"bing: {query}", engine="bing", query=query))
    images = []
    for i in range(n):
        sha, rel = cat.blobs.put_bytes(f"{query}-{i}".encode(), "JPEG")
        images.append(NewImage(sha256=sha, blob_path=rel, width=64, height=64, format="JPEG", source_id=sid,
                               url=f"https://example.org/{i}.jpg", query=query, suggested_label=suggested))
    refs = cat.add_images(images)
    return cat.add_faces([(r.id, NewFace(bbox=(0, 0, 9, 9), crop_png=b"png", crop_size=100, phash=f"{r.id:016x}",
                                         pixel_sha256=f"{query}{r.id}", suggested_label=suggested))
                          for r in refs])


def test_filters_select_by_status_label_suggestion_source_query_and_split(any_catalog):
    cat = any_catalog
    fer = add_faces(cat, 4, label="happy", source="fer2013", split_hint="Training")
    jaffe = add_faces(cat, 2, label="sad", source="jaffe")
    scraped = _scraped(cat, "angry face", 3, suggested="angry")
    cat.annotate(fer[0], 1, "ann", status=Status.DELETED)
    cat.annotate(fer[1], 1, "ann", status=Status.CONFIRMED)

    assert cat.review_ids() == fer[1:] + jaffe + scraped  # not deleted, catalog order
    assert cat.review_ids(ReviewFilter(statuses=("deleted",))) == [fer[0]]
    assert cat.review_ids(ReviewFilter(statuses=("unreviewed", "confirmed"), labels=("happy",))) == fer[1:]
    assert cat.review_ids(ReviewFilter(labels=(None,))) == scraped
    assert cat.review_ids(ReviewFilter(labels=("sad", None))) == jaffe + scraped
    assert cat.review_ids(ReviewFilter(suggested=("angry",))) == scraped
    assert cat.review_ids(ReviewFilter(sources=("jaffe",))) == jaffe
    assert cat.review_ids(ReviewFilter(queries=("angry face",))) == scraped
    assert cat.review_ids(ReviewFilter(split_hints=("Training",))) == fer[1:]
    assert cat.review_ids(ReviewFilter(split_hints=(None,), sources=("jaffe", "fer2013"))) == jaffe
    assert cat.review_ids(ReviewFilter(statuses=()), among=fer + jaffe) == []
    assert cat.review_ids(ReviewFilter(labels=("sad",)), among=[jaffe[1], fer[2]]) == [jaffe[1]]

    counts = cat.review_counts()
    assert (counts.faces, counts.reviewed) == (8, 1)
    assert counts.by_label == {"happy": 3, "sad": 2, None: 3}
    assert counts.by_status == {"unreviewed": 7, "confirmed": 1}
    choices = cat.review_choices()
    assert choices["sources"] == ["bing: angry face", "fer2013", "jaffe"]
    assert choices["queries"] == ["angry face"] and choices["split_hints"] == ["Training"]


def test_duplicate_filters_and_the_order_that_keeps_groups_together(any_catalog):
    cat = any_catalog
    a = add_faces(cat, 6, label="happy")
    cat.annotate(a[4], 1, "ann", label="sad")
    cat.set_duplicate_groups({a[0]: a[0], a[3]: a[0], a[1]: a[1], a[4]: a[1]})
    assert cat.review_ids(ReviewFilter(duplicates=Duplicates.GROUPED)) == [a[0], a[1], a[3], a[4]]
    assert cat.review_ids(ReviewFilter(duplicates=Duplicates.CONFLICT)) == [a[1], a[4]]
    assert cat.review_ids(order=Order.DUPLICATES) == [a[0], a[3], a[1], a[4], a[2], a[5]]
    assert cat.duplicate_group(a[1]) == [a[1], a[4]]
    # A deleted member's label no longer makes a conflict.
    cat.annotate(a[4], 2, "ann", status=Status.DELETED)
    assert cat.review_ids(ReviewFilter(duplicates=Duplicates.CONFLICT)) == []


def test_model_orders_and_the_disagreement_filter_read_the_own_label(any_catalog, tmp_path):
    cat = any_catalog
    f = add_faces(cat, 5, label="happy")
    (unlabeled,) = _scraped(cat, "sad face", 1, suggested="sad")
    (plain,) = add_faces(cat, 1, label=None, source="mmi")  # neither label nor suggestion
    mid = _model(cat, tmp_path)
    cat.store_predictions(mid, [
        NewPrediction(f[0], {"angry": 0.05, "happy": 0.90, "sad": 0.05}),   # agrees, sure
        NewPrediction(f[1], {"angry": 0.70, "happy": 0.20, "sad": 0.10}),   # disagrees
        NewPrediction(f[2], {"angry": 0.34, "happy": 0.33, "sad": 0.33}),   # unsure, disagrees barely
        NewPrediction(f[3], {"angry": 0.01, "happy": 0.04, "sad": 0.95}),   # disagrees strongly
        NewPrediction(unlabeled, {"angry": 0.1, "happy": 0.1, "sad": 0.8}),  # agrees with the suggestion
        NewPrediction(plain, {"angry": 0.5, "happy": 0.3, "sad": 0.2}),
    ])  # f[4]: no prediction
    flt = ReviewFilter(model_id=mid)
    assert cat.review_ids(flt, Order.LEAST_CONFIDENCE) == [f[2], plain, f[1], unlabeled, f[0], f[3], f[4]]
    # p(own label): f3 .04, f1 .20, f2 .33, unlabeled .80 (its suggestion), f0 .90; then no own
    # label, then no prediction
    assert cat.review_ids(flt, Order.SELF_CONFIDENCE) == [f[3], f[1], f[2], unlabeled, f[0], plain, f[4]]
    # margin: f3 .04-.95, f1 .20-.70, f2 .33-.34, unlabeled .8-.1, f0 .9-.05
    assert cat.review_ids(flt, Order.MARGIN) == [f[3], f[1], f[2], unlabeled, f[0], plain, f[4]]
    assert cat.review_ids(ReviewFilter(model_id=mid, model_disagrees=True), Order.SELF_CONFIDENCE) == [f[3], f[1], f[2]]
    assert cat.review_ids(ReviewFilter(model_id=mid, model_flagged=True)) == []
    with pytest.raises(CatalogError, match="needs a model"):
        cat.review_ids(ReviewFilter(), Order.MARGIN)
    # The order follows the label as it is now.
    cat.annotate(f[3], 1, "ann", label="sad")
    assert cat.review_ids(ReviewFilter(model_id=mid, model_disagrees=True), Order.SELF_CONFIDENCE) == [f[1], f[2]]


def test_model_orders_follow_the_own_label_whoever_writes_it(any_catalog, tmp_path):
    """The catalog keeps each prediction's rank (0009's triggers): a label set in bulk, a
    suggestion changed by a plain SQL statement (a script, a future command), predictions stored
    again, a second model: every model order reads the labels and probabilities as they are now."""
    cat = any_catalog
    f = add_faces(cat, 3, label="happy")
    mid, other = _model(cat, tmp_path), _model(cat, tmp_path, "other")
    cat.store_predictions(mid, [NewPrediction(f[0], {"angry": 0.6, "happy": 0.3, "sad": 0.1}),
                                NewPrediction(f[1], {"angry": 0.1, "happy": 0.2, "sad": 0.7}),
                                NewPrediction(f[2], {"angry": 0.1, "happy": 0.8, "sad": 0.1})])
    cat.store_predictions(other, [NewPrediction(f[0], {"angry": 0.1, "happy": 0.1, "sad": 0.8}),
                                  NewPrediction(f[1], {"angry": 0.1, "happy": 0.85, "sad": 0.05})])
    flt, other_flt = ReviewFilter(model_id=mid), ReviewFilter(model_id=other)
    assert cat.review_ids(flt, Order.SELF_CONFIDENCE) == [f[1], f[0], f[2]]  # p(happy) .2 .3 .8
    assert cat.review_ids(other_flt, Order.SELF_CONFIDENCE) == [f[0], f[1], f[2]]  # .1 .85, then unpredicted

    # In bulk: f1 is sad after all (p .7), f2 angry (p .1).
    result = cat.annotate_many([FaceDecision(f[1], 1, label="sad", status=Status.CONFIRMED),
                                FaceDecision(f[2], 1, label="angry", status=Status.CONFIRMED)], "ann")
    assert not result.conflicts
    assert cat.review_ids(flt, Order.SELF_CONFIDENCE) == [f[2], f[0], f[1]]  # .1 .3 .7
    assert cat.review_ids(flt, Order.MARGIN) == [f[2], f[0], f[1]]  # (.1-.8+1)/2 (.3-.6+1)/2 (.7-.2+1)/2
    assert cat.review_ids(other_flt, Order.SELF_CONFIDENCE) == [f[1], f[0], f[2]]  # the other model too: .05 .1

    # By hand: f0 loses its label and is suggested sad; f2's label goes, and it has no suggestion.
    with cat.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE annotations SET label = NULL, suggested_label = 'sad' WHERE face_id = {f[0]}")
        conn.exec_driver_sql(f"UPDATE annotations SET label = NULL WHERE face_id = {f[2]}")
    assert cat.review_ids(flt, Order.SELF_CONFIDENCE) == [f[0], f[1], f[2]]  # .1 .7, then no own label

    # Stored again (train suggest run a second time): the new probabilities count.
    cat.store_predictions(mid, [NewPrediction(f[0], {"angry": 0.05, "happy": 0.05, "sad": 0.9})])
    assert cat.review_ids(flt, Order.SELF_CONFIDENCE) == [f[1], f[0], f[2]]  # .7 .9
    assert cat.review_ids(flt, Order.MARGIN) == [f[1], f[0], f[2]]  # (.7-.2+1)/2 < (.9-.05+1)/2


def test_bulk_decisions_apply_the_rest_and_report_each_conflict(any_catalog):
    cat = any_catalog
    a = add_faces(cat, 4, label="happy")
    with _second_session(cat) as other:
        other.annotate(a[1], 1, "bob", label="angry", status=Status.CONFIRMED)
    ctx = DecisionContext(via="labeler", model_id=None, predicted_label="sad", predicted_confidence=0.6)
    result = cat.annotate_many([
        FaceDecision(a[0], 1, label="sad", status=Status.CONFIRMED, context=ctx),
        FaceDecision(a[1], 1, label="sad", status=Status.CONFIRMED),
        FaceDecision(a[2], 1, status="uncertain"),
        FaceDecision(a[3] + 1000, 1, status="deleted"),
    ], "alice")
    assert result.applied == {a[0]: 2, a[2]: 2}
    (stale, gone) = result.conflicts
    assert (stale.face_id, stale.expected_version, stale.actual_version) == (a[1], 1, 2)
    assert (stale.annotator, stale.label, stale.status) == ("bob", "angry", "confirmed") and stale.at is not None
    assert (gone.face_id, gone.actual_version) == (a[3] + 1000, None)
    rows = {r.id: r for r in cat.faces_by_ids(a)}
    assert (rows[a[0]].label, rows[a[0]].status, rows[a[0]].annotator) == ("sad", Status.CONFIRMED, "alice")
    assert (rows[a[1]].label, rows[a[1]].annotator) == ("angry", "bob")  # not overwritten
    assert (rows[a[2]].label, rows[a[2]].status) == ("happy", Status.UNCERTAIN)  # label kept (UNSET)
    (event,) = cat.label_events(a[0])
    assert (event.via, event.predicted_label, event.predicted_confidence, event.from_label) == ("labeler", "sad", 0.6, "happy")
    assert cat.label_events(a[2])[0].via is None
    with pytest.raises(CatalogError, match="unknown class 'nope'"):
        cat.annotate_many([FaceDecision(a[3], 1, status="confirmed"), FaceDecision(a[2], 2, label="nope")], "x")
    assert cat.get_face(a[3]).version == 1  # nothing of a refused call was written
    assert FaceDecision(1, 1).label is UNSET


def test_two_apps_claiming_one_queue_get_disjoint_faces(any_catalog):
    cat = any_catalog
    ids = add_faces(cat, 30, label=None)
    with _second_session(cat) as other:
        results = {}
        barrier = threading.Barrier(2)

        def claim(name, c):
            barrier.wait()
            results[name] = c.claim_faces(name, ids[:20], annotator=name)

        threads = [threading.Thread(target=claim, args=("app-a", cat)),
                   threading.Thread(target=claim, args=("app-b", other))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        a, b = results["app-a"], results["app-b"]
        assert not set(a.granted) & set(b.granted)
        assert sorted(a.granted + b.granted) == ids[:20]
        loser = a if not a.granted else b
        assert set(loser.held_by_others) == set(ids[:20]) - set(loser.granted)

        queue = ReviewFilter(statuses=("unreviewed",), skip_claimed_by_others="app-c")
        assert cat.review_ids(queue) == ids[20:]
        winner_name = "app-a" if a.granted else "app-b"
        # The winner's own queue still holds its faces; claims never block a decision.
        assert cat.review_ids(ReviewFilter(statuses=("unreviewed",), skip_claimed_by_others=winner_name)) == ids
        cat.annotate(ids[0], 1, "carol", label="happy", status="confirmed")
        # A reviewed face is out of the unreviewed queue anyway; others' claims only hide unreviewed faces.
        assert cat.review_ids(ReviewFilter(skip_claimed_by_others="app-c"))[:1] == [ids[0]]

        # replace: claiming a new page releases the rest of this holder's claims.
        again = cat.claim_faces(winner_name, ids[20:25])
        assert again.granted == ids[20:25]
        assert set(cat.live_claims()) == set(ids[20:25])
        assert cat.renew_claims(winner_name) == 5
        assert cat.release_claims(winner_name, ids[20:22]) == 2
        assert cat.release_claims(winner_name) == 3
        assert cat.live_claims() == {}


def test_claims_expire(any_catalog):
    cat = any_catalog
    ids = add_faces(cat, 3, label=None)
    assert cat.claim_faces("gone-app", ids, ttl_s=-1).granted == ids  # already lapsed
    assert cat.live_claims() == {}
    assert cat.review_ids(ReviewFilter(statuses=("unreviewed",), skip_claimed_by_others="me")) == ids
    assert cat.expire_claims() == 3 and cat.expire_claims() == 0
    cat.claim_faces("gone-app", ids, ttl_s=-1)
    assert cat.claim_faces("me", ids[:1], replace=False).granted == ids[:1]  # a lapsed claim is taken over


def test_changes_since_a_mark(any_catalog):
    cat = any_catalog
    a = add_faces(cat, 3, label="happy")
    event_id, face_id = cat.change_marks()
    assert (event_id, face_id) == (0, a[-1])
    with _second_session(cat) as other:
        other.annotate(a[1], 1, "bob", label="sad")
        other.annotate(a[1], 2, "bob", status="confirmed")
        new = add_faces(other, 2, label=None, source="later")
    changes = cat.changes_since(event_id, face_id)
    assert changes.changed == {a[1]: 3} and changes.new_faces == new
    assert changes.face_id == new[-1] and changes.event_id > event_id
    assert cat.changes_since(changes.event_id, changes.face_id).changed == {}


def test_images_without_a_face_can_be_rejected_and_restored(any_catalog):
    cat = any_catalog
    sid = cat.add_source(NewSource(kind="scrape", name="bing: dogs", query="dogs"))
    images = []
    for i in range(3):
        sha, rel = cat.blobs.put_bytes(f"dog{i}".encode(), "JPEG")
        images.append(NewImage(sha256=sha, blob_path=rel, width=640, height=480, format="JPEG", source_id=sid,
                               url=f"https://dogs/{i}.jpg", query="dogs"))
    refs = cat.add_images(images)
    for r in refs[:2]:
        cat.save_extraction(r.id, ExtractionState.NO_FACE)
    no_face = [r.id for r in refs[:2]]
    assert cat.no_face_image_ids() == no_face
    assert cat.no_face_image_ids(sources=["elsewhere"]) == []
    (row,) = cat.images_by_ids([no_face[0]])
    assert (row.source_name, row.query, row.extraction_state) == ("bing: dogs", "dogs", "no_face")
    assert cat.reject_images([no_face[0], refs[2].id]) == [no_face[0]]  # a pending image is not touched
    assert cat.no_face_image_ids() == [no_face[1]]
    assert cat.no_face_image_ids(include_rejected=True) == no_face
    assert no_face[0] not in [t.id for t in cat.images_to_extract(redo=True)]  # a re-run leaves it rejected
    assert cat.restore_images(no_face) == [no_face[0]]
    assert cat.no_face_image_ids() == no_face


def test_review_progress_counts_decisions_per_annotator_and_day(any_catalog):
    cat = any_catalog
    a = add_faces(cat, 3, label="happy")
    cat.annotate_many([FaceDecision(a[0], 1, status="confirmed"), FaceDecision(a[1], 1, status="deleted")], "alice")
    cat.annotate(a[2], 1, "bob", label="sad")
    progress = cat.review_progress()
    assert {(p.annotator, p.decisions) for p in progress} == {("alice", 2), ("bob", 1)}
    assert all(len(p.day) == 10 and p.day[4] == "-" for p in progress)

"""Two writers at once never lose an update: one wins, the stale one gets a conflict."""
from __future__ import annotations

import threading
import time

import pytest

from db import ConflictError, open_catalog
from tests.db.helpers import add_faces


def _second_session(cat, tmp_path):
    """Another, independent connection pool on the same catalog (another person or process)."""
    loc = cat.location
    return open_catalog(loc.url if loc.directory is None else loc.directory, loc.store_root)


def _at_once(work, *args_per_thread) -> list:
    """Run work(*args) in one thread per args tuple, released together; returns their results."""
    barrier = threading.Barrier(len(args_per_thread))
    results: list = [None] * len(args_per_thread)

    def run(i, args):
        barrier.wait()
        results[i] = work(*args)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args_per_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r is not None for r in results), "a thread crashed"
    return results


def test_two_sessions_change_the_same_face(any_catalog, tmp_path):
    cat_a = any_catalog
    (fid,) = add_faces(cat_a, 1, label="happy")
    with _second_session(cat_a, tmp_path) as cat_b:
        seen_a, seen_b = cat_a.get_face(fid), cat_b.get_face(fid)
        assert seen_a.version == seen_b.version == 1
        barrier = threading.Barrier(2)
        outcomes: dict[str, object] = {}

        def write(name, cat, label):
            barrier.wait()
            try:
                outcomes[name] = cat.annotate(fid, 1, name, label=label)
            except ConflictError as exc:
                outcomes[name] = exc

        threads = [threading.Thread(target=write, args=("alice", cat_a, "sad")),
                   threading.Thread(target=write, args=("bob", cat_b, "angry"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        winners = [n for n, o in outcomes.items() if o == 2]
        losers = [n for n, o in outcomes.items() if isinstance(o, ConflictError)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        events = cat_a.label_events(fid)
        assert [(e.annotator, e.from_label) for e in events] == [(winners[0], "happy")]
        final = cat_b.get_face(fid)
        assert final.version == 2 and final.label == {"alice": "sad", "bob": "angry"}[winners[0]]


def test_annotation_waits_for_a_long_write_instead_of_failing(catalog):
    """SQLite: the labeler saves while an extraction run holds the write lock; it queues, then succeeds."""
    (fid,) = add_faces(catalog, 1)
    with open_catalog(catalog.location.directory) as labeler:
        holding = threading.Event()

        def long_extraction_write():
            with catalog._writing() as conn:
                conn.exec_driver_sql("UPDATE images SET extraction_state = 'pending'")
                holding.set()
                time.sleep(1.5)

        t = threading.Thread(target=long_extraction_write)
        t.start()
        assert holding.wait(10)
        assert labeler.annotate(fid, 1, "alice", status="confirmed") == 2
        t.join()
    assert catalog.get_face(fid).status.value == "confirmed"


@pytest.mark.parametrize("rounds", [40])
def test_many_concurrent_annotators_lose_nothing(any_catalog, tmp_path, rounds):
    """Each annotator retries on conflict; every applied change is in the audit, versions are dense."""
    (fid,) = add_faces(any_catalog, 1, label=None)
    labels = ["angry", "happy", "sad", "fear"]
    sessions = [any_catalog] + [_second_session(any_catalog, tmp_path) for _ in range(3)]
    applied: list[int] = []
    lock = threading.Lock()

    def annotator(i, cat):
        for r in range(rounds // 4):
            while True:
                face = cat.get_face(fid, with_crop=False)
                try:
                    v = cat.annotate(fid, face.version, f"user{i}", label=labels[(i + r) % 4])
                except ConflictError:
                    continue
                with lock:
                    applied.append(v)
                break

    threads = [threading.Thread(target=annotator, args=(i, c)) for i, c in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for c in sessions[1:]:
        c.close()
    assert sorted(applied) == list(range(2, rounds + 2))
    events = any_catalog.label_events(fid)
    assert [e.version for e in events] == list(range(2, rounds + 2))
    # Each event starts from the previous one's result: no update was applied on a stale read.
    assert all(a.to_label == b.from_label for a, b in zip(events, events[1:]))


def test_two_importers_adding_the_same_images_at_once(any_catalog, tmp_path):
    """Two writers add the same bytes concurrently: one image row per sha256, each created once."""
    from db.types import NewImage, NewSource

    cat_a = any_catalog
    sid = cat_a.add_source(NewSource(kind="dataset", name="shared"))
    images = []
    for i in range(300):
        sha, rel = cat_a.blobs.put_bytes(f"picture {i}".encode(), "PNG")
        images.append(NewImage(sha, rel, 8, 8, "PNG", sid))
    with _second_session(cat_a, tmp_path) as cat_b:
        # Opposite orders, in one transaction each: without a common insert order PostgreSQL
        # would find the two writers waiting on each other's rows (a deadlock).
        refs_a, refs_b_reversed = _at_once(lambda cat, mine: cat.add_images(mine), (cat_a, images),
                                           (cat_b, images[::-1]))
    refs_b = refs_b_reversed[::-1]
    assert [r.id for r in refs_a] == [r.id for r in refs_b]
    assert all(a.created != b.created for a, b in zip(refs_a, refs_b))
    assert cat_a.stats()["images"] == 300


def test_two_redo_runs_at_once_leave_one_face_per_image(any_catalog, tmp_path):
    """Two `curate extract --redo` at once: each image ends with one set of faces, not both runs'."""
    from db.types import ExtractionState, NewFace, NewImage, NewSource

    cat_a = any_catalog
    sid = cat_a.add_source(NewSource(kind="scrape", name="bing: x"))
    refs = cat_a.add_images([NewImage(*cat_a.blobs.put_bytes(f"photo {i}".encode(), "PNG"), 8, 8, "PNG", sid)
                             for i in range(60)])

    def face(i: int) -> NewFace:
        return NewFace(bbox=(0, 0, 8, 8), crop_png=b"png%d" % i, crop_size=8, phash=f"{i:016x}",
                       pixel_sha256=f"{i:064x}", detector="hog")

    for ref in refs[:30]:  # half were extracted before, half are pending
        cat_a.save_extraction(ref.id, ExtractionState.FACES, [face(ref.id)])

    def redo(cat):
        for ref in refs:
            cat.save_extraction(ref.id, ExtractionState.FACES, [face(ref.id)], replace=True)
        return True

    with _second_session(cat_a, tmp_path) as cat_b:
        _at_once(redo, (cat_a,), (cat_b,))
    with cat_a._reading() as conn:
        per_image = conn.exec_driver_sql("SELECT image_id, count(*) FROM faces GROUP BY image_id").all()
    assert sorted(per_image) == sorted((ref.id, 1) for ref in refs)


def test_two_commands_starting_at_once_share_one_source(any_catalog, tmp_path):
    from db.types import NewSource

    names = [f"dataset {i}" for i in range(20)]  # twenty races: a missing lock loses at least one

    def find_or_add_all(cat):
        return [cat.find_or_add_source(NewSource(kind="dataset", name=n)) for n in names]

    with _second_session(any_catalog, tmp_path) as other:
        mine, theirs = _at_once(find_or_add_all, (any_catalog,), (other,))
    for (id_a, created_a), (id_b, created_b) in zip(mine, theirs):
        assert id_a == id_b and created_a != created_b
    assert sorted(s.name for s in any_catalog.sources()) == sorted(names)
    assert any_catalog.find_or_add_source(NewSource(kind="dataset", name=names[0])) == (mine[0][0], False)


def test_two_batch_writers_store_each_image_once(any_catalog, tmp_path):
    """Two Ray drivers (or a task done twice) save overlapping batches at once, in opposite orders:
    every image is stored by exactly one of them, no deadlock, and the other is told so."""
    from db.types import ExtractionResult, ExtractionState, NewFace, NewImage, NewSource

    cat_a = any_catalog
    sid = cat_a.add_source(NewSource(kind="scrape", name="bing: y"))
    refs = cat_a.add_images([NewImage(*cat_a.blobs.put_bytes(f"pic {i}".encode(), "PNG"), 8, 8, "PNG", sid)
                             for i in range(200)])

    def results(order) -> list[ExtractionResult]:
        return [ExtractionResult(ref.id, ExtractionState.FACES, [NewFace(
            bbox=(0, 0, 8, 8), crop_png=b"p", crop_size=8, phash=f"{ref.id:016x}", pixel_sha256=f"{ref.id:064x}",
            detector="hog")]) for ref in order]

    def save(cat, order):
        out = []
        for i in range(0, len(order), 50):
            out.extend(cat.save_extractions(results(order[i : i + 50])))
        return out

    with _second_session(cat_a, tmp_path) as cat_b:
        saved_a, saved_b = _at_once(save, (cat_a, refs), (cat_b, refs[::-1]))
    stored_by_a = {r.id for r, s in zip(refs, saved_a) if not s.extracted_elsewhere}
    stored_by_b = {r.id for r, s in zip(refs[::-1], saved_b) if not s.extracted_elsewhere}
    assert stored_by_a | stored_by_b == {r.id for r in refs} and not stored_by_a & stored_by_b
    with cat_a._reading() as conn:
        per_image = conn.exec_driver_sql("SELECT image_id, count(*) FROM faces GROUP BY image_id").all()
    assert sorted(per_image) == sorted((ref.id, 1) for ref in refs)
    assert cat_a.stats()["by_extraction"] == {"faces": 200}

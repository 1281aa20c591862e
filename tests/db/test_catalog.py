"""The repository API on SQLite and PostgreSQL alike."""
from __future__ import annotations

from dataclasses import replace

import pytest

from db import CatalogError, ConflictError
from db.types import (
    DownloadRecord,
    DownloadStatus,
    ExtractionState,
    FaceFilter,
    NewFace,
    NewImage,
    NewSource,
    Status,
)
from tests.db.helpers import add_faces


def test_new_catalog_has_default_classes_and_empty_stats(any_catalog):
    assert any_catalog.class_names() == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert [c.key for c in any_catalog.classes()] == list("1234567")
    s = any_catalog.stats()
    assert (s["images"], s["faces"]) == (0, 0)
    assert s["by_status"] == {"unreviewed": 0, "confirmed": 0, "deleted": 0, "uncertain": 0}
    assert s["by_label"] == {} and s["by_source"] == {}


def test_same_bytes_make_one_image(any_catalog):
    cat = any_catalog
    sid = cat.add_source(NewSource(kind="scrape", name="bing: x", engine="bing", query="x"))
    sha, rel = cat.blobs.put_bytes(b"\x89PNG same bytes", "PNG")
    assert cat.blobs.path(rel).read_bytes() == b"\x89PNG same bytes"
    im = NewImage(sha256=sha, blob_path=rel, width=2, height=2, format="PNG", source_id=sid, url="http://a/1")
    first, again_in_batch = cat.add_images([im, im])
    later = cat.add_image(im)
    assert first.created and not again_in_batch.created and not later.created
    assert first.id == again_in_batch.id == later.id
    assert cat.stats()["images"] == 1


def test_stats_counts_by_status_label_source_and_split(any_catalog):
    cat = any_catalog
    happy = add_faces(cat, 3, label="happy", source="fer2013", split_hint="Training")
    add_faces(cat, 2, label=None, source="bing: smiling")
    cat.annotate(happy[0], 1, "ann", status=Status.DELETED)
    cat.annotate(happy[1], 1, "ann", status=Status.CONFIRMED, label="sad")
    s = cat.stats()
    assert (s["images"], s["faces"]) == (5, 5)
    assert s["by_status"] == {"unreviewed": 3, "confirmed": 1, "deleted": 1, "uncertain": 0}
    assert s["by_label"] == {"happy": 1, "sad": 1}  # the deleted happy face is not counted
    assert s["by_source"] == {"bing: smiling": 2, "fer2013": 3}
    assert s["by_split"] == {"Training": 2, "none": 2}


def test_selections_and_keyset_pages(any_catalog):
    cat = any_catalog
    ids = add_faces(cat, 250, label="happy", source="a") + add_faces(cat, 5, label=None, source="b")
    cat.annotate(ids[0], 1, "ann", status="confirmed")
    cat.annotate(ids[1], 1, "ann", status="deleted")
    labeled = FaceFilter(selection="labeled")
    assert cat.count_faces(labeled) == 249
    assert cat.count_faces(FaceFilter(selection="confirmed")) == 1
    assert cat.count_faces(FaceFilter()) == 254  # deleted faces are hidden unless asked for
    assert cat.count_faces(FaceFilter(include_deleted=True)) == 255
    assert cat.count_faces(FaceFilter(sources=("b",))) == 5
    assert cat.count_faces(FaceFilter(unlabeled_only=True)) == 5
    page1 = cat.select_faces(labeled, limit=200)
    page2 = cat.select_faces(labeled, after_id=page1[-1].id, limit=200)
    assert len(page1) == 200 and len(page2) == 49
    assert [f.id for f in page1 + page2] == sorted(set(ids[:250]) - {ids[1]})
    assert page1[0].crop_png is None
    assert cat.select_faces(labeled, limit=1, with_crops=True)[0].crop_png is not None
    assert [f.id for f in cat.faces_by_ids([ids[5], ids[3]])] == [ids[5], ids[3]]


def test_annotate_records_audit_and_version(any_catalog):
    cat = any_catalog
    (fid,) = add_faces(cat, 1, label=None)
    v2 = cat.annotate(fid, 1, "alice", label="angry")
    v3 = cat.annotate(fid, v2, "bob", status=Status.CONFIRMED)
    face = cat.get_face(fid)
    assert (face.label, face.status, face.version, face.annotator) == ("angry", Status.CONFIRMED, 3, "bob")
    events = cat.label_events(fid)
    assert [(e.annotator, e.from_label, e.to_label, e.from_status, e.to_status, e.version) for e in events] == [
        ("alice", None, "angry", "unreviewed", "unreviewed", 2),
        ("bob", "angry", "angry", "unreviewed", "confirmed", 3),
    ]
    assert v3 == 3


def test_stale_write_is_refused_and_changes_nothing(any_catalog):
    cat = any_catalog
    (fid,) = add_faces(cat, 1, label="happy")
    cat.annotate(fid, 1, "alice", label="sad")
    with pytest.raises(ConflictError) as err:
        cat.annotate(fid, 1, "bob", label="angry")
    assert err.value.actual_version == 2
    assert cat.get_face(fid).label == "sad"
    assert len(cat.label_events(fid)) == 1


def test_unknown_label_is_refused(any_catalog):
    (fid,) = add_faces(any_catalog, 1)
    with pytest.raises(CatalogError, match="unknown class 'joy'"):
        any_catalog.annotate(fid, 1, "alice", label="joy")


def test_downloads_are_outcomes_not_images(any_catalog):
    cat = any_catalog
    sid = cat.add_source(NewSource(kind="scrape", name="bing: q"))
    cat.record_downloads([
        DownloadRecord(sid, "http://x/a.jpg", DownloadStatus.HTTP_ERROR, http_status=404, detail="not found"),
        DownloadRecord(sid, "file:///etc/passwd", DownloadStatus.REFUSED_SCHEME),
    ])
    assert cat.tried_urls(["http://x/a.jpg", "http://x/b.jpg", "file:///etc/passwd"]) == {
        "http://x/a.jpg", "file:///etc/passwd"}
    s = cat.stats()
    assert s["images"] == 0
    assert s["by_download"] == {"http_error": 1, "refused_scheme": 1}


def test_extraction_redo_carries_the_annotation_of_the_same_face(any_catalog):
    cat = any_catalog
    sid = cat.add_source(NewSource(kind="dataset", name="photos"))
    sha, rel = cat.blobs.put_bytes(b"photo", "JPEG")
    (ref,) = cat.add_images([NewImage(sha, rel, 640, 480, "JPEG", sid)])
    assert [t.id for t in cat.images_to_extract()] == [ref.id]

    def face(x):
        return NewFace(bbox=(x, 10, 50, 50), crop_png=b"png", crop_size=100, phash="0" * 16,
                       pixel_sha256=f"{x:064x}", detector="hog")

    old_a, old_b = cat.save_extraction(ref.id, ExtractionState.FACES, [face(1), face(200)]).face_ids
    assert cat.images_to_extract() == []
    cat.annotate(old_a, 1, "alice", label="fear", status="confirmed")
    saved = cat.save_extraction(ref.id, ExtractionState.FACES, [face(2), face(400)], replace=True,
                                carry_annotations={0: old_a})
    new_ids = saved.face_ids
    assert saved.kept_face_ids == []  # old_b had no label or review: replaced
    faces = {f.id: f for f in cat.select_faces(FaceFilter(image_id=ref.id))}
    assert set(faces) == set(new_ids)
    kept = faces[new_ids[0]]
    assert (kept.label, kept.status, kept.version) == ("fear", Status.CONFIRMED, 2)
    assert faces[new_ids[1]].label is None
    assert [e.face_id for e in cat.label_events()] == [new_ids[0]]


def test_duplicate_groups_replace_earlier_ones(any_catalog):
    cat = any_catalog
    a, b, c = add_faces(cat, 3)
    cat.set_duplicate_groups({a: 1, b: 1})
    cat.set_duplicate_groups({b: 7, c: 7})
    groups = {f.id: f.dup_group for f in cat.select_faces()}
    assert groups == {a: None, b: 7, c: 7}
    assert cat.stats()["duplicate_groups"] == 1


def test_downloaded_images_and_outcomes_commit_together(any_catalog):
    cat = any_catalog
    sid = cat.add_source(NewSource(kind="scrape", name="bing: q"))
    sha, rel = cat.blobs.put_bytes(b"jpeg bytes", "JPEG")
    image = NewImage(sha, rel, 4, 3, "JPEG", sid, url="http://x/1.jpg")
    stored = cat.add_downloads([
        (DownloadRecord(sid, "http://x/1.jpg", DownloadStatus.OK), image),
        (DownloadRecord(sid, "http://x/404.jpg", DownloadStatus.HTTP_ERROR, http_status=404), None),
        (DownloadRecord(sid, "http://mirror/1.jpg", DownloadStatus.OK), replace(image, url="http://mirror/1.jpg")),
    ])
    assert [r.status for r in stored] == [DownloadStatus.OK, DownloadStatus.HTTP_ERROR, DownloadStatus.DUPLICATE]
    assert stored[0].image_id == stored[2].image_id is not None and stored[1].image_id is None
    s = cat.stats()
    assert s["images"] == 1 and s["by_download"] == {"duplicate": 1, "http_error": 1, "ok": 1}


def test_a_face_keeps_its_own_provenance_when_its_image_came_from_elsewhere(any_catalog):
    """Byte-identical files share one image row; each is still a face with its own source and path."""
    cat = any_catalog
    fer = cat.add_source(NewSource(kind="dataset", name="fer2013"))
    other = cat.add_source(NewSource(kind="dataset", name="ckplus"))
    sha, rel = cat.blobs.put_bytes(b"same pixels", "PNG")
    (ref,) = cat.add_images([NewImage(sha, rel, 48, 48, "PNG", fer, dataset_path="train/sad/a.jpg")])

    def face(**kw):
        return NewFace(bbox=(0, 0, 48, 48), crop_png=b"p", crop_size=48, phash="0" * 16, pixel_sha256="1" * 64, **kw)

    first, second, third = cat.add_faces([
        (ref.id, face(label="sad")),
        (ref.id, face(label="angry", dataset_path="test/angry/b.jpg")),
        (ref.id, face(label="sad", source_id=other, dataset_path="S005/001.png")),
    ])
    rows = {f.id: f for f in cat.select_faces()}
    assert (rows[first].source_name, rows[first].dataset_path) == ("fer2013", "train/sad/a.jpg")
    assert (rows[second].source_name, rows[second].dataset_path) == ("fer2013", "test/angry/b.jpg")
    assert (rows[third].source_name, rows[third].dataset_path) == ("ckplus", "S005/001.png")
    assert cat.count_faces(FaceFilter(sources=("ckplus",))) == 1
    assert cat.stats()["by_source"] == {"ckplus": 1, "fer2013": 2}


def test_redo_replaces_only_unreviewed_detected_faces(any_catalog):
    cat = any_catalog
    sid = cat.add_source(NewSource(kind="dataset", name="photos"))
    other = cat.add_source(NewSource(kind="dataset", name="fer2013"))
    sha, rel = cat.blobs.put_bytes(b"photo 2", "JPEG")
    (ref,) = cat.add_images([NewImage(sha, rel, 640, 480, "JPEG", sid)])

    def face(x, **kw):
        return NewFace(bbox=(x, 10, 50, 50), crop_png=b"png", crop_size=100, phash="0" * 16,
                       pixel_sha256=f"{x:064x}", **kw)

    plain, labeled, precropped, touched = cat.add_faces([
        (ref.id, face(1, detector="hog")),
        (ref.id, face(100, detector="hog", label="sad")),
        (ref.id, face(0, detector="none", source_id=other, dataset_path="train/x.jpg")),
        (ref.id, face(300, detector="hog")),
    ])
    v = cat.annotate(touched, 1, "alice", label="fear")
    cat.annotate(touched, v, "alice", label=None)  # reviewed, then cleared: still a person's work

    saved = cat.save_extraction(ref.id, ExtractionState.FACES, [face(2, detector="hog")], replace=True,
                                carry_annotations={0: plain})
    assert sorted(saved.kept_face_ids) == sorted([labeled, precropped, touched])
    ids = {f.id for f in cat.select_faces(FaceFilter(image_id=ref.id, include_deleted=True))}
    assert ids == {saved.face_ids[0], labeled, precropped, touched}
    assert cat.get_face(precropped).source_name == "fer2013"
    assert len(cat.label_events(touched)) == 2


def test_pre_cropped_pictures_and_their_faces_commit_together(any_catalog):
    cat = any_catalog
    web = cat.add_source(NewSource(kind="scrape", name="bing: face"))
    fer = cat.add_source(NewSource(kind="dataset", name="fer2013"))
    shared_sha, shared_rel = cat.blobs.put_bytes(b"scraped first", "JPEG")
    (scraped,) = cat.add_images([NewImage(shared_sha, shared_rel, 48, 48, "JPEG", web)])
    own_sha, own_rel = cat.blobs.put_bytes(b"fer only", "JPEG")

    def face(label):
        return NewFace(bbox=(0, 0, 48, 48), crop_png=b"p", crop_size=48, phash="0" * 16,
                       pixel_sha256="2" * 64, label=label, source_id=fer)

    refs = cat.add_images_with_faces([
        (NewImage(own_sha, own_rel, 48, 48, "JPEG", fer), face("sad")),
        (NewImage(own_sha, own_rel, 48, 48, "JPEG", fer), face("angry")),  # same bytes, other label
        (NewImage(shared_sha, shared_rel, 48, 48, "JPEG", fer), face("happy")),
    ])
    assert [r.created for r in refs] == [True, False, False] and refs[2].id == scraped.id
    assert sorted(f.label for f in cat.select_faces()) == ["angry", "happy", "sad"]
    # The dataset's own image is extracted; the scraped photo still waits for face detection.
    assert cat.stats()["by_extraction"] == {"faces": 1, "pending": 1}
    assert [t.id for t in cat.images_to_extract()] == [scraped.id]


def test_a_sqlite_url_with_its_own_file_name(tmp_path):
    from db import open_catalog

    url = f"sqlite:///{tmp_path / 'team' / 'faces.db'}"
    (tmp_path / "team").mkdir()
    with open_catalog(url, create=True) as cat:
        add_faces(cat, 2)
    with open_catalog(url) as cat:
        assert cat.stats()["faces"] == 2
        assert cat.blobs.root == tmp_path / "team"


def test_the_taxonomy_is_editable(any_catalog):
    cat = any_catalog
    cat.set_class("contempt", key="8", emoji="😒")
    cat.set_class("happy", emoji="😊")
    assert cat.class_names()[-1] == "contempt"
    assert {c.name: (c.key, c.emoji) for c in cat.classes()}["happy"] == ("4", "😊")
    (fid,) = add_faces(cat, 1, label=None)
    cat.annotate(fid, 1, "alice", label="contempt")
    with pytest.raises(CatalogError, match="still the label or suggestion of some faces"):
        cat.remove_class("contempt")
    cat.annotate(fid, 2, "alice", label="happy")
    cat.remove_class("contempt")
    assert "contempt" not in cat.class_names()
    with pytest.raises(CatalogError, match="no class 'contempt'"):
        cat.remove_class("contempt")
    with pytest.raises(CatalogError, match="key '1' already belongs to class 'angry'"):
        cat.set_class("joy", key="1")


def test_which_source_an_image_belongs_to(any_catalog):
    cat = any_catalog
    add_faces(cat, 2, source="a")
    add_faces(cat, 1, source="b")
    ids_a = cat.image_ids_of_source("a")
    assert len(ids_a) == 2 and cat.image_ids_of_source("nope") == set()
    assert set(cat.image_sources(sorted(ids_a | cat.image_ids_of_source("b"))).values()) == {"a", "b"}


def test_a_query_lists_every_image_it_found_including_ones_found_before(any_catalog):
    cat = any_catalog
    first = cat.add_source(NewSource(kind="scrape", name="bing: happy face", query="happy face"))
    second = cat.add_source(NewSource(kind="scrape", name="bing: smiling person", query="smiling person"))
    a_sha, a_rel = cat.blobs.put_bytes(b"image a", "JPEG")
    b_sha, b_rel = cat.blobs.put_bytes(b"image b", "JPEG")
    cat.add_downloads([
        (DownloadRecord(first, "http://x/a", DownloadStatus.OK, query="happy face", rank=2),
         NewImage(a_sha, a_rel, 4, 4, "JPEG", first, query="happy face")),
    ])
    cat.add_downloads([
        (DownloadRecord(second, "http://y/b", DownloadStatus.OK, query="smiling person", rank=1),
         NewImage(b_sha, b_rel, 4, 4, "JPEG", second, query="smiling person")),
        (DownloadRecord(second, "http://y/a-again", DownloadStatus.OK, query="smiling person", rank=3),
         NewImage(a_sha, a_rel, 4, 4, "JPEG", second, query="smiling person")),
        (DownloadRecord(second, "http://y/dead", DownloadStatus.HTTP_ERROR, query="smiling person", rank=2), None),
    ])
    assert [(i.sha256, i.rank) for i in cat.query_images("smiling person")] == [(b_sha, 1), (a_sha, 3)]
    assert [i.sha256 for i in cat.query_images("happy face")] == [a_sha]

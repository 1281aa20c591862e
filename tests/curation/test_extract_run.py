"""The extraction run: idempotent, resumable, the same with 1 or 2 workers, --redo keeps labels."""
from __future__ import annotations

import hashlib
import os

import pytest
from click.testing import CliRunner

from curation import extract as extract_module
from curation.cli import main
from curation.extract import run_extraction
from curation.faces import ExtractSettings
from curation.pool import WorkersCannotStart
from db import open_catalog
from db.types import FaceFilter, NewSource, Status
from tests.curation.conftest import add_raw_images

PHOTOS = ["dlib/2008_002470.jpg", "dlib/dogs.jpg", "face_recognition/examples/two_people.jpg",
          "face_recognition/examples/obama_small.jpg", "dlib/2009_004587.jpg"]


@pytest.fixture
def photos(shared_data) -> dict[str, bytes]:
    return {p: (shared_data / "photos" / p).read_bytes() for p in PHOTOS}


def _faces(cat) -> list[tuple]:
    return sorted((f.image_id, f.bbox, f.pixel_sha256, f.label, f.suggested_label)
                  for f in cat.iter_faces(FaceFilter(include_deleted=True)))


def test_running_twice_adds_nothing(catalog, photos):
    add_raw_images(catalog, photos, label=None)
    first = run_extraction(catalog, ExtractSettings(), workers=1)
    assert first.images == 5 and first.no_face == 1 and first.faces == 6 + 2 + 1 + 2
    before = _faces(catalog)
    second = run_extraction(catalog, ExtractSettings(), workers=1)
    assert second.images == 0 and _faces(catalog) == before


def test_two_workers_give_the_same_faces_as_one(tmp_path, photos):
    results = []
    for workers in (1, 2):
        with open_catalog(tmp_path / f"c{workers}", create=True) as cat:
            add_raw_images(cat, photos)
            run_extraction(cat, ExtractSettings(), workers=workers)
            results.append(([f.id for f in cat.iter_faces()], _faces(cat)))
    assert results[0] == results[1]


def test_faces_inherit_the_image_hints(catalog, photos):
    ids = add_raw_images(catalog, {"a": photos["face_recognition/examples/two_people.jpg"]}, label="happy")
    run_extraction(catalog, ExtractSettings(), workers=1)
    faces = catalog.select_faces(FaceFilter(image_id=ids["a"]))
    assert [f.label for f in faces] == ["happy", "happy"]
    assert all(f.status is Status.UNREVIEWED for f in faces)


def test_redo_with_new_settings_keeps_the_labels_of_the_same_faces(catalog, photos):
    ids = add_raw_images(catalog, {"two": photos["face_recognition/examples/two_people.jpg"]})
    run_extraction(catalog, ExtractSettings(), workers=1)
    old = catalog.select_faces(FaceFilter(image_id=ids["two"]))
    left, right = sorted(old, key=lambda f: f.bbox[0])
    catalog.annotate(left.id, left.version, "ann", label="happy", status=Status.CONFIRMED)
    catalog.annotate(right.id, right.version, "ann", label="sad")

    summary = run_extraction(catalog, ExtractSettings(size=64, padding=0.4), redo=True, workers=1)
    assert summary.labels_kept == 2 and summary.labels_unmatched == 0
    new = sorted(catalog.select_faces(FaceFilter(image_id=ids["two"]), with_crops=True), key=lambda f: f.bbox[0])
    assert {f.id for f in new}.isdisjoint({left.id, right.id})  # new rows, new crops...
    assert all(f.crop_size == 64 for f in new)
    assert [(f.label, f.status) for f in new] == [("happy", Status.CONFIRMED), ("sad", Status.UNREVIEWED)]
    assert [e.to_label for e in catalog.label_events(new[0].id)] == ["happy"]  # ...with their history


def test_redo_never_throws_away_a_reviewed_face_it_does_not_find_again(catalog, photos):
    ids = add_raw_images(catalog, {"two": photos["face_recognition/examples/two_people.jpg"]})
    run_extraction(catalog, ExtractSettings(), workers=1)
    left, right = sorted(catalog.select_faces(FaceFilter(image_id=ids["two"])), key=lambda f: f.bbox[0])
    catalog.annotate(left.id, left.version, "ann", label="happy", status=Status.CONFIRMED)

    # Settings under which no face is found: the unreviewed face goes, the reviewed one stays.
    summary = run_extraction(catalog, ExtractSettings(min_face=5000), redo=True, workers=1)
    assert summary.faces == 0 and summary.labels_unmatched == 1
    (kept,) = catalog.select_faces(FaceFilter(image_id=ids["two"], include_deleted=True))
    assert (kept.id, kept.label, kept.status) == (left.id, "happy", Status.CONFIRMED)
    assert catalog.stats()["by_extraction"] == {"faces": 1}


def test_redo_leaves_pre_cropped_dataset_faces_alone(tmp_path, shared_data):
    cat_dir = str(tmp_path / "catalog")
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--catalog", cat_dir]).exit_code == 0
    sub = tmp_path / "fer" / "train" / "happy"
    sub.mkdir(parents=True)
    for p in sorted((shared_data / "fer2013/train/happy").glob("*.jpg"))[:5]:
        (sub / p.name).write_bytes(p.read_bytes())
    assert runner.invoke(main, ["import", "fer2013", str(tmp_path / "fer"), "--catalog", cat_dir]).exit_code == 0
    res = runner.invoke(main, ["extract", "--redo", "--catalog", cat_dir, "--json", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert '"skipped_precropped": 5' in res.output
    with open_catalog(cat_dir) as cat:
        assert cat.count_faces() == 5


def test_a_worker_that_dies_costs_only_its_image(catalog, photos, monkeypatch):
    """A decoder that kills its process (segfault, OOM) must not hang the run: that image is
    recorded as unreadable ("worker crashed"), the pool restarts and every other image is done."""
    ids = add_raw_images(catalog, photos)
    killer = hashlib.sha256(photos["face_recognition/examples/two_people.jpg"]).hexdigest()
    real = extract_module.decode_gray

    def decode_or_die(path, *args, **kwargs):
        if killer in str(path):
            os._exit(3)  # in the forked worker, as a segfault would end it
        return real(path, *args, **kwargs)

    monkeypatch.setattr(extract_module, "decode_gray", decode_or_die)
    summary = run_extraction(catalog, ExtractSettings(), workers=2)
    assert summary.images == 5 and summary.unreadable == 1 and summary.no_face == 1
    assert list(summary.errors.values()) == ["worker crashed"] and killer in next(iter(summary.errors))
    assert summary.faces == 6 + 1 + 2  # all but two_people's two faces
    by_image = {}
    for f in catalog.iter_faces():
        by_image[f.image_id] = by_image.get(f.image_id, 0) + 1
    assert ids["face_recognition/examples/two_people.jpg"] not in by_image
    assert by_image[ids["face_recognition/examples/obama_small.jpg"]] == 1
    assert run_extraction(catalog, ExtractSettings(), workers=2).images == 0  # recorded: not retried


def test_a_crash_during_redo_keeps_the_image_as_it_was(catalog, photos, monkeypatch):
    ids = add_raw_images(catalog, {"two": photos["face_recognition/examples/two_people.jpg"],
                                   "one": photos["face_recognition/examples/obama_small.jpg"]})
    run_extraction(catalog, ExtractSettings(), workers=1)
    before = sorted(f.id for f in catalog.select_faces(FaceFilter(image_id=ids["two"])))
    killer = hashlib.sha256(photos["face_recognition/examples/two_people.jpg"]).hexdigest()
    real = extract_module.decode_gray

    def decode_or_die(path, *args, **kwargs):
        if killer in str(path):
            os._exit(3)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(extract_module, "decode_gray", decode_or_die)
    summary = run_extraction(catalog, ExtractSettings(size=64), redo=True, workers=2)
    assert summary.unreadable == 1
    assert sorted(f.id for f in catalog.select_faces(FaceFilter(image_id=ids["two"]))) == before
    assert catalog.stats()["by_extraction"] == {"faces": 2}


def test_workers_that_cannot_start_stop_the_run_and_mark_nothing(catalog, photos, monkeypatch):
    add_raw_images(catalog, photos)

    def broken_setup(*args):
        os._exit(4)  # e.g. the OOM killer while every worker loads the models

    monkeypatch.setattr(extract_module, "_init_worker", broken_setup)
    with pytest.raises(WorkersCannotStart):
        run_extraction(catalog, ExtractSettings(), workers=2)
    assert catalog.stats()["by_extraction"] == {"pending": len(photos)}


def test_unknown_source_or_query_is_an_error_listing_the_known_ones(tmp_path):
    cat_dir = str(tmp_path / "catalog")
    with open_catalog(cat_dir, create=True) as cat:
        cat.add_source(NewSource(kind="scrape", name="bing: sad face", engine="bing", query="sad face"))
        add_raw_images(cat, {"x.jpg": b"not an image"}, source="raw")
    runner = CliRunner()
    res = runner.invoke(main, ["extract", "--source", "nope", "--catalog", cat_dir])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output == ("error: unknown source(s): 'nope'; known: 'bing: sad face', 'raw' (see `curate stats`)\n")
    res = runner.invoke(main, ["extract", "--query", "sad face", "--query", "happy", "--catalog", cat_dir])
    assert res.exit_code == 1 and "unknown query(s): 'happy'; known: 'sad face'" in res.output
    with open_catalog(cat_dir) as cat:  # nothing was extracted
        assert cat.stats()["by_extraction"] == {"pending": 1}
    res = runner.invoke(main, ["extract", "--source", "raw", "--catalog", cat_dir, "--workers", "1", "--json"])
    assert res.exit_code == 0 and '"unreadable": 1' in res.output
    with open_catalog(cat_dir) as cat, cat.engine.connect() as conn:  # the run refreshed the statistics
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'images'").scalar() > 0


def test_cli_redo_of_one_source_keeps_another_sources_labeled_precropped_face(tmp_path, photos):
    """The same photo scraped (source web, detected faces) and imported pre-cropped with a label
    (source ds): `extract --redo --source web` replaces the detected faces, never the dataset's."""
    cat_dir = str(tmp_path / "catalog")
    two = photos["face_recognition/examples/two_people.jpg"]
    with open_catalog(cat_dir, create=True) as cat:
        image_id = add_raw_images(cat, {"two.jpg": two}, source="web")["two.jpg"]
    runner = CliRunner()
    assert runner.invoke(main, ["extract", "--catalog", cat_dir, "--workers", "1"]).exit_code == 0
    (tmp_path / "ds/happy").mkdir(parents=True)
    (tmp_path / "ds/happy/two.jpg").write_bytes(two)
    res = runner.invoke(main, ["import", "folders", str(tmp_path / "ds"), "--crop", "none", "--catalog", cat_dir])
    assert res.exit_code == 0, res.output
    with open_catalog(cat_dir) as cat:
        before = cat.select_faces(FaceFilter(image_id=image_id))
    assert sorted((f.source_name, f.detector, f.label) for f in before) == [
        ("ds", "none", "happy"), ("web", "hog", None), ("web", "hog", None)]
    res = runner.invoke(main, ["extract", "--redo", "--source", "web", "--margin", "0.4", "--catalog", cat_dir,
                               "--workers", "1", "--json"])
    assert res.exit_code == 0, res.output
    with open_catalog(cat_dir) as cat:
        after = cat.select_faces(FaceFilter(image_id=image_id))
    dataset_face = next(f for f in before if f.detector == "none")
    assert [f for f in after if f.detector == "none"] == [dataset_face]  # untouched: same id, label, version
    detected = [f for f in after if f.detector == "hog"]
    assert len(detected) == 2 and not {f.id for f in detected} & {f.id for f in before}  # new faces


def test_two_runs_at_once_extract_each_image_once(any_catalog, photos):
    # `curate extract` started while another run (or an import's extraction) is under way: both
    # listed the same pending images. Simulated deterministically: after the first run stores its
    # first image, a second run extracts everything left; the first must not add those faces again.
    add_raw_images(any_catalog, photos, label=None)
    second = []

    def on_result(_result) -> None:
        if not second:
            second.append(run_extraction(any_catalog, ExtractSettings(), workers=1))

    first = run_extraction(any_catalog, ExtractSettings(), workers=1, on_result=on_result)
    assert second[0].images == 4
    assert first.images == 1 and first.extracted_elsewhere == 4
    assert first.faces + second[0].faces == 6 + 2 + 1 + 2 == any_catalog.count_faces()

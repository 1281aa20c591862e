"""Extraction, detect imports and downloads on a real two-node Ray cluster, with the catalog on
PostgreSQL and the blobs in a directory or in S3 (moto): the same faces as a local run, and a
worker node lost mid-run still ends with every image extracted exactly once."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import main as curate
from curation.extract import run_extraction
from curation.faces import ExtractSettings
from db import open_catalog
from db.executor import ExecutorSpec, RayCluster
from db.types import FaceFilter
from scraper.cli import main as scrape
from tests.curation.conftest import add_raw_images
from tests.scraper.test_cli import N_IMAGES, gallery_app
from tests.signals import communicate_or_show_stacks, ctrl_c_reaches_the_child

pytestmark = pytest.mark.postgres

PHOTOS = ["dlib/2008_002470.jpg", "dlib/dogs.jpg", "dlib/2009_004587.jpg", "dlib/bald_guys.jpg",
          "face_recognition/examples/two_people.jpg", "face_recognition/examples/obama_small.jpg"]


def _photos(shared_data: Path, names=PHOTOS) -> dict[str, bytes]:
    files = {p: (shared_data / "photos" / p).read_bytes() for p in names}
    files["broken.jpg"] = b"\xff\xd8\xff not really a jpeg"
    return files


def faces_of(cat) -> list[tuple]:
    """Everything extraction decides, face by face: the image (by its bytes: PostgreSQL numbers
    images in sha256 order, SQLite in arrival order), box, score, pixels, label, provenance."""
    sha = {im.id: im.sha256 for im in cat.images_to_extract(redo=True)}
    return sorted((sha[f.image_id], f.bbox, f.detector, f.score, f.pixel_sha256, f.label, f.dataset_path)
                  for f in cat.iter_faces(FaceFilter(include_deleted=True)))


def states_of(cat) -> dict:
    return cat.stats()["by_extraction"]


def curate_json(*args: str) -> dict:
    r = CliRunner().invoke(curate, [*args, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def local_extraction(shared_data, tmp_path_factory):
    """The reference: the same photos extracted locally (2 processes) on a SQLite catalog."""
    with open_catalog(tmp_path_factory.mktemp("local") / "catalog", create=True) as cat:
        add_raw_images(cat, _photos(shared_data), label="happy")
        run_extraction(cat, ExtractSettings(), workers=2)
        return faces_of(cat), states_of(cat)


@pytest.fixture(scope="module")
def many_photos(shared_data, tmp_path_factory):
    """16 real photos (and a broken file), with the faces a local run finds in them."""
    names = sorted(str(p.relative_to(shared_data / "photos")) for p in (shared_data / "photos").rglob("*.jpg"))[:16]
    files = _photos(shared_data, names)
    with open_catalog(tmp_path_factory.mktemp("local") / "catalog", create=True) as cat:
        add_raw_images(cat, files)
        run_extraction(cat, ExtractSettings(), workers=2)
        return files, (faces_of(cat), states_of(cat))


@pytest.mark.parametrize("store_kind", ["directory", "s3"])
def test_extraction_on_ray_gives_exactly_the_faces_of_a_local_run(store_kind, ray_cluster, pg_url, tmp_path,
                                                                  shared_data, local_extraction, request):
    store = str(tmp_path / "blobs") if store_kind == "directory" else f"s3://{request.getfixturevalue('bucket')}/faces"
    with open_catalog(pg_url, store, create=True) as cat:
        add_raw_images(cat, _photos(shared_data), label="happy")
    summary = curate_json("extract", "--executor", f"ray:{ray_cluster.address}", "--catalog", pg_url, "--store", store)
    assert summary["images"] == 7 and summary["unreadable"] == 1 and summary["extracted_elsewhere"] == 0
    with open_catalog(pg_url, store) as cat:
        assert (faces_of(cat), states_of(cat)) == local_extraction
        assert states_of(cat).get("pending") is None
    again = curate_json("extract", "--executor", f"ray:{ray_cluster.address}", "--catalog", pg_url, "--store", store)
    assert again["images"] == 0  # nothing pending: nothing done twice


def test_detect_import_on_ray_gives_exactly_the_faces_of_a_local_import(ray_cluster, pg_url, bucket, tmp_path,
                                                                        shared_data):
    data = tmp_path / "jaffe"
    data.mkdir()
    for p in sorted((shared_data / "jaffe").glob("*.tiff"))[:10]:
        shutil.copy(p, data / p.name)
    local = curate_json("import", "jaffe", str(data), "--catalog", str(tmp_path / "local"), "--workers", "2")
    store = f"s3://{bucket}/jaffe"
    remote = curate_json("import", "jaffe", str(data), "--executor", f"ray:{ray_cluster.address}",
                         "--catalog", pg_url, "--store", store)
    assert remote["faces_added"] == local["faces_added"] == 10 and remote["failed"] == {}
    assert remote["extraction"]["images"] == 10
    with open_catalog(tmp_path / "local") as a, open_catalog(pg_url, store) as b:
        assert faces_of(b) == faces_of(a) and states_of(b) == states_of(a)
        # The originals are in the bucket, byte for byte.
        for img in b.images_to_extract(redo=True):
            assert b.blobs.read(img.blob_path) == a.blobs.read(img.blob_path)
    again = curate_json("import", "jaffe", str(data), "--executor", f"ray:{ray_cluster.address}",
                        "--catalog", pg_url, "--store", store)
    assert again["images_added"] == 0 and again["faces_added"] == 0


def test_a_worker_node_lost_mid_run_costs_only_a_retry(ray_cluster, pg_url, tmp_path, many_photos):
    """A third node joins, and is killed (its whole process tree, SIGKILL: a machine that is gone)
    as soon as the first result is stored. Its tasks run again on the others; every image is
    extracted exactly once, with the faces a local run finds."""
    files, expected = many_photos

    extra = ray_cluster.add_worker("127.0.0.4")
    store = str(tmp_path / "blobs")
    with open_catalog(pg_url, store, create=True) as cat:
        add_raw_images(cat, files)
        killed = []

        def on_result(_result) -> None:
            if not killed:
                killed.append(cluster.in_flight)
                extra.kill()

        with RayCluster(ExecutorSpec("ray", ray_cluster.address)) as cluster:
            assert cluster.cpus() == 3
            summary = run_extraction(cat, ExtractSettings(), on_result=on_result, cluster=cluster)
        assert killed and killed[0] > 1  # it died with work in flight
        assert summary.images == len(set(files.values())) and summary.extracted_elsewhere == 0
        assert (faces_of(cat), states_of(cat)) == expected


def test_scrape_downloads_on_ray_into_s3(ray_cluster, serve, pg_url, bucket):
    app, images = gallery_app()
    server = serve(app)
    store = f"s3://{bucket}/scraped"
    r = CliRunner().invoke(scrape, ["happy people", "--from-page", server.url + "/gallery", "--executor",
                                    f"ray:{ray_cluster.address}", "--catalog", pg_url, "--store", store, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outcomes"] == {"ok": N_IMAGES}
    with open_catalog(pg_url, store) as cat:
        stored = {cat.blobs.read(im.blob_path) for im in cat.images_to_extract(redo=True)}
        assert stored == set(images.values())
        assert cat.stats()["by_download"] == {"ok": N_IMAGES}


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_a_stopped_driver_keeps_what_was_stored_and_the_same_command_finishes(how, ray_cluster, pg_url, tmp_path,
                                                                              many_photos):
    """Ctrl-C or kill -9 of the driver mid-run, as locally: what was stored stays, the rest is
    still pending, and the same command finishes exactly."""
    files, expected = many_photos
    store = str(tmp_path / "blobs")
    with open_catalog(pg_url, store, create=True) as cat:
        add_raw_images(cat, files)
    cmd = [str(Path(sys.executable).parent / "curate"), "extract", "--executor", f"ray:{ray_cluster.address}",
           "--catalog", pg_url, "--store", store]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_reaches_the_child)
    with open_catalog(pg_url, store) as cat:
        deadline = time.monotonic() + 120
        while cat.stats()["by_extraction"].get("pending", 0) == len(set(files.values())):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(how)
        _, err = communicate_or_show_stacks(proc, timeout=60)
        assert proc.returncode == (1 if how == signal.SIGINT else -signal.SIGKILL)
        if how == signal.SIGINT:
            assert "interrupted; what was stored is kept: run the same command again to finish" in err
        left = cat.stats()["by_extraction"].get("pending", 0)
        assert 0 < left < len(set(files.values())), "the stop should land mid-run"
    finish = curate_json("extract", "--executor", f"ray:{ray_cluster.address}", "--catalog", pg_url, "--store", store)
    assert finish["images"] == left and finish["extracted_elsewhere"] == 0
    with open_catalog(pg_url, store) as cat:
        assert (faces_of(cat), states_of(cat)) == expected

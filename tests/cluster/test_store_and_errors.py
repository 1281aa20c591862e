"""The blob store in object storage (moto's S3 server on 127.0.0.1), and what goes wrong past one
machine: a store that cannot be reached, a bucket that does not exist, a Ray address where nothing
listens. Each is one line on stderr, exit 1, and nothing written anywhere."""
from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest
import s3fs
import sqlalchemy as sa
from click.testing import CliRunner
from PIL import Image

from curation.cli import main as curate
from db import open_catalog
from db.blobs import BlobStoreError, DirectoryStore, ObjectStore, open_store
from scraper.cli import main as scrape
from tests.cluster.processes import free_port


def _jaffe_copy(shared_data, dest, n=3):
    dest.mkdir()
    for p in sorted((shared_data / "jaffe").glob("*.tiff"))[:n]:
        (dest / p.name).write_bytes(p.read_bytes())
    return dest


def test_object_store_is_content_addressed_atomic_and_pickles_small(bucket):
    store = open_store(f"s3://{bucket}/pre")
    assert isinstance(store, ObjectStore) and not store.is_local and store.local_root is None
    store.check()
    sha, rel = store.put_bytes(b"\x89PNG bytes", "PNG")
    assert rel == f"images/{sha[:2]}/{sha}.png" == DirectoryStore("/x").relpath(sha, "PNG")  # same layout
    assert store.put_bytes(b"\x89PNG bytes", "PNG") == (sha, rel)  # the same bytes twice: one object
    assert store.read(rel) == b"\x89PNG bytes" and store.open(rel).read() == b"\x89PNG bytes"
    with pytest.raises(FileNotFoundError):
        store.read("images/00/missing.png")
    with pytest.raises(BlobStoreError, match="not in a directory"):
        store.path(rel)
    copy = pickle.loads(pickle.dumps(store))
    assert copy.read(rel) == b"\x89PNG bytes" and len(pickle.dumps(store)) < 200
    # Nothing but the blob is left in the bucket (the write probe is removed).
    assert s3fs.S3FileSystem().find(bucket) == [f"{bucket}/pre/{rel}"]


def test_a_whole_catalog_with_its_blobs_in_s3(bucket, tmp_path, shared_data):
    """A SQLite catalog directory with --store s3://: import, export and the scrape view read the
    originals from the bucket; the directory holds the database only."""
    store = f"s3://{bucket}/faces"
    cat = str(tmp_path / "catalog")
    run = CliRunner().invoke
    r = run(curate, ["import", "jaffe", str(_jaffe_copy(shared_data, tmp_path / "jaffe")), "--catalog", cat,
                     "--store", store, "--json", "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["faces_added"] == 3
    assert not (tmp_path / "catalog" / "images").exists()  # the directory holds the database only
    keys = s3fs.S3FileSystem().find(f"{bucket}/faces")
    assert len(keys) == 3 and all(k.endswith(".tiff") for k in keys)
    r = run(curate, ["export", str(tmp_path / "out"), "--catalog", cat, "--store", store, "--format", "folders"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "out").rglob("*.png"))) == 3


def test_native_size_crops_mix_with_detected_faces_everywhere(tmp_path, shared_data):
    """FER2013's 48x48 faces are stored at 48 beside 100x100 detected faces: export reads both at
    one size, and at 48 writes FER2013's faces exactly as they came."""
    fer = tmp_path / "fer" / "train" / "happy"
    fer.mkdir(parents=True)
    originals = {}
    for p in sorted((shared_data / "fer2013/train/happy").glob("*.jpg"))[:4]:
        (fer / p.name).write_bytes(p.read_bytes())
        originals[f"train/happy/{p.name}"] = np.asarray(Image.open(p).convert("L"))
    cat = str(tmp_path / "catalog")
    run = CliRunner().invoke
    assert run(curate, ["import", "fer2013", str(tmp_path / "fer"), "--catalog", cat]).exit_code == 0
    assert run(curate, ["import", "jaffe", str(_jaffe_copy(shared_data, tmp_path / "jaffe", 2)),
                        "--catalog", cat]).exit_code == 0
    with open_catalog(cat) as c:
        faces = list(c.iter_faces(with_crops=True))
        assert sorted((f.detector, f.crop_size, f.stored_size) for f in faces) == [
            ("hog", 100, 100)] * 2 + [("none", 100, 48)] * 4
        arrays = c.crop_arrays([f.id for f in faces], 100)
        assert {a.shape for a in arrays.values()} == {(100, 100)}
    r = run(curate, ["export", str(tmp_path / "npz"), "--catalog", cat, "--format", "npz", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["size"] == 100
    r = run(curate, ["export", str(tmp_path / "f48"), "--catalog", cat, "--format", "folders", "--size", "48",
                     "--source", "fer2013"])
    assert r.exit_code == 0, r.output
    written = sorted((tmp_path / "f48").rglob("*.png"))
    assert len(written) == 4
    assert {np.asarray(Image.open(p)).tobytes() for p in written} == {a.tobytes() for a in originals.values()}


# --- one line, exit 1, nothing written ------------------------------------------------------------

def _fails_with_one_line(result, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_an_unreachable_store_is_one_line_and_writes_nothing(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    runner = CliRunner()
    for args in (["init"], ["import", "jaffe", str(_jaffe_copy(shared_data, tmp_path / "jaffe"))]):
        r = runner.invoke(curate, [*args, "--catalog", str(tmp_path / "cat"), "--store", "s3://faces/blobs"])
        _fails_with_one_line(r, "cannot reach blob store s3://faces/blobs")
        assert not (tmp_path / "cat").exists()


def test_a_missing_bucket_is_one_line_and_writes_nothing(s3_env, tmp_path, pg_url):
    r = CliRunner().invoke(curate, ["init", "--catalog", str(tmp_path / "cat"), "--store", "s3://no-such-bucket/x"])
    _fails_with_one_line(r, "no bucket 'no-such-bucket'")
    assert not (tmp_path / "cat").exists()
    r = CliRunner().invoke(curate, ["init", "--catalog", pg_url, "--store", "s3://no-such-bucket/x"])
    _fails_with_one_line(r, "no bucket")
    engine = sa.create_engine(pg_url)
    assert sa.inspect(engine).get_table_names() == []  # no schema was made
    engine.dispose()
    assert "no-such-bucket" not in [b.rstrip("/") for b in s3fs.S3FileSystem().ls("")]


@pytest.mark.parametrize("command", ["extract", "import", "scrape"])
def test_a_ray_address_with_nothing_listening_is_one_line_and_writes_nothing(command, tmp_path, shared_data):
    address = f"127.0.0.1:{free_port()}"
    cat = str(tmp_path / "cat")
    if command == "extract":
        open_catalog(cat, create=True).close()
        before = sorted(p.name for p in (tmp_path / "cat").iterdir())
        r = CliRunner().invoke(curate, ["extract", "--catalog", cat, "--executor", f"ray:{address}"])
    elif command == "import":
        r = CliRunner().invoke(curate, ["import", "jaffe", str(_jaffe_copy(shared_data, tmp_path / "jaffe")),
                                        "--catalog", cat, "--executor", f"ray:{address}"])
    else:
        r = CliRunner().invoke(scrape, ["x", "--from-page", "http://127.0.0.1:9/gallery", "--catalog", cat,
                                        "--executor", f"ray:{address}"])
    _fails_with_one_line(r, f"no Ray cluster at {address}: connection refused")
    if command == "extract":
        assert sorted(p.name for p in (tmp_path / "cat").iterdir()) == before
    else:
        assert not (tmp_path / "cat").exists()


def test_a_bad_executor_is_a_usage_error():
    r = CliRunner().invoke(curate, ["extract", "--executor", "spark"])
    assert r.exit_code == 2 and "not an executor: local, ray or ray:ADDRESS" in r.output


def test_blob_readers_have_one_way_for_every_store(tmp_path):
    """path() stays for directory stores (the labeler's today); read()/open() work for both."""
    d = open_store(tmp_path / "blobs")
    d.check()
    sha, rel = d.put_bytes(b"x" * 10, "JPEG")
    assert d.path(rel).read_bytes() == d.read(rel) == d.open(rel).read() == b"x" * 10
    assert d.local_root == tmp_path / "blobs" and str(d) == str(tmp_path / "blobs")
    buf = io.BytesIO()
    Image.new("L", (48, 48), 7).save(buf, format="PNG")
    from db.pixels import crop_pixels, crop_png_at, png_side
    assert png_side(buf.getvalue()) == 48 and crop_png_at(buf.getvalue(), 48) == buf.getvalue()
    assert crop_pixels(buf.getvalue(), 100).shape == (100, 100) and png_side(crop_png_at(buf.getvalue(), 100)) == 100

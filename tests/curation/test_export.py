"""curate export: folders, csv and npz layouts, manifest, determinism, duplicate groups, atomicity."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import select

from curation.cli import main
from curation.dedupe import dedupe
from curation.export import ExportError, export
from curation.export import run as export_run
from curation.selection import SelectionError, SelectionSpec
from db import models as m
from db.catalog import open_catalog
from db.types import Status
from tests.curation.conftest import FaceSpec, add_dataset, nudged, pattern


@pytest.fixture
def outdir(tmp_path) -> Path:
    """An empty folder for exports (the catalog lives beside it)."""
    d = tmp_path / "exports"
    d.mkdir()
    return d


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _exports(cat) -> list:
    with cat.engine.connect() as conn:  # read-only check of the catalog's export records
        return conn.execute(select(m.exports).order_by(m.exports.c.id)).all()


def test_folders_layout_is_readable_and_matches_manifest(labeled_catalog, tmp_path):
    out = tmp_path / "faces"
    result = export(labeled_catalog, out, "folders", SelectionSpec())
    man = _manifest(out)
    assert result.classes == man["classes"] == ["angry", "happy", "sad"]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test", "train", "val"]
    for split in ("train", "val", "test"):
        assert sorted(p.name for p in (out / split).iterdir()) == ["angry", "happy", "sad"]
        for k in man["classes"]:
            files = sorted((out / split / k).glob("*.png"))
            assert len(files) == man["counts"][split][k]
    files = list(out.glob("*/*/*.png"))
    assert len(files) == 120 == man["counts"]["faces"] == len(man["faces"])
    with Image.open(files[0]) as img:
        assert img.mode == "L" and img.size == (100, 100)
    for face in man["faces"]:
        assert face["file"] == f"{face['split']}/{face['label']}/{face['id']}.png"
        assert (out / face["file"]).is_file()
        assert face["source"] == "synth" and face["dataset_path"].startswith("synth/")
    # The exported pixels are the stored crop's.
    face = man["faces"][0]
    stored = labeled_catalog.crops([face["id"]])[face["id"]]
    with Image.open(out / face["file"]) as a, Image.open(io.BytesIO(stored)) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
    rec = _exports(labeled_catalog)
    assert len(rec) == 1 and rec[0].format == "folders" and rec[0].path == str(out.absolute())
    assert rec[0].counts["faces"] == 120 and rec[0].manifest_sha256 == result.manifest_sha256


def test_split_is_stratified(labeled_catalog, tmp_path):
    counts = export(labeled_catalog, tmp_path / "o", "folders", SelectionSpec(split="70/15/15")).counts
    for k, n in (("happy", 60), ("sad", 40), ("angry", 20)):
        assert abs(counts["train"][k] - 0.7 * n) <= 1
        assert abs(counts["val"][k] - 0.15 * n) <= 1 and abs(counts["test"][k] - 0.15 * n) <= 1


def test_export_is_deterministic_and_snapshot_follows_the_catalog(labeled_catalog, tmp_path):
    cat = labeled_catalog
    spec = SelectionSpec(split="80/10/10", seed=3)
    a = export(cat, tmp_path / "a", "folders", spec)
    b = export(cat, tmp_path / "b", "folders", spec)
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    assert a.manifest_sha256 == b.manifest_sha256
    files = lambda p: sorted(str(f.relative_to(p)) for f in p.rglob("*.png"))  # noqa: E731
    assert files(tmp_path / "a") == files(tmp_path / "b")
    other = _manifest(export(cat, tmp_path / "c", "folders", SelectionSpec(seed=4)).path)
    assert other["faces"] != _manifest(tmp_path / "a")["faces"]
    # A relabel changes the snapshot hash (and only the relabelled face's entry).
    face = cat.get_face(1, with_crop=False)
    cat.annotate(face.id, face.version, "tester", label="surprise")
    changed = _manifest(export(cat, tmp_path / "d", "folders", spec).path)
    before = _manifest(tmp_path / "a")
    assert changed["snapshot_sha256"] != before["snapshot_sha256"]
    assert [f["id"] for f in changed["faces"]] == [f["id"] for f in before["faces"]]
    differ = [(b, c) for b, c in zip(before["faces"], changed["faces"]) if b != c]
    assert len(differ) == 1
    old_entry, new_entry = differ[0]
    assert old_entry["id"] == new_entry["id"] == 1 and new_entry["label"] == new_entry["catalog_label"] == "surprise"
    assert {k for k in old_entry if old_entry[k] != new_entry[k]} == {"label", "catalog_label", "file"}


def test_duplicates_never_cross_splits(any_catalog, tmp_path):
    catalog = any_catalog
    base = [pattern(i) for i in range(40)]
    add_dataset(catalog, [FaceSpec(p, "happy" if i % 2 else "sad") for i, p in enumerate(base)], source="a")
    add_dataset(catalog, [FaceSpec(nudged(p), "happy" if i % 2 else "sad") for i, p in enumerate(base)],
                source="b")
    add_dataset(catalog, [FaceSpec(p.copy(), "happy" if i % 2 else "sad") for i, p in enumerate(base[:10])],
                source="c")  # exact copies
    dedupe(catalog)
    for seed in range(3):
        man = _manifest(export(catalog, tmp_path / f"o{seed}", "npz", SelectionSpec(split="60/20/20", seed=seed)).path)
        split_of_group: dict[int, set] = {}
        for f in man["faces"]:
            assert f["dup_group"] is not None
            split_of_group.setdefault(f["dup_group"], set()).add(f["split"])
        assert len(split_of_group) == 40 and all(len(s) == 1 for s in split_of_group.values())
        assert {f["split"] for f in man["faces"]} == {"train", "val", "test"}


def test_npz_contents(labeled_catalog, tmp_path):
    out = export(labeled_catalog, tmp_path / "n", "npz", SelectionSpec(classes=("sad", "happy")), size=64).path
    man = _manifest(out)
    with np.load(out / "faces.npz", allow_pickle=False) as z:
        X, y, split, classes, ids = z["X"], z["y"], z["split"], z["classes"], z["face_ids"]
    assert X.shape == (100, 64, 64) and X.dtype == np.uint8
    assert classes.tolist() == ["sad", "happy"] and Counter(y.tolist()) == {0: 40, 1: 60}
    assert [f["id"] for f in man["faces"]] == ids.tolist()
    assert [f["split"] for f in man["faces"]] == split.tolist()
    assert [f["row"] for f in man["faces"]] == list(range(100))
    assert [man["classes"][i] for i in y] == [f["label"] for f in man["faces"]]
    assert split.tolist() == sorted(split.tolist(), key=["train", "val", "test"].index)
    assert X.std() > 10  # real pictures, not zeros


def test_csv_is_fer2013_layout_with_original_pixels(catalog, tmp_path):
    pics = [pattern(i) for i in range(14)]
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"] * 2
    hints = ["Training"] * 7 + ["PublicTest"] * 4 + ["PrivateTest"] * 3
    add_dataset(catalog, [FaceSpec(p, k, h) for p, k, h in zip(pics, labels, hints)], source="fer")
    out = export(catalog, tmp_path / "c", "csv", SelectionSpec(split="keep")).path
    with open(out / "fer2013.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["emotion", "pixels", "Usage"] and len(rows) == 15
    # Rows in Usage order (Training, PublicTest, PrivateTest), each exactly the original 48x48 picture.
    for (emotion, pixels, usage), pic, label, hint in zip(rows[1:], pics, labels, hints):
        assert int(emotion) == labels.index(label) and usage == hint
        assert np.array_equal(np.array(pixels.split(), dtype=np.uint8).reshape(48, 48), np.asarray(pic))
    assert _manifest(out)["size"] == 48


def test_csv_refuses_classes_outside_fer2013(labeled_catalog, outdir):
    with pytest.raises(ExportError, match="FER2013's classes only.*negative"):
        export(labeled_catalog, outdir / "c", "csv", SelectionSpec(class_map={"sad": "negative"}))
    assert list(outdir.iterdir()) == []


def test_mixed_crop_sizes_need_size(catalog, tmp_path):
    add_dataset(catalog, [FaceSpec(pattern(1))], source="a", crop_size=100)
    add_dataset(catalog, [FaceSpec(pattern(2))], source="b", crop_size=64)
    with pytest.raises(ExportError, match="sizes 64, 100; pick one with --size"):
        export(catalog, tmp_path / "o", "npz", SelectionSpec(split="100/0/0"))
    result = export(catalog, tmp_path / "o", "npz", SelectionSpec(split="100/0/0"), size=80)
    with np.load(result.path / "faces.npz") as z:
        assert z["X"].shape == (2, 80, 80)


def test_failure_midway_leaves_no_out_and_keeps_the_old_one(labeled_catalog, outdir, monkeypatch):
    out = outdir / "faces"
    calls = {"n": 0}
    real = export_run.FoldersWriter.add

    def failing_add(self, a, picture):
        calls["n"] += 1
        if calls["n"] == 50:
            raise OSError(28, "No space left on device")
        return real(self, a, picture)

    monkeypatch.setattr(export_run.FoldersWriter, "add", failing_add)
    with pytest.raises(OSError):
        export(labeled_catalog, out, "folders", SelectionSpec())
    assert list(outdir.iterdir()) == []  # neither OUT nor the temporary directory
    assert _exports(labeled_catalog) == []

    monkeypatch.setattr(export_run.FoldersWriter, "add", real)
    first = export(labeled_catalog, out, "folders", SelectionSpec())
    with pytest.raises(ExportError, match="already exists; use --force"):
        export(labeled_catalog, out, "npz", SelectionSpec())
    calls["n"] = 0
    monkeypatch.setattr(export_run.FoldersWriter, "add", failing_add)
    with pytest.raises(OSError):
        export(labeled_catalog, out, "folders", SelectionSpec(seed=5), force=True)
    assert _manifest(out)["filters"]["seed"] == 0 and len(list(out.glob("*/*/*.png"))) == 120
    assert sorted(p.name for p in outdir.iterdir()) == ["faces"]
    monkeypatch.setattr(export_run.FoldersWriter, "add", real)
    second = export(labeled_catalog, out, "npz", SelectionSpec(), force=True)
    assert sorted(p.name for p in out.iterdir()) == ["faces.npz", "manifest.json"]
    assert first.manifest_sha256 != second.manifest_sha256


def test_selection_errors_write_nothing(labeled_catalog, outdir):
    with pytest.raises(SelectionError, match="unknown class"):
        export(labeled_catalog, outdir / "o", "folders", SelectionSpec(classes=("joy",)))
    with pytest.raises(ExportError, match="no faces match"):
        export(labeled_catalog, outdir / "o", "folders", SelectionSpec(status="confirmed"))
    with pytest.raises(ExportError, match="unfit for a folder name"):
        export(labeled_catalog, outdir / "o", "folders", SelectionSpec(class_map={"sad": "../up"}))
    with pytest.raises(ExportError, match="no faces match"):  # nor the folders OUT would go in
        export(labeled_catalog, outdir / "new" / "o", "folders", SelectionSpec(status="confirmed"))
    assert list(outdir.iterdir()) == []


def test_status_confirmed_and_deleted_faces(labeled_catalog, tmp_path):
    cat = labeled_catalog
    for fid, status in ((1, Status.CONFIRMED), (2, Status.CONFIRMED), (3, Status.DELETED)):
        f = cat.get_face(fid, with_crop=False)
        cat.annotate(fid, f.version, "tester", status=status)
    man = _manifest(export(cat, tmp_path / "c", "npz", SelectionSpec(status="confirmed", split="100/0/0")).path)
    assert [f["id"] for f in man["faces"]] == [1, 2] and man["faces"][0]["status"] == "confirmed"
    man = _manifest(export(cat, tmp_path / "l", "npz", SelectionSpec()).path)
    assert 3 not in {f["id"] for f in man["faces"]} and len(man["faces"]) == 119


def test_cli_export(labeled_catalog, tmp_path):
    loc = str(labeled_catalog.location.directory)
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(main, ["export", str(out), "--catalog", loc, "--format", "npz", "--classes", "happy,sad",
                               "--map", "angry=sad", "--split", "50/25/25", "--seed", "2", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["classes"] == ["happy", "sad"] and data["counts"]["total"] == {"happy": 60, "sad": 60}
    assert data["counts"]["train"] == {"happy": 30, "sad": 30}
    man = _manifest(out)
    assert man["filters"] == {"status": "labeled", "classes": ["happy", "sad"], "map": {"angry": "sad"},
                              "sources": None, "split": "50/25/25", "seed": 2}

    res = runner.invoke(main, ["export", str(out), "--catalog", loc])
    assert res.exit_code == 1 and res.output.startswith("error:") and "--force" in res.output
    res = runner.invoke(main, ["export", str(tmp_path / "x"), "--catalog", loc, "--split", "90/10"])
    assert res.exit_code == 1 and "bad split" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["export", str(tmp_path / "x"), "--catalog", loc, "--map", "sad"])
    assert res.exit_code == 1 and "OLD=NEW" in res.output
    res = runner.invoke(main, ["export", str(tmp_path / "x"), "--catalog", loc, "--source", "nope"])
    assert res.exit_code == 1 and "unknown source" in res.output
    assert runner.invoke(main, ["export", str(tmp_path / "x"), "--catalog", loc, "--format", "tfrecord"]).exit_code == 2
    assert runner.invoke(main, ["export", "--catalog", loc]).exit_code == 2  # OUT missing
    assert not (tmp_path / "x").exists()

    res = runner.invoke(main, ["export", str(tmp_path / "f"), "--catalog", loc, "--split", "keep"])
    assert res.exit_code == 0, res.output
    assert "exported 120 faces (100x100, folders)" in res.output
    assert "happy" in res.output and "manifest sha256" in res.output
    assert set(p.name for p in (tmp_path / "f").iterdir()) == {"train", "manifest.json"}  # no hints: all train
    help_text = runner.invoke(main, ["export", "--help"]).output
    assert "Examples:" in help_text and "--split" in help_text


def test_image_blob_paths_gives_each_images_original(catalog):
    ids = add_dataset(catalog, [FaceSpec(pattern(1)), FaceSpec(pattern(2))], source="a")
    faces = catalog.faces_by_ids(ids)
    paths = catalog.image_blob_paths([f.image_id for f in faces] + [999])
    assert set(paths) == {f.image_id for f in faces}  # unknown ids are left out
    with Image.open(catalog.blobs.path(paths[faces[1].image_id])) as img:
        assert np.array_equal(np.asarray(img), np.asarray(pattern(2)))


@pytest.mark.parametrize("where", ["catalog", "parent", "inside", "deep inside", "blobs"])
def test_out_overlapping_the_catalog_is_refused_even_with_force(tmp_path, where):
    blobs = tmp_path / "blobs"
    with open_catalog(tmp_path / "catalog", blobs if where == "blobs" else None, create=True) as cat:
        add_dataset(cat, [FaceSpec(pattern(i)) for i in range(3)])
        catalog_files = sorted(p for p in tmp_path.rglob("*"))
        out = {"catalog": tmp_path / "catalog", "parent": tmp_path, "inside": tmp_path / "catalog/exports",
               "deep inside": tmp_path / "catalog/new/exports", "blobs": blobs}[where]
        how = {"catalog": "is", "parent": "contains", "inside": "is inside", "deep inside": "is inside",
               "blobs": "is"}[where]
        what = "blob store" if where == "blobs" else "catalog directory"
        with pytest.raises(ExportError, match=f"{how} the {what}"):
            export(cat, out, "npz", SelectionSpec(split="100/0/0"), force=True)
        assert sorted(p for p in tmp_path.rglob("*")) == catalog_files
        assert cat.count_faces() == 3


def test_force_replaces_only_an_empty_folder_or_an_earlier_export(labeled_catalog, outdir):
    spec = SelectionSpec(split="100/0/0")
    home = outdir / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(ExportError, match="not a facecat export.*choose another OUT"):
        export(labeled_catalog, home, "npz", spec, force=True)
    assert [p.name for p in home.iterdir()] == ["thesis.tex"]
    # A manifest.json of some other tool is not ours either.
    (home / "manifest.json").write_text('{"name": "my-app", "version": 1}')
    with pytest.raises(ExportError, match="not a facecat export"):
        export(labeled_catalog, home, "npz", spec, force=True)
    (home / "manifest.json").write_text("not json")
    with pytest.raises(ExportError, match="not a facecat export"):
        export(labeled_catalog, home, "npz", spec, force=True)
    assert sorted(p.name for p in home.iterdir()) == ["manifest.json", "thesis.tex"]
    assert _exports(labeled_catalog) == []

    empty = outdir / "empty"
    empty.mkdir()
    export(labeled_catalog, empty, "npz", spec, force=True)
    assert sorted(p.name for p in empty.iterdir()) == ["faces.npz", "manifest.json"]
    export(labeled_catalog, empty, "csv", spec, force=True)  # an earlier export: replaced
    assert sorted(p.name for p in empty.iterdir()) == ["fer2013.csv", "manifest.json"]


def test_cli_refuses_to_export_into_the_catalog(labeled_catalog):
    loc = labeled_catalog.location.directory
    before = sorted(loc.rglob("*"))
    res = CliRunner().invoke(main, ["export", str(loc), "--catalog", str(loc), "--force"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.startswith("error:") and "is the catalog directory" in res.output
    res = CliRunner().invoke(main, ["export", str(loc.parent), "--catalog", str(loc), "--force"])
    assert res.exit_code == 1 and "contains the catalog directory" in res.output
    assert sorted(loc.rglob("*")) == before


def test_export_killed_between_the_swap_renames_is_recovered(labeled_catalog, outdir):
    out = outdir / "faces"
    first = export(labeled_catalog, out, "npz", SelectionSpec())
    # What a kill between the two renames of a --force export leaves: OUT moved aside into
    # .faces.old-*/faces, the finished or half-built new one in .faces.tmp-*.
    old = outdir / ".faces.old-x1y2"
    old.mkdir()
    out.rename(old / "faces")
    (outdir / ".faces.tmp-abc").mkdir()
    (outdir / ".faces.tmp-abc" / "faces.npz").write_bytes(b"half")
    assert not out.exists()
    with pytest.raises(ExportError, match="already exists; use --force"):
        export(labeled_catalog, out, "npz", SelectionSpec())  # the old export is back, untouched
    assert sorted(p.name for p in outdir.iterdir()) == ["faces"]
    assert hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() == first.manifest_sha256
    # A kill after the swap but before the old copy was removed: the leftover just goes.
    old.mkdir()
    (old / "faces").mkdir()
    (old / "faces" / "faces.npz").write_bytes(b"older")
    export(labeled_catalog, out, "csv", SelectionSpec(), force=True)
    assert sorted(p.name for p in outdir.iterdir()) == ["faces"]
    assert sorted(p.name for p in out.iterdir()) == ["fer2013.csv", "manifest.json"]


def test_a_second_export_to_the_same_out_at_once_is_refused_and_the_first_finishes(labeled_catalog, outdir,
                                                                                   monkeypatch):
    out = outdir / "faces"
    refused = []
    real_pictures = export_run.face_pictures

    def pictures_then_a_second_export(*args, **kwargs):
        # The first export is building: a second one to the same OUT starts now.
        with pytest.raises(ExportError, match=f"another export to {out} is running") as exc:
            export(labeled_catalog, out, "npz", SelectionSpec())
        refused.append(exc.value)
        yield from real_pictures(*args, **kwargs)

    monkeypatch.setattr(export_run, "face_pictures", pictures_then_a_second_export)
    first = export(labeled_catalog, out, "folders", SelectionSpec())
    assert refused
    assert sorted(p.name for p in outdir.iterdir()) == ["faces"]  # no lock or build left beside OUT
    assert hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() == first.manifest_sha256
    monkeypatch.undo()
    export(labeled_catalog, out, "npz", SelectionSpec(), force=True)  # the next one is not refused

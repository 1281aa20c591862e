"""`curate import`: FER2013 (folders and CSV), class folders with --map, JAFFE, unlabeled; every
import is a source, idempotent, with provenance; bad datasets give one clear line."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from curation.cli import main
from curation.crops import encode_crop
from db.pixels import crop_pixels
from db import open_catalog
from db.types import FaceFilter, Status
from tests.curation.conftest import pattern

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@pytest.fixture
def cat_dir(tmp_path) -> str:
    d = str(tmp_path / "catalog")
    assert CliRunner().invoke(main, ["init", "--catalog", d]).exit_code == 0
    return d


def curate(*args: str) -> dict | str:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.output) if "--json" in args else res.output


def _fer_subset(shared_data: Path, dest: Path, per_class: int = 12) -> Counter:
    """The first files of each class and split, copied: (split folder, class) -> count."""
    counts: Counter = Counter()
    for split in ("train", "test"):
        for cls_dir in sorted((shared_data / "fer2013" / split).iterdir()):
            out = dest / split / cls_dir.name
            out.mkdir(parents=True)
            for p in sorted(cls_dir.glob("*.jpg"))[:per_class]:
                shutil.copy(p, out / p.name)
                counts[(split, cls_dir.name)] += 1
    return counts


def test_fer2013_folders_counts_per_class_and_split_match(shared_data, tmp_path, cat_dir):
    expected = _fer_subset(shared_data, tmp_path / "fer")
    summary = curate("import", "fer2013", str(tmp_path / "fer"), "--catalog", cat_dir, "--json", "--workers", "2")
    assert summary["faces_added"] == sum(expected.values()) == 2 * 7 * 12 and summary["failed"] == {}
    split_of = {"train": "Training", "test": "PublicTest"}
    with open_catalog(cat_dir) as cat:
        faces = list(cat.iter_faces(with_crops=True))
        got = Counter((f.split_hint, f.label) for f in faces)
        assert got == Counter({(split_of[s], c): n for (s, c), n in expected.items()})
        assert all(f.status is Status.UNREVIEWED and f.detector == "none" and f.crop_size == 100 for f in faces)
        # Provenance: each face names its file, and the original bytes are in the blob store.
        f = faces[0]
        assert (tmp_path / "fer" / f.dataset_path).is_file()
        # Kept at its own size (native-size crop), read at the catalog's size through db.pixels; the
        # hashes are those of the face at 100, as before native-size crops.
        assert Image.open(io.BytesIO(f.crop_png)).size == (48, 48) and f.stored_size == 48
        original = np.asarray(Image.open(tmp_path / "fer" / f.dataset_path).convert("L"))
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(f.crop_png))), original)
        at_100 = crop_pixels(f.crop_png, 100)
        assert at_100.shape == (100, 100)
        assert hashlib.sha256(at_100.tobytes()).hexdigest() == f.pixel_sha256 == encode_crop(original, 100)[2]
        source = cat.find_source("dataset", "fer2013")
        assert source.path == str((tmp_path / "fer").resolve()) and "FER2013" in source.license_note
        assert cat.stats()["by_extraction"] == {"faces": len({f.image_id for f in faces})}
    # Importing twice adds nothing.
    again = curate("import", "fer2013", str(tmp_path / "fer"), "--catalog", cat_dir, "--json")
    assert again["faces_added"] == 0 and again["images_added"] == 0 and again["skipped"] == 2 * 7 * 12


def test_fer2013_byte_identical_files_each_keep_their_face_and_label(shared_data, tmp_path, cat_dir):
    src = sorted((shared_data / "fer2013/train/happy").glob("*.jpg"))[0]
    for cls in ("happy", "sad"):
        (tmp_path / "fer/train" / cls).mkdir(parents=True)
        shutil.copy(src, tmp_path / "fer/train" / cls / src.name)
    summary = curate("import", "fer2013", str(tmp_path / "fer"), "--catalog", cat_dir, "--json")
    assert (summary["images_added"], summary["faces_added"], summary["duplicates"]) == (1, 2, 1)
    with open_catalog(cat_dir) as cat:
        faces = list(cat.iter_faces())
    assert sorted((f.label, f.dataset_path) for f in faces) == [
        ("happy", f"train/happy/{src.name}"), ("sad", f"train/sad/{src.name}")]
    assert faces[0].pixel_sha256 == faces[1].pixel_sha256  # exact duplicates, for dedupe to flag


def _write_fer_csv(path: Path, rows: list[tuple[int, np.ndarray, str]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["emotion", "pixels", "Usage"])
        for emotion, a, usage in rows:
            w.writerow([emotion, " ".join(map(str, a.ravel().tolist())), usage])


def _fer_sample(shared_data: Path, n: int = 4) -> list[tuple[int, np.ndarray, str]]:
    rows = []
    for e, name in enumerate(EMOTIONS):
        for i, p in enumerate(sorted((shared_data / "fer2013/train" / name).glob("*.jpg"))[:n]):
            rows.append((e, np.asarray(Image.open(p).convert("L")), ("Training", "PublicTest", "PrivateTest")[i % 3]))
    return rows


def test_fer2013_csv_imports_pixel_exactly_with_emotion_and_usage(shared_data, tmp_path, cat_dir):
    rows = _fer_sample(shared_data)
    _write_fer_csv(tmp_path / "fer2013.csv", rows)
    summary = curate("import", "fer2013", str(tmp_path / "fer2013.csv"), "--size", "48", "--catalog", cat_dir, "--json")
    assert summary["faces_added"] == len(rows) == 28
    with open_catalog(cat_dir) as cat:
        faces = sorted(cat.iter_faces(with_crops=True), key=lambda f: int(f.dataset_path.split(":")[1]))
        assert len(faces) == len(rows)
        for (emotion, pixels, usage), f in zip(rows, faces):
            assert (f.label, f.split_hint, f.crop_size) == (EMOTIONS[emotion], usage, 48)
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(f.crop_png))), pixels)
        # The stored original is the CSV row itself, losslessly, whatever the catalog's crop size.
        image = cat.images_to_extract(redo=True)[0]
        original = np.asarray(Image.open(cat.blobs.path(image.blob_path)))
        assert any(np.array_equal(original, p) for _, p, _ in rows)
    again = curate("import", "fer2013", str(tmp_path / "fer2013.csv"), "--size", "48", "--catalog", cat_dir, "--json")
    assert again["faces_added"] == 0 and again["skipped"] == 28


def test_fer2013_csv_bad_rows_are_one_clear_error(tmp_path, cat_dir):
    (tmp_path / "bad.csv").write_text("emotion,pixels,Usage\n9,1 2 3 4,Training\n")
    res = CliRunner().invoke(main, ["import", "fer2013", str(tmp_path / "bad.csv"), "--catalog", cat_dir])
    assert res.exit_code == 1 and "bad.csv:2: emotion '9' is not 0..6" in res.output
    (tmp_path / "notfer.csv").write_text("a,b\n1,2\n")
    res = CliRunner().invoke(main, ["import", "fer2013", str(tmp_path / "notfer.csv"), "--catalog", cat_dir])
    assert res.exit_code == 1 and "missing column emotion, pixels" in res.output
    (tmp_path / "ragged.csv").write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    res = CliRunner().invoke(main, ["import", "fer2013", str(tmp_path / "ragged.csv"), "--catalog", cat_dir, "--json"])
    assert res.exit_code == 1  # its only row failed
    assert json.loads(res.stdout)["failed"] == {"ragged.csv:2": "pixels: 3 values is not a square 8-bit image"}
    with open_catalog(cat_dir) as cat:
        assert cat.sources() == []


def test_fer2013_csv_rows_with_an_emotion_outside_0_to_6_fail_only_themselves(tmp_path, cat_dir):
    good = " ".join(["7"] * 16)
    rows = ["3", "9", "-1", "happy", "", "6"]  # -1 must not wrap around to the last class
    (tmp_path / "fer.csv").write_text("emotion,pixels,Usage\n" + "".join(f"{e},{good},Training\n" for e in rows))
    for workers in ("1", "2"):
        summary = curate("import", "fer2013", str(tmp_path / "fer.csv"), "--catalog", cat_dir, "--json",
                         "--workers", workers, "--name", f"w{workers}")
        assert summary["faces_added"] == 2
        assert summary["failed"] == {"fer.csv:3": "emotion '9' is not 0..6", "fer.csv:4": "emotion '-1' is not 0..6",
                                     "fer.csv:5": "emotion 'happy' is not 0..6", "fer.csv:6": "emotion '' is not 0..6"}
    with open_catalog(cat_dir) as cat:
        assert sorted(f.label for f in cat.iter_faces(FaceFilter(sources=("w1",)))) == ["happy", "neutral"]
    text = curate("import", "fer2013", str(tmp_path / "fer.csv"), "--catalog", cat_dir, "--name", "w1")
    assert "2 already imported" in text and "4 failed" in text and "  failed fer.csv:4: emotion '-1' is not 0..6" in text


@pytest.mark.parametrize("crop", ["none", "detect"])
def test_an_import_where_every_file_fails_exits_1_and_adds_no_source(tmp_path, cat_dir, crop):
    root = tmp_path / "ds"
    (root / "happy").mkdir(parents=True)
    (root / "happy" / "a.jpg").write_bytes(b"\xff\xd8\xff not really")
    (root / "happy" / "b.png").write_bytes(b"")
    args = ["import", "folders", str(root), "--crop", crop, "--catalog", cat_dir, "--workers", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "  failed happy/a.jpg: not an image" in res.stdout and "  failed happy/b.png: " in res.stdout
    assert res.stderr == "error: all 2 files failed: nothing was imported and no source was added\n"
    res = CliRunner().invoke(main, [*args, "--json"])
    assert res.exit_code == 1 and set(json.loads(res.stdout)["failed"]) == {"happy/a.jpg", "happy/b.png"}
    with open_catalog(cat_dir) as cat:
        assert cat.sources() == [] and cat.stats()["images"] == 0
    # One good file is enough for a source; the bad ones are listed and the exit status is 0.
    pattern(5).save(root / "happy" / "c.png")
    summary = curate(*args, "--json")
    assert summary["images_added"] == 1 and set(summary["failed"]) == {"happy/a.jpg", "happy/b.png"}
    with open_catalog(cat_dir) as cat:
        assert [s.name for s in cat.sources()] == ["ds"]


def test_files_that_are_not_images_are_counted_and_named(tmp_path, cat_dir):
    root = tmp_path / "ds"
    for cls in ("happy", "sad"):
        (root / cls).mkdir(parents=True)
        pattern(len(cls)).save(root / cls / "a.png")
    (root / "happy" / "notes.txt").write_text("who took these")
    (root / "happy" / "Thumbs").write_bytes(b"\0" * 10)
    (root / "README.md").write_text("# my faces")
    pattern(9).save(root / "loose.png")  # a picture outside any class folder has no class
    (root / ".DS_Store").write_bytes(b"\0")  # hidden files stay out without a word
    (root / "sad" / ".hidden.png").write_bytes(b"\0")
    args = ("import", "folders", str(root), "--crop", "none", "--catalog", cat_dir)
    summary = curate(*args, "--json")
    assert summary["faces_added"] == 2 and summary["failed"] == {}
    assert summary["left_out"] == {"README.md": "not an image file (.md)", "happy/Thumbs": "not an image file (no suffix)",
                                   "happy/notes.txt": "not an image file (.txt)", "loose.png": "not inside a class folder"}
    text = curate(*args)
    assert "0 failed, 4 left out" in text.splitlines()[0]
    assert "  left out happy/notes.txt: not an image file (.txt)" in text
    # The same for the other kinds: unlabeled (and jaffe) name what they leave out too.
    unlabeled = curate("import", "unlabeled", str(root / "happy"), "--catalog", cat_dir, "--json", "--workers", "1")
    assert unlabeled["left_out"] == {"Thumbs": "not an image file (no suffix)", "notes.txt": "not an image file (.txt)"}
    # A folder with no image says what it found instead.
    (tmp_path / "docs" / "happy").mkdir(parents=True)
    (tmp_path / "docs" / "happy" / "list.csv").write_text("a,b")
    res = CliRunner().invoke(main, ["import", "folders", str(tmp_path / "docs"), "--catalog", cat_dir])
    assert res.exit_code == 1
    assert res.output == (f"error: {tmp_path / 'docs'}: no images in class folders (expected docs/<class>/*.png); "
                          "1 file left out (happy/list.csv: not an image file (.csv))\n")


def test_a_dataset_folder_reached_through_a_symbolic_link_imports_like_any_other(tmp_path, cat_dir):
    elsewhere = tmp_path / "disk2" / "fer-test"  # e.g. the test split on another disk of a shared machine
    for split, folder in (("train", tmp_path / "fer" / "train"), ("test", elsewhere)):
        for i, cls in enumerate(("happy", "sad")):
            (folder / cls).mkdir(parents=True)
            pattern(10 * len(split) + i).save(folder / cls / f"{split}_{cls}.jpg")
    (tmp_path / "fer" / "test").symlink_to(elsewhere, target_is_directory=True)
    (tmp_path / "fer" / "train" / "happy" / "loop").symlink_to(tmp_path / "fer", target_is_directory=True)
    (tmp_path / "fer-link").symlink_to(tmp_path / "fer", target_is_directory=True)  # the dataset itself a link
    summary = curate("import", "fer2013", str(tmp_path / "fer-link"), "--catalog", cat_dir, "--json")
    assert summary["faces_added"] == 4 and summary["failed"] == {}
    assert summary["left_out"] == {"train/happy/loop": "a folder listed already (a symbolic link to it)"}
    with open_catalog(cat_dir) as cat:
        got = sorted((f.split_hint, f.label, f.dataset_path) for f in cat.iter_faces())
    assert got == [("test", "happy", "test/happy/test_happy.jpg"), ("test", "sad", "test/sad/test_sad.jpg"),
                   ("train", "happy", "train/happy/train_happy.jpg"), ("train", "sad", "train/sad/train_sad.jpg")]
    # Only the test split, through its link: the same.
    (tmp_path / "only-test").mkdir()
    (tmp_path / "only-test" / "test").symlink_to(elsewhere, target_is_directory=True)
    summary = curate("import", "fer2013", str(tmp_path / "only-test"), "--name", "t", "--catalog", cat_dir, "--json")
    assert summary["faces_added"] == 2


def test_a_dataset_inside_a_hidden_folder_imports(tmp_path, cat_dir):
    root = tmp_path / ".cache" / "ds"  # hidden files inside a dataset are left out, not the folders above it
    (root / "happy").mkdir(parents=True)
    pattern(3).save(root / "happy" / "a.png")
    summary = curate("import", "folders", str(root), "--crop", "none", "--catalog", cat_dir, "--json")
    assert summary["faces_added"] == 1


def test_import_creates_a_missing_catalog_and_says_so(tmp_path):
    root = tmp_path / "ds"
    (root / "happy").mkdir(parents=True)
    pattern(1).save(root / "happy" / "a.png")
    new = tmp_path / "new-catalog"
    res = CliRunner().invoke(main, ["import", "folders", str(root), "--crop", "none", "--catalog", str(new), "--json"])
    assert res.exit_code == 0, res.output
    assert res.stderr == f"created a new catalog at {new}\n"
    assert json.loads(res.stdout)["faces_added"] == 1
    res = CliRunner().invoke(main, ["import", "folders", str(root), "--crop", "none", "--catalog", str(new)])
    assert res.exit_code == 0 and res.stderr == ""  # said once, when made
    with open_catalog(new) as cat:
        assert cat.count_faces() == 1 and cat.class_names()[0] == "angry"
    # Commands that only read still refuse a catalog that is not there.
    for args in (["stats"], ["export", str(tmp_path / "out")], ["dedupe"], ["extract"], ["classes"]):
        res = CliRunner().invoke(main, [*args, "--catalog", str(tmp_path / "nothing")])
        assert res.exit_code == 1 and res.output.startswith(f"error: no catalog at {tmp_path / 'nothing'}"), args
    assert not (tmp_path / "nothing").exists() and not (tmp_path / "out").exists()


@pytest.mark.postgres
def test_import_creates_a_missing_postgresql_catalog(pg_url, tmp_path):
    root = tmp_path / "ds"
    (root / "sad").mkdir(parents=True)
    pattern(2).save(root / "sad" / "a.png")
    res = CliRunner().invoke(main, ["import", "folders", str(root), "--crop", "none", "--catalog", pg_url,
                                    "--store", str(tmp_path / "blobs")])
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith("created a new catalog at postgresql") and f"(blobs in {tmp_path / 'blobs'})" in res.stderr
    with open_catalog(pg_url, tmp_path / "blobs") as cat:
        assert [f.label for f in cat.iter_faces()] == ["sad"]


def test_fer2013_csv_that_is_not_text_is_one_clear_error(tmp_path, cat_dir):
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buf, format="JPEG")
    (tmp_path / "photo.csv").write_bytes(buf.getvalue())  # a JPEG given as the CSV
    res = CliRunner().invoke(main, ["import", "fer2013", str(tmp_path / "photo.csv"), "--catalog", cat_dir])
    assert res.exit_code == 1 and "Traceback" not in res.output and res.exception.__class__ is SystemExit
    assert res.output == "error: photo.csv: not a FER2013 CSV (not UTF-8 text: byte 0)\n"
    # A field over the csv module's limit (a pixels column gone wrong) is csv.Error: one line too.
    (tmp_path / "huge.csv").write_text("emotion,pixels,Usage\n3,\"" + "1 " * 200_000 + "\",Training\n")
    res = CliRunner().invoke(main, ["import", "fer2013", str(tmp_path / "huge.csv"), "--catalog", cat_dir])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.startswith("error: huge.csv: not a FER2013 CSV (field larger than field limit")
    with open_catalog(cat_dir) as cat:
        assert cat.count_faces() == 0


def _class_folders(shared_data: Path, root: Path, names: dict[str, str]) -> None:
    """root/<folder>/ holding 3 FER2013 faces of class names[folder]."""
    for folder, cls in names.items():
        (root / folder).mkdir(parents=True)
        for p in sorted((shared_data / "fer2013/test" / cls).glob("*.jpg"))[:3]:
            shutil.copy(p, root / folder / p.name)


def test_folders_map_renames_and_drops_classes(shared_data, tmp_path, cat_dir):
    _class_folders(shared_data, tmp_path / "ck", {"anger": "angry", "sadness": "sad", "contempt": "neutral", "happy": "happy"})
    summary = curate("import", "folders", str(tmp_path / "ck"), "--crop", "none", "--map", "anger=angry,sadness=sad,contempt=",
                     "--catalog", cat_dir, "--json")
    assert summary["source"] == "ck" and summary["faces_added"] == 9
    with open_catalog(cat_dir) as cat:
        got = Counter(f.label for f in cat.iter_faces(FaceFilter(selection="labeled")))
    assert got == {"angry": 3, "sad": 3, "happy": 3}


def test_folders_that_are_not_classes_are_an_error_listing_them(shared_data, tmp_path, cat_dir):
    _class_folders(shared_data, tmp_path / "kdef", {"anger": "angry", "sadness": "sad", "happy": "happy"})
    res = CliRunner().invoke(main, ["import", "folders", str(tmp_path / "kdef"), "--catalog", cat_dir])
    assert res.exit_code == 1
    assert res.output.startswith("error: not catalog classes: anger, sadness (classes: angry,")
    assert res.output.count("\n") == 1
    with open_catalog(cat_dir) as cat:
        assert cat.sources() == []  # nothing written


def test_unlabeled_photos_are_detected_with_no_label_and_no_suggestion(shared_data, tmp_path, cat_dir):
    root = tmp_path / "mmi"
    root.mkdir()
    for p in ("examples/two_people.jpg", "examples/obama_small.jpg"):
        shutil.copy(shared_data / "photos/face_recognition" / p, root / Path(p).name)
    shutil.copy(shared_data / "photos/dlib/dogs.jpg", root / "dogs.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    summary = curate("import", "unlabeled", str(root), "--name", "mmi", "--catalog", cat_dir, "--json")
    assert summary["faces_added"] == 3 and summary["extraction"]["no_face"] == 1
    assert summary["failed"] == {"broken.jpg": "not an image (unknown or empty file)"}
    with open_catalog(cat_dir) as cat:
        faces = list(cat.iter_faces())
    assert len(faces) == 3 and all(f.label is None and f.suggested_label is None for f in faces)
    assert {f.source_name for f in faces} == {"mmi"} and all(f.status is Status.UNREVIEWED for f in faces)
    again = curate("import", "unlabeled", str(root), "--name", "mmi", "--catalog", cat_dir, "--json")
    assert again["faces_added"] == 0 and again["images_added"] == 0


def test_crop_detect_reports_files_that_share_an_existing_image(tmp_path, cat_dir):
    """--crop detect: a file whose bytes are already an image (another source's, or another file's of
    this dataset) gets no face or label of its own; the summary lists each with the image it shares."""
    pngs = {}
    for i in range(3):
        buf = io.BytesIO()
        pattern(i).save(buf, format="PNG")
        pngs[i] = buf.getvalue()
    (tmp_path / "scraped").mkdir()
    (tmp_path / "scraped/photo.png").write_bytes(pngs[2])
    curate("import", "unlabeled", str(tmp_path / "scraped"), "--name", "web", "--catalog", cat_dir, "--workers", "1")
    root = tmp_path / "kdef"
    for path, i in (("happy/a.png", 0), ("sad/a_again.png", 0), ("happy/b.png", 1), ("sad/c.png", 2)):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(pngs[i])
    args = ("import", "folders", str(root), "--crop", "detect", "--catalog", cat_dir, "--workers", "1")
    first = curate(*args, "--json")
    with open_catalog(cat_dir) as cat:
        image_of = {t.sha256: t.id for t in cat.images_to_extract(redo=True)}
    web_image, a_image = (image_of[hashlib.sha256(pngs[i]).hexdigest()] for i in (2, 0))
    expected = {"sad/a_again.png": f"image {a_image} (source kdef, same bytes as happy/a.png)",
                "sad/c.png": f"image {web_image} (source web)"}
    assert first["images_added"] == 2 and first["duplicates"] == 1 and first["skipped"] == 0
    assert first["shared_with_existing"] == expected
    again = curate(*args, "--json")  # a re-import: the two imported files are skipped, the others still shared
    assert again["images_added"] == 0 and again["skipped"] == 2 and again["shared_with_existing"] == expected
    text = curate(*args)
    assert "2 files are the same bytes as an image already in the catalog" in text
    assert f"  sad/c.png: image {web_image} (source web)" in text
    # --crop none: every file is its own face whatever its bytes; nothing is reported as shared.
    none = curate("import", "folders", str(root), "--crop", "none", "--name", "kdef48", "--catalog", cat_dir, "--json")
    assert none["faces_added"] == 4 and none["shared_with_existing"] == {}


def test_import_worker_that_dies_fails_only_its_file(tmp_path, cat_dir, monkeypatch):
    """A decoder that kills its worker process must not hang the import: that file is failed
    ("worker crashed"), the pool restarts and the other files are imported."""
    from curation.importers import common
    root = tmp_path / "ds"
    for i in range(150):  # several chunks of 64, so the crash breaks jobs in flight in both workers
        (root / ["happy", "sad"][i % 2]).mkdir(parents=True, exist_ok=True)
        pattern(i).save(root / ["happy", "sad"][i % 2] / f"{'crash' if i == 70 else i}.png")
    killer, real = (root / "happy/crash.png").read_bytes(), common.decode_gray

    def decode_or_die(data, *args, **kwargs):
        if data == killer:
            os._exit(3)  # in the forked worker, as a segfault would end it
        return real(data, *args, **kwargs)

    monkeypatch.setattr(common, "decode_gray", decode_or_die)
    summary = curate("import", "folders", str(root), "--crop", "none", "--workers", "2", "--catalog", cat_dir, "--json")
    assert summary["failed"] == {"happy/crash.png": "worker crashed"}
    assert summary["faces_added"] == 149
    with open_catalog(cat_dir) as cat:
        paths = {f.dataset_path for f in cat.iter_faces()}
    assert len(paths) == 149 and "happy/crash.png" not in paths and "sad/71.png" in paths


def test_import_and_extract_refresh_the_planner_statistics(tmp_path, cat_dir):
    """After a bulk load the catalog's statistics are refreshed (SQLite: ANALYZE fills sqlite_stat1)."""
    def analyzed_tables() -> set[str]:
        with open_catalog(cat_dir) as cat, cat.engine.connect() as conn:  # a read-only look
            if not conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
                return set()
            return {r[0] for r in conn.exec_driver_sql("SELECT tbl FROM sqlite_stat1")}

    root = tmp_path / "ds"
    (root / "happy").mkdir(parents=True)
    for i in range(3):
        pattern(i).save(root / "happy" / f"{i}.png")
    assert analyzed_tables() == set()
    curate("import", "folders", str(root), "--crop", "none", "--workers", "1", "--catalog", cat_dir)
    assert {"images", "faces", "annotations"} <= analyzed_tables()


@pytest.mark.slow
def test_full_fer2013_import(shared_data, cat_dir):
    summary = curate("import", "fer2013", str(shared_data / "fer2013"), "--catalog", cat_dir, "--json")
    assert summary["faces_added"] == 32_298 and summary["failed"] == {}
    with open_catalog(cat_dir) as cat:
        s = cat.stats()
    assert s["by_split"] == {"PublicTest": 3_589, "Training": 28_709}
    on_disk = Counter(p.parent.name for p in (shared_data / "fer2013").rglob("*.jpg"))
    assert s["by_label"] == dict(sorted(on_disk.items()))


def test_import_and_extraction_on_sqlite_and_postgresql(any_catalog, shared_data):
    from curation.extract import run_extraction
    from curation.faces import ExtractSettings
    from curation.importers import fer2013, jaffe
    from curation.importers.common import run_import
    from db.types import NewSource

    classes = any_catalog.class_names()
    fer_items = fer2013.items(shared_data / "fer2013", {}, classes).items[:50]
    summary = run_import(any_catalog, NewSource(kind="dataset", name="fer2013"), fer_items, "none", 100, workers=2)
    assert summary.faces_added == 50
    jaffe_items = jaffe.items(shared_data / "jaffe", {}, classes).items[:4]
    run_import(any_catalog, NewSource(kind="dataset", name="jaffe"), jaffe_items, "detect", 100, workers=1)
    extraction = run_extraction(any_catalog, ExtractSettings(), ["jaffe"], workers=2)
    assert extraction.faces == 4
    again = run_import(any_catalog, NewSource(kind="dataset", name="fer2013"), fer_items, "none", 100, workers=2)
    assert again.faces_added == 0 and any_catalog.count_faces() == 54


def test_fer2013_csv_saved_with_a_bom_imports(tmp_path, cat_dir):
    # Excel's "CSV UTF-8" starts with a byte-order mark; the first column is still "emotion".
    (tmp_path / "bom.csv").write_text("emotion,pixels,Usage\r\n3,1 2 3 4,Training\r\n", encoding="utf-8-sig")
    summary = curate("import", "fer2013", str(tmp_path / "bom.csv"), "--catalog", cat_dir, "--json")
    assert summary["faces_added"] == 1 and summary["failed"] == {}
    with open_catalog(cat_dir) as cat:
        assert [(f.label, f.split_hint) for f in cat.iter_faces()] == [("happy", "Training")]


def test_fer2013_csv_pixels_that_are_not_numbers_fail_only_their_row(tmp_path, cat_dir):
    good = " ".join(["7"] * 16)
    (tmp_path / "text.csv").write_text(f"emotion,pixels,Usage\n3,{good},Training\n3,1 2 x 4,Training\n")
    for workers in ("1", "2"):  # in the parent and in a worker process
        res = CliRunner().invoke(main, ["import", "fer2013", str(tmp_path / "text.csv"), "--catalog", cat_dir,
                                        "--json", "--workers", workers, "--name", f"w{workers}"])
        assert res.exit_code == 0 and "Traceback" not in res.output, res.output
        summary = json.loads(res.output)
        assert summary["faces_added"] == 1
        assert summary["failed"] == {"text.csv:3": "pixels: 'x' is not a number from 0 to 255"}


def test_an_empty_dataset_is_an_error_and_adds_no_source(tmp_path, cat_dir):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no pictures here")
    (tmp_path / "header.csv").write_text("emotion,pixels,Usage\n")
    cases = [("unlabeled", "empty"), ("unlabeled", "notes"), ("fer2013", "header.csv")]
    for kind, name in cases:
        res = CliRunner().invoke(main, ["import", kind, str(tmp_path / name), "--catalog", cat_dir])
        assert res.exit_code == 1 and "Traceback" not in res.output, res.output
        assert res.output.startswith(f"error: {tmp_path / name}: nothing to import"), res.output
    # Every class dropped by --map: nothing to import either.
    (tmp_path / "one" / "happy").mkdir(parents=True)
    pattern(1).save(tmp_path / "one" / "happy" / "a.png")
    res = CliRunner().invoke(main, ["import", "folders", str(tmp_path / "one"), "--map", "happy=", "--catalog", cat_dir])
    assert res.exit_code == 1 and "nothing to import" in res.output and "--map" in res.output
    with open_catalog(cat_dir) as cat:
        assert cat.stats()["sources"] == 0


def test_file_names_that_are_not_utf8_import_with_a_readable_path(tmp_path, cat_dir):
    root = tmp_path / "ds"
    (root / "happy").mkdir(parents=True)
    raw = os.path.join(os.fsencode(root / "happy"), b"caf\xe9.png")  # Latin-1 name, as old archives have
    pattern(2).save(os.fsdecode(raw))
    pattern(3).save(root / "happy" / "ok.png")
    args = ["import", "folders", str(root), "--crop", "none", "--catalog", cat_dir]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    with open_catalog(cat_dir) as cat:
        paths = sorted(f.dataset_path for f in cat.iter_faces())
    assert paths == ["happy/caf\\xe9.png", "happy/ok.png"]
    again = curate(*args, "--json")  # idempotent: the escaped path finds the face again
    assert again["faces_added"] == 0 and again["skipped"] == 2


def test_a_fer2013_csv_whose_name_is_not_utf8_imports(tmp_path, cat_dir):
    # Its rows are named file:line in the catalog, so the file name is escaped there too.
    csv_path = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"fer\xe9.csv"))
    Path(csv_path).write_text(f"emotion,pixels,Usage\n3,{' '.join(['7'] * 16)},Training\n3,1 2 x 4,Training\n")
    summary = curate("import", "fer2013", csv_path, "--catalog", cat_dir, "--json")
    assert summary["faces_added"] == 1
    assert summary["failed"] == {"fer\\xe9.csv:3": "pixels: 'x' is not a number from 0 to 255"}
    with open_catalog(cat_dir) as cat:
        assert [f.dataset_path for f in cat.iter_faces()] == ["fer\\xe9.csv:2"]


def test_two_imports_of_one_dataset_at_once_add_each_face_once(any_catalog, tmp_path, monkeypatch):
    # A second `curate import` of the same dataset while the first runs (both listed every file as
    # to do). Simulated deterministically: after the first stores its first batch, the second
    # imports everything; the first must then skip what the second stored.
    from curation.importers import common, folders
    from db.types import NewSource

    for i in range(6):
        (tmp_path / "ds" / "happy").mkdir(parents=True, exist_ok=True)
        pattern(100 + i).save(tmp_path / "ds" / "happy" / f"{i}.png")
    items = folders.items(tmp_path / "ds", {}, any_catalog.class_names()).items
    monkeypatch.setattr(common, "BATCH", 2)
    source = NewSource(kind="dataset", name="ds")
    second = []

    def on_progress(_n: int) -> None:
        if not second:
            second.append(common.run_import(any_catalog, source, items, "none", 48, workers=1))

    first = common.run_import(any_catalog, source, items, "none", 48, workers=1, on_progress=on_progress)
    assert second[0].faces_added == 4 and second[0].skipped == 2
    assert first.faces_added == 2 and first.skipped == 4
    paths = [f.dataset_path for f in any_catalog.iter_faces()]
    assert sorted(paths) == [f"happy/{i}.png" for i in range(6)]


def test_ctrl_c_says_what_was_kept_and_the_rerun_finishes(tmp_path, cat_dir, monkeypatch):
    from curation.importers import common

    rows = [(3, np.full((4, 4), i % 256, dtype=np.uint8), "Training") for i in range(1200)]
    _write_fer_csv(tmp_path / "fer.csv", rows)
    real_prepare, calls = common.prepare, []

    def interrupted_prepare(*args):
        calls.append(1)
        if len(calls) == 1100:  # Ctrl-C after the first batch of 1000 is stored
            raise KeyboardInterrupt
        return real_prepare(*args)

    monkeypatch.setattr(common, "prepare", interrupted_prepare)
    args = ["import", "fer2013", str(tmp_path / "fer.csv"), "--catalog", cat_dir, "--workers", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output == "error: interrupted; what was stored is kept: run the same command again to finish\n"
    monkeypatch.setattr(common, "prepare", real_prepare)
    again = curate(*args, "--json")
    assert again["skipped"] == 1000 and again["faces_added"] == 200

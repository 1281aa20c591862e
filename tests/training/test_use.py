"""evaluate (catalog, FER2013 CSV, class folders), predict on real photos, TFLite export, compare."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from curation.cli import main as curate
from tests.training.conftest import invoke
from training.cli import main as train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def val_scores(fer_small, trained):
    catalog, _ = fer_small
    r = invoke(train, ["evaluate", trained[0], "--catalog", catalog, "--split", "val", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_evaluate_reads_a_fer2013_csv(fer_small, trained, val_scores, tmp_path):
    """A CSV written by `curate export --format csv` from the same faces scores exactly the same."""
    catalog, _ = fer_small
    r = invoke(curate, ["export", tmp_path / "csv", "--format", "csv", "--split", "keep", "--catalog", catalog])
    assert r.exit_code == 0, r.output
    r = invoke(train, ["evaluate", trained[0], "--csv", tmp_path / "csv" / "fer2013.csv", "--usage", "PublicTest", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["faces"] == val_scores["faces"] and d["confusion"] == val_scores["confusion"]
    assert d["seen_in_training"] == 0
    r = invoke(train, ["evaluate", trained[0], "--csv", tmp_path / "csv" / "fer2013.csv", "--usage", "Training", "--json"])
    assert json.loads(r.stdout)["seen_in_training"] == json.loads(r.stdout)["faces"]  # matched by pixels


def test_evaluate_reads_a_class_folder_tree(fer_small, trained, tmp_path):
    catalog, fer_dir = fer_small
    r = invoke(train, ["evaluate", trained[0], "--folders", fer_dir / "test", "--plot", tmp_path / "c.png",
                       "--plot-errors", tmp_path / "e.png"])
    assert r.exit_code == 0, r.output
    files = len(list((fer_dir / "test").rglob("*.jpg")))
    assert f"{files:,} faces, accuracy" in r.stdout and "macro avg" in r.stdout
    assert Image.open(tmp_path / "c.png").size[0] > 400 and Image.open(tmp_path / "e.png").size[0] > 400
    # --map drops a class before matching
    r = invoke(train, ["evaluate", trained[0], "--folders", fer_dir / "test", "--map", "disgust=", "--json"])
    d = json.loads(r.stdout)
    assert d["faces"] == files - len(list((fer_dir / "test" / "disgust").glob("*.jpg")))
    assert d["per_class"]["disgust"]["support"] == 0


def test_evaluate_crop_detect_finds_faces_in_photos(trained, shared_data, tmp_path):
    """--crop detect: JAFFE photos, faces found and aligned by curation's extractor."""
    for code, label in (("HA", "happy"), ("SU", "surprise")):
        (tmp_path / "jaffe" / label).mkdir(parents=True)
        for p in sorted(shared_data.glob(f"jaffe/*.{code}*.tiff"))[:3]:
            shutil.copy(p, tmp_path / "jaffe" / label / p.name)
    r = invoke(train, ["evaluate", trained[0], "--folders", tmp_path / "jaffe", "--crop", "detect", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["faces"] == 6


def test_predict_finds_the_faces_of_a_photo_and_draws_them(trained, shared_data, tmp_path):
    photo = shared_data / "photos" / "dlib" / "2008_002506.jpg"  # three people
    r = invoke(train, ["predict", trained[0], photo, "--plot", tmp_path / "p.png", "--json"])
    assert r.exit_code == 0, r.output
    faces = json.loads(r.stdout)["images"][0]["faces"]
    assert len(faces) >= 2
    classes = json.loads((trained[0] / "model.json").read_text())["classes"]
    for f in faces:
        assert set(f["probabilities"]) == set(classes)
        assert abs(sum(f["probabilities"].values()) - 1) < 1e-2
    img = Image.open(tmp_path / "p.png")
    assert img.size[0] >= 1000 and len(np.unique(np.asarray(img.convert("L")))) > 50


def test_tflite_export_matches_keras(fer_small, trained, tmp_path):
    catalog, _ = fer_small
    r = invoke(train, ["export", trained[0], "--catalog", catalog, "--tflite", tmp_path / "m.tflite", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["max_abs_difference"] < 1e-4 and d["same_top_class"] == 1.0
    assert (tmp_path / "m.tflite").stat().st_size > 100_000
    assert json.loads((tmp_path / "m.json").read_text())["classes"][0] == "angry"
    r = invoke(train, ["export", trained[0], "--catalog", catalog, "--tflite", tmp_path / "q.tflite", "--int8", "--json"])
    assert r.exit_code == 0, r.output
    q = json.loads(r.stdout)
    assert q["bytes"] < d["bytes"] / 2 and q["max_abs_difference"] < 0.5
    assert abs(q["accuracy_tflite"] - q["accuracy_keras"]) < 0.2


def test_compare_refuses_faces_a_model_trained_on(fer_small, trained, tmp_path):
    catalog, fer_dir = fer_small
    other = tmp_path / "other"
    r = invoke(train, ["fit", "--catalog", catalog, "--out", other, "--split", "keep", "--epochs", 1, "--seed", 1])
    assert r.exit_code == 0, r.output
    r = invoke(train, ["compare", trained[0], other, "--catalog", catalog, "--split", "val", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["left_out_trained_on"] == 0 and len(d["models"]) == 2 and 0 <= d["disagreements"] <= d["faces"]
    # The training faces as a FER2013 CSV: recognised by their pixels, every one refused.
    r = invoke(curate, ["export", tmp_path / "csv", "--format", "csv", "--split", "keep", "--catalog", catalog])
    r = invoke(train, ["compare", trained[0], other, "--csv", tmp_path / "csv" / "fer2013.csv", "--usage", "Training"])
    assert r.exit_code == 1 and "was in a model's training split" in r.output
    # Mixed: the training files are left out and counted, the rest compared.
    mixed = tmp_path / "mixed"
    for split in ("train", "test"):
        for f in sorted((fer_dir / split / "happy").glob("*.jpg"))[:5]:
            (mixed / "happy").mkdir(parents=True, exist_ok=True)
            shutil.copy(f, mixed / "happy" / f"{split}-{f.name}")
    r = invoke(train, ["compare", trained[0], other, "--folders", mixed, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["faces"] == 5 and "left out 5 of 10 faces" in r.stderr


def test_list_shows_the_models(fer_small, trained):
    catalog, _ = fer_small
    r = invoke(train, ["list", "--catalog", catalog])
    assert r.exit_code == 0 and trained[0].name in r.output and "vgg-small" in r.output
    r = invoke(train, ["list", "--catalog", catalog, "--json"])
    assert any(m["path"] == str(trained[0].resolve()) for m in json.loads(r.stdout))

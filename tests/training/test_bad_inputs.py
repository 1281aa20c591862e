"""Bad inputs: one clear line on stderr, exit 1, nothing lost."""
from __future__ import annotations

import pytest

from db import open_catalog
from tests.training.conftest import import_fer, invoke, small_fer
from training.cli import main as train

pytestmark = pytest.mark.slow


def one_error_line(r, *needles: str) -> str:
    assert r.exit_code == 1, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_no_labeled_faces(tmp_path, train_env):
    with open_catalog(tmp_path / "cat", create=True):
        pass
    r = invoke(train, ["fit", "--catalog", tmp_path / "cat", "--out", tmp_path / "m"])
    one_error_line(r, "no labeled faces")
    assert not (tmp_path / "m").exists()  # nothing written for a refused fit


def test_a_class_with_no_training_faces(shared_data, tmp_path, train_env):
    fer = small_fer(shared_data, tmp_path / "fer", train=8, test=4, classes=("happy", "sad", "fear"), test_only=("fear",))
    import_fer(tmp_path / "cat", fer)
    r = invoke(train, ["fit", "--catalog", tmp_path / "cat", "--out", tmp_path / "m", "--split", "keep"])
    one_error_line(r, "no training faces: fear", "--map fear=")


def test_missing_and_corrupt_model_files(model_copy, tmp_path, fer_small):
    _, fer_dir = fer_small
    r = invoke(train, ["evaluate", tmp_path / "nowhere", "--folders", fer_dir / "test"])
    one_error_line(r, "no model")
    (model_copy / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    r = invoke(train, ["evaluate", model_copy, "--folders", fer_dir / "test"])
    one_error_line(r, "cannot read", "model.keras")
    (model_copy / "model.keras").unlink()
    r = invoke(train, ["predict", model_copy, fer_dir / "test" / "happy"])
    one_error_line(r, "model file is missing")
    (model_copy / "model.json").write_text("{ not json")
    r = invoke(train, ["predict", model_copy, "x.jpg"])
    one_error_line(r, "model.json")


def test_an_image_with_no_face(trained, shared_data):
    r = invoke(train, ["predict", trained[0], shared_data / "photos" / "dlib" / "dogs.jpg"])
    one_error_line(r, "dogs.jpg: no face found")


def test_data_classes_the_model_lacks(trained, fer_small, tmp_path):
    _, fer_dir = fer_small
    (tmp_path / "d" / "contempt").mkdir(parents=True)
    for f in sorted((fer_dir / "test" / "happy").glob("*.jpg"))[:2]:
        (tmp_path / "d" / "contempt" / f.name).symlink_to(f.resolve())
    r = invoke(train, ["evaluate", trained[0], "--folders", tmp_path / "d"])
    one_error_line(r, "no class 'contempt'", "--map contempt=")
    r = invoke(train, ["evaluate", trained[0], "--folders", tmp_path / "d", "--map", "contempt=happy"])
    assert r.exit_code == 0, r.output


def test_unwritable_out(fer_small, tmp_path):
    catalog, _ = fer_small
    (tmp_path / "file").write_text("x")
    r = invoke(train, ["fit", "--catalog", catalog, "--out", tmp_path / "file" / "m", "--split", "keep"])
    one_error_line(r, "cannot write to --out")
    r = invoke(train, ["fit", "--catalog", catalog, "--out", tmp_path / "file", "--split", "keep"])
    one_error_line(r, "not a directory")


def test_out_holding_a_model_is_not_overwritten(fer_small, trained):
    catalog, _ = fer_small
    before = (trained[0] / "model.keras").read_bytes()
    r = invoke(train, ["fit", "--catalog", catalog, "--out", trained[0], "--split", "keep"])
    one_error_line(r, "not empty", "--resume", "--force")
    assert (trained[0] / "model.keras").read_bytes() == before


def test_every_command_has_help_with_examples_and_a_version():
    for cmd in ("fit", "evaluate", "predict", "export", "compare", "list"):
        r = invoke(train, [cmd, "--help"])
        assert r.exit_code == 0 and "Examples:" in r.output and f"train {cmd}" in r.output
        assert invoke(train, [cmd, "--version"]).exit_code == 0

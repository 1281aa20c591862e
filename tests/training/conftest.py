"""Shared fixtures for the training tests: a small real FER2013 catalog from ../shared and one model
trained on it for 2 epochs, made once per session (TensorFlow start-up and training are the cost)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from db import open_catalog

TRAIN_PER_CLASS = 50  # Training faces per class (disgust has fewer in the first files: all are real)
TEST_PER_CLASS = 12  # PublicTest faces per class


def small_fer(shared_data: Path, root: Path, train: int = TRAIN_PER_CLASS, test: int = TEST_PER_CLASS,
              classes: tuple[str, ...] | None = None, test_only: tuple[str, ...] = ()) -> Path:
    """A FER2013 folder layout of symlinks to the first files of each class (train/ and test/)."""
    for split, n in (("train", train), ("test", test)):
        for c in sorted(os.listdir(shared_data / "fer2013" / split)):
            if classes is not None and c not in classes:
                continue
            if split == "train" and c in test_only:
                continue
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for f in sorted((shared_data / "fer2013" / split / c).glob("*.jpg"))[:n]:
                (root / split / c / f.name).symlink_to(f)
    return root


def invoke(cli, args: list[str]):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def import_fer(catalog_dir: Path, fer_dir: Path) -> None:
    from curation.cli import main as curate

    with open_catalog(catalog_dir, create=True):
        pass
    r = invoke(curate, ["import", "fer2013", fer_dir, "--catalog", catalog_dir])
    assert r.exit_code == 0, r.output


@pytest.fixture(scope="session")
def train_env(tmp_path_factory):
    """FACECAT_CACHE in a temporary folder for the session (no test writes to ~/.cache)."""
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("FACECAT_CACHE")
    os.environ["FACECAT_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("FACECAT_CACHE", None)
    else:
        os.environ["FACECAT_CACHE"] = old


@pytest.fixture(scope="session")
def fer_small(shared_data, tmp_path_factory, train_env):
    """(catalog dir, fer folder): 7 classes, ~340 Training and 84 PublicTest faces, imported."""
    root = tmp_path_factory.mktemp("fer-small")
    fer_dir = small_fer(shared_data, root / "fer")
    import_fer(root / "catalog", fer_dir)
    return root / "catalog", fer_dir


@pytest.fixture(scope="session")
def trained(fer_small, tmp_path_factory):
    """A model trained 2 epochs on fer_small (--split keep: val = PublicTest), and the fit's JSON."""
    import json

    from training.cli import main as train

    catalog, _ = fer_small
    out = tmp_path_factory.mktemp("models") / "fer2"
    r = invoke(train, ["fit", "--catalog", catalog, "--out", out, "--split", "keep", "--epochs", 2, "--json"])
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout)


@pytest.fixture
def model_copy(trained, tmp_path):
    """A copy of the trained model directory that a test may damage."""
    dst = tmp_path / "copy"
    shutil.copytree(trained[0], dst)
    return dst

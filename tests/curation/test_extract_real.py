"""Extraction on real photos: JAFFE, dlib's PASCAL VOC photos with ground-truth boxes, and
face_recognition's example photos."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from curation.cli import main
from curation.extract import iou
from curation.faces import ExtractSettings, FaceFinder
from curation.imaging import decode_gray
from db import open_catalog
from db.types import FaceFilter

JAFFE_CODES = {"AN": "angry", "DI": "disgust", "FE": "fear", "HA": "happy", "NE": "neutral", "SA": "sad", "SU": "surprise"}


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    return FaceFinder(ExtractSettings())


def _find(finder, path):
    d = decode_gray(path, keep_pixels=int(4e6 * finder.settings.detect_mp))
    return finder.find(d.gray, d.scale)


def test_jaffe_gives_one_aligned_labeled_face_per_image(shared_data, tmp_path):
    cat_dir = str(tmp_path / "catalog")
    assert CliRunner().invoke(main, ["init", "--catalog", cat_dir]).exit_code == 0
    res = CliRunner().invoke(main, ["import", "jaffe", str(shared_data / "jaffe"), "--catalog", cat_dir, "--json"])
    assert res.exit_code == 0, res.output
    with open_catalog(cat_dir) as cat:
        faces = list(cat.iter_faces(with_crops=True))
        assert cat.stats()["by_extraction"] == {"faces": 213}
    assert len(faces) == 213
    assert len({f.image_id for f in faces}) == 213  # exactly one face per image
    for f in faces:
        code = f.dataset_path.split(".")[1][:2]
        assert f.label == JAFFE_CODES[code], f.dataset_path
        assert f.status.value == "unreviewed" and f.source_name == "jaffe" and f.detector == "hog"
        with Image.open(io.BytesIO(f.crop_png)) as crop:
            assert crop.mode == "L" and crop.size == (100, 100)


def test_crops_are_aligned_a_tilted_head_gives_the_same_crop(shared_data, finder):
    def center(a):
        return a[20:80, 20:80].astype(float).ravel()

    for path in sorted((shared_data / "jaffe").glob("*.tiff"))[::40]:
        with Image.open(path) as img:
            gray = img.convert("L")
        upright = finder.find(np.asarray(gray))[0].crop
        tilted = finder.find(np.asarray(gray.rotate(12, resample=Image.Resampling.BICUBIC, fillcolor=128)))[0].crop
        # Without alignment the two crops correlate at about 0.6 (the face turned 12 degrees).
        assert np.corrcoef(center(upright), center(tilted))[0, 1] > 0.95, path.name


def _ground_truth(xml_path):
    for image in ET.parse(xml_path).getroot().iter("image"):
        boxes = [tuple(int(b.get(k)) for k in ("left", "top", "width", "height")) for b in image.iter("box")]
        yield image.get("file"), boxes


def test_dlib_testing_xml_boxes_are_found(shared_data, finder):
    root = shared_data / "photos/dlib"
    total = matched = 0
    for name, boxes in _ground_truth(root / "testing.xml"):
        found = [f.bbox for f in _find(finder, root / name)]
        total += len(boxes)
        matched += sum(1 for b in boxes if any(iou(b, f) >= 0.4 for f in found))
    assert total == 25
    assert matched / total >= 0.9, f"{matched}/{total}"


def test_dogs_give_no_face(shared_data, finder):
    assert _find(finder, shared_data / "photos/dlib/dogs.jpg") == []


def test_every_face_recognition_photo_gives_a_face(shared_data, finder):
    photos = sorted(p for p in (shared_data / "photos/face_recognition").rglob("*") if p.is_file())
    assert len(photos) == 32
    missing = [str(p.relative_to(shared_data)) for p in photos if not _find(finder, p)]
    assert missing == []


def test_two_people_give_two_faces_with_landmarks_inside_their_boxes(shared_data, finder):
    faces = _find(finder, shared_data / "photos/face_recognition/examples/two_people.jpg")
    assert len(faces) == 2
    for f in faces:
        left, top, w, h = f.bbox
        assert len(f.landmarks) == 5
        assert all(left - w * 0.2 <= x <= left + w * 1.2 and top - h * 0.2 <= y <= top + h * 1.2 for x, y in f.landmarks)


def test_cnn_detector_finds_the_same_face(shared_data, finder):
    path = shared_data / "photos/face_recognition/examples/obama_small.jpg"
    cnn = FaceFinder(ExtractSettings(detector="cnn"))
    (hog_face,), (cnn_face,) = _find(finder, path), _find(cnn, path)
    assert iou(hog_face.bbox, cnn_face.bbox) >= 0.4 and cnn_face.crop.shape == (100, 100)

"""`train predict --video / --camera`: frame by frame, an annotated video, a timeline, the faces into
the catalog; on a short video made here from real photos in ../shared."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from db import open_catalog
from db.types import FaceFilter
from tests.training.conftest import invoke
from training.cli import main as train

pytestmark = pytest.mark.slow

FRAMES, FPS, W, H = 24, 8, 640, 480


def make_clip(shared_data, path, frames: int = FRAMES):
    """640x480 at 8 fps: two_people.jpg for 12 frames (the people moving down a pixel a frame),
    then obama-480p.jpg; mp4v, written by OpenCV."""
    import cv2

    photos = shared_data / "photos" / "face_recognition" / "examples"
    scenes = [np.asarray(Image.open(photos / "two_people.jpg").convert("RGB").resize((W, 376))),
              np.asarray(Image.open(photos / "obama-480p.jpg").convert("RGB").resize((W, 360)))]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    for i in range(frames):
        src = scenes[(i // 12) % 2]
        frame = np.zeros((H, W, 3), np.uint8)
        dy = 20 + i % 12
        frame[dy:dy + src.shape[0]] = src[:H - dy]
        out.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    out.release()
    return path


@pytest.fixture(scope="module")
def clip(shared_data, tmp_path_factory):
    return make_clip(shared_data, tmp_path_factory.mktemp("video") / "clip.mp4")


def read_frames(path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    return frames, cap.get(cv2.CAP_PROP_FPS)


def test_video_gives_an_annotated_video_and_a_timeline(trained, clip, tmp_path):
    out, timeline = tmp_path / "annotated.mp4", tmp_path / "timeline.csv"
    r = invoke(train, ["predict", trained[0], "--video", clip, "--out", out, "--csv", timeline, "--every", 3, "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["frames"] == FRAMES and report["every"] == 3
    frames, fps = read_frames(out)
    source, _ = read_frames(clip)
    assert len(frames) == FRAMES and fps == FPS and frames[0].shape == (H, W, 3)
    # The drawing: the annotated frames differ from the source where the boxes are, not elsewhere.
    diff = np.abs(frames[0].astype(int) - source[0].astype(int)).sum(axis=2)
    assert (diff > 60).sum() > 2000 and (diff > 60).mean() < 0.2
    rows = list(csv.DictReader(open(timeline)))
    classes = json.loads((trained[0] / "model.json").read_text())["classes"]
    assert set(rows[0]) >= {"frame", "time_s", "face", "left", "top", "width", "height", "detected", "label",
                            *(f"p_{k}" for k in classes)}
    by_frame: dict[int, list[dict]] = {}
    for row in rows:
        by_frame.setdefault(int(row["frame"]), []).append(row)
    assert sorted(by_frame) == list(range(FRAMES))  # a face on every frame
    assert [len(by_frame[i]) for i in range(12)] == [2] * 12  # two people in the first scene
    assert all(len(by_frame[i]) >= 1 for i in range(12, FRAMES))
    for i, faces in by_frame.items():
        assert {f["detected"] for f in faces} == {"1" if i % 3 == 0 else "0"}
        assert float(faces[0]["time_s"]) == pytest.approx(i / FPS)
        for f in faces:
            assert sum(float(f[f"p_{k}"]) for k in classes) == pytest.approx(1, abs=1e-3)
    # Boxes carried between detections, each face keeping its id while it is there.
    assert {f["face"] for i in range(12) for f in by_frame[i]} == {"1", "2"}
    assert by_frame[1][0]["left"] == by_frame[0][0]["left"] and by_frame[3][0]["top"] != by_frame[0][0]["top"]


def test_a_frame_gives_what_predict_gives_for_the_same_pixels(trained, clip, tmp_path):
    """The first frame as a lossless PNG through `train predict`: the same faces and probabilities."""
    frames, _ = read_frames(clip)
    Image.fromarray(frames[0][:, :, ::-1]).save(tmp_path / "frame0.png")
    photo = json.loads(invoke(train, ["predict", trained[0], tmp_path / "frame0.png", "--json"]).stdout)
    r = invoke(train, ["predict", trained[0], "--video", clip, "--csv", tmp_path / "t.csv", "--frames", 1])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    faces = photo["images"][0]["faces"]
    assert len(rows) == len(faces) == 2
    for row, face in zip(sorted(rows, key=lambda r: int(r["left"])), sorted(faces, key=lambda f: f["bbox"][0])):
        assert [int(row[k]) for k in ("left", "top", "width", "height")] == face["bbox"]
        for k, p in face["probabilities"].items():
            assert float(row[f"p_{k}"]) == pytest.approx(p, abs=0.01)  # OpenCV's and Pillow's grays round apart


def test_to_catalog_stores_the_faces_for_review(trained, clip, tmp_path):
    catalog = tmp_path / "catalog"
    open_catalog(catalog, create=True).close()
    args = ["predict", trained[0], "--video", clip, "--every", 3, "--to-catalog", "--catalog", catalog,
            "--interval", 1.0, "--json"]
    r = invoke(train, args)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)["catalog"]
    assert report["faces"] >= 3 and report["frames"] >= 2
    with open_catalog(catalog) as cat:
        (source,) = cat.sources()
        assert (source.kind, source.name) == ("video", "clip.mp4") and source.path == str(clip.resolve())
        faces = cat.select_faces(FaceFilter())
        assert len(faces) == report["faces"]
        preds = cat.predictions(report["model_id"])
        for f in faces:
            assert f.source_kind == "video" and f.detector == "hog" and f.label is None
            assert f.suggested_label == preds[f.id].label  # the model's class, for review
            assert f.dataset_path.startswith("clip.mp4#t=") and "&face=" in f.dataset_path
            assert f.status.value == "unreviewed"
        by_track: dict[str, list[float]] = {}
        for f in faces:
            t, track = f.dataset_path.split("#t=")[1].split("&face=")
            by_track.setdefault(track, []).append(float(t))
        assert sorted(by_track["1"])[0] == 0.0 and len(by_track) >= 2
        for times in by_track.values():  # each face at most once a second, on frames the detector ran on
            times.sort()
            assert all(b - a >= 1.0 for a, b in zip(times, times[1:]))
            assert all(round(t * FPS) % 3 == 0 for t in times)
        image = cat.images_by_ids([faces[0].image_id])[0]
        assert (image.width, image.height, image.format) == (W, H, "JPEG")
        assert cat.blobs.read(image.blob_path)[:2] == b"\xff\xd8"  # the frame itself, for the labeler's panel
    again = json.loads(invoke(train, args).stdout)["catalog"]
    assert again["faces"] == 0 and again["already_stored"] == report["frames"]  # nothing twice


def test_bad_video_inputs_are_one_line(trained, clip, tmp_path):
    (tmp_path / "not-a-video.mp4").write_text("hello")
    cases = [
        (["--video", tmp_path / "not-a-video.mp4", "--csv", tmp_path / "t.csv"], "not a video"),
        (["--video", tmp_path / "missing.mp4", "--csv", tmp_path / "t.csv"], "file not found"),
        (["--camera", 57, "--csv", tmp_path / "t.csv"], "camera 57 cannot be opened (/dev/video57: no such device)"),
        (["--video", clip, "--out", tmp_path / "a.gif"], "name a .mp4"),
        (["--video", clip, "--out", tmp_path / "no" / "a.mp4"], "does not exist"),
    ]
    for extra, message in cases:
        r = invoke(train, ["predict", trained[0], *extra])
        assert r.exit_code == 1, (extra, r.output)
        assert message in r.output and r.output.count("\n") == 1, r.output
    r = invoke(train, ["predict", trained[0], "--video", clip])
    assert r.exit_code == 2 and "say what to make of the video" in r.output
    r = invoke(train, ["predict", trained[0], clip, "--csv", tmp_path / "t.csv"])
    assert r.exit_code == 2 and "--csv goes with --video or --camera" in r.output


def test_a_video_cut_short_says_so_and_keeps_what_was_read(trained, shared_data, tmp_path):
    # An AVI cut in half still opens and plays up to where it breaks (an MP4 without its index does not open).
    whole = make_clip(shared_data, tmp_path / "whole.avi")
    cut = tmp_path / "cut.avi"
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    r = invoke(train, ["predict", trained[0], "--video", cut, "--csv", tmp_path / "t.csv", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert 0 < report["frames"] < FRAMES and f"of the {FRAMES} frames its header announces" in report["stopped"]
    assert "warning: cut.avi: the video ended after" in r.stderr
    with open(tmp_path / "t.csv") as f:  # what was read is kept
        assert {int(row["frame"]) for row in csv.DictReader(f)} == set(range(report["frames"]))
    r = invoke(train, ["predict", trained[0], "--video", whole, "--csv", tmp_path / "w.csv", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["stopped"] is None and "warning" not in r.stderr


def test_show_without_a_display_says_so(trained, clip):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "training.cli", "predict", str(trained[0]), "--video", str(clip), "--show"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1 and "--show needs a display" in r.stderr and "Traceback" not in r.stderr


def test_an_absent_camera_is_one_line_on_the_real_stderr(trained, tmp_path):
    # OpenCV's own warnings go to file descriptor 2, past click's capture: only a real process shows them.
    r = subprocess.run([sys.executable, "-m", "training.cli", "predict", str(trained[0]), "--camera", "57",
                        "--csv", str(tmp_path / "t.csv")], capture_output=True, text=True, timeout=300)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: camera 57 cannot be opened"), r.stderr

"""Faces in video, frame by frame: a file or a camera read through OpenCV (its headless wheel,
FFmpeg inside), faces found on every K-th frame by curation's extractor and carried between
(the face re-aligned and classified in its carried box on the frames between), each face followed
across frames as a track (boxes matched by overlap).

What a run writes is up to its caller (training/cli_video.py): an annotated video
(VideoOut, drawn by `annotate`), a timeline CSV (Timeline), a live window (training/live.py),
faces into the catalog (training/capture.py).
"""
from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np

from curation.faces import FaceFinder, FoundFace
from training import photos
from training.colours import bgr, class_colours
from training.ensemble import Ensemble
from training.errors import TrainingError

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # an absent camera is our one-line error, not OpenCV's warnings
import cv2  # noqa: E402

# The variable is read when cv2 is first imported, which may have been elsewhere (training/capture.py).
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

MATCH_IOU = 0.3  # a face found again overlaps its box of the last detection by at least this much
CAMERA_FPS = 30.0  # what a camera that does not say is taken to give
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


@dataclass
class FaceTrack:
    id: int  # the same face across frames: 1, 2, ... in order of appearance
    face: FoundFace  # box (original pixels), landmarks, aligned crop
    probabilities: np.ndarray  # the ensemble's class order
    detected: bool  # found by the detector on this frame (else its box was carried)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return self.face.bbox


@dataclass
class Frame:
    index: int  # 0, 1, ... in the source
    time_s: float  # from the start of the video (a camera: since it was opened)
    wall: datetime | None  # a camera's frame: when it was taken (UTC)
    bgr: np.ndarray
    faces: list[FaceTrack] = field(default_factory=list)
    detected: bool = False  # the detector ran on this frame


class VideoSource:
    """Frames of a video file or a camera."""

    def __init__(self, video: Path | None = None, camera: int | None = None):
        if (video is None) == (camera is None):
            raise TrainingError("give a video file or a camera, not both")
        self.video, self.camera = video, camera
        if video is not None:
            if not Path(video).is_file():
                raise TrainingError(f"{video}: file not found")
            self.cap = cv2.VideoCapture(str(video))
            if not self.cap.isOpened():
                raise TrainingError(f"{video}: not a video OpenCV can read (FFmpeg found no video stream)")
            self.name = Path(video).name
        else:
            self.cap = cv2.VideoCapture(int(camera))
            if not self.cap.isOpened():
                device = f"/dev/video{camera}"
                why = "no such device" if not os.path.exists(device) else "it is busy or not a camera"
                raise TrainingError(f"camera {camera} cannot be opened ({device}: {why}); "
                                    "list cameras with `v4l2-ctl --list-devices`")
            self.name = f"camera {camera}"
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and 1 <= fps <= 1000 else CAMERA_FPS
        self.frames = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if video is not None else 0
        self.read = 0  # frames decoded so far
        self.exhausted = False  # the stream gave no more frames
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))

    @property
    def is_camera(self) -> bool:
        return self.camera is not None

    def __iter__(self) -> Iterator[tuple[int, float, datetime | None, np.ndarray]]:
        """(index, time in seconds, wall clock for a camera, BGR frame), until the end."""
        start = time.monotonic()
        index = 0
        while True:
            ok, bgr = self.cap.read()
            if not ok or bgr is None:
                if self.is_camera and index == 0:
                    raise TrainingError(f"{self.name} gives no frames (in use by another program?)")
                self.exhausted = True
                return
            self.read = index + 1
            if self.is_camera:
                yield index, time.monotonic() - start, datetime.now(timezone.utc), bgr
            else:
                yield index, index / self.fps, None, bgr
            index += 1

    def cut_short(self) -> bool:
        """A video file whose frames ran out well before the count its header announces: damaged or
        truncated (a header's count may be an estimate: a frame or 1% short is not counted)."""
        return (not self.is_camera and self.exhausted and self.frames > 0
                and self.read < self.frames - max(1, self.frames // 100))

    def close(self) -> None:
        self.cap.release()


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class Tracker:
    """Gives each face of a detection the id of the track it continues (best overlap first)."""

    def __init__(self):
        self.boxes: dict[int, tuple[int, int, int, int]] = {}
        self.next_id = 1

    def assign(self, boxes: list[tuple[int, int, int, int]]) -> list[int]:
        pairs = sorted(((iou(b, old), i, tid) for i, b in enumerate(boxes) for tid, old in self.boxes.items()),
                       reverse=True)
        ids: dict[int, int] = {}
        taken: set[int] = set()
        for overlap, i, tid in pairs:
            if overlap < MATCH_IOU:
                break
            if i not in ids and tid not in taken:
                ids[i] = tid
                taken.add(tid)
        for i in range(len(boxes)):
            if i not in ids:
                ids[i] = self.next_id
                self.next_id += 1
        self.boxes = {ids[i]: b for i, b in enumerate(boxes)}
        return [ids[i] for i in range(len(boxes))]


def frames_with_faces(source: VideoSource, ens: Ensemble, finder: FaceFinder, every: int = 1,
                      tta: str = "none", limit: int | None = None) -> Iterator[Frame]:
    """Each frame with its faces: detected on frames 0, K, 2K, ...; on the others each face of the
    last detection is aligned again inside its box and classified."""
    tracker = Tracker()
    tracks: list[FaceTrack] = []
    for index, t, wall, bgr in source:
        if limit is not None and index >= limit:
            return
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)  # the same luma weights as Pillow's convert("L")
        detect = index % every == 0
        if detect:
            found = finder.find(gray)
            ids = tracker.assign([f.bbox for f in found])
        else:
            found = [finder.align(gray, tr.bbox, score=tr.face.score) for tr in tracks]
            ids = [tr.id for tr in tracks]
        r = photos.classify(gray, 1.0, found, ens, finder.settings, tta)
        tracks = [FaceTrack(i, f, p, detect) for i, f, p in zip(ids, found, r.probabilities)]
        yield Frame(index, t, wall, bgr, tracks, detect)


# --- what is written -----------------------------------------------------------------------------------

def annotate(frame: Frame, classes: list[str]) -> np.ndarray:
    """A copy of the frame with each face's box in its class colour, 'id class p%' above it and
    its three most probable classes as small bars below."""
    img = frame.bgr.copy()
    h, w = img.shape[:2]
    palette = [bgr(c) for c in class_colours(classes).values()]
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.45, w / 1400)
    thick = max(1, round(w / 640))
    for tr in frame.faces:
        left, top, bw, bh = tr.bbox
        k = int(tr.probabilities.argmax())
        colour = palette[k]
        cv2.rectangle(img, (left, top), (left + bw, top + bh), colour, 2 * thick)
        text = f"{tr.id} {classes[k]} {tr.probabilities[k]:.0%}"
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        y = max(th + base + 2, top - 3)
        cv2.rectangle(img, (left - thick, y - th - base - 3), (left + tw + 4, y + 1), colour, -1)
        cv2.putText(img, text, (left + 2, y - base), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
        order = np.argsort(-tr.probabilities)[:3]
        bar_w, row = max(60, bw), round(16 * scale / 0.45)
        y0 = min(h - 3 * row - 2, top + bh + 4)
        for j, c in enumerate(order):
            yy = y0 + j * row
            p = float(tr.probabilities[c])
            cv2.rectangle(img, (left, yy), (left + bar_w, yy + row - 3), (40, 40, 40), -1)
            cv2.rectangle(img, (left, yy), (left + round(bar_w * p), yy + row - 3), palette[c], -1)
            cv2.putText(img, f"{classes[c]} {p:.0%}", (left + 3, yy + row - 6), font, scale * 0.8, (255, 255, 255),
                        1, cv2.LINE_AA)
    return img


class VideoOut:
    """The annotated video: the source's size and frame rate (mp4v in .mp4/.mov/.mkv, MJPG in .avi)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        suffix = path.suffix.lower()
        if suffix not in FOURCC:
            raise TrainingError(f"{path}: name a {', '.join(FOURCC)} file for the annotated video")
        if not path.parent.is_dir():
            raise TrainingError(f"{path}: the folder {path.parent} does not exist")
        self.path = path
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC[suffix]), fps, size)
        if not self.writer.isOpened():
            raise TrainingError(f"cannot write {path} (not writable, or no {FOURCC[suffix]} encoder in this OpenCV)")

    def write(self, bgr: np.ndarray) -> None:
        self.writer.write(bgr)

    def close(self) -> None:
        self.writer.release()


class Timeline:
    """The timeline CSV: one row per face per frame (frame, time, face id, box, whether it was
    detected on that frame or carried, the top class, every class's probability)."""

    def __init__(self, path: Path, classes: list[str]):
        self.classes = classes
        self.file = open(path, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["frame", "time_s", "wall_time", "face", "left", "top", "width", "height", "detected",
                              "label", "confidence", *(f"p_{k}" for k in classes)])

    def write(self, frame: Frame) -> None:
        wall = frame.wall.isoformat(timespec="milliseconds") if frame.wall else ""
        for tr in frame.faces:
            k = int(tr.probabilities.argmax())
            self.writer.writerow([frame.index, f"{frame.time_s:.3f}", wall, tr.id, *tr.bbox, int(tr.detected),
                                  self.classes[k], f"{tr.probabilities[k]:.4f}",
                                  *(f"{p:.4f}" for p in tr.probabilities)])

    def close(self) -> None:
        self.file.close()

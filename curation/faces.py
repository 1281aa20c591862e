"""Finding, aligning and cropping faces with dlib.

detect (HOG frontal detector, or the MMOD CNN from face-recognition-models) on a copy of the
image scaled so that the smallest wanted face is about the detector's window (small photos are
upsampled, large ones downscaled, with a cap on the pixels scanned) -> 5 landmarks on the full
image -> dlib's face chip (rotated upright, scaled, margin `padding`) -> grayscale crop.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import dlib
import face_recognition_models
import numpy as np
from PIL import Image

DETECTOR_WINDOW = 64  # dlib's detectors (80 px windows) still find faces of about 64 px


@dataclass(frozen=True)
class ExtractSettings:
    """How faces are found and cropped; stored with every face (its `settings`)."""

    detector: str = "hog"  # "hog" or "cnn"
    size: int = 100  # side of the square grayscale crop
    padding: float = 0.25  # margin around the aligned face, as a fraction of its size (dlib's default)
    min_face: int = 32  # smallest face side kept, in original pixels; drives upsampling
    detect_mp: float = 1.5  # most megapixels scanned by the detector (bounds time on large photos)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FoundFace:
    bbox: tuple[int, int, int, int]  # left, top, width, height in original pixels
    score: float
    landmarks: list[tuple[float, float]]  # 5 points in original pixels
    crop: np.ndarray  # (size, size) uint8


def detection_scale(width: int, height: int, settings: ExtractSettings, scale: float = 1.0) -> float:
    """Scale (from an image of width x height that is `scale` times the original) of the image the
    detector scans: up until min_face matches the detector's window, but at most detect_mp megapixels."""
    wanted = DETECTOR_WINDOW / (settings.min_face * scale)
    cap = math.sqrt(settings.detect_mp * 1e6 / (width * height))
    return min(wanted, cap)


class FaceFinder:
    """Holds the dlib models (loaded once; a worker process makes one)."""

    def __init__(self, settings: ExtractSettings):
        if settings.detector not in ("hog", "cnn"):
            raise ValueError(f"unknown detector {settings.detector!r} (hog or cnn)")
        self.settings = settings
        if settings.detector == "cnn":
            self._cnn = dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())
        else:
            self._hog = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())

    def find(self, gray: np.ndarray, scale: float = 1.0) -> list[FoundFace]:
        """Faces in a grayscale image. scale: gray's size / the original's (see imaging.Decoded);
        boxes and landmarks come back in original pixels."""
        s = self.settings
        h, w = gray.shape
        det_scale = detection_scale(w, h, s, scale)
        scanned = gray
        if abs(det_scale - 1.0) > 0.01:
            size = (max(1, round(w * det_scale)), max(1, round(h * det_scale)))
            scanned = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR))
        faces = []
        for rect, score in self._detect(scanned):
            # Back to the work image's pixels, where landmarks and the chip are taken at full detail.
            box = dlib.rectangle(
                round(rect.left() / det_scale), round(rect.top() / det_scale),
                round(rect.right() / det_scale), round(rect.bottom() / det_scale),
            )
            face = self._at(gray, box, float(score), scale)
            if min(face.bbox[2], face.bbox[3]) >= s.min_face:
                faces.append(face)
        return faces

    def align(self, gray: np.ndarray, bbox: tuple[int, int, int, int], scale: float = 1.0,
              score: float = 0.0) -> FoundFace:
        """The face inside a known box (left, top, width, height in original pixels), without
        detecting: landmarks, alignment and crop as find() does them (video carries boxes between
        the frames it detects on)."""
        left, top, width, height = (round(v * scale) for v in bbox)
        return self._at(gray, dlib.rectangle(left, top, left + width - 1, top + height - 1), score, scale)

    def _at(self, gray: np.ndarray, box: dlib.rectangle, score: float, scale: float) -> FoundFace:
        s = self.settings
        h, w = gray.shape
        left, top = max(0, box.left()), max(0, box.top())
        right, bottom = min(w - 1, box.right()), min(h - 1, box.bottom())
        bbox = (round(left / scale), round(top / scale),
                round((right - left + 1) / scale), round((bottom - top + 1) / scale))
        shape = self._shape(gray, box)
        landmarks = [(round(p.x / scale, 1), round(p.y / scale, 1)) for p in shape.parts()]
        crop = dlib.get_face_chip(gray, shape, size=s.size, padding=s.padding)
        return FoundFace(bbox, round(score, 4), landmarks, crop)

    def _detect(self, img: np.ndarray) -> list[tuple[dlib.rectangle, float]]:
        if self.settings.detector == "cnn":
            rgb = np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
            return [(d.rect, d.confidence) for d in self._cnn(rgb, 0)]
        rects, scores, _ = self._hog.run(img, 0, 0.0)
        return list(zip(rects, scores))

"""Faces in photos (and video frames), as training saw them: curation's extractor (dlib detection,
5-point alignment, grayscale crop with the model's recorded settings), then the crop resized to the
model's input. With an ensemble, faces are found once (the first model's detector settings) and
each member gets the crop its own settings make (crop size, margin), at its own input size.

`train predict`, `train serve` and video all go through `faces_in_gray`, so they give the same
probabilities for the same pixels.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import dlib
import numpy as np

from curation.crops import to_gray_square
from curation.faces import ExtractSettings, FaceFinder, FoundFace
from curation.imaging import MAX_PIXELS, Decoded, UnreadableImage, decode_gray
from training.ensemble import Ensemble, Member
from training.errors import TrainingError


@dataclass(frozen=True)
class PhotoFaces:
    name: str  # the file (or what the image was called: an upload's name, "frame 12")
    gray: np.ndarray  # the decoded photo (maybe reduced: see scale)
    scale: float  # gray's size / the original's
    width: int  # the upright original's size (bboxes are in its pixels)
    height: int
    bboxes: list[tuple[int, int, int, int]]  # original pixels
    probabilities: np.ndarray  # (faces, classes), the ensemble's class order
    crops: list[np.ndarray] = field(default_factory=list)  # the first member's aligned crop of each face
    inputs: list[np.ndarray] = field(default_factory=list)  # per member: (faces, S, S) uint8, what it saw

    @property
    def path(self) -> Path:
        return Path(self.name)


def extract_settings(member: Member) -> ExtractSettings:
    return ExtractSettings(**member.extract)


def finder_for(ens: Ensemble) -> FaceFinder:
    """The face finder of the first member's settings (detector, smallest face, pixels scanned)."""
    return FaceFinder(extract_settings(ens.members[0]))


def decode(source: str | os.PathLike | bytes, finder: FaceFinder, max_pixels: int = MAX_PIXELS) -> Decoded:
    """An image decoded as extraction decodes it (a large JPEG at reduced scale; the pixel cap)."""
    try:
        return decode_gray(source, max_pixels=max_pixels, keep_pixels=int(4 * finder.settings.detect_mp * 1e6))
    except UnreadableImage as exc:
        where = "" if isinstance(source, bytes) else f"{source}: "
        raise TrainingError(f"{where}{exc}") from None


def _chip(gray: np.ndarray, scale: float, face: FoundFace, size: int, padding: float) -> np.ndarray:
    """The face aligned and cropped again at another size or margin, from its landmarks."""
    left, top, w, h = (round(v * scale) for v in face.bbox)
    shape = dlib.full_object_detection(dlib.rectangle(left, top, left + w - 1, top + h - 1),
                                       dlib.points([dlib.point(round(x * scale), round(y * scale))
                                                    for x, y in face.landmarks]))
    return dlib.get_face_chip(gray, shape, size=size, padding=padding)


def member_inputs(gray: np.ndarray, scale: float, found: list[FoundFace], ens: Ensemble,
                  settings: ExtractSettings) -> list[np.ndarray]:
    """Each member's view of the faces: its own crop settings, resized to its input size."""
    out = []
    for m in ens.members:
        s = extract_settings(m)
        size = m.card.input_size
        if not found:
            out.append(np.zeros((0, size, size), np.uint8))
            continue
        same = (s.size, s.padding) == (settings.size, settings.padding)
        crops = [f.crop if same else _chip(gray, scale, f, s.size, s.padding) for f in found]
        out.append(np.stack([np.asarray(to_gray_square(c, size)) for c in crops]))
    return out


def classify(gray: np.ndarray, scale: float, found: list[FoundFace], ens: Ensemble, settings: ExtractSettings,
             tta: str = "none", name: str = "", size: tuple[int, int] | None = None) -> PhotoFaces:
    inputs = member_inputs(gray, scale, found, ens, settings)
    probs = ens.probabilities(lambda m: inputs[ens.members.index(m)], tta)
    width, height = size or (round(gray.shape[1] / scale), round(gray.shape[0] / scale))
    return PhotoFaces(name, gray, scale, width, height, [f.bbox for f in found], probs,
                      [f.crop for f in found], inputs)


def faces_in_gray(gray: np.ndarray, scale: float, ens: Ensemble, finder: FaceFinder, tta: str = "none",
                  name: str = "", size: tuple[int, int] | None = None) -> PhotoFaces:
    """Find the faces of a grayscale image and classify them. scale: gray's size / the original's."""
    return classify(gray, scale, finder.find(gray, scale), ens, finder.settings, tta, name, size)


def faces_in_photo(source: str | os.PathLike | bytes, ens: Ensemble, finder: FaceFinder, tta: str = "none",
                   name: str | None = None, max_pixels: int = MAX_PIXELS) -> PhotoFaces:
    """A photo file (or its bytes): decoded, its faces found and classified."""
    d = decode(source, finder, max_pixels)
    label = name if name is not None else ("upload" if isinstance(source, bytes) else str(source))
    return faces_in_gray(d.gray, d.scale, ens, finder, tta, label, (d.width, d.height))


def face_records(r: PhotoFaces, classes: list[str], digits: int = 4) -> list[dict]:
    """The faces as `train predict --json` and `train serve` give them."""
    return [{"bbox": list(b), "label": classes[int(p.argmax())], "confidence": round(float(p.max()), digits),
             "probabilities": {k: round(float(v), digits) for k, v in zip(classes, p)}}
            for b, p in zip(r.bboxes, r.probabilities)]

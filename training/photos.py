"""Faces in photos, as training saw them: curation's extractor (dlib detection, 5-point alignment,
grayscale crop with the model's recorded settings), then the crop resized to the model's input."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.crops import to_gray_square
from curation.faces import ExtractSettings, FaceFinder
from curation.imaging import UnreadableImage, decode_gray
from training import modelio
from training.errors import TrainingError
from training.inference import probabilities


@dataclass(frozen=True)
class PhotoFaces:
    path: Path
    gray: np.ndarray  # the decoded photo (maybe reduced: see scale)
    scale: float  # gray's size / the original's
    bboxes: list[tuple[int, int, int, int]]  # original pixels
    probabilities: np.ndarray  # (faces, classes)


def finder_for(card: modelio.ModelCard) -> FaceFinder:
    return FaceFinder(ExtractSettings(**card.data.get("preprocessing", {}).get("extract", {})))


def faces_in_photo(path: Path, card: modelio.ModelCard, net, finder: FaceFinder, tta: str = "none") -> PhotoFaces:
    s = finder.settings
    try:
        decoded = decode_gray(path, keep_pixels=int(4 * s.detect_mp * 1e6))
    except UnreadableImage as exc:
        raise TrainingError(f"{path}: {exc}") from None
    found = finder.find(decoded.gray, decoded.scale)
    crops = np.stack([np.asarray(to_gray_square(f.crop, card.input_size)) for f in found]) if found else \
        np.zeros((0, card.input_size, card.input_size), np.uint8)
    return PhotoFaces(path, decoded.gray, decoded.scale, [f.bbox for f in found], probabilities(net, crops, tta))

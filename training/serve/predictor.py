"""What `train serve` does with one uploaded image: the same decoding, extractor and preprocessing
as `train predict` (training/photos.py), the models loaded once, one image at a time."""
from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass

import numpy as np

from curation.imaging import MAX_PIXELS
from training import photos
from training.ensemble import Ensemble
from training.errors import TrainingError


class BadImage(Exception):
    """The upload cannot be used; status is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_body: int = 20 * 1024 * 1024  # bytes of a request body (an upload)
    body_timeout_s: float = 30.0  # the whole body must have arrived by then
    header_timeout_s: float = 10.0  # a request's headers must have arrived by then (slowloris)
    max_pixels: int = MAX_PIXELS  # the extractor's own cap: a larger image is refused before decoding
    max_connections: int = 100  # beyond this many at once, a request is answered 503

    def as_dict(self) -> dict:
        return {"max_body_bytes": self.max_body, "body_timeout_s": self.body_timeout_s,
                "header_timeout_s": self.header_timeout_s, "max_pixels": self.max_pixels,
                "max_connections": self.max_connections}


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class Predictor:
    def __init__(self, ens: Ensemble, tta: str = "none", limits: Limits = Limits()):
        self.ens, self.tta, self.limits = ens, tta, limits
        self.finder = photos.finder_for(ens)
        self._lock = threading.Lock()  # one image at a time: TensorFlow and dlib use the cores already

    def warm(self) -> None:
        """Run every member (and its Grad-CAM) once, so that the first request does not pay for
        building the compiled functions."""
        from training import explain
        from training.inference import probabilities

        for m in self.ens.members:
            face = np.full((1, m.card.input_size, m.card.input_size), 128, np.uint8)
            probabilities(m.net, face)
            explain.gradcam(m.net, face, 0)

    def predict(self, data: bytes, name: str = "upload", explain: bool = False, explain_class: str | None = None,
                crops: bool = False) -> dict:
        if not data:
            raise BadImage(400, "the request has no image: send the image's bytes as the body, or as the "
                                "form field 'image'")
        if explain_class is not None and explain_class not in self.ens.classes:
            raise BadImage(400, f"no class {explain_class!r} to explain (the classes: {', '.join(self.ens.classes)})")
        t0 = time.perf_counter()
        with self._lock:
            try:
                r = photos.faces_in_photo(data, self.ens, self.finder, self.tta, name, self.limits.max_pixels)
            except TrainingError as exc:
                message = str(exc)
                status = 413 if message.startswith("too large") else 415 if message.startswith("not an image") else 400
                raise BadImage(status, f"{name}: {message}") from None
            faces = photos.face_records(r, self.ens.classes)
            if faces and (explain or crops):
                from training import explain as xai

                if explain:
                    wanted = [explain_class or f["label"] for f in faces]
                    maps = xai.ensemble_maps(self.ens, r.inputs, wanted, r.crops[0].shape[0])
                for i, f in enumerate(faces):
                    if crops:
                        f["crop"] = data_url(xai.png(np.repeat(r.crops[i][..., None], 3, axis=2)))
                    if explain:
                        f["explained"] = wanted[i]
                        f["explanation"] = data_url(xai.png(xai.overlay(r.crops[i], maps[i])))
        out = {"image": name, "width": r.width, "height": r.height, "model": self.ens.name,
               "classes": self.ens.classes, "faces": faces, "seconds": round(time.perf_counter() - t0, 4)}
        if not faces:
            out["note"] = "no face found (faces smaller than %d pixels are not looked for)" % self.finder.settings.min_face
        return out

"""`train suggest MODEL`: a trained model's class probabilities for catalog faces, stored in the
catalog (the labeler shows them, orders and filters by them), and the labels confident learning
finds likely wrong, flagged.

Faces the model trained on, or in a duplicate group with one (a stored group or identical pixels),
are stored as in-sample: their probabilities are not an out-of-sample guess, so they are never
checked. The check (training.confident) runs on the out-of-sample faces that carry a label: a face's
own label is its label, else its suggested label (what the labeler's Enter confirms), as the
labeler compares them. Faces a person confirmed are never flagged (a person checked that label);
the labeler's orders still rank them.

The cross-validation (training.crossval) stores its out-of-fold probabilities through the same
functions here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from curation.selection import SplitAssignment, check_names
from db.catalog import Catalog
from db.types import FaceFilter, FaceRow, ModelInfo, NewModel, NewPrediction, Status
from training import cache, confident, metrics, modelio
from training.errors import TrainingError

FACE_CHOICES = ("all", "labeled", "confirmed", "unreviewed")
REGISTERED_BY = "train suggest"  # a model registered by suggest, not by the fit that trained it here
NEAR_CHANCE_MARGIN = 0.05  # accuracy within 5 points of the majority label's share: warn that flags are noise


@dataclass
class CheckResult:
    """What storing and checking one model's predictions did."""

    model_id: int
    model_name: str
    kind: str
    stored: int  # predictions stored
    in_sample: int  # of them, faces the model trained on (or their duplicates)
    checked: int  # out-of-sample faces with a label the model knows
    issues: int  # of them, flagged as likely mislabeled
    estimated_errors: int  # off the diagonal of the calibrated confident joint
    method: str
    accuracy: float | None  # agreement of the checked faces' labels with the model's top class
    macro_f1: float | None
    thresholds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    majority_share: float | None = None  # of the checked faces, the share of the most common label

    def as_dict(self) -> dict:
        return {**{k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()},
                "near_chance": self.near_chance()}

    def near_chance(self) -> bool:
        """The model agrees with the labels hardly more often than always answering the most common
        label: its probabilities say little about a face, and its flags are mostly noise."""
        return self.accuracy is not None and self.majority_share is not None and \
            self.accuracy < self.majority_share + NEAR_CHANCE_MARGIN


def own_label(face: FaceRow) -> str | None:
    return face.label if face.label is not None else face.suggested_label


def mapped_labels(faces: Sequence[FaceRow], class_map: Mapping[str, str | None]) -> list[str | None]:
    """Each face's own label renamed by the map (None: no label, or dropped by the map)."""
    out = []
    for f in faces:
        own = own_label(f)
        out.append(class_map.get(own, own) if own is not None else None)
    return out


def check_model_classes(labels: Sequence[str | None], classes: Sequence[str], model_name: str) -> None:
    """Every label to check must be one of the model's classes; one it lacks is an error naming it."""
    missing = sorted({k for k in labels if k is not None} - set(classes))
    if missing:
        raise TrainingError(f"model {model_name} has no class {', '.join(map(repr, missing))} (its classes: "
                            f"{', '.join(classes)}); rename or drop the catalog's with --map "
                            f"{missing[0]}=CLASS or --map {missing[0]}=")


def require_labels(labels: Sequence[str | None], what: str) -> None:
    if not any(k is not None for k in labels):
        raise TrainingError(f"no face in {what} has a label (or a suggested label): the model's predictions are "
                            "checked against labels; label some faces first (`label`), or import a labeled dataset")


def choose_faces(catalog: Catalog, status: str, sources: tuple[str, ...] | None) -> list[FaceRow]:
    """The faces `train suggest MODEL` predicts: all not deleted, or those labeled, confirmed or unreviewed."""
    if status not in FACE_CHOICES:
        raise TrainingError(f"unknown --faces {status!r}; use one of: {', '.join(FACE_CHOICES)}")
    check_names(catalog, sources=sources)
    selection = {"all": None, "labeled": "labeled", "confirmed": "confirmed", "unreviewed": Status.UNREVIEWED.value}
    return list(catalog.iter_faces(FaceFilter(selection=selection[status], sources=sources)))


def register_for(catalog: Catalog, card: modelio.ModelCard) -> ModelInfo:
    """The catalog's row of a model directory: the one `train fit` registered, else a new one."""
    info = catalog.get_model(card.path)
    if info is None:
        params = {k: card.data[k] for k in ("arch", "input_size", "seed", "selection") if k in card.data}
        catalog.register_model(NewModel(name=card.name, path=str(card.path.resolve()), classes=card.classes,
                                        kind="model", params={**params, "registered_by": REGISTERED_BY},
                                        metrics={s: {"accuracy": d.get("accuracy"), "macro_f1": d.get("macro_f1")}
                                                 for s, d in card.data.get("metrics", {}).items()
                                                 if isinstance(d, dict)}))
        info = catalog.get_model(card.path)
    if list(info.classes) != card.classes:
        raise TrainingError(f"model {info.id} in {catalog.display} has classes {', '.join(info.classes)} but "
                            f"{card.path / modelio.CARD_FILE} names {', '.join(card.classes)}; retrain or re-register it")
    return info


def in_sample(catalog: Catalog, info: ModelInfo, card: modelio.ModelCard, faces: Sequence[FaceRow],
              hashes: Sequence[str]) -> np.ndarray:
    """Which faces the model trained on, or share a duplicate group or pixels with one.

    A face is a training face by its pixel hash at the model's input size (model.json's hashes:
    whichever catalog or file it trained on), or by id when `train fit` registered the model in this
    catalog (its ids are this catalog's)."""
    trained_hashes = card.training_hashes()
    direct = np.array([h in trained_hashes for h in hashes], dtype=bool)
    groups = {f.dup_group for f, d in zip(faces, direct) if d and f.dup_group is not None}
    pixels = {f.pixel_sha256 for f, d in zip(faces, direct) if d}
    if info.params.get("registered_by") != REGISTERED_BY:
        ids = sorted(card.training_ids())
        if ids:
            trained = catalog.faces_by_ids(ids)
            groups |= {f.dup_group for f in trained if f.dup_group is not None}
            pixels |= {f.pixel_sha256 for f in trained}
            direct |= np.isin(np.array([f.id for f in faces], dtype=np.int64), np.array(ids, dtype=np.int64))
    return direct | np.array([f.dup_group in groups or f.pixel_sha256 in pixels for f in faces], dtype=bool)


def store_and_check(catalog: Catalog, info: ModelInfo, faces: Sequence[FaceRow], probs: np.ndarray,
                    labels: Sequence[str | None], seen: np.ndarray, method: str = confident.DEFAULT_METHOD,
                    started: tuple[float, float] | None = None) -> CheckResult:
    """Store every face's probabilities under the model, run confident learning on the out-of-sample
    faces with a label, and flag its issues (replacing the model's earlier flags on these faces;
    its flags on other faces stay)."""
    classes = list(info.classes)
    catalog.store_predictions(info.id, [
        NewPrediction(f.id, {k: float(p) for k, p in zip(classes, row)}, in_sample=bool(s))
        for f, row, s in zip(faces, probs, seen)])
    stored = [f.id for f in faces]
    index = {k: i for i, k in enumerate(classes)}
    checked = np.array([k is not None and not s for k, s in zip(labels, seen)], dtype=bool)
    idx = np.flatnonzero(checked)
    result = CheckResult(info.id, info.name, info.kind, len(faces), int(seen.sum()), len(idx), 0, 0, method, None, None)
    if len(idx):
        y = np.array([index[labels[i]] for i in idx], dtype=np.int64)
        found = confident.find_issues(probs[idx], y, method)
        confirmed = np.array([faces[i].status is Status.CONFIRMED for i in idx], dtype=bool)
        flagged = idx[found.issues & ~confirmed]
        result.issues = catalog.mark_issues(info.id, [faces[i].id for i in flagged], among=stored)
        result.estimated_errors = found.estimated_errors()
        scores = metrics.scores(classes, y, probs[idx].argmax(axis=1))
        result.accuracy, result.macro_f1 = scores.accuracy, scores.macro_f1
        result.majority_share = float(np.bincount(y).max() / len(y))
        result.thresholds = {k: round(float(t), 4) for k, t in zip(classes, found.thresholds) if np.isfinite(t)}
    else:
        catalog.mark_issues(info.id, [], among=stored)
    catalog.optimize()  # a bulk load: fresh planner statistics, else a model order may read the wrong index
    if started is not None:
        result.seconds = time.perf_counter() - started[0]
        result.cpu_seconds = time.process_time() - started[1]
    return result


def suggest(catalog: Catalog, model_ref: str, status: str = "all", sources: tuple[str, ...] | None = None,
            class_map: Mapping[str, str | None] | None = None, tta: str = "flip",
            method: str = confident.DEFAULT_METHOD, use_cache: bool = True, bar=None,
            say=lambda text: None, classes: tuple[str, ...] | None = None) -> CheckResult:
    """Predict the chosen faces with MODEL (a directory, or a name or id in the catalog), store the
    probabilities and flag the likely mislabeled faces. classes: only faces whose own label (after
    the map) is one of these. say: a line of progress."""
    from training.inference import probabilities

    started = (time.perf_counter(), time.process_time())
    directory = modelio.resolve(model_ref, lambda r: _lookup(catalog, r))
    if (directory / "crossval.json").is_file():
        raise TrainingError(f"{directory} is a cross-validation run, not a model: its out-of-fold predictions are "
                            f"stored when it finishes (`train issues {directory}` lists its flags)")
    card = modelio.read_card(directory)
    faces = choose_faces(catalog, status, sources)
    where = ("the catalog" if status == "all" else f"the catalog's {status} faces") + \
        (f" from {', '.join(sources)}" if sources else "") + (f" labeled {', '.join(classes)}" if classes else "")
    labels = mapped_labels(faces, class_map or {})
    if classes:
        unknown = sorted(set(classes) - set(card.classes))
        if unknown:
            raise TrainingError(f"--classes: model {card.name} has no class {', '.join(map(repr, unknown))} "
                                f"(its classes: {', '.join(card.classes)})")
        kept = [i for i, k in enumerate(labels) if k in classes]
        faces, labels = [faces[i] for i in kept], [labels[i] for i in kept]
    if not faces:
        raise TrainingError(f"no faces to predict in {where} (see `curate stats`)")
    require_labels(labels, where)
    check_model_classes(labels, card.classes, card.name)
    net = modelio.load_keras(card)
    info = register_for(catalog, card)
    assignments = [SplitAssignment(face=f, label=k or "", split="train") for f, k in zip(faces, labels)]
    pixels = cache.selection_pixels(catalog, assignments, card.input_size, progress=bar, use_cache=use_cache)
    seen = in_sample(catalog, info, card, faces, pixels.hashes())
    say(f"predicting {len(faces):,} faces with {card.name}" + (f" (test-time augmentation: {tta})" if tta != "none" else ""))
    probs = probabilities(net, pixels.pixels, tta)
    return store_and_check(catalog, info, faces, probs, labels, seen, method, started)


def _lookup(catalog: Catalog, ref: str) -> str | None:
    info = catalog.get_model(int(ref) if ref.isdigit() else ref)
    if info is not None and info.kind != "model":
        raise TrainingError(f"{ref!r} is a {info.kind} run, not a model: `train suggest` predicts with one trained "
                            "model (`train issues` reads a run's flags)")
    return info.path if info is not None else None

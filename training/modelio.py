"""A model directory: model.keras (the network) and model.json (what it is, how it was made).

model.json holds the classes in output order, the input size and preprocessing, the architecture and
hyper-parameters, the seed, the selection spec with its snapshot hash and each split's face-id hash,
library versions, per-split metrics, training time and machine, and the training faces (ids and
pixel hashes) so that `compare` and `evaluate` can tell which faces a model has seen, whatever file
they come from. The summary is indented for people; the two long lists are one line each.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from training.errors import TrainingError

MODEL_FILE = "model.keras"
CARD_FILE = "model.json"
CARD_VERSION = 1
MARKER = "facecat_model"


def ids_sha256(ids) -> str:
    """The hash of a split: sha256 of its sorted face ids, comma-separated."""
    return hashlib.sha256(",".join(str(int(i)) for i in sorted(ids)).encode()).hexdigest()


@dataclass(frozen=True)
class ModelCard:
    path: Path  # the model directory
    data: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        return list(self.data["classes"])

    @property
    def input_size(self) -> int:
        return int(self.data["input_size"])

    @property
    def name(self) -> str:
        return self.data.get("name") or self.path.name

    def training_ids(self) -> set[int]:
        return set(self.data.get("training_faces", {}).get("ids", []))

    def training_hashes(self) -> set[str]:
        return set(self.data.get("training_faces", {}).get("pixel_hashes", []))


def write_card(directory: Path, data: dict[str, Any]) -> None:
    """model.json, atomically."""
    data = {MARKER: CARD_VERSION, **data}
    faces = data.pop("training_faces", None)
    text = json.dumps(data, indent=1, ensure_ascii=False, default=str)
    if faces is not None:
        lines = ",\n".join(f" {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in faces.items())
        text = text.removesuffix("\n}") + ',\n "training_faces": {\n' + lines + "\n }\n}"
    _atomic_write(directory / CARD_FILE, (text + "\n").encode("utf-8"))


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it private; model.json is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_card(directory: Path) -> ModelCard:
    path = directory / CARD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"no model at {directory} (no {CARD_FILE}); train one with `train fit --out {directory}`") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TrainingError(f"{path} is not readable as a facecat model description: {_one_line(exc)}") from None
    if not isinstance(data, dict) or MARKER not in data or not isinstance(data.get("classes"), list):
        raise TrainingError(f"{path} is not a facecat model description (no {MARKER!r} marker or classes)")
    return ModelCard(directory, data)


def resolve(model: str, lookup: Callable[[str], str | None] | None = None) -> Path:
    """A model directory from MODEL as given: a directory, its model.keras or model.json, or (through
    lookup, the catalog's models table) a model's name or id."""
    p = Path(model)
    if p.name in (MODEL_FILE, CARD_FILE) and p.parent.is_dir():
        return p.parent
    if p.is_dir():
        return p
    if p.exists():
        raise TrainingError(f"{model} is not a model directory (expected a folder with {MODEL_FILE} and {CARD_FILE})")
    found = lookup(model) if lookup is not None else None
    if found:
        return Path(found)
    raise TrainingError(f"no model {model!r}: not a directory" + (" nor a model in the catalog (see `train list`)" if lookup else ""))


def load_keras(card: ModelCard):
    """The Keras model of a card's directory; a missing or corrupt file is one clear line."""
    from training.tfenv import load

    keras = load().keras
    path = card.path / MODEL_FILE
    if not path.is_file():
        raise TrainingError(f"no {MODEL_FILE} in {card.path}: the model file is missing")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile.BadZipFile, KeyError...
        raise TrainingError(f"cannot read {path}: {_one_line(exc)} (the file is corrupt or not a Keras model)") from None
    out = model.outputs[0].shape[-1] if model.outputs else None
    if out != len(card.classes):
        raise TrainingError(f"{path} has {out} outputs but {CARD_FILE} names {len(card.classes)} classes")
    return model


def load(model: str, lookup: Callable[[str], str | None] | None = None):
    """(card, keras model) for MODEL (see resolve)."""
    card = read_card(resolve(model, lookup))
    return card, load_keras(card)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]

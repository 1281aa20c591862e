"""A model's id in a catalog: the one `train fit` registered, or registered now from its model.json
(a model trained on another catalog, used on this one)."""
from __future__ import annotations

from db.catalog import Catalog
from db.types import NewModel
from training.modelio import ModelCard


def model_id(catalog: Catalog, card: ModelCard) -> int:
    path = str(card.path.resolve())
    info = catalog.get_model(path)
    if info is not None:
        return info.id
    d = card.data
    return catalog.register_model(NewModel(
        name=card.name, path=path, classes=card.classes, kind="model",
        params={k: d[k] for k in ("arch", "parameters", "input_size", "hyper_parameters", "seed", "selection") if k in d},
        metrics=d.get("metrics", {})))

"""Several models used as one: their class probabilities averaged.

Every command that takes a MODEL takes an ensemble too (`predict`, `evaluate`, `compare`, `serve`):
one model is an ensemble of one. Classes are matched by name (members may order them differently;
the first member's order is the ensemble's); members must have the same classes. Each member sees
the faces at its own input size and with its own extractor settings (crop size and margin), so
a 48x48 and a 100x100 model can be averaged.

On a command line an ensemble is several MODEL arguments (`train evaluate a b c`), or one argument
joined with '+' (`train compare a b a+b`: two models and their ensemble).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from training import modelio
from training.errors import TrainingError
from training.inference import probabilities as model_probabilities

JOIN = "+"


@dataclass(frozen=True)
class Member:
    card: modelio.ModelCard
    net: Any  # the Keras model

    @property
    def extract(self) -> dict:
        """The extractor settings the model was trained with (ExtractSettings fields)."""
        return dict(self.card.data.get("preprocessing", {}).get("extract", {}))


class Ensemble:
    def __init__(self, members: Sequence[Member]):
        if not members:
            raise TrainingError("no model given")
        self.members = list(members)
        first = self.members[0].card
        self.classes = first.classes
        for m in self.members[1:]:
            if set(m.card.classes) != set(self.classes):
                missing = sorted(set(self.classes) - set(m.card.classes))
                extra = sorted(set(m.card.classes) - set(self.classes))
                what = "; ".join(p for p in (f"lacks {', '.join(missing)}" if missing else "",
                                             f"has {', '.join(extra)} too" if extra else "") if p)
                raise TrainingError(f"models {first.name} and {m.card.name} have different classes ({m.card.name} "
                                    f"{what}): an ensemble averages the same classes")
        # Column j of member i's output is the ensemble's class order[i][j].
        self._order = [np.array([m.card.classes.index(k) for k in self.classes]) for m in self.members]

    def __len__(self) -> int:
        return len(self.members)

    @property
    def cards(self) -> list[modelio.ModelCard]:
        return [m.card for m in self.members]

    @property
    def name(self) -> str:
        return JOIN.join(m.card.name for m in self.members)

    @property
    def single(self) -> bool:
        return len(self.members) == 1

    def probabilities(self, pixels_for: Callable[[Member], np.ndarray], tta: str = "none") -> np.ndarray:
        """(N, K) probabilities in the ensemble's class order: the mean of the members', each given
        its own faces by pixels_for(member) ((N, S, S) uint8 at the member's input size)."""
        total = None
        for m, order in zip(self.members, self._order):
            p = model_probabilities(m.net, pixels_for(m), tta)[:, order]
            total = p if total is None else total + p
        return (total / len(self.members)).astype(np.float32)

    def describe(self) -> dict:
        return {"name": self.name, "models": [str(c.path) for c in self.cards], "classes": self.classes,
                "input_sizes": [c.input_size for c in self.cards]}


def split_specs(specs: Sequence[str]) -> list[str]:
    """MODEL arguments as model references: 'a+b' is two (unless a path of that name exists)."""
    from pathlib import Path

    out: list[str] = []
    for spec in specs:
        if JOIN in spec and not Path(spec).exists():
            parts = [p for p in spec.split(JOIN) if p]
            if not parts:
                raise TrainingError(f"{spec!r} names no model")
            out += parts
        else:
            out.append(spec)
    return out


def load(specs: Sequence[str], lookup: Callable[[str], str | None] | None = None) -> Ensemble:
    """The ensemble of these MODEL arguments (directories, or names / ids through lookup)."""
    members = []
    for ref in split_specs(specs):
        card, net = modelio.load(ref, lookup)
        members.append(Member(card, net))
    return Ensemble(members)


def seen_in_training(faces, ens: Ensemble) -> np.ndarray:
    """Which faces of a FaceSet any member trained on (by catalog id, or by pixels at its size)."""
    from training import faces_in

    seen = np.zeros(len(faces), dtype=bool)
    for card in ens.cards:
        seen |= faces_in.seen_in_training(faces, card)
    return seen

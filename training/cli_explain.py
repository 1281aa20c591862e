"""`train explain MODEL`: Grad-CAM maps of catalog faces, stored in the catalog for the labeler."""
from __future__ import annotations

from contextlib import ExitStack

import click
import numpy as np

from db.cli import catalog_options, on_interrupt, print_json, progress, user_errors
from db.types import FaceFilter, NewExplanation
from training.cli_common import LazyCatalog, load_ensemble
from training.errors import TrainingError

BATCH = 256
SIDE = 100  # the stored picture's side (the labeler shows it at its crop's size)


@click.command(
    "explain",
    epilog="""\b
Examples:
  train explain models/fer --catalog ~/faces --face 12 --face 13
  train explain models/fer --catalog ~/faces --source fer2013 --limit 500
  train explain models/fer --catalog ~/faces --status unreviewed --class happy
\b
For each face: Grad-CAM on the model's last convolution for the class it predicts (or --class),
drawn over the face (red: what drove the decision most), stored in the catalog by model and face
(a second run replaces it). The labeler shows it beside the face (View > Explanation, or E).
Faces: the ones given with --face, else every face the filters select (not deleted ones).
""",
)
@click.version_option(package_name="facecat")
@click.argument("model")
@catalog_options
@click.option("--face", "faces", type=int, multiple=True, metavar="ID", help="This face (repeatable).")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Faces of this source (repeatable).")
@click.option("--label", "labels", multiple=True, metavar="CLASS", help="Faces with this label (repeatable).")
@click.option("--status", type=click.Choice(["labeled", "confirmed", "unreviewed", "uncertain"]),
              help="Faces of this selection.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N faces (the first by id).")
@click.option("--class", "explain_class", metavar="CLASS", help="Explain this class instead of the predicted one.")
@click.option("--json", "as_json", is_flag=True, help="Print what was stored as JSON.")
@user_errors
@on_interrupt("interrupted; the explanations stored so far are kept: run the same command again to finish")
def explain_command(model, catalog_location, store, faces, sources, labels, status, limit, explain_class,
                    as_json) -> None:
    """Store MODEL's explanation (a Grad-CAM map over the face) of catalog faces, for the labeler."""
    from training import explain
    from training.registry import model_id

    with ExitStack() as stack:
        lazy = LazyCatalog(catalog_location, store, stack)
        ens = load_ensemble([model], lazy)
        if not ens.single:
            raise TrainingError("explanations are stored per model: give one model (not an ensemble)")
        member = ens.members[0]
        card = member.card
        if explain_class and explain_class not in card.classes:
            raise TrainingError(f"--class {explain_class!r}: model {card.name} has no such class (its classes: "
                                f"{', '.join(card.classes)})")
        cat = lazy.get()
        if faces:
            ids = list(dict.fromkeys(faces))
            found = {r.id for r in cat.faces_by_ids(ids)}
            missing = [i for i in ids if i not in found]
            if missing:
                raise TrainingError(f"no face {missing[0]} in {cat.display}")
        else:
            ids = cat.face_ids(FaceFilter(selection=status, labels=tuple(labels) or None, sources=tuple(sources) or None))
        if limit:
            ids = ids[:limit]
        if not ids:
            raise TrainingError(f"no faces in {cat.display} match these filters")
        mid = model_id(cat, card)
        from training.inference import probabilities

        counts: dict[str, int] = {}
        stored = 0
        with progress(total=len(ids), desc="explaining", unit="face") as bar:
            for i in range(0, len(ids), BATCH):
                chunk = ids[i:i + BATCH]
                at_input = cat.crop_arrays(chunk, card.input_size)
                shown = cat.crop_arrays(chunk, SIDE)
                chunk = [f for f in chunk if f in at_input]
                pixels = np.stack([at_input[f] for f in chunk])
                if explain_class:
                    wanted = [card.classes.index(explain_class)] * len(chunk)
                else:
                    wanted = list(probabilities(member.net, pixels).argmax(axis=1))
                maps = explain.gradcam(member.net, pixels, wanted)
                rows = [NewExplanation(f, card.classes[k], explain.png(explain.overlay(shown[f], m)))
                        for f, k, m in zip(chunk, wanted, maps)]
                stored += cat.store_explanations(mid, rows)
                for r in rows:
                    counts[r.label] = counts.get(r.label, 0) + 1
                bar.update(len(chunk))
    if as_json:
        print_json({"model": str(card.path), "model_id": mid, "catalog": cat.display, "stored": stored,
                    "by_class": counts})
        return
    click.echo(f"stored {stored:,} explanation(s) by model {card.name} (id {mid}) in {cat.display} ("
               + ", ".join(f"{k} {n:,}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
               + "); the labeler shows them with View > Explanation (E)")

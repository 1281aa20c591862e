"""`train compare A B [...]`: models side by side on the same faces, none of which either trained on."""
from __future__ import annotations

from contextlib import ExitStack

import click
import numpy as np

from db.cli import catalog_options, print_json, user_errors
from training import metrics
from training.cli_common import LazyCatalog, echo_note, gather, input_options, load_ensemble
from training.ensemble import seen_in_training
from training.errors import TrainingError
from training.faces_in import check_classes
from training.inference import TTA_MODES


@click.command(
    "compare",
    epilog="""\b
Examples:
  train compare models/fer models/fer-nocw                    # the first model's test split
  train compare models/fer models/fer-nocw --split val --tta
  train compare models/a models/b models/c --folders ../shared/data/fer2013/test --json
  train compare models/fer 7 --csv fer2013.csv --usage PrivateTest
  train compare models/s0 models/s1 models/s0+models/s1 --folders ../shared/data/fer2013/test
\b
Faces any of the models trained on (by catalog id or by pixels, from each model.json) are left out
and counted, so no model is scored on what it learnt. --split uses the first model's selection.
A MODEL joined with '+' (a+b+c) is an ensemble: its members' probabilities averaged.
""",
)
@click.version_option(package_name="facecat")
@click.argument("models", nargs=-1, required=True)
@catalog_options
@input_options
@click.option("--tta", "tta", is_flag=False, flag_value="flip", default="none", type=click.Choice(TTA_MODES),
              metavar="[flip|flip+shifts]", help="Average over the face and its mirror (--tta), or also shifted copies.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@user_errors
def compare_command(models, catalog_location, store, split, sources, csv_path, usage, folders, crop, class_map, tta,
                    as_json) -> None:
    """Score MODELS (directories, or names or ids from `train list`, or ensembles a+b+c) on the same
    faces: accuracy, macro-F1, per-class recall, and how many faces they disagree on."""
    if len(models) < 2:
        raise click.UsageError("compare needs two or more models")
    with ExitStack() as stack:
        cat = LazyCatalog(catalog_location, store, stack)
        loaded = [load_ensemble([m], cat) for m in models]
        faces, note = gather(cat, loaded[0].cards[0], split, sources, csv_path, usage, folders, crop, class_map)
    echo_note(note)
    for ens in loaded:
        check_classes(faces, ens.cards[0])
    seen = np.zeros(len(faces), dtype=bool)
    refused = {}
    for ens in loaded:
        s = seen_in_training(faces, ens)
        refused[ens.name] = int(s.sum())
        seen |= s
    if seen.all():
        raise TrainingError(f"every one of the {len(faces):,} faces of {faces.description} was in a model's training "
                            "split; compare on faces none of them trained on (e.g. --split test or val)")
    if seen.any():
        echo_note(f"left out {int(seen.sum()):,} of {len(faces):,} faces that a model trained on ("
                  + ", ".join(f"{n}: {c:,}" for n, c in refused.items() if c) + f"); comparing on {int((~seen).sum()):,}")
        faces = faces.subset(~seen)
    rows, predicted = [], []
    for ens in loaded:
        p = ens.probabilities(lambda m: faces.pixels(m.card.input_size), tta)
        names = [ens.classes[i] for i in p.argmax(axis=1)]
        predicted.append(np.array(names))
        index = {k: i for i, k in enumerate(ens.classes)}
        s = metrics.scores(ens.classes, np.array([index[k] for k in faces.labels]), p.argmax(axis=1))
        rows.append((ens, s))
    disagree = np.zeros(len(faces), dtype=bool)
    for other in predicted[1:]:
        disagree |= other != predicted[0]
    classes = [k for k in rows[0][0].classes if k in set(faces.labels)]
    if as_json:
        print_json({"input": faces.description, "faces": len(faces), "left_out_trained_on": int(seen.sum()),
                    "tta": tta, "disagreements": int(disagree.sum()),
                    "models": [{"model": str(c.cards[0].path) if c.single else c.name, "accuracy": round(s.accuracy, 4), "macro_f1": round(s.macro_f1, 4),
                                "recall": {k: round(float(s.recall[c.classes.index(k)]), 4) for k in classes}}
                               for c, s in rows]})
        return
    click.echo(f"{len(faces):,} faces of {faces.description}" + (f", TTA {tta}" if tta != "none" else ""))
    width = max([len("model")] + [len(c.name) for c, _ in rows])
    click.echo(f"{'model':<{width}}  accuracy  macro-F1  " + "  ".join(f"{k[:8]:>8}" for k in classes))
    for c, s in rows:
        recalls = "  ".join(f"{s.recall[c.classes.index(k)]:>8.1%}" for k in classes)
        click.echo(f"{c.name:<{width}}  {s.accuracy:>8.1%}  {s.macro_f1:>8.3f}  {recalls}")
    click.echo("(per-class columns: recall)")
    click.echo(f"they disagree on {int(disagree.sum()):,} faces ({disagree.mean():.1%})")

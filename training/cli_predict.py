"""`train predict MODEL IMAGE...`: each face's class probabilities, and a picture of them."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from db.cli import UserError, catalog_options, print_json, user_errors
from training import plots
from training.cli_common import LazyCatalog, load_model
from training.cli_evaluate import plot_path
from training.errors import TrainingError
from training.inference import TTA_MODES


def _plot_target(plot: Path, image: Path, several: bool) -> Path:
    return plot.with_name(f"{plot.stem}-{image.stem}{plot.suffix}") if several else plot


@click.command(
    "predict",
    epilog="""\b
Examples:
  train predict models/fer photo.jpg
  train predict models/fer ../shared/data/photos/dlib/2008_002506.jpg --plot out.png
  train predict models/fer a.jpg b.png --plot faces.png --json     # faces-a.png, faces-b.png
\b
Faces are found and aligned by curation's extractor with the settings the model was trained with
(dlib HOG detector, 5 landmarks, 25% margin), so a photo's faces look like the training faces.
An image in which no face is found (or that cannot be read) is said on stderr; the others are
still done, and the command then exits 1.
""",
)
@click.version_option(package_name="facecat")
@click.argument("model")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@catalog_options
@click.option("--tta", "tta", is_flag=False, flag_value="flip", default="none", type=click.Choice(TTA_MODES),
              metavar="[flip|flip+shifts]", help="Average over the face and its mirror (--tta), or also shifted copies.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), callback=plot_path, metavar="FILE",
              help="Draw the photo with boxes and top labels beside each face's probabilities (one file per image: "
                   "FILE-<image>.png when there are several).")
@click.option("--json", "as_json", is_flag=True, help="Print the faces and probabilities as JSON.")
@user_errors
def predict_command(model, images, catalog_location, store, tta, plot, as_json) -> None:
    """Find the faces in IMAGE... and print each face's class probabilities."""
    from training.photos import faces_in_photo, finder_for

    with ExitStack() as stack:
        card, net = load_model(model, LazyCatalog(catalog_location, store, stack))
    finder = finder_for(card)
    results, failures = [], []
    for image in images:
        try:
            r = faces_in_photo(image, card, net, finder, tta)
        except TrainingError as exc:
            failures.append(str(exc))
            if len(images) > 1:
                click.echo(f"error: {exc}", err=True)
            continue
        faces = [{"bbox": list(b), "label": card.classes[int(p.argmax())], "confidence": round(float(p.max()), 4),
                  "probabilities": {k: round(float(v), 4) for k, v in zip(card.classes, p)}}
                 for b, p in zip(r.bboxes, r.probabilities)]
        results.append({"image": str(image), "faces": faces})
        if not faces:
            failures.append(f"{image}: no face found")
            if len(images) > 1:
                click.echo(f"error: {image}: no face found", err=True)
        if plot:
            target = _plot_target(plot, image, len(images) > 1)
            shown = [{"bbox": [v * r.scale for v in f["bbox"]], "probabilities": f["probabilities"]} for f in faces]
            plots.predictions(r.gray, shown, card.classes, target, f"{image.name}: {len(faces)} face(s), model {card.name}")
            click.echo(f"drawn to {target}", err=True)
        if not as_json:
            for i, f in enumerate(faces, 1):
                rest = ", ".join(f"{k} {v:.0%}" for k, v in sorted(f["probabilities"].items(), key=lambda kv: -kv[1])[1:4])
                click.echo(f"{image}: face {i} at {tuple(f['bbox'])}: {f['label']} {f['confidence']:.0%} ({rest})")
    if as_json:
        print_json({"model": str(card.path), "classes": card.classes, "images": results})
    if failures:
        raise UserError(failures[0] if len(images) == 1 else f"{len(failures)} of {len(images)} images gave no face")

"""`train export MODEL --tflite OUT.tflite [--int8]`: a model for small devices, checked on real faces."""
from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import click
import numpy as np

from db.cli import catalog_options, print_json, progress, user_errors
from training.cli_common import LazyCatalog, echo_note, load_model
from training.errors import TrainingError

CHECK_FACES = 4000  # held-out faces the export is checked on (all of FER2013's PublicTest)
REPRESENTATIVE_FACES = 300  # training faces that calibrate --int8


def _faces(cat: LazyCatalog, card, split: str, limit: int, seed: int = 0):
    from training import faces_in

    with progress(desc=f"decoding {split} faces", unit="face") as bar:
        faces, note = faces_in.from_catalog(cat.get(), card, split, None, bar)
    echo_note(note)
    if len(faces) > limit:
        keep = np.zeros(len(faces), dtype=bool)
        keep[np.random.default_rng(seed).choice(len(faces), limit, replace=False)] = True
        faces = faces.subset(keep)
    return faces


@click.command(
    "export",
    epilog="""\b
Examples:
  train export models/fer --tflite fer.tflite
  train export models/fer --tflite fer-int8.tflite --int8 --json
\b
The .tflite takes float32 pixels 0..255 shaped (1, S, S, 1) and gives the class probabilities;
OUT.json beside it names the classes and the input size. The export is run on up to 4,000 held-out
faces of the model's catalog selection and compared with the Keras model (largest difference);
--int8 calibrates on 300 training faces and reports accuracy before and after.
""",
)
@click.version_option(package_name="facecat")
@click.argument("model")
@catalog_options
@click.option("--tflite", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, metavar="OUT.tflite",
              help="The TensorFlow Lite file to write.")
@click.option("--int8", is_flag=True, help="Quantize weights and activations to 8 bits (4x smaller, faster on a Pi's CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@user_errors
def export_command(model, catalog_location, store, out, int8, as_json) -> None:
    """Export MODEL to TensorFlow Lite, checked against the Keras model on real faces."""
    from training import tflite
    from training.inference import probabilities

    with ExitStack() as stack:
        cat = LazyCatalog(catalog_location, store, stack)
        card, net = load_model(model, cat)
        split = "test" if (card.data.get("metrics", {}).get("test") or {}).get("faces") else "val"
        try:
            check = _faces(cat, card, split, CHECK_FACES)
            representative = _faces(cat, card, "train", REPRESENTATIVE_FACES, seed=1) if int8 else None
        except click.ClickException as exc:
            raise TrainingError(f"the export is checked on the model's catalog faces, and the catalog cannot be "
                                f"opened: {exc.format_message()}") from None
    pixels = check.pixels(card.input_size)
    content = tflite.convert(net, representative.pixels(card.input_size) if int8 else None)
    tflite.write(out, content)
    sidecar = out.with_suffix(".json")
    sidecar.write_text(json.dumps({"classes": card.classes, "input_size": card.input_size, "int8": int8,
                                   "input": "float32 (1, S, S, 1), grayscale pixels 0..255",
                                   "output": "float32 (1, K) probabilities, in the order of classes",
                                   "model": str(card.path)}, indent=1) + "\n", encoding="utf-8")
    index = {k: i for i, k in enumerate(card.classes)}
    y = np.array([index[k] for k in check.labels])
    keras_p = probabilities(net, pixels)
    lite_p = tflite.run(content, pixels)
    result = {
        "path": str(out), "bytes": len(content), "int8": int8, "checked_on": f"{len(y)} faces of {check.description}",
        "max_abs_difference": round(float(np.abs(keras_p - lite_p).max()), 6),
        "same_top_class": round(float((keras_p.argmax(1) == lite_p.argmax(1)).mean()), 4),
        "accuracy_keras": round(float((keras_p.argmax(1) == y).mean()), 4),
        "accuracy_tflite": round(float((lite_p.argmax(1) == y).mean()), 4),
    }
    if as_json:
        print_json(result)
        return
    click.echo(f"wrote {out} ({len(content) / 1024:.0f} KiB{', int8' if int8 else ''}) and {sidecar.name}")
    click.echo(f"checked on {result['checked_on']}: largest difference from Keras {result['max_abs_difference']:.2g}, "
               f"same top class for {result['same_top_class']:.1%}")
    click.echo(f"accuracy: Keras {result['accuracy_keras']:.1%}, TFLite {result['accuracy_tflite']:.1%}")

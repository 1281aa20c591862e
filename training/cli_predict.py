"""`train predict MODEL... IMAGE...`: each face's class probabilities, and a picture of them; with
--video or --camera, frame by frame (training/cli_video.py)."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from db.cli import UserError, catalog_options, print_json, user_errors
from training import plots
from training.cli_common import LazyCatalog, load_ensemble
from training.cli_evaluate import plot_path
from training.errors import TrainingError
from training.inference import TTA_MODES
from training.modelio import CARD_FILE, MODEL_FILE


def _plot_target(plot: Path, image: Path, several: bool) -> Path:
    return plot.with_name(f"{plot.stem}-{image.stem}{plot.suffix}") if several else plot


def _is_model(arg: str) -> bool:
    """A model directory (or its model.keras / model.json), or several joined with '+'."""
    parts = [arg] if Path(arg).exists() else arg.split("+")
    return all((Path(a) / CARD_FILE).is_file() or (Path(a).name in (MODEL_FILE, CARD_FILE) and Path(a).is_file())
               for a in parts if a)


def split_arguments(args: tuple[str, ...], video: bool) -> tuple[list[str], list[Path]]:
    """MODEL... IMAGE...: the first argument is a model (a directory, or a name or id from `train
    list`), and so is each next one that is a model directory; the rest are images. With --video or
    --camera every argument is a model."""
    if not args:
        raise click.UsageError("give a MODEL (and IMAGEs, or --video FILE, or --camera N)")
    if video:
        return list(args), []
    n = 1
    while n < len(args) and _is_model(args[n]):
        n += 1
    if n == len(args):
        raise click.UsageError("give IMAGEs after the MODEL (or --video FILE, or --camera N)")
    return list(args[:n]), [Path(a) for a in args[n:]]


@click.command(
    "predict",
    epilog="""\b
Examples:
  train predict models/fer photo.jpg
  train predict models/fer ../shared/data/photos/dlib/2008_002506.jpg --plot out.png --explain
  train predict models/fer a.jpg b.png --plot faces.png --json     # faces-a.png, faces-b.png
  train predict models/s0 models/s1 models/s2 photo.jpg           # an ensemble: probabilities averaged
  train predict models/fer --video clip.mp4 --out annotated.mp4 --csv timeline.csv --every 3
  train predict models/fer --camera 0 --show --to-catalog --catalog ~/faces
\b
Faces are found and aligned by curation's extractor with the settings the model was trained with
(dlib HOG detector, 5 landmarks, 25% margin), so a photo's faces look like the training faces.
An image in which no face is found (or that cannot be read) is said on stderr; the others are
still done, and the command then exits 1.
\b
Video (--video FILE or --camera N): faces are found on every K-th frame (--every) and carried
between (re-aligned in their box and classified on each frame); --out writes the video with each
face boxed and labeled, --csv a timeline (frame, time, face, box, probabilities), --show a live
window, --to-catalog the faces into the catalog (a source of kind video) with the model's class as
their suggested label, for review in `label`. Ctrl-C stops and keeps everything written so far.
""",
)
@click.version_option(package_name="facecat")
@click.argument("args", nargs=-1, metavar="MODEL... [IMAGE...]")
@catalog_options
@click.option("--tta", "tta", is_flag=False, flag_value="flip", default="none", type=click.Choice(TTA_MODES),
              metavar="[flip|flip+shifts]", help="Average over the face and its mirror (--tta), or also shifted copies.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), callback=plot_path, metavar="FILE",
              help="Draw the photo with boxes and top labels beside each face's probabilities (one file per image: "
                   "FILE-<image>.png when there are several).")
@click.option("--explain", is_flag=True, help="With --plot: each face's Grad-CAM map (what drove the decision) too.")
@click.option("--explain-class", "explain_class", metavar="CLASS",
              help="With --explain: the map for this class instead of the predicted one.")
@click.option("--json", "as_json", is_flag=True, help="Print the faces and probabilities as JSON.")
@click.option("--video", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="A video file: classify its faces frame by frame.")
@click.option("--camera", type=click.IntRange(min=0), metavar="N", help="Camera N (/dev/videoN): live.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Video: write the annotated video (.mp4, .avi, .mkv, .mov).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Video: write the timeline, one row per face per frame.")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True, metavar="K",
              help="Video: find faces on every K-th frame, carry them between.")
@click.option("--show", is_flag=True, help="Video: show the annotated frames in a window (q or Esc stops).")
@click.option("--frames", type=click.IntRange(min=1), metavar="N", help="Video: stop after N frames.")
@click.option("--to-catalog", "to_catalog", is_flag=True,
              help="Video: store the faces in the catalog (source of kind video) with the model's class as "
                   "their suggested label.")
@click.option("--interval", type=click.FloatRange(min=0), default=2.0, show_default=True, metavar="SECONDS",
              help="With --to-catalog: keep each face at most once per this many seconds.")
@user_errors
def predict_command(args, catalog_location, store, tta, plot, explain, explain_class, as_json, video, camera, out,
                    csv_path, every, show, frames, to_catalog, interval) -> None:
    """Find the faces in IMAGE... (or a video, or a camera's frames) and print each face's class
    probabilities. Several MODELs are one ensemble (their probabilities averaged)."""
    is_video = video is not None or camera is not None
    if video is not None and camera is not None:
        raise click.UsageError("give --video or --camera, not both")
    models, images = split_arguments(args, is_video)
    video_only = [n for n, v in (("--out", out), ("--csv", csv_path), ("--show", show), ("--frames", frames),
                                 ("--to-catalog", to_catalog)) if v]
    if video_only and not is_video:
        raise click.UsageError(f"{video_only[0]} goes with --video or --camera")
    if is_video and (plot or explain):
        raise click.UsageError("--plot and --explain go with images, not --video or --camera")
    if explain and not plot:
        raise click.UsageError("--explain goes with --plot (the maps are drawn beside the bars)")
    if explain_class and not explain:
        raise click.UsageError("--explain-class goes with --explain")
    with ExitStack() as stack:
        ens = load_ensemble(models, LazyCatalog(catalog_location, store, stack))
    if explain_class and explain_class not in ens.classes:
        raise TrainingError(f"--explain-class {explain_class!r}: the model has no such class (its classes: "
                            f"{', '.join(ens.classes)})")
    if is_video:
        from training import cli_video

        cli_video.run(ens, video, camera, out, csv_path, every, show, frames, to_catalog, catalog_location, store,
                      interval, tta, as_json)
        return
    _photos(ens, images, tta, plot, explain, explain_class, as_json)


def _photos(ens, images: list[Path], tta, plot, explain, explain_class, as_json) -> None:
    from training.photos import face_records, faces_in_photo, finder_for

    finder = finder_for(ens)
    results, failures = [], []
    for image in images:
        try:
            r = faces_in_photo(image, ens, finder, tta)
        except TrainingError as exc:
            failures.append(str(exc))
            if len(images) > 1:
                click.echo(f"error: {exc}", err=True)
            continue
        faces = face_records(r, ens.classes)
        results.append({"image": str(image), "faces": faces})
        if not faces:
            failures.append(f"{image}: no face found")
            if len(images) > 1:
                click.echo(f"error: {image}: no face found", err=True)
        if plot:
            target = _plot_target(plot, image, len(images) > 1)
            shown = [{"bbox": [v * r.scale for v in f["bbox"]], "probabilities": f["probabilities"]} for f in faces]
            pictures, explained = None, None
            if explain and faces:
                from training import explain as xai

                explained = [explain_class or f["label"] for f in faces]
                side = r.crops[0].shape[0]
                maps = xai.ensemble_maps(ens, r.inputs, explained, side)
                pictures = [xai.overlay(c, m) for c, m in zip(r.crops, maps)]
            plots.predictions(r.gray, shown, ens.classes, target,
                              f"{image.name}: {len(faces)} face(s), model {ens.name}", pictures, explained)
            click.echo(f"drawn to {target}", err=True)
        if not as_json:
            for i, f in enumerate(faces, 1):
                rest = ", ".join(f"{k} {v:.0%}" for k, v in sorted(f["probabilities"].items(), key=lambda kv: -kv[1])[1:4])
                click.echo(f"{image}: face {i} at {tuple(f['bbox'])}: {f['label']} {f['confidence']:.0%} ({rest})")
    if as_json:
        print_json({"model": str(ens.cards[0].path) if ens.single else ens.name,
                    **({} if ens.single else {"models": [str(c.path) for c in ens.cards]}),
                    "classes": ens.classes, "images": results})
    if failures:
        raise UserError(failures[0] if len(images) == 1 else f"{len(failures)} of {len(images)} images gave no face")

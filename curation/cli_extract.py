"""`curate extract`: find, align and crop the faces of the catalog's images."""
from __future__ import annotations

import os

import click

from curation.extract import ImageResult, run_extraction
from curation.pool import WorkersCannotStart
from curation.faces import ExtractSettings
from db.cli import (
    INTERRUPTED_KEPT, UserError, catalog_options, on_interrupt, open_for_command, print_json, progress, user_errors,
)
from db.executor import ExecutorSpec, connect, executor_option

DEFAULTS = ExtractSettings()


@click.command(
    "extract",
    epilog="""\b
Examples:
  curate extract                                  # every pending image, all cores
  curate extract --source "bing: angry human face" --workers 2
  curate extract --detector cnn --redo --margin 0.3 --json
  curate extract --query "sad face" --min-face 60 --size 128
  curate extract --executor ray:10.0.0.5:6379 --catalog postgresql+psycopg://me@db/faces \\
      --store s3://faces/blobs                    # on a Ray cluster (README "Past one machine")
""",
)
@catalog_options
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only images of this source (repeatable).")
@click.option("--query", "queries", multiple=True, metavar="TEXT", help="Only images of this search query (repeatable).")
@click.option("--detector", type=click.Choice(["hog", "cnn"]), default=DEFAULTS.detector, show_default=True,
              help="dlib's HOG frontal detector, or its MMOD CNN (slower, finds more turned faces).")
@click.option("--size", type=click.IntRange(16, 1024), default=DEFAULTS.size, show_default=True,
              help="Side of the square grayscale crop, in pixels.")
@click.option("--margin", "padding", type=click.FloatRange(0, 2), default=DEFAULTS.padding, show_default=True,
              help="Margin around the aligned face, as a fraction of the face's size.")
@click.option("--min-face", type=click.IntRange(8, None), default=DEFAULTS.min_face, show_default=True,
              help="Smallest face kept (side, original pixels); small photos are upsampled to find it.")
@click.option("--detect-mp", type=click.FloatRange(0.1, 50), default=DEFAULTS.detect_mp, show_default=True,
              help="Most megapixels the detector scans; larger photos are scaled down for detection.")
@click.option("--workers", type=click.IntRange(1, None), default=None,
              help="Processes (default: every core; with --executor ray, the cluster's CPUs).")
@executor_option
@click.option("--redo", is_flag=True,
              help="Extract again from every selected image; faces that overlap an old face keep its label.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@user_errors
@on_interrupt(INTERRUPTED_KEPT)
def extract(catalog_location, store, sources, queries, detector, size, padding, min_face, detect_mp,
            workers, executor: ExecutorSpec, redo, as_json) -> None:
    """Find faces in the catalog's images, align and crop them (grayscale, SIZE x SIZE).

    Only images not extracted yet are read (unless --redo), so a stopped run resumes where it
    stopped and a second run does nothing. An image without a face is marked no_face; one that
    cannot be decoded is marked unreadable with its reason, and the run goes on.
    """
    settings = ExtractSettings(detector=detector, size=size, padding=padding, min_face=min_face,
                               detect_mp=detect_mp)
    cluster = connect(executor)  # before the catalog: a cluster that cannot be reached changes nothing
    try:
        with open_for_command(catalog_location, store) as cat:
            summary = extract_with_progress(cat, settings, sources or None, queries or None, redo,
                                            workers or os.cpu_count(), cluster)
            if summary.images:
                cat.optimize()  # fresh planner statistics after a bulk load
    finally:
        if cluster:
            cluster.close()
    if as_json:
        print_json(summary.as_dict())
        return
    click.echo(
        f"{summary.images} images: {summary.faces} faces, {summary.no_face} without a face, "
        f"{summary.unreadable} unreadable ({summary.as_dict()['faces_per_second'] or 0} faces/s)"
    )
    if summary.extracted_elsewhere:
        click.echo(f"{summary.extracted_elsewhere} images were extracted meanwhile by another run (left as they were)")
    if redo:
        click.echo(f"labels kept: {summary.labels_kept}; labeled or reviewed faces not found again (kept as they were): {summary.labels_unmatched}")
    for path, reason in list(summary.errors.items())[:20]:
        click.echo(f"  unreadable {path}: {reason}")


def extract_with_progress(cat, settings, sources, queries, redo, workers, cluster=None):
    """run_extraction with a progress bar (images; faces, faces/s and workers in use in its postfix)."""
    with progress(total=None, desc="extract", unit="img") as bar:
        faces = 0
        total = 0

        def on_result(result: ImageResult) -> None:
            nonlocal faces
            faces += len(result.faces)
            bar.update(1)
            elapsed = bar.format_dict.get("elapsed") or 0
            in_use = cluster.workers_in_use() if cluster else min(workers, max(1, total - bar.n + 1))
            bar.set_postfix(faces=faces, faces_s=f"{faces / elapsed:.1f}" if elapsed else "-", workers=in_use,
                            refresh=False)

        def on_start(n: int) -> None:
            nonlocal total
            total = bar.total = n

        try:
            return run_extraction(cat, settings, sources, queries, redo, workers, on_result=on_result,
                                  on_start=on_start, cluster=cluster)
        except WorkersCannotStart as exc:
            raise UserError(f"{exc}; try --workers 1 to see why") from None

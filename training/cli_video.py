"""The video half of `train predict`: --video FILE or --camera N, frame by frame (see training/video.py)."""
from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import click

from db.cli import open_for_command, print_json, progress
from training.ensemble import Ensemble
from training.errors import TrainingError
from training.photos import finder_for


def run(ens: Ensemble, video: Path | None, camera: int | None, out: Path | None, csv_path: Path | None, every: int,
        show: bool, frames: int | None, to_catalog: bool, catalog_location, store, interval: float, tta: str,
        as_json: bool) -> None:
    from training import video as v

    if not (out or csv_path or show or to_catalog or as_json):
        raise click.UsageError("say what to make of the video: --out annotated.mp4, --csv timeline.csv, --show, "
                               "--to-catalog or --json")
    if csv_path is not None and not csv_path.parent.is_dir():
        raise TrainingError(f"{csv_path}: the folder {csv_path.parent} does not exist")
    finder = finder_for(ens)
    with ExitStack() as stack:
        src = v.VideoSource(video, camera)
        stack.callback(src.close)
        cat = stack.enter_context(open_for_command(catalog_location, store)) if to_catalog else None
        writer = v.VideoOut(out, src.fps, (src.width, src.height)) if out else None
        if writer:
            stack.callback(writer.close)
        timeline = v.Timeline(csv_path, ens.classes) if csv_path else None
        if timeline:
            stack.callback(timeline.close)
        window = None
        if show:
            from training.live import LiveWindow

            window = LiveWindow(f"facecat: {src.name}, {ens.name}")
            stack.callback(window.close)
        capture = None
        if cat is not None:
            from training.capture import CatalogCapture

            capture = CatalogCapture(cat, ens, finder.settings, src.name, str(Path(video).resolve()) if video else None,
                                     interval,
                                     {"every": every, "fps": src.fps})
        total = min(src.frames, frames) if src.frames and frames else (src.frames or frames or None)
        done, faces_seen, stopped = 0, 0, None
        t0 = time.perf_counter()
        bar = stack.enter_context(progress(total=total, desc=src.name, unit="frame"))
        try:
            for frame in v.frames_with_faces(src, ens, finder, every, tta, frames):
                done += 1
                faces_seen += len(frame.faces)
                drawn = v.annotate(frame, ens.classes) if (writer or window) else None
                if writer:
                    writer.write(drawn)
                if timeline:
                    timeline.write(frame)
                if capture:
                    capture.offer(frame)
                bar.update(1)
                if window and not window.show(drawn):
                    stopped = "the window was closed"
                    break
        except KeyboardInterrupt:
            stopped = "interrupted"
        seconds = time.perf_counter() - t0
        if stopped is None and src.cut_short():
            stopped = (f"the video ended after {src.read:,} of the {src.frames:,} frames its header announces "
                       "(damaged or cut short); what was read is kept")
            click.echo(f"warning: {src.name}: {stopped}", err=True)
        summary = capture.close() if capture else None
    fps = done / seconds if seconds > 0 else 0.0
    report = {"source": src.name, "frames": done, "seconds": round(seconds, 2), "fps": round(fps, 1),
              "every": every, "face_frames": faces_seen, "model": ens.name, "stopped": stopped,
              "out": str(out) if out else None, "csv": str(csv_path) if csv_path else None}
    if summary:
        report["catalog"] = {"source": summary.source, "source_id": summary.source_id, "frames": summary.frames,
                             "faces": summary.faces, "already_stored": summary.already, "model_id": summary.model_id,
                             "suggested": summary.by_label}
    if as_json:
        print_json(report)
        return
    click.echo(f"{src.name}: {done:,} frames in {seconds:.1f} s ({fps:.1f} frames/s, faces looked for on "
               + ("every frame" if every == 1 else f"1 frame in {every}") + f"), {faces_seen:,} face-frames"
               + (f"; stopped: {stopped}" if stopped else ""))
    for path, what in ((out, "annotated video"), (csv_path, "timeline")):
        if path:
            click.echo(f"{what}: {path}")
    if summary:
        labels = ", ".join(f"{k} {n}" for k, n in sorted(summary.by_label.items(), key=lambda kv: -kv[1]))
        click.echo(f"catalog: {summary.faces} face(s) from {summary.frames} frame(s) added to source "
                   f"{summary.source!r} (kind video)" + (f", suggested {labels}" if labels else "")
                   + (f"; {summary.already} frame(s) were stored already" if summary.already else "")
                   + "; review them with `label --status unreviewed`")

"""Frames per second of `train predict --video` at 640x480.

    .venv/bin/python bench/bench_video.py MODEL [--frames 300]

1. A 640x480 clip made from real photos (face_recognition's two_people.jpg, two faces, moving a
   pixel a frame; every 30 frames obama-480p.jpg, one face), mp4v, written by OpenCV.
2. `train predict MODEL --video CLIP --every K --out annotated.mp4 --csv timeline.csv --json` as a
   subprocess for K = 3 and 1: the command's own frames per second (reading, detecting or carrying,
   classifying, drawing, encoding and the timeline; TensorFlow's start and the model's loading are
   not in it), its wall clock, and the load average around it.
Goal (issue 11): at least 15 frames per second with --every 3. Results: bench/results/video.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
W, H = 640, 480


def make_clip(path: Path, frames: int, fps: int = 25) -> None:
    import cv2

    photos = SHARED / "photos" / "face_recognition" / "examples"
    scenes = [np.asarray(Image.open(photos / "two_people.jpg").convert("RGB").resize((W, 376))),
              np.asarray(Image.open(photos / "obama-480p.jpg").convert("RGB").resize((W, 360)))]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    for i in range(frames):
        src = scenes[1] if (i // 30) % 4 == 3 else scenes[0]
        frame = np.zeros((H, W, 3), np.uint8)
        dy = 20 + i % 30
        frame[dy:dy + src.shape[0]] = src[:H - dy]
        out.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    out.release()


def run(model: str, clip: Path, every: int, out_dir: Path) -> dict:
    load = os.getloadavg()
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "training.cli", "predict", model, "--video", str(clip), "--every", str(every),
                        "--out", str(out_dir / f"annotated-every{every}.mp4"), "--csv", str(out_dir / f"timeline-every{every}.csv"),
                        "--json"], cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    d = json.loads(r.stdout)
    return {"every": every, "frames": d["frames"], "fps": d["fps"], "loop_s": d["seconds"], "command_wall_s": round(wall, 1),
            "face_frames": d["face_frames"], "load_before": [round(x, 2) for x in load],
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "video")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    clip = a.out / "clip-640x480.mp4"
    make_clip(clip, a.frames)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "clip": f"{a.frames} frames, {W}x{H}",
              "model": a.model, "cpus": os.cpu_count(), "runs": [run(a.model, clip, k, a.out) for k in (3, 1)]}
    (a.out / "video.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Latency of `train serve`: a 1-megapixel photo with two faces, POST /predict, the model warm.

    .venv/bin/python bench/bench_serve.py MODEL [MODEL...] [--requests 50] [--ensemble]

1. The photo: face_recognition's two_people.jpg (MIT; two faces) scaled to 1.0 megapixels
   (1307x767, Lanczos), JPEG quality 90, so it is decoded, scanned and aligned at that size.
2. The real `train serve MODEL --port 0` as a subprocess (models loaded and warmed once); 5 warm-up
   requests, then --requests timed ones, one after another on a keep-alive connection (what a page
   or a script does): the wall clock of each, on the client, and the server's own time.
3. The same with ?explain=1 (Grad-CAM for each face), and, with --ensemble, all MODELs as one.
Goal (issue 11): median under 300 ms. Results: bench/results/serve.json.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
PHOTO = SHARED / "photos" / "face_recognition" / "examples" / "two_people.jpg"


def megapixel_photo() -> bytes:
    img = Image.open(PHOTO).convert("RGB")
    f = (1e6 / (img.width * img.height)) ** 0.5
    img = img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def serve(models: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", *models, "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    m = re.search(r"at (http://\S+/)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"train serve did not start: {line!r}")
    return proc, m.group(1)


def timed(url: str, data: bytes, n: int, query: str = "") -> dict:
    s = requests.Session()
    for _ in range(5):
        r = s.post(url + "predict" + query, data=data, timeout=60)
        r.raise_for_status()
    faces = len(r.json()["faces"])
    load = os.getloadavg()
    wall, server = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        r = s.post(url + "predict" + query, data=data, timeout=60)
        wall.append(time.perf_counter() - t0)
        server.append(r.json()["seconds"])
    ms = sorted(1000 * w for w in wall)
    return {"requests": n, "faces": faces, "median_ms": round(statistics.median(ms), 1),
            "p90_ms": round(ms[int(0.9 * (n - 1))], 1), "min_ms": round(ms[0], 1), "max_ms": round(ms[-1], 1),
            "server_median_ms": round(1000 * statistics.median(server), 1),
            "load_before": [round(x, 2) for x in load], "load_after": [round(x, 2) for x in os.getloadavg()]}


def run(models: list[str], data: bytes, n: int) -> dict:
    proc, url = serve(models)
    try:
        return {"models": models, "plain": timed(url, data, n), "explain": timed(url, data, n, "?explain=1")}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--ensemble", action="store_true", help="also all MODELs as one ensemble")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve.json")
    a = ap.parse_args()
    data = megapixel_photo()
    w, h = Image.open(io.BytesIO(data)).size
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "photo": f"{PHOTO.name} at {w}x{h}",
              "photo_bytes": len(data), "cpus": os.cpu_count(), "single": run(a.models[:1], data, a.requests)}
    if a.ensemble and len(a.models) > 1:
        result["ensemble"] = run(a.models, data, a.requests)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

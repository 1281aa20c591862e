"""A FER2013-format CSV written from real FER2013 faces round-trips through `curate import` and
`curate export --format csv` pixel for pixel, at 48x48, with its emotions and Usage."""
from __future__ import annotations

import csv
import hashlib

import numpy as np
from click.testing import CliRunner
from PIL import Image

from curation.cli import main

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _sample(root, per_class: int) -> list[tuple[int, np.ndarray]]:
    """(emotion, pixels) of the first files of each class, with no two alike (a duplicate group
    would be moved whole into one split, which a round trip must not test)."""
    seen, out = set(), []
    for emotion, name in enumerate(EMOTIONS):
        files = sorted((root / "train" / name).glob("*.jpg"))[: per_class * 2]
        for p in files:
            with Image.open(p) as img:
                a = np.asarray(img.convert("L"))
            key = hashlib.sha256(a.tobytes()).digest()
            if key not in seen and len([e for e, _ in out if e == emotion]) < per_class:
                seen.add(key)
                out.append((emotion, a))
    return out


def test_fer2013_csv_round_trips_pixel_exactly(shared_data, tmp_path):
    sample = _sample(shared_data / "fer2013", per_class=30)
    usages = ["Training", "PublicTest", "PrivateTest"]
    # FER2013's own order: all Training rows, then PublicTest, then PrivateTest.
    rows = sorted(((e, a, usages[i % 3]) for i, (e, a) in enumerate(sample)), key=lambda r: usages.index(r[2]))
    src = tmp_path / "fer2013.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["emotion", "pixels", "Usage"])
        for e, a, usage in rows:
            w.writerow([e, " ".join(map(str, a.ravel().tolist())), usage])

    cat = str(tmp_path / "catalog")
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--catalog", cat]).exit_code == 0
    res = runner.invoke(main, ["import", "fer2013", str(src), "--catalog", cat, "--workers", "1"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "export"
    res = runner.invoke(main, ["export", str(out), "--catalog", cat, "--format", "csv", "--split", "keep"])
    assert res.exit_code == 0, res.output

    with open(out / "fer2013.csv", newline="") as f:
        exported = list(csv.reader(f))
    assert len(exported) == len(rows) + 1 == 211
    for (e, a, usage), (emotion, pixels, usage_out) in zip(rows, exported[1:]):
        assert (int(emotion), usage_out) == (e, usage)
        assert np.array_equal(np.array(pixels.split(), dtype=np.uint8).reshape(48, 48), a)
    assert (out / "fer2013.csv").read_bytes() == src.read_bytes()

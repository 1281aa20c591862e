"""The demo's material on a machine without ../shared: photos installed packages ship, the variants the
demo makes of them, and its look-alike's per-query results (the whole demo is `bash scripts/demo`)."""
from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import demo_data  # noqa: E402


def test_the_packaged_portraits_are_real_photos_with_their_origin():
    pytest.importorskip("skimage", reason="the demo extra (scikit-image) is not installed")
    portraits = demo_data.package_portraits()
    assert set(portraits) == {"happy", "neutral"}
    for p in portraits.values():
        im = Image.open(io.BytesIO(p.data))
        assert min(im.size) >= 400 and "public domain" in p.what


def test_each_variant_is_other_bytes_of_the_same_photo():
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    photo = demo_data.Photo("x", demo_data._jpeg(picture), "a test picture")
    made = demo_data.variants(photo)
    assert len(made) == 9 and made[0] is photo
    assert len({hashlib.sha256(v.data).hexdigest() for v in made}) == 9
    assert len({v.name for v in made}) == 9 and all(v.name.startswith("x") for v in made)


def test_lfw_faces_are_written_as_small_grey_pngs(tmp_path):
    pytest.importorskip("skimage", reason="the demo extra (scikit-image) is not installed")
    assert demo_data.write_lfw_faces(tmp_path, n=5) == 5
    files = sorted(tmp_path.glob("*.png"))
    assert len(files) == 5
    im = Image.open(files[0])
    assert im.size == (25, 25) and im.mode == "L" and np.asarray(im).std() > 10


def test_a_fer2013_csv_sample_takes_n_rows_per_class_and_usage(tmp_path):
    src = tmp_path / "fer2013.csv"
    pixels = " ".join(["7"] * 2304)
    rows = [f"{i % 7},{pixels},{'PublicTest' if i % 5 == 0 else 'Training'}" for i in range(200)]
    src.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    out = demo_data.fer2013_sample(src, tmp_path / "sample", 3, 1)
    lines = out.read_text().splitlines()
    assert lines[0] == "emotion,pixels,Usage" and len(lines) - 1 == 7 * (3 + 1)


def test_the_demo_refuses_bad_options_in_one_line():
    for args, says in ((["--fer2013", "/nonexistent/fer"], "no such file or folder"),
                       (["--full", "--no-shared"], "--full needs FER2013")):
        r = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py"), *args], capture_output=True, text=True,
                           cwd=REPO, timeout=60)
        assert r.returncode == 1 and says in r.stderr and "Traceback" not in r.stderr


def test_the_demo_site_answers_each_query_with_its_photos():
    import demo

    photos = {label: [demo_data.Photo(f"{label}{i}", demo_data._jpeg(Image.new("RGB", (40, 30), (i * 40, 0, 0))), "t")
                      for i in range(2)] for label in demo.QUERIES}
    site = demo.look_alike(photos)
    with site.start() as server:
        for label, query in demo.QUERIES.items():
            page = requests.get(f"{server.url}/images/async", params={"q": query, "first": 1}, timeout=10).text
            assert all(site.full_url(e) in page for e in site.results(query))
            ok = [e for e in site.results(query) if e.kind == "ok"]
            assert [e.name for e in ok] == [p.name for p in photos[label]]
            assert requests.get(site.full_url(ok[0]), timeout=10).content == photos[label][0].data
            assert {e.kind for e in site.results(query)} == {"ok", "dead", "html", "dup"}

"""`scrape` as a user runs it: help, usage errors, one-line errors, JSON, resume, kill -9."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from db import open_catalog
from scraper.cli import main
from scraper.lookalike.bing import BingLookalike
from scraper.lookalike.server import make_image
from scraper.lookalike.site import Entry
from tests.scraper.waiting import wait_for

SCRAPE = str(Path(sys.executable).parent / "scrape")
N_IMAGES = 30


def gallery_app(delay: float = 0.0, hold: str | None = None):
    """A gallery page linking N_IMAGES full-size images; each image arrives in two halves `delay` apart.
    The image at `hold` waits between its halves until app.release is set. app.in_flight counts the
    image requests being answered, app.most the highest it reached."""
    images = {f"/img/{i}.jpg": make_image(100 + i, size=(200, 150)) for i in range(N_IMAGES)}
    page = "".join(f'<a href="{p}"><img src="/thumb{p}"></a>' for p in images).encode()
    lock = threading.Lock()

    def app(h):
        if h.route == "/gallery":
            h.send(200, b"<html><body>" + page + b"</body></html>")
        elif h.route in images:
            with lock:
                app.in_flight += 1
                app.most = max(app.most, app.in_flight)
            try:
                data = images[h.route]
                h.send_first_half(data)
                if h.route == hold:
                    app.release.wait(60)
                time.sleep(delay)
                h.wfile.write(data[len(data) // 2 :])
            finally:
                with lock:
                    app.in_flight -= 1
        else:
            h.send(404)

    app.in_flight = app.most = 0
    app.release = threading.Event()
    return app, images


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_help_shows_real_examples():
    r = run("--help")
    assert r.exit_code == 0
    assert "Examples:" in r.output and 'scrape "angry human face" --limit 200' in r.output
    assert "--base-url" in r.output and "--from-page" in r.output


@pytest.mark.parametrize("args", [
    [],  # no query
    ["x", "--engine", "altavista"],
    ["x", "--limit", "0"],
    ["x", "--base-url", "http://127.0.0.1:8000/images/search"],  # a path is not a base URL
    ["x", "--base-url", "ftp://127.0.0.1"],
    ["x", "--engine", "google", "--no-browser"],
    ["x", "--bogus"],
])
def test_bad_usage_exits_2(args):
    assert run(*args).exit_code == 2


def test_a_wrong_catalog_path_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "file").write_text("not a catalog")
    unreachable = ["--catalog", "postgresql+psycopg://u@127.0.0.1:9/x", "--store", str(tmp_path / "blobs")]
    for where in (["--catalog", str(tmp_path / "file")], unreachable):
        r = subprocess.run([SCRAPE, "angry face", *where], capture_output=True, text=True)
        assert r.returncode == 1, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "blobs").exists()  # a server that does not answer: no --store directory made


def test_scrape_creates_a_missing_catalog_and_says_so(serve, tmp_path):
    app, _ = gallery_app()
    server = serve(app)
    cat = tmp_path / "new"
    args = ("happy people", "--from-page", server.url + "/gallery", "--limit", "3", "--catalog", str(cat))
    r = run(*args)
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[0] == f"created a new catalog at {cat}"
    with open_catalog(cat) as c:
        assert c.stats()["images"] == 3
    r = run(*args)
    assert r.exit_code == 0 and "created" not in r.stderr
    # Browsing what was scraped only reads: a missing catalog is still an error.
    r = run("--view", str(tmp_path / "browse"), "--catalog", str(tmp_path / "none"))
    assert r.exit_code == 1 and r.stderr.startswith(f"error: no catalog at {tmp_path / 'none'}")
    assert not (tmp_path / "none").exists()


def test_an_unknown_label_is_refused(tmp_path):
    open_catalog(tmp_path / "cat", create=True).close()
    r = run("angry face", "--label", "furious", "--catalog", str(tmp_path / "cat"))
    assert r.exit_code == 1 and "unknown class 'furious'" in r.stderr


def test_from_page_json_summary_and_resume(serve, tmp_path):
    app, images = gallery_app()
    server = serve(app)
    cat = str(tmp_path / "cat")
    open_catalog(cat, create=True).close()
    args = ("happy people", "--from-page", server.url + "/gallery", "--catalog", cat, "--json")
    r = run(*args, "--limit", "10")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["found"] == 10 and out["outcomes"] == {"ok": 10}
    assert out["queries"][0]["label"] == "happy" and out["queries"][0]["engine"] == "page"
    r = run(*args)
    out = json.loads(r.stdout)
    assert out["queries"][0]["already_tried"] == 10 and out["outcomes"] == {"ok": N_IMAGES - 10}
    with open_catalog(cat) as c:
        assert c.stats()["images"] == N_IMAGES
        assert c.stats()["by_download"] == {"ok": N_IMAGES}
        assert len(c.sources()) == 2  # a source row per run


def test_text_output_names_each_outcome(serve, tmp_path):
    app, _ = gallery_app()
    server = serve(app)
    open_catalog(tmp_path / "cat", create=True).close()
    r = run("smiling person", "--from-page", server.url + "/gallery", "--limit", "3", "--catalog", str(tmp_path / "cat"))
    assert r.exit_code == 0, r.output
    assert '"smiling person": 3 found, 0 already tried, 3 fetched: ok 3' in r.stdout
    assert "suggested label: happy" in r.stdout and "total: 1 query, 3 found; ok 3" in r.stdout


def test_kill_9_mid_run_then_rerun_leaves_no_partial_file_and_no_duplicate_row(serve, tmp_path):
    app, images = gallery_app(delay=0.05, hold="/img/6.jpg")  # image 6 stays half sent until released
    server = serve(app)
    cat = tmp_path / "cat"
    open_catalog(cat, create=True).close()
    cmd = [SCRAPE, "kill test", "--from-page", server.url + "/gallery", "--catalog", str(cat), "--concurrency", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "SE_OFFLINE": "true"})
    try:
        with open_catalog(cat) as c:
            wait_for(lambda: sum(c.stats()["by_download"].values()) >= 4, "4 downloads")
        # Land inside a download: image 6's first half is in tmp/ until the test releases the rest.
        wait_for(lambda: any(cat.glob("tmp/*.part")), "a file in flight")
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        app.release.set()
    with open_catalog(cat) as c:
        killed = c.stats()
        assert 4 <= killed["images"] < N_IMAGES
        assert_store_is_sound(c)
        assert list(c.blobs.temp_dir().iterdir()), "the kill should land while files are in flight"
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "SE_OFFLINE": "true"})
    assert r.returncode == 0, r.stderr
    with open_catalog(cat) as c:
        s = c.stats()
        assert s["images"] == N_IMAGES
        assert sum(s["by_download"].values()) == N_IMAGES  # every URL recorded once, across both runs
        assert set(s["by_download"]) <= {"ok", "duplicate"}
        assert_store_is_sound(c)
        assert list(c.blobs.temp_dir().iterdir()) == []  # the killed run's partial file was cleaned up
        stored = {c.blobs.read(im.blob_path) for im in c.images_to_extract(redo=True)}
    assert stored == set(images.values())



def test_a_failing_query_is_reported_and_the_others_still_run(serve, tmp_path):
    site = BingLookalike([Entry(f"ok{i}") for i in range(5)])

    def app(h):
        if "broken" in h.params.get("q", ""):
            h.send(404, b"gone")
        else:
            site(h)

    server = serve(app)
    site.base = server.url
    cat = str(tmp_path / "cat")
    open_catalog(cat, create=True).close()
    r = run("broken face", "happy face", "--no-browser", "--base-url", server.url, "--catalog", cat, "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)  # the summary is printed all the same
    broken, happy = out["queries"]
    assert broken["error"].startswith(f"cannot fetch {server.url}/images/search?") and broken["error"].endswith("HTTP 404")
    assert broken["found"] == 0 and broken["outcomes"] == {}
    assert happy["error"] is None and happy["outcomes"] == {"ok": 5}
    assert r.stderr.strip().splitlines()[-1] == "error: 1 of 2 queries failed: broken face"
    with open_catalog(cat) as c:
        assert c.stats()["images"] == 5
    r = run("broken face", "happy face", "--no-browser", "--base-url", server.url, "--catalog", cat)
    assert r.exit_code == 1
    assert '"broken face": failed: ' in r.stderr and "HTTP 404" in r.stderr
    assert "total: 2 queries, 5 found" in r.stdout


def test_queries_with_the_same_folder_name_get_numbered_folders(serve, tmp_path):
    app, _ = gallery_app()
    server = serve(app)
    cat = str(tmp_path / "cat")
    open_catalog(cat, create=True).close()
    gallery = server.url + "/gallery"
    assert run("a", "--from-page", gallery, "--limit", "5", "--catalog", cat).exit_code == 0
    r = run("A!", "--from-page", gallery, "--catalog", cat)
    assert r.exit_code == 0, r.output
    assert "folder view: a_2/" in r.stdout
    view = tmp_path / "browse"
    r = run("--view", str(view), "--catalog", cat, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"a": {"folder": str(view / "a"), "images": 5},
                                    "A!": {"folder": str(view / "a_2"), "images": N_IMAGES - 5}}
    first, second = ({link.resolve() for link in (view / d).iterdir()} for d in ("a", "a_2"))
    assert len(first) == 5 and len(second) == N_IMAGES - 5 and not first & second
    # Asked for alone, "A!" keeps its folder.
    r = run("--view", str(view), "A!", "--catalog", cat)
    assert r.stdout.strip() == f"{view / 'a_2'}/: {N_IMAGES - 5} images"


def test_per_host_caps_parallel_downloads_from_one_host(serve, tmp_path):
    app, _ = gallery_app(delay=0.1)
    server = serve(app)
    cat = str(tmp_path / "cat")
    open_catalog(cat, create=True).close()
    r = run("per host", "--from-page", server.url + "/gallery", "--concurrency", "8", "--per-host", "2", "--catalog", cat)
    assert r.exit_code == 0, r.output
    assert 1 <= app.most <= 2
    assert run("x", "--per-host", "0").exit_code == 2


def assert_store_is_sound(c) -> None:
    """Every file in the store is complete (named by the sha256 of its bytes); every row has its file."""
    for path in (c.blobs.root / "images").rglob("*"):
        if path.is_file():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.stem, path
    for im in c.images_to_extract(redo=True):
        assert c.blobs.path(im.blob_path).is_file()

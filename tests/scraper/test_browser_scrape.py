"""Real headless Chromium, through Selenium, scraping local Bing, Google and DuckDuckGo look-alikes
with `scrape`."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from selenium.common.exceptions import WebDriverException

from db import open_catalog
from scraper.cli import main
from scraper.lookalike.bing import BingLookalike
from scraper.lookalike.duckduckgo import DuckDuckGoLookalike, vqd_for
from scraper.lookalike.google import GoogleLookalike
from scraper.lookalike.site import Entry
from tests.scraper.processes import cmdline_of, descendants
from tests.scraper.test_cli import SCRAPE, assert_store_is_sound
from tests.scraper.waiting import wait_for
from tests.signals import communicate_or_show_stacks, ctrl_c_reaches_the_child

pytestmark = pytest.mark.slow

ENTRIES = (
    [Entry(f"ok{i:02d}") for i in range(28)]
    + [Entry("photo-png", fmt="PNG"), Entry("photo-gif", fmt="GIF"), Entry("slow1", "slow"), Entry("slow2", "slow")]
    + [Entry("dead1", "dead"), Entry("dead2", "dead"), Entry("copy1", "dup", of="ok03"), Entry("copy2", "dup", of="slow1")]
    + [Entry("html1", "html"), Entry("html2", "html")]
)


@pytest.fixture
def mirror(serve):
    site = BingLookalike(ENTRIES)
    server = serve(site)
    site.base = server.url
    return site, server


def scrape(*args: str):
    return CliRunner().invoke(main, [*args, "--settle", "0.5"])


def test_chromium_scrapes_the_mirror_into_the_catalog(mirror, tmp_path):
    site, server = mirror
    cat_dir = tmp_path / "cat"
    open_catalog(cat_dir, create=True).close()
    r = scrape("angry human face", "--engine", "bing", "--base-url", server.url, "--catalog", str(cat_dir), "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    [q] = summary["queries"]
    assert q["found"] == len(ENTRIES) == 38
    assert q["label"] == "angry"
    assert q["outcomes"] == {"duplicate": 2, "http_error": 2, "not_image": 2, "ok": 32}
    # Batches of 12 loaded by the page's script: after the consent banner, by scrolling, then only
    # after "See more images" was pressed, then by scrolling again.
    batches = [h for h in server.hits if h.startswith("/images/async") and "%20" in h]
    assert [b.split("first=")[1].split("&")[0] for b in batches] == ["1", "13", "25", "37"]
    assert server.hits.index("/clicked-more") < server.hits.index(batches[2])
    with open_catalog(cat_dir) as cat:
        images = cat.images_to_extract(redo=True)
        stored = {cat.blobs.read(im.blob_path) for im in images}
        assert stored == site.expected_images()  # exactly the full-size images, no thumbnail, no junk
        assert len(images) == 32
        [source] = cat.sources()
        assert (source.kind, source.engine, source.query) == ("scrape", "bing", "angry human face")
        s = cat.stats()
        assert s["by_download"] == q["outcomes"]
    assert {im.suggested_label for im in images} == {"angry"}
    # Provenance, read straight from the database file (stages never do; a test may look).
    with sqlite3.connect(cat_dir / "catalog.sqlite") as db:
        row = db.execute("SELECT url, page_url, title, query, rank, http_status, content_type, width, height, format,"
                         " fetched_at, source_id FROM images WHERE url LIKE '%/ok05.jpg'").fetchone()
    assert row[:10] == (f"{server.url}/img/ok05.jpg", f"{server.url}/pages/ok05.html", "Result 6: ok05",
                        "angry human face", 6, 200, "image/jpeg", 64, 48, "JPEG")
    assert row[10] and row[11] == source.id


def test_second_run_resumes_and_view_folder_matches_the_catalog(mirror, tmp_path):
    site, server = mirror
    cat = str(tmp_path / "cat")
    open_catalog(cat, create=True).close()
    first = scrape("fearful face", "--base-url", server.url, "--catalog", cat, "--limit", "20", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["queries"][0]["found"] == 20
    hits_before = len([h for h in server.hits if h.startswith("/img/")])
    again = scrape("fearful face", "--base-url", server.url, "--catalog", cat, "--json")
    assert again.exit_code == 0, again.output
    [q] = json.loads(again.stdout)["queries"]
    assert q["found"] == 38 and q["already_tried"] == 20 and sum(q["outcomes"].values()) == 18
    fetched_twice = len([h for h in server.hits if h.startswith("/img/")]) - hits_before
    assert fetched_twice == 18  # only the new URLs were downloaded
    view = tmp_path / "browse"
    r = scrape("--view", str(view), "--catalog", cat)
    assert r.exit_code == 0, r.output
    links = sorted((view / "fearful_face").iterdir())
    with open_catalog(cat) as c:
        images = c.images_to_extract(redo=True)
    assert len(links) == len(images) == 32
    assert links[0].name.startswith("0001_") and links[0].is_symlink()
    for link in links:
        assert hashlib.sha256(link.read_bytes()).hexdigest()[:8] == link.name[5:13]


def test_a_page_without_results_is_saved_with_a_screenshot(serve, tmp_path):
    server = serve(lambda h: h.send(200, b"<html><body><h1>Please solve this captcha</h1></body></html>"))
    cat = tmp_path / "cat"
    open_catalog(cat, create=True).close()
    r = scrape("angry face", "--base-url", server.url, "--catalog", str(cat))
    assert r.exit_code == 1
    assert "No results: a captcha was shown" in r.stderr
    assert "layout changed, consent page, captcha" in r.stderr
    [debug] = (cat / "scrape-debug").iterdir()
    assert str(debug) in r.stderr
    assert "captcha" in (debug / "page.html").read_text()
    assert (debug / "screenshot.png").read_bytes().startswith(b"\x89PNG")
    assert r.stderr.strip().splitlines()[-1] == "error: no results for 1 of 1 queries: angry face"


def test_several_queries_share_one_browser_and_dry_run_writes_nothing(mirror, tmp_path, monkeypatch):
    site, server = mirror
    import scraper.cli as cli

    started = []
    real = cli.start_browser
    monkeypatch.setattr(cli, "start_browser", lambda headful: started.append(1) or real(headful))
    r = scrape("happy face", "sad face", "--base-url", server.url, "--limit", "5", "--dry-run", "--json",
               "--catalog", str(tmp_path / "nothing-here"))
    assert r.exit_code == 0, r.output
    queries = json.loads(r.stdout)["queries"]
    assert [(q["query"], q["label"], q["found"]) for q in queries] == [("happy face", "happy", 5), ("sad face", "sad", 5)]
    assert queries[0]["results"][0] == {"rank": 1, "url": site.full_url(ENTRIES[0]), "page_url": f"{server.url}/pages/ok00.html",
                                        "title": "Result 1: ok00"}
    assert len(started) == 1
    assert not (tmp_path / "nothing-here").exists()
    assert not [h for h in server.hits if h.startswith("/img/")]


def test_a_dry_run_saves_an_empty_page_under_the_catalogs_store(serve, tmp_path, monkeypatch):
    site = BingLookalike([])  # a search with no results
    server = site.start(serve)
    monkeypatch.chdir(tmp_path)
    r = scrape("angry face", "--base-url", server.url, "--dry-run", "--catalog", str(tmp_path / "cat"))
    assert r.exit_code == 1
    [debug] = (tmp_path / "cat" / "scrape-debug").iterdir()
    assert str(debug) in r.stderr and (debug / "page.html").is_file() and (debug / "screenshot.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat"]  # nothing in the working directory
    assert not (tmp_path / "cat" / "catalog.sqlite").exists()  # a dry run makes no catalog


def test_a_page_that_never_loads_fails_its_query_and_the_next_gets_a_fresh_browser(mirror, tmp_path, monkeypatch):
    site, server = mirror
    import scraper.cli as cli

    def app(h):
        if "stuck" in h.params.get("q", ""):
            time.sleep(6)  # past the page-load timeout below
        site(h)

    server.httpd.app = app
    started = []
    real = cli.start_browser
    monkeypatch.setattr(cli, "start_browser", lambda headful: started.append(1) or real(headful, page_load_timeout=2))
    cat = tmp_path / "cat"
    open_catalog(cat, create=True).close()
    r = scrape("stuck face", "happy face", "--base-url", server.url, "--limit", "5", "--catalog", str(cat), "--json")
    assert r.exit_code == 1
    stuck, happy = json.loads(r.stdout)["queries"]
    assert "timed out" in stuck["error"].lower() and stuck["found"] == 0
    assert happy["error"] is None and happy["outcomes"] == {"ok": 5}
    assert len(started) == 2  # the stuck browser was not reused
    assert r.stderr.strip().splitlines()[-1] == "error: 1 of 2 queries failed: stuck face"


def test_a_browser_that_fails_to_quit_still_lets_the_downloader_and_catalog_close(mirror, tmp_path, monkeypatch):
    site, server = mirror
    import scraper.cli as cli
    from db.catalog import Catalog
    from scraper.download import Downloader

    closed = []
    for cls in (Catalog, Downloader):
        monkeypatch.setattr(cls, "close", lambda self, real=cls.close, name=cls.__name__: closed.append(name) or real(self))
    real = cli.start_browser

    def crashing_quit_browser(headful):
        driver = real(headful)
        real_quit = driver.quit

        def quit():
            real_quit()  # really stop it, then report what a crashed Chromium reports
            raise WebDriverException("chrome not reachable")

        driver.quit = quit
        return driver

    monkeypatch.setattr(cli, "start_browser", crashing_quit_browser)
    cat = tmp_path / "cat"
    open_catalog(cat, create=True).close()
    closed.clear()
    r = scrape("happy face", "--base-url", server.url, "--limit", "3", "--catalog", str(cat))
    assert r.exit_code == 0, r.output
    assert "warning: Chromium did not stop cleanly" in r.stderr and "chrome not reachable" in r.stderr
    assert sorted(closed) == ["Catalog", "Downloader"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_chromium_and_chromedriver_and_leaves_a_sound_catalog(serve, tmp_path, sig):
    entries = [Entry(f"slow{i}", "slow") for i in range(6)] + [Entry(f"ok{i:02d}") for i in range(10)]
    site = BingLookalike(entries, slow_seconds=1.5)
    server = serve(site)
    site.base = server.url
    cat = tmp_path / "cat"
    open_catalog(cat, create=True).close()
    cmd = [SCRAPE, "angry face", "--base-url", server.url, "--catalog", str(cat), "--concurrency", "2", "--settle", "0.5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "SE_OFFLINE": "true"},
                            preexec_fn=ctrl_c_reaches_the_child)
    browser = {}
    try:
        wait_for(lambda: any(h.startswith("/img/") for h in server.hits) or proc.poll() is not None, "downloads to start")
        browser = {pid: cmd for pid, cmd in descendants(proc.pid).items() if "chrom" in cmd}
        assert any("chromedriver" in c for c in browser.values()) and any("--headless" in c for c in browser.values())
        proc.send_signal(sig)
        stderr = communicate_or_show_stacks(proc, timeout=60)[1].decode()
        assert "Traceback" not in stderr
        if sig == signal.SIGTERM:
            assert proc.returncode == 128 + signal.SIGTERM, stderr  # exited through SystemExit, finally blocks run
        else:
            assert proc.returncode == 1
            assert stderr.splitlines()[-1] == "error: interrupted; what was stored is kept: run the same command again to finish"
        wait_for(lambda: not [p for p, c in browser.items() if cmdline_of(p) == c], "Chromium and chromedriver to end",
                 seconds=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid, c in browser.items():  # what this test's run started and left behind
            if cmdline_of(pid) == c:
                os.kill(pid, signal.SIGKILL)
    with open_catalog(cat) as c:
        assert_store_is_sound(c)
        s = c.stats()
        assert s["images"] == s["by_download"].get("ok", 0) < len(entries)
        assert not list(c.blobs.temp_dir().glob("*.part"))  # downloads in flight were removed


def dry_run(engine: str, server_url: str, tmp_path: Path, *extra: str) -> list[dict]:
    r = scrape("angry face", "--engine", engine, "--base-url", server_url, "--dry-run", "--json",
               "--catalog", str(tmp_path / "nothing-here"), *extra)
    assert r.exit_code == 0, r.output
    [q] = json.loads(r.stdout)["queries"]
    return q["results"]


def test_chromium_passes_googles_consent_page_presses_show_more_and_reads_full_size_urls(serve, tmp_path):
    entries = [Entry(f"g{i:02d}") for i in range(60)]
    site = GoogleLookalike(entries)
    server = site.start(serve)
    results = dry_run("google", server.url, tmp_path)
    assert results == [{"rank": i + 1, "url": site.full_url(e), "page_url": site.page_url(i, e), "title": site.title(i, e)}
                       for i, e in enumerate(entries)]
    assert results[0]["url"] == f"{server.url}/img/g00.jpg?w=1200&id=g00"  # unescaped, not a gstatic thumbnail
    # The search page sent Chromium to the consent page; "Accept all" (set_eom=false) was posted.
    assert server.hits[0] == "/search?q=angry+face&tbm=isch&hl=en"
    assert server.hits[1].startswith("/m?continue=")
    [saved] = [h for h in server.hits if h.startswith("POST /save")]
    assert "set_eom=false" in saved
    batches = [h.rsplit("ijn:", 1)[1] for h in server.hits if "async=" in h]
    assert batches == ["2", "3", "4", "5"]
    clicks = [i for i, h in enumerate(server.hits) if h == "/clicked-more"]
    asked = {h.rsplit("ijn:", 1)[1]: i for i, h in enumerate(server.hits) if "async=" in h}
    assert len(clicks) == 2 and asked["2"] < clicks[0] < asked["3"] and asked["4"] < clicks[1] < asked["5"]


def test_chromium_stores_googles_full_size_images_with_page_and_title(serve, tmp_path):
    entries = [Entry(f"g{i:02d}") for i in range(8)] + [Entry("gone", "dead"), Entry("page", "html")]
    site = GoogleLookalike(entries)
    server = site.start(serve)
    cat_dir = tmp_path / "cat"
    open_catalog(cat_dir, create=True).close()
    r = scrape("happy face", "--engine", "google", "--base-url", server.url, "--catalog", str(cat_dir), "--json")
    assert r.exit_code == 0, r.output
    [q] = json.loads(r.stdout)["queries"]
    assert q["outcomes"] == {"http_error": 1, "not_image": 1, "ok": 8}
    with open_catalog(cat_dir) as cat:
        assert {cat.blobs.read(im.blob_path) for im in cat.images_to_extract(redo=True)} == site.expected_images()
    with sqlite3.connect(cat_dir / "catalog.sqlite") as db:
        row = db.execute("SELECT url, page_url, title, rank FROM images WHERE url LIKE '%/g03.jpg%'").fetchone()
    assert row == (site.full_url(entries[3]), site.page_url(3, entries[3]), site.title(3, entries[3]), 4)


def test_chromium_reads_duckduckgos_i_js_pages_in_order(serve, tmp_path):
    entries = [Entry(f"d{i:02d}") for i in range(25)]
    site = DuckDuckGoLookalike(entries)
    server = site.start(serve)
    results = dry_run("duckduckgo", server.url, tmp_path)
    assert results == [{"rank": i + 1, "url": site.full_url(e), "page_url": site.page_url(e), "title": site.title(i, e)}
                       for i, e in enumerate(entries)]
    assert server.hits[0] == "/?q=angry+face&iax=images&ia=images"
    vqd = vqd_for("angry face")
    first = f"/i.js?l=us-en&o=json&q=angry+face&vqd={vqd}&f=%2C%2C%2C%2C%2C&p=1"
    # The adapter's own requests (the page's script asks with ',' unescaped): the token, then `next`'s offsets.
    assert [h for h in server.hits if h.startswith("/i.js") and "%2C" in h] == [first, first + "&s=10", first + "&s=20"]
    # Fetched by the open search page itself, as its own script does: the page is the Referer
    # (the look-alike refuses i.js without one).
    assert {ref for h, ref in zip(server.hits, server.referers) if h.startswith("/i.js")} == {server.url + server.hits[0]}
    assert requests.get(server.url + first).status_code == 403


def test_duckduckgo_without_a_browser_gives_the_same_links(serve, tmp_path):
    entries = [Entry(f"d{i:02d}") for i in range(25)]
    site = DuckDuckGoLookalike(entries)
    server = site.start(serve)
    assert dry_run("duckduckgo", server.url, tmp_path, "--no-browser", "--limit", "15") == [
        {"rank": i + 1, "url": site.full_url(e), "page_url": site.page_url(e), "title": site.title(i, e)}
        for i, e in enumerate(entries[:15])]
    assert len([h for h in server.hits if h.startswith("/i.js")]) == 2  # stopped at the limit


@pytest.mark.parametrize("how", [[], ["--no-browser"]])
def test_a_further_result_page_that_fails_keeps_what_was_found_and_says_why(serve, tmp_path, how):
    entries = [Entry(f"d{i:02d}") for i in range(25)]
    site = DuckDuckGoLookalike(entries)

    def app(h):
        if h.route == "/i.js" and h.params.get("s") == "10":
            h.send(500, b"busy", "text/plain")
        else:
            site(h)

    server = serve(app)
    site.base = server.url
    r = scrape("angry face", "--engine", "duckduckgo", "--base-url", server.url, "--dry-run", "--json",
               "--catalog", str(tmp_path / "nothing-here"), *how)
    assert r.exit_code == 0, r.output
    [q] = json.loads(r.stdout)["queries"]
    assert [x["url"] for x in q["results"]] == [site.full_url(e) for e in entries[:10]]  # the first page's
    assert q["hint"].startswith(f"further results stopped: cannot fetch {server.url}/i.js?") and q["hint"].endswith("HTTP 500")
    r = scrape("angry face", "--engine", "duckduckgo", "--base-url", server.url, "--dry-run",
               "--catalog", str(tmp_path / "nothing-here"), *how)
    assert '"angry face": note: further results stopped: cannot fetch' in r.stderr and "10 found" in r.stdout

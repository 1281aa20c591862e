"""The downloader against a hostile local server: every URL ends in its recorded status, nothing
crashes, nothing invalid enters the catalog."""
from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import threading
import time
import zlib

import pytest
from PIL import Image

from db.types import DownloadStatus as S
from db.types import NewSource
from scraper.download import Downloader, Limits, clean_temp_dir, referer_for, retry_after_seconds
from scraper.engines.base import Result
from scraper.lookalike.server import make_image
from scraper.pipeline import QueryReport, fetch_into_catalog
from scraper.writer import Item
from tests.scraper.waiting import wait_for

FAST = Limits(connect_timeout=2, read_timeout=3, total_timeout=3, max_bytes=300_000, retries=1, backoff=0.05,
              max_retry_after=5, per_host=8)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height (a decompression bomb, never allocated)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def animated_gif() -> bytes:
    frames = [Image.new("P", (20, 20), i * 40) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


def noisy_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((256, 256), 80).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


SAME = make_image(7, "PNG")
FORMATS = {f: make_image(i + 20, f) for i, f in enumerate(["JPEG", "PNG", "WEBP", "BMP", "TIFF"])}


class Hostile:
    def __init__(self):
        self.times: dict[str, list[float]] = {}
        self.release = threading.Event()  # lets /stall.jpg send its second half

    def __call__(self, h) -> None:
        r = h.route
        self.times.setdefault(r, []).append(time.monotonic())
        if r.startswith("/fmt/"):
            h.send(200, FORMATS[r.removeprefix("/fmt/")], "image/" + r.removeprefix("/fmt/").lower())
        elif r == "/negotiated":  # a CDN that serves AVIF or SVG to whoever says it takes them
            accept = h.headers.get("Accept", "")
            if "image/avif" in accept or "image/svg+xml" in accept:
                h.send(200, b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>', "image/svg+xml")
            else:
                h.send(200, make_image(9, "WEBP"), "image/webp")
        elif r == "/hotlink-protected.jpg":  # only for visitors of the site's own pages
            if (h.headers.get("Referer") or "").startswith("http://photos.example/"):
                h.send(200, make_image(11), "image/jpeg")
            else:
                h.send(403, b"no hotlinking")
        elif r == "/anim.gif":
            h.send(200, animated_gif(), "image/gif")
        elif r == "/html-as-jpeg.jpg":
            h.send(200, b"<!DOCTYPE html><html><body>Forbidden</body></html>", "image/jpeg")
        elif r == "/json-as-jpeg.jpg":
            h.send(200, b'{"error": "rate limited"}', "image/jpeg")
        elif r == "/truncated.jpg":
            h.send(200, noisy_jpeg()[:6000], "image/jpeg")
        elif r == "/empty.jpg":
            h.send(200, b"", "image/jpeg")
        elif r == "/vector.svg":
            h.send(200, b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "image/svg+xml")
        elif r == "/bomb.png":
            h.send(200, png_declaring(30000, 30000), "image/png")
        elif r == "/endless.jpg":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Connection", "close")
            h.end_headers()
            while True:  # until the client hangs up
                h.wfile.write(b"\xff" * 65536)
        elif r == "/trickle.jpg":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", "100")
            h.end_headers()
            for _ in range(100):
                h.wfile.write(b"\xff")
                h.wfile.flush()
                time.sleep(1)
        elif r == "/trickle-headers.jpg":  # every byte in time for the read timeout, the headers never done
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Padding: ")
            for _ in range(300):
                h.wfile.write(b"a")
                h.wfile.flush()
                time.sleep(0.1)
        elif r in ("/loop-a", "/loop-b"):
            h.send(302, b"", headers={"Location": "/loop-b" if r == "/loop-a" else "/loop-a"})
        elif r == "/missing.jpg":
            h.send(404, b"not found")
        elif r == "/broken.jpg":
            h.send(500, b"oops")
        elif r == "/busy.jpg":  # 429 once, with Retry-After, then the image
            if len(self.times[r]) == 1:
                h.send(429, b"slow down", headers={"Retry-After": "1"})
            else:
                h.send(200, make_image(3), "image/jpeg")
        elif r == "/busy-forever.jpg":
            h.send(429, b"go away", headers={"Retry-After": "3600"})
        elif r in ("/same-1.png", "/same-2.png"):
            h.send(200, SAME, "image/png")
        elif r == "/slow-headers.jpg":  # the answer itself is late
            time.sleep(3)
            h.send(200, make_image(4), "image/jpeg")
        elif r == "/slow-503.jpg":  # late, and an error worth retrying
            time.sleep(0.7)
            h.send(503, b"busy")
        elif r == "/busy-2s.jpg":
            h.send(429, b"slow down", headers={"Retry-After": "2"})
        elif r == "/stall.jpg":  # half an image, then nothing until the test says so
            data = noisy_jpeg()
            h.send_first_half(data)
            self.release.wait(15)
            h.wfile.write(data[len(data) // 2 :])
        else:
            h.send(404)


EXPECTED = {
    "/fmt/JPEG": S.OK, "/fmt/PNG": S.OK, "/fmt/WEBP": S.OK, "/fmt/BMP": S.OK, "/fmt/TIFF": S.OK, "/anim.gif": S.OK,
    "/busy.jpg": S.OK, "/negotiated": S.OK,
    "/html-as-jpeg.jpg": S.NOT_IMAGE, "/json-as-jpeg.jpg": S.NOT_IMAGE, "/truncated.jpg": S.NOT_IMAGE,
    "/empty.jpg": S.NOT_IMAGE, "/vector.svg": S.NOT_IMAGE,
    "/bomb.png": S.TOO_LARGE, "/endless.jpg": S.TOO_LARGE,
    "/trickle.jpg": S.TIMEOUT,
    "/loop-a": S.NETWORK_ERROR,
    "/missing.jpg": S.HTTP_ERROR, "/broken.jpg": S.HTTP_ERROR, "/busy-forever.jpg": S.HTTP_ERROR,
}
REFUSED = ["file:///etc/passwd", "data:image/png;base64,iVBORw0KGgo=", "ftp://example.org/a.jpg", "javascript:alert(1)"]


@pytest.fixture
def hostile(serve):
    app = Hostile()
    server = serve(app)
    return server, app


def test_every_hostile_url_ends_in_its_status(hostile, tmp_path):
    server, app = hostile
    urls = [server.url + p for p in EXPECTED] + [server.url + "/same-1.png", server.url + "/same-2.png"] + REFUSED
    with Downloader(tmp_path, concurrency=8, limits=FAST) as dl:
        got = {f.url: f for f in dl.fetch_all(urls)}
    assert set(got) == set(urls)
    for path, status in EXPECTED.items():
        assert got[server.url + path].status == status, (path, got[server.url + path])
    for url in REFUSED:
        assert got[url].status == S.REFUSED_SCHEME
    assert got[server.url + "/missing.jpg"].http_status == 404
    assert got[server.url + "/broken.jpg"].http_status == 500
    assert got[server.url + "/busy-forever.jpg"].http_status == 429
    assert len(app.times["/broken.jpg"]) == 2  # retried once (Limits.retries), then given up
    assert len(app.times["/busy-forever.jpg"]) == 1  # an hour's Retry-After is not waited for
    first, second = app.times["/busy.jpg"]
    assert second - first >= 0.9  # Retry-After: 1 was honoured
    assert got[server.url + "/anim.gif"].format == "GIF"
    assert (got[server.url + "/fmt/TIFF"].width, got[server.url + "/fmt/TIFF"].height) == (64, 48)
    # Only complete, valid images are left on disk, each under the sha256 of its bytes.
    kept = {f.temp_path for f in got.values() if f.temp_path}
    assert kept == set(tmp_path.iterdir())
    for f in got.values():
        if f.temp_path:
            assert hashlib.sha256(f.temp_path.read_bytes()).hexdigest() == f.sha256


def test_hostile_urls_into_the_catalog(hostile, catalog):
    server, _ = hostile
    urls = [server.url + p for p in EXPECTED] + [server.url + "/same-1.png", server.url + "/same-2.png"] + REFUSED
    items = [Item(Result(u), rank, server.url + "/page") for rank, u in enumerate(urls, 1)]
    source_id = catalog.add_source(NewSource(kind="scrape", name="bing: x", query="x"))
    report = QueryReport(query="x", engine="bing", label=None, page_url=server.url, source_id=source_id)
    with Downloader(catalog.blobs.temp_dir(), concurrency=8, limits=FAST) as dl:
        fetch_into_catalog(catalog, items, report, dl)
    assert report.outcomes == {"duplicate": 1, "http_error": 3, "network_error": 1, "not_image": 5, "ok": 9,
                               "refused_scheme": 4, "timeout": 1, "too_large": 2}
    assert catalog.stats()["by_download"] == report.outcomes
    images = catalog.images_to_extract(redo=True)
    assert len(images) == 9 == catalog.stats()["images"]
    for im in images:  # every row points at a complete image whose bytes match its sha256
        data = catalog.blobs.read(im.blob_path)
        assert hashlib.sha256(data).hexdigest() == im.sha256
        Image.open(io.BytesIO(data)).load()
    assert list(catalog.blobs.temp_dir().iterdir()) == []
    # Run again: every URL was tried, none is fetched again.
    again = QueryReport(query="x", engine="bing", label=None, page_url=server.url, source_id=source_id)
    with Downloader(catalog.blobs.temp_dir(), concurrency=8, limits=FAST) as dl:
        fetch_into_catalog(catalog, items, again, dl)
    assert again.already_tried == len(urls) and again.outcomes == {}


# Default connect and read timeouts (10 s, 20 s): the total cap must bound them, and the retries.
CAPPED = Limits(total_timeout=1, retries=3, backoff=0.05)


@pytest.mark.parametrize("path", ["/slow-headers.jpg", "/slow-503.jpg", "/trickle.jpg", "/trickle-headers.jpg"])
def test_the_total_timeout_caps_headers_retries_and_body(hostile, tmp_path, path):
    server, app = hostile
    with Downloader(tmp_path, limits=CAPPED) as dl:
        started = time.monotonic()
        got = dl.fetch(server.url + path)
        elapsed = time.monotonic() - started
    assert got.status == S.TIMEOUT, got
    # A behaviour bound, not a speed target: the cap is 1 s; unbounded, these take 3 s, 4 x 0.7 s
    # plus backoff (then http_error), 100 s, or 30 s.
    assert elapsed < 5
    assert list(tmp_path.iterdir()) == []


def test_the_headers_deadline_holds_through_a_proxy(hostile, tmp_path, monkeypatch):
    server, _ = hostile
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, server.url)  # the hostile server answers proxied requests as its own
    with Downloader(tmp_path, limits=CAPPED) as dl:
        started = time.monotonic()
        got = dl.fetch("http://images.example/trickle-headers.jpg")
        elapsed = time.monotonic() - started
    assert got.status == S.TIMEOUT, got
    assert elapsed < 5  # a behaviour bound: unguarded, the headers trickle for 30 s
    assert server.hits == ["http://images.example/trickle-headers.jpg"]  # it did go through the proxy


def test_a_retry_after_longer_than_the_time_left_gives_up_at_once(hostile, tmp_path):
    server, app = hostile
    with Downloader(tmp_path, limits=CAPPED) as dl:
        got = dl.fetch(server.url + "/busy-2s.jpg")
    assert (got.status, got.http_status) == (S.HTTP_ERROR, 429)
    assert "no time left" in got.detail
    assert len(app.times["/busy-2s.jpg"]) == 1


def test_stopping_early_cancels_queued_downloads_and_removes_in_flight_files(hostile, tmp_path):
    server, app = hostile
    urls = [server.url + p for p in ("/fmt/JPEG", "/stall.jpg", "/fmt/PNG", "/fmt/BMP")]
    with Downloader(tmp_path, concurrency=1, limits=Limits(retries=0)) as dl:
        results = dl.fetch_all(urls)
        first = next(results)
        assert first.status == S.OK
        first.temp_path.unlink()
        wait_for(lambda: list(tmp_path.iterdir()), "the stalled download's file")
        results.close()  # what Ctrl-C or SIGTERM does to the loop; must not wait for the stalled body
        assert "/fmt/PNG" not in app.times and list(tmp_path.iterdir())  # still stalled, nothing queued started
        app.release.set()
        wait_for(lambda: not list(tmp_path.iterdir()), "the in-flight file to be removed")
    assert "/fmt/PNG" not in app.times and "/fmt/BMP" not in app.times



def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past: go now
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_clean_temp_dir_removes_dead_runs_leftovers_only(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its pid names no live process
    (tmp_path / f"scrape-{dead.pid}-abc.part").write_bytes(b"half")
    (tmp_path / f"scrape-{os.getpid()}-def.part").write_bytes(b"in flight")
    assert clean_temp_dir(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == [f"scrape-{os.getpid()}-def.part"]


def test_an_image_is_asked_for_with_its_own_page_as_referer(hostile, catalog):
    server, _ = hostile
    source_id = catalog.add_source(NewSource(kind="scrape", name="bing: x", query="x"))
    search_page = server.url + "/images/search?q=x"
    for page, outcome in ((None, {"http_error": 1}), ("http://photos.example/gallery/7", {"ok": 1})):
        # Without the image's own page the item's page is the search page: never sent as Referer.
        url = f"{server.url}/hotlink-protected.jpg?page={bool(page)}"  # a fresh URL: tried ones are skipped
        report = QueryReport(query="x", engine="bing", label=None, page_url=search_page, source_id=source_id)
        with Downloader(catalog.blobs.temp_dir(), limits=FAST) as dl:
            fetch_into_catalog(catalog, [Item(Result(url, page_url=page), 1, page or search_page)], report, dl)
        assert report.outcomes == outcome


def test_a_page_url_that_is_no_valid_header_is_sent_percent_encoded(hostile, tmp_path):
    server, _ = hostile
    pages = {f"{server.url}/hotlink-protected.jpg?{i}": page for i, page in enumerate((
        "http://photos.example/ギャラリー/7",  # beyond Latin-1: http.client cannot encode it raw
        "http://photos.example/a\r\nX-Injected: 1",  # a line break would end the header
    ))}
    with Downloader(tmp_path, limits=FAST) as dl:
        got = list(dl.fetch_all(pages, pages))
    assert [f.status for f in got] == [S.OK, S.OK]


def test_the_referer_is_what_a_browser_showing_the_page_would_send():
    page = "https://photos.example/gallery/7?x=1#top"
    assert referer_for(page, "https://photos.example/img/1.jpg") == "https://photos.example/gallery/7?x=1"
    assert referer_for(page, "https://cdn.example/1.jpg") == "https://photos.example/"  # another origin: origin only
    assert referer_for(page, "http://photos.example/1.jpg") is None  # https to http: nothing
    assert referer_for("http://photos.example/ギャラリー", "http://photos.example/1.jpg") == (
        "http://photos.example/%E3%82%AE%E3%83%A3%E3%83%A9%E3%83%AA%E3%83%BC")
    assert referer_for(None, "https://cdn.example/1.jpg") is None
    assert referer_for("file:///etc/passwd", "https://cdn.example/1.jpg") is None

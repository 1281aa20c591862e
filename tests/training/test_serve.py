"""`train serve`: the real command on 127.0.0.1, its JSON API against `train predict`, bad input and
hostile clients (the server stays up), and the page in a real headless Chromium."""
from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import requests

from tests.training.conftest import invoke
from training.cli import main as train

pytestmark = pytest.mark.slow
os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never goes to the network

REPO = Path(__file__).resolve().parents[2]
LIMIT_MB, BODY_TIMEOUT, HEADER_TIMEOUT = 2, 3, 2


def start_server(model, *extra) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", str(model), "--port", "0", *map(str, extra)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()  # blocks until the models are loaded and the port is bound
    m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
    if m is None:
        proc.kill()
        raise AssertionError(f"train serve did not start: {line!r} {proc.stderr.read()}")
    return proc, m.group(1)


@pytest.fixture(scope="module")
def server(trained):
    proc, url = start_server(trained[0], "--max-upload-mb", LIMIT_MB, "--body-timeout", BODY_TIMEOUT,
                             "--header-timeout", HEADER_TIMEOUT)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def photo(shared_data, name="two_people.jpg") -> Path:
    return shared_data / "photos" / "face_recognition" / "examples" / name


def predicted(model, path) -> list[dict]:
    r = invoke(train, ["predict", model, path, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["images"][0]["faces"]


def up(url) -> bool:
    return requests.get(url + "health", timeout=10).json() == {"ok": True}


def test_the_api_gives_what_predict_gives(server, trained, shared_data):
    for name in ("two_people.jpg", "lin-manuel-miranda.png"):  # a JPEG, and a PNG with alpha
        path = photo(shared_data, name)
        expected = predicted(trained[0], path)
        r = requests.post(server + "predict", data=path.read_bytes(), timeout=60)
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["faces"] == expected and len(expected) >= 1
        assert (d["width"], d["height"]) == __import__("PIL.Image", fromlist=["Image"]).open(path).size
    path = photo(shared_data)
    r = requests.post(server + "predict?explain=1&crops=1", files={"image": (path.name, path.read_bytes(), "image/jpeg")},
                      timeout=60)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["image"] == "two_people.jpg"
    for f, e in zip(d["faces"], predicted(trained[0], path)):
        assert f["probabilities"] == e["probabilities"] and f["explained"] == e["label"]
        assert f["explanation"].startswith("data:image/png;base64,") and f["crop"].startswith("data:image/png;base64,")
    r = requests.post(server + "predict?class=sad", data=path.read_bytes(), timeout=60)
    assert {f["explained"] for f in r.json()["faces"]} == {"sad"}
    info = requests.get(server + "api", timeout=10).json()
    assert info["classes"] == d["classes"] and info["limits"]["max_body_bytes"] == LIMIT_MB * 2**20


def tiny_png_header(width: int, height: int) -> bytes:
    """A PNG that says it is width x height (one row of data): refused from its header alone."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) + chunk(b"IEND", b"")


def test_bad_input_gets_a_clear_answer(server, shared_data):
    cases = [
        (b"hello, not an image", 415, "not an image"),
        (b"", 400, "the request has no image"),
        (tiny_png_header(9000, 9000), 413, "too large: 9000x9000 pixels is over the cap of 80,000,000"),
        (photo(shared_data).read_bytes()[:3000], 400, "cannot decode"),  # a JPEG cut short
    ]
    for body, status, message in cases:
        r = requests.post(server + "predict", data=body, timeout=30)
        assert (r.status_code, r.headers["content-type"]) == (status, "application/json"), r.text
        assert message in r.json()["error"]
    r = requests.post(server + "predict", data=(shared_data / "photos" / "dlib" / "dogs.jpg").read_bytes(), timeout=60)
    assert r.status_code == 200 and r.json()["faces"] == [] and "no face found" in r.json()["note"]
    r = requests.post(server + "predict?class=bored", data=photo(shared_data).read_bytes(), timeout=30)
    assert r.status_code == 400 and "no class 'bored'" in r.json()["error"]
    r = requests.post(server + "predict", data=b"x" * (LIMIT_MB * 2**20 + 1), timeout=30)
    assert r.status_code == 413 and "the limit is 2,097,152" in r.json()["error"]
    r = requests.post(server + "predict", files={"other": ("a.txt", b"text", "text/plain")}, timeout=30)
    assert r.status_code == 415  # the form's only file is not an image
    r = requests.post(server + "predict", files={"image": (None, "just a field")}, timeout=30)  # multipart, no file
    assert r.status_code == 400 and "the form has no file" in r.json()["error"]
    # The wrong content type: a form that is not one, JSON instead of an image.
    r = requests.post(server + "predict", data=photo(shared_data).read_bytes(), headers={"Content-Type": "multipart/form-data"},
                      timeout=30)
    assert r.status_code == 400 and "the form cannot be read" in r.json()["error"]
    r = requests.post(server + "predict", json={"image": "two_people.jpg"}, timeout=30)
    assert r.status_code == 415 and "not an image" in r.json()["error"]
    # curl --data-binary says application/x-www-form-urlencoded: the bytes decide, not the label.
    r = requests.post(server + "predict", data=photo(shared_data).read_bytes(),
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
    assert r.status_code == 200 and len(r.json()["faces"]) == 2
    # Starlette's own refusals, in the API's shape.
    r = requests.get(server + "predict", timeout=10)
    assert r.status_code == 405 and "GET is not allowed on /predict" in r.json()["error"]
    r = requests.post(server + "predcit", data=b"x", timeout=10)
    assert r.status_code == 404 and "no such page: /predcit" in r.json()["error"]
    assert up(server)


def raw(url: str) -> socket.socket:
    host, port = url.split("//")[1].strip("/").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def answer(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def test_a_body_that_never_ends_is_cut_off(server):
    # Chunked, without a length, forever: refused at the size limit.
    s = raw(server)
    s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    sent, t0 = 0, time.monotonic()
    try:
        while sent < 8 * LIMIT_MB * 2**20 and time.monotonic() - t0 < 60:
            s.sendall(b"10000\r\n" + b"\0" * 0x10000 + b"\r\n")
            sent += 0x10000
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed
    reply = answer(s)
    s.close()
    assert reply.startswith(b"HTTP/1.1 413") and b"over the limit" in reply
    assert sent < 4 * LIMIT_MB * 2**20  # it did not read all we had
    # A length, and then too little, too slowly: refused at the deadline.
    s = raw(server)
    s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"\0" * 1000)
    t0 = time.monotonic()
    reply = answer(s)
    took = time.monotonic() - t0
    s.close()
    assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive within 3 s (1,000 bytes came)" in reply
    assert BODY_TIMEOUT - 0.5 < took < BODY_TIMEOUT + 10
    assert up(server)


def test_slowloris_clients_are_closed_and_others_served(server, shared_data):
    slow = [raw(server) for _ in range(30)]
    head = b"GET /api HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n"
    t0 = time.monotonic()
    closed: set[int] = set()
    served = None
    for i in range(len(head)):
        for n, s in enumerate(slow):
            if n in closed:
                continue
            try:
                s.sendall(head[i:i + 1])
            except OSError:
                closed.add(n)
        if served is None:  # meanwhile, an ordinary client is answered at once
            t = time.monotonic()
            assert requests.post(server + "predict", data=photo(shared_data).read_bytes(), timeout=30).status_code == 200
            served = time.monotonic() - t
        if len(closed) == len(slow) or time.monotonic() - t0 > HEADER_TIMEOUT + 15:
            break
        time.sleep(0.25)
    for n, s in enumerate(slow):
        s.settimeout(HEADER_TIMEOUT + 5)
        if n not in closed and answer(s) == b"":  # closed by the server, with nothing said
            closed.add(n)
        s.close()
    assert len(closed) == len(slow) and time.monotonic() - t0 < HEADER_TIMEOUT + 25
    assert served < 10
    assert up(server)


def test_it_binds_to_localhost_and_says_when_the_port_is_taken(trained, server):
    port = int(server.rstrip("/").rsplit(":", 1)[1])
    r = subprocess.run([sys.executable, "-m", "training.cli", "serve", str(trained[0]), "--port", str(port)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in r.stderr and "--port" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_corrupt_or_missing_model_is_one_line(model_copy, tmp_path):
    (model_copy / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    for models, message in (([model_copy], "cannot read"), ([tmp_path / "nowhere"], "no model")):
        r = subprocess.run([sys.executable, "-m", "training.cli", "serve", *map(str, models), "--port", "0"],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
        assert r.stdout == ""  # it never said it was serving


def test_the_page_in_chromium(server, trained, shared_data, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from scraper.browser import start_browser

    path = photo(shared_data)
    expected = predicted(trained[0], path)
    d = start_browser()
    try:
        d.get(server)
        assert "JSON API" in d.page_source and "POST /predict" in d.find_element(By.CSS_SELECTOR, ".api").text
        d.find_element(By.ID, "file").send_keys(str(path))
        wait = WebDriverWait(d, 60)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".face")) == len(expected))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#boxes .box")) == len(expected))
        assert f"two_people.jpg: {len(expected)} faces" in d.find_element(By.ID, "status").text
        for card, face in zip(d.find_elements(By.CSS_SELECTOR, ".face"), expected):
            assert card.get_attribute("data-bbox") == ",".join(map(str, face["bbox"]))
            assert card.find_element(By.CSS_SELECTOR, "h3 .label").text == face["label"]
            rows = card.find_elements(By.CSS_SELECTOR, ".bar-row")
            assert [r.get_attribute("data-class") for r in rows] == list(face["probabilities"])
            for row in rows:
                p = face["probabilities"][row.get_attribute("data-class")]
                assert row.find_element(By.CSS_SELECTOR, ".pct").text == f"{int(p * 100 + 0.5)}%"
                width = row.find_element(By.CSS_SELECTOR, ".bar i").value_of_css_property("width")
                track = row.find_element(By.CSS_SELECTOR, ".bar").size["width"]
                assert float(width.removesuffix("px")) == pytest.approx(p * track, abs=1.5)
            assert card.find_element(By.CSS_SELECTOR, "img.crop").get_attribute("src").startswith("data:image/png")
        # The boxes sit on the faces: scaled from the photo's pixels to the shown picture.
        img = d.find_element(By.ID, "photo")
        scale = img.size["width"] / 1126
        box = d.find_elements(By.CSS_SELECTOR, "#boxes .box")[0]
        left = float(box.value_of_css_property("left").removesuffix("px"))
        assert left == pytest.approx(expected[0]["bbox"][0] * scale, abs=2)
        # The explanation overlay, on request.
        d.find_element(By.ID, "explain").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".face img.explanation")) == len(expected))
        assert all(e.text.startswith(f"why {f['label']}") for e, f in zip(d.find_elements(By.CSS_SELECTOR, ".why"), expected))
        # Not an image: said, in red, and the server stays up.
        (tmp_path / "notes.jpg").write_text("not a photo")
        d.find_element(By.ID, "file").send_keys(str(tmp_path / "notes.jpg"))
        wait.until(lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"))
        assert "not an image" in d.find_element(By.ID, "status").text
    finally:
        d.quit()
    assert up(server)

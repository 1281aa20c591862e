"""The look-alikes' web server: a threaded HTTP server on 127.0.0.1 (GETs and form POSTs) whose
behaviour is a plain function of the request, and small real images made with Pillow.

Bound to the loopback address only: nothing outside this machine can reach it."""
from __future__ import annotations

import io
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the downloader's pooling is exercised

    form: dict[str, str] = {}  # a POST's form fields; a GET has none

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(self.path)

    def do_POST(self) -> None:  # noqa: N802 (consent pages post their choice)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.form = {k: v[0] for k, v in parse_qs(body).items()}
        self._answer(f"POST {self.path}?{body}")

    def _answer(self, hit: str) -> None:
        self.server.hits.append(hit)
        self.server.referers.append(self.headers.get("Referer"))
        try:
            self.server.app(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout under test): nothing to answer

    @property
    def cookies(self) -> dict[str, str]:
        pairs = (c.strip().split("=", 1) for c in (self.headers.get("Cookie") or "").split(";") if "=" in c)
        return {k: v for k, v in pairs}

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def send(self, code: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8",
             headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_first_half(self, body: bytes, ctype: str = "image/jpeg") -> None:
        """Headers announcing all of body, then only its first half; the caller writes the rest
        (`self.wfile.write(body[len(body) // 2:])`) when it wants: a download caught in flight."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()

    def log_message(self, *args) -> None:  # quiet tests
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A browser that resets an idle keep-alive or preconnected socket is not a server error.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


HOST = "127.0.0.1"


class LocalServer:
    """Serves app(handler) on 127.0.0.1, on a free port, in a background thread; `url` says where."""

    def __init__(self, app: Callable[[Handler], None]):
        self.httpd = _QuietServer((HOST, 0), Handler)
        self.httpd.app = app
        self.httpd.hits = []
        self.httpd.referers = []  # the Referer header of each hit, None when absent
        self.url = f"http://{HOST}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits

    @property
    def referers(self) -> list[str | None]:
        return self.httpd.referers

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_image(seed: int, fmt: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real image, different for every seed."""
    im = Image.new("RGB", size, ((seed * 67) % 256, (seed * 131) % 256, (seed * 29) % 256))
    draw = ImageDraw.Draw(im)
    draw.rectangle([seed % size[0], 0, size[0] - 1, (seed * 7) % size[1]], fill=(255 - (seed * 67) % 256, 40, 200))
    draw.text((2, 2), str(seed), fill=(0, 0, 0))
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()

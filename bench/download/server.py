"""A local image server with added latency, for the downloader benchmark (run as its own process,
so serving does not share the benchmarked process's GIL).

    python -m bench.download.server FILE_LIST LATENCY_S HOST [HOST ...]

Serves /<n> = the n-th file of FILE_LIST (held in memory) on each HOST at one port, printed on stdout.
"""
from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".tiff": "image/tiff"}


def main() -> None:
    files = [Path(p) for p in Path(sys.argv[1]).read_text().splitlines()]
    latency, hosts = float(sys.argv[2]), sys.argv[3:]
    bodies = [(f.read_bytes(), CONTENT_TYPES.get(f.suffix.lower(), "application/octet-stream")) for f in files]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body in one segment, as production servers send them: otherwise Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to every keep-alive request.
        disable_nagle_algorithm = True
        wbufsize = 1 << 16

        def do_GET(self) -> None:  # noqa: N802
            time.sleep(latency)  # the round trip to a far-away server
            try:
                body, ctype = bodies[int(self.path.strip("/"))]
            except (ValueError, IndexError):
                body, ctype = b"not found", "text/plain"
                self.send_response(404)
            else:
                self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    port = 0
    for host in hosts:
        httpd = ThreadingHTTPServer((host, port), Handler)
        httpd.daemon_threads = True
        httpd.request_queue_size = 256
        port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

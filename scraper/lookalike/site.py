"""What every search-engine look-alike shares: the results (Entry), their full-size images served
the ways real sites serve them (ok, slow, dead, an HTML page, a copy of another)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from scraper.lookalike.server import Handler, LocalServer, make_image


@dataclass(frozen=True)
class Entry:
    """One search result and how its full-size URL behaves."""

    name: str
    kind: str = "ok"  # ok | slow | dead | html | dup (same bytes as `of`)
    of: str | None = None
    fmt: str = "JPEG"


class ImageSite:
    """Base of the look-alikes: full-size images under /img/, thumbnails under /th/.

    `entries` are the results of every query, or (a dict) each query's own results, as a real
    engine answers "happy face" and "neutral face" with different photos; a query the dict lacks
    has no results. An entry's name is its image's identity across queries."""

    def __init__(self, entries: list[Entry] | dict[str, list[Entry]], slow_seconds: float = 0.4):
        self.by_query = dict(entries) if isinstance(entries, dict) else None
        if self.by_query is not None:
            entries = list({e.name: e for results in self.by_query.values() for e in results}.values())
        self.entries = entries
        self.slow_seconds = slow_seconds
        self.bytes = {e.name: make_image(i + 1, e.fmt) for i, e in enumerate(entries) if e.kind in ("ok", "slow")}
        self.base = ""  # set by start(): full-size URLs are absolute, as on the real sites

    def start(self, serve: Callable[["ImageSite"], LocalServer] = LocalServer) -> LocalServer:
        """Serve this site (with `serve`: LocalServer, or the tests' fixture that closes it after the
        test) and point its full-size URLs at the server; returns the server."""
        server = serve(self)
        self.base = server.url
        return server

    def results(self, query: str) -> list[Entry]:
        """The results of one query, best first."""
        return self.entries if self.by_query is None else self.by_query.get(query, [])

    def expected_images(self) -> set[bytes]:
        return set(self.bytes.values())

    def full_url(self, e: Entry) -> str:
        return f"{self.base}/img/{e.name}.{'jpg' if e.fmt == 'JPEG' else e.fmt.lower()}"

    def serve_image(self, h: Handler) -> bool:
        """Answer /th/ and /img/ requests; False for any other route."""
        if h.route.startswith("/th/"):
            h.send(200, make_image(999, size=(24, 18)), "image/jpeg")
        elif h.route.startswith("/img/"):
            self._full(h, h.route.removeprefix("/img/").rsplit(".", 1)[0])
        else:
            return False
        return True

    def _full(self, h: Handler, name: str) -> None:
        e = next((e for e in self.entries if e.name == name), None)
        if e is None or e.kind == "dead":
            h.send(404, b"gone")
        elif e.kind == "html":
            h.send(200, b"<html><body>Hotlinking not allowed</body></html>", "image/jpeg")
        else:
            if e.kind == "slow":
                time.sleep(self.slow_seconds)
            data = self.bytes[e.of if e.kind == "dup" else e.name]
            h.send(200, data, "image/" + ("jpeg" if e.fmt == "JPEG" else e.fmt.lower()))


def scroll_loader(load: str, more_id: str | None, scroll_batches: int) -> str:
    """The script of a result page that loads while scrolled to its end. `load` is JavaScript for a
    function returning a promise of whether more is left; after `scroll_batches` batches the element
    `more_id` ("show more results") appears and must be pressed, which is reported to /clicked-more
    before the batch it loads is asked for, so a test can check the order."""
    return f"""<script>
const LOAD = {load}, MORE = {f"document.getElementById('{more_id}')" if more_id else "null"};
let busy = false, finished = false, sinceClick = 0;
function step() {{
  busy = true;
  return LOAD().then(left => {{ finished = !left; sinceClick++; busy = false; }});
}}
window.addEventListener('scroll', () => {{
  if (busy || finished) return;
  if (window.innerHeight + window.scrollY < document.documentElement.scrollHeight - 100) return;
  if (MORE && sinceClick >= {scroll_batches}) {{ MORE.style.display = 'block'; return; }}
  step();
}});
if (MORE) MORE.onclick = () => {{
  busy = true; MORE.style.display = 'none'; sinceClick = 0;
  fetch('/clicked-more').then(step);
}};
</script>"""

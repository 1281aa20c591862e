"""A local Bing Images look-alike that behaves like the real one, so `--engine bing --base-url`
drives the real adapter: a consent banner to accept, results that appear as you scroll, a
"See more images" button to press after the first batches, thumbnails leading to full-size
images, `/images/async?...&first=N` result pages with data-nextUrl for the no-JavaScript path.
"""
from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from tests.scraper.servers import Handler, make_image

BATCH = 12
SCROLL_BATCHES = 2  # batches that scrolling loads before "See more images" must be pressed


@dataclass(frozen=True)
class Entry:
    """One search result and how its full-size URL behaves."""

    name: str
    kind: str = "ok"  # ok | slow | dead | html | dup (same bytes as `of`)
    of: str | None = None
    fmt: str = "JPEG"


PAGE = """<!DOCTYPE html><html><head><title>{q} - Bing images</title>
<style>li {{ list-style: none; height: 220px; }} img {{ height: 200px; }}</style></head><body>
<div id="bnp_container">We use cookies. <button id="bnp_btn_accept">Accept</button></div>
<div id="results" style="display:none">
  <ul class="dgControl_list" id="list" data-nextUrl="{first_async}"></ul>
  <div class="mm_seemore" style="display:none"><a class="btn_seemore" href="javascript:void(0)">See more images</a></div>
</div>
<script>
const Q = {q_json}, TOTAL = {total}, BATCH = {batch}, SCROLL_BATCHES = {scroll_batches};
const list = document.getElementById('list'), more = document.querySelector('.mm_seemore');
let next = 1, loading = false, sinceClick = 0;
function load() {{
  loading = true;
  fetch('/images/async?q=' + encodeURIComponent(Q) + '&first=' + next + '&count=' + BATCH + '&mmasync=1')
    .then(r => r.text()).then(h => {{ list.insertAdjacentHTML('beforeend', h); next += BATCH; sinceClick++; loading = false; }});
}}
document.getElementById('bnp_btn_accept').onclick = () => {{
  document.getElementById('bnp_container').remove();
  document.getElementById('results').style.display = 'block';
  load();
}};
window.addEventListener('scroll', () => {{
  if (loading || next > TOTAL) return;
  if (window.innerHeight + window.scrollY < document.documentElement.scrollHeight - 100) return;
  if (sinceClick >= SCROLL_BATCHES) {{ more.style.display = 'block'; return; }}
  load();
}});
// The click is reported before the batch it loads is asked for, so a test can check the order.
more.querySelector('a').onclick = () => {{
  loading = true; more.style.display = 'none'; sinceClick = 0;
  fetch('/clicked-more').then(load);
}};
</script></body></html>"""


class BingMirror:
    def __init__(self, entries: list[Entry], slow_seconds: float = 0.4):
        self.entries = entries
        self.slow_seconds = slow_seconds
        self.bytes = {e.name: make_image(i + 1, e.fmt) for i, e in enumerate(entries) if e.kind in ("ok", "slow")}
        self.base = ""  # set once the server runs: murl values are absolute, as on the real site

    def expected_images(self) -> set[bytes]:
        return set(self.bytes.values())

    def full_url(self, e: Entry) -> str:
        return f"{self.base}/img/{e.name}.{'jpg' if e.fmt == 'JPEG' else e.fmt.lower()}"

    def _async_url(self, q: str, first: int) -> str:
        return "/images/async?" + urlencode({"q": q, "first": first, "count": BATCH, "mmasync": 1})

    def _fragment(self, q: str, first: int, count: int) -> str:
        items = []
        for i, e in enumerate(self.entries[first - 1 : first - 1 + count], first):
            m = {"murl": self.full_url(e), "turl": f"{self.base}/th/{e.name}.jpg",
                 "purl": f"{self.base}/pages/{e.name}.html", "t": f"Result {i}: {e.name}"}
            items.append(
                f'<li><a class="iusc" m="{html.escape(json.dumps(m))}" href="/images/search?view=detailV2&amp;id={i}">'
                f'<img src="/th/{quote(e.name)}.jpg" alt="{e.name}"></a></li>'
            )
        nxt = self._async_url(q, first + count) if first - 1 + count < len(self.entries) else ""
        return "".join(items) + f'<div class="dgControl" data-nextUrl="{html.escape(nxt)}"></div>'

    def __call__(self, h: Handler) -> None:
        route, p = h.route, h.params
        if route == "/images/search":
            q = p.get("q", "")
            body = PAGE.format(q=html.escape(q), q_json=json.dumps(q), total=len(self.entries), batch=BATCH,
                               scroll_batches=SCROLL_BATCHES, first_async=html.escape(self._async_url(q, 1)))
            h.send(200, body.encode())
        elif route == "/images/async":
            h.send(200, self._fragment(p.get("q", ""), int(p.get("first", 1)), int(p.get("count", BATCH))).encode())
        elif route == "/clicked-more":  # lets a test see that the button was pressed
            h.send(200)
        elif route.startswith("/th/"):
            h.send(200, make_image(999, size=(24, 18)), "image/jpeg")
        elif route.startswith("/img/"):
            self._full(h, route.removeprefix("/img/").rsplit(".", 1)[0])
        else:
            h.send(404, b"not found")

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

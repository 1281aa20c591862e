"""A local Bing Images look-alike that behaves like the real one, so `--engine bing --base-url`
drives the real adapter: a consent banner to accept, results that appear as you scroll, a
"See more images" button to press after the first batches, thumbnails leading to full-size
images, `/images/async?...&first=N` result pages with data-nextUrl for the no-JavaScript path.
"""
from __future__ import annotations

import html
import json
from urllib.parse import quote, urlencode

from scraper.lookalike.server import Handler
from scraper.lookalike.site import Entry, ImageSite

BATCH = 12
SCROLL_BATCHES = 2  # batches that scrolling loads before "See more images" must be pressed


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


class BingLookalike(ImageSite):
    def _async_url(self, q: str, first: int) -> str:
        return "/images/async?" + urlencode({"q": q, "first": first, "count": BATCH, "mmasync": 1})

    def _fragment(self, q: str, first: int, count: int) -> str:
        items = []
        results = self.results(q)
        for i, e in enumerate(results[first - 1 : first - 1 + count], first):
            m = {"murl": self.full_url(e), "turl": f"{self.base}/th/{e.name}.jpg",
                 "purl": f"{self.base}/pages/{e.name}.html", "t": f"Result {i}: {e.name}"}
            items.append(
                f'<li><a class="iusc" m="{html.escape(json.dumps(m))}" href="/images/search?view=detailV2&amp;id={i}">'
                f'<img src="/th/{quote(e.name)}.jpg" alt="{e.name}"></a></li>'
            )
        nxt = self._async_url(q, first + count) if first - 1 + count < len(results) else ""
        return "".join(items) + f'<div class="dgControl" data-nextUrl="{html.escape(nxt)}"></div>'

    def __call__(self, h: Handler) -> None:
        route, p = h.route, h.params
        if route == "/images/search":
            q = p.get("q", "")
            body = PAGE.format(q=html.escape(q), q_json=json.dumps(q), total=len(self.results(q)), batch=BATCH,
                               scroll_batches=SCROLL_BATCHES, first_async=html.escape(self._async_url(q, 1)))
            h.send(200, body.encode())
        elif route == "/images/async":
            h.send(200, self._fragment(p.get("q", ""), int(p.get("first", 1)), int(p.get("count", BATCH))).encode())
        elif route == "/clicked-more":  # lets a test see that the button was pressed
            h.send(200)
        elif not self.serve_image(h):
            h.send(404, b"not found")

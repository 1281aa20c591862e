"""A local DuckDuckGo Images look-alike built to the structure the maintained references describe
(see scraper/engines/duckduckgo.py), so `--engine duckduckgo --base-url` drives the real adapter:

- `/?q=...&iax=images&ia=images` is a page whose script holds the query's token, `vqd="4-..."`;
- `/i.js?l=us-en&o=json&q=...&vqd=...&f=,,,,,&p=1[&s=N]` answers JSON pages of PAGE results
  (`image`, `thumbnail`, `url`, `title`, `width`, `height`, `source`) and a `next` without the vqd
  (`i.js?q=...&o=json&p=1&s=N&u=bing&f=,,,,,&l=us-en`), none on the last page; a wrong or missing
  vqd gets 403, as on the real site, and so does a request without a Referer on the site (SearXNG
  sends one; a scraper that forgets it should fail here rather than on the real site);
- the page's script fetches those pages while scrolling and shows `div.tile--img` tiles.
"""
from __future__ import annotations

import hashlib
import html
import json
from urllib.parse import quote_plus

from scraper.lookalike.server import Handler
from scraper.lookalike.site import Entry, ImageSite, scroll_loader

PAGE_SIZE = 10

PAGE = """<!DOCTYPE html><html><head><title>{q} at DuckDuckGo</title>
<style>.tile--img {{ height: 240px; }} img {{ height: 200px; }}</style></head>
<body><div class="tile-wrap"><div class="zci__main" id="tiles"></div></div>
<script type="text/javascript">DDG.deep.initialize('/d.js?q={q_url}&l=us-en&s=0&ct=DE&vqd={vqd}&p_ent=&ex=-1');</script>
<script type="text/javascript">var vqd="{vqd}";</script>
{loader}</body></html>"""

# The first i.js request as the adapter builds it, then `next`'s offset with the same parameters.
LOAD = """(() => {
  const tiles = document.getElementById('tiles');
  let url = '/i.js?l=us-en&o=json&q=' + encodeURIComponent(%s) + '&vqd=' + vqd + '&f=,,,,,&p=1';
  return () => fetch(url).then(r => r.json()).then(data => {
    for (const r of data.results) {
      tiles.insertAdjacentHTML('beforeend', '<div class="tile tile--img has-detail"><img class="tile--img__img" src="'
        + r.thumbnail + '"><a class="tile--img__sub" href="' + r.url + '"><span class="tile--img__title">' + r.title + '</span></a></div>');
    }
    if (!data.next) return false;
    url = url.replace(/&s=\\d+/, '') + '&s=' + new URL(data.next, location.href).searchParams.get('s');
    return true;
  });
})()"""


def vqd_for(q: str) -> str:
    """A token in DuckDuckGo's shape, one per query."""
    return "4-" + str(int(hashlib.sha256(q.encode()).hexdigest()[:30], 16))


class DuckDuckGoLookalike(ImageSite):
    def page_url(self, e: Entry) -> str:
        return f"https://www.{e.name}.example/gallery?img={e.name}&lang=en"

    def title(self, i: int, e: Entry) -> str:
        return f"Result {i + 1}: {e.name}"

    def __call__(self, h: Handler) -> None:
        route, p = h.route, h.params
        if route == "/" and "q" in p:
            q = p["q"]
            loader = scroll_loader(LOAD % json.dumps(q), None, 0)
            h.send(200, PAGE.format(q=html.escape(q), q_url=quote_plus(q), vqd=vqd_for(q), loader=loader).encode())
        elif route == "/i.js":
            referer = h.headers.get("Referer") or ""
            if p.get("vqd") != vqd_for(p.get("q", "")) or p.get("o") != "json" or not referer.startswith(self.base + "/"):
                h.send(403, b"", "text/plain")
                return
            h.send(200, json.dumps(self._results(p["q"], int(p.get("s", 0)))).encode(), "application/json")
        elif not self.serve_image(h):
            h.send(404, b"not found")

    def _results(self, q: str, s: int) -> dict:
        rows = [{"height": 1200, "width": 1600, "image": self.full_url(e), "thumbnail": f"{self.base}/th/{e.name}.jpg",
                 "url": self.page_url(e), "title": self.title(i, e), "source": "Bing", "image_token": f"t{i}"}
                for i, e in enumerate(self.entries[s:s + PAGE_SIZE], s)]
        body = {"ads": None, "query": q, "queryEncoded": quote_plus(q), "response_type": "images", "results": rows,
                "vqd": {q: vqd_for(q)}}
        if s + PAGE_SIZE < len(self.entries):
            body["next"] = f"i.js?q={quote_plus(q)}&o=json&p=1&s={s + PAGE_SIZE}&u=bing&f=,,,,,&l=us-en"
        return body

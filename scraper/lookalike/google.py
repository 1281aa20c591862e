"""A local Google Images look-alike built to the structure the maintained references describe
(see scraper/engines/google.py), so `--engine google --base-url` drives the real adapter:

- `/search?q=...&tbm=isch&hl=en` without the SOCS cookie redirects to the "Before you continue"
  page (`/m?continue=...`, consent.google.com's path): a "Reject all" form and an "Accept all" form,
  both posting to `/save`, which sets the cookie and redirects back to `continue`;
- the result page shows BATCH tiles (`div[data-ri][data-docid][data-lpage]`, thumbnails only) and
  carries, in an `AF_initDataCallback` script, the records of the first 2 * BATCH images (Google
  sends data for ~100 and shows 50); scrolling shows the next tiles, then loads batches of tiles
  with their records from `/search?...&async=...,ijn:N`; after SCROLL_BATCHES batches
  "Show more results" (`input.mye4qd`) must be pressed;
- the last batch's tiles have no record, only `/imgres?imgurl=FULL&imgrefurl=PAGE` links (the
  form Google gives a tile's link on hover);
- full-size URLs have query strings, which the records escape as Google does (\\u003d, \\u0026).
"""
from __future__ import annotations

import html
import json
from urllib.parse import quote, urlencode

from scraper.lookalike.server import Handler
from scraper.lookalike.site import Entry, ImageSite, scroll_loader

BATCH = 10
SCROLL_BATCHES = 2
LINK_ONLY_FROM = 5 * BATCH  # entries from here on come as /imgres links only

CONSENT = """<!DOCTYPE html><html lang="en"><head><title>Before you continue to Google</title></head><body>
<h1>Before you continue to Google</h1>
<p>We use cookies and data to deliver and maintain Google services...</p>
{forms}
<a href="{base}/d?continue={cont}">More options</a>
</body></html>"""

FORM = """<form action="{base}/save" method="POST">
<input type="hidden" name="gl" value="DE"><input type="hidden" name="m" value="0"><input type="hidden" name="pc" value="irp">
<input type="hidden" name="continue" value="{cont}"><input type="hidden" name="hl" value="en">
<input type="hidden" name="set_eom" value="{eom}">
<button class="VfPpkd-LgbsSe" jsname="{jsname}" aria-label="{label}"><span>{label}</span></button>
</form>"""

PAGE = """<!DOCTYPE html><html><head><title>{q} - Google Search</title>
<style>div[data-ri] {{ height: 240px; }} img {{ height: 200px; }}</style></head>
<body><div id="islrg"><div class="islrc" id="grid">{tiles}</div></div>
<div id="later" style="display:none">{later}</div>
<input class="mye4qd" id="more" type="button" value="Show more results" style="display:none">
<script nonce="n1">AF_initDataCallback({{key: 'ds:1', hash: '2', data:[null,[[{records}]]], sideChannel: {{}}}});</script>
{loader}</body></html>"""

# First show the tiles whose records came with the page, then fetch batches of tiles + records.
LOAD = """(() => {
  const grid = document.getElementById('grid'), later = document.getElementById('later');
  let ijn = 2;
  return () => {
    if (later.children.length) {
      grid.insertAdjacentHTML('beforeend', later.innerHTML); later.innerHTML = '';
      return Promise.resolve(true);
    }
    return fetch(%s + ijn).then(r => r.text()).then(h => {
      grid.insertAdjacentHTML('beforeend', h); ijn++; return %d > ijn * %d;
    });
  };
})()"""


class GoogleLookalike(ImageSite):
    def full_url(self, e: Entry) -> str:
        return super().full_url(e) + f"?w=1200&id={e.name}"

    def page_url(self, i: int, e: Entry) -> str:
        return f"https://www.{e.name}.example/photos/{i}?from=google&x={e.name}"

    def title(self, i: int, e: Entry) -> str:
        return f"Result {i + 1}: {e.name} & more"

    def _record(self, i: int, e: Entry) -> str:
        rec = [0, f"doc{i}", [f"https://encrypted-tbn0.gstatic.com/images?q=tbn:ANd9Gc{i}&s", 194, 259],
               [self.full_url(e), 1200, 1600], None, 0, "rgb(1,2,3)", None, 0,
               {"2000": [None, f"www.{e.name}.example", "68KB"], "2001": [None, None, None, 3],
                "2003": [None, f"tok{i}", self.page_url(i, e), self.title(i, e), None, 0]}]
        return json.dumps([1, rec], separators=(",", ":")).replace("=", "\\u003d").replace("&", "\\u0026")

    def _tile(self, i: int, e: Entry) -> str:
        href = ""
        if i >= LINK_ONLY_FROM:
            href = ' href="/imgres?' + html.escape(urlencode({"imgurl": self.full_url(e), "imgrefurl": self.page_url(i, e)})) + '"'
        return (f'<div jsname="dTDiAc" data-ri="{i}" data-docid="doc{i}" data-lpage="{html.escape(self.page_url(i, e))}">'
                f'<a{href}><img src="/th/{quote(e.name)}.jpg" alt="{html.escape(self.title(i, e))}"></a>'
                f'<a href="{html.escape(self.page_url(i, e))}">{html.escape(e.name)}</a></div>')

    def _batch(self, ijn: int) -> str:
        """Tiles of batch ijn and, for those that have them, their records."""
        span = range(ijn * BATCH, min((ijn + 1) * BATCH, len(self.entries)))
        records = ",".join(self._record(i, self.entries[i]) for i in span if i < LINK_ONLY_FROM)
        script = f"<script nonce=\"n2\">var m=[{records}];</script>" if records else ""
        return "".join(self._tile(i, self.entries[i]) for i in span) + script

    def __call__(self, h: Handler) -> None:
        route, p = h.route, h.params
        if route == "/search" and "async" in p:
            h.send(200, self._batch(int(p["async"].rsplit("ijn:", 1)[1])).encode())
        elif route == "/search" and "SOCS" not in h.cookies:
            cont = f"{self.base}{h.path}"
            h.send(302, headers={"Location": "/m?" + urlencode({"continue": cont, "gl": "DE", "m": 0, "pc": "irp",
                                                                "uxe": "eomtm", "cm": 2, "hl": "en", "src": 1})})
        elif route == "/search":
            h.send(200, self._page(p.get("q", "")).encode())
        elif route == "/m":
            cont = html.escape(p["continue"])
            forms = FORM.format(base=self.base, cont=cont, eom="true", jsname="tWT92d", label="Reject all") + \
                FORM.format(base=self.base, cont=cont, eom="false", jsname="b3VHJd", label="Accept all")
            h.send(200, CONSENT.format(forms=forms, base=self.base, cont=quote(p["continue"])).encode())
        elif route == "/save" and h.form:
            h.send(303, headers={"Location": h.form["continue"],
                                 "Set-Cookie": f"SOCS=CAESEwgDEgk{h.form['set_eom']}; Path=/; SameSite=Lax"})
        elif route == "/clicked-more":  # lets a test see that the button was pressed
            h.send(200)
        elif not self.serve_image(h):
            h.send(404, b"not found")

    def _page(self, q: str) -> str:
        first = range(min(BATCH, len(self.entries)))
        second = range(BATCH, min(2 * BATCH, len(self.entries)))
        async_url = "/search?" + urlencode({"q": q, "tbm": "isch", "asearch": "isch"}) + "&async=_fmt:html,p:1,ijn:"
        return PAGE.format(
            q=html.escape(q),
            tiles="".join(self._tile(i, self.entries[i]) for i in first),
            later="".join(self._tile(i, self.entries[i]) for i in second),
            records=",".join(self._record(i, self.entries[i]) for i in [*first, *second] if i < LINK_ONLY_FROM),
            loader=scroll_loader(LOAD % (json.dumps(async_url), len(self.entries), BATCH), "more", SCROLL_BATCHES),
        )

"""DuckDuckGo Images (checked against maintained references, not against the live site: no internet here).

The search page `/?q=...&iax=images&ia=images` carries a per-query token in its scripts, `vqd="..."`
(older pages: `vqd='...'` or `vqd=...&`). The page's own script loads the images as JSON from
`/i.js?l=us-en&o=json&q=...&vqd=TOKEN&f=,,,,,&p=1`: `results` hold `image` (full size), `thumbnail`,
`url` (the page), `title`, `width`, `height`, `source`; `next` (e.g. `i.js?q=...&o=json&p=1&s=100&
u=bing&f=,,,,,&l=us-en`) says where the next page starts, and is absent on the last one. Following
the references, only its `s` (offset) is taken: the request keeps this page's parameters, vqd
included. DuckDuckGo shows no consent page and no "show more" button (it loads while scrolling).
Both steps work without JavaScript, so `--no-browser` can use them.

References (read 2025, via the public code index):
- searxng/searxng searx/engines/duckduckgo_extra.py (images: vqd from `vqd="` in
  `https://duckduckgo.com/?q=...&iar=images`, then `/i.js?o=json&q=&u=bing&l=&bpia=1&vqd=&a=h_&ct=`,
  `s` = (page - 1) * 100, result fields image/thumbnail/url/title/width/height/source) and the
  older searx/engines/duckduckgo_images.py (`/i.js?q=&s=&p=&o=json&vqd=`);
- deedy5/duckduckgo_search (v5-v7 `images()` and utils `_extract_vqd`: vqd from `vqd="`, `vqd=...&`
  or `vqd='`; params l/o/q/vqd/f/p; paging by `s` read from `next`).
"""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from bs4 import BeautifulSoup

from scraper.engines.base import Engine, Result

_VQD = re.compile(r"""vqd=(?:"([^"]+)"|'([^']+)'|([\w-]+)&)""")


def _json_body(html: str) -> dict | None:
    """The JSON of an i.js page, whether fetched raw or shown by a browser inside <pre>."""
    text = html.strip()
    if not text.startswith("{"):
        text = BeautifulSoup(html, "html.parser").get_text().strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can follow
        return None
    return data if isinstance(data, dict) else None


def _text(value) -> str | None:
    """A JSON field that should be a non-empty string."""
    return value if isinstance(value, str) and value else None


class DuckDuckGo(Engine):
    name = "duckduckgo"
    site = "https://duckduckgo.com"
    result_css = "div.tile--img, figure"  # only counts what scrolling loads; links come from i.js
    needs_browser = False

    def search_path(self, query: str) -> str:
        return "/?" + urlencode({"q": query, "iax": "images", "ia": "images"})

    def parse(self, html: str, page_url: str) -> list[Result]:
        data = _json_body(html)
        if data is None:
            return []  # the search page: its tiles show thumbnails; i.js has the full-size links
        results = data.get("results")
        return [
            Result(url=r["image"], page_url=_text(r.get("url")), title=_text(r.get("title")),
                   thumbnail_url=_text(r.get("thumbnail")))
            for r in (results if isinstance(results, list) else []) if isinstance(r, dict) and _text(r.get("image"))
        ]

    def next_pages(self, html: str, page_url: str) -> list[str]:
        data = _json_body(html)
        if data is not None:  # an i.js page: the same request from the offset `next` names
            try:
                offset = parse_qs(urlsplit(str(data.get("next") or "")).query).get("s")
            except ValueError:  # an unparsable `next`, e.g. a broken IPv6 host
                return []
            if not offset:
                return []
            params = {k: v[0] for k, v in parse_qs(urlsplit(page_url).query, keep_blank_values=True).items()}
            return [urljoin(page_url, "/i.js?" + urlencode({**params, "s": offset[0]}))]
        token = _VQD.search(html)
        query = parse_qs(urlsplit(page_url).query).get("q")
        if not token or not query:
            return []
        vqd = next(g for g in token.groups() if g)
        params = {"l": "us-en", "o": "json", "q": query[0], "vqd": vqd, "f": ",,,,,", "p": "1"}
        return [urljoin(page_url, "/i.js?" + urlencode(params))]

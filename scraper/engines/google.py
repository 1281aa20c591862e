"""Google Images (unproven on the live site: written from its known markup, tested on small pages).

Full-size URLs are not in the result tiles' markup: they sit in the page's inline script data as
`["https://full/size.jpg",height,width]` triples; thumbnails are the same triples on
encrypted-tbn*.gstatic.com, which are skipped. Tiles carry the source page as `data-lpage`; it is
paired with a full-size URL when both lists have the same length (otherwise the page is unknown).
"""
from __future__ import annotations

import json
import re
from urllib.parse import urlencode, urlsplit

from bs4 import BeautifulSoup

from scraper.engines.base import Engine, Result

# ["https://...",123,456] inside script data; the URL is a JSON string (\u003d, \/ escapes).
_TRIPLE = re.compile(r'\["(https?:[^"\\]*(?:\\.[^"\\]*)*)",(\d+),(\d+)\]')
_THUMB_HOSTS = ("gstatic.com", "google.com", "googleusercontent.com", "ggpht.com")


class Google(Engine):
    name = "google"
    site = "https://www.google.com"
    result_css = "div[data-lpage], div[data-ri]"
    consent_css = ("button#L2AGLb", "button[aria-label='Accept all']", "form[action*='consent'] button")
    more_css = ("input.mye4qd", "input[value='Show more results']", "a[aria-label='More results']")

    def search_path(self, query: str) -> str:
        return "/search?" + urlencode({"q": query, "tbm": "isch", "hl": "en"})

    def parse(self, html: str, page_url: str) -> list[Result]:
        soup = BeautifulSoup(html, "html.parser")
        urls = []
        for script in soup.find_all("script"):
            for raw, _h, _w in _TRIPLE.findall(script.string or ""):
                url = json.loads(f'"{raw}"')  # undo the script's JSON string escapes
                if not urlsplit(url).hostname or urlsplit(url).hostname.endswith(_THUMB_HOSTS):
                    continue
                urls.append(url)
        urls = list(dict.fromkeys(urls))
        pages = [d["data-lpage"] for d in soup.select("div[data-lpage]")]
        paired = len(pages) == len(urls)
        return [Result(url=u, page_url=pages[i] if paired else None) for i, u in enumerate(urls)]

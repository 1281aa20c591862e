"""Local stand-ins for the real image-search engines, for the demo and the tests.

Each look-alike serves, from 127.0.0.1 only, the pages, scripts and result formats that
`scraper.engines` reads from the real site (consent pages, results that appear as you scroll,
"show more" buttons, further result pages, full-size images that are sometimes dead, slow or
HTML), so `scrape --engine NAME --base-url http://127.0.0.1:PORT` drives the real adapter in a
real browser without the internet:

    from scraper.lookalike.bing import BingLookalike
    from scraper.lookalike.site import Entry

    site = BingLookalike([Entry("a"), Entry("b", kind="dead")])
    with site.start() as server:           # a LocalServer on a free port
        ...                                # scrape "q" --engine bing --base-url {server.url}

Modules: `server` (the HTTP server and small real images), `site` (what every look-alike
shares), `bing`, `google`, `duckduckgo` (one per engine). They are stand-ins built to the
structure each adapter names in its references, not copies of the real sites.
"""

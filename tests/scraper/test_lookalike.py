"""The image-search look-alikes are the project's own module (scraper.lookalike), shared by the demo
and the tests: packaged with facecat, independent of the test suite's layout, loopback only."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import requests
import setuptools

from scraper.lookalike.bing import BingLookalike
from scraper.lookalike.site import Entry

REPO = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_demo_and_the_project_import_nothing_from_the_tests():
    files = [REPO / "scripts" / "demo.py", *sorted((REPO / "scraper").rglob("*.py"))]
    users = {str(f.relative_to(REPO)): sorted(m for m in _imported_modules(f) if m.split(".")[0] == "tests")
             for f in files}
    assert {f: m for f, m in users.items() if m} == {}
    assert "scraper.lookalike.bing" in _imported_modules(REPO / "scripts" / "demo.py")


def test_the_lookalike_is_a_package_that_pip_installs():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(where=str(REPO), include=config["include"])
    assert "scraper.lookalike" in packages


def test_a_lookalike_serves_on_the_loopback_address_only():
    site = BingLookalike([Entry("a"), Entry("gone", kind="dead")])
    with site.start() as server:
        assert server.httpd.server_address[0] == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
        page = requests.get(f"{server.url}/images/async?q=happy&first=1", timeout=10)
        assert page.status_code == 200 and site.full_url(site.entries[0]) in page.text
        assert requests.get(site.full_url(site.entries[0]), timeout=10).content == site.bytes["a"]
        assert requests.get(site.full_url(site.entries[1]), timeout=10).status_code == 404


def test_a_lookalike_answers_each_query_with_its_own_results():
    site = BingLookalike({"happy face": [Entry("a"), Entry("b")], "sad face": [Entry("c"), Entry("a")]})
    assert [e.name for e in site.entries] == ["a", "b", "c"]  # every image once, for the full-size URLs
    with site.start() as server:
        happy = requests.get(f"{server.url}/images/async?q=happy+face&first=1", timeout=10).text
        sad = requests.get(f"{server.url}/images/async?q=sad+face&first=1", timeout=10).text
        other = requests.get(f"{server.url}/images/async?q=angry+face&first=1", timeout=10).text
        assert site.full_url(Entry("b")) in happy and site.full_url(Entry("b")) not in sad
        assert site.full_url(Entry("c")) in sad and site.full_url(Entry("a")) in sad
        assert "/img/" not in other  # a query the site does not know has no results
        assert requests.get(site.full_url(Entry("c")), timeout=10).content == site.bytes["c"]

"""Search-engine adapters, one module each, by name."""
from scraper.engines.base import Engine, Result, rebase
from scraper.engines.bing import Bing
from scraper.engines.duckduckgo import DuckDuckGo
from scraper.engines.google import Google

ENGINES: dict[str, type[Engine]] = {e.name: e for e in (Bing, Google, DuckDuckGo)}


def get_engine(name: str) -> Engine:
    return ENGINES[name]()


__all__ = ["Engine", "Result", "rebase", "ENGINES", "get_engine"]

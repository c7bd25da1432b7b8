"""The API process's cache of list pages: bounded, the least recently used page leaves first."""

from __future__ import annotations

from api.robodata.schema import ItemPage
from api.robodata.state import PageCache


def _page(n: int) -> ItemPage:
    return ItemPage(items=[], total=n, page=n, pageSize=50)


def test_the_least_recently_used_page_leaves_first() -> None:
    cache = PageCache(kept=2)
    cache.put((1, "a"), _page(1))
    cache.put((1, "b"), _page(2))
    assert cache.get((1, "a")) == _page(1)  # "a" is now the most recent
    cache.put((1, "c"), _page(3))
    assert cache.get((1, "b")) is None
    assert (cache.get((1, "a")), cache.get((1, "c"))) == (_page(1), _page(3))
    assert len(cache.pages) == 2


def test_a_page_of_another_catalog_version_is_another_entry() -> None:
    cache = PageCache()
    cache.put((1, "items"), _page(1))
    assert cache.get((2, "items")) is None

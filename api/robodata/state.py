"""What the robodata routes keep per API process (the service's lifespan state)."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field

from api.robodata.schema import ItemPage
from api.service import StateOf
from api.state import Resources

NAME = "robodata"
# List pages kept per process (a page of 50 items takes about 28 kB of memory).
PAGES_KEPT = 256


@dataclass
class PageCache:
    """List pages, keyed by the catalog version they were read at (never changed once kept).

    The version is the one row every catalog write moves on in its own transaction
    (migration 0010), and it is read before the page: a page stored under a version was
    read at that version or later, so a hit is never older than the data behind its version.
    Entries of older versions are simply never asked for again and age out.
    """

    kept: int = PAGES_KEPT
    pages: OrderedDict[Hashable, ItemPage] = field(default_factory=OrderedDict)

    def get(self, key: Hashable) -> ItemPage | None:
        page = self.pages.get(key)
        if page is not None:
            self.pages.move_to_end(key)
        return page

    def put(self, key: Hashable, page: ItemPage) -> None:
        self.pages[key] = page
        self.pages.move_to_end(key)
        while len(self.pages) > self.kept:
            self.pages.popitem(last=False)


@dataclass
class RobodataState:
    pages: PageCache = field(default_factory=PageCache)


@contextlib.asynccontextmanager
async def lifespan(_: Resources) -> AsyncIterator[RobodataState]:
    yield RobodataState()


state: StateOf[RobodataState] = StateOf(NAME)

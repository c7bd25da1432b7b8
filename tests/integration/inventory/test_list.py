"""Pages, filters and sorts on list routes; `total` always counts what the filters match."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.inventory.sample import BASE, create


async def names(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> Any:
    r = await client.get(f"{BASE}/repositories?{query}", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    return [item["name"] for item in body["items"]], body["total"]


async def test_pages_cover_every_record_once_with_the_total(
    client: httpx.AsyncClient, member: Any
) -> None:
    alice = await member("alice")
    h = alice["headers"]
    for i in range(23):
        await create(client, h, "repositories", name=f"repo-{i:02d}")
    seen: list[str] = []
    for offset in (0, 10, 20):
        page, total = await names(client, h, f"limit=10&offset={offset}")
        assert total == 23
        seen += page
    assert seen == [f"repo-{i:02d}" for i in range(23)]  # default order: oldest id first
    r = (await client.get(f"{BASE}/repositories?limit=5&offset=40", headers=h)).json()
    assert r == {"items": [], "total": 23, "limit": 5, "offset": 40}
    r = (await client.get(f"{BASE}/repositories?limit=0", headers=h)).json()
    assert r == {"items": [], "total": 23, "limit": 0, "offset": 0}
    assert len((await client.get(f"{BASE}/repositories", headers=h)).json()["items"]) == 10


async def test_filters_by_type_tag_and_search_narrow_the_total(
    client: httpx.AsyncClient, member: Any
) -> None:
    alice = await member("alice")
    h = alice["headers"]
    await create(client, h, "repositories", name="Nav2", type="git", tags=["ros2", "nav"])
    await create(client, h, "repositories", name="slam-toolbox", type="git", tags=["ros2"])
    await create(
        client, h, "repositories", name="legacy", type="svn", description="old NAVIGATION stack"
    )
    await create(client, h, "repositories", name="100%_done", type="mercurial", tags=["nav"])

    assert await names(client, h, "type=git") == (["Nav2", "slam-toolbox"], 2)
    assert await names(client, h, "tag=nav") == (["Nav2", "100%_done"], 2)
    assert await names(client, h, "tag=ros2&type=git&limit=1") == (["Nav2"], 2)
    # `q` is case-insensitive over name and description.
    assert await names(client, h, "q=nav") == (["Nav2", "legacy"], 2)
    assert await names(client, h, "q=NAV&tag=ros2") == (["Nav2"], 1)
    # Wildcard characters in `q` are searched for literally.
    assert await names(client, h, "q=%25_") == (["100%_done"], 1)
    assert await names(client, h, "q=_") == (["100%_done"], 1)
    assert await names(client, h, "tag=none") == ([], 0)


async def test_sorts_are_stable_across_pages(client: httpx.AsyncClient, member: Any) -> None:
    alice = await member("alice")
    h = alice["headers"]
    for name in ("delta", "alpha", "charlie", "bravo", "echo"):
        await create(client, h, "repositories", name=name)
    assert await names(client, h, "sort=name") == (
        ["alpha", "bravo", "charlie", "delta", "echo"],
        5,
    )
    assert (await names(client, h, "sort=-name"))[0][0] == "echo"
    newest_first = ["echo", "bravo", "charlie", "alpha", "delta"]
    assert await names(client, h, "sort=-created_at") == (newest_first, 5)
    paged: list[str] = []
    for offset in range(5):
        paged += (await names(client, h, f"sort=-created_at&limit=1&offset={offset}"))[0]
    assert paged == newest_first
    # Touching a record moves it to the end of the updated_at order.
    listed = (await client.get(f"{BASE}/repositories?sort=name&limit=1", headers=h)).json()
    alpha = listed["items"][0]
    await client.put(f"{BASE}/repositories/{alpha['id']}", json={"tags": ["x"]}, headers=h)
    assert (await names(client, h, "sort=updated_at"))[0][-1] == "alpha"
    assert (await names(client, h, "sort=-updated_at"))[0][0] == "alpha"


async def test_the_unfiltered_total_follows_creates_deletes_and_bulk_writes(
    client: httpx.AsyncClient, member: Any, database_url: str
) -> None:
    """Unfiltered totals come from trigger-kept counts (migration 0003): they must match the
    table after concurrent creates, deletes, an operator's bulk SQL and a rolled-back insert."""
    import asyncio

    import asyncpg

    from infra.db.engine import plain_dsn

    alice = await member("alice")
    h = alice["headers"]

    async def total(resource: str = "datasets", query: str = "") -> int:
        r = await client.get(f"{BASE}/{resource}?limit=1{query}", headers=h)
        assert r.status_code == 200, r.text
        return int(r.json()["total"])

    made = await asyncio.gather(
        *(create(client, h, "datasets", name=f"set-{i}") for i in range(12))
    )
    assert await total() == 12
    for record in made[:2]:
        r = await client.delete(f"{BASE}/datasets/{record['id']}", headers=h)
        assert r.status_code == 204
    assert await total() == 10
    assert await total(query="&type=lidar") == 10  # counted the filtered way: the same
    assert await total("packages") == 0  # each resource has its own count

    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        await conn.execute(
            "INSERT INTO inventory_datasets (name, type)"
            " SELECT 'bulk-' || i, 'image' FROM generate_series(1, 500) AS i"
        )
        assert await total() == 510
        await conn.execute("DELETE FROM inventory_datasets WHERE name LIKE 'bulk-%' AND id % 2 = 0")
        remaining = await conn.fetchval("SELECT count(*) FROM inventory_datasets")
        assert await total() == remaining
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO inventory_datasets (name, type) VALUES ('undone', 'test')")
        await tx.rollback()
        assert await total() == remaining
        await conn.execute("TRUNCATE inventory_datasets")
        assert await total() == 0
    finally:
        await conn.close()
    await create(client, h, "datasets", name="after-truncate")
    assert await total() == 1

"""The worker's memory-bank cache on the real blob store: jobs that want a bank nobody has
loaded yet, at the same moment, load it once."""

from __future__ import annotations

import asyncio

from domain.inspection.synthetic import make_sample
from infra.blob.factory import make_blob_store
from infra.settings import Settings
from workers import inspection


async def test_concurrent_requests_for_a_new_bank_load_it_once(settings: Settings) -> None:
    eng = await inspection.engine(settings.inspection)
    images = [make_sample("texture", None, (64, 64), seed=i).image for i in range(2)]
    memory, _ = eng.inspector.fit(images)
    store = make_blob_store(settings)
    await store.open()
    try:
        key = "inspection/recipes/default/models/cache-test/memory-1.npz"
        await store.put(key, memory.to_bytes())
        loads = eng.loads
        results = await asyncio.gather(*(inspection.bank(eng, store, key) for _ in range(4)))
        assert [loaded for _, loaded in results] == [True, False, False, False]
        assert eng.loads == loads + 1
        assert all(bank is results[0][0] for bank, _ in results)
        # Cached from now on.
        assert (await inspection.bank(eng, store, key))[1] is False
    finally:
        await store.close()

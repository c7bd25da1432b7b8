import pytest
import torch

from domain.inspection.neighbour import nearest


@pytest.mark.parametrize("method", ["torch", "faiss"])
@pytest.mark.parametrize("k", [1, 4])
def test_exact_search_matches_brute_force(method: str, k: int) -> None:
    gen = torch.Generator().manual_seed(0)
    bank = torch.randn(9000, 24, generator=gen)  # more rows than one distance block
    queries = torch.cat([torch.randn(300, 24, generator=gen), bank[[5, 4100, 8999]]])
    dist, idx = nearest(queries, bank, k, method=method)  # type: ignore[arg-type]
    ref_d, ref_i = torch.cdist(queries, bank).topk(k, dim=1, largest=False)
    assert torch.allclose(dist, ref_d, atol=1e-3)
    assert (idx == ref_i).float().mean() > 0.99
    assert idx[-3:, 0].tolist() == [5, 4100, 8999] and dist[-3:, 0].max() < 1e-2

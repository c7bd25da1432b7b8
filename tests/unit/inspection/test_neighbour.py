import pytest
import torch

from domain.inspection.neighbour import nearest, pick_method


@pytest.mark.parametrize("method", ["torch", "faiss"])
@pytest.mark.parametrize("k", [1, 4])
def test_exact_search_matches_brute_force(method: str, k: int) -> None:
    gen = torch.Generator().manual_seed(0)
    bank = torch.randn(36_000, 24, generator=gen)  # more rows than two distance blocks
    queries = torch.cat([torch.randn(300, 24, generator=gen), bank[[5, 20_000, 35_999]]])
    dist, idx = nearest(queries, bank, k, method=method)  # type: ignore[arg-type]
    ref_d, ref_i = torch.cdist(queries, bank).topk(k, dim=1, largest=False)
    # sqrt magnifies float32 rounding near zero, hence the absolute slack for exact matches.
    assert torch.allclose(dist, ref_d, rtol=1e-4, atol=2e-2)
    assert (idx == ref_i).float().mean() > 0.99
    assert idx[-3:, 0].tolist() == [5, 20_000, 35_999] and dist[-3:, 0].max() < 1e-2


def test_auto_method_follows_the_cpu_measurements() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert pick_method(cpu, 152) == "torch"  # EfficientNet-Lite0 features
    assert pick_method(cpu, 384) == "faiss"  # DINOv2 ViT-S features
    assert pick_method(cuda, 384) == "torch"

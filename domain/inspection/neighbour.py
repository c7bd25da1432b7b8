"""Exact nearest-neighbour search of patch features against the memory bank."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

SearchMethod = Literal["torch", "faiss"]
# On CPU, torch's matmul wins for narrow features (Lite0) and faiss for wide ones (DINOv2);
# bench/inspection.py prints both, and the README keeps the figures.
CPU_FAISS_MIN_DIM = 256


def pick_method(device: torch.device, dim: int) -> SearchMethod:
    """The faster exact search for this device and feature width (torch on CUDA)."""
    if device.type == "cpu" and dim >= CPU_FAISS_MIN_DIM:
        return "faiss"
    return "torch"


# Bank rows per distance block: bounds the Q×block distance matrix (~50 MB for one ROI) while
# keeping blocks large; smaller blocks measured slower on the CPU (merge overhead per block).
_BANK_BLOCK = 16_384


def nearest(
    queries: torch.Tensor,
    bank: torch.Tensor,
    k: int = 1,
    *,
    method: SearchMethod = "torch",
    bank_sq_norm: torch.Tensor | None = None,
    faiss_index: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distances `[Q, k]` and bank indices `[Q, k]` of each query's k nearest rows."""
    k = min(k, bank.shape[0])
    if method == "faiss":
        index = faiss_index if faiss_index is not None else faiss_index_for(bank)
        d, i = index.search(
            np.ascontiguousarray(queries.detach().cpu().numpy(), dtype=np.float32), k
        )
        dist = torch.from_numpy(d).clamp_min_(0.0).sqrt_().to(queries.device)
        return dist, torch.from_numpy(i).to(queries.device)
    q = queries.float()
    q_norm = (q * q).sum(1, keepdim=True)
    b_norm = bank_sq_norm if bank_sq_norm is not None else (bank * bank).sum(1)
    best_d: torch.Tensor | None = None
    best_i: torch.Tensor | None = None
    for start in range(0, bank.shape[0], _BANK_BLOCK):
        block = bank[start : start + _BANK_BLOCK]
        # ||q||² is the same for every bank row, so it is added once after the minimum.
        d = torch.addmm(b_norm[start : start + _BANK_BLOCK], q, block.T, beta=1.0, alpha=-2.0)
        kk = min(k, block.shape[0])
        vals, idx = d.min(dim=1, keepdim=True) if kk == 1 else d.topk(kk, dim=1, largest=False)
        idx = idx + start
        if best_d is None or best_i is None:
            best_d, best_i = vals, idx
        elif k == 1:
            closer = vals < best_d
            best_d = torch.where(closer, vals, best_d)
            best_i = torch.where(closer, idx, best_i)
        else:
            cand_d = torch.cat([best_d, vals], dim=1)
            cand_i = torch.cat([best_i, idx], dim=1)
            best_d, order = cand_d.topk(min(k, cand_d.shape[1]), dim=1, largest=False)
            best_i = cand_i.gather(1, order)
    assert best_d is not None and best_i is not None
    # Rounding in the expanded form can give tiny negatives for exact matches.
    return (best_d + q_norm).clamp_min_(0.0).sqrt_(), best_i


def faiss_index_for(bank: torch.Tensor) -> Any:
    """An exact (flat L2) faiss index over the bank rows: on the bank's GPU when the bank is
    on CUDA and faiss is the GPU build (`faiss-gpu`), else on the CPU."""
    import faiss

    index = faiss.IndexFlatL2(bank.shape[1])
    index.add(np.ascontiguousarray(bank.detach().cpu().numpy(), dtype=np.float32))
    if bank.is_cuda and hasattr(faiss, "StandardGpuResources"):
        # faiss keeps the resources alive as long as the GPU index it made with them.
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), bank.device.index or 0, index)
    return index

"""Greedy k-center coreset selection for the PatchCore memory bank."""

from __future__ import annotations

from collections.abc import Callable

import torch

# Johnson-Lindenstrauss projection width used only to choose the coreset: distances are kept
# well enough to pick far-apart points while each greedy step reads 128 floats per patch.
PROJECTION_DIM = 128
_CHUNK = 65_536


def _min_sq_dist(points: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Squared distance from every point to its nearest center, in chunks to bound memory."""
    out = torch.empty(points.shape[0], device=points.device, dtype=points.dtype)
    c_norm = (centers * centers).sum(1)
    for start in range(0, points.shape[0], _CHUNK):
        p = points[start : start + _CHUNK]
        d = (p * p).sum(1, keepdim=True) - 2.0 * p @ centers.T + c_norm
        out[start : start + _CHUNK] = d.min(dim=1).values.clamp_min_(0.0)
    return out


def greedy_coreset(
    features: torch.Tensor,
    n_select: int,
    *,
    existing: torch.Tensor | None = None,
    seed: int = 0,
    projection_dim: int = PROJECTION_DIM,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """Indices of `n_select` rows of `features` chosen by greedy k-center (farthest point).

    With `existing` centers (an already fitted bank) the selection continues from them, so an
    incremental update adds the new patches that are farthest from what the bank already covers.
    """
    n = features.shape[0]
    if n_select >= n:
        return torch.arange(n, device=features.device)
    if n_select <= 0:
        return torch.empty(0, dtype=torch.long, device=features.device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    dim = features.shape[1]
    if dim > projection_dim:
        proj = torch.randn(dim, projection_dim, generator=gen).to(features.device, features.dtype)
        proj /= projection_dim**0.5
        points = features @ proj
        centers = existing @ proj if existing is not None and len(existing) else None
    else:
        points = features
        centers = existing if existing is not None and len(existing) else None
    points = points.contiguous()
    # ||p - c||² = ||p||² - 2 p·c + ||c||²: each step is one matrix-vector product over the
    # points instead of materialising the N×d difference, which is what makes this fast.
    sq_norm = (points * points).sum(1)
    if centers is not None:
        min_dist = _min_sq_dist(points, centers)
        current = torch.argmax(min_dist).view(1)
    else:
        min_dist = torch.full((n,), float("inf"), device=points.device, dtype=points.dtype)
        current = torch.randint(n, (1,), generator=gen).to(points.device)
    selected = torch.empty(n_select, dtype=torch.long, device=points.device)
    every = max(1, n_select // 50)
    # The chosen index stays a device tensor so that on CUDA no step waits for the host.
    for i in range(n_select):
        selected[i : i + 1] = current
        c = points.index_select(0, current)[0]
        dist = sq_norm - 2.0 * (points @ c) + (c @ c)
        torch.minimum(min_dist, dist, out=min_dist)
        # Once picked, a point's distance is ~0, so argmax never picks it twice; the explicit
        # -1 guards against rounding leaving it a tiny positive value.
        min_dist.index_fill_(0, current, -1.0)
        current = torch.argmax(min_dist).view(1)
        if progress is not None and (i % every == 0 or i == n_select - 1):
            progress((i + 1) / n_select)
    return selected

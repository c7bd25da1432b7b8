"""Greedy k-center coreset selection for the PatchCore memory bank."""

from __future__ import annotations

from collections.abc import Callable

import torch

# Johnson-Lindenstrauss projection width used only to choose the coreset: distances are kept
# well enough to pick far-apart points while each distance reads 128 floats per patch.
PROJECTION_DIM = 128
# Points farthest from the coreset that each round picks among (see greedy_coreset).
CANDIDATES = 1024
# Elements of one points × centres distance block: small enough to stay in the CPU's cache
# between the matrix product that writes it and the minimum that reads it (4× faster than
# blocks of 16M elements on the dev VM).
_BLOCK = 1 << 16


def _min_sq_dist(
    points: torch.Tensor, sq_norm: torch.Tensor, centers: torch.Tensor
) -> torch.Tensor:
    """Squared distance from every point to its nearest center, block by block."""
    out = torch.empty(points.shape[0], device=points.device, dtype=points.dtype)
    c_norm = (centers * centers).sum(1)
    rows = max(1, _BLOCK // max(1, centers.shape[0])) if points.device.type == "cpu" else 1 << 14
    for start in range(0, points.shape[0], rows):
        # ||p - c||² = ||p||² - 2 p·c + ||c||², with ||p||² added after the minimum over c.
        block = torch.addmm(c_norm, points[start : start + rows], centers.T, alpha=-2.0)
        out[start : start + rows] = block.amin(dim=1)
    return out.add_(sq_norm).clamp_min_(0.0)


def greedy_coreset(
    features: torch.Tensor,
    n_select: int,
    *,
    existing: torch.Tensor | None = None,
    seed: int = 0,
    projection_dim: int = PROJECTION_DIM,
    candidates: int = CANDIDATES,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """Indices of `n_select` rows of `features` chosen by greedy k-center (farthest point).

    With `existing` centers (an already fitted bank) the selection continues from them, so an
    incremental update adds the new patches that are farthest from what the bank already covers.

    The picks are those of the one-at-a-time algorithm (up to float rounding between near-equal
    distances), made in rounds: a round takes the `candidates` points farthest from the coreset
    and runs the greedy among them on their own distance matrix for as long as the next pick is
    still farther than every point left outside (nothing outside can have grown); then all
    points are updated against the round's picks with one matrix product. One pass over the
    points per round instead of per pick turns a memory-bound loop of matrix-vector products
    into a few compute-bound matrix products (about 8× faster on the CPU, same result).
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
    sq_norm = (points * points).sum(1)
    selected = torch.empty(n_select, dtype=torch.long, device=points.device)
    count = 0
    if centers is not None:
        min_dist = _min_sq_dist(points, sq_norm, centers)
    else:
        first = torch.randint(n, (1,), generator=gen).to(points.device)
        selected[0:1] = first
        count = 1
        min_dist = _min_sq_dist(points, sq_norm, points.index_select(0, first))
        # A picked point is marked -1 so that it is never picked again, even if rounding left
        # its distance a tiny positive value.
        min_dist.index_fill_(0, first, -1.0)
    every = max(1, n_select // 50)
    m = min(candidates, n)
    while count < n_select:
        # The m farthest points, and the largest distance among the points left out.
        values, cand = torch.topk(min_dist, min(m + 1, n))
        outside = float(values[m]) if m < n else float("-inf")
        cand_dist = values[:m].clone()
        cand = cand[:m]
        cp = points.index_select(0, cand)
        cn = sq_norm.index_select(0, cand)
        pair = (cn[:, None] - 2.0 * cp @ cp.T + cn[None, :]).clamp_min_(0.0)
        picks: list[int] = []
        while count + len(picks) < n_select:
            j = int(torch.argmax(cand_dist))
            # The first pick of a round is the global farthest point; after it, a pick is the
            # one-at-a-time algorithm's only while no outside point could be farther.
            if picks and float(cand_dist[j]) <= outside:
                break
            picks.append(j)
            torch.minimum(cand_dist, pair[j], out=cand_dist)
            cand_dist[j] = -1.0
            done = count + len(picks)
            if progress is not None and (done % every == 0 or done == n_select):
                progress(done / n_select)
        chosen = cand[torch.tensor(picks, device=cand.device)]
        selected[count : count + len(picks)] = chosen
        count += len(picks)
        if count < n_select:
            new = _min_sq_dist(points, sq_norm, points.index_select(0, chosen))
            torch.minimum(min_dist, new, out=min_dist)
            min_dist.index_fill_(0, chosen, -1.0)
    return selected

import torch

from domain.inspection.coreset import greedy_coreset


def _clusters(n_per: int = 200, k: int = 5, dim: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(k, dim, generator=gen) * 50
    labels = torch.arange(k).repeat_interleave(n_per)
    return centres[labels] + torch.randn(k * n_per, dim, generator=gen), labels


def _covering_radius(points: torch.Tensor, chosen: torch.Tensor) -> float:
    return float(torch.cdist(points, points[chosen]).min(dim=1).values.max())


def test_picks_one_point_per_far_cluster() -> None:
    points, labels = _clusters()
    chosen = greedy_coreset(points, 5)
    assert sorted(labels[chosen].tolist()) == [0, 1, 2, 3, 4]


def test_covers_better_than_a_random_subset_even_after_projection() -> None:
    points = torch.randn(3000, 256, generator=torch.Generator().manual_seed(1))
    points[:100] += 20  # a rare mode that random sampling at 3% mostly misses
    chosen = greedy_coreset(points, 90, projection_dim=32)
    assert len(set(chosen.tolist())) == 90
    random = torch.randperm(3000, generator=torch.Generator().manual_seed(2))[:90]
    assert _covering_radius(points, chosen) < _covering_radius(points, random)


def test_continues_from_existing_centres() -> None:
    points, labels = _clusters()
    existing = points[labels < 3][:5]
    chosen = greedy_coreset(points, 2, existing=existing)
    assert sorted(labels[chosen].tolist()) == [3, 4]


def test_asking_for_everything_returns_everything() -> None:
    points = torch.randn(10, 4)
    assert greedy_coreset(points, 10).tolist() == list(range(10))
    assert greedy_coreset(points, 0).numel() == 0


def test_reports_progress_up_to_one() -> None:
    seen: list[float] = []
    greedy_coreset(torch.randn(500, 8), 120, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10


def _one_at_a_time(points: torch.Tensor, first: int, n_select: int) -> list[int]:
    """The textbook farthest-point loop: one full distance update per pick."""
    min_dist = torch.cdist(points, points[first : first + 1])[:, 0]
    chosen = [first]
    for _ in range(n_select - 1):
        nxt = int(torch.argmax(min_dist))
        chosen.append(nxt)
        min_dist = torch.minimum(min_dist, torch.cdist(points, points[nxt : nxt + 1])[:, 0])
    return chosen


def test_rounds_pick_what_the_one_at_a_time_loop_picks() -> None:
    points = torch.randn(2000, 24, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for candidates in (8, 64, 4096):
        chosen = greedy_coreset(points, 150, candidates=candidates, seed=5)
        assert chosen.tolist() == _one_at_a_time(points, int(chosen[0]), 150)


def test_same_seed_same_coreset_and_every_point_covered() -> None:
    gen = torch.Generator().manual_seed(4)
    # Patch features vary along few directions: a 4-d cloud embedded in 200 dimensions.
    points = torch.rand(4000, 4, generator=gen) @ torch.randn(4, 200, generator=gen)
    points += 0.01 * torch.randn(4000, 200, generator=gen)
    a = greedy_coreset(points, 200, seed=7, candidates=32)
    assert torch.equal(a, greedy_coreset(points, 200, seed=7, candidates=32))
    assert len(set(a.tolist())) == 200
    # Farthest-point sampling covers every point within its last pick's distance to the rest,
    # and the greedy is a 2-approximation: no 200-point subset can have half that radius.
    radius = _covering_radius(points, a)
    dist_to_rest = torch.cdist(points[a[-1:]], points[a[:-1]]).min()
    assert radius <= 1.2 * float(dist_to_rest)
    random = torch.randperm(4000, generator=torch.Generator().manual_seed(8))[:200]
    assert radius < _covering_radius(points, random)

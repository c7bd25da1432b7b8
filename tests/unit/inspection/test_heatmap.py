import torch

from domain.inspection.heatmap import anomaly_maps, gaussian_blur, smoothed_scores


def _grid(spots: dict[tuple[int, int], float], size: int = 9) -> torch.Tensor:
    grid = torch.zeros(1, size, size)
    for (y, x), v in spots.items():
        grid[0, y, x] = v
    return grid


def test_smoothing_ranks_a_cluster_above_a_lone_spike_of_the_same_height() -> None:
    spike = _grid({(4, 4): 1.0})
    cluster = _grid({(y, x): 1.0 for y in (3, 4, 5) for x in (3, 4, 5)})
    # Raw maxima tie: the image score cannot tell noise from a defect.
    assert smoothed_scores(spike, 0.0).max() == smoothed_scores(cluster, 0.0).max() == 1.0
    lone, defect = smoothed_scores(spike, 1.0).max(), smoothed_scores(cluster, 1.0).max()
    assert lone < 0.25 and defect > 0.6


def test_smoothing_keeps_a_flat_grid_and_its_peak_position() -> None:
    flat = torch.full((2, 5, 7), 0.3)
    assert torch.allclose(smoothed_scores(flat, 1.5), flat)
    off_centre = _grid({(4, 2): 1.0, (4, 3): 0.8})
    out = smoothed_scores(off_centre, 1.0)
    assert out.shape == off_centre.shape and int(out.flatten().argmax()) == 4 * 9 + 2


def test_anomaly_maps_keep_each_crops_own_aspect() -> None:
    patches = torch.zeros(1, 3, 6)
    patches[0, 1, 5] = 1.0
    amap = anomaly_maps(patches, (48, 96), sigma=2.0)
    assert amap.shape == (1, 48, 96)
    y, x = divmod(int(amap.flatten().argmax()), 96)
    # Patch (1, 5) of a 3×6 grid covers rows 16–31 and columns 80–95.
    assert 16 <= y < 32 and 80 <= x < 96


def test_gaussian_blur_of_a_tiny_grid_falls_back_to_replicated_edges() -> None:
    tiny = torch.ones(1, 2, 2)
    assert torch.allclose(gaussian_blur(tiny, 3.0), tiny)


def test_masked_smoothing_keeps_a_defect_outside_the_shape_out() -> None:
    scores = _grid({(4, 3): 10.0}) + 1.0
    inside = torch.zeros(9, 9, dtype=torch.bool)
    inside[:, 4:] = True
    out = smoothed_scores(scores, 1.5, inside)
    # Inside the shape the grid stays flat: the spike next to it adds nothing.
    assert torch.allclose(out[0][inside], torch.ones(int(inside.sum())))
    assert smoothed_scores(scores, 1.5)[0, 4, 4] > 1.3

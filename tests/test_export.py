"""ONNX export: onnxruntime gives PyTorch's embeddings (Base and full SFCL, dynamic batch, both
modalities), the graph rewrites keep every value, and user mistakes are one line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from sfcl.config import Config, config_from_dict
from sfcl.engine.checkpoint import model_from_checkpoint, save_checkpoint
from sfcl.errors import SfclError
from sfcl.export import (
    OnnxModel,
    activate_identity_init,
    export_onnx,
    frequency_grid_constant,
    graph_friendly,
    onnx_bytes,
    sinkhorn_fixed_iterations,
)
from sfcl.models import build_model
from sfcl.models.sinkhorn import sinkhorn_log
from sfcl.models.spectrum import frequency_grid

TOLERANCE = 1e-4
NUM_CLASSES = 4
SMALL_SFCL = {"cfam": {"enabled": True, "dim": 16, "heads": 2, "d_state": 4, "sinkhorn_iters": 12, "retrieval_weight": 2.0},
              "sfim": {"enabled": True, "covariance_dim": 4, "mlp_hidden": 16}}


def small_config(root: Path, sfcl: bool) -> Config:
    """ResNet-18 at 64x32 (a 4x2 map, 8 spectrum bins), no pretrained weights; with ``sfcl`` CFAM + SFIM at small width."""
    model = {"depth": 18, "pretrained": None, **(SMALL_SFCL if sfcl else {})}
    return config_from_dict({
        "name": "export-sfcl" if sfcl else "export-base",
        "data": {"name": "sysu", "root": str(root), "height": 64, "width": 32, "num_ids": 4, "num_instances": 2,
                 "workers": 0, "test_batch_size": 16},
        "model": model,
        "train": {"device": "cpu", "progress": False},
        "eval": {"protocols": ["sysu-all-single"], "num_trials": 1, "flip": True},
    })


def write_checkpoint(path: Path, cfg: Config) -> Path:
    model = activate_identity_init(build_model(cfg.model, NUM_CLASSES, (cfg.data.height, cfg.data.width)))
    save_checkpoint(path, {"config": cfg.to_dict(), "num_classes": NUM_CLASSES, "model": model.state_dict()})
    return path


def retrieval_dim(model) -> int:
    """The BN neck's width, plus X's channels when the frequency embedding is appended (``retrieval_weight``)."""
    appended = model.cfam is not None and model.cfam.cfg.retrieval_weight > 0
    return model.neck.num_features + (model.cfam.channels if appended else 0)


@pytest.fixture(scope="module")
def synthvi(tmp_path_factory) -> Path:
    from sfcl.data.synthvi import synthesize

    return synthesize(tmp_path_factory.mktemp("synthvi") / "synthvi", num_ids=16, seed=0, images_per_cam=1,
                      height=32, width=16)


@pytest.fixture(scope="module", params=["base", "sfcl"])
def exported(request, tmp_path_factory, synthvi) -> tuple[Path, Path]:
    """(checkpoint, exported .onnx) of a Base and of a full SFCL model."""
    folder = tmp_path_factory.mktemp(f"export-{request.param}")
    checkpoint = write_checkpoint(folder / "model.pt", small_config(synthvi, request.param == "sfcl"))
    return checkpoint, export_onnx(checkpoint, folder / "model.onnx")


def test_onnxruntime_gives_pytorch_embeddings(exported):
    checkpoint, onnx_path = exported
    model, cfg = model_from_checkpoint(checkpoint)
    runtime = OnnxModel(onnx_path)
    generator = torch.Generator().manual_seed(7)
    for batch in (1, 5):
        images = torch.randn(batch, 3, cfg.data.height, cfg.data.width, generator=generator)
        mixed = torch.randint(0, 2, (batch,), generator=generator)
        for modality in (torch.zeros(batch, dtype=torch.long), torch.ones(batch, dtype=torch.long), mixed):
            with torch.no_grad():
                expected = model(images, modality).embedding
            got = runtime(images, modality).embedding
            assert got.shape == expected.shape == (batch, retrieval_dim(model))
            assert (got - expected).abs().max() <= TOLERANCE, (batch, modality)
    assert runtime.config.to_dict() == cfg.to_dict()  # the config travels in the metadata


def test_modules_change_the_embedding(exported):
    """The SFCL check is not vacuous: O_fre reaches the embedding (its modules are not the identity)."""
    from sfcl.models.reid import frequency_disabled

    model, cfg = model_from_checkpoint(exported[0])
    if model.cfam is None:
        pytest.skip("the Base has no frequency branch")
    images, modality = torch.randn(3, 3, cfg.data.height, cfg.data.width), torch.tensor([0, 1, 1])
    with torch.no_grad():
        full = model(images, modality).embedding
        with frequency_disabled(model):
            zeroed = model(images, modality).embedding
    assert (full - zeroed).abs().max() > 1e-3


def test_onnx_model_extracts_the_same_features(exported):
    """OnnxModel through extract_features (flip test on) gives the PyTorch model's features."""
    from sfcl.data.loaders import load_dataset
    from sfcl.evaluation.extract import extract_features

    model, cfg = model_from_checkpoint(exported[0])
    samples = load_dataset(cfg).test[:12]
    runtime = OnnxModel(exported[1]).eval()
    expected = extract_features(model, samples, cfg.data.height, cfg.data.width, batch_size=5, flip=True)
    got = extract_features(runtime, samples, cfg.data.height, cfg.data.width, batch_size=5, flip=True)
    assert got.shape == expected.shape == (12, retrieval_dim(model))
    assert (got - expected).abs().max() <= TOLERANCE
    assert not runtime.training
    with pytest.raises(SfclError, match="inference only"):
        runtime.train(True)


@pytest.mark.parametrize("epsilon", [0.05, 0.002])  # 0.002: the scalings are absorbed (log-stabilisation)
def test_fixed_iterations_sinkhorn_gives_the_early_exit_plans(epsilon):
    generator = torch.Generator().manual_seed(1)
    cost = torch.rand(6, 8, 7, generator=generator) * 4
    source, target = torch.rand(6, 8, generator=generator), torch.rand(6, 7, generator=generator)
    source[1, :3] = 0  # zero-mass bins: exactly-zero rows and columns
    target[2, 4:] = 0
    source, target = source / source.sum(1, keepdim=True), target / target.sum(1, keepdim=True)
    for max_iter in (1, 12, 50):
        reference = sinkhorn_log(cost, source, target, epsilon, max_iter=max_iter, tol=1e-4)
        fixed = sinkhorn_fixed_iterations(cost, source, target, epsilon, max_iter=max_iter, tol=1e-4)
        assert torch.equal(fixed.plan, reference.plan), (epsilon, max_iter)


def test_constant_frequency_grid():
    for height, width in ((4, 2), (18, 9), (5, 3), (1, 1)):
        assert torch.allclose(frequency_grid_constant(height, width), frequency_grid(height, width), atol=1e-7)


def test_graph_friendly_forward_is_the_model(synthvi):
    """The rewrites the export traces (select routing, fixed Sinkhorn, constant grid) leave the forward's values."""
    cfg = small_config(synthvi, sfcl=True)
    model = activate_identity_init(build_model(cfg.model, NUM_CLASSES, (64, 32))).eval()
    images, modality = torch.randn(4, 3, 64, 32), torch.tensor([1, 0, 0, 1])
    with torch.no_grad():
        expected = model(images, modality).embedding
        with graph_friendly():
            got = model(images, modality).embedding
    assert (got - expected).abs().max() <= 1e-6


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_user_mistakes_are_one_line(tmp_path, synthvi):
    with pytest.raises(SfclError) as err:
        export_onnx(tmp_path / "missing.pt", tmp_path / "model.onnx")
    assert "missing checkpoint" in one_line(err)
    checkpoint = write_checkpoint(tmp_path / "base.pt", small_config(synthvi, sfcl=False))
    with pytest.raises(SfclError) as err:
        export_onnx(checkpoint, tmp_path / "model.pt")
    assert ".onnx" in one_line(err)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SfclError) as err:
        export_onnx(checkpoint, blocker / "model.onnx")
    assert "cannot write" in one_line(err)
    (tmp_path / "folder.onnx").mkdir()
    with pytest.raises(SfclError) as err:
        export_onnx(checkpoint, tmp_path / "folder.onnx")
    assert "is a folder" in one_line(err)
    with pytest.raises(SfclError) as err:
        OnnxModel(tmp_path / "none.onnx")
    assert "missing ONNX model" in one_line(err)
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(SfclError) as err:
        OnnxModel(tmp_path / "junk.onnx")
    assert "cannot load ONNX model" in one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "base.pt", "folder.onnx", "junk.onnx"]


def test_unexportable_model_is_one_line_naming_the_operator(monkeypatch, synthvi):
    """When both exporters fail, the error names each one's operator and no file is written."""
    import sfcl.export as export

    def dynamo(*_args):
        raise RuntimeError("Failed to convert the exported program.\nNo decomposition for aten.fft_c2r.default\n...")

    def torchscript(*_args):
        raise RuntimeError("Exporting the operator 'aten::fft_irfft2' to ONNX opset version 18 is not supported.")

    monkeypatch.setattr(export, "_export_dynamo", dynamo)
    monkeypatch.setattr(export, "_export_torchscript", torchscript)
    cfg = small_config(synthvi, sfcl=False)
    with pytest.raises(SfclError) as err:
        onnx_bytes(build_model(cfg.model, NUM_CLASSES, (64, 32)).eval(), cfg)
    text = one_line(err)
    assert "dynamo exporter: aten.fft_c2r.default" in text and "torchscript exporter: aten::fft_irfft2" in text


def test_cli_export(tmp_path, synthvi, capsys):
    from sfcl.cli import export as command

    parser = argparse.ArgumentParser(prog="sfcl")
    command.add_parsers(parser.add_subparsers(dest="command"))
    checkpoint = write_checkpoint(tmp_path / "base.pt", small_config(synthvi, sfcl=False))
    args = parser.parse_args(["export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "out" / "m.onnx")])
    assert args.func(args) == 0
    assert (tmp_path / "out" / "m.onnx").is_file()
    assert capsys.readouterr().out.startswith(f"onnx: {tmp_path / 'out' / 'm.onnx'} (")
    args = parser.parse_args(["export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "m.onnx"), "--opset", "13"])
    with pytest.raises(SfclError) as err:
        args.func(args)
    assert "--opset 13" in one_line(err)


def test_eval_scores_an_onnx_file_as_its_checkpoint(exported, tmp_path):
    """``sfcl eval --checkpoint model.onnx`` reads the config from the metadata and scores as the checkpoint."""
    import json

    from sfcl.cli import main

    results = {}
    for name, path in (("pt", exported[0]), ("onnx", exported[1])):
        assert main(["eval", "--checkpoint", str(path), "--device", "cpu", "--json", str(tmp_path / f"{name}.json")]) == 0
        results[name] = json.loads((tmp_path / f"{name}.json").read_text())
    rounded = lambda tree: json.loads(json.dumps(tree), parse_float=lambda text: round(float(text), 3))  # noqa: E731
    assert list(results["onnx"]) == ["sysu-all-single"]
    assert rounded(results["onnx"]) == rounded(results["pt"])


def test_onnx_file_without_config_is_one_line(exported, tmp_path):
    import onnx

    from sfcl.export import model_from_onnx

    proto = onnx.load(exported[1])
    del proto.metadata_props[:]
    onnx.save(proto, tmp_path / "bare.onnx")
    with pytest.raises(SfclError) as err:
        model_from_onnx(tmp_path / "bare.onnx")
    assert "no sfcl config" in one_line(err)


def test_the_cli_registers_export_without_importing_torch_for_the_parser():
    import sfcl.cli.export as cli_export
    import sfcl.export

    assert cli_export.DEFAULT_OPSET == sfcl.export.DEFAULT_OPSET
    from sfcl.cli import build_parser

    assert "export" in build_parser().format_help()


def test_query_ranks_with_an_onnx_file_as_with_its_checkpoint(exported, synthvi, tmp_path):
    from sfcl.visualize.query import query_gallery

    gallery = synthvi / "cam1"
    image = sorted((synthvi / "cam3").rglob("*.jpg"))[0]
    ranked = {name: query_gallery(path, gallery, image, modality="nir", topk=5, use_cache=False, device="cpu")
              for name, path in (("pt", exported[0]), ("onnx", exported[1]))}
    assert ranked["onnx"].paths == ranked["pt"].paths
    assert max(abs(a - b) for a, b in zip(ranked["onnx"].distances, ranked["pt"].distances)) < 1e-4

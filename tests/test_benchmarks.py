"""The benchmark scripts run (tiny settings) and report what they measured."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_speed_on_random_batches(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"name": "sysu", "height": 32, "width": 16, "num_ids": 2, "num_instances": 2, "workers": 0},
        "model": {"depth": 18},
        "train": {"device": "cpu"},
    }))
    out = tmp_path / "speed.json"
    # an override between the config and the options: argparse's plain parse_args rejects the options after it
    argv = [str(config), "train.threads=1", "--steps", "2", "--warmup", "1", "--json", str(out)]
    assert load_script("train_speed").main(argv) == 0
    result = json.loads(out.read_text())
    assert result["batch"] == 2 * 2 * 2 and result["steps"] == 2
    assert result["images_per_s"] > 0 and result["input"] == "32x16" and result["data"] == "random tensors"
    assert result["backbone"] == "ResNet-18" and result["overrides"] == ["train.threads=1"]


def test_benchmark_options_may_follow_the_overrides():
    from sfcl.config import load_config

    study = load_script("ablation_synthvi").parse_args(["train.epochs=1", "--out", "/tmp/x", "loss.csc_weight=0", "--seeds", "1"])
    assert study.out == "/tmp/x" and study.seeds == "1" and study.overrides == ["train.epochs=1", "loss.csc_weight=0"]
    label = load_script("train_speed").backbone_label
    assert label(load_config(ROOT / "configs" / "demo_synthvi.yaml")) == "MobileNetV2"
    assert label(load_config(ROOT / "configs" / "sysu_base.yaml")) == "ResNet-50"


def test_ablation_synthvi_smoke(tmp_path):
    from PIL import Image

    module = load_script("ablation_synthvi")
    out = tmp_path / "ablation"
    argv = ["--out", str(out), "--seeds", "0", "--epochs", "1", "--batches", "2", "--ids", "12", "--trials", "1",
            "data.height=32", "data.width=16", "data.num_ids=4", "data.num_instances=2"]
    assert module.main(argv) == 0
    result = json.loads((out / "ablation.json").read_text())
    assert list(result["rows"]) == list(module.ROWS)
    assert result["settings"]["seeds"] == [0] and result["settings"]["epochs"] == 1
    for name, row in result["rows"].items():
        assert [run["seed"] for run in row["runs"]] == [0]
        assert row["r1"] == row["runs"][0]["r1"] and row["r1_std"] == 0.0 and 0.0 < row["mAP"] <= 100.0
        assert ("zeroed_mAP" in row["runs"][0]) == (name != "Base")  # CFAM rows: scored with O_fre zeroed too
        run = out / "runs" / row["config"].removesuffix(".yaml") / "seed0"
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert config["train"]["epochs"] == 1 and config["train"]["batches_per_epoch"] == 2
        assert config["data"]["height"] == 32 and config["data"]["root"] == str(out / "occ_synthvi")
    table = (out / "ablation.md").read_text().splitlines()
    assert len(table) == 2 + len(module.ROWS)
    base = result["rows"]["Base"]
    assert table[2].startswith(f"| Base | `demo_synthvi.yaml` | {base['r1']:.2f} ± 0.00 | {base['mAP']:.2f} ± 0.00 |")
    with Image.open(out / "ablation.png") as image:
        assert image.size == module.CHART_SIZE
    finished = out / "runs" / "demo_synthvi" / "seed0" / "results.json"
    stamp = finished.stat().st_mtime_ns
    assert module.main(argv) == 0  # a rerun with the same settings reuses every finished run
    assert finished.stat().st_mtime_ns == stamp
    assert json.loads((out / "ablation.json").read_text())["rows"] == result["rows"]


def test_ablation_mean_std():
    module = load_script("ablation_synthvi")
    rows = module.aggregate({"Base": [{"r1": 10.0, "mAP": 20.0}, {"r1": 14.0, "mAP": 20.0}]})
    assert rows["Base"]["r1"] == 12.0 and abs(rows["Base"]["r1_std"] - 2.8284271247) < 1e-9
    assert rows["Base"]["mAP_std"] == 0.0


def test_eval_speed_checks_agreement_with_a_given_reference(tmp_path, capsys):
    """The benchmark loads a reference eval_metrics.py, gives it a stable argsort for the tied rows,
    and stops when the numbers disagree (here a reference that halves mAP)."""
    import textwrap

    import numpy as np
    import pytest

    bench = load_script("eval_speed")
    fake = tmp_path / "eval_metrics.py"
    fake.write_text(textwrap.dedent("""
        import numpy as np
        from tests.reference.ref_eval import reference_eval
        SCALE = 1.0
        def eval_sysu(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=20):
            cmc, m_ap, m_inp = reference_eval(distmat, q_pids, g_pids, q_camids, g_camids, "sysu")
            return cmc, m_ap * SCALE, m_inp
    """))
    bench.main(["--only", "sysu", "--scale", "0.01", "--repeats", "1", "--agw", str(fake)])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| SYSU")]
    assert len(rows) == 6 and "AGW eval_sysu (stable argsort)" in rows[1]
    assert rows[4].startswith("| SYSU single-shot |") and rows[5].startswith("| SYSU multi-shot |")  # re-ranking
    stable = bench.load_module(str(fake), "fake_stable", stable=True)
    assert stable.np.argsort(np.zeros(40)).tolist() == list(range(40))
    fake.write_text(fake.read_text().replace("SCALE = 1.0", "SCALE = 0.5"))
    with pytest.raises(SystemExit, match="disagree"):
        bench.main(["--only", "sysu", "--scale", "0.01", "--repeats", "1", "--agw", str(fake)])


def test_sfcl_study_gem_contrast_adds_the_ramped_contrast_on_gem_x():
    import torch

    from sfcl.config import LossConfig
    from sfcl.losses import ReIDObjective
    from sfcl.losses.fad import frequency_contrastive_loss
    from sfcl.models.pooling import GeM
    from sfcl.models.reid import ModelOutput

    module = load_script("sfcl_study")
    torch.manual_seed(0)
    feature_map = torch.rand(8, 5, 4, 2)
    labels, modality = torch.tensor([0, 1, 2, 3] * 2), torch.tensor([0] * 4 + [1] * 4)
    output = ModelOutput(features=feature_map.mean(dim=(2, 3)), embedding=feature_map.mean(dim=(2, 3)),
                         logits=torch.randn(8, 4), feature_map=feature_map)
    objective = ReIDObjective(LossConfig(triplet="none", fad_warmup_epochs=2.0, cfc_temperature=0.2))
    control = module.GemContrast(objective, GeM(3.0), weight=0.5)
    total, terms = control(output, labels, modality=modality, progress=1.0)
    base, _ = objective(output, labels, modality=modality, progress=1.0)
    contrast = frequency_contrastive_loss(GeM(3.0)(feature_map), labels, modality, 0.2)
    assert torch.allclose(total, base + 0.5 * 0.5 * contrast)  # ramp at 1 of 2 warm-up epochs: 0.5
    assert abs(terms["gem_cfc"] - float(contrast)) < 1e-6 and abs(terms["total"] - float(total)) < 1e-6


def test_retrieval_features_are_the_named_features_of_one_forward():
    import pytest
    import torch
    import torch.nn.functional as F

    from sfcl.config import config_from_dict
    from sfcl.models.reid import ReIDModel

    module = load_script("retrieval_features")
    cfg = config_from_dict({"model": {"depth": 18, "cfam": {"enabled": True, "dim": 8, "heads": 2, "d_state": 4,
                                                            "scan_backend": "torch"}}})
    torch.manual_seed(0)
    model = ReIDModel(cfg.model, num_classes=4, input_size=(64, 32)).eval()
    images, modality = torch.rand(4, 3, 64, 32), torch.tensor([0, 0, 1, 1])
    with torch.no_grad():
        out = model(images, modality)
        kinds = {kind: module.retrieval_embedding(model, out, kind) for kind in module.KINDS}
    x, o = out.feature_map, out.frequency_map
    gem = lambda t: t.clamp(min=0).pow(3).mean(dim=(2, 3)).add(1e-12).pow(1 / 3)  # noqa: E731
    torch.testing.assert_close(kinds["default"], out.embedding)
    torch.testing.assert_close(kinds["gem_x"], gem(x))
    torch.testing.assert_close(kinds["gem_ofre"], gem(o))
    torch.testing.assert_close(kinds["gem_x_plus_ofre"], gem(x + o))
    torch.testing.assert_close(kinds["cat"], torch.cat([F.normalize(out.embedding, dim=1), F.normalize(gem(o), dim=1)], 1))
    torch.testing.assert_close(kinds["features"], out.features)
    torch.testing.assert_close(kinds["frequency"], out.frequency)
    unit = lambda t: t / t.norm(dim=1, keepdim=True)  # noqa: E731
    with torch.no_grad():
        weighted = module.retrieval_embedding(model, out, "cat_features", 2.0)
        own = module.retrieval_embedding(model, out, "cat_frequency", 2.0)
        model.cfam.cfg.retrieval_weight = 2.0  # the model's own descriptor is the cat_frequency kind
        torch.testing.assert_close(model(images, modality).embedding, own)
    torch.testing.assert_close(weighted, torch.cat([unit(out.embedding), 2.0 * unit(out.features)], 1))
    with pytest.raises(ValueError, match="unknown retrieval feature"):
        module.retrieval_embedding(model, out, "nope")


def test_retrieval_features_scores_val_checkpoints_and_refuses_test_runs(tmp_path, capsys):
    import pytest

    from sfcl.data.synthvi import synthesize
    from tests.test_export import small_config, write_checkpoint

    module = load_script("retrieval_features")
    root = synthesize(tmp_path / "synthvi", num_ids=16, seed=0, images_per_cam=1, height=32, width=16,
                      test_fraction=0.25, val_fraction=0.25)
    cfg = small_config(root, sfcl=True)
    cfg.data.eval_split = "val"
    checkpoints = [str(write_checkpoint(tmp_path / f"val{i}.pt", cfg)) for i in range(2)]
    report = module.main([*checkpoints, "--kinds", "default,cat_frequency,cat_features", "--weights", "0.5", "2",
                          "--zeroed", "--trials", "1", "--out", str(tmp_path / "report.json")])
    labels = ["default", "cat_frequency@0.5", "cat_frequency@2", "cat_features@0.5", "cat_features@2"]
    for path in checkpoints:
        assert list(report["val"][path]) == labels
        assert all(0 < row["mAP"] <= 100 and "zeroed_mAP" in row for row in report["val"][path].values())
    first, second = (report["val"][p]["cat_frequency@2"]["mAP"] for p in checkpoints)
    assert report["mean"]["cat_frequency@2"]["mAP"] == pytest.approx((first + second) / 2)
    assert json.loads((tmp_path / "report.json").read_text())["mean"] == report["mean"]
    cfg.data.eval_split = "test"
    test_run = str(write_checkpoint(tmp_path / "test.pt", cfg))
    with pytest.raises(SystemExit) as exit_info:
        module.main([test_run, "--kinds", "default"])
    assert exit_info.value.code == 2 and "choose features on a run scored on the val ids" in capsys.readouterr().err

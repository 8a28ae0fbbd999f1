"""``sfcl robustness``: every ratio for every checkpoint, ratio 0 is a plain evaluation, occlusion grows
with the ratio (nested, test split only), cached builds, the chart's size, one-line bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from sfcl.analysis.robustness import CHART_NAME, CHART_SIZE, METRICS, RESULTS_NAME, parse_ratios, ratio_key, robustness_curve
from sfcl.data.synthvi import synthesize
from sfcl.data.sysu import load_sysu
from sfcl.engine.checkpoint import model_from_checkpoint
from sfcl.engine.trainer import train
from sfcl.evaluation.extract import evaluate_model
from tests.cli_helpers import run_cli
from tests.engine.conftest import tiny_config

RATIOS = [0.0, 0.5, 1.0]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return synthesize(tmp_path_factory.mktemp("rob-src") / "synthvi", num_ids=12, seed=3, images_per_cam=2,
                      height=64, width=32)


@pytest.fixture(scope="module")
def checkpoints(clean, tmp_path_factory) -> list[Path]:
    """Two ResNet-18 runs at 32x16, one batch each, different seeds: run0/last.pt, run1/last.pt."""
    root = tmp_path_factory.mktemp("rob-runs")
    for seed in (0, 1):
        train(tiny_config(clean, root / f"run{seed}", "train.epochs=1", "train.batches_per_epoch=1",
                          f"train.seed={seed}"))
    return [root / "run0" / "last.pt", root / "run1" / "last.pt"]


@pytest.fixture(scope="module")
def study(clean, checkpoints, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("rob-out") / "robustness"
    curves = robustness_curve(checkpoints, "sysu", clean, out, ratios=RATIOS, seed=0, device="cpu")
    return out, curves


def test_json_has_every_ratio_for_every_checkpoint(study):
    out, curves = study
    written = json.loads((out / RESULTS_NAME).read_text())
    assert written == curves
    assert sorted(written) == ["run0/last.pt", "run1/last.pt"]
    for rows in written.values():
        assert sorted(rows) == ["0.00", "0.50", "1.00"]
        for metrics in rows.values():
            assert set(metrics) == set(METRICS)
            assert 0.0 <= metrics["mAP"] <= 100.0 and metrics["r1"] <= metrics["r5"] <= metrics["r20"]


def test_ratio_zero_is_a_plain_evaluation(study, clean, checkpoints):
    _, curves = study
    for label, path in zip(["run0/last.pt", "run1/last.pt"], checkpoints):
        model, cfg = model_from_checkpoint(path)
        plain = evaluate_model(model, load_sysu(clean), cfg, torch.device("cpu"))["sysu-all-single"]
        assert curves[label]["0.00"] == pytest.approx({k: plain[k] for k in METRICS}, abs=1e-9)


def _changed(clean: Path, built: Path) -> set[str]:
    """Relative paths of images whose bytes differ between the clean dataset and a build."""
    return {str(p.relative_to(clean)) for p in clean.rglob("*.jpg")
            if (built / p.relative_to(clean)).read_bytes() != p.read_bytes()}


def test_more_occlusion_changes_more_test_images_only(study, clean):
    out, _ = study
    dataset = load_sysu(clean)
    test = {str(Path(s.path).relative_to(clean)) for s in dataset.test}
    half, full = _changed(clean, out / "ratio_0.50"), _changed(clean, out / "ratio_1.00")
    assert full == test  # ratio 1: every query and gallery image, no training image
    assert half and half < full  # nested draw: what 0.5 occludes, 1.0 occludes too
    queries = {r for r in test if r.startswith(("cam3/", "cam6/"))}
    assert half & queries and queries <= full


def test_chart_size(study):
    out, _ = study
    with Image.open(out / CHART_NAME) as image:
        assert image.size == CHART_SIZE


def test_rerun_reuses_the_builds(study, clean, checkpoints):
    out, curves = study
    image = next((out / "ratio_1.00" / "cam3").rglob("*.jpg"))
    before = image.stat().st_mtime_ns
    again = robustness_curve(checkpoints[:1], "sysu", clean, out, ratios=RATIOS, seed=0, device="cpu")
    assert image.stat().st_mtime_ns == before
    for ratio, metrics in curves["run0/last.pt"].items():
        assert again["run0/last.pt"][ratio] == pytest.approx(metrics, abs=1e-9)


@pytest.mark.parametrize("text, expected", [("0.3,0,0.3", [0.0, 0.3]), ("0.7, 0.1", [0.1, 0.7])])
def test_parse_ratios(text, expected):
    assert parse_ratios(text) == expected


@pytest.mark.parametrize("ratio, key", [(0.0, "0.00"), (0.3, "0.30"), (1.0, "1.00"), (0.125, "0.125")])
def test_ratio_key(ratio, key):
    assert ratio_key(ratio) == key


@pytest.mark.parametrize("case, message", [
    ("missing-checkpoint", "missing checkpoint"),
    ("ratio-above-one", "ratio 1.5: expected an occlusion ratio in [0, 1]"),
    ("negative-ratio", "ratio -0.1: expected an occlusion ratio in [0, 1]"),
    ("not-a-number", "expected comma-separated numbers"),
    ("missing-data-root", "missing data root"),
])
def test_bad_inputs_are_one_line(case, message, clean, checkpoints, tmp_path, capsys):
    argv = {"checkpoint": str(checkpoints[0]), "data-root": str(clean), "ratios": "0,0.5"}
    if case == "missing-checkpoint":
        argv["checkpoint"] = str(tmp_path / "nope.pt")
    elif case == "ratio-above-one":
        argv["ratios"] = "0,1.5"
    elif case == "negative-ratio":
        argv["ratios"] = "-0.1,0.2"
    elif case == "not-a-number":
        argv["ratios"] = "0,half"
    else:
        argv["data-root"] = str(tmp_path / "no-data")
    cli = ["robustness", "--out", str(tmp_path / "out"), "--device", "cpu"]
    cli += [f"--{key}={value}" for key, value in argv.items()]
    code, _, err = run_cli(cli, capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out" / RESULTS_NAME).exists()


def test_cli_prints_the_table(study, clean, checkpoints, tmp_path, capsys):
    _, curves = study
    out = tmp_path / "cli"
    code, printed, _ = run_cli(["robustness", "--checkpoint", str(checkpoints[0]), "--data-root", str(clean),
                                 "--out", str(out), "--ratios", "0,1", "--device", "cpu"], capsys)
    assert code == 0
    row = curves["run0/last.pt"]["1.00"]
    assert f"run0/last.pt                      1.00 {row['r1']:6.2f} {row['mAP']:6.2f}" in printed
    written = json.loads((out / RESULTS_NAME).read_text())
    assert written == {"run0/last.pt": {k: curves["run0/last.pt"][k] for k in ("0.00", "1.00")}}

"""sfcl profile: the FFT and scan FLOP formulas, the counts at full size against the paper, the table and CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from sfcl.analysis.profiling import FFT_FORMULAS, PAPER, count_flops, fft_flops, format_profile, profile
from sfcl.cli import main
from sfcl.config import load_config
from sfcl.models import build_model
from sfcl.models.selective_scan import count_scan_flops, selective_scan, selective_scan_flops

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ROWS = ["base", "cfam", "cfam_sfim", "sfcl"]


def counted(fn) -> int:
    with FlopCounterMode(display=False, custom_mapping=FFT_FORMULAS) as counter:
        fn()
    return counter.get_total_flops()


def test_fft_formula_on_known_sizes():
    # 16-point complex FFT: 5 * 16 * log2(16) = 320 FLOPs, four of them.
    assert counted(lambda: torch.fft.fft(torch.randn(4, 16, dtype=torch.complex64))) == 4 * 320
    # rfft2 over 8 x 4 = 32 points: half of 5 * 32 * 5 = 400 per slice, 2 * 3 slices.
    x = torch.randn(2, 3, 8, 4)
    assert counted(lambda: torch.fft.rfft2(x)) == 6 * 400
    spectrum = torch.fft.rfft2(x)
    assert counted(lambda: torch.fft.irfft2(spectrum, s=(8, 4))) == 6 * 400
    assert fft_flops(1, 10, real=False) == 0 and fft_flops(1024, 1, real=False) == 5 * 1024 * 10


def test_scan_flops_are_tallied_only_inside_the_context():
    b, d, length, n = 2, 3, 5, 4
    args = (torch.randn(b, d, length), torch.rand(b, d, length), -torch.rand(d, n), torch.randn(b, 1, n, length),
            torch.randn(b, 1, n, length), torch.randn(d))
    with count_scan_flops() as outer:
        selective_scan(*args)
        with count_scan_flops() as inner:
            selective_scan(*args)
    expected = 9 * b * length * d * n + b * d * length
    assert selective_scan_flops(b, d, length, n) == expected
    assert inner[0] == expected and outer[0] == expected  # the innermost open context counts
    selective_scan(*args)
    assert outer[0] == expected


def test_count_flops_of_a_linear_model_is_two_per_multiply_add():
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(6, 5, bias=False)

        def forward(self, images, modality):
            return self.fc(images.flatten(1))

    assert count_flops(Tiny(), torch.randn(3, 1, 2, 3), torch.zeros(3, dtype=torch.long)) == 2 * 3 * 6 * 5


def test_full_size_counts_beside_the_paper():
    """ResNet-50 at 288 x 144: params within 5 % and FLOPs within 15 % of the paper's ablation table."""
    table = profile([CONFIGS / f"sysu_{row}.yaml" for row in ROWS], latency=False, device="cpu")
    for row in ROWS:
        got, paper = table[f"sysu_{row}"], PAPER[row]
        assert got["row"] == row and (got["height"], got["width"]) == (288, 144)
        assert abs(got["params_m"] - paper["params_m"]) / paper["params_m"] < 0.05, (row, got)
        assert abs(got["gflops"] - paper["gflops"]) / paper["gflops"] < 0.15, (row, got)
    assert table["sysu_cfam_sfim"]["params_m"] == table["sysu_sfcl"]["params_m"]  # FAD is a loss: no parameters


def test_small_profile_table_and_json(tmp_path, capsys):
    torch.set_num_threads(1)
    configs = [CONFIGS / "demo_synthvi.yaml", CONFIGS / "demo_synthvi_sfcl.yaml"]
    table = profile(configs, batch=2, warmup=1, repeats=2, device="cpu", size=(32, 16))
    assert set(table) == {"demo_synthvi", "demo_synthvi_sfcl"}
    cfg = load_config(configs[1])
    model = build_model(cfg.model, 395, (32, 16))
    sfcl = table["demo_synthvi_sfcl"]
    assert sfcl["params_m"] == round(model.num_parameters() / 1e6, 2) and sfcl["row"] == "sfcl"
    assert sfcl["gflops"] > table["demo_synthvi"]["gflops"] > 0 and sfcl["latency_ms"] > 0
    assert math.isclose(sfcl["gmacs"], sfcl["gflops"] / 2, abs_tol=1e-3)
    text = format_profile(table)
    assert text.count("\n") == 3 and "| demo_synthvi_sfcl | sfcl | 32x16 |" in text and "| 70.5 |" in text

    out = tmp_path / "profile.json"
    argv = ["profile", str(configs[0]), "--size", "32x16", "--batch", "2", "--repeats", "1", "--warmup", "0",
            "--device", "cpu", "--json", str(out)]
    assert main(argv) == 0
    saved = json.loads(out.read_text())
    row = saved["demo_synthvi"]
    assert {"params_m", "gflops", "latency_ms", "batch", "dtype", "device"} <= set(row)
    assert (row["batch"], row["dtype"], row["device"]) == (2, "float32", "cpu")
    assert "| demo_synthvi | base |" in capsys.readouterr().out


@pytest.mark.parametrize("extra, fragment", [
    (["--dtype", "bf16", "--device", "cpu"], "CUDA only"),
    (["--batch", "0"], "batch >= 1"),
    (["--override", "model.backbone=vgg"], "model.backbone"),
    (["--override", "model.backbone=resnet", "--override", "model.depth=7"], "depth"),
])
def test_profile_mistakes_are_one_line(extra, fragment, capsys):
    argv = ["profile", str(CONFIGS / "demo_synthvi.yaml"), "--size", "32x16", "--no-latency"] + extra
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1


def test_missing_config_is_one_line(capsys):
    assert main(["profile", "no/such.yaml"]) == 2
    assert "missing config file" in capsys.readouterr().err

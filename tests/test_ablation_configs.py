"""The four ablation YAMLs of each dataset (Base, +CFAM, +CFAM+SFIM, SFCL) differ only in the
module switches and loss weights (and, where a module is off, its unused settings)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from sfcl.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ROWS = {
    "sysu": ["sysu_base", "sysu_cfam", "sysu_cfam_sfim", "sysu_sfcl"],
    "regdb": ["regdb_base", "regdb_cfam", "regdb_cfam_sfim", "regdb_sfcl"],
    "llcm": ["llcm_base", "llcm_cfam", "llcm_cfam_sfim", "llcm_sfcl"],
    "demo": ["demo_synthvi", "demo_synthvi_cfam", "demo_synthvi_cfam_sfim", "demo_synthvi_sfcl"],
}
# model.cfam.retrieval_weight: the SFCL row may append the frequency embedding its FAD loss trains
ALLOWED = {"name", "train.output_dir", "model.cfam.enabled", "model.sfim.enabled", "loss.cfc_weight", "loss.csc_weight",
           "loss.fad_warmup_epochs", "model.cfam.retrieval_weight"}


def flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


@pytest.mark.parametrize("dataset", sorted(ROWS))
def test_ablation_rows_differ_only_in_switches_and_loss_weights(dataset):
    configs = [flat(load_config(CONFIGS / f"{name}.yaml").to_dict()) for name in ROWS[dataset]]
    switches = [(c["model.cfam.enabled"], c["model.sfim.enabled"]) for c in configs]
    assert switches == [(False, False), (True, False), (True, True), (True, True)]
    assert configs[0]["loss.cfc_weight"] == configs[2]["loss.cfc_weight"] == 0 < configs[3]["loss.cfc_weight"]
    for a, b in itertools.combinations(configs, 2):
        for key in (k for k in a if a[k] != b[k] and k not in ALLOWED):
            unused_cfam = key.startswith("model.cfam.") and not (a["model.cfam.enabled"] and b["model.cfam.enabled"])
            unused_sfim = key.startswith("model.sfim.") and not (a["model.sfim.enabled"] and b["model.sfim.enabled"])
            assert unused_cfam or unused_sfim, f"{a['name']} and {b['name']} differ in {key}: {a[key]!r} vs {b[key]!r}"

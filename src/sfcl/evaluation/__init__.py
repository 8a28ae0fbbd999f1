"""Evaluation: metrics (CMC, mAP, mINP), protocols (query/gallery trials), feature files."""

from sfcl.evaluation.features import load_features, save_features
from sfcl.evaluation.metrics import eval_llcm, eval_regdb, eval_sysu
from sfcl.evaluation.protocols import PROTOCOLS, Trial, build_trials, evaluate, format_table

__all__ = [
    "PROTOCOLS", "Trial", "build_trials", "eval_llcm", "eval_regdb", "eval_sysu", "evaluate",
    "format_table", "load_features", "save_features",
]

"""Evaluation: metrics (CMC, mAP, mINP) under the scoring rules, protocol scoring, feature files."""

from sfcl.data.spec import Trial
from sfcl.evaluation.features import load_features, save_features
from sfcl.evaluation.metrics import RULES, evaluate_ranking, removal_mask
from sfcl.evaluation.protocols import build_trials, evaluate, format_table

__all__ = [
    "RULES", "Trial", "build_trials", "evaluate", "evaluate_ranking", "format_table", "load_features",
    "removal_mask", "save_features",
]

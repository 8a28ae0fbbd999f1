"""Evaluation protocols: score features of a dataset's test list under one of its protocols.

Features are extracted once for every test image of a dataset
(``ReIDDataset.test``); the dataset's spec (:mod:`sfcl.data.spec`, one per dataset
module) turns that list into :class:`~sfcl.data.spec.Trial` s of query and gallery
indices, and names the scoring rule of :mod:`sfcl.evaluation.metrics` that applies.
The protocols of every registered dataset are known here by name
(:func:`sfcl.data.protocol_spec`); each dataset module's docstring says how its
queries and galleries are drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sfcl.data import protocol_spec
from sfcl.data.base import Sample
from sfcl.data.spec import Trial
from sfcl.errors import SfclError
from sfcl.evaluation.metrics import evaluate_ranking


def build_trials(name: str, test: list[Sample], num_trials: int = 10, meta: dict | None = None) -> list[Trial]:
    """Query/gallery index arrays into ``test`` for each trial of protocol ``name``."""
    return _build(name, test, num_trials, meta or {})[0]


def _build(name: str, test: list[Sample], num_trials: int, meta: dict) -> tuple[list[Trial], str]:
    protocol = protocol_spec(name)
    if not test:
        raise SfclError(f"protocol {name}: the test split is empty")
    trials, sampling = protocol.build(test, num_trials, meta)
    for trial in trials:
        if trial.query.size == 0 or trial.gallery.size == 0:
            raise SfclError(f"protocol {name}: empty query or gallery ({trial.query.size} / {trial.gallery.size} images)")
    return trials, sampling


def evaluate(name: str, feats: torch.Tensor, test: list[Sample], num_trials: int = 10,
             meta: dict | None = None, rerank: tuple[int, int, float] | None = None) -> dict[str, Any]:
    """Score features (N, D) of ``test`` under protocol ``name``; metrics in percent, mean over trials.

    Features are L2-normalised and ``distmat = -(q @ g.T)`` (the reference's cosine ranking);
    ``rerank`` = (k1, k2, λ) re-ranks each trial's query and gallery with k-reciprocal encoding
    (:func:`sfcl.evaluation.rerank.k_reciprocal_distance`) instead.
    """
    if feats.ndim != 2 or feats.shape[0] != len(test):
        raise SfclError(f"protocol {name}: features {tuple(feats.shape)} do not fit {len(test)} test images")
    bad = (~torch.isfinite(feats)).any(dim=1).nonzero().flatten().tolist() if feats.numel() else []
    if bad:
        raise SfclError(f"protocol {name}: the features of {len(bad)} of {len(test)} test images are not finite "
                        f"(NaN or Inf; first: {test[bad[0]].path}): expected finite features (the model's weights "
                        "or that image are broken)")
    trials, sampling = _build(name, test, num_trials, meta or {})
    rule = protocol_spec(name).rule
    feats = F.normalize(feats.float(), dim=1)
    pids = torch.tensor([s.pid for s in test], device=feats.device)
    cams = torch.tensor([s.cam for s in test], device=feats.device)
    per_trial = []
    for trial in trials:
        q = torch.as_tensor(trial.query, device=feats.device)
        g = torch.as_tensor(trial.gallery, device=feats.device)
        if rerank is None:
            distmat = -(feats[q] @ feats[g].T)
        else:
            from sfcl.evaluation.rerank import k_reciprocal_distance

            k1, k2, lam = rerank
            distmat = k_reciprocal_distance(feats[q], feats[g], k1=k1, k2=k2, lam=lam)
        cmc, m_ap, m_inp = evaluate_ranking(distmat, pids[q], pids[g], cams[q], cams[g], rule=rule)
        per_trial.append(_percent(cmc, m_ap, m_inp))
    keys = ("r1", "r5", "r10", "r20", "mAP", "mINP")
    result: dict[str, Any] = {key: float(np.mean([t[key] for t in per_trial])) for key in keys}
    result["std"] = {key: float(np.std([t[key] for t in per_trial])) for key in keys}
    result.update(protocol=name, trials=per_trial, num_query=int(trials[0].query.size),
                  num_gallery=int(trials[0].gallery.size), gallery_sampling=sampling,
                  rerank=None if rerank is None else dict(zip(("k1", "k2", "lambda"), rerank)))
    return result


def _percent(cmc: np.ndarray, m_ap: float, m_inp: float) -> dict[str, float]:
    at = lambda k: float(cmc[min(k, len(cmc)) - 1]) * 100  # noqa: E731
    return {"r1": at(1), "r5": at(5), "r10": at(10), "r20": at(20), "mAP": m_ap * 100, "mINP": m_inp * 100}


def format_table(results: dict[str, dict]) -> str:
    """Markdown table, one row per entry of ``results`` (row name -> evaluate() output)."""
    width = max([len("row")] + [len(name) for name in results])
    keys = ("r1", "r5", "r10", "r20", "mAP", "mINP")
    heads = ("R1", "R5", "R10", "R20", "mAP", "mINP")
    lines = [f"| {'row':<{width}} | " + " | ".join(f"{h:>6}" for h in heads) + " |",  # 6 fits 100.00
             f"|{'-' * (width + 2)}|" + "|".join("-" * 7 + ":" for _ in heads) + "|"]
    for name, r in results.items():
        lines.append(f"| {name:<{width}} | " + " | ".join(f"{r[k]:6.2f}" for k in keys) + " |")
    return "\n".join(lines)

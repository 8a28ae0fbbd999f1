"""Evaluation protocols: which test images are queries and which gallery, per trial.

Features are extracted once for every test image of a dataset
(``ReIDDataset.test``); a protocol turns that list into ``Trial`` s of query and
gallery indices and scores each with the matching rule of
:mod:`sfcl.evaluation.metrics`.

SYSU-MM01 (AGW's ``process_query_sysu`` / ``process_gallery_sysu``):
  query   every infrared image (cameras 3 and 6) of the test identities, in both
          all- and indoor-search;
  gallery per trial ``t`` in 0..9: ``random.seed(t)``, then for each test
          identity (sorted) and each gallery camera in order (all: 1, 2, 4, 5;
          indoor: 1, 2) one ``random.choice`` among that identity/camera's images
          sorted by file name. We replay exactly that call sequence with a
          private ``random.Random(t)`` (same generator, same draws).
  multi-shot: 10 images per identity/camera. With the official
          ``rand_perm_cam.mat`` (``meta["rand_perm_cam"]``) the first 10 image
          numbers of ``rand_perm_cam[cam-1][0][pid-1][t]`` are taken, as the
          official evaluation does; without it ``random.Random(t).sample`` of
          min(10, n) in the same loop order ("seeded"). The results say which.
RegDB: one trial per loaded split (the dataset's ``trial``); visible→thermal
  queries the visible test images against the thermal ones; thermal→visible
  swaps the two roles.
LLCM (DEEN): ``llcm-v2i`` queries every visible test image against a gallery of
  one random infrared image per identity/camera per trial (``random.Random(t)``,
  identities sorted, cameras in order), ``llcm-i2v`` swaps the modalities' roles;
  gallery items of the query's identity and camera are dropped by the rule.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sfcl.data.base import Sample
from sfcl.errors import SfclError
from sfcl.evaluation.metrics import EVALUATORS

SYSU_GALLERY_CAMS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
SYSU_QUERY_CAMS = (3, 6)
MULTI_SHOT = 10


@dataclass(frozen=True)
class ProtocolSpec:
    rule: str  # "sysu" | "regdb" | "llcm" (metrics rule)
    description: str


PROTOCOLS: dict[str, ProtocolSpec] = {
    "sysu-all-single": ProtocolSpec("sysu", "SYSU-MM01 all-search, single-shot"),
    "sysu-all-multi": ProtocolSpec("sysu", "SYSU-MM01 all-search, multi-shot (10)"),
    "sysu-indoor-single": ProtocolSpec("sysu", "SYSU-MM01 indoor-search, single-shot"),
    "sysu-indoor-multi": ProtocolSpec("sysu", "SYSU-MM01 indoor-search, multi-shot (10)"),
    "regdb-v2t": ProtocolSpec("regdb", "RegDB visible to thermal"),
    "regdb-t2v": ProtocolSpec("regdb", "RegDB thermal to visible"),
    "llcm-v2i": ProtocolSpec("llcm", "LLCM visible to infrared"),
    "llcm-i2v": ProtocolSpec("llcm", "LLCM infrared to visible"),
}


@dataclass(frozen=True)
class Trial:
    """Indices into the test list: ``query`` (Q,) and ``gallery`` (G,), int64."""

    query: np.ndarray
    gallery: np.ndarray


def _spec(name: str) -> ProtocolSpec:
    if name not in PROTOCOLS:
        raise SfclError(f"unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})")
    return PROTOCOLS[name]


def _groups(test: list[Sample], modality: str | None = None, cams=None) -> dict[tuple[int, int], list[int]]:
    """(pid, cam) -> test indices sorted by file name."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, sample in enumerate(test):
        if (modality is None or sample.modality == modality) and (cams is None or sample.cam in cams):
            groups[(sample.pid, sample.cam)].append(index)
    for indices in groups.values():
        indices.sort(key=lambda i: Path(test[i].path).name)
    return groups


def _seeded_gallery(groups, pids, cams, trial: int, shots: int) -> list[int]:
    """Replays ``random.seed(trial)`` + one choice (or a sample of ``shots``) per (sorted pid, cam)."""
    rng = random.Random(trial)
    gallery: list[int] = []
    for pid in pids:
        for cam in cams:
            candidates = groups.get((pid, cam))
            if not candidates:
                continue
            if shots == 1:
                gallery.append(rng.choice(candidates))
            else:
                gallery.extend(rng.sample(candidates, min(shots, len(candidates))))
    return gallery


def _perm_gallery(test, groups, pids, cams, trial: int, perm_path: str) -> list[int]:
    """Multi-shot gallery from the official ``rand_perm_cam.mat`` (image numbers, 1-based)."""
    from scipy.io import loadmat

    perm = loadmat(perm_path)["rand_perm_cam"]
    gallery: list[int] = []
    for pid in pids:
        for cam in cams:
            by_number = {int(Path(test[i].path).stem): i for i in groups.get((pid, cam), [])}
            if not by_number:
                continue
            numbers = np.asarray(perm[cam - 1][0].squeeze()[pid - 1][trial]).ravel()[:MULTI_SHOT]
            gallery.extend(by_number[int(n)] for n in numbers if int(n) in by_number)
    return gallery


def _sysu_trials(name: str, test: list[Sample], num_trials: int, meta: dict) -> tuple[list[Trial], str]:
    _, mode, shot = name.split("-")
    query = np.array([i for i, s in enumerate(test) if s.cam in SYSU_QUERY_CAMS], dtype=np.int64)
    cams = SYSU_GALLERY_CAMS[mode]
    groups = _groups(test, cams=cams)
    pids = sorted({s.pid for s in test})
    perm_path = meta.get("rand_perm_cam")
    use_perm = shot == "multi" and perm_path is not None and Path(perm_path).is_file()
    trials = []
    for t in range(num_trials):
        if use_perm:
            gallery = _perm_gallery(test, groups, pids, cams, t, perm_path)
        else:
            gallery = _seeded_gallery(groups, pids, cams, t, 1 if shot == "single" else MULTI_SHOT)
        trials.append(Trial(query, np.array(gallery, dtype=np.int64)))
    return trials, "rand_perm_cam" if use_perm else "seeded"


def _regdb_trials(name: str, test: list[Sample]) -> list[Trial]:
    vis = np.array([i for i, s in enumerate(test) if s.modality == "vis"], dtype=np.int64)
    nir = np.array([i for i, s in enumerate(test) if s.modality == "nir"], dtype=np.int64)
    return [Trial(vis, nir) if name == "regdb-v2t" else Trial(nir, vis)]


def _llcm_trials(name: str, test: list[Sample], num_trials: int) -> list[Trial]:
    query_mod, gallery_mod = ("vis", "nir") if name == "llcm-v2i" else ("nir", "vis")
    query = np.array([i for i, s in enumerate(test) if s.modality == query_mod], dtype=np.int64)
    groups = _groups(test, modality=gallery_mod)
    pids = sorted({pid for pid, _ in groups})
    cams = sorted({cam for _, cam in groups})
    return [Trial(query, np.array(_seeded_gallery(groups, pids, cams, t, 1), dtype=np.int64))
            for t in range(num_trials)]


def build_trials(name: str, test: list[Sample], num_trials: int = 10, meta: dict | None = None) -> list[Trial]:
    """Query/gallery index arrays into ``test`` for each trial of protocol ``name``."""
    return _build(name, test, num_trials, meta or {})[0]


def _build(name: str, test: list[Sample], num_trials: int, meta: dict) -> tuple[list[Trial], str]:
    rule = _spec(name).rule
    if not test:
        raise SfclError(f"protocol {name}: the test split is empty")
    if rule == "sysu":
        trials, sampling = _sysu_trials(name, test, num_trials, meta)
    elif rule == "regdb":
        trials, sampling = _regdb_trials(name, test), "fixed"
    else:
        trials, sampling = _llcm_trials(name, test, num_trials), "seeded"
    for trial in trials:
        if trial.query.size == 0 or trial.gallery.size == 0:
            raise SfclError(f"protocol {name}: empty query or gallery ({trial.query.size} / {trial.gallery.size} images)")
    return trials, sampling


def evaluate(name: str, feats: torch.Tensor, test: list[Sample], num_trials: int = 10,
             meta: dict | None = None) -> dict[str, Any]:
    """Score features (N, D) of ``test`` under protocol ``name``; metrics in percent, mean over trials.

    Features are L2-normalised and ``distmat = -(q @ g.T)`` (the reference's cosine ranking).
    """
    if feats.ndim != 2 or feats.shape[0] != len(test):
        raise SfclError(f"protocol {name}: features {tuple(feats.shape)} do not fit {len(test)} test images")
    trials, sampling = _build(name, test, num_trials, meta or {})
    rule = _spec(name).rule
    feats = F.normalize(feats.float(), dim=1)
    pids = torch.tensor([s.pid for s in test], device=feats.device)
    cams = torch.tensor([s.cam for s in test], device=feats.device)
    per_trial = []
    for trial in trials:
        q = torch.as_tensor(trial.query, device=feats.device)
        g = torch.as_tensor(trial.gallery, device=feats.device)
        distmat = -(feats[q] @ feats[g].T)
        cmc, m_ap, m_inp = EVALUATORS[rule](distmat, pids[q], pids[g], cams[q], cams[g])
        per_trial.append(_percent(cmc, m_ap, m_inp))
    keys = ("r1", "r5", "r10", "r20", "mAP", "mINP")
    result: dict[str, Any] = {key: float(np.mean([t[key] for t in per_trial])) for key in keys}
    result["std"] = {key: float(np.std([t[key] for t in per_trial])) for key in keys}
    result.update(protocol=name, trials=per_trial, num_query=int(trials[0].query.size),
                  num_gallery=int(trials[0].gallery.size), gallery_sampling=sampling)
    return result


def _percent(cmc: np.ndarray, m_ap: float, m_inp: float) -> dict[str, float]:
    at = lambda k: float(cmc[min(k, len(cmc)) - 1]) * 100  # noqa: E731
    return {"r1": at(1), "r5": at(5), "r10": at(10), "r20": at(20), "mAP": m_ap * 100, "mINP": m_inp * 100}


def format_table(results: dict[str, dict]) -> str:
    """Markdown table, one row per entry of ``results`` (row name -> evaluate() output)."""
    width = max([len("row")] + [len(name) for name in results])
    lines = [f"| {'row':<{width}} |    R1 |    R5 |   R10 |   R20 |   mAP |  mINP |",
             f"|{'-' * (width + 2)}|------:|------:|------:|------:|------:|------:|"]
    for name, r in results.items():
        lines.append(f"| {name:<{width}} | {r['r1']:5.2f} | {r['r5']:5.2f} | {r['r10']:5.2f} | "
                     f"{r['r20']:5.2f} | {r['mAP']:5.2f} | {r['mINP']:5.2f} |")
    return "\n".join(lines)

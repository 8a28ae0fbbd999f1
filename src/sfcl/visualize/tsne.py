"""``sfcl visualize tsne``: a 2-D t-SNE (scikit-learn) of a checkpoint's query and gallery features.

One gallery trial of a protocol of the checkpoint's dataset (default: its infrared-query
protocol, trial 0), restricted to the first ``num_ids`` test identities so the picture stays
readable. Points are coloured by identity, drawn as circles (visible) or triangles (infrared),
and images the dataset's occlusion manifest lists (``sfcl occlude`` output) get a black edge.
Features are L2-normalised (as the protocols score them) before the embedding. A model that
aligns the modalities puts the circles and triangles of one colour together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sfcl.data.base import Sample
from sfcl.errors import SfclError
from sfcl.fileio import check_png_name, save_figure
from sfcl.modality import NIR, VIS


@dataclass
class TsnePoints:
    """The embedded images: ``points`` (N, 2) float64, with each sample and whether it is occluded."""

    points: np.ndarray
    samples: list[Sample]
    occluded: np.ndarray


def tsne_points(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, D) features -> (N, 2) t-SNE coordinates (scikit-learn, PCA start, cosine on unit vectors)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise SfclError("sfcl visualize tsne needs scikit-learn: pip install 'sfcl[analysis]'") from None
    if features.ndim != 2 or features.shape[0] < 4:
        raise SfclError(f"t-SNE needs at least 4 feature vectors, got an array of shape {features.shape}")
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    perplexity = min(perplexity, (features.shape[0] - 1) / 3.0)  # scikit-learn requires perplexity < N
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(unit)


def occluded_paths(root: str | Path) -> set[str]:
    """Absolute paths of the images an occlusion manifest in ``root`` lists (empty without one)."""
    from sfcl.occlusion.manifest import NAME, read_manifest

    manifest = Path(root) / NAME
    if not manifest.is_file():
        return set()
    _, records = read_manifest(manifest)
    return {str((Path(root) / r["path"]).resolve()) for r in records}


def embed_checkpoint(checkpoint: str | Path, data_root: str | Path | None = None, num_ids: int = 20,
                     protocol: str | None = None, trial: int = 0, device: str = "auto", seed: int = 0,
                     perplexity: float = 30.0) -> TsnePoints:
    """Extract one trial's query + gallery features of ``num_ids`` identities and embed them in 2-D."""
    from sfcl.evaluation.extract import extract_features
    from sfcl.visualize.ranks import checkpoint_trial

    if num_ids < 2:
        raise SfclError(f"num_ids={num_ids}: expected at least 2 identities")
    loaded = checkpoint_trial(checkpoint, data_root, protocol, trial, device)
    model, cfg, dataset, chosen, torch_device = loaded.model, loaded.cfg, loaded.dataset, loaded.trial, loaded.device
    indices = np.concatenate([chosen.query, chosen.gallery])
    keep_ids = set(sorted({dataset.test[i].pid for i in indices})[:num_ids])
    samples = [dataset.test[i] for i in indices if dataset.test[i].pid in keep_ids]
    feats = extract_features(model, samples, cfg.data.height, cfg.data.width, batch_size=cfg.data.test_batch_size,
                             device=torch_device, flip=cfg.eval.flip, progress=cfg.train.progress)
    occluded = occluded_paths(cfg.data.root)
    flags = np.array([str(Path(s.path).resolve()) in occluded for s in samples], dtype=bool)
    return TsnePoints(tsne_points(feats.double().numpy(), seed=seed, perplexity=perplexity), samples, flags)


def render_tsne(embedded: TsnePoints, out: str | Path, title: str = "", dpi: int = 100) -> Path:
    """Scatter ``embedded`` to a PNG: colour = identity, circle = visible, triangle = infrared, black edge = occluded."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    check_png_name(out)
    fig = Figure(figsize=(7.0, 6.0))
    ax = fig.add_subplot(1, 1, 1)
    pids = sorted({s.pid for s in embedded.samples})
    cmap = matplotlib.colormaps["tab20"]
    colours = {pid: cmap(i % 20) for i, pid in enumerate(pids)}
    for modality, marker in ((VIS, "o"), (NIR, "^")):
        for occluded in (False, True):
            mask = np.array([s.modality == modality for s in embedded.samples]) & (embedded.occluded == occluded)
            if not mask.any():
                continue
            ax.scatter(embedded.points[mask, 0], embedded.points[mask, 1], s=28, marker=marker,
                       c=[colours[s.pid] for s, m in zip(embedded.samples, mask) if m],
                       edgecolors="black" if occluded else "none", linewidths=1.0)
    handles = [Line2D([], [], marker="o", linestyle="", color="grey", label="visible"),
               Line2D([], [], marker="^", linestyle="", color="grey", label="infrared")]
    if embedded.occluded.any():
        handles.append(Line2D([], [], marker="o", linestyle="", color="white", markeredgecolor="black",
                              label="occluded"))
    ax.legend(handles=handles, loc="best", fontsize=8)
    ax.set_title(title or f"t-SNE of {len(embedded.samples)} test images, {len(pids)} identities (colour)", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return save_figure(fig, out, dpi)

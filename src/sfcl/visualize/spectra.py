"""Where in frequency do modalities differ, and where does occlusion? Mean log-amplitude spectra of a dataset.

The paper's claim (motivating CFAM): the visible/infrared gap sits in a few
frequency bands of the amplitude spectrum, while occlusion disturbs the
spectrum diffusely. This module measures it on a dataset folder.

Every image is read as its channel mean (grey), resized to ``size`` and turned
into ``log(|F| + 1e-3)`` of its ortho 2-D FFT, zero frequency centred
(:func:`sfcl.visualize.swap.centred_log_amplitude`). Per bin k:

* ``mean_vis(k)``, ``mean_nir(k)``: mean over up to ``max_images`` images per
  modality (evenly spaced over the dataset's train + test list);
* modality difference ``D(k) = mean_vis(k) - mean_nir(k)``;
* modality share of variance ``eta2(k)`` = between-group variance / total
  variance of the pooled values (1: the bin separates the modalities perfectly);
* with an occluded copy (same layout, from ``sfcl occlude``): over the images
  that were occluded (the copy's manifest, else every pair whose bytes differ),
  ``D_occ(k) = mean_occluded(k) - mean_clean(k)`` and its ``eta2``.

Summary numbers, on the energy ``D(k)^2`` with the zero-frequency bin left out
(it is the mean brightness, not a band): the share of the energy held by the
top 10% of bins, and the participation ratio ``(sum E)^2 / (n sum E^2)`` (the
effective fraction of bins carrying it: 1 spread evenly, 1/n one bin). Pure
sampling noise (``D`` Gaussian) gives 0.44 and 0.33: concentration means well
above, diffuse means near or below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from sfcl.errors import SfclError
from sfcl.fileio import check_png_name, save_figure
from sfcl.visualize.images import read_rgb
from sfcl.visualize.swap import centred_log_amplitude

TOP_FRACTION = 0.1


@dataclass
class SpectraStats:
    """Per-bin maps (H, W), zero frequency at (H // 2, W // 2), and the counts and summary behind them."""

    mean_vis: np.ndarray
    mean_nir: np.ndarray
    modality_diff: np.ndarray
    modality_eta2: np.ndarray
    counts: dict[str, int]
    occlusion_diff: np.ndarray | None = None
    occlusion_eta2: np.ndarray | None = None
    summary: dict[str, float] = field(default_factory=dict)


def log_spectrum(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """One image file -> (H, W) centred log amplitude of its grey version resized to ``size``."""
    grey = read_rgb(path).astype(np.float32).mean(axis=2) / np.float32(255.0)
    height, width = size
    if grey.shape != (height, width):
        shrink = grey.shape[0] >= height
        grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return centred_log_amplitude(grey.astype(np.float64))


def eta_squared(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N1, H, W), (N2, H, W) -> (H, W) between-group share of the total variance per bin, in [0, 1]."""
    pooled = np.concatenate([first, second])
    total = ((pooled - pooled.mean(axis=0)) ** 2).sum(axis=0)
    between = sum(len(g) * (g.mean(axis=0) - pooled.mean(axis=0)) ** 2 for g in (first, second))
    return between / np.maximum(total, 1e-12)


def concentration(diff: np.ndarray, top: float = TOP_FRACTION) -> tuple[float, float]:
    """(H, W) centred difference -> (energy share of the top ``top`` bins, participation ratio), DC bin left out."""
    energy = np.delete((diff ** 2).ravel(), (diff.shape[0] // 2) * diff.shape[1] + diff.shape[1] // 2)
    total = energy.sum()
    if total <= 0:
        return 0.0, 1.0
    keep = max(1, int(np.ceil(top * energy.size)))
    share = float(np.sort(energy)[::-1][:keep].sum() / total)
    return share, float(total ** 2 / (energy.size * (energy ** 2).sum()))


def spread(items: list, count: int) -> list:
    """Up to ``count`` items evenly spaced over ``items`` (all of them when fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def _occluded_pairs(root: Path, occluded: Path, samples: list, max_images: int) -> list[tuple[Path, Path]]:
    """(clean, occluded) file pairs of occluded images, up to ``max_images`` per modality."""
    from sfcl.occlusion.manifest import NAME, read_manifest

    if not occluded.is_dir():
        raise SfclError(f"missing occluded dataset folder {occluded}: expected a copy made by `sfcl occlude`")
    by_rel = {Path(s.path).relative_to(root).as_posix(): s.modality for s in samples}
    if (occluded / NAME).is_file():
        records = read_manifest(occluded / NAME)[1]
        candidates = [(r["path"], r["modality"]) for r in records if r["path"] in by_rel]
    else:
        candidates = [(rel, mod) for rel, mod in sorted(by_rel.items())
                      if (occluded / rel).is_file() and (occluded / rel).read_bytes() != (root / rel).read_bytes()]
    pairs = []
    for modality in ("vis", "nir"):
        chosen = spread([rel for rel, mod in candidates if mod == modality], max_images)
        pairs += [(root / rel, occluded / rel) for rel in chosen if (occluded / rel).is_file()]
    if not pairs:
        raise SfclError(f"no occluded image in {occluded} pairs with an image of {root}: expected a copy of "
                        f"that dataset made by `sfcl occlude --src {root}`")
    return pairs


def compute_spectra(data_root: str | Path, occluded_root: str | Path | None = None, dataset: str = "sysu",
                    max_images: int = 400, size: tuple[int, int] = (288, 144)) -> SpectraStats:
    """Statistics of the module docstring for the dataset at ``data_root`` (any layout ``dataset`` names)."""
    from sfcl.data import build_dataset

    if max_images < 2:
        raise SfclError(f"max_images={max_images}: expected at least 2 images per modality")
    data = build_dataset(dataset, data_root)
    samples = data.train + data.test
    spectra = {}
    for modality in ("vis", "nir"):
        chosen = spread([s for s in samples if s.modality == modality], max_images)
        if len(chosen) < 2:
            raise SfclError(f"dataset {data_root} has {len(chosen)} {modality} image(s): expected at least 2")
        spectra[modality] = np.stack([log_spectrum(s.path, size) for s in chosen])
    vis, nir = spectra["vis"], spectra["nir"]
    stats = SpectraStats(vis.mean(axis=0), nir.mean(axis=0), vis.mean(axis=0) - nir.mean(axis=0),
                         eta_squared(vis, nir), {"vis": len(vis), "nir": len(nir)})
    share, ratio = concentration(stats.modality_diff)
    stats.summary.update(modality_top10_share=share, modality_participation=ratio)
    if occluded_root is not None:
        pairs = _occluded_pairs(Path(data.root), Path(occluded_root), samples, max_images)
        clean = np.stack([log_spectrum(a, size) for a, _ in pairs])
        occluded = np.stack([log_spectrum(b, size) for _, b in pairs])
        stats.occlusion_diff = occluded.mean(axis=0) - clean.mean(axis=0)
        stats.occlusion_eta2 = eta_squared(occluded, clean)
        stats.counts["occluded_pairs"] = len(pairs)
        share, ratio = concentration(stats.occlusion_diff)
        stats.summary.update(occlusion_top10_share=share, occlusion_participation=ratio)
    return stats


def format_summary(stats: SpectraStats) -> str:
    """A few lines: images used, and the concentration numbers of the modality and occlusion differences."""
    lines = [f"images: {stats.counts['vis']} visible, {stats.counts['nir']} infrared"
             + (f", {stats.counts['occluded_pairs']} clean/occluded pairs" if "occluded_pairs" in stats.counts else "")]
    for key, name in (("modality", "modality difference (VIS - NIR)"), ("occlusion", "occlusion difference")):
        if f"{key}_top10_share" in stats.summary:
            lines.append(f"{name}: top 10% of bins hold {stats.summary[f'{key}_top10_share']:.1%} of its energy, "
                         f"participation ratio {stats.summary[f'{key}_participation']:.3f}")
    return "\n".join(lines)


def _panel(fig, ax, values: np.ndarray, title: str, cmap: str, symmetric: bool = False) -> None:
    limit = float(np.abs(values).max()) or 1.0
    image = ax.imshow(values, cmap=cmap, interpolation="nearest", vmin=-limit if symmetric else None,
                      vmax=limit if symmetric else None)
    fig.colorbar(image, ax=ax, fraction=0.08, pad=0.02).ax.tick_params(labelsize=6)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def _energy_curve(ax, stats: SpectraStats) -> None:
    for diff, label in ((stats.modality_diff, "VIS - NIR"), (stats.occlusion_diff, "occluded - clean")):
        if diff is not None:
            energy = np.sort((diff ** 2).ravel())[::-1][1:]  # the largest is (nearly always) DC: left out
            ax.plot(np.linspace(0, 1, energy.size), np.cumsum(energy) / energy.sum(), label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8, label="even")
    ax.axvline(TOP_FRACTION, color="grey", linewidth=0.5)
    ax.set_xlabel("fraction of bins (largest first)", fontsize=7)
    ax.set_ylabel("share of difference energy", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, loc="lower right")
    ax.set_title("concentration", fontsize=8)


def render_spectra(stats: SpectraStats, out: str | Path, dpi: int = 100) -> Path:
    """Write the 2 x 4 figure (1000 x 700 px at dpi 100): spectra, differences, eta2, curve, summary."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 7.0))
    axes = fig.subplots(2, 4)
    _panel(fig, axes[0, 0], stats.mean_vis, "mean log amplitude VIS", "magma")
    _panel(fig, axes[0, 1], stats.mean_nir, "mean log amplitude NIR", "magma")
    _panel(fig, axes[0, 2], stats.modality_diff, "VIS - NIR", "RdBu_r", symmetric=True)
    _panel(fig, axes[0, 3], stats.modality_eta2, "modality share of variance", "viridis")
    if stats.occlusion_diff is not None:
        _panel(fig, axes[1, 0], stats.occlusion_diff, "occluded - clean", "RdBu_r", symmetric=True)
        _panel(fig, axes[1, 1], stats.occlusion_eta2, "occlusion share of variance", "viridis")
    else:
        for ax in axes[1, :2]:
            ax.text(0.5, 0.5, "no occluded copy\n(--occluded-root)", ha="center", va="center", fontsize=8)
            ax.set_axis_off()
    _energy_curve(axes[1, 2], stats)
    axes[1, 3].set_axis_off()
    axes[1, 3].text(0.0, 0.5, format_summary(stats).replace(": ", ":\n").replace(", ", ",\n"), fontsize=6.5,
                    va="center", ha="left", wrap=True)
    fig.subplots_adjust(left=0.03, right=0.97, top=0.95, bottom=0.08, wspace=0.45, hspace=0.25)
    return save_figure(fig, out, dpi)


def visualize_spectra(data_root: str | Path, out: str | Path, occluded_root: str | Path | None = None,
                      dataset: str = "sysu", max_images: int = 400,
                      size: tuple[int, int] = (288, 144)) -> SpectraStats:
    """Compute the statistics and write the figure to ``out``; returns the statistics."""
    check_png_name(out)
    stats = compute_spectra(data_root, occluded_root, dataset, max_images, size)
    render_spectra(stats, out)
    return stats

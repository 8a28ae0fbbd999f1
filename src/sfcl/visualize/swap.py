"""The paper's Figure 1: exchange amplitude and phase between a visible and an infrared image.

The amplitude of a Fourier spectrum carries the "style" (modality: colour,
thermal contrast), the phase the structure (where the person is): swapping them
shows that ``IFFT(|F(vis)|, ∠F(nir))`` looks like the infrared person in
visible style, and conversely. CFAM aligns amplitudes across modalities for
that reason (``sfcl.models.cfam``).

* Image level: per-channel 2-D FFT (:func:`sfcl.models.spectrum.decompose`,
  ortho ``rfft2``) of the visible image and of the infrared image, the grey
  infrared broadcast to three channels and resized to the visible size; the two
  hybrids are ``recombine(A_vis, P_nir)`` and ``recombine(A_nir, P_vis)``.
  The phase is taken with ``eps`` = :data:`PIXEL_PHASE_EPS` (not the training
  value), so the hybrid's amplitude is the provider's to float precision.
* Feature level (with a checkpoint): the backbone's maps X (C, h, w) of each
  image through its own modality's stem, the same exchange per channel, shown as
  channel means.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from sfcl.fileio import check_png_name, save_figure
from sfcl.modality import INDEX
from sfcl.models.spectrum import decompose, recombine
from sfcl.visualize.images import read_rgb, to_unit

PIXEL_PHASE_EPS = 1e-8


@dataclass
class ImageSwap:
    """Image-level exchange: every field (3, H, W) float32, inputs in [0, 1], hybrids unclipped."""

    visible: np.ndarray
    infrared: np.ndarray
    vis_amp_nir_phase: np.ndarray
    nir_amp_vis_phase: np.ndarray


@dataclass
class FeatureSwap:
    """Feature-level exchange: every field (C, h, w) float32, the backbone map X of each image and the hybrids."""

    visible: np.ndarray
    infrared: np.ndarray
    vis_amp_nir_phase: np.ndarray
    nir_amp_vis_phase: np.ndarray


def swap_spectra(amplitude_source: Tensor, phase_source: Tensor, eps: float = PIXEL_PHASE_EPS) -> Tensor:
    """``IFFT(|F(amplitude_source)|, ∠F(phase_source))`` per channel: (B, C, H, W) x 2 -> (B, C, H, W) float32."""
    if amplitude_source.shape != phase_source.shape:
        raise ValueError(f"amplitude and phase sources differ in shape: {tuple(amplitude_source.shape)} "
                         f"vs {tuple(phase_source.shape)}")
    amplitude = decompose(amplitude_source, eps)
    return recombine(amplitude.amplitude, decompose(phase_source, eps).phase, amplitude.size)


def pair_images(vis_rgb: np.ndarray, nir_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (H, W, 3) visible and (h, w, 3) infrared -> float32 (3, H, W) each in [0, 1].

    The infrared image becomes its channel mean broadcast to 3 channels, resized to (H, W).
    """
    height, width = vis_rgb.shape[:2]
    grey = nir_rgb.astype(np.float32).mean(axis=2)
    if grey.shape != (height, width):
        shrink = grey.shape[0] >= height
        grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    nir = np.repeat(grey[None] / np.float32(255.0), 3, axis=0)
    return to_unit(vis_rgb), np.ascontiguousarray(nir, dtype=np.float32)


def image_swap(vis_rgb: np.ndarray, nir_rgb: np.ndarray) -> ImageSwap:
    """The image-level exchange of a visible and an infrared uint8 RGB image (see module docstring)."""
    visible, infrared = pair_images(vis_rgb, nir_rgb)
    vis_t, nir_t = torch.from_numpy(visible)[None], torch.from_numpy(infrared)[None]
    return ImageSwap(visible, infrared, swap_spectra(vis_t, nir_t)[0].numpy(), swap_spectra(nir_t, vis_t)[0].numpy())


@torch.no_grad()
def feature_swap(model: nn.Module, height: int, width: int, vis_rgb: np.ndarray, nir_rgb: np.ndarray,
                 device: torch.device | str = "cpu") -> FeatureSwap:
    """The exchange on the backbone maps X (C, h, w) of ``model`` (a ReIDModel; test-time transform at height x width)."""
    from sfcl.data.transforms import build_transforms

    maps = {}
    for modality, rgb in (("vis", vis_rgb), ("nir", nir_rgb)):
        image = build_transforms(height, width, train=False, modality=modality)(Image.fromarray(rgb, "RGB"))
        index = torch.tensor([INDEX[modality]], device=device)
        maps[modality] = model.backbone(image[None].to(device), index).float().cpu()
    vis, nir = maps["vis"], maps["nir"]
    return FeatureSwap(vis[0].numpy(), nir[0].numpy(), swap_spectra(vis, nir)[0].numpy(),
                       swap_spectra(nir, vis)[0].numpy())


def centred_log_amplitude(grey: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W) ``log(|F| + 1e-3)`` of the ortho 2-D FFT, zero frequency in the middle."""
    return np.fft.fftshift(np.log(np.abs(np.fft.fft2(grey, norm="ortho")) + 1e-3))


def centred_phase(grey: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W) phase angle in (-pi, pi] of the 2-D FFT, zero frequency in the middle."""
    return np.fft.fftshift(np.angle(np.fft.fft2(grey)))


def _show_rgb(ax, chw: np.ndarray, title: str) -> None:
    ax.imshow(np.clip(chw.transpose(1, 2, 0), 0.0, 1.0))
    ax.set_title(title, fontsize=8)


def _show_map(ax, values: np.ndarray, title: str, cmap: str = "viridis") -> None:
    ax.imshow(values, cmap=cmap, interpolation="nearest")
    ax.set_title(title, fontsize=8)


def render_swap(images: ImageSwap, out: str | Path, features: FeatureSwap | None = None, dpi: int = 100) -> Path:
    """Write the figure: hybrids row, spectra row, and the feature row when given; 800 x 340 px per row at dpi 100."""
    from matplotlib.figure import Figure

    rows = 3 if features is not None else 2
    fig = Figure(figsize=(8.0, 3.4 * rows))
    axes = fig.subplots(rows, 4)
    _show_rgb(axes[0, 0], images.visible, "visible (VIS)")
    _show_rgb(axes[0, 1], images.infrared, "infrared (NIR)")
    _show_rgb(axes[0, 2], images.vis_amp_nir_phase, "amp(VIS) + phase(NIR)")
    _show_rgb(axes[0, 3], images.nir_amp_vis_phase, "amp(NIR) + phase(VIS)")
    vis_grey, nir_grey = images.visible.mean(axis=0), images.infrared.mean(axis=0)
    _show_map(axes[1, 0], centred_log_amplitude(vis_grey), "log amplitude VIS", "magma")
    _show_map(axes[1, 1], centred_log_amplitude(nir_grey), "log amplitude NIR", "magma")
    _show_map(axes[1, 2], centred_phase(vis_grey), "phase VIS", "twilight")
    _show_map(axes[1, 3], centred_phase(nir_grey), "phase NIR", "twilight")
    if features is not None:
        titles = ("X(VIS), channel mean", "X(NIR), channel mean", "amp(X_VIS) + phase(X_NIR)",
                  "amp(X_NIR) + phase(X_VIS)")
        maps = (features.visible, features.infrared, features.vis_amp_nir_phase, features.nir_amp_vis_phase)
        for ax, values, title in zip(axes[2], maps, titles):
            _show_map(ax, values.mean(axis=0), title)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.02, wspace=0.08, hspace=0.15)
    return save_figure(fig, out, dpi)


def visualize_swap(vis: str | Path, nir: str | Path, out: str | Path, checkpoint: str | Path | None = None,
                   device: str = "auto") -> tuple[ImageSwap, FeatureSwap | None, Path]:
    """Read both images (checked: colour visible, grey infrared), exchange, write ``out``; returns what was drawn."""
    check_png_name(out)
    vis_rgb, nir_rgb = read_rgb(vis, "vis"), read_rgb(nir, "nir")
    features = None
    if checkpoint is not None:
        from sfcl.engine.checkpoint import model_from_checkpoint
        from sfcl.engine.runtime import resolve_device

        torch_device = resolve_device(device)
        model, cfg = model_from_checkpoint(checkpoint, torch_device)
        features = feature_swap(model, cfg.data.height, cfg.data.width, vis_rgb, nir_rgb, torch_device)
    images = image_swap(vis_rgb, nir_rgb)
    return images, features, render_swap(images, out, features)

"""The paper's Figure 1: exchange amplitude and phase between a visible and an infrared image.

The amplitude of a Fourier spectrum carries the "style" (modality: colour,
thermal contrast), the phase the structure (where the person is): swapping them
shows that ``IFFT(|F(vis)|, ∠F(nir))`` looks like the infrared person in
visible style, and conversely. CFAM aligns amplitudes across modalities for
that reason (``sfcl.models.cfam``).

* Image level, on luminance and chroma (:func:`exchange`): both images go to
  YCbCr (BT.601, full range; the infrared image is one band, so its Cb and Cr are
  0), resized to the visible size. The hybrid with amplitude from ``a`` and phase
  from ``p`` takes its luminance as ``Y = IFFT(|F(Y_a)|, ∠F(Y_p))`` and each chroma
  channel as ``C = IFFT(|F(C_a)|, ∠F(C_a) − ∠F(Y_a) + ∠F(Y_p))``: the chroma's
  amplitude and its phase *relative to the luminance* are ``a``'s (which colour goes
  with which brightness pattern, and at zero frequency the mean colour, sign included),
  the layout is ``p``'s luminance phase. So the hybrid takes its appearance, colour
  included, from the amplitude provider and its layout from the phase provider only:
  an infrared amplitude gives a grey hybrid (no colour leaks in through the visible
  image's per-channel phases, as an exchange per RGB channel lets it), a visible
  amplitude gives the visible image's colours, mean colour exact, on the infrared
  person's layout.
  The phase is taken with ``eps`` = :data:`PIXEL_PHASE_EPS` (not the training
  value), so the hybrid's amplitudes are the provider's to float precision.
  An infrared image of another aspect ratio is stretched to the visible one's
  (a warning says so).
* Feature level (with a checkpoint): the backbone's maps X (C, h, w) of each
  image through its own modality's stem, the same exchange per channel, shown as
  channel means.
"""

from __future__ import annotations

import logging
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
from sfcl.visualize.images import colourfulness, is_grey, read_rgb, to_unit

log = logging.getLogger(__name__)

PIXEL_PHASE_EPS = 1e-8
YCBCR_FROM_RGB = np.array([[0.299, 0.587, 0.114],  # BT.601 full range, on [0, 1] values, no offsets
                           [-0.168736, -0.331264, 0.5],
                           [0.5, -0.418688, -0.081312]])
RGB_FROM_YCBCR = np.linalg.inv(YCBCR_FROM_RGB)
ASPECT_TOLERANCE = 0.01  # relative difference of height/width that counts as another aspect ratio


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


def _channels(matrix: np.ndarray, chw: Tensor) -> Tensor:
    """(B, 3, H, W) -> (B, 3, H, W): ``matrix`` (3 x 3) applied to the channels."""
    return torch.einsum("ij,bjhw->bihw", torch.as_tensor(matrix, dtype=chw.dtype), chw)


def exchange(amplitude_source: Tensor, phase_source: Tensor, eps: float = PIXEL_PHASE_EPS) -> Tensor:
    """The image-level hybrid (module docstring): RGB (B, 3, H, W) in [0, 1] x 2 -> RGB (B, 3, H, W) float32,
    unclipped: YCbCr amplitudes and chroma-to-luminance phases from ``amplitude_source``, the layout
    (luminance phase) from ``phase_source``."""
    if amplitude_source.shape != phase_source.shape or amplitude_source.dim() != 4 or amplitude_source.shape[1] != 3:
        raise ValueError(f"exchange expects two (B, 3, H, W) RGB images, got {tuple(amplitude_source.shape)} "
                         f"and {tuple(phase_source.shape)}")
    source = decompose(_channels(YCBCR_FROM_RGB, amplitude_source.double()).float(), eps)
    layout = decompose(_channels(YCBCR_FROM_RGB[:1], phase_source.double()).float(), eps).phase
    relative = source.phase * source.phase[:, :1].conj()  # each channel's phase against the luminance's
    relative[:, :1] = 1.0  # the luminance itself: exactly the layout's phase
    ycbcr = recombine(source.amplitude, relative * layout, source.size)
    return _channels(RGB_FROM_YCBCR, ycbcr.double()).float()


def pair_images(vis_rgb: np.ndarray, nir_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (H, W, 3) visible and (h, w, 3) infrared -> float32 (3, H, W) each in [0, 1].

    The infrared image becomes its luminance (one band) broadcast to 3 channels, resized to (H, W);
    another aspect ratio is logged as a warning, since the person is then stretched.
    """
    height, width = vis_rgb.shape[:2]
    grey = (nir_rgb.astype(np.float64) @ YCBCR_FROM_RGB[0]).astype(np.float32)
    if abs(grey.shape[0] / grey.shape[1] - height / width) > ASPECT_TOLERANCE * height / width:
        log.warning("the infrared image (%dx%d) has another aspect ratio than the visible one (%dx%d): it is "
                    "stretched to %dx%d for the exchange", grey.shape[0], grey.shape[1], height, width, height, width)
    if grey.shape != (height, width):
        shrink = grey.shape[0] >= height
        grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    nir = np.repeat(grey[None] / np.float32(255.0), 3, axis=0)
    return to_unit(vis_rgb), np.ascontiguousarray(nir, dtype=np.float32)


def image_swap(vis_rgb: np.ndarray, nir_rgb: np.ndarray) -> ImageSwap:
    """The image-level exchange of a visible and an infrared uint8 RGB image (see module docstring)."""
    visible, infrared = pair_images(vis_rgb, nir_rgb)
    vis_t, nir_t = torch.from_numpy(visible)[None], torch.from_numpy(infrared)[None]
    return ImageSwap(visible, infrared, exchange(vis_t, nir_t)[0].numpy(), exchange(nir_t, vis_t)[0].numpy())


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
    """Read both images, exchange, write ``out``; returns what was drawn. Content is not refused (the
    exchange is defined for any two images), but a visible image without colour, or an infrared one
    with it, is logged as a warning naming its channel spread."""
    check_png_name(out)
    vis_rgb, nir_rgb = read_rgb(vis), read_rgb(nir)
    if is_grey(vis_rgb):
        log.warning("the visible image %s has no colour (channel spread %.2f): the hybrid with its amplitude is grey",
                    vis, colourfulness(vis_rgb))
    if not is_grey(nir_rgb):
        log.warning("the infrared image %s is in colour (channel spread %.2f): only its luminance is used", nir,
                    colourfulness(nir_rgb))
    features = None
    if checkpoint is not None:
        from sfcl.engine.checkpoint import model_from_checkpoint
        from sfcl.engine.runtime import resolve_device

        torch_device = resolve_device(device)
        model, cfg = model_from_checkpoint(checkpoint, torch_device)
        features = feature_swap(model, cfg.data.height, cfg.data.width, vis_rgb, nir_rgb, torch_device)
    images = image_swap(vis_rgb, nir_rgb)
    return images, features, render_swap(images, out, features)

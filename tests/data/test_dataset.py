import pytest
import torch

from sfcl.data.base import Sample
from sfcl.data.dataset import ImageDataset, read_image
from sfcl.errors import SfclError
from tests.data.fixtures import write_image


def test_items_and_transforms(tmp_path):
    v = write_image(tmp_path / "v.jpg", 10)
    n = tmp_path / "n.png"
    from PIL import Image
    Image.new("L", (4, 8), 77).save(n)
    samples = [Sample(str(v), 5, 1, "vis", 0), Sample(str(n), 5, 3, "nir", 0)]
    ds = ImageDataset(samples)
    x, label, pid, cam, mod = ds[1]
    assert x.shape == (3, 8, 4) and x.dtype == torch.float32
    assert (label, pid, cam, mod) == (0, 5, 3, 1)
    assert ds[0][4] == 0 and len(ds) == 2
    ds.transform = {"vis": lambda im: torch.zeros(1), "nir": lambda im: torch.ones(1)}
    assert ds[0][0].item() == 0 and ds[1][0].item() == 1
    ds.transform = lambda im: torch.full((1,), 2.0)
    assert ds[1][0].item() == 2


def test_read_image_rgb(tmp_path):
    p = tmp_path / "g.png"
    from PIL import Image
    Image.new("L", (4, 8), 3).save(p)
    assert read_image(str(p)).mode == "RGB"


@pytest.mark.parametrize("content", [b"", b"not an image", None])
def test_corrupt_image(tmp_path, content):
    p = tmp_path / "bad.jpg"
    if content is None:  # truncated JPEG
        write_image(p, 1)
        p.write_bytes(p.read_bytes()[:40])
    else:
        p.write_bytes(content)
    with pytest.raises(SfclError) as err:
        ImageDataset([Sample(str(p), 1, 1, "vis")])[0]
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_missing_image(tmp_path):
    with pytest.raises(SfclError, match="missing.jpg"):
        read_image(str(tmp_path / "missing.jpg"))


def test_check_split_refuses_shared_identities_and_empty_classes(tmp_path):
    from sfcl.data.base import ReIDDataset, Sample, check_split
    from sfcl.errors import SfclError

    train = [Sample("a.jpg", 1, 1, "vis", 0), Sample("b.jpg", 1, 3, "nir", 0), Sample("c.jpg", 2, 1, "vis", 1)]
    test = [Sample("d.jpg", 5, 1, "vis"), Sample("e.jpg", 2, 3, "nir")]
    with pytest.raises(SfclError, match=r"train and test share 1 \(2\) identities"):
        check_split(ReIDDataset("x", str(tmp_path), train, test, 2))
    with pytest.raises(SfclError, match=r"training labels 1 \(2\) have no image"):
        check_split(ReIDDataset("x", str(tmp_path), train, test[:1], 3))
    ok = ReIDDataset("x", str(tmp_path), train, test[:1], 2)
    assert check_split(ok) is ok

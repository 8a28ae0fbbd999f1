from __future__ import annotations

import pytest

from sfcl.errors import SfclError
from sfcl.modality import INDEX, INFRARED, MODALITIES, NIR, VIS, VISIBLE, other, parse_modality


def test_names_and_indices_agree():
    assert MODALITIES == (VIS, NIR) == ("vis", "nir")
    assert INDEX == {"vis": VISIBLE, "nir": INFRARED} and (VISIBLE, INFRARED) == (0, 1)
    assert other("vis") == "nir" and other("nir") == "vis"


def test_a_bad_name_is_one_clear_error():
    assert parse_modality("nir") == "nir"
    with pytest.raises(SfclError, match="gallery 'rgb': expected vis or nir"):
        parse_modality("rgb", "gallery")

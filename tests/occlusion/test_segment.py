"""sfcl sol build: the Detector/Segmenter path with stand-ins, and the real wrappers' wiring and errors."""

from __future__ import annotations

import sys
import types

import cv2
import numpy as np
import pytest
from PIL import Image

from sfcl.errors import SfclError
from sfcl.occlusion.build import occlude_dataset
from sfcl.occlusion.manifest import read_manifest
from sfcl.occlusion.procedural import load_library
from sfcl.occlusion.segment import Detection, SamSegmenter, YoloSegDetector, build_sol, cut_out


class StandInDetector:
    """Reports a fixed set of objects per image; box masks only when ``with_masks``."""

    def __init__(self, with_masks: bool = False):
        self.with_masks, self.calls = with_masks, 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls += 1
        h, w = image.shape[:2]
        dets = [Detection("person", 0.9, (2.0, 4.0, 22.0, 60.0)), Detection("car", 0.8, (30.0, 30.0, 78.0, 58.0)),
                Detection("dog", 0.95, (40.0, 2.0, 60.0, 20.0)), Detection("umbrella", 0.3, (5.0, 5.0, 25.0, 15.0))]
        if self.with_masks:
            dets = [Detection(d.label, d.score, d.box, _box_mask(h, w, d.box)) for d in dets]
        return dets


def _box_mask(h: int, w: int, box) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = (int(v) for v in box)
    mask[y0:y1, x0:x1] = 1
    return mask.astype(bool)


class StandInSegmenter:
    """An ellipse inscribed in each box prompt."""

    def __init__(self):
        self.prompts = []

    def segment(self, image, boxes):
        self.prompts.append(list(boxes))
        out = []
        for x0, y0, x1, y1 in boxes:
            m = np.zeros(image.shape[:2], np.uint8)
            cv2.ellipse(m, (int((x0 + x1) / 2), int((y0 + y1) / 2)), (int((x1 - x0) / 2), int((y1 - y0) / 2)),
                        0, 0, 360, 1, -1)
            out.append(m.astype(bool))
        return out


@pytest.fixture()
def street(tmp_path):
    folder = tmp_path / "street"
    rng = np.random.default_rng(0)
    for name in ("b.jpg", "a.png", "sub/c.bmp"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_build_sol_with_stand_ins(street, tmp_path):
    seg = StandInSegmenter()
    lib = build_sol(street, tmp_path / "sol", StandInDetector(), seg, min_score=0.5)
    assert len(seg.prompts) == 3 and all(len(p) == 2 for p in seg.prompts), "dog and low-score umbrella dropped"
    assert [o.info.id for o in lib.occluders] == ["car_0000", "car_0001", "car_0002", "pedestrian_0000",
                                                  "pedestrian_0001", "pedestrian_0002"]
    car = lib.by_id()["car_0000"].info
    assert (car.category, car.scene, car.body_part, car.size_class) == ("car", "outdoor", "lower", "large")
    assert car.source == "a.png car 0.80", "images in sorted order, provenance recorded"
    person = lib.by_id()["pedestrian_0001"]
    assert person.info.body_part == "side" and person.rgba.shape[:2] == (57, 21)
    alpha = person.rgba[..., 3]
    assert alpha[28, 10] == 255 and alpha[0, 0] == 0, "alpha is the segmenter's mask"
    reloaded = load_library(tmp_path / "sol")
    assert reloaded.digest == lib.digest


def test_scene_override_and_detector_masks(street, tmp_path):
    lib = build_sol(street, tmp_path / "sol", StandInDetector(with_masks=True), None, scene="indoor")
    assert {o.info.scene for o in lib.occluders} == {"indoor"}
    assert lib.by_id()["car_0000"].rgba.shape[:2] == (28, 48) and (lib.by_id()["car_0000"].rgba[..., 3] == 255).all()
    with pytest.raises(SfclError, match="no masks and no segmenter"):
        build_sol(street, tmp_path / "sol2", StandInDetector(with_masks=False), None)


def test_a_built_sol_drives_occlusion(street, synth, tmp_path):
    build_sol(street, tmp_path / "sol", StandInDetector(), StandInSegmenter(), scene="any")
    res = occlude_dataset("sysu", synth, tmp_path / "occ", seed=1, library=tmp_path / "sol")
    header, records = read_manifest(res.manifest)
    assert header["library"] == "folder:sol" and {r["category"] for r in records} == {"car", "pedestrian"}
    assert {r["rule"] for r in records} == {"bottom", "side"}


def test_build_sol_errors(tmp_path, street):
    with pytest.raises(SfclError, match="missing folder"):
        build_sol(tmp_path / "none", tmp_path / "sol", StandInDetector(), StandInSegmenter())
    (tmp_path / "empty").mkdir()
    with pytest.raises(SfclError, match="no images in"):
        build_sol(tmp_path / "empty", tmp_path / "sol", StandInDetector(), StandInSegmenter())
    with pytest.raises(SfclError, match="no occluders found"):
        build_sol(street, tmp_path / "sol", StandInDetector(), StandInSegmenter(), min_score=0.99)
    with pytest.raises(SfclError, match="scene='beach'"):
        build_sol(street, tmp_path / "sol", StandInDetector(), StandInSegmenter(), scene="beach")
    (street / "broken.jpg").write_bytes(b"nope")
    with pytest.raises(SfclError, match="unreadable image .*broken.jpg"):
        build_sol(street, tmp_path / "sol", StandInDetector(), StandInSegmenter())


def test_cut_out_drops_specks():
    image = np.zeros((20, 20, 3), np.uint8)
    speck = np.zeros((20, 20), bool)
    speck[3:5, 3:5] = True
    assert cut_out(image, speck) is None


def test_real_wrappers_need_local_weights_and_packages(tmp_path, monkeypatch):
    with pytest.raises(SfclError, match="missing YOLOv8-seg weights .*y.pt.*never downloads"):
        YoloSegDetector(tmp_path / "y.pt")
    with pytest.raises(SfclError, match="missing SAM weights"):
        SamSegmenter(tmp_path / "sam_vit_b.pth")
    for name in ("y.pt", "sam_vit_b_01ec64.pth", "sam.pth"):
        (tmp_path / name).write_bytes(b"weights")
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # makes the import fail as if not installed
    monkeypatch.setitem(sys.modules, "segment_anything", None)
    with pytest.raises(SfclError, match=r"ultralytics is not installed: expected `pip install 'sfcl\[sol\]'`"):
        YoloSegDetector(tmp_path / "y.pt")
    with pytest.raises(SfclError, match="segment_anything is not installed"):
        SamSegmenter(tmp_path / "sam_vit_b_01ec64.pth")
    with pytest.raises(SfclError, match="--sam-type"):
        SamSegmenter(tmp_path / "sam.pth")


class _Array:
    """What ultralytics' tensors offer here: .cpu().numpy()."""

    def __init__(self, a):
        self.a = np.asarray(a)

    def cpu(self):
        return self

    def numpy(self):
        return self.a


def _fake_packages(monkeypatch, seen: dict):
    class Boxes:
        xyxy, cls, conf = _Array([[1, 2, 11, 22]]), _Array([0.0]), _Array([0.75])

        def __len__(self):
            return 1

    class Masks:
        data = _Array(np.ones((1, 30, 40), np.float32))

    class Result:
        boxes, masks, names = Boxes(), Masks(), {0: "person"}

    class YOLO:
        def __init__(self, path):
            seen["yolo_path"] = path

        def predict(self, image, **kw):
            seen["bgr"], seen["kw"] = image, kw
            return [Result()]

    class Predictor:
        def __init__(self, sam):
            seen["sam"] = sam

        def set_image(self, image):
            seen["rgb"] = image

        def predict(self, box, multimask_output):
            seen["box"] = box
            return np.ones((1, 30, 40), bool), np.ones(1), None

    class Sam:
        def to(self, device):
            seen["device"] = device

    ultra = types.ModuleType("ultralytics")
    ultra.YOLO = YOLO
    sam_mod = types.ModuleType("segment_anything")
    sam_mod.SamPredictor = Predictor
    sam_mod.sam_model_registry = {"vit_b": lambda checkpoint: seen.setdefault("checkpoint", checkpoint) and Sam()}
    monkeypatch.setitem(sys.modules, "ultralytics", ultra)
    monkeypatch.setitem(sys.modules, "segment_anything", sam_mod)


def test_real_wrappers_are_wired_through_the_same_interface(tmp_path, monkeypatch):
    seen: dict = {}
    _fake_packages(monkeypatch, seen)
    (tmp_path / "yolov8n-seg.pt").write_bytes(b"w")
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(b"w")
    det = YoloSegDetector(tmp_path / "yolov8n-seg.pt")
    seg = SamSegmenter(tmp_path / "sam_vit_b_01ec64.pth")
    image = np.zeros((30, 40, 3), np.uint8)
    image[..., 0] = 200
    (d,) = det.detect(image)
    assert (d.label, d.score, d.box) == ("person", 0.75, (1.0, 2.0, 11.0, 22.0)) and d.mask.all()
    assert seen["yolo_path"].endswith("yolov8n-seg.pt") and seen["bgr"][0, 0, 2] == 200, "YOLO gets BGR"
    assert seen["kw"]["retina_masks"] is True
    (mask,) = seg.segment(image, [d.box])
    assert mask.dtype == bool and mask.shape == (30, 40) and seen["rgb"][0, 0, 0] == 200
    assert list(seen["box"]) == [1, 2, 11, 22] and seen["checkpoint"].endswith("sam_vit_b_01ec64.pth")


def test_output_folder_is_checked_before_any_detection(street, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("x")
    detector = StandInDetector()
    with pytest.raises(SfclError, match="not empty"):
        build_sol(street, tmp_path / "taken", detector, StandInSegmenter())
    assert detector.calls == 0

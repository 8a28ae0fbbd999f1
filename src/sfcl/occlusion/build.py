"""Build an occluded dataset (Occ-SYSU-MM01, Occ-RegDB, ...): ``occlude_dataset`` and ``rebuild_from_manifest``.

The output folder has the source layout (every source file is copied; the
selected images are rewritten occluded, in their source format), so every
loader and protocol reads it unchanged. Alongside: ``occlusion.json`` (the
parameters; a rerun with other parameters is refused) and
``occlusion_manifest.jsonl`` (``manifest.py``).

Determinism: image selection and placement draw from
``rng([seed, tag, *sha256(relpath)])`` and the category rotation runs over the
selected images sorted by path, so an image's pixels depend only on the seed,
its path, the library and the source bytes, never on worker count or order.

Resumability: every file is written to a temporary name and renamed; a record
is appended to ``.occlusion_journal.jsonl`` once its image is in place. A rerun
keeps each image whose journal record matches the file's sha256, copies only
missing files, deletes stale temporaries and writes the manifest at the end.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from sfcl.errors import SfclError
from sfcl.fileio import LOCK_NAME, OutputLock, remove_stale_temporaries
from sfcl.occlusion.io import (
    JPEG_QUALITY,
    TMP_SUFFIX,
    atomic_copy,
    atomic_write,
    decode_image,
    encode_image,
    image_format,
    sha256_bytes,
)
from sfcl.occlusion.library import BUILTIN, OcclusionLibrary
from sfcl.occlusion.manifest import HEADER_KEYS, placement_fields, placement_of, read_manifest, write_manifest
from sfcl.occlusion.manifest import NAME as MANIFEST
from sfcl.occlusion.placement import apply_placement, assign_categories, choose_occluder, sample_placement
from sfcl.occlusion.procedural import load_library
from sfcl.occlusion.sources import SPLITS, SourceImage, all_files, dataset_images, fingerprint, parse_splits
from sfcl.workers import process_pool

log = logging.getLogger(__name__)
MARKER = "occlusion.json"
JOURNAL = ".occlusion_journal.jsonl"
GENERATOR = "sfcl-occlude"
FORMAT_VERSION = 1
DEFAULT_RATIO = 1.0
CHUNK = 16
_OWN = (MARKER, MANIFEST, JOURNAL, LOCK_NAME)
_TAG_SELECT, _TAG_PLACE = 21, 22


@dataclass(frozen=True)
class PlaceJob:
    """Occlude one image: a new placement (``image`` + ``category``) or a manifest ``record``."""

    relpath: str
    image: SourceImage | None = None
    category: str | None = None
    record: dict | None = None


@dataclass
class BuildResult:
    """What a build did: images occluded now, skipped (already done), files copied, rebuild mismatches."""

    out: Path
    manifest: Path
    placed: int = 0
    skipped: int = 0
    copied: int = 0
    mismatched: list[str] = field(default_factory=list)


def key_words(relpath: str) -> list[int]:
    """Four 32-bit words of sha256(relpath): the per-image part of every RNG key."""
    digest = hashlib.sha256(relpath.encode()).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


def image_rng(seed: int, tag: int, relpath: str) -> np.random.Generator:
    return np.random.default_rng([seed, tag, *key_words(relpath)])


def is_selected(seed: int, relpath: str, ratio: float) -> bool:
    """Whether an image of a chosen split is occluded: ratio 1 takes all, else a per-image draw."""
    return ratio >= 1.0 or (ratio > 0.0 and image_rng(seed, _TAG_SELECT, relpath).uniform() < ratio)


# ---------------------------------------------------------------- worker side
_CTX: dict | None = None


def _init_worker(src: str, out: str, library: OcclusionLibrary, seed: int) -> None:
    global _CTX
    cv2.setNumThreads(1)
    _CTX = {"src": Path(src), "out": Path(out), "library": library, "by_id": library.by_id(), "seed": seed}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise SfclError(f"unreadable image {path} ({err.strerror}): expected a readable image file") from None


def _place(job: PlaceJob) -> dict:
    ctx = _CTX
    src_path = ctx["src"] / job.relpath
    data = _read(src_path)
    source_sha = sha256_bytes(data)
    pixels, mode = decode_image(data, src_path)
    if job.record is None:
        im = job.image
        rng = image_rng(ctx["seed"], _TAG_PLACE, job.relpath)
        occluder = choose_occluder(rng, ctx["library"], job.category, im.scene)
        placement = sample_placement(rng, occluder, pixels.shape[0], pixels.shape[1], im.modality == "nir")
        record = {"path": job.relpath, "splits": list(im.roles), "modality": im.modality, "pid": im.pid,
                  "cam": im.cam, "scene": im.scene, "seed": ctx["seed"]}
    else:
        record = dict(job.record)
        if record["source_sha256"] != source_sha:
            raise SfclError(f"source image {src_path} differs from the one the manifest was made from "
                            "(sha256 mismatch): expected the original dataset")
        placement = placement_of(record)
        if placement.occluder not in ctx["by_id"]:
            raise SfclError(f"occluder {placement.occluder} (manifest, {job.relpath}) is not in the library")
        occluder = ctx["by_id"][placement.occluder]
    occluded, info = apply_placement(pixels, record["modality"] == "nir", occluder, placement)
    encoded = encode_image(occluded, mode, image_format(job.relpath))
    atomic_write(ctx["out"] / job.relpath, encoded)
    if job.record is not None:
        return {"path": job.relpath, "output_sha256": sha256_bytes(encoded), "expected": job.record["output_sha256"]}
    record.update(size=[int(pixels.shape[0]), int(pixels.shape[1])], source_sha256=source_sha,
                  **placement_fields(placement), calibration=info["calibration"], coverage=info["coverage"],
                  output_sha256=sha256_bytes(encoded))
    return record


def _run_chunk(jobs: list[PlaceJob | str]) -> list[dict | None]:
    """Occlude (``PlaceJob``) or copy (relative path) each job; returns records (``None`` for copies)."""
    out: list[dict | None] = []
    for job in jobs:
        if isinstance(job, PlaceJob):
            out.append(_place(job))
        else:
            atomic_copy(_CTX["src"] / job, _CTX["out"] / job)
            out.append(None)
    return out


# ---------------------------------------------------------------- main side
def _check_args(ratio: float, seed: int, workers: int) -> None:
    if not 0.0 <= float(ratio) <= 1.0:
        raise SfclError(f"ratio={ratio}: expected a fraction in [0, 1] of each chosen split's images")
    if int(seed) < 0:
        raise SfclError(f"seed={seed}: expected a non-negative integer")
    if int(workers) < 1:
        raise SfclError(f"workers={workers}: expected >= 1")


def _check_folders(src: str | Path, out: str | Path) -> tuple[Path, Path]:
    src, out = Path(src).resolve(), Path(out).resolve()
    if not src.is_dir():
        raise SfclError(f"missing folder {src}: expected the source dataset root")
    if out == src or src in out.parents or out in src.parents:
        raise SfclError(f"--out {out} overlaps --src {src}: expected an output folder outside the source")
    if out.exists() and not out.is_dir():
        raise SfclError(f"{out} is a file: expected a folder for the occluded dataset")
    return src, out


def _prepare_out(out: Path, params: dict) -> None:
    """Accept a missing/empty folder or one made with the same parameters; write the marker; drop temporaries."""
    marker = {"generator": GENERATOR, "version": FORMAT_VERSION, **params}
    if out.is_dir() and any(p.name != LOCK_NAME for p in out.iterdir()):
        try:
            found = json.loads((out / MARKER).read_text())
        except (OSError, ValueError):
            raise SfclError(f"{out} is not empty and has no readable {MARKER}: expected an empty folder or a "
                            "previous sfcl occlude output") from None
        if found != marker:
            diff = sorted(k for k in set(found) | set(marker) if found.get(k) != marker.get(k))
            hint = "; the source images changed" if {"source_images", "source_fingerprint"} & set(diff) else ""
            raise SfclError(f"{out} holds an occluded dataset made with other parameters ({', '.join(diff)}{hint}): "
                            "expected the same parameters, or use another folder")
        remove_stale_temporaries(out, recursive=True)  # a killed build's; this one holds the lock
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / MARKER, (json.dumps(marker, indent=2, sort_keys=True) + "\n").encode())


def _load_journal(path: Path) -> dict[str, dict]:
    records: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():  # damaged lines are skipped
            try:
                rec = json.loads(line)
            except ValueError:  # a line cut by an interruption
                continue
            if isinstance(rec, dict) and isinstance(rec.get("path"), str):
                records[rec["path"]] = rec
    return records


def _finished_manifest(path: Path) -> dict[str, dict]:
    """Records of a completed build's manifest in ``out`` (so a rerun of a finished build skips everything)."""
    try:
        return {r["path"]: r for r in read_manifest(path)[1]} if path.is_file() else {}
    except SfclError:
        return {}


def _is_done(path: Path, expected_sha: str | None) -> bool:
    return expected_sha is not None and path.is_file() and sha256_bytes(path.read_bytes()) == expected_sha


def _execute(chunks: list[list], workers: int, ctx: tuple, on_chunk: Callable[[list], None]) -> None:
    """Run chunks in this process (workers=1) or a process pool; ``on_chunk`` sees each result list."""
    if workers == 1 or len(chunks) <= 1:
        threads = cv2.getNumThreads()
        try:
            _init_worker(*ctx)
            for chunk in chunks:
                on_chunk(_run_chunk(chunk))
        finally:
            global _CTX
            _CTX = None
            cv2.setNumThreads(threads)
        return
    pool = process_pool(workers, _init_worker, ctx)
    queue = iter(chunks)
    try:  # at most 2 chunks in flight per worker, so an interruption stops soon
        pending = {pool.submit(_run_chunk, c) for c in itertools.islice(queue, 2 * workers)}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                on_chunk(fut.result())
                pending |= {pool.submit(_run_chunk, c) for c in itertools.islice(queue, 1)}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run(src: Path, out: Path, library: OcclusionLibrary, seed: int, place: list[PlaceJob], copy: list[str],
         expected: dict[str, str], workers: int, progress: bool, journal: Path | None,
         hook: Callable[[int], None] | None) -> tuple[list[dict], BuildResult]:
    """Skip finished work, run the rest; returns (new records, counts)."""
    result = BuildResult(out, out / MANIFEST)
    todo_place = [j for j in place if not _is_done(out / j.relpath, expected.get(j.relpath))]
    result.skipped = len(place) - len(todo_place)
    todo_copy = [rel for rel in copy if not ((out / rel).is_file()
                                             and (out / rel).stat().st_size == (src / rel).stat().st_size)]
    jobs: list = todo_place + todo_copy
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    records: list[dict] = []
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="occlude", unit="img", disable=not progress)
    fh = journal.open("a") if journal is not None else None
    done = 0

    def on_chunk(results: list[dict | None]) -> None:
        nonlocal done
        new = [r for r in results if r is not None]
        records.extend(new)
        if fh is not None and new:
            fh.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in new))
            fh.flush()
        done += len(results)
        bar.update(len(results))
        if hook is not None:
            hook(done)

    try:
        _execute(chunks, workers, (str(src), str(out), library, seed), on_chunk)
    finally:
        bar.close()
        if fh is not None:
            fh.close()
    result.placed, result.copied = len(todo_place), len(todo_copy)
    return records, result


def _library(library: OcclusionLibrary | str | Path | None) -> OcclusionLibrary:
    return library if isinstance(library, OcclusionLibrary) else load_library(library)


def _library_label(library: OcclusionLibrary) -> str:
    return BUILTIN if library.name == BUILTIN else f"folder:{Path(library.name).name}"


def occlude_dataset(dataset: str, src: str | Path, out: str | Path, splits: str | tuple[str, ...] = SPLITS,
                    ratio: float = DEFAULT_RATIO, seed: int = 0, workers: int = 1,
                    library: OcclusionLibrary | str | Path | None = None, trial: int | None = None,
                    progress: bool = False, hook: Callable[[int], None] | None = None) -> BuildResult:
    """Write the occluded version of ``dataset`` at ``src`` to ``out`` (source layout + manifest).

    ``splits``: which of train/query/gallery are occluded (default all, as the
    paper's benchmarks); ``ratio``: the fraction of their images occluded (per-
    image seeded draw); ``library``: ``None``/``"builtin"``, a SOL folder or a
    loaded library; ``trial``: RegDB only (``sources.py``). ``hook(n)`` is called
    in this process after each finished chunk (tests interrupt builds with it).
    """
    splits = parse_splits(splits)
    _check_args(ratio, seed, workers)
    src, out = _check_folders(src, out)
    with OutputLock(out, "occlude"):  # a second build into this folder is refused
        lib = _library(library)
        images = dataset_images(dataset, src, trial)
        chosen = [im for im in images if set(im.roles) & set(splits) and is_selected(seed, im.relpath, ratio)]
        categories = assign_categories([im.scene for im in chosen], lib, seed) if chosen else []
        params = {"dataset": dataset, "splits": list(splits), "ratio": float(ratio), "seed": int(seed),
                  "trial": trial, "library_digest": lib.digest, "source_images": len(images),
                  "source_fingerprint": fingerprint(src, images)}
        _prepare_out(out, params)
        journal = out / JOURNAL
        previous = {**_finished_manifest(out / MANIFEST), **_load_journal(journal)}
        place = [PlaceJob(im.relpath, im, cat) for im, cat in zip(chosen, categories)]
        chosen_paths = {im.relpath for im in chosen}
        copy = [rel for rel in all_files(src, _OWN, TMP_SUFFIX) if rel not in chosen_paths]
        expected = {p: r["output_sha256"] for p, r in previous.items() if "output_sha256" in r}
        new, result = _run(src, out, lib, seed, place, copy, expected, workers, progress, journal, hook)
        finished = {**{p: r for p, r in previous.items() if p in chosen_paths}, **{r["path"]: r for r in new}}
        header = {**params, "library": _library_label(lib), "jpeg_quality": JPEG_QUALITY}
        write_manifest(out / MANIFEST, header, list(finished.values()))
        journal.unlink(missing_ok=True)
        log.debug("occluded %d images (%d already done), copied %d files into %s", result.placed, result.skipped,
                 result.copied, out)
        return result


def rebuild_from_manifest(manifest: str | Path, src: str | Path, out: str | Path, workers: int = 1,
                          library: OcclusionLibrary | str | Path | None = None, progress: bool = False,
                          hook: Callable[[int], None] | None = None) -> BuildResult:
    """Rebuild an occluded dataset from the original ``src`` and a manifest (same bytes, same library).

    The library defaults to the built-in one when the manifest was made with it;
    a folder library must be passed. Source images and the library are checked
    against the manifest; an output whose sha256 differs from the manifest's
    (another Pillow/libjpeg or OpenCV build) is listed in ``mismatched``.
    """
    _check_args(1.0, 0, workers)
    header, records = read_manifest(manifest)
    manifest_bytes = Path(manifest).read_bytes()
    src, out = _check_folders(src, out)
    with OutputLock(out, "occlude --from-manifest"):  # a second build into this folder is refused
        if library is None and header.get("library") != BUILTIN:
            raise SfclError(f"manifest {manifest} was made with the occluder library {header.get('library')}: "
                            "expected --library DIR pointing at that SOL folder")
        lib = _library(library)
        if lib.digest != header["library_digest"]:
            raise SfclError(f"occluder library {lib.name} (digest {lib.digest[:12]}) is not the one manifest {manifest} "
                            f"was made with ({str(header['library_digest'])[:12]}): expected the same library")
        images = dataset_images(header["dataset"], src, header["trial"])
        if len(images) != header["source_images"] or fingerprint(src, images) != header["source_fingerprint"]:
            raise SfclError(f"source {src} is not the dataset manifest {manifest} was made from ({len(images)} images "
                            f"here, {header['source_images']} there, or their sizes differ): expected the original")
        known = {im.relpath for im in images}
        unknown = [r["path"] for r in records if r["path"] not in known]
        if unknown:
            raise SfclError(f"manifest {manifest} names {unknown[0]}, not an image of {src}: expected the original")
        _prepare_out(out, {k: header[k] for k in HEADER_KEYS})
        place = [PlaceJob(r["path"], record=r) for r in records]
        placed = {r["path"] for r in records}
        copy = [rel for rel in all_files(src, _OWN, TMP_SUFFIX) if rel not in placed]
        expected = {r["path"]: r["output_sha256"] for r in records}
        new, result = _run(src, out, lib, 0, place, copy, expected, workers, progress, None, hook)
        result.mismatched = sorted(r["path"] for r in new if r["output_sha256"] != r["expected"])
        if result.mismatched:
            log.warning("%d rebuilt images differ from the manifest's sha256 (first: %s); pixels come from another "
                        "Pillow/libjpeg or OpenCV build", len(result.mismatched), result.mismatched[0])
        if Path(manifest).resolve() != (out / MANIFEST):
            atomic_write(out / MANIFEST, manifest_bytes)
        return result

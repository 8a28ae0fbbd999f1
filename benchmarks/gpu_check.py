"""Every GPU figure in one command: environment, CUDA tests, latency, throughput, a short training, memory.

Made for the lent device machine (one H100/H200-class GPU, 16 cores, no network, its own
Python with torch, no POT, no mamba_ssm): it runs the working tree's code on the torch that
machine has (``src/`` is put on ``sys.path``; nothing is installed) and needs only torch,
torchvision, numpy, pillow, opencv, pyyaml, tqdm and tensorboard. The steps, in order (the
slowest and least essential last, so a tight budget loses the least):

1. ``environment``: GPU, memory, driver, CUDA, torch, Python, whether mamba_ssm imports;
2. ``pytest_gpu``: ``pytest -m gpu`` (tests/test_gpu.py, the mamba_ssm kernel test);
3. ``profile``: ``sfcl profile`` of the four SYSU ablation configs at 288 x 144, bf16, batch 64
   (latency ms/image by CUDA events; ratio to the Base beside the paper's 0.40 / 0.91 / 1.25 ms);
4. ``throughput``: training images/s and peak memory of the full-size Base and SFCL, bf16, the
   paper's batch (8 ids x 4 images x 2 modalities), eager;
5. ``short_training``: the full-size SFCL for a fixed number of steps on a SynthVI synthesised
   here (DataLoader, augmentation and all): loss finite and decreasing, and the time of one
   SYSU-MM01-size epoch (34,167 training images) extrapolated against the goal of 60 s;
6. ``max_batch``: the largest batch (ids x 4 x 2) the full SFCL trains at in bf16;
7. ``compile``: step 4 again with ``torch.compile``, each run in a subprocess with a time cap.

Each step is guarded: a failure is recorded (its last error line) and the rest still runs; a
step that would start past ``--budget-s`` is skipped and says so. ``gpu_check.json`` is
rewritten after every step, so a killed run keeps what it had; ``gpu_check.md`` is the
summary, printed at the end.

    # on the device machine, from the repository root (a timeout that leaves time to rerun)
    python benchmarks/gpu_check.py --out "$OUT/gpu_check"
    # the CPU dry run CI makes: tiny sizes, a few steps, seconds
    python benchmarks/gpu_check.py --dry-run --out /tmp/gpu_check
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from sfcl.analysis.profiling import PAPER, profile_config  # noqa: E402
from sfcl.config import load_config  # noqa: E402

SYSU_TRAIN_IMAGES = 22258 + 11909  # SYSU-MM01 training split: visible + infrared images
EPOCH_GOAL_S = 60.0
ABLATION = ("sysu_base", "sysu_cfam", "sysu_cfam_sfim", "sysu_sfcl")
TORCH_RANGE = ((2, 2), (2, 15))  # pyproject's torch>=2.2,<2.15


@dataclass
class Settings:
    """What the steps run at: the real check, or the dry run's tiny CPU version of it."""

    device: str = "cuda"
    height: int = 288
    width: int = 144
    dtype: str = "bf16"
    profile_batch: int = 64
    profile_repeats: int = 20
    num_ids: int = 8  # the paper's batch: 8 ids x 4 images x 2 modalities
    num_instances: int = 4
    throughput_steps: int = 20
    throughput_warmup: int = 5
    synth_ids: int = 120
    synth_images_per_cam: int = 8
    train_steps: int = 60
    train_workers: int = 8
    max_batch_ids: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    compile_timeout_s: int = 150
    overrides: list[str] = field(default_factory=list)  # applied to every config

    @classmethod
    def dry_run(cls) -> Settings:
        return cls(device="cpu", height=64, width=32, dtype="float32", profile_batch=2, profile_repeats=1,
                   num_ids=2, num_instances=2, throughput_steps=2, throughput_warmup=1, synth_ids=10,
                   synth_images_per_cam=2, train_steps=8, train_workers=0, max_batch_ids=(1, 2),
                   compile_timeout_s=120, overrides=["model.depth=18", "model.cfam.dim=16", "model.cfam.heads=2",
                                                     "model.sfim.covariance_dim=8", "model.sfim.mlp_hidden=32"])


@dataclass
class Context:
    settings: Settings
    out: Path
    dry_run: bool
    results: dict = field(default_factory=dict)

    def config(self, name: str, *extra: str, output_dir: str | None = None):
        s = self.settings
        return load_config(ROOT / "configs" / f"{name}.yaml", [
            f"data.height={s.height}", f"data.width={s.width}", f"train.device={s.device}",
            f"train.amp={'off' if s.dtype == 'float32' else s.dtype}", f"data.num_ids={s.num_ids}",
            f"data.num_instances={s.num_instances}", "train.progress=false",
            f"train.output_dir={output_dir or tempfile.mkdtemp(prefix='gpu_check_')}", *s.overrides, *extra])


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------- steps
def step_environment(ctx: Context) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count(),
           "mamba_ssm": importlib.util.find_spec("mamba_ssm") is not None,
           "commit": _git("rev-parse", "--short", "HEAD"), "dirty": bool(_git("status", "--porcelain"))}
    version = tuple(int(v) for v in re.findall(r"\d+", torch.__version__)[:2])
    env["torch_supported"] = TORCH_RANGE[0] <= version < TORCH_RANGE[1]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), gpus=torch.cuda.device_count(),
                   capability=f"{props.major}.{props.minor}", bf16=torch.cuda.is_bf16_supported())
        smi = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
        env["driver"] = smi.strip().splitlines()[0] if smi else None
    elif not ctx.dry_run:
        raise RuntimeError("no CUDA device: run with --dry-run on a CPU")
    return env


def step_pytest_gpu(ctx: Context) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    if ctx.dry_run:
        env["SFCL_GPU_TEST_DEVICE"] = "cpu"
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-o", "addopts=", "-p", "no:cacheprovider", "tests/test_gpu.py",
           "tests/models/test_selective_scan.py"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    tail = (proc.stdout + proc.stderr).strip().splitlines()
    summary = next((line for line in reversed(tail) if re.search(r"\d+ (passed|failed|skipped|error)", line)), "")
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", summary)}
    (ctx.out / "pytest_gpu.txt").write_text("\n".join(tail) + "\n")
    result = {"command": " ".join(cmd[2:]), "returncode": proc.returncode, "summary": summary, **counts}
    if proc.returncode != 0:
        failed = [line for line in tail if line.startswith(("FAILED", "ERROR"))]
        raise RuntimeError(f"pytest -m gpu: {summary or 'no summary'}; {'; '.join(failed[:5])}")
    return result


def step_profile(ctx: Context) -> dict:
    s, rows = ctx.settings, {}
    for name in ABLATION:
        cfg = ctx.config(name)
        row = profile_config(cfg, batch=s.profile_batch, dtype=s.dtype, device=s.device,
                             repeats=s.profile_repeats, warmup=3)
        rows[name] = {**asdict(row), "paper_ms": PAPER[name.removeprefix("sysu_")]["latency_ms"]}
    base = rows["sysu_base"]["latency_ms"]
    for row in rows.values():
        row["ratio_to_base"] = round(row["latency_ms"] / base, 3) if base else None
        row["paper_ratio_to_base"] = round(row["paper_ms"] / PAPER["base"]["latency_ms"], 3)
    return rows


def _train_speed():
    spec = importlib.util.spec_from_file_location("train_speed", ROOT / "benchmarks" / "train_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _throughput(ctx: Context, name: str, *extra: str) -> dict:
    speed, s = _train_speed(), ctx.settings
    cfg = ctx.config(name, *extra)
    from sfcl.engine.trainer import Trainer  # noqa: PLC0415

    classes = speed.CLASSES["sysu"]
    trainer = Trainer(cfg, dataset=speed.stand_in_dataset("sysu", classes, cfg.data.num_instances))
    gen = torch.Generator().manual_seed(0)
    batches = (speed.random_batch(cfg, classes, gen) for _ in range(10**9))
    result = speed.measure(trainer, batches, s.throughput_warmup, s.throughput_steps)
    if trainer.writer is not None:
        trainer.writer.close()
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}


def step_throughput(ctx: Context) -> dict:
    return {name: _throughput(ctx, name) for name in ("sysu_base", "sysu_sfcl")}


def step_short_training(ctx: Context) -> dict:
    from sfcl.data.synthvi import synthesize  # noqa: PLC0415
    from sfcl.engine.trainer import Trainer  # noqa: PLC0415

    s = ctx.settings
    work = Path(tempfile.mkdtemp(prefix="gpu_check_synthvi_"))
    tic = time.perf_counter()
    synthesize(work / "synthvi", num_ids=s.synth_ids, seed=0, images_per_cam=s.synth_images_per_cam,
               workers=max(1, (os.cpu_count() or 2) - 1))
    synth_s = time.perf_counter() - tic
    cfg = ctx.config("sysu_sfcl", f"data.root={work / 'synthvi'}", "data.name=sysu", f"data.workers={s.train_workers}",
                     f"train.batches_per_epoch={s.train_steps}", output_dir=str(work / "run"))
    # the steps are the recipe's first epoch: its linear warm-up (AGW: 10 epochs) keeps the lr low
    trainer = Trainer(cfg)
    trainer.train_model.train()
    losses, id_losses, times = [], [], []
    _sync(s.device)
    last = time.perf_counter()
    for batch in trainer.loader:
        total, terms = trainer.step(batch)
        losses.append(float(total.detach()))
        id_losses.append(terms["id"])
        _sync(s.device)
        now = time.perf_counter()
        times.append(now - last)
        last = now
        if len(losses) >= s.train_steps:
            break
    if trainer.writer is not None:
        trainer.writer.close()
    if not all(map(lambda v: v == v and abs(v) != float("inf"), losses)):
        raise RuntimeError(f"non-finite loss in {losses}")
    k = max(1, len(losses) // 4)
    steady = times[min(len(times) - 1, 5):]  # the first steps start the workers and the allocator
    s_per_step = sum(steady) / len(steady)
    images = 2 * cfg.data.num_ids * cfg.data.num_instances
    epoch_s = s_per_step * SYSU_TRAIN_IMAGES / images
    result = {"synthvi_images": len(trainer.dataset.train), "synthesis_s": round(synth_s, 1), "steps": len(losses),
              "batch": images, "loss_first": round(sum(losses[:k]) / k, 4), "loss_last": round(sum(losses[-k:]) / k, 4),
              "id_loss_first": round(sum(id_losses[:k]) / k, 4), "id_loss_last": round(sum(id_losses[-k:]) / k, 4),
              "s_per_step": round(s_per_step, 4), "images_per_s": round(images / s_per_step, 1),
              "sysu_epoch_s": round(epoch_s, 1), "epoch_goal_s": EPOCH_GOAL_S, "epoch_goal_met": epoch_s < EPOCH_GOAL_S}
    # judged on the identity term: the WRT triplet on random-init features swings by tens in the first steps
    result["loss_decreasing"] = result["id_loss_last"] < result["id_loss_first"]
    if not result["loss_decreasing"]:
        raise RuntimeError(f"identity loss did not decrease: first quarter {result['id_loss_first']}, "
                           f"last {result['id_loss_last']}")
    return result


def step_max_batch(ctx: Context) -> dict:
    from sfcl.losses.objective import ReIDObjective  # noqa: PLC0415
    from sfcl.models import build_model  # noqa: PLC0415

    s = ctx.settings
    cfg = ctx.config("sysu_sfcl")
    device = torch.device(s.device)
    model = build_model(cfg.model, 395, (s.height, s.width)).to(device).train()
    objective = ReIDObjective(cfg.loss).to(device)
    tried, fits = [], None
    for ids in s.max_batch_ids:
        n = 2 * ids * s.num_instances
        labels = torch.arange(ids, device=device).repeat_interleave(s.num_instances).repeat(2)
        modality = torch.arange(2, device=device).repeat_interleave(ids * s.num_instances)
        try:
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            images = torch.randn(n, 3, s.height, s.width, device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=s.dtype == "bf16"):
                total, _ = objective(model(images, modality), labels, modality)
            total.backward()
            model.zero_grad(set_to_none=True)
            _sync(s.device)
            peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
            tried.append({"batch": n, "fits": True, "peak_memory_gib": None if peak is None else round(peak, 2)})
            fits = n
        except torch.cuda.OutOfMemoryError:
            tried.append({"batch": n, "fits": False})
            break
        finally:
            images = total = None  # free before the next size
    return {"largest_batch": fits, "tried": tried, "layout": f"ids x {s.num_instances} x 2",
            "capped": bool(tried) and tried[-1]["fits"],
            "activation_checkpointing": "not an option of the model yet (add it if batch 64 does not fit)"}


def step_compile(ctx: Context) -> dict:
    results = {}
    for name in ("sysu_base", "sysu_sfcl"):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--out", str(ctx.out), "--compile-one", name]
        if ctx.dry_run:
            cmd.append("--dry-run")
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=ctx.settings.compile_timeout_s)
        except subprocess.TimeoutExpired:
            results[name] = {"status": "timeout", "timeout_s": ctx.settings.compile_timeout_s}
            continue
        lines = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and lines:
            results[name] = {"status": "ok", **json.loads(lines[-1])}
        else:
            results[name] = {"status": "failed", "error": _last_line(proc.stderr or proc.stdout)}
    if all(r["status"] != "ok" for r in results.values()):
        raise RuntimeError("torch.compile: " + "; ".join(f"{k} {v['status']}" for k, v in results.items()))
    return results


# (name, function, seconds it needs at least: skipped when less of the budget is left)
STEPS: list[tuple[str, Callable[[Context], dict], float]] = [
    ("environment", step_environment, 0), ("pytest_gpu", step_pytest_gpu, 20), ("profile", step_profile, 30),
    ("throughput", step_throughput, 30), ("short_training", step_short_training, 60),
    ("max_batch", step_max_batch, 30), ("compile", step_compile, 60),
]


# ---------------------------------------------------------------------------------------------- driver
def _git(*args: str) -> str:
    return _run(["git", "-C", str(ROOT), *args]).strip()


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run_steps(ctx: Context, budget_s: float, only: set[str] | None) -> dict:
    start = time.monotonic()
    res = ctx.results
    res.update(started=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), dry_run=ctx.dry_run,
               settings=asdict(ctx.settings), budget_s=budget_s, steps={})
    for name, fn, needs in STEPS:
        if only and name not in only:
            continue
        left = budget_s - (time.monotonic() - start)
        if left < needs:
            res["steps"][name] = {"status": "skipped", "reason": f"budget: {left:.0f} s left, needs {needs:.0f} s"}
            _write(ctx)
            continue
        tic = time.monotonic()
        try:
            entry = {"status": "ok", "figures": fn(ctx)}
        except Exception as exc:  # one failure is recorded and the rest still runs
            entry = {"status": "failed", "error": f"{type(exc).__name__}: {_last_line(str(exc)) or repr(exc)}"}
            (ctx.out / f"{name}.traceback.txt").write_text(traceback.format_exc())
        entry["seconds"] = round(time.monotonic() - tic, 1)
        res["steps"][name] = entry
        print(f"[gpu_check] {name}: {entry['status']} ({entry['seconds']} s)"
              + (f" {entry['error']}" if "error" in entry else ""), flush=True)
        _write(ctx)
    res["total_s"] = round(time.monotonic() - start, 1)
    _write(ctx)
    return res


def _write(ctx: Context) -> None:
    (ctx.out / "gpu_check.json").write_text(json.dumps(ctx.results, indent=2, default=str) + "\n")


def summary_markdown(res: dict) -> str:
    """The Markdown summary of a gpu_check.json (its format is in benchmarks/README.md)."""
    steps, env = res["steps"], res["steps"].get("environment", {}).get("figures", {})
    lines = [f"# gpu_check {'(dry run, CPU) ' if res['dry_run'] else ''}{res['started']}", "",
             f"{env.get('gpu', 'no GPU')} | torch {env.get('torch')} | CUDA {env.get('cuda')} | driver "
             f"{env.get('driver')} | Python {env.get('python')} | mamba_ssm {env.get('mamba_ssm')} | commit "
             f"{env.get('commit')}{' (dirty)' if env.get('dirty') else ''} | total {res.get('total_s')} s", "",
             "| step | status | s | note |", "|---|---|---:|---|"]
    for name, entry in steps.items():
        lines.append(f"| {name} | {entry['status']} | {entry.get('seconds', '-')} | "
                     f"{entry.get('error') or entry.get('reason') or ''} |")
    fig = lambda name: steps.get(name, {}).get("figures") or {}  # noqa: E731
    if fig("pytest_gpu"):
        lines += ["", f"pytest -m gpu: {fig('pytest_gpu')['summary']}"]
    if fig("profile"):
        lines += ["", "| config | params (M) | GFLOPs | ms/image | paper ms | ratio to Base | paper ratio |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, r in fig("profile").items():
            lines.append(f"| {name} | {r['params_m']} | {r['gflops']} | {r['latency_ms']} | {r['paper_ms']} | "
                         f"{r['ratio_to_base']} | {r['paper_ratio_to_base']} |")
    speeds = {**{k: v for k, v in fig("throughput").items()},
              **{f"{k} (compile)": v for k, v in fig("compile").items() if v.get("status") == "ok"}}
    if speeds:
        lines += ["", "| training | batch | images/s | s/step | peak GiB |", "|---|---:|---:|---:|---:|"]
        for name, r in speeds.items():
            lines.append(f"| {name} | {r['batch']} | {r['images_per_s']:.1f} | {r['s_per_step']:.4f} | "
                         f"{r.get('peak_memory_gib', '-')} |")
    if fig("short_training"):
        r = fig("short_training")
        lines += ["", f"short training (full SFCL, {r['steps']} steps of {r['batch']} on {r['synthvi_images']} SynthVI "
                  f"images): loss {r['loss_first']} -> {r['loss_last']} (identity term {r['id_loss_first']} -> "
                  f"{r['id_loss_last']}), {r['images_per_s']} images/s, one SYSU-MM01 "
                  f"epoch {r['sysu_epoch_s']} s (goal < {r['epoch_goal_s']:.0f} s: "
                  f"{'met' if r['epoch_goal_met'] else 'not met'})"]
    if fig("max_batch"):
        r = fig("max_batch")
        lines += ["", f"largest full-SFCL training batch: {r['largest_batch']} ({r['layout']}"
                  f"{', the largest tried' if r['capped'] else ''}); peaks: "
                  + ", ".join(f"{t['batch']}: {t.get('peak_memory_gib', 'OOM') if t['fits'] else 'OOM'}"
                              for t in r["tried"])]
    return "\n".join(lines) + "\n"


def compile_one(name: str, out: Path, dry_run: bool) -> int:
    """Child of the compile step: one throughput measurement with torch.compile, as one JSON line."""
    settings = Settings.dry_run() if dry_run else Settings()
    ctx = Context(settings, out, dry_run)
    if dry_run:  # dynamo traces the model as on the GPU; inductor's C++ build would take minutes on a CPU
        import functools  # noqa: PLC0415

        torch.compile = functools.partial(torch.compile, backend="eager")
    print(json.dumps(_throughput(ctx, name, "train.compile=true")))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json, gpu_check.md, logs")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU, a few steps (what CI runs)")
    ap.add_argument("--budget-s", type=float, default=None, help="skip steps once this is spent (default 450, dry 300)")
    ap.add_argument("--only", default="", help="comma-separated step names (default: all)")
    ap.add_argument("--compile-one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        probe = args.out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        print(f"gpu_check: error: output folder {args.out} is not writable ({exc.strerror})", file=sys.stderr)
        return 2
    if args.compile_one:
        return compile_one(args.compile_one, args.out, args.dry_run)
    names = {name for name, _, _ in STEPS}
    only = {n for n in args.only.split(",") if n}
    if only - names:
        print(f"gpu_check: error: unknown step {sorted(only - names)}: expected some of {', '.join(names)}",
              file=sys.stderr)
        return 2
    ctx = Context(Settings.dry_run() if args.dry_run else Settings(), args.out, args.dry_run)
    budget = args.budget_s if args.budget_s is not None else (300.0 if args.dry_run else 450.0)
    res = run_steps(ctx, budget, only or None)
    md = summary_markdown(res)
    (args.out / "gpu_check.md").write_text(md)
    print(md)
    return 0 if all(e["status"] == "ok" for e in res["steps"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

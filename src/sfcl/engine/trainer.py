"""The training engine: any ``ReIDModel`` and ``ReIDObjective``, knows nothing of CFAM.

``train(cfg)`` runs one experiment end to end: dataset, cross-modal sampler,
model, optimiser, the epoch loop (AMP, channels_last, optional torch.compile,
gradient clipping), periodic evaluation with the dataset's protocol, atomic
``last.pt`` / ``best.pt`` checkpoints, TensorBoard scalars and a
``results.json``. ``train(cfg, resume=PATH)`` continues exactly where a run
stopped (epoch boundary): model, optimiser, scheduler, scaler and history are
restored, and every RNG is reseeded from ``(seed, epoch)`` at the start of each
epoch, so an interrupted run and an uninterrupted one give the same weights on
the CPU.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from sfcl.config import Config, save_config
from sfcl.data.base import ReIDDataset
from sfcl.data.loaders import build_train_loader, load_dataset
from sfcl.engine.checkpoint import atomic_write, check_resume_config, load_checkpoint, load_model_state, save_checkpoint
from sfcl.engine.curves import draw_curves
from sfcl.engine.distributed import barrier, cleanup_distributed, gather_with_grad, init_distributed
from sfcl.engine.optim import build_optimizer, build_scheduler, clip_gradients, resume_scheduler
from sfcl.engine.runtime import autocast_context, resolve_device, seed_everything
from sfcl.errors import SfclError
from sfcl.evaluation.extract import evaluate_model
from sfcl.fileio import OutputLock, remove_stale_temporaries, write_error
from sfcl.imageio import check_images
from sfcl.losses import ReIDObjective
from sfcl.models import build_model

log = logging.getLogger(__name__)


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every element of ``tensors`` is finite (one fused norm per tensor, no host loop)."""
    return not tensors or bool(torch.isfinite(torch.stack(torch._foreach_norm(tensors))).all())


class Trainer:
    """Holds the state of one run; :meth:`fit` runs the remaining epochs."""

    def __init__(self, cfg: Config, resume: str | Path | None = None, dataset: ReIDDataset | None = None) -> None:
        """``dataset`` overrides loading ``cfg.data`` from disk (benchmarks, tests)."""
        self.cfg = cfg
        self.device = resolve_device(cfg.train.device)
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        self.dist = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.out_dir = Path(cfg.train.output_dir)
        seed_everything(cfg.train.seed)
        if dataset is None:
            dataset = load_dataset(cfg)
            # every image the run will read, checked by its header before any training
            check_images([s.path for s in dataset.train + dataset.test], "dataset image",
                         progress=cfg.train.progress and self.dist.is_main)
        self.dataset = dataset
        self.loader, self.sampler = build_train_loader(cfg, self.dataset, self.dist.rank, self.dist.world_size)
        self.model = build_model(cfg.model, self.dataset.num_classes, (cfg.data.height, cfg.data.width)).to(self.device)
        if cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.objective = ReIDObjective(cfg.loss).to(self.device)
        groups = self.model.param_groups(cfg.optim.lr, cfg.optim.backbone_lr_mult, cfg.optim.added_lr_mult)
        loss_params = [p for p in self.objective.parameters() if p.requires_grad]
        if loss_params:  # a loss with parameters (none of today's) trains with the new layers
            groups.append({"params": loss_params, "lr": cfg.optim.lr})
        self.optimizer = build_optimizer(groups, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, cfg.train.epochs, len(self.sampler))
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.train.amp == "fp16" and self.device.type == "cuda")
        self.start_epoch = 0
        self.progress = 0.0  # epochs done (fractional), for the FAD warm-up
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}
        self.pending: dict[str, Any] | None = None  # a trained epoch whose evaluation has not run
        self.finite_checkpoint: tuple[Path, int] | None = None  # newest checkpoint with finite weights
        if resume is not None:
            self._resume(resume)
        elif cfg.model.pretrained is None:  # said once, by the run that trains; loading a checkpoint never warns
            log.warning("model.pretrained is not set: the backbone starts from random init (see README, "
                        "\"Pointing it at the real datasets\", for ImageNet weights)")
        self.train_model = self._wrap(self.model)
        self.writer = None  # opened by fit(), which holds the output folder's lock

    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.dist.enabled:
            if self.cfg.train.sync_bn:
                if self.device.type != "cuda":
                    raise SfclError("config key train.sync_bn needs CUDA (torch's SyncBatchNorm is GPU-only)")
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if self.cfg.train.compile:
            model = torch.compile(model)
        return model

    def _resume(self, path: str | Path) -> None:
        state = load_checkpoint(path)
        if state.get("num_classes") != self.dataset.num_classes:
            raise SfclError(
                f"checkpoint {path} has {state.get('num_classes')} classes, dataset has {self.dataset.num_classes}"
            )
        if "optimizer" not in state:
            raise SfclError(f"checkpoint {path} holds weights only (no optimizer state): it cannot be resumed")
        if "config" not in state:
            raise SfclError(f"checkpoint {path} has no config entry: it was not written by sfcl train")
        self.pending = state.get("pending_eval")
        # an epoch saved before its evaluation is not finished until that evaluation has run
        check_resume_config(state["config"], self.cfg, path, int(state["epoch"]) - (self.pending is not None))
        load_model_state(self.model, state, path)
        self.objective.load_state_dict(state.get("objective", {}))
        self.optimizer.load_state_dict(state["optimizer"])
        resume_scheduler(self.scheduler, state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = int(state["epoch"])
        self.history = list(state.get("history", []))
        self.best = dict(state.get("best", {}))
        self.finite_checkpoint = (Path(path), self.start_epoch)
        log.info("resumed from %s at epoch %d%s", path, self.start_epoch,
                 " (its evaluation runs first)" if self.pending is not None else "")

    def _state(self, epoch: int, pending: dict[str, Any] | None = None) -> dict[str, Any]:
        extra = {} if pending is None else {"pending_eval": pending}
        return extra | {
            "config": self.cfg.to_dict(),
            "num_classes": self.dataset.num_classes,
            "model": self.model.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "history": self.history,
            "best": self.best,
        }

    def step(self, batch) -> tuple[torch.Tensor, dict[str, float]]:
        """One optimisation step on a loader batch; raises FloatingPointError on a non-finite loss."""
        cfg = self.cfg
        images, labels, _pids, _cams, modality = batch
        images = images.to(self.device, non_blocking=True)
        if cfg.train.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = labels.to(self.device)
        modality = modality.to(self.device)
        with autocast_context(self.device, cfg.train.amp):
            output = self.train_model(images, modality)
        total, terms = self.objective(output, labels, modality=modality, gather=gather_with_grad,
                                      progress=self.progress)
        if not torch.isfinite(total):
            shown = ", ".join(f"{key} {value:.4g}" for key, value in terms.items() if key != "total")
            raise FloatingPointError(f"loss became {total.item()} (terms: {shown})")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if cfg.optim.clip_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)
            clip_gradients(self.model, cfg.optim.clip_grad_norm)
        if not self.scaler.is_enabled():  # fp16's scaler skips non-finite steps itself
            if not _all_finite([p.grad for p in self.model.parameters() if p.grad is not None]):
                raise FloatingPointError(f"a gradient became non-finite (loss {total.item():.4f})")
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()  # per iteration (warm-up within the first epochs)
        return total, terms

    def train_one_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the sampler's batches; returns the mean of each loss term."""
        cfg = self.cfg
        seed_everything(cfg.train.seed * 100_003 + epoch)
        self.sampler.set_epoch(epoch)
        self.train_model.train()
        sums: dict[str, float] = {}
        steps = 0
        bar = tqdm(self.loader, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", leave=False,
                   disable=not (cfg.train.progress and self.dist.is_main))
        for step, batch in enumerate(bar):
            self.progress = epoch + step / max(1, len(self.sampler))
            try:
                total, terms = self.step(batch)
            except FloatingPointError as err:
                raise SfclError(f"{err} at epoch {epoch + 1} step {step + 1} (global step "
                                f"{epoch * len(self.sampler) + step + 1}); {self._finite_note()}") from None
            steps += 1
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value
            last_step = step + 1 == len(self.loader)
            if self.dist.is_main and (step % max(1, cfg.train.log_every) == 0 or last_step):
                # the epoch's running mean, the number the epoch's log line ends with
                bar.set_postfix(loss=f"{sums.get('total', total.item() * steps) / steps:.3f}")
        return {key: value / max(1, steps) for key, value in sums.items()}

    def _finite_note(self) -> str:
        if self.finite_checkpoint is None:
            return "no checkpoint was saved before it (lower optim.lr, or set optim.clip_grad_norm)"
        path, epoch = self.finite_checkpoint
        return f"last checkpoint with finite weights: {path} (epoch {epoch})"

    def _save_last(self, epoch: int, pending: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write ``last.pt`` for ``epoch`` epochs done; weights that are not all finite never replace
        the last finite checkpoint (the run stops, naming it)."""
        if not _all_finite([t for t in self.model.state_dict().values() if t.is_floating_point()]):
            raise SfclError(f"the weights became non-finite during epoch {epoch} (not saved); "
                            f"{self._finite_note()}")
        state = self._state(epoch, pending)
        save_checkpoint(self.out_dir / "last.pt", state)
        self.finite_checkpoint = (self.out_dir / "last.pt", epoch)
        return state

    def _finish_epoch(self, record: dict[str, Any], evaluate: bool) -> None:
        """Evaluate a trained epoch (its weights already in ``last.pt``), log it, and checkpoint it."""
        if evaluate:
            if self.dist.is_main:
                record["eval"] = evaluate_model(self.model, self.dataset, self.cfg, self.device)
            barrier()
        self.history.append(record)
        if self.dist.is_main:
            self._log_epoch(record)
            improved = self._update_best(record)
            state = self._save_last(record["epoch"])
            if improved:
                save_checkpoint(self.out_dir / "best.pt", state)
        barrier()

    def fit(self) -> dict[str, Any]:
        """Train the remaining epochs holding ``train.output_dir``'s lock (a second run into the same
        folder is refused); a killed run's temporary files there are removed first."""
        lock = OutputLock(self.out_dir, "train") if self.dist.is_main else contextlib.nullcontext()
        with lock:
            if self.dist.is_main:
                from torch.utils.tensorboard import SummaryWriter

                remove_stale_temporaries(self.out_dir)
                save_config(self.cfg, self.out_dir / "config.yaml")
                try:
                    self.writer = SummaryWriter(str(self.out_dir / "tb"))
                except OSError as err:
                    raise write_error(self.out_dir / "tb", err) from None
            try:
                return self._fit()
            finally:
                if self.writer is not None:
                    self.writer.close()
                    self.writer = None

    def _fit(self) -> dict[str, Any]:
        cfg = self.cfg
        start = time.time()
        if self.pending is not None:  # resumed from a checkpoint written before its evaluation
            record, self.pending = dict(self.pending), None
            self._finish_epoch(record, evaluate=True)
        for epoch in range(self.start_epoch, cfg.train.epochs):
            tic = time.time()
            lr = self.optimizer.param_groups[-1]["lr"]  # at the epoch's first iteration
            terms = self.train_one_epoch(epoch)
            record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "seconds": time.time() - tic, **terms}
            last = epoch + 1 == cfg.train.epochs
            evaluate = last or (cfg.train.eval_every > 0 and (epoch + 1) % cfg.train.eval_every == 0)
            if evaluate and self.dist.is_main:  # the trained epoch is on disk before any evaluation
                self._save_last(epoch + 1, pending=record)
            self._finish_epoch(record, evaluate)
        results = self._results(time.time() - start)
        if self.dist.is_main:
            payload = json.dumps(results, indent=2).encode()
            atomic_write(self.out_dir / "results.json", lambda handle: handle.write(payload))
            draw_curves(self.history, self.out_dir / "curves.png", title=cfg.name)
        return results

    def _update_best(self, record: dict[str, Any]) -> bool:
        if "eval" not in record:
            return False
        first = next(iter(record["eval"].values()))
        if not self.best or first["mAP"] > self.best["mAP"]:
            self.best = {"epoch": record["epoch"], "mAP": first["mAP"], "r1": first["r1"]}
            return True
        return False

    def _log_epoch(self, record: dict[str, Any]) -> None:
        epoch = record["epoch"]
        for key, value in record.items():
            if isinstance(value, float):
                self.writer.add_scalar(f"train/{key}", value, epoch)
        line = f"epoch {epoch}/{self.cfg.train.epochs} loss {record.get('total', float('nan')):.4f} lr {record['lr']:.2e}"
        for name, metrics in record.get("eval", {}).items():
            for key in ("r1", "mAP", "mINP"):
                self.writer.add_scalar(f"eval/{name}/{key}", metrics[key], epoch)
            line += f" | {name} R1 {metrics['r1']:.2f} mAP {metrics['mAP']:.2f}"
        log.info(line)

    def _results(self, seconds: float) -> dict[str, Any]:
        evals = [r for r in self.history if "eval" in r]
        return {
            "name": self.cfg.name,
            "config": self.cfg.to_dict(),
            "epochs": len(self.history),
            "train_seconds": seconds,
            "history": [{k: v for k, v in r.items() if k != "eval"} for r in self.history],
            "final": evals[-1]["eval"] if evals else {},
            "best": self.best,
        }


def train(cfg: Config, resume: str | Path | None = None) -> dict[str, Any]:
    """Run (or resume) one experiment; returns the results dict also written to results.json."""
    try:
        return Trainer(cfg, resume=resume).fit()
    finally:
        cleanup_distributed()


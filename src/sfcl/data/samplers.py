"""Cross-modal identity-balanced batch sampler (AGW recipe).

Each batch is a list of dataset indices: the visible half then the infrared
half, each ``num_ids * num_instances`` long. Position ``i`` of both halves holds
the same identity; identities come in contiguous groups of ``num_instances``.
Per batch, ``num_ids`` identities are drawn without replacement among those
present in both modalities, then ``num_instances`` images per identity and
modality with replacement (as AGW). Randomness: ``numpy.random.default_rng([seed,
epoch])``, so a (seed, epoch) pair always gives the same batches.

Distributed: every rank draws the same global batch and keeps identity groups
``[rank*P/W, (rank+1)*P/W)`` of both halves; concatenating the ranks' visible
(and infrared) parts in rank order gives the single-process batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from sfcl.errors import SfclError


class CrossModalIdentitySampler(Sampler[list[int]]):
    """Batch sampler for ``DataLoader(batch_sampler=...)``.

    Args:
        labels: training label per dataset index.
        modalities: 0 (visible) or 1 (infrared) per dataset index.
        num_ids: identities per (global) batch, P.
        num_instances: images per identity per modality, K.
        seed: base seed; the epoch is mixed in (``set_epoch``).
        num_batches: batches per epoch; default ``int(max(N_vis, N_nir) / (P*K)) + 1``.
        rank, world_size: this process's share of the identities.
    """

    def __init__(self, labels: Sequence[int], modalities: Sequence[int], num_ids: int = 8, num_instances: int = 4,
                 seed: int = 0, num_batches: int | None = None, rank: int = 0, world_size: int = 1) -> None:
        labels_a, mods_a = np.asarray(labels, dtype=np.int64), np.asarray(modalities, dtype=np.int64)
        if labels_a.shape != mods_a.shape:
            raise SfclError(f"sampler: {len(labels_a)} labels but {len(mods_a)} modalities: expected equal lengths")
        if not np.isin(mods_a, (0, 1)).all():
            raise SfclError("sampler modalities: expected only 0 (visible) and 1 (infrared)")
        if num_ids < 1 or num_instances < 1:
            raise SfclError(f"sampler num_ids={num_ids}, num_instances={num_instances}: expected both >= 1")
        if world_size < 1 or not 0 <= rank < world_size:
            raise SfclError(f"sampler rank={rank}, world_size={world_size}: expected 0 <= rank < world_size")
        if num_ids % world_size:
            raise SfclError(f"sampler num_ids={num_ids} with world_size={world_size}: expected num_ids divisible by world_size")
        self.num_ids, self.num_instances = int(num_ids), int(num_instances)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.epoch = 0
        self._pools = [self._pools_of(labels_a, mods_a, m) for m in (0, 1)]
        self.ids = np.array(sorted(set(self._pools[0]) & set(self._pools[1])), dtype=np.int64)
        if len(self.ids) < self.num_ids:
            raise SfclError(f"sampler: {len(self.ids)} identities have images in both modalities: expected >= num_ids={num_ids}")
        n_vis, n_nir = int((mods_a == 0).sum()), int((mods_a == 1).sum())
        default = int(max(n_vis, n_nir) / (self.num_ids * self.num_instances)) + 1
        self.num_batches = int(num_batches) if num_batches else default

    @staticmethod
    def _pools_of(labels: np.ndarray, mods: np.ndarray, modality: int) -> dict[int, np.ndarray]:
        idx = np.flatnonzero(mods == modality)
        return {int(lab): idx[labels[idx] == lab] for lab in np.unique(labels[idx])}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def global_batch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One global batch as (visible (P*K,), infrared (P*K,)) index arrays."""
        chosen = rng.choice(self.ids, size=self.num_ids, replace=False)
        halves = []
        for pools in self._pools:
            halves.append(np.concatenate([rng.choice(pools[int(pid)], size=self.num_instances, replace=True)
                                          for pid in chosen]))
        return halves[0], halves[1]

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        per_rank = self.num_ids // self.world_size * self.num_instances
        lo, hi = self.rank * per_rank, (self.rank + 1) * per_rank
        for _ in range(self.num_batches):
            vis, nir = self.global_batch(rng)
            yield vis[lo:hi].tolist() + nir[lo:hi].tolist()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if "epoch" not in state:
            raise SfclError("sampler state_dict: expected key 'epoch'")
        self.epoch = int(state["epoch"])

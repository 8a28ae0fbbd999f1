"""Slow twin of ``sfcl.models.sinkhorn.sinkhorn_log``: one problem, float64 numpy, loops over bins.

Written from the definition of the log-domain Sinkhorn iteration (Peyré & Cuturi,
"Computational Optimal Transport", §4.4), with POT's schedule: v first, then u,
column-marginal L2 error checked when ``it % check_every == 0``.
"""

from __future__ import annotations

import math

import numpy as np


def _lse(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(x - top) for x in values))


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def reference_sinkhorn(cost: np.ndarray, a: np.ndarray, b: np.ndarray, epsilon: float, max_iter: int = 100,
                       tol: float = 1e-6, check_every: int = 10) -> tuple[np.ndarray, int]:
    n, m = cost.shape
    u, v = [0.0] * n, [0.0] * m
    log_a, log_b = [_log(x) for x in a], [_log(x) for x in b]
    iterations = 0

    def plan_entry(i: int, j: int) -> float:
        return math.exp(-cost[i, j] / epsilon + u[i] + v[j])

    for it in range(max_iter):
        iterations = it + 1
        v = [log_b[j] - _lse([-cost[i, j] / epsilon + u[i] for i in range(n)]) for j in range(m)]
        u = [log_a[i] - _lse([-cost[i, j] / epsilon + v[j] for j in range(m)]) for i in range(n)]
        if it % check_every == 0:
            cols = [sum(plan_entry(i, j) for i in range(n)) for j in range(m)]
            if math.sqrt(sum((cols[j] - b[j]) ** 2 for j in range(m))) <= tol:
                break
    plan = np.array([[plan_entry(i, j) for j in range(m)] for i in range(n)])
    return plan, iterations

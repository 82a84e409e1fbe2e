"""Gradient clipping, in place on ``.grad`` and outside the graph, as in PyTorch."""

from __future__ import annotations

import math

import numpy as np

from runtime.grad_mode import no_grad
from runtime.tensor import Tensor


def _with_grads(parameters) -> list[Tensor]:
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in parameters if p.grad is not None]


@no_grad()
def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale the gradients so that their joint ``norm_type``-norm is at most ``max_norm``;
    returns the norm before clipping."""
    grads = [p.grad for p in _with_grads(parameters)]
    if not grads:
        return Tensor._wrap(np.asarray(0.0, dtype=np.float32))
    norm_type = float(norm_type)
    flat = [np.abs(g._data.astype(np.float64)).ravel() for g in grads]
    if math.isinf(norm_type):
        total = max(float(f.max()) if f.size else 0.0 for f in flat)
    else:
        total = float(sum((f ** norm_type).sum() for f in flat)) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`")
    coefficient = min(max_norm / (total + 1e-6), 1.0)
    for grad in grads:
        grad.mul_(coefficient)
    return Tensor._wrap(np.asarray(total, dtype=grads[0]._data.dtype))


@no_grad()
def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``."""
    for parameter in _with_grads(parameters):
        parameter.grad.clamp_(-float(clip_value), float(clip_value))

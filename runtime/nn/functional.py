"""``runtime.nn.functional``: layers and losses as functions, losses as single graph nodes
named like PyTorch's (``MseLossBackward0``, ``NllLossBackward0``...)."""

from __future__ import annotations

import numpy as np

from runtime.autograd.function import Function, apply
from runtime.random import default_generator
from runtime.tensor import Tensor


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.asarray(values.mean(), dtype=values.dtype)
    if reduction == "sum":
        return np.asarray(values.sum(), dtype=values.dtype)
    if reduction == "none":
        return values
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduced_grad(grad: np.ndarray, shape: tuple, reduction: str) -> np.ndarray:
    """Spread the gradient of a reduced loss back over the per-element losses."""
    if reduction == "mean":
        return np.broadcast_to(grad / max(int(np.prod(shape)), 1), shape)
    if reduction == "sum":
        return np.broadcast_to(grad, shape)
    return grad


class MseLossBackward0(Function):
    def forward(self, prediction, target, reduction="mean"):
        self.save(0, 1)
        self.reduction = reduction
        return _reduce((prediction - target) ** 2, reduction)

    def backward(self, grad):
        diff = self.saved(0) - self.saved(1)
        g = 2 * diff * _reduced_grad(grad, diff.shape, self.reduction)
        return g, -g


class NllLossBackward0(Function):
    """Negative log likelihood of class indices, given log-probabilities (N, C) or (C,)."""

    def forward(self, log_probs, target=None, reduction="mean", ignore_index=-100):
        self.shape, self.reduction = log_probs.shape, reduction
        log_probs2 = log_probs.reshape(-1, log_probs.shape[-1])
        target = np.asarray(target).reshape(-1)
        valid = target != ignore_index
        picked_class = np.where(valid, target, 0)
        picked = -log_probs2[np.arange(len(picked_class)), picked_class] * valid
        count = max(int(valid.sum()), 1)
        self.valid, self.target, self.count = valid, picked_class, count
        if reduction == "mean":
            return np.asarray(picked.sum() / count, dtype=log_probs.dtype)
        return _reduce(picked.reshape(target.shape if log_probs.ndim > 1 else ()), reduction)

    def backward(self, grad):
        full = np.zeros((len(self.target), self.shape[-1]), dtype=np.asarray(grad).dtype)
        scale = grad / self.count if self.reduction == "mean" else np.broadcast_to(grad, self.target.shape)
        full[np.arange(len(self.target)), self.target] = -scale * self.valid
        return (full.reshape(self.shape),)


class BinaryCrossEntropyWithLogitsBackward0(Function):
    def forward(self, logits, target, reduction="mean"):
        self.save(0, 1)
        self.reduction = reduction
        # max(x, 0) - x * t + log(1 + exp(-|x|)): stable for large |x|
        losses = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
        return _reduce(losses.astype(logits.dtype, copy=False), reduction)

    def backward(self, grad):
        logits, target = self.saved(0), self.saved(1)
        g = (1 / (1 + np.exp(-logits)) - target) * _reduced_grad(grad, logits.shape, self.reduction)
        return g, None


class NativeBatchNormBackward0(Function):
    """Batch normalisation with batch statistics (training mode), over dim 0 (and 2 if any)."""

    def forward(self, x, weight=None, bias=None, eps=1e-5):
        axes = (0,) if x.ndim == 2 else (0, 2)
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(var + eps)
        normalized = (x - mean) * inv_std
        shape = [1] * x.ndim
        shape[1] = -1
        self.axes, self.inv_std, self.normalized = axes, inv_std, normalized
        self.weight, self.param_shape = weight, shape
        out = normalized
        if weight is not None:
            out = out * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        self.has_bias = bias is not None
        return out.astype(x.dtype, copy=False)

    def backward(self, grad):
        n = int(np.prod([grad.shape[a] for a in self.axes]))
        grad_weight = grad_bias = None
        if self.has_bias:
            grad_bias = grad.sum(axis=self.axes)
        if self.weight is not None:
            grad_weight = (grad * self.normalized).sum(axis=self.axes)
            grad = grad * self.weight.reshape(self.param_shape)
        grad_x = (self.inv_std / n) * (
            n * grad - grad.sum(axis=self.axes, keepdims=True)
            - self.normalized * (grad * self.normalized).sum(axis=self.axes, keepdims=True))
        return grad_x, grad_weight, grad_bias


class _NativeBatchNormEval(Function):
    """Batch normalisation with given (running) statistics: evaluation mode."""

    def name(self) -> str:
        return "NativeBatchNormBackward0"

    def forward(self, x, weight=None, bias=None, mean=None, var=None, eps=1e-5):
        shape = [1] * x.ndim
        shape[1] = -1
        inv_std = (1 / np.sqrt(var + eps)).reshape(shape)
        normalized = (x - mean.reshape(shape)) * inv_std
        self.param_shape, self.axes = shape, tuple(a for a in range(x.ndim) if a != 1)
        self.inv_std, self.normalized = inv_std, normalized
        self.weight, self.has_bias = weight, bias is not None
        out = normalized
        if weight is not None:
            out = out * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        return out.astype(x.dtype, copy=False)

    def backward(self, grad):
        grad_weight = (grad * self.normalized).sum(axis=self.axes) if self.weight is not None else None
        grad_bias = grad.sum(axis=self.axes) if self.has_bias else None
        scale = self.inv_std if self.weight is None else self.inv_std * self.weight.reshape(self.param_shape)
        return grad * scale, grad_weight, grad_bias


class EmbeddingBackward0(Function):
    def forward(self, weight, indices=None):
        self.indices, self.shape = indices, weight.shape
        return weight[indices]

    def backward(self, grad):
        full = np.zeros(self.shape, dtype=grad.dtype)
        np.add.at(full, self.indices, grad)
        return (full,)


class AddmmBackward0(Function):
    """``x @ weight.T + bias`` for a batch of vectors: one node, as in PyTorch."""

    def forward(self, x, weight, bias=None):
        self.save_crosswise()
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):
        need_x, need_weight, need_bias = self.needs_input_grad
        return (grad @ self.saved(1) if need_x else None,
                grad.T @ self.saved(0) if need_weight else None,
                grad.sum(axis=0) if need_bias else None)


# ------------------------------------------------------------------------------ functions


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    if input.dim() == 2:
        return apply(AddmmBackward0, input, weight, bias)
    out = input @ weight.t()
    return out + bias if bias is not None else out


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return input.relu_() if inplace else input.relu()


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    return input.tanh()


def softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    return input.log_softmax(dim)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    if not training or p == 0:
        return input
    keep = default_generator.uniform(0, 1, input.shape) >= p
    mask = Tensor._wrap((keep / (1 - p)).astype(input._data.dtype))
    return input.mul_(mask) if inplace else input * mask


def embedding(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    return apply(EmbeddingBackward0, weight, indices=input._data)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    return apply(MseLossBackward0, input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    # Composite in PyTorch: the loss's grad_fn is MeanBackward0 / SumBackward0 / AbsBackward0.
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    losses = (input - target).abs()
    return losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" else losses


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean", ignore_index: int = -100) -> Tensor:  # noqa: A002
    return apply(NllLossBackward0, input, target=target._data, reduction=reduction,
                 ignore_index=ignore_index)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean", ignore_index: int = -100) -> Tensor:  # noqa: A002
    return nll_loss(input.log_softmax(-1 if input.dim() == 1 else 1), target, reduction, ignore_index)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    return apply(BinaryCrossEntropyWithLogitsBackward0, input, target, reduction=reduction)


def batch_norm(input: Tensor, running_mean, running_var, weight=None, bias=None,  # noqa: A002
               training=False, momentum=0.1, eps=1e-5) -> Tensor:
    """Training: normalise with batch statistics and update the running ones in place (also
    under no_grad, as PyTorch does).  Evaluation: use the running statistics."""
    if training:
        out = apply(NativeBatchNormBackward0, input, weight, bias, eps=eps)
        if running_mean is not None:
            axes = (0,) if input.dim() == 2 else (0, 2)
            data = input._data
            count = int(np.prod([data.shape[a] for a in axes]))
            unbiased = data.var(axis=axes) * count / max(count - 1, 1)
            running_mean._write((1 - momentum) * running_mean._data + momentum * data.mean(axis=axes))
            running_var._write((1 - momentum) * running_var._data + momentum * unbiased)
        return out
    return apply(_NativeBatchNormEval, input, weight, bias, mean=running_mean._data,
                 var=running_var._data, eps=eps)

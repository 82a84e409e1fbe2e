"""The ops behind ``runtime.nn.functional``: losses, batch normalisation, embedding and the
fused linear layer, each a single node named like PyTorch's."""

from __future__ import annotations

import numpy as np

from runtime.autograd.node import Node


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.asarray(values.mean(), dtype=values.dtype)
    if reduction == "sum":
        return np.asarray(values.sum(), dtype=values.dtype)
    if reduction == "none":
        return values
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _spread(grad, shape: tuple, reduction: str):
    """Spread the gradient of a reduced loss back over the per-element losses."""
    if reduction == "mean":
        return (grad / max(int(np.prod(shape)), 1)).expand(shape)
    if reduction == "sum":
        return grad.expand(shape)
    return grad


class MseLossBackward0(Node):
    @staticmethod
    def forward(ctx, prediction, target, reduction="mean"):
        ctx.save_for_backward(prediction, target)
        ctx.reduction = reduction
        return _reduce((prediction - target) ** 2, reduction)

    @staticmethod
    def backward(ctx, grad):
        prediction, target = ctx.saved_tensors
        diff = prediction - target
        g = 2 * diff * _spread(grad, diff.shape, ctx.reduction)
        return g, -g


class NllLossBackward0(Node):
    """Negative log likelihood of class indices, given log-probabilities (N, C) or (C,)."""

    @staticmethod
    def forward(ctx, log_probs, target=None, reduction="mean", ignore_index=-100):
        rows = log_probs.reshape(-1, log_probs.shape[-1])
        target = np.asarray(target).reshape(-1)
        valid = target != ignore_index
        picked_class = np.where(valid, target, 0)
        picked = -rows[np.arange(len(picked_class)), picked_class] * valid
        count = max(int(valid.sum()), 1)
        ctx.shape, ctx.reduction = log_probs.shape, reduction
        ctx.valid, ctx.target, ctx.count = valid, picked_class, count
        if reduction == "mean":
            return np.asarray(picked.sum() / count, dtype=log_probs.dtype)
        return _reduce(picked.reshape(target.shape if log_probs.ndim > 1 else ()), reduction)

    @staticmethod
    def backward(ctx, grad):
        count = len(ctx.target)
        if ctx.reduction == "mean":
            per_row = (grad / ctx.count).expand((count,))
        else:
            per_row = grad.reshape(-1).expand((count,))
        values = (-per_row).masked_fill(~ctx.valid, 0)
        rows = grad.new_zeros((count, ctx.shape[-1]))
        return (rows.index_put((np.arange(count), ctx.target), values).reshape(ctx.shape),)


class BinaryCrossEntropyWithLogitsBackward0(Node):
    @staticmethod
    def forward(ctx, logits, target, reduction="mean"):
        ctx.save_for_backward(logits, target)
        ctx.reduction = reduction
        # max(x, 0) - x * t + log(1 + exp(-|x|)): stable for large |x|
        losses = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
        return _reduce(losses.astype(logits.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        logits, target = ctx.saved_tensors
        spread = _spread(grad, logits.shape, ctx.reduction)
        need_logits, need_target = ctx.needs_input_grad
        return ((logits.sigmoid() - target) * spread if need_logits else None,
                -logits * spread if need_target else None)


def _channel_shape(ndim: int) -> tuple:
    return (1, -1) + (1,) * (ndim - 2)


class NativeBatchNormBackward0(Node):
    """Batch normalisation with batch statistics (training mode), over dim 0 (and 2 if any)."""

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, eps=1e-5):
        axes = (0,) if x.ndim == 2 else (0, 2)
        shape = _channel_shape(x.ndim)
        normalized = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(
            x.var(axis=axes, keepdims=True) + eps)
        ctx.save_for_backward(x, weight)
        ctx.axes, ctx.eps = axes, eps
        out = normalized
        if weight is not None:
            out = out * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        axes = ctx.axes
        centered = x - x.mean(dim=axes, keepdim=True)
        inv_std = ((centered * centered).mean(dim=axes, keepdim=True) + ctx.eps) ** -0.5
        normalized = centered * inv_std
        need_x, need_weight, need_bias = ctx.needs_input_grad
        grad_weight = (grad * normalized).sum(dim=axes) if need_weight else None
        grad_bias = grad.sum(dim=axes) if need_bias else None
        grad_x = None
        if need_x:
            if weight is not None:
                grad = grad * weight.reshape(_channel_shape(x.dim()))
            count = int(np.prod([x.shape[a] for a in axes]))
            grad_x = (inv_std / count) * (
                count * grad - grad.sum(dim=axes, keepdim=True)
                - normalized * (grad * normalized).sum(dim=axes, keepdim=True))
        return grad_x, grad_weight, grad_bias


class NativeBatchNormEval(Node):
    """Batch normalisation with given (running) statistics: evaluation mode."""

    def name(self) -> str:
        return "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, mean=None, var=None, eps=1e-5):
        shape = _channel_shape(x.ndim)
        shift = mean.reshape(shape).astype(x.dtype)
        inv_std = (1 / np.sqrt(var + eps)).reshape(shape).astype(x.dtype)
        normalized = (x - shift) * inv_std
        ctx.save_for_backward(x, weight, shift, inv_std)
        ctx.axes = tuple(a for a in range(x.ndim) if a != 1)
        out = normalized
        if weight is not None:
            out = out * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, weight, shift, inv_std = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        scale = inv_std if weight is None else inv_std * weight.reshape(_channel_shape(x.dim()))
        return (grad * scale if need_x else None,
                (grad * (x - shift) * inv_std).sum(dim=ctx.axes) if need_weight else None,
                grad.sum(dim=ctx.axes) if need_bias else None)


class EmbeddingBackward0(Node):
    @staticmethod
    def forward(ctx, weight, indices=None):
        ctx.indices, ctx.shape = indices, weight.shape
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        return (grad.new_zeros(ctx.shape).index_put(ctx.indices, grad, accumulate=True),)


class AddmmBackward0(Node):
    """``x @ weight.T + bias`` for a batch of vectors: one node, as in PyTorch."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(weight if ctx.needs_input_grad[0] else None,
                              x if ctx.needs_input_grad[1] else None)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad):
        weight, x = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        return (grad @ weight if need_x else None,
                grad.t() @ x if need_weight else None,
                grad.sum(dim=0) if need_bias else None)
